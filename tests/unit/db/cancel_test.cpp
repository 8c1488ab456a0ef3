// The caller's deadline and stop token (QueryOptions::deadline and ::stop, the same on
// TransactionOptions and AcquireOptions) on the fake backend: they end the wait for a
// connection, cancel a running statement, end a transaction's retries, and never cut a COMMIT
// short.

#include <atomic>
#include <chrono>
#include <future>
#include <stop_token>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "test_util.hpp"

namespace db = sparc::db;
using db::test::eventually;
using db::test::fake_config;
using db::test::FakePool;
using namespace std::chrono_literals;

namespace {

// Runs `f` on another thread; the future holds its exception, if any.
template <typename F>
std::future<void> in_background(F f) {
    return std::async(std::launch::async, std::move(f));
}

// The Cancelled that `f` threw (the test fails if it threw anything else or nothing).
db::Cancelled cancelled_by(std::future<void>& f) {
    REQUIRE(f.wait_for(30s) == std::future_status::ready);
    try {
        f.get();
    } catch (const db::Cancelled& e) {
        return e;
    }
    FAIL("expected db::Cancelled");
    throw;  // unreachable
}

}  // namespace

TEST_CASE("a stop request ends the wait for a connection with Cancelled", "[db][pool][cancel]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config();
    cfg.max_connections = 1;
    cfg.connection_timeout = 60s;
    FakePool pool(cfg, fake);
    auto held = pool.acquire();
    std::stop_source stop;
    auto call = in_background([&] { pool.query("SELECT 1", {}, {.stop = stop.get_token()}); });
    REQUIRE(eventually([&] { return pool.stats().waiting == 1; }));
    stop.request_stop();
    const auto e = cancelled_by(call);
    REQUIRE(e.reason() == db::CancelReason::stop);
    REQUIRE_FALSE(e.statement_may_have_run());
    REQUIRE_THAT(e.what(), Catch::Contains("primary:5432/app"));
    REQUIRE(pool.stats().waiting == 0);
    REQUIRE(fake.count("SELECT 1") == 0);
    held.release();
    REQUIRE_NOTHROW(pool.query("SELECT 1"));
}

TEST_CASE("a deadline ends the wait for a connection with Cancelled, not PoolTimeout",
          "[db][pool][cancel]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config();
    cfg.max_connections = 1;
    cfg.connection_timeout = 60s;
    FakePool pool(cfg, fake);
    auto held = pool.acquire();
    try {
        pool.query("SELECT 1", {}, {.deadline = std::chrono::steady_clock::now() + 50ms});
        FAIL("expected Cancelled");
    } catch (const db::Cancelled& e) {
        REQUIRE(e.reason() == db::CancelReason::deadline);
        REQUIRE_FALSE(e.statement_may_have_run());
        REQUIRE_THAT(e.what(), Catch::Contains("deadline") && Catch::Contains("1 of 1"));
    }
    REQUIRE(pool.stats().waiting == 0);
    SECTION("acquire() takes the same limits") {
        std::stop_source stop;
        auto call = in_background([&] { pool.acquire({.stop = stop.get_token()}); });
        REQUIRE(eventually([&] { return pool.stats().waiting == 1; }));
        stop.request_stop();
        REQUIRE(cancelled_by(call).reason() == db::CancelReason::stop);
        REQUIRE_THROWS_AS(pool.acquire({.deadline = std::chrono::steady_clock::now() + 20ms}),
                          db::Cancelled);
    }
    SECTION("the tighter limit applies: connection_timeout before a later deadline") {
        cfg.connection_timeout = 50ms;
        FakePool tight(cfg, fake);
        auto other = tight.acquire();
        REQUIRE_THROWS_AS(
            tight.query("SELECT 1", {}, {.deadline = std::chrono::steady_clock::now() + 60s}),
            db::PoolTimeout);
    }
}

