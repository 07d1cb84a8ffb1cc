using System.Globalization;
using Sensors360.Simulator.Server;

namespace Sensors360.Simulator.Roster;

/// <summary>
/// Brings the roster and the server into agreement: reuses the living sensors the roster already holds,
/// provisions again those the server no longer knows (a fresh database), drops those an operator retired,
/// and provisions new ones (<c>{prefix}00001</c>, <c>{prefix}00002</c>, …) until there are enough.
/// </summary>
internal sealed class RosterProvisioning(
    SensorRoster roster, ISensorAdministration administration, string prefix, IReadOnlyList<string> tags, int silenceThresholdSeconds)
{
    private const int Parallelism = 16;

    private readonly Lock _gate = new();
    private int _lastNumber = HighestNumber(roster, prefix);

    /// <summary>Exactly <paramref name="count"/> sensors of the prefix the server accepts, reused ones first, ordered by id; the roster is saved.</summary>
    public async Task<IReadOnlyList<RosterEntry>> EnsureAsync(int count, CancellationToken cancellationToken)
    {
        List<RosterEntry> candidates;
        lock (_gate)
        {
            candidates = [.. roster.Entries.Where(entry => entry.Id.StartsWith(prefix, StringComparison.Ordinal) && entry.DiedAt is null).Take(count)];
        }

        var usable = new RosterEntry?[candidates.Count];
        await Parallel.ForEachAsync(
            Enumerable.Range(0, candidates.Count),
            new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken },
            async (index, token) => usable[index] = await ReconcileAsync(candidates[index], token));

        var sensors = usable.OfType<RosterEntry>().ToList();
        while (sensors.Count < count)
        {
            var fresh = new RosterEntry?[count - sensors.Count];
            await Parallel.ForEachAsync(
                Enumerable.Range(0, fresh.Length),
                new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken },
                async (index, token) => fresh[index] = await TryProvisionAsync(NextId(), token));
            sensors.AddRange(fresh.OfType<RosterEntry>());
        }

        lock (_gate)
        {
            roster.Save();
        }

        // In id order, so a seeded fleet gives each sensor the same life however the calls interleaved.
        sensors.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
        return sensors;
    }

    /// <summary>A new sensor under the next free id, added to the roster (not yet saved).</summary>
    public async Task<RosterEntry> ProvisionNewAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (await TryProvisionAsync(NextId(), cancellationToken) is { } entry)
            {
                return entry;
            }
        }
    }

    /// <summary>
    /// After a 401: a token that works again (rotated, or the sensor provisioned anew if the server forgot it),
    /// or null when the sensor was retired meanwhile.
    /// </summary>
    public async Task<string?> RecoverTokenAsync(string id, CancellationToken cancellationToken)
    {
        var token = await administration.GetStateAsync(id, cancellationToken) switch
        {
            RemoteSensorState.Unknown => await administration.ProvisionAsync(id, tags, silenceThresholdSeconds, cancellationToken),
            RemoteSensorState.Active => await administration.RotateTokenAsync(id, cancellationToken),
            _ => null,
        };
        lock (_gate)
        {
            if (token is null)
            {
                roster.Remove(id);
            }
            else
            {
                roster.Put(id, token);
            }
        }

        return token;
    }

    private async Task<RosterEntry?> ReconcileAsync(RosterEntry entry, CancellationToken cancellationToken)
    {
        switch (await administration.GetStateAsync(entry.Id, cancellationToken))
        {
            case RemoteSensorState.Active:
                return entry;
            case RemoteSensorState.Unknown:
                // The server forgot it (e.g. a new database): the same id is provisioned again.
                return await TryProvisionAsync(entry.Id, cancellationToken);
            default:
                lock (_gate)
                {
                    roster.Remove(entry.Id);
                }

                return null;
        }
    }

    private async Task<RosterEntry?> TryProvisionAsync(string id, CancellationToken cancellationToken)
    {
        var token = await administration.ProvisionAsync(id, tags, silenceThresholdSeconds, cancellationToken);
        lock (_gate)
        {
            if (token is null)
            {
                // Someone else's sensor has this id; a reused entry of ours that lost it is dropped.
                roster.Remove(id);
                return null;
            }

            roster.Put(id, token);
            return roster.Find(id);
        }
    }

    private string NextId()
    {
        lock (_gate)
        {
            _lastNumber++;
            return string.Create(CultureInfo.InvariantCulture, $"{prefix}{_lastNumber:00000}");
        }
    }

    private static int HighestNumber(SensorRoster roster, string prefix) => roster.Entries
        .Select(entry => entry.Id.StartsWith(prefix, StringComparison.Ordinal)
            && int.TryParse(entry.Id.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var number) ? number : 0)
        .DefaultIfEmpty(0)
        .Max();
}
