using System.Globalization;
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

    /// <summary>
    /// The pid of the backend listening for a server whose connections carry <paramref name="application"/>: the one
    /// whose last statement was its LISTEN, other than <paramref name="other"/> (an ended one may linger a moment).
    /// Waits until there is one.
    /// </summary>
    public static async Task<int> ListeningAsync(string connectionString, string application, int other, TimeSpan timeout)
    {
        const string Listening = "SELECT pid::text FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND pid <> $2 AND query LIKE 'LISTEN %'";
        var pid = await Eventually.MatchesAsync(
            () => Sql.TextAsync(connectionString, Listening, application, other), found => found is not null, timeout, "the server listens");
        return int.Parse(pid!, CultureInfo.InvariantCulture);
    }

    // Not checked: a backend that is gone needs no SIGCONT, and a Dispose that throws would hide the test's own failure.
    public void Dispose() => _ = Signals.Send(_pid, Signals.Continue);
}
