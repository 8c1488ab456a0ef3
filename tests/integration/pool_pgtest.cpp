// The pool against the real primary: types, timeouts, dead connections, restarts, exhaustion.

#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <sparc_test/fault_proxy.hpp>

#include "pg_util.hpp"
#include "shared/user_code.hpp"

using namespace std::chrono_literals;
using namespace sparc::pgtest;

TEST_CASE("parameters of every supported type round-trip", "[pool]") {
    db::Database pool(config("pg-types"));
    const std::string tricky = "it's \"quoted\" \\ and ünïcødé ✓; DROP TABLE x; --";
    const std::optional<std::int64_t> none;
    const std::optional<std::string> some = "present";
    auto r = pool.query(
        "SELECT $1::bigint AS big, $2::bigint AS small, $3::int AS i, $4::float8 AS f,"
        " $5::bool AS t, $6::bool AS f2, $7::text AS s, $8::text AS empty, $9::int AS n1,"
        " $10::bigint AS n2, $11::text AS o, $12::float8 AS nan, $13::float8 AS inf,"
        " $14::numeric AS num",
        {std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min(), -42,
         0.1, true, false, tricky, "", std::nullopt, none, some,
         std::numeric_limits<double>::quiet_NaN(), -std::numeric_limits<double>::infinity(),
         1.5e300});
    REQUIRE(r.size() == 1);
    const auto row = r.front();
    REQUIRE(row["big"].as<std::int64_t>() == std::numeric_limits<std::int64_t>::max());
    REQUIRE(row["small"].as<std::int64_t>() == std::numeric_limits<std::int64_t>::min());
    REQUIRE(row["i"].as<int>() == -42);
    REQUIRE(row["f"].as<double>() == 0.1);
    REQUIRE(row["t"].as<bool>());
    REQUIRE_FALSE(row["f2"].as<bool>());
    REQUIRE(row["s"].as<std::string>() == tricky);
    REQUIRE(row["empty"].as<std::string>().empty());
    REQUIRE_FALSE(row["empty"].is_null());
    REQUIRE(row["n1"].is_null());
    REQUIRE(row["n2"].as<std::optional<std::int64_t>>() == std::nullopt);
    REQUIRE(row["o"].as<std::optional<std::string>>() == "present");
    REQUIRE(std::isnan(row["nan"].as<double>()));
    REQUIRE(row["inf"].as<double>() == -std::numeric_limits<double>::infinity());
    REQUIRE(row["num"].as<double>() == 1.5e300);
    REQUIRE_THROWS_AS(row["n1"].as<int>(), db::ConversionError);
    REQUIRE_THROWS_AS(row["s"].as<int>(), db::ConversionError);

    pool.query("CREATE TEMP TABLE IF NOT EXISTS never_spliced (v text)");
    REQUIRE(pool.query("SELECT $1::text = $2::text", {tricky, tricky}).front()[0].as<bool>());
}

TEST_CASE("the server's statement_timeout gives QueryTimeout and the pool carries on", "[pool]") {
    auto cfg = config("pg-statement-timeout");
    cfg.statement_timeout = 200ms;
    cfg.query_timeout = 5s;
    db::Database pool(cfg);
    try {
        pool.query("SELECT pg_sleep(2)");
        FAIL("expected QueryTimeout");
    } catch (const db::QueryTimeout& e) {
        REQUIRE_FALSE(e.client_side());
        REQUIRE(e.sqlstate() == "57014");
    }
    REQUIRE(pool.query("SELECT 7").front()[0].as<int>() == 7);
    // A health check may hold a connection for a moment.
    REQUIRE(eventually([&] { return pool.stats().in_use == 0; }));
}

