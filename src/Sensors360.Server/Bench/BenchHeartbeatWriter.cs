using Sensors360.Grains.Sensors;

namespace Sensors360.Server.Bench;

/// <summary>
/// The heartbeat writer while the benchmark is on. The <c>grain</c> run and the real route share one
/// server, so what to skip is decided per call: heartbeats sent through <c>/bench/grain/{id}</c> carry
/// an Orleans request-context entry and complete at once without a write; all others go to
/// <see cref="HeartbeatLog"/>. Production never registers this, so its hot path has no such check.
/// </summary>
internal sealed class BenchHeartbeatWriter(HeartbeatLog log) : IHeartbeatWriter
{
    /// <summary>The request-context key the <c>/bench/grain</c> endpoint sets; it travels with the grain call.</summary>
    public const string SkipWriteKey = "sensors360.bench.skip-write";

    public Task AppendAsync(HeartbeatRecord record) =>
        RequestContext.Get(SkipWriteKey) is true ? Task.CompletedTask : log.AppendAsync(record);
}
