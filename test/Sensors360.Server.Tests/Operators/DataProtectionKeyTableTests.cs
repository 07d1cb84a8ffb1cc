using System.Xml.Linq;
using Npgsql;
using Sensors360.Server.Operators;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Operators;

/// <summary>The shared Data Protection key ring in <c>data_protection_key</c>.</summary>
public sealed class DataProtectionKeyTableTests(ThrowawayPostgres postgres)
{
    [Fact]
    public async Task Keys_stored_by_many_silos_at_once_are_all_kept_and_none_is_replaced()
    {
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(Keys_stored_by_many_silos_at_once_are_all_kept_and_none_is_replaced));
        await using var dataSource = NpgsqlDataSource.Create(database);
        var silos = Enumerable.Range(0, 8).Select(_ => new DataProtectionKeyTable(dataSource)).ToList();
        using var start = new Barrier(silos.Count);

        await Task.WhenAll(silos.Select((silo, index) => Task.Run(
            () =>
            {
                start.SignalAndWait(TestContext.Current.CancellationToken);
                silo.StoreElement(new XElement("key", new XAttribute("id", index)), $"key-{index}");
            },
            TestContext.Current.CancellationToken)));
        // The same name again (a repeated revocation, say) must not overwrite what is stored.
        silos[0].StoreElement(new XElement("key", new XAttribute("id", "replacement")), "key-0");

        var ids = new DataProtectionKeyTable(dataSource).GetAllElements().Select(element => (string?)element.Attribute("id")).ToList();
        Assert.Equal(Enumerable.Range(0, 8).Select(index => index.ToString(System.Globalization.CultureInfo.InvariantCulture)).Order(), ids.Order());
    }
}
