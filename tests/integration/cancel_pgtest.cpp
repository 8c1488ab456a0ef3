// The caller's deadline and stop token against the real primary: the server cancels the
// statement and the connection is kept; a server that does not answer the cancel loses the
// connection, within the cancel grace period, and the caller hears the statement may have run.

#include <atomic>
#include <chrono>
#include <future>
#include <stop_token>
#include <string>

#include <sparc_test/fault_proxy.hpp>

#include "pg_util.hpp"

using namespace std::chrono_literals;
using namespace sparc::pgtest;

namespace {
std::string backend_pid(db::Database& pool) {
    return pool.query("SELECT pg_backend_pid()::text").front()[0].as<std::string>();
}
}  // namespace

TEST_CASE("a stop request cancels the statement on the server and keeps the connection",
          "[pool][cancel]") {
    auto cfg = config("pg-stop");
    cfg.max_connections = 1;
    cfg.statement_timeout = 60s;
    cfg.query_timeout = 120s;
    db::Database pool(cfg);
    const auto pid = backend_pid(pool);
    std::stop_source stop;
    auto call = std::async(std::launch::async, [&] {
        pool.query("SELECT pg_sleep(60)", {}, {.stop = stop.get_token()});
    });
    REQUIRE(eventually([&] { return sleeping_statements("pg-stop") == 1; }, 30s));
    stop.request_stop();
    REQUIRE(call.wait_for(60s) == std::future_status::ready);
    try {
        call.get();
        FAIL("expected Cancelled");
    } catch (const db::Cancelled& e) {
        REQUIRE(e.reason() == db::CancelReason::stop);
        REQUIRE_FALSE(e.statement_may_have_run());
        REQUIRE(no_password(e.what()));
    }
    REQUIRE(sleeping_statements("pg-stop") == 0);
    // The server confirmed the cancel: the same session serves the next call.
    REQUIRE(eventually([&] { return pool.stats().in_use == 0; }));
    REQUIRE(backend_pid(pool) == pid);
}

TEST_CASE("a deadline cancels the statement on the server; a wait for a connection ends too",
          "[pool][cancel]") {
    auto cfg = config("pg-deadline");
    cfg.max_connections = 1;
    cfg.statement_timeout = 60s;
    cfg.query_timeout = 120s;
    cfg.connection_timeout = 60s;
    db::Database pool(cfg);
    const auto pid = backend_pid(pool);
    try {
        pool.query("SELECT pg_sleep(60)", {},
                   {.deadline = std::chrono::steady_clock::now() + 300ms});
        FAIL("expected Cancelled");
    } catch (const db::Cancelled& e) {
        REQUIRE(e.reason() == db::CancelReason::deadline);
        REQUIRE_FALSE(e.statement_may_have_run());
    }
    REQUIRE(eventually([&] { return sleeping_statements("pg-deadline") == 0; }, 30s));
    REQUIRE(eventually([&] { return pool.stats().in_use == 0; }));
    REQUIRE(backend_pid(pool) == pid);

    auto held = pool.acquire();
    REQUIRE_THROWS_AS(
        pool.query("SELECT 1", {}, {.deadline = std::chrono::steady_clock::now() + 200ms}),
        db::Cancelled);
}

TEST_CASE("a stop inside transaction() rolls back on the server", "[pool][cancel]") {
    auto cfg = config("pg-stop-tx");
    cfg.statement_timeout = 60s;
    cfg.query_timeout = 120s;
    db::Database pool(cfg);
    pool.query("CREATE TABLE IF NOT EXISTS stop_tx (id int)");
    pool.query("TRUNCATE stop_tx");
    std::stop_source stop;
    std::atomic<int> runs{0};
    auto call = std::async(std::launch::async, [&] {
        pool.transaction(
            [&](auto& tx) {
                ++runs;
                tx.query("INSERT INTO stop_tx VALUES (1)");
                tx.query("SELECT pg_sleep(60)");
            },
            {.stop = stop.get_token()});
    });
    REQUIRE(eventually([&] { return sleeping_statements("pg-stop-tx") == 1; }, 30s));
    stop.request_stop();
    REQUIRE(call.wait_for(60s) == std::future_status::ready);
    REQUIRE_THROWS_AS(call.get(), db::Cancelled);
    REQUIRE(runs == 1);
    REQUIRE(pool.query("SELECT count(*) FROM stop_tx").front()[0].as<int>() == 0);
}

TEST_CASE("a stop on a frozen server ends the call within the cancel grace, not query_timeout",
          "[faults][cancel]") {
    sparc::testing::FaultProxy proxy("127.0.0.1", cluster().port(Node::primary));
    auto cfg = config("pg-stop-frozen");
    cfg.primary = through(proxy);
    cfg.statement_timeout = 590s;
    cfg.query_timeout = 600s;  // the call must not wait for this
    db::Database pool(cfg);
    REQUIRE(pool.query("SELECT 1").front()[0].as<int>() == 1);
    std::stop_source stop;
    auto call = std::async(std::launch::async, [&] {
        pool.query("SELECT pg_sleep(600)", {}, {.stop = stop.get_token()});
    });
    REQUIRE(eventually([&] { return sleeping_statements("pg-stop-frozen") == 1; }, 30s));
    proxy.stall(true);  // neither the statement's connection nor the cancel request gets through
    stop.request_stop();
    // Bounded by the cancel grace period (plus a loaded machine's slack), far below the
    // 600 s query_timeout: a wait that long fails here.
    REQUIRE(call.wait_for(120s) == std::future_status::ready);
    try {
        call.get();
        FAIL("expected Cancelled");
    } catch (const db::Cancelled& e) {
        REQUIRE(e.reason() == db::CancelReason::stop);
        REQUIRE(e.statement_may_have_run());  // no answer: it may have completed
    }
    proxy.stall(false);
    cluster().psql(Node::primary,
                   "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                   "application_name = 'pg-stop-frozen' AND query LIKE 'SELECT pg_sleep%'");
    REQUIRE(pool.query("SELECT 2").front()[0].as<int>() == 2);
}
