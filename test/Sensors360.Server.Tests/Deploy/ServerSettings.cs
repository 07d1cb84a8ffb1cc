using System.Reflection;

namespace Sensors360.Server.Tests.Deploy;

/// <summary>
/// Whether an environment variable names a setting the server reads: <c>ConnectionStrings__Postgres</c>, or
/// <c>Sensors360__Section__Property[__Property|__index]...</c> where an options class of the server declares
/// <c>Section = "Sensors360:Section"</c> and has those properties.
/// </summary>
internal static class ServerSettings
{
    private static readonly Dictionary<string, Type> Sections = typeof(Sensors360.Server.Metrics.MetricsOptions).Assembly.GetTypes()
        .Concat(typeof(Sensors360.Grains.Sensors.HeartbeatLog).Assembly.GetTypes())
        .Select(type => (Type: type, Field: type.GetField("Section", BindingFlags.Public | BindingFlags.Static)))
        .Where(entry => entry.Field is { IsLiteral: true } && entry.Field.FieldType == typeof(string))
        .ToDictionary(entry => (string)entry.Field!.GetRawConstantValue()!, entry => entry.Type, StringComparer.Ordinal);

    /// <summary>Null when the server reads <paramref name="variable"/>; otherwise why not.</summary>
    public static string? Unknown(string variable)
    {
        if (variable == "ConnectionStrings__Postgres")
        {
            return null;
        }

        var parts = variable.Split("__");
        if (parts is not ["Sensors360", _, _, ..])
        {
            return $"{variable} is not a Sensors360__Section__Setting name";
        }

        if (!Sections.TryGetValue($"Sensors360:{parts[1]}", out var type))
        {
            return $"{variable}: the server has no section Sensors360:{parts[1]}";
        }

        foreach (var part in parts[2..])
        {
            if (int.TryParse(part, out _))
            {
                if (!type.IsArray)
                {
                    return $"{variable}: {part} indexes a setting that is not a list";
                }

                type = type.GetElementType()!;
                continue;
            }

            var property = type.GetProperty(part, BindingFlags.Public | BindingFlags.Instance);
            if (property is null)
            {
                return $"{variable}: {type.Name} has no setting {part}";
            }

            type = property.PropertyType;
        }

        return null;
    }
}
