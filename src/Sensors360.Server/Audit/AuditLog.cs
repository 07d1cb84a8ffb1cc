using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace Sensors360.Server.Audit;

/// <summary>What operators did, as <c>audit_event</c> keeps it. Action names are in <see cref="AuditActions"/>.</summary>
/// <param name="Actor">The operator's username; null for an anonymous caller (a failed login).</param>
/// <param name="Action">One of <see cref="AuditActions"/>.</param>
/// <param name="Target">What it was done to: a sensor id, an alert id, an operator's username.</param>
/// <param name="ClientAddress">The client's address as the server sees it (the real client's behind a known proxy).</param>
/// <param name="Details">Small facts worth keeping (a new role, import counts), stored as JSON.</param>
public sealed record AuditEntry(string? Actor, string Action, string? Target, string? ClientAddress, IReadOnlyDictionary<string, object?>? Details = null)
{
    /// <summary>An entry for the request's operator (null when anonymous) and client address.</summary>
    public static AuditEntry For(HttpContext http, string action, string? target, IReadOnlyDictionary<string, object?>? details = null) =>
        new(http.User.Identity is { IsAuthenticated: true, Name: { } name } ? name : null,
            action, target, http.Connection.RemoteIpAddress?.ToString(), details);
}

/// <summary>An audit event as <c>GET /api/audit</c> returns it.</summary>
public sealed record AuditEvent(long Id, DateTimeOffset At, string? Actor, string Action, string? Target, string? ClientAddress, JsonElement? Details);

/// <summary>
/// The one owner of <c>audit_event</c>'s SQL. A change the server makes in SQL writes its event in the same
/// transaction (<see cref="WriteAsync(AuditEntry, NpgsqlConnection, NpgsqlTransaction, CancellationToken)"/>);
/// a change made by a grain is recorded right after the grain reports success (<see cref="WriteAfterChangeAsync"/>).
/// </summary>
public sealed partial class AuditLog(NpgsqlDataSource dataSource, TimeProvider time, ILogger<AuditLog> logger)
{
    private const string Insert =
        "INSERT INTO audit_event (at, actor, action, target, client_address, details) VALUES (@at, @actor, @action, @target, @address, @details)";

    /// <summary>Writes the event inside the caller's transaction: it commits or rolls back with the change.</summary>
    public async Task WriteAsync(AuditEntry entry, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(Insert, connection, transaction);
        Bind(command, entry);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Writes an event that goes with no change (a failed login); a database failure propagates.</summary>
    public async Task WriteAsync(AuditEntry entry, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(Insert);
        Bind(command, entry);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Records a change that is already done (a grain made it). If the database fails now, the event goes to
    /// the log instead: answering an error would hide a change that happened (and a rotated token with it).
    /// </summary>
    public async Task WriteAfterChangeAsync(AuditEntry entry, CancellationToken cancellationToken)
    {
        try
        {
            await WriteAsync(entry, cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            LogNotRecorded(logger, entry.Action, entry.Actor, entry.Target, e.Message.ReplaceLineEndings(" "));
        }
    }

    /// <summary>Up to <paramref name="count"/> events, newest first, with ids below <paramref name="beforeId"/> when given.</summary>
    public async Task<IReadOnlyList<AuditEvent>> ListAsync(
        string? actor, string? action, long? beforeId, int count, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            """
            SELECT id, at, actor, action, target, client_address, details FROM audit_event
            WHERE (@actor::text IS NULL OR actor = @actor) AND (@action::text IS NULL OR action = @action)
              AND (@before::bigint IS NULL OR id < @before)
            ORDER BY id DESC LIMIT @count
            """);
        command.Parameters.Add(new NpgsqlParameter("actor", NpgsqlDbType.Text) { Value = (object?)actor ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("action", NpgsqlDbType.Text) { Value = (object?)action ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("before", NpgsqlDbType.Bigint) { Value = (object?)beforeId ?? DBNull.Value });
        command.Parameters.AddWithValue("count", count);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var events = new List<AuditEvent>();
        while (await reader.ReadAsync(cancellationToken))
        {
            JsonElement? details = null;
            if (!reader.IsDBNull(6))
            {
                using var document = JsonDocument.Parse(reader.GetString(6));
                details = document.RootElement.Clone();
            }

            events.Add(new AuditEvent(
                reader.GetInt64(0),
                reader.GetFieldValue<DateTimeOffset>(1),
                reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetString(5),
                details));
        }

        return events;
    }

    private void Bind(NpgsqlCommand command, AuditEntry entry)
    {
        command.Parameters.AddWithValue("at", time.GetUtcNow());
        command.Parameters.Add(new NpgsqlParameter("actor", NpgsqlDbType.Text) { Value = (object?)entry.Actor ?? DBNull.Value });
        command.Parameters.AddWithValue("action", entry.Action);
        command.Parameters.Add(new NpgsqlParameter("target", NpgsqlDbType.Text) { Value = (object?)entry.Target ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("address", NpgsqlDbType.Text) { Value = (object?)entry.ClientAddress ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("details", NpgsqlDbType.Jsonb)
        {
            Value = entry.Details is null ? DBNull.Value : JsonSerializer.Serialize(entry.Details, JsonSerializerOptions.Web),
        });
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Audit event not recorded (database unavailable): {Action} by {Actor} on {Target}: {Reason}")]
    private static partial void LogNotRecorded(ILogger logger, string action, string? actor, string? target, string reason);
}
