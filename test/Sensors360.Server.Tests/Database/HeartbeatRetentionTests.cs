using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Sensors360.Server.Database;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Database;

/// <summary>
/// <see cref="HeartbeatRetention"/> against real databases: expired months are archived as files the import reads
/// back and then dropped; recent months, the sensors' counters and every month whose archive fails stay; two silos
/// archive each month once. "Now" is the real time (the drop function checks the database's clock), and the
/// heartbeats lie years back.
/// </summary>
public sealed class HeartbeatRetentionTests(ThrowawayPostgres postgres, RunningServer running) : IClassFixture<RunningServer>
{
    private const int Months = 13;

    private static readonly DateTimeOffset ThisMonth = MonthOf(DateTimeOffset.UtcNow);

    [Fact]
    public async Task Expired_months_are_archived_as_files_the_import_reads_back_and_dropped_while_recent_months_and_counters_stay()
    {
        var cancellation = TestContext.Current.CancellationToken;
        var db = await PreparedDatabase.CreateAsync(postgres, nameof(Expired_months_are_archived_as_files_the_import_reads_back_and_dropped_while_recent_months_and_counters_stay));
        var sensors = new[] { $"ret-a-{Guid.NewGuid():N}"[..20], $"ret-b-{Guid.NewGuid():N}"[..20] };
        var expired = new[] { ThisMonth.AddMonths(-30), ThisMonth.AddMonths(-29) };
        var kept = new[] { ThisMonth.AddMonths(-12), ThisMonth };
        await SeedAsync(db, sensors, [.. expired, .. kept], perSensorAndMonth: 50);
        var counters = await CountersAsync(db);
        var archivedRows = await RowsAsync(db, "received_at < $1", expired[^1].AddMonths(1));
        Assert.Equal(2 * 2 * 50, archivedRows.Count);
        var keptRows = await Sql.ScalarAsync(db, "SELECT count(*) FROM heartbeat WHERE received_at >= $1", kept[0]);

        var directory = Directory.CreateTempSubdirectory("sensors360-archive-");
        try
        {
            var run = await RetentionFor(db, directory.FullName).RunAsync(cancellation);

            Assert.Equal(RetentionOutcome.Done, run.Outcome);
            Assert.Equal(expired, run.Archived.Select(month => month.Month));
            Assert.Equal(
                expired.Select(month => HeartbeatRetention.FileName(month, 0)).Order(StringComparer.Ordinal),
                directory.GetFiles().Select(file => file.Name).Order(StringComparer.Ordinal));
            foreach (var month in expired)
            {
                Assert.Equal(0, await PartitionExistsAsync(db, month));
            }

            foreach (var month in kept)
            {
                Assert.Equal(1, await PartitionExistsAsync(db, month));
            }

            Assert.Equal(keptRows, await Sql.ScalarAsync(db, "SELECT count(*) FROM heartbeat"));
            Assert.Equal(counters, await CountersAsync(db));

            // The archive, imported into another database holding sensors of the same names, is the same heartbeats.
            foreach (var sensor in sensors)
            {
                await ProvisionAsync(running.Operator, sensor);
            }

            long imported = 0;
            foreach (var file in run.Archived)
            {
                imported += await ImportGzipAsync(file.Path);
            }

            Assert.Equal(archivedRows.Count, imported);
            var reimported = await RowsAsync(running.ConnectionString, "s.name = ANY ($1)", sensors);
            Assert.Equal(archivedRows, reimported);

            // A second run finds nothing more to do.
            var again = await RetentionFor(db, directory.FullName).RunAsync(cancellation);
            Assert.Equal((RetentionOutcome.Done, 0), (again.Outcome, again.Archived.Count));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Nothing_is_dropped_when_the_archive_cannot_be_written()
    {
        var cancellation = TestContext.Current.CancellationToken;
        var db = await PreparedDatabase.CreateAsync(postgres, nameof(Nothing_is_dropped_when_the_archive_cannot_be_written));
        var month = ThisMonth.AddMonths(-24);
        await SeedAsync(db, [$"ret-c-{Guid.NewGuid():N}"[..20]], [month], perSensorAndMonth: 20);
        var parent = Directory.CreateTempSubdirectory("sensors360-archive-");
        try
        {
            var notADirectory = Path.Combine(parent.FullName, "a-file");
            await File.WriteAllTextAsync(notADirectory, "", cancellation);
            foreach (var unwritable in (string[])[Path.Combine(parent.FullName, "missing"), notADirectory])
            {
                var run = await RetentionFor(db, unwritable).RunAsync(cancellation);

                Assert.Equal(RetentionOutcome.Failed, run.Outcome);
                Assert.Empty(run.Archived);
                Assert.Equal(1, await PartitionExistsAsync(db, month));
                Assert.Equal(20, await Sql.ScalarAsync(db, "SELECT count(*) FROM heartbeat"));
            }

            Assert.Equal(["a-file"], parent.GetFiles().Select(file => file.Name));
        }
        finally
        {
            parent.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Two_silos_at_once_archive_each_month_once()
    {
        var cancellation = TestContext.Current.CancellationToken;
        var db = await PreparedDatabase.CreateAsync(postgres, nameof(Two_silos_at_once_archive_each_month_once));
        var expired = Enumerable.Range(0, 3).Select(i => ThisMonth.AddMonths(-20 + i)).ToArray();
        await SeedAsync(db, [$"ret-d-{Guid.NewGuid():N}"[..20], $"ret-e-{Guid.NewGuid():N}"[..20]], expired, perSensorAndMonth: 2000);
        var directory = Directory.CreateTempSubdirectory("sensors360-archive-");
        try
        {
            // Two silos: each its own connection pool, started together.
            var runs = await Task.WhenAll(
                Task.Run(() => RetentionFor(db, directory.FullName).RunAsync(cancellation), cancellation),
                Task.Run(() => RetentionFor(db, directory.FullName).RunAsync(cancellation), cancellation));

            Assert.All(runs, run => Assert.NotEqual(RetentionOutcome.Failed, run.Outcome));
            Assert.Equal(expired, runs.SelectMany(run => run.Archived).Select(month => month.Month).Order());
            Assert.Equal(3, directory.GetFiles().Length);
            Assert.Equal(0, await Sql.ScalarAsync(db, "SELECT count(*) FROM heartbeat"));
            Assert.Equal(2 * 3 * 2000, runs.SelectMany(run => run.Archived).Sum(month => month.Rows));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task The_service_archives_at_start_and_again_each_day()
    {
        var cancellation = TestContext.Current.CancellationToken;
        var db = await PreparedDatabase.CreateAsync(postgres, nameof(The_service_archives_at_start_and_again_each_day));
        var (first, second) = (ThisMonth.AddMonths(-30), ThisMonth.AddMonths(-31));
        await SeedAsync(db, [$"ret-g-{Guid.NewGuid():N}"[..20]], [first], perSensorAndMonth: 10);
        var directory = Directory.CreateTempSubdirectory("sensors360-archive-");
        try
        {
            var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
            await using var source = NpgsqlDataSource.Create(db);
            using var retention = new HeartbeatRetention(source,
                Options.Create(new RetentionOptions { HeartbeatMonths = Months, ArchiveDirectory = directory.FullName }),
                clock, NullLogger<HeartbeatRetention>.Instance);
            await retention.StartAsync(cancellation);
            await Eventually.TrueAsync(async () => await PartitionExistsAsync(db, first) == 0, TimeSpan.FromSeconds(20), "the month archived at start");

            // A month that appears after the first run is archived by the next day's run.
            await SeedAsync(db, [$"ret-h-{Guid.NewGuid():N}"[..20]], [second], perSensorAndMonth: 10);
            Assert.Equal(1, await PartitionExistsAsync(db, second));
            clock.Advance(TimeSpan.FromDays(1));
            await Eventually.TrueAsync(async () => await PartitionExistsAsync(db, second) == 0, TimeSpan.FromSeconds(20), "the month archived a day later");
            await retention.StopAsync(cancellation);
            Assert.Equal(
                new[] { HeartbeatRetention.FileName(second, 0), HeartbeatRetention.FileName(first, 0) }.Order(StringComparer.Ordinal),
                directory.GetFiles().Select(file => file.Name).Order(StringComparer.Ordinal));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task The_drop_function_refuses_recent_months_and_months_holding_rows_the_archive_does_not()
    {
        var db = await PreparedDatabase.CreateAsync(postgres, nameof(The_drop_function_refuses_recent_months_and_months_holding_rows_the_archive_does_not));
        var old = ThisMonth.AddMonths(-24);
        var previous = ThisMonth.AddMonths(-1);
        await SeedAsync(db, [$"ret-f-{Guid.NewGuid():N}"[..20]], [old, previous], perSensorAndMonth: 10);

        var recent = await Assert.ThrowsAsync<PostgresException>(() => Sql.ScalarAsync(db, "SELECT drop_heartbeat_partition($1, 10)::int", previous));
        Assert.Contains("less than a month ago", recent.MessageText, StringComparison.Ordinal);
        var mismatch = await Assert.ThrowsAsync<PostgresException>(() => Sql.ScalarAsync(db, "SELECT drop_heartbeat_partition($1, 9)::int", old));
        Assert.Contains("holds 10 heartbeats", mismatch.MessageText, StringComparison.Ordinal);
        Assert.Equal(1, await PartitionExistsAsync(db, old));
        Assert.Equal(1, await PartitionExistsAsync(db, previous));

        Assert.Equal(1, await Sql.ScalarAsync(db, "SELECT drop_heartbeat_partition($1, 10)::int", old));
        Assert.Equal(0, await Sql.ScalarAsync(db, "SELECT drop_heartbeat_partition($1, 10)::int", old));
        Assert.Equal(0, await PartitionExistsAsync(db, old));
    }

    [Fact]
    public async Task The_import_refuses_an_unknown_content_encoding_and_a_corrupt_gzip_body_with_a_problem()
    {
        foreach (var (encoding, bytes, status) in new[]
                 {
                     ("br", "{}"u8.ToArray(), 415),
                     ("gzip", "not gzip at all"u8.ToArray(), 400),
                 })
        {
            using var content = new ByteArrayContent(bytes);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/x-ndjson");
            content.Headers.ContentEncoding.Add(encoding);
            using var response = await running.Operator.PostAsync(new Uri("/api/import/heartbeats", UriKind.Relative), content);
            await AssertProblemAsync(response, status);
        }
    }

    [Fact]
    public async Task A_retention_below_one_month_stops_the_server_with_one_clear_line()
    {
        await using var server = ServerProcess.Start(running.ConnectionString, $"retention-{Guid.NewGuid():N}", new Dictionary<string, string?>
        {
            ["Sensors360__Retention__HeartbeatMonths"] = "0",
            ["Sensors360__Retention__ArchiveDirectory"] = Path.GetTempPath(),
        });

        Assert.NotEqual(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Single(server.Output, line => line.Contains("HeartbeatMonths must be at least 1", StringComparison.Ordinal));
    }

    private static DateTimeOffset MonthOf(DateTimeOffset instant) => new(instant.Year, instant.Month, 1, 0, 0, 0, TimeSpan.Zero);

    private static HeartbeatRetention RetentionFor(string connectionString, string directory) => new(
        NpgsqlDataSource.Create(connectionString),
        Options.Create(new RetentionOptions { HeartbeatMonths = Months, ArchiveDirectory = directory }),
        new FakeTimeProvider(DateTimeOffset.UtcNow),
        NullLogger<HeartbeatRetention>.Instance);

    /// <summary>Sensors with heartbeats in the given months (every minute from the month's start, at odd microseconds, some with metrics), and their counters as the live writer keeps them.</summary>
    private static async Task SeedAsync(string db, string[] sensors, DateTimeOffset[] months, int perSensorAndMonth)
    {
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        foreach (var month in months)
        {
            await using var partition = new NpgsqlCommand("SELECT ensure_heartbeat_partitions($1, 0)", connection);
            partition.Parameters.AddWithValue(month);
            await partition.ExecuteNonQueryAsync();
        }

        await using var seed = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand("INSERT INTO sensor (name, token_hash) SELECT unnest($1::text[]), 'not-a-token'") { Parameters = { new NpgsqlParameter { Value = sensors } } },
                new NpgsqlBatchCommand("""
                    INSERT INTO heartbeat (sensor_id, received_at, metrics)
                    SELECT s.id, m + i * interval '1 minute' + interval '0.123457 second',
                           CASE WHEN i % 3 = 0 THEN jsonb_build_object('battery', (i / 100.0)::float8, 'temperatureC', -i) END
                    FROM sensor s, unnest($2::timestamptz[]) AS m, generate_series(0, $3 - 1) AS i
                    WHERE s.name = ANY ($1)
                    """)
                {
                    Parameters = { new NpgsqlParameter { Value = sensors }, new NpgsqlParameter { Value = months }, new NpgsqlParameter { Value = perSensorAndMonth } },
                },
                new NpgsqlBatchCommand("""
                    UPDATE sensor s SET heartbeat_count = c.n, first_heartbeat_at = c.first_at, last_heartbeat_at = c.last_at
                    FROM (SELECT sensor_id, count(*) AS n, min(received_at) AS first_at, max(received_at) AS last_at FROM heartbeat GROUP BY sensor_id) AS c
                    WHERE c.sensor_id = s.id
                    """),
            },
        };
        await seed.ExecuteNonQueryAsync();
    }

    private static async Task<List<string>> CountersAsync(string db) =>
        await ListAsync(db, "SELECT concat_ws(' ', name, heartbeat_count, first_heartbeat_at, last_heartbeat_at) FROM sensor ORDER BY name");

    /// <summary>Heartbeats as (sensor name, time to the microsecond, metrics), in one order.</summary>
    private static async Task<List<string>> RowsAsync(string db, string where, object value) =>
        await ListAsync(db, $"""
            SELECT concat_ws(' ', s.name, to_char(h.received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), h.metrics::text)
            FROM heartbeat h JOIN sensor s ON s.id = h.sensor_id WHERE {where} ORDER BY s.name, h.received_at
            """, value);

    private static async Task<List<string>> ListAsync(string db, string sql, params object[] values)
    {
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var value in values)
        {
            command.Parameters.AddWithValue(value);
        }

        var rows = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.GetString(0));
        }

        return rows;
    }

    private static Task<long> PartitionExistsAsync(string db, DateTimeOffset month) =>
        Sql.ScalarAsync(db, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'heartbeat'::regclass AND inhrelid = to_regclass($1)",
            $"heartbeat_{month:yyyy_MM}");

    /// <summary>Posts an archive file to the import as it is, compressed, and returns how many heartbeats it stored.</summary>
    private async Task<long> ImportGzipAsync(string path)
    {
        await using var file = File.OpenRead(path);
        using var content = new StreamContent(file);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-ndjson");
        content.Headers.ContentEncoding.Add("gzip");
        using var response = await running.Operator.PostAsync(new Uri("/api/import/heartbeats", UriKind.Relative), content);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode} {body}");
        var answer = JsonDocument.Parse(body).RootElement;
        Assert.Equal(0, answer.GetProperty("rejected").GetInt64());
        return answer.GetProperty("imported").GetInt64();
    }
}
