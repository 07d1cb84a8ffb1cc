using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Sensors360.Server.Health;

namespace Sensors360.Server.Http;

/// <summary>
/// What SIGTERM (or Ctrl+C) does, in order, before the host stops its services (docs/operations.md#restarts-and-drains):
/// <list type="number">
/// <item><c>/readyz</c> answers 503 at once, so the load balancer takes this silo out;</item>
/// <item>everything is still served for <see cref="HttpEdgeOptions.DrainDelay"/>, while the balancer notices;</item>
/// <item>dashboard sockets are closed with 1001 and Kestrel stops accepting, then waits for the requests under way:
/// each heartbeat among them is answered once its batch has committed (204) or failed (503);</item>
/// <item>the steps registered with <see cref="BeforeLeaving"/> run (the dashboard feed ends its subscription);</item>
/// <item>the silo leaves the cluster gracefully: its grains deactivate and its reminders and directory share move to
/// the other silos, while the heartbeat writer (stopped only afterwards) still commits what their last calls bring.</item>
/// </list>
/// Runs as the host's stopping step, before any service's own stop: the host would otherwise stop services in
/// reverse order of registration, which stops the heartbeat writer before the silo whose grains use it.
/// </summary>
public sealed partial class ServerDrain(
    IOptions<HttpEdgeOptions> options, IServer server, IServiceProvider services, TimeProvider time, ILogger<ServerDrain> logger)
    : IHostedLifecycleService, IDisposable
{
    /// <summary>What the host allows the steps after the delay (requests under way, the silo's leaving) before it gives up.</summary>
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);

    private readonly CancellationTokenSource _closing = new();
    private readonly List<Func<CancellationToken, Task>> _beforeLeaving = [];
    private readonly Lock _gate = new();
    private volatile bool _draining;

    /// <summary>True from the moment the server was asked to stop.</summary>
    public bool IsDraining => _draining;

    /// <summary>Cancelled when the drain delay is over: long-lived requests (dashboard sockets) end then, so Kestrel need not wait for them.</summary>
    public CancellationToken Closing => _closing.Token;

    /// <summary>
    /// Adds a step to run once the requests have finished, before the silo leaves, while grains still answer (e.g.
    /// ending a subscription the other silos would go on calling).
    /// </summary>
    public void BeforeLeaving(Func<CancellationToken, Task> step)
    {
        lock (_gate)
        {
            _beforeLeaving.Add(step);
        }
    }

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        _draining = true;
        var delay = options.Value.DrainDelay;
        LogDraining(logger, delay.TotalSeconds);
        try
        {
            await Task.Delay(delay, time, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // The host's shutdown timeout ran out first: go on, the steps below end quickly with a cancelled token.
        }

        LogClosing(logger);
        await _closing.CancelAsync();
        // Kestrel stops at most once; the host's own stop of it later returns at once.
        await server.StopAsync(cancellationToken);

        Func<CancellationToken, Task>[] steps;
        lock (_gate)
        {
            steps = [.. _beforeLeaving];
        }

        foreach (var step in steps)
        {
            try
            {
                await step(cancellationToken);
            }
            catch (Exception e) when (e is OrleansException or TimeoutException or OperationCanceledException)
            {
                LogStepFailed(logger, e.Message.ReplaceLineEndings(" "));
            }
        }

        LogLeaving(logger);
        try
        {
            // The silo stops at most once too: Orleans' own stop of it later waits for this one.
            await services.GetRequiredService<Silo>().StopAsync(cancellationToken);
        }
        catch (InvalidOperationException)
        {
            // The silo never became active (stopped during start-up): there is nothing to leave.
        }

        LogLeft(logger);
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _closing.Dispose();

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping: /readyz answers 503 now; serving on for the drain delay of {Seconds} s")]
    private static partial void LogDraining(ILogger logger, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Drain delay over: closing dashboard sockets (1001), no new connections, finishing the requests under way")]
    private static partial void LogClosing(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Requests finished: the silo leaves the cluster (grains deactivate, reminders move)")]
    private static partial void LogLeaving(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "The silo has left the cluster")]
    private static partial void LogLeft(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A step before leaving the cluster failed (the silo leaves anyway): {Reason}")]
    private static partial void LogStepFailed(ILogger logger, string reason);
}

/// <summary>Unhealthy while draining, so <c>/readyz</c> answers 503 from the first moment of a stop.</summary>
internal sealed class DrainCheck(ServerDrain drain) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(drain.IsDraining
            ? HealthCheckResult.Unhealthy("the server is stopping (draining)")
            : HealthCheckResult.Healthy("not stopping"));
}

public static class ServerDrainHosting
{
    /// <summary>The drain on SIGTERM, its readiness check, and a host shutdown timeout that leaves room for it.</summary>
    public static WebApplicationBuilder AddServerDrain(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ServerDrain>();
        builder.Services.AddHostedService(provider => provider.GetRequiredService<ServerDrain>());
        builder.Services.AddHealthChecks().AddCheck<DrainCheck>("drain", tags: [HealthEndpoints.ReadyTag]);
        var section = builder.Configuration.GetSection(HttpEdgeOptions.Section);
        builder.Services.AddOptions<HostOptions>().Configure(host =>
        {
            host.ShutdownTimeout = DrainDelayOf(section) + ServerDrain.StopTimeout;
        });
        return builder;
    }

    // Read without validation: an invalid delay stops the server in CheckSettings with one line, before any stop.
    private static TimeSpan DrainDelayOf(IConfiguration section)
    {
        try
        {
            var delay = section.Get<HttpEdgeOptions>()?.DrainDelay ?? new HttpEdgeOptions().DrainDelay;
            return delay >= TimeSpan.Zero && delay <= HttpEdgeOptions.MaxDrainDelay ? delay : new HttpEdgeOptions().DrainDelay;
        }
        catch (InvalidOperationException)
        {
            return new HttpEdgeOptions().DrainDelay;
        }
    }
}