TEST_CASE("a call already stopped or past its deadline sends nothing", "[db][pool][cancel]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    std::stop_source stop;
    stop.request_stop();
    REQUIRE_THROWS_AS(pool.query("INSERT INTO t VALUES (1)", {}, {.stop = stop.get_token()}),
                      db::Cancelled);
    REQUIRE_THROWS_AS(pool.query("INSERT INTO t VALUES (1)", {},
                                 {.deadline = std::chrono::steady_clock::now() - 1ms}),
                      db::Cancelled);
    REQUIRE_THROWS_AS(pool.acquire({.stop = stop.get_token()}), db::Cancelled);
    auto lease = pool.acquire();
    REQUIRE_THROWS_AS(lease.query("INSERT INTO t VALUES (1)", {}, {.stop = stop.get_token()}),
                      db::Cancelled);
    int runs = 0;
    REQUIRE_THROWS_AS(pool.transaction([&](auto&) { ++runs; }, {.stop = stop.get_token()}),
                      db::Cancelled);
    REQUIRE(runs == 0);
    REQUIRE(fake.count("INSERT INTO t VALUES (1)") == 0);
    REQUIRE_NOTHROW(lease.query("SELECT 1"));
}

TEST_CASE("a stop cancels the running statement: the server confirmed it, so the connection stays",
          "[db][pool][cancel]") {
    db::testing::FakeBackend fake;
    fake.on("SELECT pg_sleep(60)").delays(60s);
    FakePool pool(fake_config(), fake);
    std::stop_source stop;
    auto call =
        in_background([&] { pool.query("SELECT pg_sleep(60)", {}, {.stop = stop.get_token()}); });
    REQUIRE(fake.wait_for_running(1, 10s));
    stop.request_stop();
    const auto e = cancelled_by(call);
    REQUIRE(e.reason() == db::CancelReason::stop);
    REQUIRE_FALSE(e.statement_may_have_run());
    REQUIRE_THAT(e.what(), Catch::Contains("server cancelled"));
    const auto calls = fake.calls_on("primary");
    REQUIRE(calls.back().sql == "SELECT pg_sleep(60)");
    REQUIRE(calls.back().sqlstate == "57014");
    // The same connection serves the next call: none was closed.
    REQUIRE_NOTHROW(pool.query("SELECT 1"));
    REQUIRE(fake.connections_opened() == fake.open_connections());
}

TEST_CASE("a deadline during a statement ends it with Cancelled", "[db][pool][cancel]") {
    db::testing::FakeBackend fake;
    fake.on("SELECT pg_sleep(60)").delays(60s);
    FakePool pool(fake_config(), fake);
    try {
        pool.query("SELECT pg_sleep(60)", {},
                   {.deadline = std::chrono::steady_clock::now() + 50ms});
        FAIL("expected Cancelled");
    } catch (const db::Cancelled& e) {
        REQUIRE(e.reason() == db::CancelReason::deadline);
        // The server answered the deadline's cancel, as PostgreSQL does: the statement did
        // not run and the connection is kept.
        REQUIRE_FALSE(e.statement_may_have_run());
        REQUIRE_THAT(e.what(), Catch::Contains("the server cancelled the statement"));
    }
    REQUIRE(fake.calls().back().sqlstate == "57014");
    REQUIRE_NOTHROW(pool.query("SELECT 1"));
    REQUIRE(fake.connections_opened() == fake.open_connections());
}

TEST_CASE("a deadline on a server that does not answer the cancel discards the connection",
          "[db][pool][cancel]") {
    db::testing::FakeBackend fake;
    fake.on("SELECT pg_sleep(60)").delays(60s);
    fake.host("primary").ignore_cancel();
    FakePool pool(fake_config(), fake);
    try {
        pool.query("SELECT pg_sleep(60)", {},
                   {.deadline = std::chrono::steady_clock::now() + 50ms});
        FAIL("expected Cancelled");
    } catch (const db::Cancelled& e) {
        REQUIRE(e.reason() == db::CancelReason::deadline);
        // No answer to the cancel: the connection was closed and the statement may have run.
        REQUIRE(e.statement_may_have_run());
        REQUIRE_THAT(e.what(), Catch::Contains("did not answer the cancel request"));
    }
    REQUIRE(eventually([&] { return fake.connections_opened() - fake.open_connections() == 1; }));
    REQUIRE_NOTHROW(pool.query("SELECT 1"));
}

TEST_CASE("a stop on a server that does not answer the cancel discards the connection",
          "[db][pool][cancel]") {
    db::testing::FakeBackend fake;
    fake.on("SELECT pg_sleep(60)").delays(60s);
    fake.host("primary").ignore_cancel();
    FakePool pool(fake_config(), fake);
    std::stop_source stop;
    auto call =
        in_background([&] { pool.query("SELECT pg_sleep(60)", {}, {.stop = stop.get_token()}); });
    REQUIRE(fake.wait_for_running(1, 30s));
    stop.request_stop();
    const auto e = cancelled_by(call);
    REQUIRE(e.reason() == db::CancelReason::stop);
    REQUIRE(e.statement_may_have_run());
    REQUIRE(eventually([&] { return fake.connections_opened() - fake.open_connections() == 1; }));
    REQUIRE_NOTHROW(pool.query("SELECT 1"));
}

