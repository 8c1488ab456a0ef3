// ConnectionPool::for_each against PostgreSQL: millions of rows in order while the statement is
// still running, a function that throws, a server error mid-stream, the client deadline over
// the whole stream, and a stream from a replica.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "pg_util.hpp"

using namespace sparc::pgtest;
using namespace std::chrono_literals;

namespace {

// Whether a statement of `application` containing `text` is running on the primary.
bool running(const std::string& application, const std::string& text) {
    const auto out = cluster().psql(
        Node::primary, "SELECT count(*) FROM pg_stat_activity WHERE application_name = '" +
                           application + "' AND state = 'active' AND query LIKE '%" + text + "%'");
    return std::stoi(out) > 0;
}

}  // namespace

TEST_CASE("for_each streams two million rows in order while the statement still runs", "[stream]") {
    const std::string app = "pg-stream-large";
    // Two million rows take longer than the test configuration's timeouts on a loaded machine
    // under the sanitizers; the stream's own limits are tested below.
    auto cfg = config(app);
    cfg.statement_timeout = 300s;
    cfg.query_timeout = 310s;
    db::Database pool(cfg);
    const std::string sql =
        "SELECT g, md5(g::text) FROM generate_series(1, 2000000) g /* stream-large */";
    std::int64_t expected = 1;
    bool in_order = true;
    bool running_at_first_row = false;
    std::size_t digests = 0;
    const auto n = pool.for_each(sql, {}, [&](const db::Row& row) {
        if (expected == 1) {
            // Had the rows been collected first, the statement would have finished by now.
            running_at_first_row = running(app, "stream-large");
        }
        in_order = in_order && row[0].as<std::int64_t>() == expected;
        if (row[1].as<std::string_view>().size() == 32) ++digests;
        ++expected;
    });
    REQUIRE(n == 2'000'000);
    REQUIRE(expected == 2'000'001);
    REQUIRE(in_order);
    REQUIRE(digests == 2'000'000);
    REQUIRE(running_at_first_row);
    SECTION("unprepared, and through db::Client") {
        db::Client& client = pool;
        std::int64_t sum = 0;
        REQUIRE(client.for_each("SELECT g FROM generate_series(1, $1::int) g", {100'000},
                                [&](const db::Row& row) { sum += row[0].as<std::int64_t>(); },
                                {.prepare = false}) == 100'000);
        REQUIRE(sum == 100'000LL * 100'001 / 2);
    }
}

TEST_CASE("a function that throws at row N: the exception, the statement stopped, no leftovers",
          "[stream]") {
    const std::string app = "pg-stream-throw";
    db::Database pool(one_connection(app));
    const auto pid = pool.query("SELECT pg_backend_pid()").front()[0].as<int>();
    std::size_t seen = 0;
    try {
        pool.for_each("SELECT g FROM generate_series(1, 2000000) g /* stream-throw */", {},
                      [&](const db::Row& row) {
                          ++seen;
                          if (row[0].as<int>() == 1000) throw Stop("enough");
                      });
        FAIL("no exception");
    } catch (const Stop& e) {
        REQUIRE(std::string(e.what()) == "enough");
    }
    REQUIRE(seen == 1000);
    // The server stopped the statement: nothing of it runs on, and the next caller's statement
    // answers for itself. Usually the cancel is confirmed and the next caller gets the same
    // session; when rows already on their way outlast the cancel grace period (a sanitized
    // build on a loaded machine drains them slowly) the session is broken off and closed
    // instead, never handed on with rows of the old statement in it.
    REQUIRE(eventually([&] { return !running(app, "stream-throw"); }, 30s));
    const auto r = pool.query("SELECT 42 AS answer, pg_backend_pid()");
    REQUIRE(r.size() == 1);
    REQUIRE(r.front()["answer"].as<int>() == 42);
    if (r.front()[1].as<int>() != pid) {
        REQUIRE(eventually(
            [&] {
                return std::stoi(cluster().psql(
                           Node::primary, "SELECT count(*) FROM pg_stat_activity WHERE pid = " +
                                              std::to_string(pid))) == 0;
            },
            30s));
    }
    std::size_t next = 0;
    REQUIRE(pool.for_each("SELECT g FROM generate_series(1, 10) g", {},
                          [&](const db::Row& row) { next += row[0].as<std::size_t>(); }) == 10);
    REQUIRE(next == 55);
    // No lease is left behind; the pool's health check may be borrowing the connection for a
    // moment (it replaces a broken session's connection and probes it), so wait for it.
    REQUIRE(eventually([&] { return pool.stats().in_use == 0; }, 30s));
}

TEST_CASE("a server error mid-stream comes after the rows before it", "[stream]") {
    db::Database pool(one_connection("pg-stream-error"));
    std::int64_t last = 0;
    try {
        pool.for_each("SELECT g, 1 / (1000 - g) FROM generate_series(1, 2000) g", {},
                      [&](const db::Row& row) { last = row[0].as<std::int64_t>(); });
        FAIL("no SqlError");
    } catch (const db::SqlError& e) {
        REQUIRE(e.sqlstate() == "22012");  // division_by_zero
    }
    REQUIRE(last == 999);
    REQUIRE(pool.query("SELECT 7").front()[0].as<int>() == 7);
}

TEST_CASE("COPY through for_each is refused with a UsageError, not a hang", "[stream]") {
    db::Database pool(one_connection("pg-stream-copy"));
    pool.query("DROP TABLE IF EXISTS stream_copy");
    pool.query("CREATE TABLE stream_copy (v int)");
    for (const char* sql : {"COPY (SELECT 1) TO STDOUT", "COPY stream_copy FROM STDIN"}) {
        INFO(sql);
        int rows = 0;
        CHECK_THROWS_AS(pool.for_each(sql, {}, [&](const db::Row&) { ++rows; }), db::UsageError);
        CHECK(rows == 0);
        CHECK(pool.query("SELECT 7").front()[0].as<int>() == 7);
    }
    pool.query("DROP TABLE stream_copy");
}

TEST_CASE("the client deadline covers the whole stream; the cancelled session is reused",
          "[stream]") {
    const std::string app = "pg-stream-timeout";
    db::Database pool(one_connection(app));
    const auto pid = pool.query("SELECT pg_backend_pid()").front()[0].as<int>();
    std::size_t seen = 0;
    bool confirmed = false;
    const auto start = std::chrono::steady_clock::now();
    try {
        pool.for_each("SELECT g FROM generate_series(1, 2000000) g /* stream-timeout */", {},
                      [&](const db::Row&) {
                          ++seen;
                          // Slow work on the first row: still at it when the deadline passes.
                          while (std::chrono::steady_clock::now() < start + 700ms) {
                              std::this_thread::sleep_for(5ms);
                          }
                      },
                      {.timeout = 500ms});
        FAIL("no QueryTimeout");
    } catch (const db::QueryTimeout& e) {
        REQUIRE(e.client_side());
        confirmed = e.cancelled();
    }
    REQUIRE(seen == 1);
    // Cancelled on the server, or (rows still arriving past the cancel grace period, as on a
    // loaded machine) the session broken off: either way the statement stops there.
    REQUIRE(eventually([&] { return !running(app, "stream-timeout"); }, 30s));
    const auto r = pool.query("SELECT pg_backend_pid()");
    if (confirmed) {
        REQUIRE(r.front()[0].as<int>() == pid);  // the cancelled session is reused
    } else {
        REQUIRE(r.front()[0].as<int>() != pid);  // a session broken off never is
    }
}

TEST_CASE("for_each streams from a replica", "[stream]") {
    auto cfg = config("pg-stream-replica", true);
    cfg.fallback_to_primary = false;  // a read the primary served would not count
    std::atomic<int> replica_statements{0};
    db::Hooks hooks;
    hooks.on_query = [&](const db::QueryEvent& e) {
        if (e.host.role == db::HostRole::replica && e.sql.find("stream-replica") != e.sql.npos) {
            ++replica_statements;
        }
    };
    db::Database pool(cfg, {}, hooks);
    REQUIRE(eventually([&] {
        for (std::size_t i = 0; i < pool.router().size(); ++i) {
            if (!pool.router().state(i).up) return false;
        }
        return true;
    }));
    std::int64_t expected = 1;
    bool in_order = true;
    bool on_standby = true;
    const auto n = pool.for_each(
        "SELECT g, pg_is_in_recovery() FROM generate_series(1, 300000) g /* stream-replica */", {},
        [&](const db::Row& row) {
            in_order = in_order && row[0].as<std::int64_t>() == expected++;
            on_standby = on_standby && row[1].as<bool>();
        },
        {.use_read_replica = true});
    REQUIRE(n == 300'000);
    REQUIRE(in_order);
    REQUIRE(on_standby);
    REQUIRE(replica_statements == 1);
}
