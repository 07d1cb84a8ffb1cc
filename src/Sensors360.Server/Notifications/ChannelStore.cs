using System.Text.Json;
using Microsoft.AspNetCore.DataProtection;
using Npgsql;
using NpgsqlTypes;
using Sensors360.Server.Audit;

namespace Sensors360.Server.Notifications;

/// <summary>A stored channel: its settings, with the secret (webhook signing secret, email password) in clear, for the server only.</summary>
public sealed record StoredChannel(long Id, ChannelDraft Settings, DateTimeOffset CreatedAt);

/// <summary>
/// The one owner of <c>notification_channel</c>'s SQL. Each change is written with its audit event in one transaction.
/// Secrets are stored encrypted with the server's data protection keys (the same key ring every silo shares),
/// so a database dump alone does not hand them out.
/// </summary>
public sealed class ChannelStore(NpgsqlDataSource dataSource, IDataProtectionProvider protection, AuditLog audit, TimeProvider time)
{
    private const string Columns = "id, name, kind, url, email, protected_secret, tags, events, repeat_every_seconds, created_at";

    private readonly IDataProtector _protector = protection.CreateProtector("Sensors360.Notifications.ChannelSecret");

    public async Task<IReadOnlyList<StoredChannel>> ListAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"SELECT {Columns} FROM notification_channel ORDER BY id");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var channels = new List<StoredChannel>();
        while (await reader.ReadAsync(cancellationToken))
        {
            channels.Add(Read(reader));
        }

        return channels;
    }

    public async Task<StoredChannel?> GetAsync(long id, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"SELECT {Columns} FROM notification_channel WHERE id = $1");
        command.Parameters.AddWithValue(id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? Read(reader) : null;
    }

    /// <summary>The new channel, or null when another has its name.</summary>
    public async Task<StoredChannel?> CreateAsync(ChannelDraft draft, AuditEntry entry, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"""
            INSERT INTO notification_channel (name, kind, url, email, protected_secret, tags, events, repeat_every_seconds, created_at)
            VALUES (@name, @kind, @url, @email, @secret, @tags, @events, @repeat, @now)
            ON CONFLICT ON CONSTRAINT notification_channel_name_key DO NOTHING
            RETURNING {Columns}
            """, connection, transaction);
        Bind(command, draft);
        command.Parameters.AddWithValue("now", time.GetUtcNow());
        var created = await ReadOneAsync(command, cancellationToken);
        if (created is null)
        {
            return null;
        }

        await audit.WriteAsync(entry with { Target = created.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) }, connection, transaction, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return created;
    }

    /// <summary>The changed channel; <see cref="ChannelChange.NameTaken"/> or <see cref="ChannelChange.NotFound"/> when not changed.</summary>
    public async Task<(ChannelChange Result, StoredChannel? Channel)> UpdateAsync(long id, ChannelDraft draft, AuditEntry entry, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var taken = new NpgsqlCommand("SELECT 1 FROM notification_channel WHERE name = @name AND id <> @id", connection, transaction))
        {
            taken.Parameters.AddWithValue("name", draft.Name);
            taken.Parameters.AddWithValue("id", id);
            if (await taken.ExecuteScalarAsync(cancellationToken) is not null)
            {
                return (ChannelChange.NameTaken, null);
            }
        }

        await using var command = new NpgsqlCommand($"""
            UPDATE notification_channel SET name = @name, url = @url, email = @email, protected_secret = @secret,
                tags = @tags, events = @events, repeat_every_seconds = @repeat
            WHERE id = @id
            RETURNING {Columns}
            """, connection, transaction);
        Bind(command, draft);
        command.Parameters.AddWithValue("id", id);
        StoredChannel? changed;
        try
        {
            changed = await ReadOneAsync(command, cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            // Another rename to this name committed after our check.
            return (ChannelChange.NameTaken, null);
        }

        if (changed is null)
        {
            return (ChannelChange.NotFound, null);
        }

        await audit.WriteAsync(entry, connection, transaction, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (ChannelChange.Done, changed);
    }

    /// <summary>Deletes the channel with its delivery log; false when there is no such channel.</summary>
    public async Task<bool> DeleteAsync(long id, AuditEntry entry, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = new NpgsqlCommand("DELETE FROM notification_channel WHERE id = @id", connection, transaction);
        command.Parameters.AddWithValue("id", id);
        if (await command.ExecuteNonQueryAsync(cancellationToken) == 0)
        {
            return false;
        }

        await audit.WriteAsync(entry, connection, transaction, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>The secret in clear from its stored form; for the dispatcher, which reads channels with its deliveries.</summary>
    public string? Unprotect(string? protectedSecret) => protectedSecret is null ? null : _protector.Unprotect(protectedSecret);

    /// <summary>The email settings from their stored JSON.</summary>
    public static EmailSettings? ReadEmail(string? json) =>
        json is null ? null : JsonSerializer.Deserialize<EmailSettings>(json, JsonSerializerOptions.Web);

    private void Bind(NpgsqlCommand command, ChannelDraft draft)
    {
        command.Parameters.AddWithValue("name", draft.Name);
        command.Parameters.AddWithValue("kind", draft.Kind);
        command.Parameters.Add(new NpgsqlParameter("url", NpgsqlDbType.Text) { Value = (object?)draft.Url ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("email", NpgsqlDbType.Jsonb)
        {
            Value = draft.Email is null ? DBNull.Value : JsonSerializer.Serialize(draft.Email, JsonSerializerOptions.Web),
        });
        command.Parameters.Add(new NpgsqlParameter("secret", NpgsqlDbType.Text)
        {
            Value = draft.Secret is null ? DBNull.Value : _protector.Protect(draft.Secret),
        });
        command.Parameters.AddWithValue("tags", draft.Tags);
        command.Parameters.AddWithValue("events", draft.Events);
        command.Parameters.AddWithValue("repeat", (int)draft.RepeatEvery.TotalSeconds);
    }

    private async Task<StoredChannel?> ReadOneAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? Read(reader) : null;
    }

    private StoredChannel Read(NpgsqlDataReader reader) => new(
        reader.GetInt64(0),
        new ChannelDraft(
            reader.GetString(1),
            reader.GetString(2),
            reader.IsDBNull(3) ? null : reader.GetString(3),
            ReadEmail(reader.IsDBNull(4) ? null : reader.GetString(4)),
            reader.GetFieldValue<string[]>(6),
            reader.GetFieldValue<string[]>(7),
            TimeSpan.FromSeconds(reader.GetInt32(8)),
            Unprotect(reader.IsDBNull(5) ? null : reader.GetString(5))),
        reader.GetFieldValue<DateTimeOffset>(9));
}

public enum ChannelChange
{
    Done,
    NotFound,
    NameTaken,
}