TEST_CASE("a stop inside transaction() rolls back and is never retried",
          "[db][transaction][cancel]") {
    db::testing::FakeBackend fake;
    fake.on("UPDATE slow").delays(60s);
    FakePool pool(fake_config(), fake);
    std::stop_source stop;
    std::atomic<int> runs{0};
    auto call = in_background([&] {
        pool.transaction(
            [&](auto& tx) {
                ++runs;
                tx.query("UPDATE slow");
            },
            {.retries = 5, .stop = stop.get_token()});
    });
    REQUIRE(fake.wait_for_running(1, 10s));
    stop.request_stop();
    const auto e = cancelled_by(call);
    REQUIRE(e.reason() == db::CancelReason::stop);
    REQUIRE_FALSE(e.statement_may_have_run());  // rolled back: nothing of it committed
    REQUIRE(runs == 1);
    REQUIRE(fake.count("COMMIT") == 0);
    REQUIRE(pool.pool_metrics()
                .transactions[static_cast<std::size_t>(db::TransactionOutcome::rolled_back)]
                .value() == 1);
}

TEST_CASE("a stop during COMMIT waits for it: the transaction commits",
          "[db][transaction][cancel]") {
    db::testing::FakeBackend fake;
    fake.on_commit().delays(300ms);
    FakePool pool(fake_config(), fake);
    std::stop_source stop;
    std::future<int> call = std::async(std::launch::async, [&] {
        return pool.transaction(
            [&](auto& tx) {
                tx.query("UPDATE t SET x = 1");
                return 7;
            },
            {.stop = stop.get_token()});
    });
    REQUIRE(eventually([&] {
        const auto calls = fake.calls_on("primary");
        return !calls.empty() && calls.back().sql == "COMMIT";
    }));
    stop.request_stop();
    REQUIRE(call.get() == 7);
    REQUIRE(pool.pool_metrics()
                .transactions[static_cast<std::size_t>(db::TransactionOutcome::committed)]
                .value() == 1);
}

TEST_CASE("a stop ends transaction()'s wait between attempts", "[db][transaction][cancel]") {
    db::testing::FakeBackend fake;
    fake.on("UPDATE accounts").fails("40001", "could not serialize access");
    FakePool pool(fake_config(), fake);
    std::stop_source stop;
    std::atomic<int> runs{0};
    auto call = in_background([&] {
        pool.transaction(
            [&](auto& tx) {
                ++runs;
                tx.query("UPDATE accounts");
            },
            {.timeout = 600s,
             .retries = 100,
             .backoff_base = 300s,
             .backoff_max = 300s,
             .stop = stop.get_token()});
    });
    REQUIRE(eventually([&] { return pool.pool_metrics().retries[0].value() >= 1; }));
    stop.request_stop();
    const auto e = cancelled_by(call);
    REQUIRE(e.reason() == db::CancelReason::stop);
    REQUIRE(runs >= 1);
    REQUIRE(fake.count("COMMIT") == 0);
}

TEST_CASE("transaction()'s own deadline gives Cancelled when it is the tighter limit",
          "[db][transaction][cancel]") {
    db::testing::FakeBackend fake;
    fake.on("UPDATE slow").delays(60s);
    FakePool pool(fake_config(), fake);
    SECTION("the caller's deadline is tighter: Cancelled") {
        try {
            pool.transaction([](auto& tx) { tx.query("UPDATE slow"); },
                             {.timeout = 60s, .deadline = std::chrono::steady_clock::now() + 50ms});
            FAIL("expected Cancelled");
        } catch (const db::Cancelled& e) {
            REQUIRE(e.reason() == db::CancelReason::deadline);
            REQUIRE_FALSE(e.statement_may_have_run());
            REQUIRE_THAT(e.what(), Catch::Contains("rolled back") &&
                                       Catch::Contains("COMMIT was never sent") &&
                                       !Catch::Contains("may have completed"));
        }
    }
    SECTION("the transaction's timeout is tighter: the timeout error, as before") {
        REQUIRE_THROWS_AS(
            pool.transaction([](auto& tx) { tx.query("UPDATE slow"); },
                             {.timeout = 50ms, .deadline = std::chrono::steady_clock::now() + 60s}),
            db::QueryTimeout);
    }
    REQUIRE(fake.count("COMMIT") == 0);
}

