using Sensors360.Server.Notifications;

namespace Sensors360.Server.Tests.Notifications;

/// <summary>A Slack channel's url is its credential: how answers show it, and what a PATCH that sends it back keeps.</summary>
public sealed class SlackUrlTests
{
    private const string Stored = "https://hooks.slack.com/services/T0/B0/KEY123";

    [Theory]
    [InlineData(Stored, "https://hooks.slack.com/services/T0/B0/***")]
    [InlineData("https://hooks.slack.com/services/T0/B0/KEY123/", "https://hooks.slack.com/services/T0/B0/***")]
    [InlineData("https://hooks.slack.com/services/T0/B0/KEY123/.", "https://hooks.slack.com/services/T0/B0/***")]
    [InlineData("https://chat.example.com/hooks/KEY123?token=t0k3n", "https://chat.example.com/hooks/***?***")]
    [InlineData("https://chat.example.com:8443", "https://chat.example.com:8443/***")]
    [InlineData("https://chat.example.com/KEY123#part", "https://chat.example.com/***")]
    public void The_key_and_any_query_are_masked(string url, string shown) =>
        Assert.Equal(shown, ChannelRules.ShownUrl(ChannelKinds.Slack, url));

    [Fact]
    public void A_webhook_url_is_shown_as_it_is() =>
        Assert.Equal("https://ops.example.com/hooks/KEY123?x=1", ChannelRules.ShownUrl(ChannelKinds.Webhook, "https://ops.example.com/hooks/KEY123?x=1"));

    [Fact]
    public void A_patch_that_sends_back_the_masked_url_keeps_the_stored_one_and_a_new_url_replaces_it()
    {
        var existing = new ChannelDraft("chat", ChannelKinds.Slack, Stored, null, [], [], TimeSpan.FromHours(4), null);

        var (kept, problem) = ChannelRules.Apply(new ChannelRequest(null, null, "https://hooks.slack.com/services/T0/B0/***", null, null, null, null), existing, "unused");
        Assert.Null(problem);
        Assert.Equal(Stored, kept!.Url);

        var (replaced, _) = ChannelRules.Apply(new ChannelRequest(null, null, "https://hooks.slack.com/services/T0/B0/NEW456", null, null, null, null), existing, "unused");
        Assert.Equal("https://hooks.slack.com/services/T0/B0/NEW456", replaced!.Url);
    }
}
