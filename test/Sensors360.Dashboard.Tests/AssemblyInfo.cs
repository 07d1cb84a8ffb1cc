using Sensors360.Testing;

// One PostgreSQL server for the whole test assembly; each test class makes its own databases in it.
[assembly: AssemblyFixture(typeof(ThrowawayPostgres))]

// One browser test at a time: the At risk panel's test imports a large history, and beside it the others'
// page clocks and timeouts ran on a starved machine (CI flakes). The classes together take about two minutes.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
