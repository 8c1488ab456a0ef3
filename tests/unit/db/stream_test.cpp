// ConnectionPool::for_each on the fake backend: rows in order and counted, what is run again
// before the first row and never after it, the caller's exceptions, errors mid-stream, replica
// routing, the client deadline over the whole stream, hooks, and db::Client.

#include <chrono>
#include <mutex>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <catch2/catch.hpp>

#include "test_util.hpp"

namespace db = sparc::db;
using db::test::eventually;
using db::test::fake_config;
using db::test::FakePool;
using db::test::Rows;
using db::test::Stop;
using namespace std::chrono_literals;

namespace {

// Rows "1" .. "n" of one column.
Rows numbered(int n) {
    Rows rows;
    for (int i = 1; i <= n; ++i) rows.push_back({std::to_string(i)});
    return rows;
}

}  // namespace

TEST_CASE("for_each hands every row to the function in order and returns the count",
          "[db][pool][stream]") {
    db::testing::FakeBackend fake;
    fake.on("SELECT id, title FROM videos")
        .returns({"id", "title"}, {{"1", "Intro"}, {"2", std::nullopt}, {"3", "Outro"}});
    FakePool pool(fake_config(), fake);
    std::vector<std::int64_t> ids;
    std::vector<std::optional<std::string>> titles;
    const std::size_t n =
        pool.for_each("SELECT id, title FROM videos", {}, [&](const db::Row& row) {
            ids.push_back(row["id"].as<std::int64_t>());
            titles.push_back(row[1].as<std::optional<std::string>>());
        });
    REQUIRE(n == 3);
    REQUIRE(ids == std::vector<std::int64_t>{1, 2, 3});
    REQUIRE(titles == std::vector<std::optional<std::string>>{"Intro", std::nullopt, "Outro"});
    REQUIRE(fake.count("SELECT id, title FROM videos") == 1);
    // A row kept past the call stays readable (it shares its data).
    std::optional<db::Row> kept;
    pool.for_each("SELECT id, title FROM videos", {}, [&](const db::Row& row) { kept = row; });
    REQUIRE(kept->as<std::tuple<int, std::optional<std::string>>>() ==
            std::tuple<int, std::optional<std::string>>{3, "Outro"});
    SECTION("parameters are bound as for query()") {
        fake.on("SELECT id FROM videos WHERE tenant_id = $1")
            .with_params({7})
            .returns({"id"}, {{"9"}});
        std::int64_t id = 0;
        REQUIRE(pool.for_each("SELECT id FROM videos WHERE tenant_id = $1", {7},
                              [&](const db::Row& row) { id = row[0].as<std::int64_t>(); }) == 1);
        REQUIRE(id == 9);
    }
    SECTION("a statement without rows hands over none") {
        fake.on_prefix("UPDATE videos").affects(4);
        int calls = 0;
        REQUIRE(pool.for_each("UPDATE videos SET views = 0", {},
                              [&](const db::Row&) { ++calls; }) == 0);
        REQUIRE(calls == 0);
    }
    SECTION("a NUL byte is the caller's mistake: nothing is sent") {
        REQUIRE_THROWS_AS(
            pool.for_each(std::string_view("SELECT 1\0", 9), {}, [](const db::Row&) {}),
            db::UsageError);
        REQUIRE(fake.count(std::string_view("SELECT 1\0", 9)) == 0);
    }
}

TEST_CASE("for_each through db::Client and a lease", "[db][pool][stream][client]") {
    db::testing::FakeBackend fake;
    fake.on("SELECT id FROM videos").returns({"id"}, numbered(5));
    FakePool pool(fake_config(), fake);
    db::Client& client = pool;
    std::int64_t sum = 0;
    REQUIRE(client.for_each("SELECT id FROM videos", {},
                            [&](const db::Row& row) { sum += row[0].as<std::int64_t>(); }) == 5);
    REQUIRE(sum == 15);
    auto lease = pool.acquire();
    std::vector<int> seen;
    REQUIRE(lease.for_each("SELECT id FROM videos", {},
                           [&](const db::Row& row) { seen.push_back(row[0].as<int>()); }) == 5);
    REQUIRE(seen == std::vector<int>{1, 2, 3, 4, 5});
}