TEST_CASE("a statement run inside transaction() on the pool obeys the transaction's stop",
          "[db][transaction][cancel]") {
    db::testing::FakeBackend fake;
    fake.on("SELECT pg_sleep(60)").delays(60s);
    FakePool pool(fake_config(), fake);
    std::stop_source stop;
    auto call = in_background([&] {
        pool.transaction([&](auto&) { pool.query("SELECT pg_sleep(60)"); },
                         {.stop = stop.get_token()});
    });
    REQUIRE(fake.wait_for_running(1, 10s));
    stop.request_stop();
    REQUIRE(cancelled_by(call).reason() == db::CancelReason::stop);
}

TEST_CASE("db::Client passes the limits through", "[db][client][cancel]") {
    db::testing::FakeBackend fake;
    fake.on("SELECT pg_sleep(60)").delays(60s);
    FakePool pool(fake_config(), fake);
    db::Client& client = pool;
    std::stop_source stop;
    auto call =
        in_background([&] { client.query("SELECT pg_sleep(60)", {}, {.stop = stop.get_token()}); });
    REQUIRE(fake.wait_for_running(1, 10s));
    stop.request_stop();
    REQUIRE(cancelled_by(call).reason() == db::CancelReason::stop);
}

TEST_CASE("for_each obeys the caller's stop and deadline", "[db][pool][stream][cancel]") {
    db::testing::FakeBackend fake;
    fake.on("SELECT pg_sleep(60)").delays(60s);
    FakePool pool(fake_config(), fake);
    std::size_t rows = 0;
    std::stop_source stop;
    auto call = in_background([&] {
        pool.for_each("SELECT pg_sleep(60)", {}, [&](const db::Row&) { ++rows; },
                      {.stop = stop.get_token()});
    });
    REQUIRE(fake.wait_for_running(1, 10s));
    stop.request_stop();
    const auto e = cancelled_by(call);
    REQUIRE(e.reason() == db::CancelReason::stop);
    REQUIRE_FALSE(e.statement_may_have_run());
    REQUIRE_THROWS_AS(pool.for_each("SELECT pg_sleep(60)", {}, [&](const db::Row&) { ++rows; },
                                    {.deadline = std::chrono::steady_clock::now() + 50ms}),
                      db::Cancelled);
    REQUIRE(rows == 0);
    REQUIRE_NOTHROW(pool.query("SELECT 1"));
}

TEST_CASE("a deadline or stop that comes after the last statement: no COMMIT, rolled back",
          "[db][transaction][cancel]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    // The function's own work (no statement) outlasts the limit after its last statement.
    const auto work_until = [](std::chrono::steady_clock::time_point t) {
        while (std::chrono::steady_clock::now() <= t) std::this_thread::yield();
    };
    SECTION("the caller's deadline: Cancelled") {
        const auto deadline = std::chrono::steady_clock::now() + 50ms;
        try {
            pool.transaction(
                [&](auto& tx) {
                    tx.query("UPDATE t SET x = 1");
                    work_until(deadline);
                },
                {.deadline = deadline});
            FAIL("expected Cancelled");
        } catch (const db::Cancelled& e) {
            CHECK(e.reason() == db::CancelReason::deadline);
            CHECK_FALSE(e.statement_may_have_run());
            CHECK_THAT(e.what(), Catch::Contains("COMMIT was never sent"));
        }
    }
    SECTION("the transaction's timeout: QueryTimeout saying it rolled back") {
        try {
            const auto deadline = std::chrono::steady_clock::now() + 50ms;
            pool.transaction(
                [&](auto& tx) {
                    tx.query("UPDATE t SET x = 1");
                    work_until(deadline);
                },
                {.timeout = 50ms});
            FAIL("expected QueryTimeout");
        } catch (const db::QueryTimeout& e) {
            CHECK_THAT(e.what(), Catch::StartsWith("transaction() reached its 50 ms timeout and "
                                                   "was rolled back: COMMIT was never sent"));
        }
    }
    SECTION("a stop: Cancelled") {
        std::stop_source stop;
        try {
            pool.transaction(
                [&](auto& tx) {
                    tx.query("UPDATE t SET x = 1");
                    stop.request_stop();
                },
                {.stop = stop.get_token()});
            FAIL("expected Cancelled");
        } catch (const db::Cancelled& e) {
            CHECK(e.reason() == db::CancelReason::stop);
            CHECK_THAT(e.what(), Catch::Contains("COMMIT was never sent"));
        }
    }
    CHECK(fake.count("COMMIT") == 0);
    CHECK(fake.count("ROLLBACK") == 1);
    CHECK(pool.pool_metrics()
              .transactions[static_cast<std::size_t>(db::TransactionOutcome::rolled_back)]
              .value() == 1);
}

