using System.Buffers;
using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Sensors360.Server.Database;

/// <summary>
/// Keeps the <c>heartbeat</c> table to <see cref="RetentionOptions.HeartbeatMonths"/>: at start and then once a
/// day, every monthly partition that ended longer ago than that is written to the archive directory as one
/// gzip NDJSON file (the format of <c>POST /api/import/heartbeats</c>), read back, and only then detached and
/// dropped. A month whose archive cannot be written or checked is kept and tried again the next day. Silos
/// take turns under an advisory lock, so each month is archived once. docs/operations.md, "Retention and archive".
/// </summary>
public sealed partial class HeartbeatRetention(
    NpgsqlDataSource db,
    IOptions<RetentionOptions> options,
    TimeProvider time,
    ILogger<HeartbeatRetention> logger) : BackgroundService
{
    public const string FileExtension = ".ndjson.gz";

    private static readonly TimeSpan CheckEvery = TimeSpan.FromDays(1);

    // DETACH briefly locks heartbeat against writers and first waits for open transactions on it: a long wait
    // would stall the heartbeat writers behind it, so it gives up and tries again the next day.
    private const string DropLockTimeout = "10s";

    private PeriodicTimer? _timer;

    /// <summary>The archive file of <paramref name="month"/>; a later copy of the same month (<paramref name="copy"/> &gt; 0) never overwrites an earlier one.</summary>
    public static string FileName(DateTimeOffset month, int copy) =>
        copy == 0
            ? string.Create(CultureInfo.InvariantCulture, $"heartbeats-{month:yyyy-MM}{FileExtension}")
            : string.Create(CultureInfo.InvariantCulture, $"heartbeats-{month:yyyy-MM}.{copy}{FileExtension}");

    /// <summary>One run: archives and drops every expired month, oldest first, stopping at the first that fails.</summary>
    public async Task<RetentionRun> RunAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (!settings.Enabled)
        {
            return new RetentionRun(RetentionOutcome.Off, [], null);
        }

        var directory = Path.GetFullPath(settings.ArchiveDirectory);
        var cutoff = time.GetUtcNow().AddMonths(-settings.HeartbeatMonths);
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        if (!await TryLockAsync(connection, cancellationToken))
        {
            // Another silo is archiving; what it leaves is tomorrow's.
            LogBusy(logger);
            return new RetentionRun(RetentionOutcome.Busy, [], null);
        }

        try
        {
            var archived = new List<ArchivedMonth>();
            foreach (var month in await ExpiredMonthsAsync(connection, cutoff, cancellationToken))
            {
                var name = Month(month);
                try
                {
                    var done = await ArchiveAndDropAsync(connection, directory, month, cancellationToken);
                    archived.Add(done);
                    LogArchived(logger, name, done.Rows, done.Path);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or NpgsqlException or TimeoutException)
                {
                    // Nothing was dropped; a full disk or a missing directory fails every month alike, so stop here.
                    LogArchiveFailed(logger, name, directory, e.Message);
                    return new RetentionRun(RetentionOutcome.Failed, archived, $"{name}: {e.Message}");
                }
            }

            if (await DefaultPartitionHoldsOlderAsync(connection, cutoff, cancellationToken))
            {
                var before = Month(cutoff);
                LogDefaultPartitionOld(logger, before);
            }

            return new RetentionRun(RetentionOutcome.Done, archived, null);
        }
        finally
        {
            await UnlockAsync(connection);
        }
    }

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // The day counts from start, as in HeartbeatPartitions.
        _timer = new PeriodicTimer(CheckEvery, time);
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (!settings.Enabled)
        {
            LogOff(logger);
            return;
        }

        var directory = Path.GetFullPath(settings.ArchiveDirectory);
        LogOn(logger, settings.HeartbeatMonths, directory);
        using var timer = _timer ?? new PeriodicTimer(CheckEvery, time);
        try
        {
            do
            {
                try
                {
                    await RunAsync(stoppingToken);
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException)
                {
                    // Nothing is dropped without its archive, so a missed day only leaves the table a day longer.
                    LogFailed(logger, e.Message);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private static async Task<bool> TryLockAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        // A session lock, not a transaction's: a month is read, written and dropped over several transactions.
        await using var take = new NpgsqlCommand("SELECT pg_try_advisory_lock($1)", connection);
        take.Parameters.AddWithValue(AdvisoryLocks.HeartbeatRetention);
        return await take.ExecuteScalarAsync(cancellationToken) is true;
    }

    private static async Task UnlockAsync(NpgsqlConnection connection)
    {
        try
        {
            await using var release = new NpgsqlCommand("SELECT pg_advisory_unlock($1)", connection);
            release.Parameters.AddWithValue(AdvisoryLocks.HeartbeatRetention);
            await release.ExecuteNonQueryAsync(CancellationToken.None);
        }
        catch (NpgsqlException)
        {
            // The connection is broken, and its session lock went with it.
        }
    }

    /// <summary>The first instants of the months whose partition ended at or before <paramref name="cutoff"/>, oldest first.</summary>
    private static async Task<List<DateTimeOffset>> ExpiredMonthsAsync(NpgsqlConnection connection, DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        await using var list = new NpgsqlCommand("""
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'heartbeat'::regclass AND c.relname ~ '^heartbeat_[0-9]{4}_[0-9]{2}$'
            """, connection);
        var months = new List<DateTimeOffset>();
        await using var reader = await list.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            if (DateTimeOffset.TryParseExact(reader.GetString(0)["heartbeat_".Length..], "yyyy_MM", CultureInfo.InvariantCulture,
                    DateTimeStyles.AssumeUniversal, out var month) && month.AddMonths(1) <= cutoff)
            {
                months.Add(month.ToUniversalTime());
            }
        }

        months.Sort();
        return months;
    }

    private static async Task<ArchivedMonth> ArchiveAndDropAsync(NpgsqlConnection connection, string directory, DateTimeOffset month, CancellationToken cancellationToken)
    {
        // Written beside its final name, so a crash or a full disk leaves at most a stray temporary file, never a short archive.
        var temporary = Path.Combine(directory, string.Create(CultureInfo.InvariantCulture, $".{FileName(month, 0)}.{Guid.NewGuid():N}.tmp"));
        try
        {
            var rows = await WriteArchiveAsync(connection, month, temporary, cancellationToken);
            var path = MoveToFreeName(temporary, directory, month);
            var lines = await CountLinesAsync(path, cancellationToken);
            if (lines != rows)
            {
                File.Delete(path);
                throw new InvalidDataException($"{path} read back {lines} heartbeats of the {rows} written.");
            }

            await DropAsync(connection, month, rows, cancellationToken);
            return new ArchivedMonth(month, path, rows);
        }
        finally
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }
        }
    }

    /// <summary>Writes the month's heartbeats as import lines, gzip-compressed, flushed to disk; returns how many.</summary>
    private static async Task<long> WriteArchiveAsync(NpgsqlConnection connection, DateTimeOffset month, string path, CancellationToken cancellationToken)
    {
        var partition = PartitionName(month);
        await using var file = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, Options = FileOptions.Asynchronous, BufferSize = 1 << 16,
        });
        long rows = 0;
        await using (var gzip = new GZipStream(file, CompressionLevel.Optimal, leaveOpen: true))
        {
            var line = new ArrayBufferWriter<byte>(256);
            await using var json = new Utf8JsonWriter(line);
            // The key's order (sensor, time) is an index scan of the partition; the partition name comes from pg_class.
            await using var read = new NpgsqlCommand(
                $"SELECT s.name, h.received_at, h.metrics::text FROM \"{partition}\" h JOIN sensor s ON s.id = h.sensor_id ORDER BY h.sensor_id, h.received_at",
                connection) { CommandTimeout = 0 };
            await using var reader = await read.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                line.ResetWrittenCount();
                json.Reset(line);
                json.WriteStartObject();
                json.WriteString("sensor", reader.GetString(0));
                json.WriteString("at", reader.GetFieldValue<DateTime>(1).ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture));
                if (!reader.IsDBNull(2))
                {
                    json.WritePropertyName("metrics");
                    json.WriteRawValue(reader.GetString(2), skipInputValidation: true);
                }

                json.WriteEndObject();
                await json.FlushAsync(cancellationToken);
                line.Write("\n"u8);
                await gzip.WriteAsync(line.WrittenMemory, cancellationToken);
                rows++;
            }
        }

        await file.FlushAsync(cancellationToken);
        file.Flush(flushToDisk: true);
        return rows;
    }

    private static string MoveToFreeName(string temporary, string directory, DateTimeOffset month)
    {
        for (var copy = 0; ; copy++)
        {
            var path = Path.Combine(directory, FileName(month, copy));
            if (File.Exists(path))
            {
                continue;
            }

            try
            {
                File.Move(temporary, path, overwrite: false);
                return path;
            }
            catch (IOException) when (File.Exists(path))
            {
                // Taken between the look and the move: try the next copy.
            }
        }
    }

    private static async Task<long> CountLinesAsync(string path, CancellationToken cancellationToken)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        await using var gzip = new GZipStream(file, CompressionMode.Decompress);
        var buffer = new byte[1 << 16];
        long lines = 0;
        int read;
        while ((read = await gzip.ReadAsync(buffer, cancellationToken)) > 0)
        {
            lines += buffer.AsSpan(0, read).Count((byte)'\n');
        }

        return lines;
    }

    private static async Task DropAsync(NpgsqlConnection connection, DateTimeOffset month, long rows, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var timeout = new NpgsqlCommand($"SET LOCAL lock_timeout = '{DropLockTimeout}'", connection, transaction))
        {
            await timeout.ExecuteNonQueryAsync(cancellationToken);
        }

        // The function counts the rows again under the detach's lock and refuses if any arrived since they were read.
        await using var drop = new NpgsqlCommand("SELECT drop_heartbeat_partition($1, $2)", connection, transaction);
        drop.Parameters.AddWithValue(month);
        drop.Parameters.AddWithValue(rows);
        await drop.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    private static async Task<bool> DefaultPartitionHoldsOlderAsync(NpgsqlConnection connection, DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        await using var probe = new NpgsqlCommand(
            "SELECT EXISTS (SELECT 1 FROM heartbeat_default WHERE received_at < $1)",
            connection);
        probe.Parameters.AddWithValue(cutoff);
        return await probe.ExecuteScalarAsync(cancellationToken) is true;
    }

    private static string PartitionName(DateTimeOffset month) => string.Create(CultureInfo.InvariantCulture, $"heartbeat_{month:yyyy_MM}");

    private static string Month(DateTimeOffset month) => month.ToString("yyyy-MM", CultureInfo.InvariantCulture);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Heartbeat retention is off: Sensors360:Retention:ArchiveDirectory is empty, so no heartbeat partition is archived or dropped")]
    private static partial void LogOff(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Heartbeat retention: months that ended more than {Months} months ago are archived to {Directory} and then dropped")]
    private static partial void LogOn(ILogger logger, int months, string directory);

    [LoggerMessage(Level = LogLevel.Information, Message = "Archived and dropped the heartbeats of {Month}: {Rows} in {Path}")]
    private static partial void LogArchived(ILogger logger, string month, long rows, string path);

    [LoggerMessage(Level = LogLevel.Error,
        Message = "Could not archive the heartbeats of {Month} to {Directory}, so the month is kept and tried again tomorrow: {Reason}")]
    private static partial void LogArchiveFailed(ILogger logger, string month, string directory, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Heartbeat retention: another silo is archiving")]
    private static partial void LogBusy(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "heartbeat_default holds heartbeats from before {Month}; retention archives and drops only monthly partitions, so they stay (docs/database.md says how to move them)")]
    private static partial void LogDefaultPartitionOld(ILogger logger, string month);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Heartbeat retention could not run: {Reason}")]
    private static partial void LogFailed(ILogger logger, string reason);
}

/// <summary>How a retention run ended.</summary>
public enum RetentionOutcome
{
    /// <summary>No archive directory is set: nothing is archived or dropped.</summary>
    Off,

    /// <summary>Another silo held the lock.</summary>
    Busy,

    /// <summary>Every expired month was archived and dropped.</summary>
    Done,

    /// <summary>A month could not be archived or dropped; it and the later ones are kept.</summary>
    Failed,
}

/// <summary>One retention run: the months it archived and dropped, and why it stopped early, if it did.</summary>
public sealed record RetentionRun(RetentionOutcome Outcome, IReadOnlyList<ArchivedMonth> Archived, string? Failure);

/// <summary>A month archived to <paramref name="Path"/> and dropped from the database.</summary>
public sealed record ArchivedMonth(DateTimeOffset Month, string Path, long Rows);
