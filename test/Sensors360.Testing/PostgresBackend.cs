using System.Runtime.InteropServices;

namespace Sensors360.Testing;

/// <summary>
/// One PostgreSQL backend process, stopped with SIGSTOP until disposed (SIGCONT): its connection stays open but nothing
/// answers on it, as when a server hangs or a network drops packets without a word. Needs the right to signal it
/// (root, or the cluster's own user).
/// </summary>
public sealed class PostgresBackend : IDisposable
{
    private readonly int _pid;

    private PostgresBackend(int pid) => _pid = pid;

    public static PostgresBackend Stop(int pid)
    {
        if (Signals.Send(pid, Signals.Stop) != 0)
        {
            throw new InvalidOperationException($"Could not send SIGSTOP to PostgreSQL backend {pid}: errno {Marshal.GetLastPInvokeError()}.");
        }

        return new PostgresBackend(pid);
    }

    // Not checked: a backend that is gone needs no SIGCONT, and a Dispose that throws would hide the test's own failure.
    public void Dispose() => _ = Signals.Send(_pid, Signals.Continue);
}
