using Npgsql;

namespace Sensors360.Grains.Maintenance;

/// <summary>A maintenance window: every sensor with one of <see cref="Tags"/> is paused from start to end.</summary>
public sealed record MaintenanceWindow(
    long Id, DateTimeOffset Start, DateTimeOffset End, string[] Tags, string? Reason, string? CreatedBy, DateTimeOffset CreatedAt)
{
    public bool Covers(IReadOnlyCollection<string> sensorTags, DateTimeOffset at) =>
        Start <= at && at < End && Tags.Any(sensorTags.Contains);
}

/// <summary>What deleting a window did: removed (it had not begun), ended now (it was running), or nothing.</summary>
public enum MaintenanceRemoval
{
    NotFound,
    Deleted,
    Ended,
    AlreadyOver,
}

/// <summary>
/// Every statement on <c>maintenance_window</c>. Each change is announced on <see cref="ChangeChannel"/> on commit,
/// so every silo's <see cref="MaintenanceCalendar"/> reloads.
/// </summary>
public sealed class MaintenanceStore(NpgsqlDataSource db)
{
    public const string ChangeChannel = "sensors360_maintenance_changed";

    private const string Columns = "id, starts_at, ends_at, tags, reason, created_by, created_at";

    /// <summary>Windows that end after <paramref name="endsAfter"/> (all when null), by start.</summary>
    public async Task<IReadOnlyList<MaintenanceWindow>> ListAsync(DateTimeOffset? endsAfter, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand($"""
            SELECT {Columns} FROM maintenance_window
            WHERE $1::timestamptz IS NULL OR ends_at > $1
            ORDER BY starts_at, id
            """);
        command.Parameters.AddWithValue((object?)endsAfter ?? DBNull.Value);
        return await ReadAllAsync(command, cancellationToken);
    }

    public async Task<MaintenanceWindow?> GetAsync(long id, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand($"SELECT {Columns} FROM maintenance_window WHERE id = $1");
        command.Parameters.AddWithValue(id);
        return (await ReadAllAsync(command, cancellationToken)).SingleOrDefault();
    }

    public async Task<MaintenanceWindow> CreateAsync(
        DateTimeOffset start, DateTimeOffset end, string[] tags, string? reason, string? createdBy, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand($"""
            WITH created AS (
                INSERT INTO maintenance_window (starts_at, ends_at, tags, reason, created_by, created_at)
                VALUES ($1, $2, $3, $4, $5, $6)
                RETURNING {Columns})
            SELECT created.* FROM created CROSS JOIN LATERAL pg_notify('{ChangeChannel}', created.id::text)
            """);
        command.Parameters.AddWithValue(start);
        command.Parameters.AddWithValue(end);
        command.Parameters.AddWithValue(tags);
        command.Parameters.AddWithValue((object?)reason ?? DBNull.Value);
        command.Parameters.AddWithValue((object?)createdBy ?? DBNull.Value);
        command.Parameters.AddWithValue(at);
        return (await ReadAllAsync(command, cancellationToken)).Single();
    }

    /// <summary>Replaces the window's times, tags and reason; null when there is no such window.</summary>
    public async Task<MaintenanceWindow?> UpdateAsync(
        long id, DateTimeOffset start, DateTimeOffset end, string[] tags, string? reason, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand($"""
            WITH changed AS (
                UPDATE maintenance_window SET starts_at = $2, ends_at = $3, tags = $4, reason = $5 WHERE id = $1
                RETURNING {Columns})
            SELECT changed.* FROM changed CROSS JOIN LATERAL pg_notify('{ChangeChannel}', changed.id::text)
            """);
        command.Parameters.AddWithValue(id);
        command.Parameters.AddWithValue(start);
        command.Parameters.AddWithValue(end);
        command.Parameters.AddWithValue(tags);
        command.Parameters.AddWithValue((object?)reason ?? DBNull.Value);
        return (await ReadAllAsync(command, cancellationToken)).SingleOrDefault();
    }

    /// <summary>
    /// A window not begun (or beginning at <paramref name="now"/>) is deleted; a running one ends at
    /// <paramref name="now"/> (its past stays history, for uptime); one already over is left as it is.
    /// </summary>
    public async Task<MaintenanceRemoval> RemoveAsync(long id, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand($"""
            WITH target AS (SELECT id, starts_at, ends_at FROM maintenance_window WHERE id = $1 FOR UPDATE),
                 deleted AS (DELETE FROM maintenance_window w USING target t WHERE w.id = t.id AND t.starts_at >= $2 RETURNING w.id),
                 ended AS (UPDATE maintenance_window w SET ends_at = $2 FROM target t
                           WHERE w.id = t.id AND t.starts_at < $2 AND t.ends_at > $2 RETURNING w.id)
            SELECT CASE WHEN EXISTS (SELECT 1 FROM deleted) THEN 'deleted'
                        WHEN EXISTS (SELECT 1 FROM ended) THEN 'ended'
                        WHEN EXISTS (SELECT 1 FROM target) THEN 'alreadyover'
                        ELSE 'notfound' END,
                   pg_notify('{ChangeChannel}', $1::text)
            """);
        command.Parameters.AddWithValue(id);
        command.Parameters.AddWithValue(now);
        var outcome = (string)(await command.ExecuteScalarAsync(cancellationToken))!;
        return Enum.Parse<MaintenanceRemoval>(outcome, ignoreCase: true);
    }

    private static async Task<IReadOnlyList<MaintenanceWindow>> ReadAllAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var windows = new List<MaintenanceWindow>();
        while (await reader.ReadAsync(cancellationToken))
        {
            windows.Add(new MaintenanceWindow(
                reader.GetInt64(0),
                reader.GetFieldValue<DateTimeOffset>(1),
                reader.GetFieldValue<DateTimeOffset>(2),
                reader.GetFieldValue<string[]>(3),
                reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetString(5),
                reader.GetFieldValue<DateTimeOffset>(6)));
        }

        return windows;
    }
}
