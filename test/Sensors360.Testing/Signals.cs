using System.Runtime.InteropServices;

namespace Sensors360.Testing;

/// <summary>Signals sent to processes the tests start or stop; the numbers are Linux's.</summary>
internal static partial class Signals
{
    public const int Term = 15;
    public const int Stop = 19;
    public const int Continue = 18;

    /// <summary>Sends <paramref name="signal"/> to <paramref name="pid"/>; 0 when sent, otherwise -1 (the errno in <see cref="Marshal.GetLastPInvokeError"/>).</summary>
    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Send(int pid, int signal);
}
