using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Sensors;

/// <summary>
/// <c>POST /api/sensors/bulk</c> against the real server: all or none, each sensor as the single route makes it,
/// its token working for heartbeats, one audit entry, the fleet counts, and the limits.
/// </summary>
public sealed class BulkProvisionApiTests(RunningServer running) : IClassFixture<RunningServer>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private HttpClient Admin => running.Operator;

    [Fact]
    public async Task Bulk_provisioning_creates_every_sensor_pending_with_a_working_token()
    {
        // The aggregate lags the table by a count period; an earlier test's 10,000 sensors may not be counted yet, and a
        // baseline read before them would never be matched. Start from a settled aggregate (the table is the truth).
        var totalBefore = await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM sensor");
        await Eventually.TrueAsync(async () => await FleetTotalAsync() == totalBefore, Patience, "the fleet aggregate settles on the table's count");
        using var response = await BulkAsync(new
        {
            sensors = new object[]
            {
                new { id = "bulk-a-1", tags = new[] { "plant-b", "line-2" }, silenceThresholdSeconds = 600 },
                new { id = "bulk-a-2" },
                new { id = "bulk-a-3", tags = new[] { "plant-b" } },
            },
        });
        var body = await response.Content.ReadAsStringAsync(Cancel);
        Assert.True(response.StatusCode == HttpStatusCode.Created, body);
        var created = JsonDocument.Parse(body).RootElement.GetProperty("sensors");

        Assert.Equal(["bulk-a-1", "bulk-a-2", "bulk-a-3"], created.EnumerateArray().Select(sensor => sensor.GetProperty("id").GetString()));
        var first = created[0];
        Assert.Equal(["plant-b", "line-2"], first.GetProperty("tags").EnumerateArray().Select(tag => tag.GetString()));
        Assert.Equal(600, first.GetProperty("silenceThresholdSeconds").GetInt32());
        Assert.Equal(2, created[1].GetProperty("silenceThresholdSeconds").GetInt32()); // the fixture's default
        var tokens = created.EnumerateArray().Select(sensor => sensor.GetProperty("token").GetString()!).ToArray();
        Assert.Equal(3, tokens.Distinct(StringComparer.Ordinal).Count());

        foreach (var sensor in created.EnumerateArray())
        {
            var id = sensor.GetProperty("id").GetString()!;
            Assert.Equal("pending", sensor.GetProperty("status").GetString());
            var read = await Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/sensors/{id}", UriKind.Relative), Cancel);
            Assert.Equal("pending", read.GetProperty("status").GetString());
            Assert.Equal(sensor.GetProperty("createdAt").GetDateTimeOffset(), read.GetProperty("createdAt").GetDateTimeOffset());
            Assert.False(read.TryGetProperty("token", out _));
        }

        // Only the hashes are stored, and each token opens only its own sensor.
        Assert.Equal(0, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM sensor WHERE token_hash LIKE '%' || $1 || '%'", tokens[0]));
        using (var wrong = await HeartbeatAsync(running.Server.Http, "bulk-a-1", tokens[1]))
        {
            await AssertProblemAsync(wrong, 401);
        }

        for (var index = 0; index < tokens.Length; index++)
        {
            await StoredHeartbeatAsync(running.Server.Http, $"bulk-a-{index + 1}", tokens[index]);
        }

        var online = await Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/sensors/bulk-a-1", UriKind.Relative), Cancel);
        Assert.Equal("online", online.GetProperty("status").GetString());

        // One audit entry for the request, naming the count and the ids.
        var audit = await Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/audit?action=sensor.bulk_provisioned", UriKind.Relative), Cancel);
        var entry = Assert.Single(audit.GetProperty("items").EnumerateArray(),
            item => item.GetProperty("details").GetProperty("ids").EnumerateArray().Any(id => id.GetString()!.StartsWith("bulk-a-", StringComparison.Ordinal)));
        Assert.Equal(3, entry.GetProperty("details").GetProperty("count").GetInt32());
        Assert.Equal(["bulk-a-1", "bulk-a-2", "bulk-a-3"], entry.GetProperty("details").GetProperty("ids").EnumerateArray().Select(id => id.GetString()));

        await Eventually.TrueAsync(async () => await FleetTotalAsync() == totalBefore + 3, Patience, "the fleet aggregate counts the new sensors");
    }

    [Fact]
    public async Task One_bad_sensor_refuses_the_request_naming_its_index_and_field_and_creates_nothing()
    {
        using (var badTag = await BulkAsync(new
        {
            sensors = new object[] { new { id = "bulk-b-1" }, new { id = "bulk-b-2" }, new { id = "bulk-b-3", tags = new[] { "bad tag" } } },
        }))
        {
            var problem = await ProblemOfAsync(badTag, 400);
            Assert.Equal(2, problem.GetProperty("index").GetInt32());
            Assert.Equal("tags", problem.GetProperty("field").GetString());
            Assert.Contains("sensors[2]", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        using (var badId = await BulkAsync(new { sensors = new object[] { new { id = "bulk-b-1" }, new { id = "has space" } } }))
        {
            var problem = await ProblemOfAsync(badId, 400);
            Assert.Equal(1, problem.GetProperty("index").GetInt32());
            Assert.Equal("id", problem.GetProperty("field").GetString());
        }

        using (var badType = await BulkRawAsync("""{"sensors":[{"id":"bulk-b-1"},{"id":"bulk-b-2","silenceThresholdSeconds":"ten"}]}"""))
        {
            var problem = await ProblemOfAsync(badType, 400);
            Assert.Contains("sensors[1].silenceThresholdSeconds", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        foreach (var body in new[] { """{"sensors":[]}""", """{}""", """[]""", """{"sensors":[null]}""", """{"sensors":[{"id":"bulk-b-1"}""" })
        {
            using var refused = await BulkRawAsync(body);
            await AssertProblemAsync(refused, 400);
        }

        Assert.Equal(0, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM sensor WHERE name LIKE 'bulk-b-%'"));
    }

    [Fact]
    public async Task Duplicates_in_the_request_or_with_existing_sensors_get_409_naming_them_and_create_nothing()
    {
        using (var repeated = await BulkAsync(new { sensors = new object[] { new { id = "bulk-c-1" }, new { id = "bulk-c-2" }, new { id = "bulk-c-1" } } }))
        {
            var problem = await ProblemOfAsync(repeated, 409);
            Assert.Equal(["bulk-c-1"], problem.GetProperty("ids").EnumerateArray().Select(id => id.GetString()));
        }

        await ProvisionAsync(Admin, "bulk-c-3");
        await ProvisionAsync(Admin, "bulk-c-5");
        using (var existing = await BulkAsync(new { sensors = new object[] { new { id = "bulk-c-3" }, new { id = "bulk-c-4" }, new { id = "bulk-c-5" } } }))
        {
            var problem = await ProblemOfAsync(existing, 409);
            Assert.Equal(["bulk-c-3", "bulk-c-5"], problem.GetProperty("ids").EnumerateArray().Select(id => id.GetString()));
        }

        Assert.Equal(2, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM sensor WHERE name LIKE 'bulk-c-%'"));
        Assert.Equal(0, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM audit_event WHERE action = 'sensor.bulk_provisioned' AND details::text LIKE '%bulk-c-%'"));
    }

    [Fact]
    public async Task Up_to_10000_sensors_a_request_and_16_MiB_a_body()
    {
        using (var full = await BulkAsync(new { sensors = Enumerable.Range(0, 10_000).Select(index => new { id = $"bulk-d-{index}" }) }))
        {
            var body = await full.Content.ReadAsStringAsync(Cancel);
            Assert.True(full.StatusCode == HttpStatusCode.Created, body[..Math.Min(body.Length, 500)]);
            Assert.Equal(10_000, JsonDocument.Parse(body).RootElement.GetProperty("sensors").GetArrayLength());
        }

        Assert.Equal(10_000, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM sensor WHERE name LIKE 'bulk-d-%'"));

        using (var tooMany = await BulkAsync(new { sensors = Enumerable.Range(0, 10_001).Select(index => new { id = $"bulk-e-{index}" }) }))
        {
            await AssertProblemAsync(tooMany, 413);
        }

        // Valid JSON padded past the limit: refused by its length, before it is read. Sent with Expect: 100-continue,
        // as a client should send a large body, so the refusal comes before the upload (no reset mid-send).
        var padded = """{"sensors":[{"id":"bulk-e-x"}]""" + new string(' ', 16 * 1024 * 1024) + "}";
        using (var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/sensors/bulk", UriKind.Relative)))
        {
            request.Content = new StringContent(padded, Encoding.UTF8, "application/json");
            request.Headers.ExpectContinue = true;
            using var tooLarge = await Admin.SendAsync(request, Cancel);
            await AssertProblemAsync(tooLarge, 413);
        }

        Assert.Equal(0, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM sensor WHERE name LIKE 'bulk-e-%'"));
    }

    [Fact]
    public async Task Only_admins_may_provision_in_bulk()
    {
        using var anonymous = new HttpClient { BaseAddress = running.Server.BaseAddress };
        using var refused = await anonymous.PostAsJsonAsync(new Uri("/api/sensors/bulk", UriKind.Relative), new { sensors = new[] { new { id = "bulk-f-1" } } }, Cancel);
        await AssertProblemAsync(refused, 401);

        // Viewers and operators get 403: OperatorRolesTests holds every route to its least role.
        using var notJson = new StringContent("""{"sensors":[{"id":"bulk-f-1"}]}""", Encoding.UTF8, "text/plain");
        using var wrongType = await Admin.PostAsync(new Uri("/api/sensors/bulk", UriKind.Relative), notJson, Cancel);
        await AssertProblemAsync(wrongType, 415);
    }

    private async Task<long> FleetTotalAsync() =>
        (await Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/fleet", UriKind.Relative), Cancel)).GetProperty("sensors").GetProperty("total").GetInt64();

    private Task<HttpResponseMessage> BulkAsync(object body) =>
        Admin.PostAsJsonAsync(new Uri("/api/sensors/bulk", UriKind.Relative), body, Cancel);

    private async Task<HttpResponseMessage> BulkRawAsync(string body)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        return await Admin.PostAsync(new Uri("/api/sensors/bulk", UriKind.Relative), content, Cancel);
    }

    private static async Task<JsonElement> ProblemOfAsync(HttpResponseMessage response, int status)
    {
        await AssertProblemAsync(response, status);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel)).RootElement.Clone();
    }
}
