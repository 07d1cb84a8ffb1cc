using System.Net;
using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Orleans.Hosting.Kubernetes;
using Sensors360.Server.Health;
using YamlDotNet.RepresentationModel;

namespace Sensors360.Server.Tests.Deploy;

/// <summary>
/// What can be checked of the container files without a Docker engine or a Kubernetes cluster
/// (docs/operations.md#containers): the image's build context holds everything the server is built from, and the
/// compose file and the Kubernetes manifests parse and agree with each other and with what the server reads.
/// </summary>
public sealed partial class ContainerFilesTests
{
    private const string ServerProject = "src/Sensors360.Server/Sensors360.Server.csproj";

    private static readonly Dockerfile Image = new(File.ReadAllText(Repository.PathOf("Dockerfile")));

    private static readonly DockerIgnore Ignored = new(File.ReadAllText(Repository.PathOf(".dockerignore")));

    /// <summary>The port the image's server listens on (its ASPNETCORE_HTTP_PORTS).</summary>
    private static int ContainerPort => int.Parse(
        Assert.Single(Image.Final, instruction => instruction.Keyword == "ENV" && instruction.Arguments.StartsWith("ASPNETCORE_HTTP_PORTS=", StringComparison.Ordinal))
            .Arguments["ASPNETCORE_HTTP_PORTS=".Length..], System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void Every_COPY_source_of_the_Dockerfile_exists_and_is_in_the_build_context()
    {
        var copies = Copies().ToList();
        Assert.NotEmpty(copies);
        foreach (var (sources, destination) in copies)
        {
            foreach (var source in sources)
            {
                var path = Repository.PathOf(source);
                Assert.True(File.Exists(path) || Directory.Exists(path), $"COPY {source}: no such file or directory");
                Assert.False(Ignored.Excludes(source), $"COPY {source}: .dockerignore leaves it out of the context");
                foreach (var file in SourceFiles(source))
                {
                    Assert.False(Ignored.Excludes(file), $"COPY {source}: .dockerignore leaves out {file}");
                }

                // Copied to where it is in the checkout, so the projects' relative paths (../../schema) still hold.
                var expected = File.Exists(path) ? Path.GetDirectoryName(source)!.Replace('\\', '/') : source.TrimEnd('/');
                Assert.True(Normalize(destination) == Normalize(expected), $"COPY {source} goes to {destination}, not to its own path {expected}");
            }
        }
    }

    [Fact]
    public void The_build_context_holds_every_project_and_file_the_server_is_built_from()
    {
        var copied = Copies().SelectMany(copy => copy.Sources).Select(source => source.TrimEnd('/')).ToList();
        bool IsCopied(string path) => copied.Any(source => path == source || path.StartsWith(source + "/", StringComparison.Ordinal));
        var restore = Image.Instructions.FindIndex(instruction => instruction.Keyword == "RUN" && instruction.Arguments.Contains("dotnet restore", StringComparison.Ordinal));
        Assert.True(restore >= 0, "the Dockerfile restores before it copies the sources");
        var copiedBeforeRestore = Image.Instructions.Take(restore).Where(instruction => instruction.Keyword == "COPY")
            .SelectMany(instruction => instruction.Words.SkipLast(1)).ToHashSet(StringComparer.Ordinal);

        var projects = ProjectClosure(ServerProject);
        Assert.Contains("src/Sensors360.Abstractions/Sensors360.Abstractions.csproj", projects);
        foreach (var project in projects)
        {
            var folder = Path.GetDirectoryName(project)!.Replace('\\', '/');
            Assert.True(IsCopied(folder), $"{folder} (the sources of a project the server is built from) is not copied whole");
            Assert.True(copiedBeforeRestore.Contains(project), $"{project} is not copied before `dotnet restore`");
            foreach (var included in EmbeddedFiles(project))
            {
                Assert.True(IsCopied(included), $"{included} (embedded by {project}) is not copied");
                Assert.False(Ignored.Excludes(included), $"{included} (embedded by {project}) is left out by .dockerignore");
            }
        }

        foreach (var buildFile in Directory.GetFiles(Repository.Root, "Directory.*.props").Select(Path.GetFileName).Append("global.json").Append(".editorconfig"))
        {
            Assert.True(copiedBeforeRestore.Contains(buildFile!), $"{buildFile} (the build's rules) is not copied before `dotnet restore`");
            Assert.False(Ignored.Excludes(buildFile!), $"{buildFile} is left out by .dockerignore");
        }
    }

    [Fact]
    public void The_image_runs_the_server_unprivileged_and_checks_its_health_on_readyz()
    {
        Assert.True(Image.LastStage >= 1, "a multi-stage build: the SDK builds, the runtime image runs");
        Assert.Contains("sdk", Image.Instructions.First(instruction => instruction.Keyword == "FROM").Arguments, StringComparison.Ordinal);
        Assert.Contains("/aspnet:", Image.Final.First().Arguments, StringComparison.Ordinal);
        var user = FinalOnly("USER").Arguments;
        Assert.DoesNotMatch("^(root|0)(:.*)?$", user);

        var entrypoint = FinalOnly("ENTRYPOINT").Words;
        Assert.Equal(["dotnet", Path.GetFileNameWithoutExtension(ServerProject) + ".dll"], entrypoint);
        var healthcheck = FinalOnly("HEALTHCHECK");
        var command = System.Text.Json.JsonSerializer.Deserialize<string[]>(healthcheck.Arguments[(healthcheck.Arguments.IndexOf("CMD ", StringComparison.Ordinal) + 4)..])!;
        Assert.Equal([.. entrypoint, "healthcheck", HealthProbe.DefaultUrl], command);
        Assert.Equal(ContainerPort, new Uri(HealthProbe.DefaultUrl).Port);
        Assert.Equal("/readyz", new Uri(HealthProbe.DefaultUrl).AbsolutePath);
        Assert.Contains(ContainerPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            FinalOnly("EXPOSE").Words);
    }

    [Fact]
    public void The_compose_file_runs_postgres_a_migration_three_silos_and_haproxy_that_agree()
    {
        var compose = Assert.Single(Yaml.Documents(Repository.PathOf("deploy", "compose.yaml")));
        var services = compose.Map("services");
        var subnet = System.Net.IPNetwork.Parse(Assert.Single(compose.Map("networks").Map("sensors360").Map("ipam").List("config").Children).Text("subnet"));
        string AddressOf(string service)
        {
            var address = services.Map(service).Map("networks").Map("sensors360").Text("ipv4_address");
            Assert.True(subnet.Contains(IPAddress.Parse(address)), $"{service}'s {address} is outside {subnet}");
            return address;
        }

        var migrate = services.Map("migrate");
        Assert.Equal(["migrate"], migrate.List("command").Texts());
        var migrateEnvironment = migrate.Map("environment").Scalars();
        AssertServerReads(migrateEnvironment.Keys, "migrate");
        var runtimeRole = migrateEnvironment["Sensors360__Database__RuntimeRole"];
        Assert.Equal("service_healthy", migrate.Map("depends_on").Map("postgres").Text("condition"));

        var haproxyConfig = File.ReadAllText(Repository.PathOf("deploy", "haproxy.cfg"));
        var balancer = services.Map("haproxy");
        var balancerEnvironment = balancer.Map("environment").Scalars();
        Assert.Contains("./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro", balancer.List("volumes").Texts());
        var serverVariables = SiloAddressVariable().Matches(haproxyConfig).Select(match => match.Groups[1].Value).ToList();
        Assert.Equal(["SENSORS360_SILO1", "SENSORS360_SILO2", "SENSORS360_SILO3"], serverVariables);

        var silos = new[] { "silo1", "silo2", "silo3" };
        var clusterIds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (silo, index) in silos.Select((silo, index) => (silo, index)))
        {
            var service = services.Map(silo);
            var environment = service.Map("environment").Scalars();
            AssertServerReads(environment.Keys, silo);
            Assert.Contains($"Username={runtimeRole};", environment["ConnectionStrings__Postgres"], StringComparison.Ordinal);
            Assert.Contains("Host=postgres;", environment["ConnectionStrings__Postgres"], StringComparison.Ordinal);
            Assert.Equal("false", environment["Sensors360__Database__ApplyMigrations"]);
            clusterIds.Add($"{environment["Sensors360__Cluster__ClusterId"]}/{environment["Sensors360__Cluster__ServiceId"]}");
            Assert.Equal(AddressOf(silo), environment["Sensors360__Cluster__AdvertisedAddress"]);
            Assert.Equal(AddressOf("haproxy"), environment["Sensors360__Http__KnownProxies__0"]);
            Assert.Equal("service_completed_successfully", service.Map("depends_on").Map("migrate").Text("condition"));
            Assert.Equal("service_healthy", balancer.Map("depends_on").Map(silo).Text("condition"));
            // The balancer reaches each silo at its container port, by the service's name.
            Assert.Equal($"{silo}:{ContainerPort}", balancerEnvironment[serverVariables[index]]);
            Assert.Equal(migrate.Text("image"), service.Text("image"));
        }

        Assert.Single(clusterIds);
        var listen = balancerEnvironment["SENSORS360_LISTEN"];
        Assert.Contains($"{listen.Split(':')[^1]}:{listen.Split(':')[^1]}", balancer.List("ports").Texts());
        Assert.Contains("SENSORS360_LISTEN", haproxyConfig, StringComparison.Ordinal);

        var roles = File.ReadAllText(Repository.PathOf("deploy", "postgres-roles.sh"));
        Assert.Contains($"CREATE ROLE {runtimeRole} ", roles, StringComparison.Ordinal);
        Assert.Contains("./postgres-roles.sh:/docker-entrypoint-initdb.d/10-sensors360-roles.sh:ro", services.Map("postgres").List("volumes").Texts());
        Assert.Equal(Repository.Root, Path.GetFullPath(Path.Combine(Repository.PathOf("deploy"), migrate.Map("build").Text("context"))).TrimEnd('/'));
        Assert.Equal("Dockerfile", migrate.Map("build").Text("dockerfile"));
    }

