using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Npgsql;
using Sensors360.Server.Http;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Http;

/// <summary>
/// What a request that throws answers, on a host with the server's problem steps and endpoints that throw on purpose
/// (the real server has no way to make one throw an unexpected exception).
/// </summary>
public sealed class FailedRequestProblemsTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(null)]
    [InlineData("application/json")]
    [InlineData("text/html")]
    public async Task A_request_that_throws_answers_a_problem_body_whatever_its_caller_accepts(string? accept)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders().AddFakeLogging();
        builder.AddSensors360Problems();
        await using var app = builder.Build();
        // The problem steps alone: the heartbeat routes skip the later one that adds Retry-After to a 503 lacking it.
        app.UseSensors360Problems();
        app.UseRouting();
        app.MapGet("/fault", () => ThrowAsync(new InvalidOperationException("a bug")));
        app.MapGet("/outage", () => ThrowAsync(new NpgsqlException("the database did not answer")));
        app.MapGet("/broken-statement", () => ThrowAsync(new PostgresException("relation \"sensorz\" does not exist", "ERROR", "ERROR", PostgresErrorCodes.UndefinedTable)));
        app.MapGet("/too-large", () => ThrowAsync(new BadHttpRequestException("too large", StatusCodes.Status413PayloadTooLarge)));
        await app.StartAsync(Cancel);
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };

        using (var fault = await GetAsync(client, "/fault", accept))
        {
            await AssertProblemAsync(fault, 500);
            Assert.False(fault.Headers.Contains("Retry-After"), "a bug is not fixed by waiting");
        }

        // Waiting does not mend a statement the database rejects for its schema: a fault, not an outage.
        using (var broken = await GetAsync(client, "/broken-statement", accept))
        {
            await AssertProblemAsync(broken, 500);
            Assert.False(broken.Headers.Contains("Retry-After"));
        }

        using (var outage = await GetAsync(client, "/outage", accept))
        {
            await AssertProblemAsync(outage, 503);
            Assert.Equal("5", Assert.Single(outage.Headers.GetValues("Retry-After")));
        }

        using (var tooLarge = await GetAsync(client, "/too-large", accept))
        {
            await AssertProblemAsync(tooLarge, 413);
        }

        using (var unknown = await GetAsync(client, "/no-such-route", accept))
        {
            await AssertProblemAsync(unknown, 404);
        }

        // The faults are logged as errors with their exceptions; the outage as one warning line, without its stack; the
        // client's bad request not at all.
        var logs = app.Services.GetFakeLogCollector().GetSnapshot();
        Assert.Contains(logs, log => log.Level == LogLevel.Error && log.Exception is InvalidOperationException);
        Assert.Contains(logs, log => log.Level == LogLevel.Error && log.Exception is PostgresException);
        Assert.Contains(logs, log => log.Level == LogLevel.Warning && log.Message.Contains("/outage: database unavailable: the database did not answer", StringComparison.Ordinal));
        Assert.DoesNotContain(logs, log => log.Exception is NpgsqlException and not PostgresException);
        Assert.DoesNotContain(logs, log => log.Exception is BadHttpRequestException);
        await app.StopAsync(Cancel);
    }

    private static Task ThrowAsync(Exception exception) => Task.FromException(exception);

    private static async Task<HttpResponseMessage> GetAsync(HttpClient client, string path, string? accept)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative));
        if (accept is not null)
        {
            request.Headers.Add("Accept", accept);
        }

        return await client.SendAsync(request, Cancel);
    }
}