TEST_CASE("a stalled network ends in a client-side QueryTimeout, not a hang", "[faults]") {
    sparc::testing::FaultProxy proxy("127.0.0.1", cluster().port(Node::primary));
    auto cfg = config("pg-stall");
    cfg.primary = through(proxy);
    cfg.statement_timeout = 500ms;
    cfg.query_timeout = 1s;
    cfg.connection_timeout = 10s;  // reconnecting after the stall is not what is timed
    db::Database pool(cfg);
    REQUIRE(pool.query("SELECT 1").front()[0].as<int>() == 1);
    proxy.stall(true);
    const auto start = std::chrono::steady_clock::now();
    try {
        pool.query("SELECT 2");
        FAIL("expected QueryTimeout");
    } catch (const db::QueryTimeout& e) {
        REQUIRE(e.client_side());
    }
    // Ended by query_timeout, not by a TCP timeout minutes later; the bound is generous because
    // how fast the cancel lands on a loaded machine is not the point (bench/ measures it).
    const auto took = std::chrono::steady_clock::now() - start;
    INFO("took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
    CHECK(took < cfg.query_timeout + 30s);
    proxy.stall(false);
    // The stalled connection was discarded; the pool serves again through the proxy.
    REQUIRE(pool.query("SELECT 3").front()[0].as<int>() == 3);
}

TEST_CASE("a pool destroyed while a cancel request is stuck leaves nothing behind", "[faults]") {
    sparc::testing::FaultProxy proxy("127.0.0.1", cluster().port(Node::primary));
    auto cfg = config("pg-stuck-cancel");
    cfg.primary = through(proxy);
    cfg.statement_timeout = 200ms;
    cfg.query_timeout = 300ms;
    {
        db::Database pool(cfg);
        REQUIRE(pool.query("SELECT 1").front()[0].as<int>() == 1);
        proxy.stall(true);  // the cancel request goes through the proxy too, and hangs there
        REQUIRE_THROWS_AS(pool.query("SELECT 2"), db::QueryTimeout);
    }  // destroyed with the cancel request still stuck
    proxy.stall(false);
    // The canceller finishes its request now, after the pool and its backend are gone; under
    // the sanitizers any touch of freed state is a report.
    REQUIRE(eventually([&] { return proxy.connections() == 0; }, 30s));
}

TEST_CASE("terminating every pooled backend loses no subsequent query", "[faults]") {
    auto cfg = config("pg-terminate");
    cfg.min_connections = 4;
    // Every checkout checks the socket: the sessions were used (or opened) a moment ago.
    cfg.alive_bypass_window = 0ms;
    db::Database pool(cfg);
    REQUIRE(eventually([&] { return pool.stats().idle >= 4; }));
    for (int round = 0; round < 3; ++round) {
        const std::string pids = cluster().psql(
            Node::primary,
            "SELECT coalesce(string_agg(pid::text, ','), '0') FROM pg_stat_activity WHERE "
            "application_name = 'pg-terminate'");
        REQUIRE(terminate_sessions("pg-terminate") >= 1);
        // Once the sessions are gone, each has said goodbye on its socket: the pool sees that
        // before sending. (A statement sent to a session still ending would count as sent and
        // rightly not be run again.)
        REQUIRE(eventually([&] {
            return cluster().psql(
                       Node::primary,
                       "SELECT count(*) FROM pg_stat_activity WHERE pid IN (" + pids + ")") == "0";
        }));
        for (int i = 0; i < 50; ++i) {
            REQUIRE(pool.query("SELECT $1::int", {i}).front()[0].as<int>() == i);
        }
    }
}

TEST_CASE(
    "inside the alive-bypass window a session the server ended fails one statement, "
    "not rerun, and the pool checks every other session before using it",
    "[faults]") {
    auto cfg = config("pg-bypass");
    cfg.min_connections = 4;
    cfg.max_connections = 4;
    cfg.alive_bypass_window = 60s;  // every session counts as just used
    cfg.health_check_period = 60s;  // no check of its own in between
    db::Database pool(cfg);
    pool.query("DROP TABLE IF EXISTS bypass_marks");
    pool.query("CREATE TABLE bypass_marks (i int NOT NULL)");
    REQUIRE(eventually([&] { return pool.stats().idle >= 4; }));
    const std::string pids = cluster().psql(
        Node::primary,
        "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE application_name = "
        "'pg-bypass'");
    REQUIRE(terminate_sessions("pg-bypass") == 4);
    REQUIRE(eventually([&] {
        return cluster().psql(
                   Node::primary,
                   "SELECT count(*) FROM pg_stat_activity WHERE pid IN (" + pids + ")") == "0";
    }));
    int failures = 0;
    for (int i = 0; i < 20; ++i) {
        try {
            pool.query("INSERT INTO bypass_marks VALUES ($1)", {i});
        } catch (const db::ConnectionError& e) {
            // Sent into a session taken as alive: it may have run, so it is not run again.
            CHECK(e.statement_sent());
            ++failures;
        }
    }
    // The first lost session makes the others check their sockets: they are replaced before a
    // statement reaches them.
    CHECK(failures <= 1);
    CHECK(cluster().psql(Node::primary, "SELECT count(*) FROM bypass_marks") ==
          std::to_string(20 - failures));
    CHECK(cluster().psql(Node::primary, "SELECT count(DISTINCT i) FROM bypass_marks") ==
          std::to_string(20 - failures));
    pool.query("DROP TABLE bypass_marks");
}

TEST_CASE("the pool survives a primary restart", "[faults]") {
    auto cfg = config("pg-restart");
    cfg.min_connections = 3;
    db::Database pool(cfg);
    REQUIRE(eventually([&] { return pool.stats().idle >= 3; }));
    std::atomic<bool> stop{false};
    std::atomic<int> ok_before{0};
    std::atomic<int> ok_after{0};
    std::atomic<bool> restarted{false};
    std::atomic<int> untyped{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            while (!stop) {
                try {
                    pool.query("SELECT 1 FROM pg_class LIMIT 1");
                    ++(restarted ? ok_after : ok_before);
                } catch (const db::Error&) {
                    // Expected while the server is down; typed.
                } catch (...) {
                    ++untyped;
                }
            }
        });
    }
    // The load is running (rather than a fixed pause before the restart).
    const bool loaded = eventually([&] { return ok_before >= 50; }, 60s);
    cluster().restart_node(Node::primary, /*immediate=*/true);
    restarted = true;
    const bool recovered = eventually([&] { return ok_after > 100; }, 120s);
    stop = true;
    for (auto& t : threads) t.join();
    REQUIRE(loaded);
    REQUIRE(recovered);
    REQUIRE(untyped == 0);
    REQUIRE(pool.query("SELECT 1").front()[0].as<int>() == 1);
}

