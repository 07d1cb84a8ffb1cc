using System.Text.Json;

namespace Sensors360.Simulator.Roster;

/// <summary>
/// The sensors the simulator provisioned and their tokens, kept in a JSON file (by default
/// <c>.data/simulator-sensors.json</c>) so the next run reuses them instead of provisioning new ones.
/// The file holds secrets, so it is readable by its owner only.
/// </summary>
internal sealed class SensorRoster
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    private readonly string _path;
    private readonly List<RosterEntry> _entries;

    private SensorRoster(string path, List<RosterEntry> entries)
    {
        _path = path;
        _entries = entries;
    }

    public string Path => _path;

    public IReadOnlyList<RosterEntry> Entries => _entries;

    /// <summary>The roster kept at <paramref name="path"/>, or an empty one if the file does not exist yet.</summary>
    public static SensorRoster Load(string path)
    {
        if (!File.Exists(path))
        {
            return new SensorRoster(path, []);
        }

        try
        {
            var file = JsonSerializer.Deserialize<RosterFile>(File.ReadAllText(path), Json);
            return new SensorRoster(path, [.. file?.Sensors ?? []]);
        }
        catch (JsonException e)
        {
            throw new Server.SimulatorException($"The state file {path} is not valid JSON ({e.Message}); remove it to start afresh.", e);
        }
    }

    public RosterEntry? Find(string id) => _entries.Find(entry => entry.Id == id);

    /// <summary>Adds the sensor, or gives a known one its new token and brings it back to life.</summary>
    public void Put(string id, string token)
    {
        var entry = Find(id);
        if (entry is null)
        {
            _entries.Add(new RosterEntry { Id = id, Token = token });
        }
        else
        {
            entry.Token = token;
            entry.DiedAt = null;
        }
    }

    public void Remove(string id) => _entries.RemoveAll(entry => entry.Id == id);

    /// <summary>Records that the simulated sensor died, so later runs do not bring it back.</summary>
    public void MarkDead(string id, DateTimeOffset diedAt)
    {
        if (Find(id) is { } entry)
        {
            entry.DiedAt = diedAt;
        }
    }

    /// <summary>Writes the file (through a temporary file, so a crash never leaves half of it).</summary>
    public void Save()
    {
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(_path))!;
        Directory.CreateDirectory(directory);
        var temporary = _path + ".tmp";
        _entries.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
        File.WriteAllText(temporary, JsonSerializer.Serialize(new RosterFile { Sensors = _entries }, Json));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        File.Move(temporary, _path, overwrite: true);
    }

    private sealed class RosterFile
    {
        public List<RosterEntry> Sensors { get; init; } = [];
    }
}

/// <summary>One provisioned sensor: its id, its bearer token and, once its simulated life ended, when.</summary>
internal sealed class RosterEntry
{
    public required string Id { get; init; }

    public required string Token { get; set; }

    public DateTimeOffset? DiedAt { get; set; }
}
