using YamlDotNet.RepresentationModel;

namespace Sensors360.Server.Tests.Deploy;

/// <summary>Reading parsed YAML (YamlDotNet's representation model) by key, failing with the path when a key is missing.</summary>
internal static class Yaml
{
    /// <summary>Every document of the file; throws on a YAML syntax error.</summary>
    public static IReadOnlyList<YamlMappingNode> Documents(string path)
    {
        var stream = new YamlStream();
        using (var reader = new StreamReader(path))
        {
            stream.Load(reader);
        }

        return [.. stream.Documents.Select(document => Assert.IsType<YamlMappingNode>(document.RootNode))];
    }

    public static YamlMappingNode Map(this YamlNode node, string key) => Assert.IsType<YamlMappingNode>(node.Child(key));

    public static YamlSequenceNode List(this YamlNode node, string key) => Assert.IsType<YamlSequenceNode>(node.Child(key));

    public static string Text(this YamlNode node, string key) => Assert.IsType<YamlScalarNode>(node.Child(key)).Value ?? "";

    public static string? TextOrNull(this YamlNode node, string key) =>
        ((YamlMappingNode)node).Children.TryGetValue(new YamlScalarNode(key), out var child) ? ((YamlScalarNode)child).Value : null;

    public static bool Has(this YamlNode node, string key) => ((YamlMappingNode)node).Children.ContainsKey(new YamlScalarNode(key));

    public static IEnumerable<string> Texts(this YamlSequenceNode sequence) => sequence.Children.Select(child => ((YamlScalarNode)child).Value ?? "");

    /// <summary>The keys of a mapping with their scalar values.</summary>
    public static Dictionary<string, string> Scalars(this YamlMappingNode mapping) =>
        mapping.Children.Where(entry => entry.Value is YamlScalarNode)
            .ToDictionary(entry => ((YamlScalarNode)entry.Key).Value!, entry => ((YamlScalarNode)entry.Value).Value ?? "", StringComparer.Ordinal);

    private static YamlNode Child(this YamlNode node, string key)
    {
        var mapping = Assert.IsType<YamlMappingNode>(node);
        Assert.True(mapping.Children.TryGetValue(new YamlScalarNode(key), out var child), $"'{key}' is missing at line {node.Start.Line}");
        return child!;
    }
}
