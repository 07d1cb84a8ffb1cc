using Microsoft.AspNetCore.Identity;

namespace Sensors360.Server.Operators;

public static class OperatorsHosting
{
    /// <summary>Operators' accounts, the first admin, and sessions shared by every silo.</summary>
    public static WebApplicationBuilder AddOperators(this WebApplicationBuilder builder)
    {
        builder.Services.Configure<BootstrapOptions>(builder.Configuration.GetSection(BootstrapOptions.Section));
        builder.Services.AddSingleton<IPasswordHasher<OperatorAccount>, PasswordHasher<OperatorAccount>>();
        builder.Services.AddSingleton<OperatorAccounts>();
        builder.Services.AddSingleton<OperatorBootstrap>();
        builder.Services.AddOperatorSessions(builder.Configuration);
        builder.Services.AddSingleton<AccountLoginLimit>();
        return builder;
    }

    /// <summary>
    /// Runs after the schema is prepared and before the silo starts: settles the shared session key and
    /// creates the first admin when no operator exists. False (after one log line) when it cannot.
    /// </summary>
    public static Task<bool> BootstrapOperatorsAsync(this WebApplication app) =>
        app.Services.GetRequiredService<OperatorBootstrap>().TryBootstrapAsync(app.Lifetime.ApplicationStopping);
}
