using Sensors360.Testing;

// One PostgreSQL server for the whole test assembly; the end-to-end tests make their own database in it.
[assembly: AssemblyFixture(typeof(ThrowawayPostgres))]