TEST_CASE("an exception from the function propagates unchanged and the pool stays clean",
          "[db][pool][stream]") {
    db::testing::FakeBackend fake;
    fake.on("SELECT id FROM videos").returns({"id"}, numbered(10));
    fake.on("SELECT 1").returns({"?column?"}, {{"1"}});
    auto cfg = fake_config({"replica1"});
    cfg.max_connections = 1;
    FakePool pool(cfg, fake);
    int seen = 0;
    SECTION("a type of the caller's own") {
        try {
            pool.for_each("SELECT id FROM videos", {}, [&](const db::Row& row) {
                ++seen;
                if (row[0].as<int>() == 4) throw Stop("stop at 4");
            });
            FAIL("no exception");
        } catch (const Stop& e) {
            REQUIRE(std::string(e.what()) == "stop at 4");
        }
        REQUIRE(seen == 4);
        REQUIRE(fake.count("SELECT id FROM videos") == 1);
        // The only connection serves the next caller, with its own rows only.
        REQUIRE(pool.query("SELECT 1").front()[0].as<int>() == 1);
        REQUIRE(eventually([&] { return pool.stats().in_use == 0; }));
    }
    SECTION("a db::Error the function throws is its own: not rerun, no host marked down") {
        // A ConnectionError from another pool the function uses, on a replica read: were the
        // pool to judge it as its own, it would mark replica1 down and read elsewhere.
        try {
            pool.for_each("SELECT id FROM videos", {},
                          [&](const db::Row&) {
                              ++seen;
                              throw db::ConnectionError("the function's own connection", false);
                          },
                          {.use_read_replica = true});
            FAIL("no exception");
        } catch (const db::ConnectionError& e) {
            REQUIRE(std::string(e.what()) == "the function's own connection");
        }
        REQUIRE(seen == 1);
        REQUIRE(fake.count("SELECT id FROM videos") == 1);
        REQUIRE(pool.router().state(0).up);
    }
    SECTION("a conversion error in the function") {
        fake.on("SELECT title FROM videos").returns({"title"}, {{"a"}, {"b"}});
        REQUIRE_THROWS_AS(pool.for_each("SELECT title FROM videos", {},
                                        [&](const db::Row& row) {
                                            ++seen;
                                            (void)row[0].as<int>();
                                        }),
                          db::ConversionError);
        REQUIRE(seen == 1);
        REQUIRE(fake.count("SELECT title FROM videos") == 1);
    }
}

TEST_CASE("a server error mid-stream comes after the rows before it, and is not rerun",
          "[db][pool][stream]") {
    db::testing::FakeBackend fake;
    const std::string sql = "SELECT 1 / (1000 - g) FROM generate_series(1, 2000) g";
    fake.on(sql)
        .returns({"?column?"}, numbered(2000))
        .fails_after(999, "22012", "division by zero");
    FakePool pool(fake_config(), fake);
    std::size_t seen = 0;
    try {
        pool.for_each(sql, {}, [&](const db::Row&) { ++seen; });
        FAIL("no SqlError");
    } catch (const db::SqlError& e) {
        REQUIRE(e.sqlstate() == "22012");
    }
    REQUIRE(seen == 999);
    REQUIRE(fake.count(sql) == 1);
    // query() gets the error alone, as libpq's whole-result mode gives it.
    REQUIRE_THROWS_AS(pool.query(sql), db::SqlError);
    // Released (the health check may be probing the connection at this moment).
    REQUIRE(eventually([&] { return pool.stats().in_use == 0; }));
}

