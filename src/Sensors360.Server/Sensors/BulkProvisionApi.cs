using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Sensors360.Abstractions.Dashboard;
using Sensors360.Abstractions.Sensors;
using Sensors360.Grains.Sensors;
using Sensors360.Server.Audit;
using static Sensors360.Server.Http.HttpProblems;
using JsonOptions = Microsoft.AspNetCore.Http.Json.JsonOptions;

namespace Sensors360.Server.Sensors;

/// <summary>
/// <c>POST /api/sensors/bulk</c> (admin): many sensors in one request, all or none. Each is checked by the single
/// route's rule; they are written in one transaction with one binary COPY and no grain activation.
/// </summary>
public static class BulkProvisionApi
{
    /// <summary>At most this many sensors a request: one COPY of this size commits in well under a second.</summary>
    public const int MaxSensors = 10_000;

    /// <summary>Enough for <see cref="MaxSensors"/> sensors each with the longest id and the most, longest tags.</summary>
    public const long MaxBodyBytes = 16 * 1024 * 1024;

    // A conflict names at most this many ids, so the answer stays small whatever was sent.
    private const int MaxNamedIds = 100;

    internal static async Task<Results<Created<BulkProvisionResponse>, ProblemHttpResult>> ProvisionManyAsync(
        HttpContext http,
        SensorStore store,
        IGrainFactory grains,
        AuditLog audit,
        IOptions<JsonOptions> json,
        IOptions<MonitoringOptions> monitoring,
        [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock,
        CancellationToken cancellationToken)
    {
        var (request, refused) = await ReadAsync(http, json.Value.SerializerOptions, cancellationToken);
        if (refused is not null)
        {
            return refused;
        }

        var items = request!.Sensors!;
        for (var index = 0; index < items.Length; index++)
        {
            if (items[index] is not { } item)
            {
                return InvalidItem(index, "", "Invalid sensor", "each sensor must be an object like the body of POST /api/sensors");
            }

            if (SensorsApi.Invalid(item) is { } invalid)
            {
                return InvalidItem(index, invalid.Field, invalid.Title, invalid.Detail);
            }
        }

        var repeated = items.GroupBy(item => item!.Id!, StringComparer.Ordinal).Where(group => group.Count() > 1).Select(group => group.Key).ToList();
        if (repeated.Count > 0)
        {
            return Conflict("Duplicate sensor ids", "These ids appear more than once in the request; nothing was created.", repeated);
        }

        var tokens = new string[items.Length];
        var sensors = new NewSensor[items.Length];
        for (var index = 0; index < items.Length; index++)
        {
            var item = items[index]!;
            tokens[index] = SensorTokens.NewToken();
            sensors[index] = new NewSensor(item.Id!, item.Tags ?? [], item.SilenceThresholdSeconds, SensorTokens.Hash(tokens[index]));
        }

        // Stored at the database's precision, so the answer shows what a later read shows.
        var createdAt = HeartbeatTimes.ToStoredPrecision(clock.GetUtcNow());
        var entry = AuditEntry.For(http, AuditActions.SensorsBulkProvisioned, null, new Dictionary<string, object?>
        {
            ["count"] = sensors.Length,
            ["ids"] = sensors.Select(sensor => sensor.Name).ToArray(),
        });
        var taken = await store.InsertManyAsync(
            sensors, createdAt, (connection, transaction) => audit.WriteAsync(entry, connection, transaction, cancellationToken), cancellationToken);
        if (taken.Count > 0)
        {
            return Conflict("Sensors exist", "Sensors with these ids already exist; nothing was created.", taken);
        }

        // Pending counts change: the fleet aggregate reads them again (one call, not one per sensor).
        await grains.GetGrain<IDashboardGrain>(0).SensorChanged();

        var defaultThreshold = (int)monitoring.Value.SilenceThreshold.TotalSeconds;
        var created = new ProvisionedSensorResponse[sensors.Length];
        for (var index = 0; index < sensors.Length; index++)
        {
            var sensor = sensors[index];
            var snapshot = new SensorSnapshot(sensor.Name, sensor.Tags, SensorStatus.Pending, createdAt, null, null, 0,
                sensor.SilenceThresholdSeconds ?? defaultThreshold, null);
            created[index] = new ProvisionedSensorResponse(SensorResponse.From(snapshot), tokens[index]);
        }

        return TypedResults.Created((string?)null, new BulkProvisionResponse(created));
    }

    private static async Task<(BulkProvisionRequest? Request, ProblemHttpResult? Refused)> ReadAsync(
        HttpContext http, JsonSerializerOptions options, CancellationToken cancellationToken)
    {
        var request = http.Request;
        if (request.ContentLength > MaxBodyBytes)
        {
            return (null, TooLarge());
        }

        if (!HeartbeatsApi.IsJson(request.ContentType))
        {
            return (null, Problem(415, "Unsupported media type", "Send the sensors as JSON (Content-Type: application/json)."));
        }

        // Also caps a chunked body, which has no length to check up front: Kestrel stops reading past it.
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxBodyBytes;
        }

        BulkProvisionRequest? body;
        try
        {
            body = await JsonSerializer.DeserializeAsync<BulkProvisionRequest>(request.Body, options, cancellationToken);
        }
        catch (JsonException e)
        {
            return (null, Problem(400, "Invalid body", $"The body must be {{\"sensors\":[...]}}; at {e.Path ?? "$"}: {e.Message}"));
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, TooLarge());
        }

        if (body?.Sensors is not { } sensors)
        {
            return (null, Problem(400, "Invalid body", "The body must be {\"sensors\":[...]}, each sensor like the body of POST /api/sensors."));
        }

        return sensors.Length switch
        {
            0 => (null, Problem(400, "No sensors", "sensors must hold at least one sensor.")),
            > MaxSensors => (null, Problem(413, "Too many sensors", $"At most {MaxSensors} sensors a request; send the rest in further requests.")),
            _ => (body, null),
        };
    }

    private static ProblemHttpResult TooLarge() =>
        Problem(413, "Body too large", $"A bulk provisioning body may be at most {MaxBodyBytes} bytes.");

    private static ProblemHttpResult InvalidItem(int index, string field, string title, string detail) =>
        TypedResults.Problem(new ProblemDetails
        {
            Status = 400,
            Title = title,
            Detail = $"sensors[{index}]: {detail}; nothing was created.",
            Extensions = { ["index"] = index, ["field"] = field },
        });

    private static ProblemHttpResult Conflict(string title, string detail, IReadOnlyList<string> ids) =>
        TypedResults.Problem(new ProblemDetails
        {
            Status = 409,
            Title = title,
            Detail = $"{detail} {ids.Count} ids, the first ones listed in ids.",
            Extensions = { ["ids"] = ids.Take(MaxNamedIds).ToArray(), ["count"] = ids.Count },
        });
}

/// <summary>The body of <c>POST /api/sensors/bulk</c>: each sensor as the body of <c>POST /api/sensors</c>.</summary>
public sealed record BulkProvisionRequest(ProvisionRequest?[]? Sensors);

/// <summary>The sensors created, in the order sent, each with its token: the only time the tokens are ever shown.</summary>
public sealed record BulkProvisionResponse(IReadOnlyList<ProvisionedSensorResponse> Sensors);
