using Microsoft.Extensions.Options;

namespace Sensors360.Server.Notifications;

public static class NotificationsHosting
{
    /// <summary>Notification channels: their store, the outbox's dispatcher (one per silo) and the HTTP client it sends with.</summary>
    public static WebApplicationBuilder AddNotifications(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<NotificationOptions>()
            .Bind(builder.Configuration.GetSection(NotificationOptions.Section))
            .Validate(options => options.TimingValid, NotificationOptions.TimingRule)
            .Validate(options => options.HistoryValid, NotificationOptions.HistoryRule);
        builder.Services.AddHttpClient(ChannelSender.HttpClientName, (provider, client) =>
            client.Timeout = provider.GetRequiredService<IOptions<NotificationOptions>>().Value.SendTimeout);
        builder.Services.AddSingleton<ChannelStore>();
        builder.Services.AddSingleton<ChannelSender>();
        builder.Services.AddSingleton<NotificationOutbox>();
        builder.Services.AddSingleton<NotificationMetrics>();
        builder.Services.AddSingleton<NotificationWake>();
        builder.Services.AddHostedService<NotificationDispatcher>();
        return builder;
    }
}
