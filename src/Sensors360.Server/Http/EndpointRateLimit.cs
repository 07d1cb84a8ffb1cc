using System.Globalization;
using System.Threading.RateLimiting;

namespace Sensors360.Server.Http;

/// <summary>
/// Endpoint metadata: at most <paramref name="PermitLimit"/> requests per <paramref name="Window"/> (fixed) for each
/// partition <paramref name="PartitionOf"/> names (a client address, an operator); more get 429 with
/// <c>Retry-After</c>. <paramref name="Name"/> names it; each limit (the record) has partitions of its own.
/// </summary>
public sealed record EndpointRateLimit(string Name, int PermitLimit, TimeSpan Window, Func<HttpContext, string> PartitionOf);

/// <summary>
/// ASP.NET Core's rate-limiting middleware with one global limiter that applies each endpoint's
/// <see cref="EndpointRateLimit"/>, instead of named policies: the middleware makes the policies' partitioned
/// limiter itself, where <see cref="IdlePartitionSweep"/> cannot reach it, and that limiter has the same race with
/// its sweep of idle partitions (a rare 500).
/// </summary>
public static class EndpointRateLimits
{
    public static IServiceCollection AddEndpointRateLimits(this IServiceCollection services) => services.AddRateLimiter(options =>
    {
        options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
        options.GlobalLimiter = Create();
        // The limit is per address for logins and per operator for password changes, so the detail names neither.
        options.OnRejected = (context, _) =>
        {
            var detail = "Too many requests; try again later.";
            if (context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter))
            {
                var seconds = (int)Math.Ceiling(retryAfter.TotalSeconds);
                context.HttpContext.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
                detail = $"Too many requests; try again in {seconds} s.";
            }

            return new ValueTask(HttpProblems.Problem(StatusCodes.Status429TooManyRequests, "Too many requests", detail).ExecuteAsync(context.HttpContext));
        };
    });

    /// <summary>Limits the endpoint's requests by <paramref name="limit"/>.</summary>
    public static TBuilder RequireRateLimit<TBuilder>(this TBuilder builder, EndpointRateLimit limit)
        where TBuilder : IEndpointConventionBuilder => builder.WithMetadata(limit);

    /// <summary>The global limiter: each limited endpoint's partitions apart, every other request through one no-op partition.</summary>
    internal static PartitionedRateLimiter<HttpContext> Create() =>
        IdlePartitionSweep.Tolerate(PartitionedRateLimiter.Create<HttpContext, (EndpointRateLimit? Limit, string Partition)>(http =>
            http.GetEndpoint()?.Metadata.GetMetadata<EndpointRateLimit>() is { } limit
                ? RateLimitPartition.GetFixedWindowLimiter<(EndpointRateLimit?, string)>((limit, limit.PartitionOf(http)), _ =>
                    new FixedWindowRateLimiterOptions { PermitLimit = limit.PermitLimit, Window = limit.Window, QueueLimit = 0 })
                : RateLimitPartition.GetNoLimiter<(EndpointRateLimit?, string)>((null, string.Empty))));
}
