using System.Runtime.InteropServices;

namespace Sensors360.Testing;

/// <summary>
/// One PostgreSQL backend process, stopped with SIGSTOP until disposed (SIGCONT): its connection stays open but nothing
/// answers on it, as when a server hangs or a network drops packets without a word. Needs the right to signal it
/// (root, or the cluster's own user).
/// </summary>
public sealed partial class PostgresBackend : IDisposable
{
    private const int SigStop = 19;
    private const int SigCont = 18;

    private readonly int _pid;

    private PostgresBackend(int pid) => _pid = pid;

    public static PostgresBackend Stop(int pid)
    {
        if (Kill(pid, SigStop) != 0)
        {
            throw new InvalidOperationException($"Could not send SIGSTOP to PostgreSQL backend {pid}: errno {Marshal.GetLastPInvokeError()}.");
        }

        return new PostgresBackend(pid);
    }

    public void Dispose() => _ = Kill(_pid, SigCont);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
