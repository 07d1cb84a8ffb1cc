using Microsoft.Playwright;

namespace Sensors360.Dashboard.Tests;

/// <summary>
/// Serves the page's files from the build output through Playwright's routing, so page code can be tested in the
/// browser without a server. <c>/empty.html</c> is a blank page to import modules into.
/// </summary>
internal static class Wwwroot
{
    public const string Origin = "http://dashboard.test";

    public static async Task ServeAsync(IPage page)
    {
        var root = Path.Combine(AppContext.BaseDirectory, "wwwroot");
        await page.RouteAsync($"{Origin}/**", async route =>
        {
            var path = new Uri(route.Request.Url).AbsolutePath.TrimStart('/');
            if (path == "empty.html")
            {
                await route.FulfillAsync(new() { Status = 200, ContentType = "text/html", Body = "<!doctype html><title>page test</title>" });
                return;
            }

            var file = Path.GetFullPath(Path.Combine(root, path));
            if (!file.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal) || !File.Exists(file))
            {
                await route.FulfillAsync(new() { Status = 404 });
                return;
            }

            var type = Path.GetExtension(file) switch { ".js" => "text/javascript", ".css" => "text/css", _ => "text/html" };
            await route.FulfillAsync(new() { Status = 200, ContentType = type, Body = await File.ReadAllTextAsync(file) });
        });
    }

    /// <summary>Serves the files but an empty <c>/js/app.js</c>, so a test wires up only the part of the page it tests.</summary>
    public static async Task ServePartsAsync(IPage page)
    {
        await ServeAsync(page);
        await page.RouteAsync($"{Origin}/js/app.js", route => route.FulfillAsync(new() { Status = 200, ContentType = "text/javascript", Body = "" }));
    }

    /// <summary>
    /// Opens the sensor dialog for <paramref name="sensorId"/> on a loaded page, with a feed that does nothing until the test
    /// dispatches on <c>window.feed</c>.
    /// </summary>
    public static Task OpenSensorDetailAsync(IPage page, string sensorId, bool canOperate = false) =>
        page.EvaluateAsync(
            """
            async ([id, canOperate]) => {
              const { SensorDetail } = await import("/js/sensors.js");
              const feed = new EventTarget();
              feed.subscribe = () => {};
              feed.unsubscribe = () => {};
              window.feed = feed;
              window.detail = new SensorDetail({ dialog: document.getElementById("sensor-detail"), feed, onUnauthorized: () => {} });
              window.detail.canOperate = canOperate;
              window.detail.open(id);
            }
            """, new object[] { sensorId, canOperate });
}
