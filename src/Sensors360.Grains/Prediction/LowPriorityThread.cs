using System.Runtime.InteropServices;

namespace Sensors360.Grains.Prediction;

/// <summary>
/// Runs heavy work on a thread of its own at a low scheduling priority, so training and ranking take mostly the
/// CPU ingest leaves idle: while heartbeats keep the cores busy the work gets about a tenth of a core, and
/// PostgreSQL's side of its history read slows with it (the read goes only as fast as this thread consumes it).
/// </summary>
public static partial class LowPriorityThread
{
    /// <summary>
    /// Nice 10: about a tenth of a busy thread's weight (Linux CFS). Not 19, where the work could starve for as long
    /// as the silo is busy.
    /// </summary>
    private const int Nice = 10;

    private const int PrioProcess = 0;

    public static Task<T> RunAsync<T>(string name, Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            Lower();
            try
            {
                done.SetResult(work());
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        })
        {
            IsBackground = true,
            Name = name,
        };
        thread.Start();
        return done.Task;
    }

    private static void Lower()
    {
        if (OperatingSystem.IsLinux())
        {
            // Linux keeps a nice value per thread: this one thread yields, the silo's other threads are untouched.
            _ = SetPriority(PrioProcess, GetThreadId(), Nice);
        }
        else
        {
            Thread.CurrentThread.Priority = ThreadPriority.BelowNormal;
        }
    }

    [LibraryImport("libc", EntryPoint = "setpriority")]
    private static partial int SetPriority(int which, int who, int priority);

    [LibraryImport("libc", EntryPoint = "gettid")]
    private static partial int GetThreadId();
}
