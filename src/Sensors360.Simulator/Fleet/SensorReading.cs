using System.Globalization;
using System.Text;

namespace Sensors360.Simulator.Fleet;

/// <summary>What a heartbeat reports: the battery's charge (0–1) and the temperature in °C.</summary>
internal sealed record SensorReading(double Battery, double TemperatureC)
{
    private const double BatteryAtDeath = 0.05;

    /// <summary>
    /// The reading of <paramref name="sensor"/> at <paramref name="at"/>: its battery drains linearly over its
    /// life to about 5 % at its end; its temperature is its own level plus noise.
    /// </summary>
    public static SensorReading Of(SimulatedSensor sensor, DateTimeOffset at, Random random)
    {
        var age = sensor.BornAt is { } born ? (at - born) / sensor.Lifespan : 0;
        var battery = sensor.BatteryAtBirth - ((sensor.BatteryAtBirth - BatteryAtDeath) * Math.Clamp(age, 0, 1));
        var noise = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        return new SensorReading(Math.Round(battery, 3), Math.Round(sensor.BaseTemperatureC + (0.8 * noise), 1));
    }

    /// <summary>The heartbeat body, <c>{"metrics":{"battery":0.82,"temperatureC":41.5}}</c>.</summary>
    public byte[] ToBody() => Encoding.UTF8.GetBytes(string.Create(
        CultureInfo.InvariantCulture, $$$"""{"metrics":{"battery":{{{Battery:0.###}}},"temperatureC":{{{TemperatureC:0.#}}}}}"""));
}