// The real backend's cancel path: PQcancel on the backend's canceller thread, while the
// caller's thread waits for the result (also run under ThreadSanitizer by scripts/test.sh).
TEST_CASE("the client's query timeout cancels the statement on the server", "[pool]") {
    auto cfg = config("pg-query-timeout");
    cfg.max_connections = 1;
    cfg.statement_timeout = 60s;  // the server would let it run
    cfg.query_timeout = 120s;
    db::Database pool(cfg);
    try {
        pool.query("SELECT pg_sleep(60)", {}, {.timeout = 300ms});
        FAIL("expected QueryTimeout");
    } catch (const db::QueryTimeout& e) {
        REQUIRE(e.client_side());
        REQUIRE(no_password(e.what()));
    }
    // The cancel reached the server: the statement stops there, not 60 s later.
    REQUIRE(eventually([&] { return sleeping_statements("pg-query-timeout") == 0; }, 30s));
    REQUIRE(pool.query("SELECT 5").front()[0].as<int>() == 5);
    REQUIRE(eventually([&] { return pool.stats().in_use == 0; }));  // a health check may hold one
}

TEST_CASE("shutdown cancels statements still running after the grace period", "[pool]") {
    auto cfg = config("pg-shutdown");
    cfg.min_connections = 2;
    cfg.statement_timeout = 60s;
    cfg.query_timeout = 120s;
    db::Database pool(cfg);
    std::atomic<int> closed{0};
    std::atomic<int> other_errors{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < 2; ++t) {
        workers.emplace_back([&] {
            try {
                pool.query("SELECT pg_sleep(60)");
            } catch (const db::PoolClosed&) {  // cancelled by the shutdown, and said so
                ++closed;
            } catch (...) {
                ++other_errors;
            }
        });
    }
    const bool running = eventually([&] { return sleeping_statements("pg-shutdown") == 2; });
    pool.shutdown(200ms);
    for (auto& w : workers) w.join();
    REQUIRE(running);
    REQUIRE(closed == 2);
    REQUIRE(other_errors == 0);
    REQUIRE_THROWS_AS(pool.query("SELECT 1"), db::PoolClosed);
    // Cancelled on the server and the sessions closed.
    REQUIRE(eventually([&] { return sleeping_statements("pg-shutdown") == 0; }, 30s));
    REQUIRE(eventually(
        [&] {
            return cluster().psql(Node::primary,
                                  "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                  "'pg-shutdown'") == "0";
        },
        30s));
}

TEST_CASE("exhaustion gives PoolTimeout after connection_timeout", "[pool]") {
    auto cfg = config("pg-exhaust");
    // Both connections opened in the background first: opening one within 300 ms is not what
    // this tests (under ThreadSanitizer on a loaded machine it takes longer).
    cfg.min_connections = 2;
    cfg.max_connections = 2;
    cfg.connection_timeout = 300ms;
    db::Database pool(cfg);
    REQUIRE(eventually([&] { return pool.stats().idle == 2; }));
    auto a = pool.acquire();
    auto b = pool.acquire();
    const auto start = std::chrono::steady_clock::now();
    try {
        pool.query("SELECT 1");
        FAIL("expected PoolTimeout");
    } catch (const db::PoolTimeout& e) {
        REQUIRE(e.pool_size() == 2);
        REQUIRE(std::chrono::steady_clock::now() - start >= 300ms);
        REQUIRE(no_password(e.what()));
    }
}

TEST_CASE("server errors carry their SQLSTATE, never the password", "[pool]") {
    db::Database pool(config("pg-errors"));
    try {
        pool.query("SELECT * FROM no_such_table_here");
        FAIL("expected SqlError");
    } catch (const db::SqlError& e) {
        REQUIRE(e.sqlstate() == "42P01");
        REQUIRE_THAT(e.what(), Catch::Contains("no_such_table_here"));
    }
    auto bad = config("pg-bad-password");
    auto ep = db::Endpoint::parse(cluster().primary_url);
    ep.set_option("password", "wrong-" + cluster().password);
    bad.primary = ep;
    bad.min_connections = 0;
    db::Database wrong(bad);
    try {
        wrong.query("SELECT 1");
        FAIL("expected ConnectionError");
    } catch (const db::ConnectionError& e) {
        REQUIRE_THAT(e.what(), Catch::Contains("password authentication failed"));
        REQUIRE(no_password(e.what()));
    }
    REQUIRE(no_password(wrong.metrics_text()));
    REQUIRE(no_password(wrong.health({.timeout = 500ms}).to_json()));
}

TEST_CASE("prepared statements are cached per connection", "[pool]") {
    auto cfg = config("pg-prepared");
    cfg.max_connections = 1;
    db::Database pool(cfg);
    for (int i = 0; i < 20; ++i) pool.query("SELECT $1::int + 1", {i});
    const auto prepared =
        pool.query("SELECT count(*) FROM pg_prepared_statements WHERE statement = $1",
                   {"SELECT $1::int + 1"}, {.prepare = false});
    REQUIRE(prepared.front()[0].as<int>() == 1);
}

TEST_CASE("user code written against ConnectionPool<B>& runs on PostgreSQL", "[pool]") {
    db::Database pool(config("pg-user-code"));
    pool.query("DROP TABLE IF EXISTS view_log");
    pool.query("DROP TABLE IF EXISTS view_counts");
    pool.query("CREATE TABLE view_counts (id bigint PRIMARY KEY, views bigint NOT NULL DEFAULT 0)");
    pool.query(
        "CREATE TABLE view_log (view_id bigint PRIMARY KEY, video_id bigint, user_id bigint)");
    pool.query("INSERT INTO view_counts (id) VALUES (1)");
    REQUIRE(sparc::example::record_view(pool, 1, 10, 100) == 1);
    REQUIRE(sparc::example::record_view(pool, 1, 11, 101) == 2);
    REQUIRE(sparc::example::record_view(pool, 1, 11, 101) == 2);  // same view: counted once
}

TEST_CASE("a session's own default_transaction_read_only is not taken for a fenced primary",
          "[pool]") {
    auto cfg = config("pg-session-read-only");
    cfg.min_connections = 4;
    cfg.max_connections = 4;
    db::Database pool(cfg);
    REQUIRE(eventually([&] { return pool.stats().total == 4; }));
    pool.query("DROP TABLE IF EXISTS session_ro");
    pool.query("CREATE TABLE session_ro (v int)");
    {
        auto lease = pool.acquire();
        // Session settings travel with the connection: this one stays read-only when released.
        lease.query("SET default_transaction_read_only = on");
        try {
            lease.query("INSERT INTO session_ro VALUES (1)");
            FAIL("a read-only session took a write");
        } catch (const db::SqlError& e) {
            CHECK(e.sqlstate() == "25006");
        }
    }
    // Neither that refusal nor the checks that later probe the read-only session drop the
    // primary's connections: the server takes writes.
    for (int i = 0; i < 20; ++i) CHECK(pool.query("SELECT 1").front()[0].as<int>() == 1);
    CHECK(pool.health({.timeout = 2s}).status == db::HealthStatus::healthy);
    CHECK(eventually([&] { return pool.stats().total == 4; }));
    CHECK(metric_sum(pool.metrics_text(), "sparc_db_connections_closed_total") == 0);
}