TEST_CASE("a COMMIT sent before the caller's deadline is waited for past it",
          "[db][transaction][cancel]") {
    db::testing::FakeBackend fake;
    fake.on_commit().delays(300ms);
    FakePool pool(fake_config(), fake);
    const int got = pool.transaction(
        [&](auto& tx) {
            tx.query("UPDATE t SET x = 1");
            return 7;
        },
        {.deadline = std::chrono::steady_clock::now() + 100ms});
    CHECK(got == 7);
    CHECK(pool.pool_metrics()
              .transactions[static_cast<std::size_t>(db::TransactionOutcome::committed)]
              .value() == 1);
}

TEST_CASE("the caller's deadline ends transaction()'s wait for a connection with Cancelled",
          "[db][transaction][cancel]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config();
    cfg.max_connections = 1;
    cfg.connection_timeout = 30s;
    int pool_timeouts = 0;
    db::Hooks hooks;
    hooks.on_pool_timeout = [&](const db::PoolTimeoutEvent&) { ++pool_timeouts; };
    FakePool pool(cfg, fake, hooks);
    auto held = pool.acquire();
    int runs = 0;
    try {
        pool.transaction([&](auto&) { ++runs; },
                         {.deadline = std::chrono::steady_clock::now() + 100ms});
        FAIL("expected Cancelled");
    } catch (const db::Cancelled& e) {
        CHECK(e.reason() == db::CancelReason::deadline);
    }
    CHECK(runs == 0);
    // The pool was not too small for its own limits: no pool timeout is counted.
    CHECK(pool_timeouts == 0);
}

TEST_CASE("acquire() with a deadline already passed is Cancelled, a connection free or not",
          "[db][pool][cancel]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    REQUIRE_NOTHROW(pool.query("SELECT 1"));  // a connection is open and idle
    try {
        auto lease = pool.acquire({.deadline = std::chrono::steady_clock::now() - 1s});
        FAIL("a lease was handed out past the caller's deadline");
    } catch (const db::Cancelled& e) {
        CHECK(e.reason() == db::CancelReason::deadline);
    }
}

TEST_CASE("retry_if is not asked about a statement the caller's stop or deadline ended",
          "[db][transaction][cancel]") {
    db::testing::FakeBackend fake;
    fake.on("UPDATE slow").delays(60s);
    FakePool pool(fake_config(), fake);
    int runs = 0;
    int asked = 0;
    const auto retry_always = [&](const db::Error&) {
        ++asked;
        return true;
    };
    SECTION("a stop") {
        std::stop_source stop;
        auto call = in_background([&] {
            pool.transaction(
                [&](auto& tx) {
                    ++runs;
                    tx.query("UPDATE slow");
                },
                {.retries = 3, .retry_if = retry_always, .stop = stop.get_token()});
        });
        REQUIRE(fake.wait_for_running(1, 10s));
        stop.request_stop();
        CHECK(cancelled_by(call).reason() == db::CancelReason::stop);
    }
    SECTION("a statement's own deadline") {
        try {
            pool.transaction(
                [&](auto& tx) {
                    ++runs;
                    tx.query("UPDATE slow", {},
                             {.deadline = std::chrono::steady_clock::now() + 50ms});
                },
                {.retries = 3, .retry_if = retry_always});
            FAIL("expected Cancelled");
        } catch (const db::Cancelled& e) {
            CHECK(e.reason() == db::CancelReason::deadline);
        }
    }
    CHECK(runs == 1);
    CHECK(asked == 0);
    CHECK(fake.count("COMMIT") == 0);
}
