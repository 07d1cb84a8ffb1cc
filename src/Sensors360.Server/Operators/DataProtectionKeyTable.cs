using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Npgsql;

namespace Sensors360.Server.Operators;

/// <summary>
/// Data Protection's key ring, kept in <c>data_protection_key</c> so that every silo protects and reads
/// session cookies with the same keys.
/// </summary>
/// <remarks>
/// Data Protection calls this synchronously and rarely (when it refreshes its key ring, about once a day),
/// so the calls are synchronous too. Keys are stored unencrypted: whoever can read the database can read
/// the sessions anyway.
/// </remarks>
internal sealed class DataProtectionKeyTable(NpgsqlDataSource dataSource) : IXmlRepository
{
    public IReadOnlyCollection<XElement> GetAllElements()
    {
        using var command = dataSource.CreateCommand("SELECT xml FROM data_protection_key ORDER BY id");
        using var reader = command.ExecuteReader();
        var elements = new List<XElement>();
        while (reader.Read())
        {
            elements.Add(XElement.Parse(reader.GetString(0)));
        }

        return elements;
    }

    public void StoreElement(XElement element, string friendlyName)
    {
        // Insert only, never replace: keys two silos create at once are both kept. The friendly name is the
        // key's (or revocation's) id, so a conflict means this very element is already stored.
        using var command = dataSource.CreateCommand(
            "INSERT INTO data_protection_key (friendly_name, xml) VALUES (@name, @xml) ON CONFLICT (friendly_name) DO NOTHING");
        command.Parameters.AddWithValue("name", string.IsNullOrEmpty(friendlyName) ? Guid.NewGuid().ToString() : friendlyName);
        command.Parameters.AddWithValue("xml", element.ToString(SaveOptions.DisableFormatting));
        command.ExecuteNonQuery();
    }
}
