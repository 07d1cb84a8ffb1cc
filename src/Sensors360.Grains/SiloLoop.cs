namespace Sensors360.Grains;

/// <summary>
/// A background loop that lives with a silo lifecycle stage: started when the stage starts, cancelled and awaited
/// (within the stage's own stop deadline) when it stops. Stopping one that never started does nothing.
/// </summary>
internal sealed class SiloLoop : IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private Task? _loop;

    public void Start(Func<CancellationToken, Task> loop) => _loop = loop(_stopping.Token);

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_loop is null)
        {
            return;
        }

        await _stopping.CancelAsync();
        try
        {
            await _loop.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
    }

    public void Dispose() => _stopping.Dispose();
}
