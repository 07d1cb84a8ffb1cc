using System.CommandLine;
using Sensors360.Simulator.Server;

namespace Sensors360.Simulator.Commands;

/// <summary>The options both commands share: the server, the operator to log in as, the state file, the sensors' ids and tags.</summary>
internal sealed class ServerOptions
{
    private readonly Option<string> _server = new("--server")
    {
        Description = "The server's base URL.",
        DefaultValueFactory = _ => ServerAccess.DefaultServer.ToString().TrimEnd('/'),
    };

    private readonly Option<string> _user = new("--user")
    {
        Description = "The operator to log in as.",
        DefaultValueFactory = _ => ServerAccess.DefaultUser,
    };

    private readonly Option<string?> _password = new("--password")
    {
        Description = $"The operator's password; default: ${OperatorPassword.EnvironmentVariable}, else the file {OperatorPassword.DataFile} (kept by 'build.ps1 run').",
    };

    private readonly Option<string> _state = new("--state")
    {
        Description = "The JSON file that keeps the provisioned sensors' tokens, so later runs reuse them.",
        DefaultValueFactory = _ => ServerAccess.DefaultStateFile,
    };

    private readonly Option<string[]> _tags = new("--tags")
    {
        Description = "Tags of newly provisioned sensors (repeat the option or separate with commas).",
        AllowMultipleArgumentsPerToken = true,
    };

    private readonly Option<string> _prefix;
    private readonly string[] _defaultTags;

    public ServerOptions(string defaultPrefix, string[] defaultTags)
    {
        _defaultTags = defaultTags;
        _tags.DefaultValueFactory = _ => defaultTags;
        _prefix = new Option<string>("--prefix")
        {
            Description = "The start of the sensors' ids; they are numbered from 00001.",
            DefaultValueFactory = _ => defaultPrefix,
        };
    }

    public void AddTo(Command command)
    {
        foreach (var option in (Option[])[_server, _user, _password, _state, _prefix, _tags])
        {
            command.Options.Add(option);
        }
    }

    public ServerAccess Access(ParseResult parse)
    {
        var server = parse.GetValue(_server)!;
        if (!Uri.TryCreate(server, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new SimulatorException($"--server must be an http or https URL, not '{server}'");
        }

        var password = OperatorPassword.Resolve(
            parse.GetValue(_password), Environment.GetEnvironmentVariable(OperatorPassword.EnvironmentVariable), Environment.CurrentDirectory);
        return new ServerAccess(uri, parse.GetValue(_user)!, password, parse.GetValue(_state)!);
    }

    public string Prefix(ParseResult parse) => parse.GetValue(_prefix)!;

    public IReadOnlyList<string> Tags(ParseResult parse) =>
        [.. (parse.GetValue(_tags) ?? _defaultTags).SelectMany(tag => tag.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Distinct(StringComparer.Ordinal)];
}