TEST_CASE("before the first row the statement runs again as query() would: after it, never",
          "[db][pool][stream][safety]") {
    db::testing::FakeBackend fake;
    fake.replica("replica1");
    fake.replica("replica2");
    // Replica reads here must reach a replica: once the checks have seen them up.
    auto replicas_up = [](FakePool& pool) {
        return eventually([&] {
            for (std::size_t i = 0; i < pool.router().size(); ++i) {
                const auto st = pool.router().state(i);
                if (!st.up || st.observed_role != db::HostRole::replica) return false;
            }
            return true;
        });
    };
    const std::string sql = "SELECT id FROM videos";
    std::vector<int> seen;
    auto collect = [&](const db::Row& row) { seen.push_back(row[0].as<int>()); };
    SECTION("a connection found dead before the statement left: on a fresh one") {
        fake.on(sql).returns({"id"}, numbered(3));
        fake.on(sql).once().drops_connection(false);
        FakePool pool(fake_config(), fake);
        REQUIRE(pool.for_each(sql, {}, collect) == 3);
        REQUIRE(seen == std::vector<int>{1, 2, 3});
        REQUIRE(fake.count(sql) == 2);
    }
    SECTION("a connection lost after a row: the error, the rows seen once") {
        fake.on(sql).returns({"id"}, numbered(3)).drops_connection_after(2);
        FakePool pool(fake_config(), fake);
        try {
            pool.for_each(sql, {}, collect);
            FAIL("no ConnectionError");
        } catch (const db::ConnectionError& e) {
            REQUIRE(e.statement_sent());
        }
        REQUIRE(seen == std::vector<int>{1, 2});
        REQUIRE(fake.count(sql) == 1);
    }
    SECTION("a replica read lost before a row (read-only session) moves to other hosts") {
        fake.on(sql).returns({"id"}, numbered(3));
        fake.on(sql).on_host("replica1").drops_connection(true);
        fake.on(sql).on_host("replica2").drops_connection(true);
        FakePool pool(fake_config({"replica1", "replica2"}), fake);
        REQUIRE(replicas_up(pool));
        REQUIRE(pool.for_each(sql, {}, collect, {.use_read_replica = true}) == 3);
        REQUIRE(seen == std::vector<int>{1, 2, 3});
        REQUIRE(fake.count(sql) == 3);  // lost on each replica, then served by the primary
        REQUIRE(fake.calls().back().host == "primary");
    }
    SECTION("a replica read lost after a row goes nowhere else, even from a read-only session") {
        fake.on(sql).returns({"id"}, numbered(3)).drops_connection_after(1);
        FakePool pool(fake_config({"replica1", "replica2"}), fake);
        REQUIRE(replicas_up(pool));
        try {
            pool.for_each(sql, {}, collect, {.use_read_replica = true});
            FAIL("no ConnectionError");
        } catch (const db::ConnectionError& e) {
            REQUIRE(e.statement_sent());
            REQUIRE(e.read_only_session());  // what would let query() move on
        }
        REQUIRE(seen == std::vector<int>{1});
        REQUIRE(fake.count(sql) == 1);
        REQUIRE(fake.calls().back().role == db::HostRole::replica);
    }
    SECTION("a host that goes down mid-stream ends it with the error") {
        fake.on(sql).returns({"id"}, numbered(3));
        FakePool pool(fake_config({"replica1"}), fake);
        REQUIRE(replicas_up(pool));
        try {
            pool.for_each(sql, {},
                          [&](const db::Row& row) {
                              collect(row);
                              fake.host("replica1").down();
                          },
                          {.use_read_replica = true});
            FAIL("no ConnectionError");
        } catch (const db::ConnectionError& e) {
            REQUIRE(e.statement_sent());
        }
        REQUIRE(seen == std::vector<int>{1});
        REQUIRE(fake.count(sql) == 1);
        REQUIRE(eventually([&] { return !pool.router().state(0).up; }));
    }
}

TEST_CASE("for_each reads on replicas as query() does", "[db][pool][stream][router]") {
    db::testing::FakeBackend fake;
    fake.replica("replica1");
    const std::string sql = "SELECT id FROM videos";
    fake.on(sql).returns({"id"}, numbered(4));
    FakePool pool(fake_config({"replica1"}), fake);
    REQUIRE(eventually([&] { return pool.router().state(0).up; }));
    REQUIRE(pool.for_each(sql, {}, [](const db::Row&) {}, {.use_read_replica = true}) == 4);
    REQUIRE(fake.count_on("replica1", sql) == 1);
    REQUIRE(pool.for_each(sql, {}, [](const db::Row&) {}) == 4);
    REQUIRE(fake.count_on("primary", sql) == 1);
    SECTION("with the replica down, on the primary") {
        fake.host("replica1").down();
        REQUIRE(eventually([&] { return !pool.router().state(0).up; }));
        REQUIRE(pool.for_each(sql, {}, [](const db::Row&) {}, {.use_read_replica = true}) == 4);
        REQUIRE(fake.count_on("primary", sql) == 2);
    }
    SECTION("a write sent as a read goes to the primary, never applied on the replica") {
        const std::string write = "UPDATE videos SET views = 0 RETURNING id";
        fake.on(write).returns({"id"}, numbered(2));
        REQUIRE(pool.for_each(write, {}, [](const db::Row&) {}, {.use_read_replica = true}) == 2);
        REQUIRE(fake.count_on("primary", write) == 1);
    }
}

TEST_CASE("the client deadline covers the whole stream, the function's time included",
          "[db][pool][stream][timeout]") {
    db::testing::FakeBackend fake;
    const std::string sql = "SELECT id FROM videos";
    fake.on(sql).returns({"id"}, numbered(3));
    fake.on("SELECT 1").returns({"?column?"}, {{"1"}});
    auto cfg = fake_config();
    cfg.max_connections = 1;
    FakePool pool(cfg, fake);
    std::vector<int> seen;
    const auto start = std::chrono::steady_clock::now();
    try {
        pool.for_each(sql, {},
                      [&](const db::Row& row) {
                          seen.push_back(row[0].as<int>());
                          // Slow work on the first row: still at it when the deadline passes.
                          while (std::chrono::steady_clock::now() < start + 100ms) {
                              std::this_thread::sleep_for(1ms);
                          }
                      },
                      {.timeout = 50ms});
        FAIL("no QueryTimeout");
    } catch (const db::QueryTimeout& e) {
        REQUIRE(e.client_side());
    }
    REQUIRE(seen == std::vector<int>{1});
    REQUIRE(fake.count(sql) == 1);
    REQUIRE(pool.query("SELECT 1").size() == 1);
}

