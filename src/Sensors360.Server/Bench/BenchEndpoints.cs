using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Npgsql;
using NpgsqlTypes;
using Sensors360.Grains.Sensors;
using Sensors360.Server.Http;
using Sensors360.Server.Sensors;
using static Sensors360.Server.Http.HttpProblems;

namespace Sensors360.Server.Bench;

/// <summary>Settings under <c>Sensors360:Bench</c>. Only the benchmark turns them on.</summary>
public sealed class BenchOptions
{
    public const string Section = "Sensors360:Bench";

    /// <summary>Maps the <c>/bench/*</c> comparison endpoints. Never in production: they skip auth and durability.</summary>
    public bool Enabled { get; set; }
}

/// <summary>
/// Comparison endpoints for <c>build.ps1 bench</c>, beside the real heartbeat route in the same server:
/// <c>noop</c> (the HTTP ceiling), <c>grain</c> (the real path without the database write, see
/// <see cref="BenchHeartbeatWriter"/>) and <c>naive</c> (one autocommitted INSERT per request, as the first
/// prototype did).
/// </summary>
public static partial class BenchEndpoints
{
    public static WebApplicationBuilder AddBench(this WebApplicationBuilder builder)
    {
        if (IsEnabled(builder.Configuration))
        {
            // Sensor grains write through this instead of HeartbeatLog directly, whichever of AddSensors and AddBench runs first.
            builder.Services.Replace(ServiceDescriptor.Singleton<IHeartbeatWriter, BenchHeartbeatWriter>());
            builder.Services.AddSingleton<CommittedHeartbeats>();
            builder.Services.AddHostedService(provider => provider.GetRequiredService<CommittedHeartbeats>());
        }

        return builder;
    }

    public static WebApplication MapBench(this WebApplication app)
    {
        if (!IsEnabled(app.Configuration))
        {
            return app;
        }

        LogEnabled(app.Logger);
        var bench = app.MapGroup("/bench").AllowAnonymous();
        // Short-circuited at routing like the heartbeat route, so each comparison runs the same pipeline as it does.
        // The product's 204 on its hot routes (QuietNoContent), so noop measures the pipeline, not the result.
        bench.MapPost("/noop/{id}", (string id) => QuietNoContent.Instance).ShortCircuit();
        var ingest = HeartbeatsApi.HeartbeatIngest.From(app.Services);
        bench.MapPost("/grain/{id}", (string id, HttpContext http) => HeartbeatWithoutWriteAsync(id, http, ingest)).ShortCircuit();
        bench.MapPost("/naive/{id}", NaiveInsertAsync).ShortCircuit();
        bench.MapPost("/gc", CollectGarbage);
        return app;
    }

    /// <summary>The real heartbeat route, marked so <see cref="BenchHeartbeatWriter"/> skips its write.</summary>
    private static async Task<IResult> HeartbeatWithoutWriteAsync(string id, HttpContext http, HeartbeatsApi.HeartbeatIngest ingest)
    {
        // The entry travels with the grain call to the writer. Set inside an async method, it is gone again
        // for the caller when this returns, so it never reaches another request.
        RequestContext.Set(BenchHeartbeatWriter.SkipWriteKey, true);
        return await HeartbeatsApi.ReceiveAsync(id, http, ingest);
    }

    /// <summary>
    /// No batching: a round trip and a commit per heartbeat. On the server's own pool, so it stays inside the
    /// connection budget like everything else (a pool of its own once took 100 connections of its own, and more
    /// than PostgreSQL allows); the runs take turns, so it has the pool to itself but for the held connections.
    /// </summary>
    private static async Task<IResult> NaiveInsertAsync(
        string id, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        await using var insert = db.CreateCommand("""
            INSERT INTO heartbeat (sensor_id, received_at, metrics)
            SELECT s.id, clock_timestamp(), $2 FROM sensor s WHERE s.name = $1
            """);
        insert.Parameters.AddWithValue(id);
        insert.Parameters.Add(new NpgsqlParameter { Value = DBNull.Value, NpgsqlDbType = NpgsqlDbType.Jsonb });
        return await insert.ExecuteNonQueryAsync(cancellationToken) == 1
            ? QuietNoContent.Instance
            : Problem(404, "Sensor not found", $"No sensor has id '{id}'.");
    }

    /// <summary>Settles the heap so the benchmark can read memory per active grain.</summary>
    private static Ok<HeapResponse> CollectGarbage(CommittedHeartbeats committed)
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        // Aggressive also hands the free memory back to the OS, so the working set counts live memory, not the load's garbage.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        return TypedResults.Ok(new HeapResponse(GC.GetTotalMemory(forceFullCollection: false), process.WorkingSet64, committed.Batches, committed.Heartbeats));
    }

    private static bool IsEnabled(IConfiguration configuration) =>
        configuration.GetSection(BenchOptions.Section).Get<BenchOptions>()?.Enabled == true;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Benchmark endpoints under /bench are enabled: never run like this in production")]
    private static partial void LogEnabled(ILogger logger);
}

/// <summary>The process's managed heap and resident set after a full collection, and what the heartbeat writer committed since start.</summary>
public sealed record HeapResponse(long ManagedBytes, long ResidentBytes, long HeartbeatBatches, long HeartbeatsStored);
