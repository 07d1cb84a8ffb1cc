using Sensors360.Testing;

// One PostgreSQL server for the whole test assembly; each test makes its own database in it.
[assembly: AssemblyFixture(typeof(ThrowawayPostgres))]

// Each test runs several server processes under load on a small machine: one test at a time, so timings hold.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
