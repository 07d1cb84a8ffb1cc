using System.Buffers.Text;
using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Sensors360.Abstractions.Sensors;
using Sensors360.Grains.Sensors;
using Sensors360.Server.Audit;
using Sensors360.Server.Http;
using Sensors360.Server.Operators;
using static Sensors360.Server.Http.HttpProblems;

namespace Sensors360.Server.Sensors;

/// <summary>Sensor management for operators: provision, list, read, retire, rotate tokens.</summary>
public static class SensorsApi
{
    public const int MaxTags = 16;
    public const int MaxSilenceThresholdSeconds = 30 * 24 * 3600;

    public static IEndpointRouteBuilder MapSensors(this IEndpointRouteBuilder app)
    {
        var sensors = app.MapGroup("/api/sensors");
        sensors.MapPost("", ProvisionAsync).RequireAuthorization(OperatorPolicies.Operator);
        sensors.MapPost("/bulk", BulkProvisionApi.ProvisionManyAsync).RequireAuthorization(OperatorPolicies.Admin);
        sensors.MapGet("", ListAsync).RequireAuthorization(OperatorPolicies.Viewer);
        sensors.MapGet("/{id}", GetAsync).RequireAuthorization(OperatorPolicies.Viewer);
        sensors.MapPost("/{id}/retire", RetireAsync).RequireAuthorization(OperatorPolicies.Operator);
        sensors.MapPost("/{id}/token", RotateTokenAsync).RequireAuthorization(OperatorPolicies.Operator);
        return app;
    }

