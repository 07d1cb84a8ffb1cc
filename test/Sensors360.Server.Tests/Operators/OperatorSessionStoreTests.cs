using System.Buffers.Text;
using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Sensors360.Server.Operators;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Operators;

/// <summary><c>operator_session</c> through the ticket store itself, on a fake clock and a real database.</summary>
public sealed class OperatorSessionStoreTests(ThrowawayPostgres postgres)
{
    private static readonly TimeSpan Idle = OperatorSessions.IdleTimeout;

    // One key ring for the stores of a test, as the silos of a cluster share theirs.
    private static readonly IDataProtectionProvider SharedProtection = new EphemeralDataProtectionProvider();

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Renewal_slides_the_expiry_and_a_session_past_its_expiry_is_not_found()
    {
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(Renewal_slides_the_expiry_and_a_session_past_its_expiry_is_not_found));
        await using var dataSource = NpgsqlDataSource.Create(database);
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 8, 0, 0, TimeSpan.Zero));
        var store = Store(dataSource, clock);
        var userId = await CreateOperatorAsync(database, "night-shift");
        var key = await store.StoreAsync(Ticket(userId, "night-shift", clock), Cancel);

        clock.Advance(TimeSpan.FromHours(6));
        var retrieved = await store.RetrieveAsync(key, Cancel);
        Assert.Equal("night-shift", retrieved?.Principal.FindFirstValue(ClaimTypes.Name));
        await store.RenewAsync(key, Ticket(userId, "night-shift", clock), Cancel);
        Assert.Equal(1, await Sql.ScalarAsync(database, "SELECT count(*) FROM operator_session WHERE expires_at = $1", clock.GetUtcNow() + Idle));

        // Past the first expiry, alive thanks to the renewal; past the renewed one, gone.
        clock.Advance(TimeSpan.FromHours(6));
        Assert.NotNull(await store.RetrieveAsync(key, Cancel));
        clock.Advance(TimeSpan.FromHours(2) + TimeSpan.FromSeconds(1));
        Assert.Null(await store.RetrieveAsync(key, Cancel));

        // An expired session is not extended either.
        await store.RenewAsync(key, Ticket(userId, "night-shift", clock), Cancel);
        Assert.Null(await store.RetrieveAsync(key, Cancel));
    }

    [Fact]
    public async Task Renewals_never_carry_a_session_past_its_absolute_lifetime_from_the_login()
    {
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(Renewals_never_carry_a_session_past_its_absolute_lifetime_from_the_login));
        await using var dataSource = NpgsqlDataSource.Create(database);
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 8, 0, 0, TimeSpan.Zero));
        var loggedInAt = clock.GetUtcNow();
        var store = Store(dataSource, clock, lifetime: TimeSpan.FromHours(20));
        var userId = await CreateOperatorAsync(database, "busy-shift");
        var key = await store.StoreAsync(Ticket(userId, "busy-shift", clock), Cancel);

        // Used every hour, so the idle timeout never ends it.
        for (var hour = 1; hour < 20; hour++)
        {
            clock.Advance(TimeSpan.FromHours(1));
            Assert.NotNull(await store.RetrieveAsync(key, Cancel));
            await store.RenewAsync(key, Ticket(userId, "busy-shift", clock), Cancel);
        }

        Assert.Equal(1, await Sql.ScalarAsync(database, "SELECT count(*) FROM operator_session WHERE expires_at = $1", loggedInAt + TimeSpan.FromHours(20)));
        clock.Advance(TimeSpan.FromHours(1));
        Assert.Null(await store.RetrieveAsync(key, Cancel));
    }

    [Fact]
    public async Task A_lifetime_shorter_than_the_idle_timeout_caps_the_first_expiry()
    {
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(A_lifetime_shorter_than_the_idle_timeout_caps_the_first_expiry));
        await using var dataSource = NpgsqlDataSource.Create(database);
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 8, 0, 0, TimeSpan.Zero));
        var store = Store(dataSource, clock, lifetime: TimeSpan.FromMinutes(5));
        var userId = await CreateOperatorAsync(database, "short-shift");
        var key = await store.StoreAsync(Ticket(userId, "short-shift", clock), Cancel);

        clock.Advance(TimeSpan.FromMinutes(4));
        Assert.NotNull(await store.RetrieveAsync(key, Cancel));
        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Null(await store.RetrieveAsync(key, Cancel));
    }

    [Fact]
    public async Task The_table_holds_a_hash_of_the_key_and_a_protected_ticket_and_a_removed_session_stays_removed()
    {
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(The_table_holds_a_hash_of_the_key_and_a_protected_ticket_and_a_removed_session_stays_removed));
        await using var dataSource = NpgsqlDataSource.Create(database);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = Store(dataSource, clock);
        var userId = await CreateOperatorAsync(database, "day-shift");

        var key = await store.StoreAsync(Ticket(userId, "day-shift", clock), Cancel);

        Assert.Equal(32, Base64Url.DecodeFromChars(key).Length);
        Assert.Equal(1, await Sql.ScalarAsync(database, "SELECT count(*) FROM operator_session WHERE key_hash = sha256(convert_to($1, 'UTF8')) AND user_id = $2", key, userId));
        Assert.Equal(0, await Sql.ScalarAsync(database, "SELECT count(*) FROM operator_session WHERE position(convert_to('day-shift', 'UTF8') IN ticket) > 0"));
        // Another key ring cannot read the ticket: the session is refused, not misread.
        Assert.Null(await Store(dataSource, clock, new EphemeralDataProtectionProvider()).RetrieveAsync(key, Cancel));

        await store.RemoveAsync(key, Cancel);
        await store.RenewAsync(key, Ticket(userId, "day-shift", clock), Cancel);
        Assert.Null(await store.RetrieveAsync(key, Cancel));
        Assert.Equal(0, await Sql.ScalarAsync(database, "SELECT count(*) FROM operator_session"));
    }

    [Fact]
    public async Task Silos_logging_in_at_once_delete_the_expired_sessions_between_them_without_conflicts()
    {
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(Silos_logging_in_at_once_delete_the_expired_sessions_between_them_without_conflicts));
        await using var dataSource = NpgsqlDataSource.Create(database);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var protection = new EphemeralDataProtectionProvider();
        var userId = await CreateOperatorAsync(database, "shared");
        const int Expired = OperatorSessionStore.ExpiredDeletedPerLogin * 3 + 7;
        for (var i = 0; i < Expired; i++)
        {
            await Store(dataSource, clock, protection).StoreAsync(Ticket(userId, "shared", clock), Cancel);
        }

        clock.Advance(Idle + TimeSpan.FromSeconds(1));
        const int Silos = 8;
        using var start = new Barrier(Silos);
        var keys = await Task.WhenAll(Enumerable.Range(0, Silos).Select(_ => Task.Run(
            async () =>
            {
                var silo = Store(dataSource, clock, protection);
                start.SignalAndWait(Cancel);
                return await silo.StoreAsync(Ticket(userId, "shared", clock), Cancel);
            },
            Cancel)));

        Assert.Equal(0, await Sql.ScalarAsync(database, "SELECT count(*) FROM operator_session WHERE expires_at <= $1", clock.GetUtcNow()));
        Assert.Equal(Silos, await Sql.ScalarAsync(database, "SELECT count(*) FROM operator_session"));
        foreach (var key in keys)
        {
            Assert.NotNull(await Store(dataSource, clock, protection).RetrieveAsync(key, Cancel));
        }
    }

    [Fact]
    public async Task A_session_read_that_meets_a_connection_the_database_closed_is_read_on_a_new_one()
    {
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(A_session_read_that_meets_a_connection_the_database_closed_is_read_on_a_new_one));
        await using var dataSource = NpgsqlDataSource.Create(database);
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 8, 0, 0, TimeSpan.Zero));
        var store = Store(dataSource, clock);
        var userId = await CreateOperatorAsync(database, "after-restart");
        var key = await store.StoreAsync(Ticket(userId, "after-restart", clock), Cancel);

        // The pool's one idle connection, ended by the database as a restart ends them all.
        int backend;
        await using (var idle = await dataSource.OpenConnectionAsync(Cancel))
        {
            backend = idle.ProcessID;
        }

        Assert.Equal(1, await Sql.ScalarAsync(database, "SELECT pg_terminate_backend($1)::int", backend));
        await Eventually.TrueAsync(
            async () => await Sql.ScalarAsync(database, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", backend) == 0,
            TimeSpan.FromSeconds(10),
            "the backend is gone");

        var retrieved = await store.RetrieveAsync(key, Cancel);
        Assert.Equal("after-restart", retrieved?.Principal.FindFirstValue(ClaimTypes.Name));
    }

    private static OperatorSessionStore Store(
        NpgsqlDataSource dataSource, TimeProvider clock, IDataProtectionProvider? protection = null, TimeSpan? lifetime = null) =>
        new(dataSource, new OperatorSessionCache(clock), protection ?? SharedProtection, clock,
            Options.Create(new OperatorSessionOptions { SessionLifetime = lifetime ?? new OperatorSessionOptions().SessionLifetime }),
            NullLogger<OperatorSessionStore>.Instance);

    /// <summary>A ticket as the cookie handler makes it at sign-in or renewal: issued now, expiring after the idle timeout.</summary>
    private static AuthenticationTicket Ticket(long userId, string username, TimeProvider clock) => new(
        OperatorSessions.PrincipalFor(new OperatorAccount(userId, username, "", OperatorRoles.Operator)),
        new AuthenticationProperties { IssuedUtc = clock.GetUtcNow(), ExpiresUtc = clock.GetUtcNow() + Idle },
        CookieAuthenticationDefaults.AuthenticationScheme);

    private static Task<long> CreateOperatorAsync(string database, string username) =>
        Sql.ScalarAsync(database, "INSERT INTO app_user (username, password_hash) VALUES ($1, 'not a hash') RETURNING id", username);
}
