using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Sensors360.Bench.Tests;

/// <summary>
/// The benchmark's wrk script against a target that records every request it gets: each carries its sensor's token and
/// a <c>Host</c> header, every sensor is sent, and with at least as many sensors as threads each thread sends its own
/// share (lines k, k + n, ...) and no other, so no sensor gets two heartbeats at once from two threads. wrk does not say
/// which thread owns a connection, so a thread is told by its share: one connection must never send from two shares.
/// </summary>
public sealed class WrkDriverTests
{
    /// <summary>Debian's wrk, which build.ps1 installs for the tests and the benchmark.</summary>
    private const string Wrk = "/usr/bin/wrk";

    private const int Threads = 2;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(2_001)]
    public async Task Each_thread_sends_only_its_own_share_and_every_sensor_is_sent(int sensorCount)
    {
        var (requests, numbers, host) = await RunAsync(sensorCount, connections: 4);

        AssertEachCarriesItsTokenAndHost(requests, host);
        Assert.Equal(Enumerable.Range(1, sensorCount), requests.Select(request => request.Sensor).Distinct().Order());
        var sharesByConnection = requests.GroupBy(request => request.Connection)
            .ToDictionary(connection => connection.Key, connection => connection.Select(request => ShareOf(request.Sensor)).Distinct().ToArray());
        Assert.All(sharesByConnection, connection => Assert.Single(connection.Value));
        Assert.Equal(Enumerable.Range(0, Threads), sharesByConnection.Values.Select(shares => shares[0]).Distinct().Order());
        Assert.Equal(0, numbers.Errors);
        // wrk counts the answers it read before its clock stopped; the target may have answered a few more.
        Assert.InRange(numbers.Succeeded, 1, requests.Count);
    }

    [Fact]
    public async Task With_fewer_sensors_than_threads_every_connection_sends_them()
    {
        var (requests, numbers, host) = await RunAsync(sensorCount: 1, connections: 4);

        AssertEachCarriesItsTokenAndHost(requests, host);
        Assert.All(requests, request => Assert.Equal(1, request.Sensor));
        Assert.Equal(4, requests.Select(request => request.Connection).Distinct().Count());
        Assert.Equal(0, numbers.Errors);
    }

    // Long enough for every thread to send its whole share on a loaded CI (2,001 tokens: about 1,000 a thread).
    private static TimeSpan Duration(int sensorCount) => TimeSpan.FromSeconds(sensorCount > 100 ? 5 : 1);

    private static int ShareOf(int sensor) => (sensor - 1) % Threads;

    private static void AssertEachCarriesItsTokenAndHost(IReadOnlyList<Received> requests, string host) =>
        Assert.All(requests, request =>
        {
            Assert.Equal("POST", request.Method);
            Assert.Equal($"Bearer token-{request.Sensor}", request.Authorization);
            Assert.Equal(host, request.Host);
            Assert.Equal(0, request.ContentLength);
        });

    private static async Task<(IReadOnlyList<Received> Requests, LoadNumbers Numbers, string Host)> RunAsync(int sensorCount, int connections)
    {
        Assert.True(File.Exists(Wrk), $"wrk is not at {Wrk}: install Debian's wrk (build.ps1 test does).");
        var received = new ConcurrentQueue<Received>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        await using var target = builder.Build();
        target.Run(context =>
        {
            var sensor = (context.Request.Path.Value ?? "").Split('/')[3];
            received.Enqueue(new Received(
                context.Connection.Id, context.Request.Method, int.Parse(sensor, CultureInfo.InvariantCulture),
                context.Request.Headers.Authorization.ToString(), context.Request.Headers.Host.ToString(), context.Request.ContentLength));
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return Task.CompletedTask;
        });
        await target.StartAsync(Cancel);
        var address = new Uri(target.Urls.Single());

        var work = Directory.CreateTempSubdirectory("sensors360-wrk-test-");
        try
        {
            var sensors = Enumerable.Range(1, sensorCount)
                .Select(n => new LoadSensor(n.ToString(CultureInfo.InvariantCulture), $"token-{n}")).ToList();
            var numbers = await new WrkDriver(Wrk, work.FullName, Threads, connections)
                .RunAsync(address, "/api/sensors/{id}/heartbeat", withToken: true, sensors, Duration(sensorCount), Cancel);
            await target.StopAsync(Cancel);
            return ([.. received], numbers, address.Authority);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private sealed record Received(string Connection, string Method, int Sensor, string Authorization, string Host, long? ContentLength);
}
