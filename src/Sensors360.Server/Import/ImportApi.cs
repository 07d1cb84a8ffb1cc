using System.IO.Compression;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Net.Http.Headers;
using Npgsql;
using Sensors360.Grains.Sensors;
using Sensors360.Server.Audit;
using Sensors360.Server.Operators;
using static Sensors360.Server.Http.HttpProblems;

namespace Sensors360.Server.Import;

/// <summary>
/// <c>POST /api/import/heartbeats</c>: an admin brings heartbeat history as NDJSON, one heartbeat a line.
/// The body is streamed (<see cref="NdjsonHeartbeatImport"/>); bad lines are rejected one by one with their
/// number, never the whole import.
/// </summary>
public static class ImportApi
{
    public const string NdjsonMediaType = "application/x-ndjson";

    public static IEndpointRouteBuilder MapImport(this IEndpointRouteBuilder app)
    {
        // Rewriting a fleet's history is an administrator's act; operators and viewers get 403.
        app.MapPost("/api/import/heartbeats", ImportAsync)
            .RequireAuthorization(OperatorPolicies.Admin);
        return app;
    }

    internal static async Task<Results<Ok<ImportResponse>, ProblemHttpResult>> ImportAsync(
        HttpContext http,
        HeartbeatImport store,
        IGrainFactory grains,
        [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock,
        AuditLog audit,
        ILogger<NdjsonHeartbeatImport> logger)
    {
        if (!MediaTypeHeaderValue.TryParse(http.Request.ContentType, out var media)
            || !media.MediaType.Equals(NdjsonMediaType, StringComparison.OrdinalIgnoreCase))
        {
            return Problem(415, "Unsupported media type", $"Send one heartbeat a line as Content-Type: {NdjsonMediaType}.");
        }

        // Gzip, as the retention archive writes it (docs/operations.md), is read as it arrives like the plain body.
        var encoding = http.Request.Headers.ContentEncoding.ToString();
        var gzip = encoding.Equals("gzip", StringComparison.OrdinalIgnoreCase);
        if (!gzip && encoding.Length > 0 && !encoding.Equals("identity", StringComparison.OrdinalIgnoreCase))
        {
            return Problem(415, "Unsupported content encoding", "Send the body as it is or compressed with Content-Encoding: gzip.");
        }

        // History has any size: the body is read a line at a time, so Kestrel's whole-body cap does not apply here.
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = null;
        }

        var import = new NdjsonHeartbeatImport(store, grains, clock, logger);
        var body = gzip
            ? PipeReader.Create(new GZipStream(http.Request.Body, CompressionMode.Decompress, leaveOpen: true))
            : http.Request.BodyReader;
        try
        {
            await import.RunAsync(body, http.RequestAborted);
        }
        catch (InvalidDataException)
        {
            return Problem(400, "Corrupt gzip body", $"""
                The gzip body could not be decompressed after {import.Imported} heartbeats were imported ({import.Duplicates} duplicates) up to line {import.CommittedThroughLine}; nothing after that line was stored. Sending the whole file again is safe: what is stored counts as duplicates.
                """);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            return Problem(503, "Import interrupted", $"""
                The database failed after {import.Imported} heartbeats were imported ({import.Duplicates} duplicates) up to line {import.CommittedThroughLine}; nothing after that line was stored. Sending the whole body again is safe: what is stored counts as duplicates.
                """);
        }
        finally
        {
            // Also after a failure or a client that went away: whatever committed is history the grains must see.
            await import.NotifySensorsAsync();

            // The import commits batch by batch: recorded once, after it, with what it stored (also when interrupted).
            await audit.WriteAfterChangeAsync(
                AuditEntry.For(http, AuditActions.ImportHeartbeats, null, new Dictionary<string, object?>
                {
                    ["imported"] = import.Imported, ["duplicates"] = import.Duplicates, ["rejected"] = import.Rejected,
                }),
                CancellationToken.None);
        }

        return TypedResults.Ok(import.Result());
    }
}

/// <summary>The answer to an import: heartbeats stored, already stored, refused (the first <see cref="NdjsonHeartbeatImport.MaxErrors"/> of them listed).</summary>
public sealed record ImportResponse(long Imported, long Duplicates, long Rejected, IReadOnlyList<ImportError> Errors);

/// <summary>A refused line: its number (from 1) and why.</summary>
public sealed record ImportError(long Line, string Error);
