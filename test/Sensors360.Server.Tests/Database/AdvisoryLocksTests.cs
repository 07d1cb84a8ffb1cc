using System.Globalization;
using System.Reflection;
using Sensors360.Server.Database;

namespace Sensors360.Server.Tests.Database;

public sealed class AdvisoryLocksTests
{
    [Fact]
    public void Every_lock_key_is_used_for_one_thing_only()
    {
        var keys = typeof(AdvisoryLocks)
            .GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)
            .Where(field => field.IsLiteral && field.FieldType == typeof(long))
            .Select(field => (field.Name, Key: (long)field.GetRawConstantValue()!))
            .ToList();

        Assert.True(keys.Count >= 4, $"expected the schema, partition, bootstrap and Orleans script keys, found {keys.Count}");
        var shared = keys.GroupBy(key => key.Key).Where(group => group.Count() > 1).Select(group => string.Join(" = ", group.Select(key => key.Name)));
        Assert.Empty(shared);
    }

    [Fact]
    public void The_orleans_script_takes_the_key_listed_for_it()
    {
        var literal = AdvisoryLocks.OrleansScript.ToString(CultureInfo.InvariantCulture);
        Assert.Contains($"pg_advisory_xact_lock({literal})", DatabaseSetup.OrleansScript, StringComparison.Ordinal);
    }
}
