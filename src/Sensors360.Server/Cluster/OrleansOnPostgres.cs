namespace Sensors360.Server.Cluster;

public static class OrleansOnPostgres
{
    /// <summary>The ADO.NET invariant that makes Orleans load Npgsql.</summary>
    public const string Invariant = "Npgsql";

    /// <summary>
    /// Membership, grain state (the default storage) and reminders, all in one PostgreSQL database
    /// whose Orleans tables come from <c>orleans-postgres.sql</c>.
    /// </summary>
    public static ISiloBuilder UsePostgres(this ISiloBuilder silo, Func<string> connectionString)
    {
        silo.UseAdoNetClustering(options =>
        {
            options.Invariant = Invariant;
            options.ConnectionString = connectionString();
        });
        silo.AddAdoNetGrainStorageAsDefault(options =>
        {
            options.Invariant = Invariant;
            options.ConnectionString = connectionString();
        });
        silo.UseAdoNetReminderService(options =>
        {
            options.Invariant = Invariant;
            options.ConnectionString = connectionString();
        });
        return silo;
    }
}
