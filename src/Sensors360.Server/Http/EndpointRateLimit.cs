using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Sensors360.Server.Http;

/// <summary>
/// At most <paramref name="PermitLimit"/> requests per <paramref name="Window"/> (fixed) for each partition
/// <paramref name="PartitionOf"/> names (a client address, an operator); more get 429 with <c>Retry-After</c>.
/// <paramref name="Name"/> names it; each limit (the record) has partitions of its own.
/// </summary>
public sealed record EndpointRateLimit(string Name, int PermitLimit, TimeSpan Window, Func<HttpContext, string> PartitionOf);

/// <summary>
/// The partitions of every <see cref="EndpointRateLimit"/>, one per server, wrapped by <see cref="IdlePartitionSweep"/>.
/// Applied as an endpoint filter (<see cref="EndpointRateLimitFilter.RequireRateLimit"/>) rather than through ASP.NET
/// Core's rate-limiting middleware: the middleware makes its policies' partitioned limiter itself, out of the wrapper's
/// reach, and a global limiter would take a lookup and a lease for every request that reaches it.
/// </summary>
public sealed class EndpointRateLimiters : IDisposable
{
    private readonly PartitionedRateLimiter<(EndpointRateLimit Limit, string Partition)> _partitions;

    public EndpointRateLimiters()
        : this(PartitionedRateLimiter.Create<(EndpointRateLimit Limit, string Partition), (EndpointRateLimit Limit, string Partition)>(static key =>
            RateLimitPartition.GetFixedWindowLimiter(key, static key =>
                new FixedWindowRateLimiterOptions { PermitLimit = key.Limit.PermitLimit, Window = key.Limit.Window, QueueLimit = 0 })))
    {
    }

    /// <summary>Over <paramref name="partitions"/> (tests give a limiter whose partition is swept under a request).</summary>
    internal EndpointRateLimiters(PartitionedRateLimiter<(EndpointRateLimit Limit, string Partition)> partitions) =>
        _partitions = IdlePartitionSweep.Tolerate(partitions);

    /// <summary>A permit of <paramref name="limit"/> for the request's partition, or a lease that is not acquired.</summary>
    public RateLimitLease Acquire(EndpointRateLimit limit, HttpContext http) => _partitions.AttemptAcquire((limit, limit.PartitionOf(http)));

    public void Dispose() => _partitions.Dispose();
}

public static class EndpointRateLimitFilter
{
    /// <summary>The partitions of every endpoint's own limit: one set per server, disposed with it.</summary>
    public static WebApplicationBuilder AddEndpointRateLimits(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<EndpointRateLimiters>();
        return builder;
    }

    /// <summary>Limits the endpoint's requests by <paramref name="limit"/>; the filter runs after authorization.</summary>
    public static TBuilder RequireRateLimit<TBuilder>(this TBuilder builder, EndpointRateLimit limit)
        where TBuilder : IEndpointConventionBuilder => builder.AddEndpointFilterFactory((factory, next) =>
    {
        var limiters = factory.ApplicationServices.GetRequiredService<EndpointRateLimiters>();
        return async invocation =>
        {
            // A body that did not bind (empty, or JSON null) has its 400 set already and the handler will not run:
            // filters still do, and it must not spend a permit. Passing is safe: the framework runs no handler at 400+.
            if (invocation.HttpContext.Response.StatusCode >= StatusCodes.Status400BadRequest)
            {
                return await next(invocation);
            }

            using (var lease = limiters.Acquire(limit, invocation.HttpContext))
            {
                if (!lease.IsAcquired)
                {
                    return Refuse(invocation.HttpContext.Response, lease);
                }
            }

            return await next(invocation);
        };
    });

    // The limit is per address for logins and per operator for password changes, so the detail names neither.
    private static ProblemHttpResult Refuse(HttpResponse response, RateLimitLease lease)
    {
        var detail = "Too many requests; try again later.";
        if (lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter))
        {
            var seconds = HttpProblems.SetRetryAfter(response, retryAfter);
            detail = $"Too many requests; try again in {seconds} s.";
        }

        return HttpProblems.Problem(StatusCodes.Status429TooManyRequests, "Too many requests", detail);
    }
}
