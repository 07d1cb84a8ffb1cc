using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Sensors;

/// <summary>
/// The token of a new sensor is shown once, in the provision's answer: a failing read of the new sensor right
/// after it was stored must not lose it (a retry would only get 409).
/// </summary>
public sealed class ProvisionReadFailureTests(ThrowawayPostgres postgres)
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_provision_whose_sensor_cannot_be_read_back_still_answers_201_with_a_working_token()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(A_provision_whose_sensor_cannot_be_read_back_still_answers_201_with_a_working_token));
        await using var server = ServerProcess.Start(database, "provision-read");
        await server.WaitUntilReadyAsync();
        using var operatorClient = await server.LoginAsync();

        // Every read of a sensor named unreadable-* fails from now on; finding that no such sensor exists yet
        // (which a provision does first) reads no row and still works.
        await using (var connection = new Npgsql.NpgsqlConnection(database))
        {
            await connection.OpenAsync(Cancel);
            await using var poison = new Npgsql.NpgsqlCommand(
                """
                ALTER VIEW sensor_status_rebuilt RENAME TO sensor_status_rebuilt_unpoisoned;
                CREATE FUNCTION refuse_sensor_read(sensor text) RETURNS boolean LANGUAGE plpgsql VOLATILE
                    AS $$ BEGIN RAISE EXCEPTION 'the test refuses to read sensor %', sensor; END $$;
                CREATE VIEW sensor_status_rebuilt AS SELECT * FROM sensor_status_rebuilt_unpoisoned
                    WHERE CASE WHEN name LIKE 'unreadable-%' THEN refuse_sensor_read(name) ELSE true END;
                """, connection);
            await poison.ExecuteNonQueryAsync(Cancel);
        }

        using (var read = await operatorClient.GetAsync(new Uri("/api/sensors?limit=10", UriKind.Relative), Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, read.StatusCode); // Other sensors read as before.
        }

        using var provision = await operatorClient.PostAsJsonAsync(new Uri("/api/sensors", UriKind.Relative), new { id = "unreadable-1", tags = new[] { "roof" } }, Cancel);

        var text = await provision.Content.ReadAsStringAsync(Cancel);
        Assert.True(provision.StatusCode == HttpStatusCode.Created, $"{(int)provision.StatusCode} {text}");
        using var body = JsonDocument.Parse(text);
        Assert.Equal("unreadable-1", body.RootElement.GetProperty("id").GetString());
        Assert.Equal("pending", body.RootElement.GetProperty("status").GetString());
        Assert.Equal(["roof"], body.RootElement.GetProperty("tags").EnumerateArray().Select(tag => tag.GetString()));
        var token = body.RootElement.GetProperty("token").GetString()!;

        // The sensor exists and the token is the one stored: the sensor can report with it.
        using (var reread = await operatorClient.GetAsync(new Uri("/api/sensors/unreadable-1", UriKind.Relative), Cancel))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, reread.StatusCode); // The read really fails.
        }

        await StoredHeartbeatAsync(server.Http, "unreadable-1", token);
    }
}
