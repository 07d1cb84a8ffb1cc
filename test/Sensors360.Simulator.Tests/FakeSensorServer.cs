using Sensors360.Simulator.Server;

namespace Sensors360.Simulator.Tests;

/// <summary>
/// The server's sensor API in memory, answering as the real one does: provisioning (409 for a taken id),
/// retiring, token rotation, and heartbeats (204, 401 for an unknown sensor or wrong token, 410 when retired).
/// Records every call with the time of the clock it is given.
/// </summary>
internal sealed class FakeSensorServer(TimeProvider clock) : ISensorAdministration, IHeartbeatTransport
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (string Token, bool Retired)> _sensors = new(StringComparer.Ordinal);
    private readonly List<Heartbeat> _heartbeats = [];
    private readonly List<string> _provisioned = [];
    private readonly List<string> _retired = [];
    private readonly List<string> _rotated = [];
    private int _tokens;

    public IReadOnlyList<Heartbeat> Heartbeats => Snapshot(_heartbeats);

    public IReadOnlyList<string> Provisioned => Snapshot(_provisioned);

    public IReadOnlyList<string> Retired => Snapshot(_retired);

    public IReadOnlyList<string> Rotated => Snapshot(_rotated);

    /// <summary>A sensor someone else provisioned (or one of ours from an earlier run).</summary>
    public void Has(string id, string token, bool retired = false)
    {
        lock (_gate)
        {
            _sensors[id] = (token, retired);
        }
    }

    /// <summary>An operator rotates the sensor's token without telling the simulator.</summary>
    public void RotateBehindTheBack(string id)
    {
        lock (_gate)
        {
            _sensors[id] = (NewToken(), _sensors[id].Retired);
        }
    }

    public Task<string?> ProvisionAsync(string id, IReadOnlyList<string> tags, int silenceThresholdSeconds, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_sensors.ContainsKey(id))
            {
                return Task.FromResult<string?>(null);
            }

            var token = NewToken();
            _sensors[id] = (token, false);
            _provisioned.Add(id);
            return Task.FromResult<string?>(token);
        }
    }

    public Task<RemoteSensorState> GetStateAsync(string id, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(!_sensors.TryGetValue(id, out var sensor) ? RemoteSensorState.Unknown
                : sensor.Retired ? RemoteSensorState.Retired : RemoteSensorState.Active);
        }
    }

    public Task RetireAsync(string id, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_sensors.TryGetValue(id, out var sensor))
            {
                _sensors[id] = (sensor.Token, true);
                _retired.Add(id);
            }
        }

        return Task.CompletedTask;
    }

    public Task<string> RotateTokenAsync(string id, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var token = NewToken();
            _sensors[id] = (token, _sensors[id].Retired);
            _rotated.Add(id);
            return Task.FromResult(token);
        }
    }

    public Task<SendOutcome> SendAsync(Uri target, string? token, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        var id = Uri.UnescapeDataString(target.AbsolutePath.Split('/')[3]);
        lock (_gate)
        {
            var status = !_sensors.TryGetValue(id, out var sensor) || sensor.Token != token ? 401
                : sensor.Retired ? 410
                : 204;
            _heartbeats.Add(new Heartbeat(id, clock.GetUtcNow(), status, body.ToArray()));
            return Task.FromResult(new SendOutcome(status));
        }
    }

    private string NewToken() => $"token-{++_tokens}";

    private List<T> Snapshot<T>(List<T> list)
    {
        lock (_gate)
        {
            return [.. list];
        }
    }

    public sealed record Heartbeat(string Id, DateTimeOffset At, int Status, byte[] Body);
}
