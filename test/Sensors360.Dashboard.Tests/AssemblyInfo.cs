using Sensors360.Testing;

// One PostgreSQL server for the whole test assembly; each test class makes its own databases in it.
[assembly: AssemblyFixture(typeof(ThrowawayPostgres))]
