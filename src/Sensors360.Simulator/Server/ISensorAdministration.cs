namespace Sensors360.Simulator.Server;

/// <summary>What the simulator does as an operator: the sensor management routes of the API.</summary>
internal interface ISensorAdministration
{
    /// <summary><c>POST /api/sensors</c>: the new sensor's token, or null when the id is taken (409).</summary>
    Task<string?> ProvisionAsync(string id, IReadOnlyList<string> tags, int silenceThresholdSeconds, CancellationToken cancellationToken);

    /// <summary><c>GET /api/sensors/{id}</c>: whether the server knows the sensor and whether it is retired.</summary>
    Task<RemoteSensorState> GetStateAsync(string id, CancellationToken cancellationToken);

    /// <summary><c>POST /api/sensors/{id}/retire</c>; retiring a retired sensor is no error.</summary>
    Task RetireAsync(string id, CancellationToken cancellationToken);

    /// <summary><c>POST /api/sensors/{id}/token</c>: a new token for a sensor that is neither unknown nor retired.</summary>
    Task<string> RotateTokenAsync(string id, CancellationToken cancellationToken);
}

/// <summary>A sensor as the server sees it.</summary>
internal enum RemoteSensorState
{
    Unknown,
    Active,
    Retired,
}
