using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Sensors360.Server.Database;
using Sensors360.Server.Operators;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Operators;

/// <summary>Start-up of several silos at once, in process, with the server's own registrations.</summary>
public sealed class OperatorBootstrapTests(ThrowawayPostgres postgres)
{
    private const int Silos = 4;

    [Fact]
    public async Task Silos_bootstrapping_together_on_an_empty_database_share_one_session_key_and_create_one_admin()
    {
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(Silos_bootstrapping_together_on_an_empty_database_share_one_session_key_and_create_one_admin));
        // Each silo is configured with a different admin name, so only serialising the bootstrap keeps it to one admin.
        var silos = Enumerable.Range(0, Silos).Select(index => Silo(database, $"admin{index}")).ToList();
        try
        {
            using var start = new Barrier(Silos);
            var results = await Task.WhenAll(silos.Select(silo => Task.Run(
                async () =>
                {
                    start.SignalAndWait(TestContext.Current.CancellationToken);
                    return await silo.BootstrapOperatorsAsync();
                },
                TestContext.Current.CancellationToken)));

            Assert.All(results, Assert.True);
            Assert.Equal(1, await Sql.ScalarAsync(database, "SELECT count(*) FROM data_protection_key"));
            Assert.Equal(1, await Sql.ScalarAsync(database, "SELECT count(*) FROM app_user WHERE role = 'admin'"));
            var secret = Protector(silos[0]).Protect("session");
            Assert.All(silos, silo => Assert.Equal("session", Protector(silo).Unprotect(secret)));
        }
        finally
        {
            foreach (var silo in silos)
            {
                await silo.DisposeAsync();
            }
        }
    }

    private static WebApplication Silo(string database, string adminUser)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Postgres"] = database,
            ["Sensors360:Bootstrap:AdminUser"] = adminUser,
            ["Sensors360:Bootstrap:AdminPassword"] = "bootstrap password",
        });
        builder.AddSensors360Database();
        builder.AddOperators();
        return builder.Build();
    }

    private static IDataProtector Protector(WebApplication silo) =>
        silo.Services.GetRequiredService<IDataProtectionProvider>().CreateProtector(nameof(OperatorBootstrapTests));
}