    internal static async Task<Results<Created<ProvisionedSensorResponse>, ProblemHttpResult>> ProvisionAsync(
        ProvisionRequest request,
        HttpContext http,
        IGrainFactory grains,
        AuditLog audit,
        IOptions<MonitoringOptions> monitoring,
        [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock,
        CancellationToken cancellationToken)
    {
        if (Invalid(request) is { } invalid)
        {
            return Problem(400, invalid.Title, invalid.Detail);
        }

        var tags = request.Tags ?? [];
        var token = SensorTokens.NewToken();
        var result = await grains.GetGrain<ISensorGrain>(request.Id!).Provision(new SensorRegistration(tags, request.SilenceThresholdSeconds, SensorTokens.Hash(token)));
        switch (result)
        {
            case ProvisionResult.AlreadyExists:
                return Problem(409, "Sensor exists", $"A sensor with id '{request.Id}' already exists.");
            case ProvisionResult.Unavailable:
                return ChangeUnavailable();
        }

        // The grain wrote the sensor: recorded right after, as for every change a grain makes.
        await audit.WriteAfterChangeAsync(
            AuditEntry.For(http, AuditActions.SensorProvisioned, request.Id, new Dictionary<string, object?> { ["tags"] = tags }), cancellationToken);

        // The sensor exists now, and this answer is the only time its token is ever shown: a failed read here
        // would lose the token for good (a retry gets 409). So the sensor is described by its grain, which holds
        // the row it just inserted, and if even that fails, by what was registered.
        var sensor = await DescribeProvisionedAsync(grains.GetGrain<ISensorGrain>(request.Id!))
            ?? new SensorSnapshot(request.Id!, tags, SensorStatus.Pending, clock.GetUtcNow(), null, null, 0,
                request.SilenceThresholdSeconds ?? (int)monitoring.Value.SilenceThreshold.TotalSeconds, null);
        return TypedResults.Created($"/api/sensors/{Uri.EscapeDataString(sensor.Id)}", new ProvisionedSensorResponse(SensorResponse.From(sensor), token));
    }

    /// <summary>What is wrong with a sensor to provision (the field, a title, what to fix), or null; one rule for the single and the bulk route.</summary>
    internal static (string Field, string Title, string Detail)? Invalid(ProvisionRequest request)
    {
        if (!SensorIds.IsValid(request.Id))
        {
            return ("id", "Invalid sensor id", $"id must be {SensorIds.Rule}");
        }

        var tags = request.Tags ?? [];
        if (tags.Length > MaxTags || !tags.All(SensorIds.IsValid) || tags.Distinct(StringComparer.Ordinal).Count() != tags.Length)
        {
            return ("tags", "Invalid tags", $"tags must be at most {MaxTags} distinct values of {SensorIds.Rule}");
        }

        if (request.SilenceThresholdSeconds is < 1 or > MaxSilenceThresholdSeconds)
        {
            return ("silenceThresholdSeconds", "Invalid silence threshold",
                $"silenceThresholdSeconds must be between 1 and {MaxSilenceThresholdSeconds}, or absent for the default");
        }

        return null;
    }

    private static async Task<SensorSnapshot?> DescribeProvisionedAsync(ISensorGrain grain)
    {
        try
        {
            return await grain.Describe();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Only when the grain lost its silo in between and could not reload the sensor: nothing to undo.
            return null;
        }
    }

    internal static async Task<Results<Ok<SensorPageResponse>, ProblemHttpResult>> ListAsync(
        SensorDirectory directory, CancellationToken cancellationToken, string? status = null, string? tag = null, string? limit = null, string? cursor = null)
    {
        SensorStatus? wanted = null;
        if (!string.IsNullOrEmpty(status))
        {
            if (!Enum.TryParse<SensorStatus>(status, ignoreCase: true, out var parsed) || !status.All(char.IsAsciiLetterLower))
            {
                return Problem(400, "Invalid status", "status must be one of pending, online, silent, retired, paused");
            }

            wanted = parsed;
        }

        if (!Paging.TryParseLimit(limit, out var pageSize, out var invalidLimit))
        {
            return invalidLimit!;
        }

        string? after = null;
        if (!string.IsNullOrEmpty(cursor) && !TryDecodeCursor(cursor, out after))
        {
            return Problem(400, "Invalid cursor", "cursor must be a nextCursor value returned by this endpoint");
        }

        if (!string.IsNullOrEmpty(tag) && !SensorIds.IsValid(tag))
        {
            return Problem(400, "Invalid tag", $"tag must be {SensorIds.Rule}");
        }

        var page = await directory.ListAsync(wanted, string.IsNullOrEmpty(tag) ? null : tag, after, pageSize + 1, cancellationToken);
        var items = page.Take(pageSize).Select(SensorResponse.From).ToList();
        var next = page.Count > pageSize ? EncodeCursor(items[^1].Id) : null;
        return TypedResults.Ok(new SensorPageResponse(items, next));
    }

    internal static async Task<Results<Ok<SensorResponse>, ProblemHttpResult>> GetAsync(
        string id, SensorDirectory directory, CancellationToken cancellationToken)
    {
        if (!SensorIds.IsValid(id))
        {
            return Problem(400, "Invalid sensor id", $"id must be {SensorIds.Rule}");
        }

        return await directory.GetAsync(id, cancellationToken) is { } sensor
            ? TypedResults.Ok(SensorResponse.From(sensor))
            : NotFound(id);
    }

    /// <summary>The body is optional: without one the sensor failed, now.</summary>
    internal static async Task<Results<Ok<SensorResponse>, ProblemHttpResult>> RetireAsync(
        string id, RetireRequest? request, HttpContext http, IGrainFactory grains, SensorDirectory directory, AuditLog audit,
        [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock, CancellationToken cancellationToken)
    {
        if (!SensorIds.IsValid(id))
        {
            return NotFound(id);
        }

        var reason = RetirementReason.Failed;
        if (request?.Reason is { } named && (!Enum.TryParse(named, ignoreCase: true, out reason) || !named.All(char.IsAsciiLetterLower)))
        {
            return Problem(400, "Invalid reason", "reason must be failed or decommissioned");
        }

        DateTimeOffset? at = null;
        if (request?.At is { } text)
        {
            if (!Instants.TryParse(text, out var parsed))
            {
                return Problem(400, "Invalid time", $"at must be {Instants.Rule}");
            }

            if (Instants.IsInFuture(parsed, clock.GetUtcNow()))
            {
                return Problem(400, "Time in the future", "at may not be in the future.");
            }

            at = parsed;
        }

        var result = await grains.GetGrain<ISensorGrain>(id).Retire(new SensorRetirement(reason, at));
        if (result == SensorCommandResult.Done)
        {
            var details = new Dictionary<string, object?> { ["reason"] = reason.ToString().ToLowerInvariant(), ["at"] = at };
            await audit.WriteAfterChangeAsync(AuditEntry.For(http, AuditActions.SensorRetired, id, details), cancellationToken);
        }

        return result switch
        {
            SensorCommandResult.NotFound => NotFound(id),
            SensorCommandResult.Unavailable => ChangeUnavailable(),
            SensorCommandResult.BeforeLastHeartbeat => Problem(400, "Time before the last heartbeat", "at may not be before the sensor's last heartbeat."),
            _ => TypedResults.Ok(SensorResponse.From((await directory.GetAsync(id, cancellationToken))!)),
        };
    }

    internal static async Task<Results<Ok<SensorTokenResponse>, ProblemHttpResult>> RotateTokenAsync(
        string id, HttpContext http, IGrainFactory grains, AuditLog audit, CancellationToken cancellationToken)
    {
        if (!SensorIds.IsValid(id))
        {
            return NotFound(id);
        }

        var token = SensorTokens.NewToken();
        var result = await grains.GetGrain<ISensorGrain>(id).RotateToken(SensorTokens.Hash(token));
        if (result == SensorCommandResult.Done)
        {
            await audit.WriteAfterChangeAsync(AuditEntry.For(http, AuditActions.SensorTokenRotated, id), cancellationToken);
        }

        return result switch
        {
            SensorCommandResult.NotFound => NotFound(id),
            SensorCommandResult.Retired => Problem(409, "Sensor retired", $"Sensor '{id}' is retired; its token cannot be rotated."),
            SensorCommandResult.Unavailable => ChangeUnavailable(),
            _ => TypedResults.Ok(new SensorTokenResponse(id, token)),
        };
    }

    private static ProblemHttpResult NotFound(string id) => Problem(404, "Sensor not found", $"No sensor has id '{id}'.");

    private static string EncodeCursor(string lastId) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(lastId));

    private static bool TryDecodeCursor(string cursor, out string? lastId)
    {
        lastId = null;
        try
        {
            lastId = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(cursor));
        }
        catch (FormatException)
        {
            return false;
        }

        return SensorIds.IsValid(lastId);
    }
}