    [Fact]
    public void The_Kubernetes_manifests_parse_and_agree_with_each_other_and_the_server()
    {
        var directory = Repository.PathOf("deploy", "k8s");
        var kustomization = Assert.Single(Yaml.Documents(Path.Combine(directory, "kustomization.yaml")));
        var files = kustomization.List("resources").Texts().ToList();
        Assert.Equal(
            Directory.GetFiles(directory, "*.yaml").Select(Path.GetFileName).Where(name => name is not ("kustomization.yaml" or "secret.example.yaml")).Order(StringComparer.Ordinal),
            files.Order(StringComparer.Ordinal));
        var manifests = files.SelectMany(file => Yaml.Documents(Path.Combine(directory, file))).ToList();
        YamlMappingNode Of(string kind) => Assert.Single(manifests, manifest => manifest.Text("kind") == kind);
        var ns = Of("Namespace").Map("metadata").Text("name");
        Assert.All(manifests.Where(manifest => manifest.Text("kind") != "Namespace"), manifest => Assert.Equal(ns, manifest.Map("metadata").Text("namespace")));
        Assert.Equal(ns, kustomization.Text("namespace"));

        var secret = Assert.Single(Yaml.Documents(Path.Combine(directory, "secret.example.yaml")));
        var secretValues = secret.Map("stringData").Scalars();
        Assert.All(secretValues, entry => Assert.Contains("CHANGE-ME", entry.Value, StringComparison.Ordinal));
        var config = Of("ConfigMap").Map("data").Scalars();
        AssertServerReads(config.Keys.Concat(secretValues.Keys.Where(key => key.Contains("__", StringComparison.Ordinal))), "the ConfigMap and Secret");

        var deployment = Of("Deployment");
        var pod = deployment.Map("spec").Map("template");
        var labels = pod.Map("metadata").Map("labels").Scalars();
        Assert.Equal(deployment.Map("spec").Map("selector").Map("matchLabels").Scalars(), labels.Where(label => label.Key.StartsWith("app.", StringComparison.Ordinal)).ToDictionary());
        // Orleans' Kubernetes hosting takes the ids from these labels; CheckSettings from the ConfigMap: the same.
        Assert.Equal(config["Sensors360__Cluster__ClusterId"], labels[KubernetesHostingOptions.ClusterIdLabel]);
        Assert.Equal(config["Sensors360__Cluster__ServiceId"], labels[KubernetesHostingOptions.ServiceIdLabel]);
        var container = Assert.Single(pod.Map("spec").List("containers").Children);
        var environment = container.List("env").Children.Select(variable => variable.Text("name")).ToHashSet(StringComparer.Ordinal);
        foreach (var variable in typeof(KubernetesHostingOptions).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(field => field.Name.EndsWith("EnvironmentVariable", StringComparison.Ordinal)).Select(field => (string)field.GetValue(null)!))
        {
            Assert.Contains(variable, environment);
        }

        var ports = container.List("ports").Children.ToDictionary(port => port.Text("name"), port => int.Parse(port.Text("containerPort"), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(ContainerPort, ports["http"]);
        Assert.Equal(int.Parse(config["Sensors360__Cluster__SiloPort"], System.Globalization.CultureInfo.InvariantCulture), ports["silo"]);
        Assert.Equal("/readyz", container.Map("readinessProbe").Map("httpGet").Text("path"));
        Assert.Equal("/healthz", container.Map("livenessProbe").Map("httpGet").Text("path"));
        Assert.True(ports.ContainsKey(container.Map("readinessProbe").Map("httpGet").Text("port")));
        var sources = container.List("envFrom").Children.ToList();
        Assert.Contains(sources, source => source.Has("configMapRef") && source.Map("configMapRef").Text("name") == Of("ConfigMap").Map("metadata").Text("name"));
        Assert.Contains(sources, source => source.Has("secretRef") && source.Map("secretRef").Text("name") == secret.Map("metadata").Text("name"));
        Assert.Equal("true", pod.Map("spec").Map("securityContext").Text("runAsNonRoot"));

        // The pods' account may list, watch and delete pods, as Orleans' Kubernetes hosting needs.
        var account = pod.Map("spec").Text("serviceAccountName");
        Assert.Equal(account, Of("ServiceAccount").Map("metadata").Text("name"));
        var binding = Of("RoleBinding");
        Assert.Contains(binding.List("subjects").Children, subject => subject.Text("kind") == "ServiceAccount" && subject.Text("name") == account);
        var role = Of("Role");
        Assert.Equal(role.Map("metadata").Text("name"), binding.Map("roleRef").Text("name"));
        var podRule = Assert.Single(role.List("rules").Children, rule => rule.List("resources").Texts().Contains("pods"));
        Assert.Superset(new HashSet<string> { "get", "list", "watch", "delete" }, podRule.List("verbs").Texts().ToHashSet());

        var service = Of("Service").Map("spec");
        Assert.Equal(service.Map("selector").Scalars(), deployment.Map("spec").Map("selector").Map("matchLabels").Scalars());
        Assert.True(ports.ContainsKey(Assert.Single(service.List("ports").Children).Text("targetPort")));
        Assert.Equal(service.Map("selector").Scalars(), Of("PodDisruptionBudget").Map("spec").Map("selector").Map("matchLabels").Scalars());

        var job = Of("Job").Map("spec").Map("template").Map("spec");
        var migrate = Assert.Single(job.List("containers").Children);
        Assert.Equal(["migrate"], migrate.List("args").Texts());
        Assert.Equal(container.Text("image"), migrate.Text("image"));
        var ownerConnection = Assert.Single(migrate.List("env").Children, variable => variable.Text("name") == "ConnectionStrings__Postgres");
        Assert.True(secretValues.ContainsKey(ownerConnection.Map("valueFrom").Map("secretKeyRef").Text("key")));
    }

    /// <summary>deploy/haproxy.cfg with its server lines' default addresses is a valid HAProxy configuration.</summary>
    [Fact]
    public async Task The_balancer_configuration_with_its_default_silo_addresses_is_valid()
    {
        using var check = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(Sensors360.Testing.LoadBalancer.Executable, ["-c", "-f", Repository.PathOf("deploy", "haproxy.cfg")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var output = await check.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken) + await check.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await check.WaitForExitAsync(TestContext.Current.CancellationToken);

        Assert.True(check.ExitCode == 0, output);
    }

    private static Dockerfile.Instruction FinalOnly(string keyword) => Assert.Single(Image.Final, instruction => instruction.Keyword == keyword);

    private static void AssertServerReads(IEnumerable<string> variables, string where)
    {
        var unknown = variables.Select(ServerSettings.Unknown).OfType<string>().ToList();
        Assert.True(unknown.Count == 0, $"{where} sets what the server does not read: {string.Join("; ", unknown)}");
    }

    /// <summary>The COPY instructions that take files from the build context (not from another stage).</summary>
    private static IEnumerable<(IReadOnlyList<string> Sources, string Destination)> Copies() =>
        Image.Instructions.Where(instruction => instruction.Keyword == "COPY" && !instruction.HasOption("--from"))
            .Select(instruction => ((IReadOnlyList<string>)[.. instruction.Words.SkipLast(1)], instruction.Words[^1]));

    private static string Normalize(string path) => path.Trim().TrimEnd('/') is "." or "" ? "" : path.Trim().TrimEnd('/').TrimStart('.', '/');

    /// <summary>The files under a copied directory that are in the checkout (not build output); the file itself otherwise.</summary>
    private static IEnumerable<string> SourceFiles(string source)
    {
        var path = Repository.PathOf(source);
        if (!Directory.Exists(path))
        {
            return [source.TrimEnd('/')];
        }

        return Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
            .Select(file => Path.GetRelativePath(Repository.Root, file).Replace('\\', '/'))
            .Where(file => !file.Split('/').Any(segment => segment is "bin" or "obj"));
    }

    /// <summary>The project and every project it references, directly or not, as paths from the checkout's root.</summary>
    private static SortedSet<string> ProjectClosure(string project)
    {
        var found = new SortedSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>([project]);
        while (pending.TryPop(out var next))
        {
            if (!found.Add(next))
            {
                continue;
            }

            foreach (var reference in XDocument.Load(Repository.PathOf(next)).Descendants("ProjectReference"))
            {
                pending.Push(Relative(next, reference.Attribute("Include")!.Value));
            }
        }

        return found;
    }

    /// <summary>The files (or, for a wildcard, the folder) a project embeds from outside its own folder.</summary>
    private static IEnumerable<string> EmbeddedFiles(string project) =>
        XDocument.Load(Repository.PathOf(project)).Descendants("EmbeddedResource")
            .Select(resource => resource.Attribute("Include")!.Value)
            .Select(include => include.Contains('*', StringComparison.Ordinal) ? include[..include.Replace('\\', '/').LastIndexOf('/')] : include)
            .Select(include => Relative(project, include));

    private static string Relative(string fromProject, string include) =>
        Path.GetRelativePath(Repository.Root, Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Repository.PathOf(fromProject))!, include.Replace('\\', '/'))))
            .Replace('\\', '/');

    [GeneratedRegex(@"^\s*server\s+silo\d+\s+""\$\{(SENSORS360_SILO\d+)-[^}]+\}""", RegexOptions.Multiline)]
    private static partial Regex SiloAddressVariable();
}