TEST_CASE("hooks and metrics see a stream as one statement with its row count",
          "[db][pool][stream][hooks]") {
    db::testing::FakeBackend fake;
    fake.on("SELECT id FROM videos").returns({"id"}, numbered(6));
    std::mutex mutex;
    std::vector<std::string> starts;
    std::vector<std::pair<db::QueryOutcome, std::uint64_t>> ends;
    std::vector<std::string> errors;
    std::vector<const void*> contexts;
    db::Hooks hooks;
    hooks.on_query_start = [&](const db::QueryStartEvent& e) {
        std::lock_guard lock(mutex);
        if (e.trace_context != nullptr) starts.emplace_back(e.sql);
    };
    hooks.on_query = [&](const db::QueryEvent& e) {
        std::lock_guard lock(mutex);
        if (e.trace_context == nullptr) return;
        ends.emplace_back(e.outcome, e.rows);
        errors.emplace_back(e.error);
        contexts.push_back(e.trace_context);
    };
    FakePool pool(fake_config(), fake, hooks);
    const int span = 0;
    REQUIRE(pool.for_each("SELECT id FROM videos", {}, [](const db::Row&) {},
                          {.trace_context = &span}) == 6);
    {
        std::lock_guard lock(mutex);
        REQUIRE(starts == std::vector<std::string>{"SELECT id FROM videos"});
        REQUIRE(ends.size() == 1);
        REQUIRE(ends[0].first == db::QueryOutcome::ok);
        REQUIRE(ends[0].second == 6);
        REQUIRE(contexts[0] == &span);
    }
    REQUIRE_THAT(pool.metrics_text(), Catch::Contains("outcome=\"ok\"} 1\n"));
    SECTION("the function's exception closes the span with its text") {
        REQUIRE_THROWS_AS(pool.for_each("SELECT id FROM videos", {},
                                        [](const db::Row&) { throw Stop("the caller gave up"); },
                                        {.trace_context = &span}),
                          Stop);
        std::lock_guard lock(mutex);
        REQUIRE(ends.size() == 2);
        REQUIRE(ends[1].first != db::QueryOutcome::ok);
        REQUIRE(errors[1] == "the caller gave up");
        // Not a failure of the statement: no query outcome counts it.
        const auto text = pool.metrics_text();
        REQUIRE_THAT(text, Catch::Contains("outcome=\"ok\"} 1\n"));
        REQUIRE_THAT(text, Catch::Contains("outcome=\"connection_error\"} 0\n"));
        REQUIRE_THAT(text, Catch::Contains("outcome=\"sql_error\"} 0\n"));
    }
}

namespace {

// The example of docs/streaming.md, as written there.
std::size_t export_videos(db::Client& db, std::int64_t tenant_id, std::ostream& out) {
    return db.for_each(
        "SELECT id, title, created_at FROM videos WHERE tenant_id = $1 ORDER BY id", {tenant_id},
        [&](const db::Row& row) {
            auto [id, title, created] = row.as<std::tuple<std::int64_t, std::optional<std::string>,
                                                          std::chrono::system_clock::time_point>>();
            out << id << ',' << title.value_or("") << ','
                << std::chrono::system_clock::to_time_t(created) << '\n';
        },
        {.use_read_replica = true, .timeout = std::chrono::minutes(5)});
}

}  // namespace

TEST_CASE("the docs/streaming.md example runs on the fake", "[db][pool][stream][client]") {
    db::testing::FakeBackend fake;
    fake.on("SELECT id, title, created_at FROM videos WHERE tenant_id = $1 ORDER BY id")
        .with_params({7})
        .returns({"id", "title", "created_at"}, {{"1", "Intro", "1970-01-01 00:00:10+00"},
                                                 {"2", std::nullopt, "1970-01-01 00:00:20+00"}});
    FakePool pool(fake_config({"replica1"}), fake);
    std::ostringstream out;
    REQUIRE(export_videos(pool, 7, out) == 2);
    REQUIRE(out.str() == "1,Intro,10\n2,,20\n");
}
