// The prepared-statement cache on the wire: what a cache miss, an eviction and a failing first
// execution cost in round trips (counted by a FaultProxy between the pool and the primary), and
// that the cache and the server's pg_prepared_statements agree afterwards.

#include <memory>
#include <string>
#include <vector>

#include "pg_util.hpp"

using namespace std::chrono_literals;
using namespace sparc::pgtest;

namespace {

// One connection through a proxy, with a statement cache of `cache` entries.
struct ProxiedCachePool {
    sparc::testing::FaultProxy proxy{"127.0.0.1", cluster().port(Node::primary)};
    std::unique_ptr<db::Database> pool;

    ProxiedCachePool(const std::string& application, std::size_t cache) {
        auto cfg = one_connection(application);
        cfg.primary = through(proxy);
        cfg.health_check_period = 1h;  // nothing but the calls of the test goes through the proxy
        cfg.statement_cache_size = cache;
        pool = std::make_unique<db::Database>(cfg);
        pool->query("SELECT 1", {}, {.prepare = false});  // the connection is open
    }

    template <typename Fn>
    std::size_t trips(Fn&& fn) {
        return round_trips(proxy, std::forward<Fn>(fn));
    }

    // The statements the session holds prepared, in byte order (read unprepared: the read
    // prepares nothing).
    std::vector<std::string> on_server() {
        std::vector<std::string> out;
        for (const auto& row : pool->query("SELECT statement FROM pg_prepared_statements "
                                           "ORDER BY statement COLLATE \"C\"",
                                           {}, {.prepare = false})) {
            out.push_back(row[0].as<std::string>());
        }
        return out;
    }
};

int first_int(const db::Result& r) { return r.front()[0].as<int>(); }

}  // namespace

TEST_CASE("a statement's first execution with the cache costs one round trip", "[prepared]") {
    ProxiedCachePool p("pg-prepared-first", 4);
    auto& pool = *p.pool;
    const std::string sql = "SELECT $1::int + 1";
    int got = 0;
    CHECK(p.trips([&] { got = first_int(pool.query(sql, {1})); }) == 1);
    CHECK(got == 2);
    CHECK(p.trips([&] { got = first_int(pool.query(sql, {2})); }) == 1);
    CHECK(got == 3);
    CHECK(p.on_server() == std::vector<std::string>{sql});
    // In a transaction: the first statement with BEGIN (then COMMIT), a later one on its own.
    CHECK(p.trips([&] {
        pool.transaction([&](auto& tx) {
            got = first_int(tx.query("SELECT $1::int + 10", {1}));
            got += first_int(tx.query("SELECT $1::int + 100", {1}));
        });
    }) == 3);
    CHECK(got == 112);
    CHECK(p.on_server() ==
          std::vector<std::string>{sql, "SELECT $1::int + 10", "SELECT $1::int + 100"});
    CHECK(pool.stats().in_use == 0);
}

TEST_CASE("a cache eviction adds no round trip", "[prepared]") {
    ProxiedCachePool p("pg-prepared-evict", 2);
    auto& pool = *p.pool;
    const auto sql = [](int i) { return fmt::format("SELECT $1::int + {}", i); };
    for (int i = 0; i < 2; ++i) CHECK(p.trips([&] { pool.query(sql(i), {1}); }) == 1);
    // Each of these evicts the least recently used statement.
    for (int i = 2; i < 6; ++i) {
        int got = 0;
        CHECK(p.trips([&] { got = first_int(pool.query(sql(i), {1})); }) == 1);
        CHECK(got == i + 1);
    }
    // A cached statement, then the server holds what the cache holds.
    CHECK(p.trips([&] { pool.query(sql(5), {1}); }) == 1);
    CHECK(p.on_server() == std::vector<std::string>{sql(4), sql(5)});
    // Evictions inside a transaction block, freed once the block is over.
    CHECK(p.trips([&] {
        pool.transaction([&](auto& tx) {
            for (int i = 6; i < 9; ++i) tx.query(sql(i), {1});
        });
    }) == 4);
    for (int i = 0; i < 2; ++i) CHECK(p.trips([&] { pool.query(sql(8), {1}); }) == 1);
    CHECK(p.on_server() == std::vector<std::string>{sql(7), sql(8)});
    CHECK(pool.stats().in_use == 0);
}

TEST_CASE("a failing first execution leaves the statement cache right", "[prepared]") {
    ProxiedCachePool p("pg-prepared-failing", 2);
    auto& pool = *p.pool;
    const std::string good = "SELECT $1::int * 2";
    REQUIRE(first_int(pool.query(good, {2})) == 4);
    const auto fails_with = [&](const std::string& sql, const std::string& param) {
        std::string state;
        const auto trips = p.trips([&] {
            try {
                pool.query(sql, {param});
            } catch (const db::SqlError& e) {
                state = e.sqlstate();
            }
        });
        CHECK(trips == 1);
        return state;
    };
    SECTION("a syntax error: nothing prepared") {
        CHECK(fails_with("SELEC $1::int", "1") == "42601");
        CHECK(fails_with("SELECT * FROM no_such_table_prepared WHERE id = $1", "1") == "42P01");
        CHECK(p.on_server() == std::vector<std::string>{good});
    }
    SECTION("a parameter of the wrong type: prepared, and the cache knows it") {
        const std::string sql = "SELECT $1::int + 7";
        CHECK(fails_with(sql, "not a number") == "22P02");
        CHECK(p.on_server() == std::vector<std::string>{good, sql});
        int got = 0;
        CHECK(p.trips([&] { got = first_int(pool.query(sql, {1})); }) == 1);
        CHECK(got == 8);
        CHECK(p.on_server() == std::vector<std::string>{good, sql});
    }
    SECTION("a failing statement that evicts another") {
        CHECK(first_int(pool.query("SELECT $1::int * 3", {1})) == 3);
        CHECK(fails_with("SELECT 1 / ($1::int - 1)", "1") == "22012");
        CHECK(fails_with("SELEC $1::int", "1") == "42601");
        CHECK(p.on_server() ==
              std::vector<std::string>{"SELECT $1::int * 3", "SELECT 1 / ($1::int - 1)"});
    }
    SECTION("inside a transaction: the block fails as the statement would") {
        int runs = 0;
        CHECK_THROWS_AS(pool.transaction([&](auto& tx) {
            ++runs;
            tx.query(good, {1});
            tx.query("SELEC $1::int", {1});
        }),
                        db::SqlError);
        CHECK(runs == 1);
        // The first statement of a transaction, too.
        CHECK_THROWS_AS(pool.transaction([&](auto& tx) { tx.query("SELEC $1::int + 1", {1}); }),
                        db::SqlError);
        CHECK(first_int(pool.query(good, {5})) == 10);
        CHECK(p.on_server() == std::vector<std::string>{good});
    }
    // The next good statement works, on the same session.
    CHECK(first_int(pool.query(good, {3})) == 6);
    CHECK(first_int(pool.query("SELECT $1::int", {9})) == 9);
    CHECK(pool.stats().in_use == 0);
}

TEST_CASE("DEALLOCATE ALL by the caller clears the cache, evictions pending or not", "[prepared]") {
    ProxiedCachePool p("pg-prepared-deallocate-all", 1);
    auto& pool = *p.pool;
    for (const bool prepare : {true, false}) {
        DYNAMIC_SECTION("DEALLOCATE ALL " << (prepare ? "prepared" : "unprepared")) {
            CHECK(first_int(pool.query("SELECT $1::int + 1", {1})) == 2);
            CHECK(first_int(pool.query("SELECT $1::int + 2", {1})) == 3);  // evicts the first
            pool.query("DEALLOCATE ALL", {}, {.prepare = prepare});
            CHECK(p.on_server().empty());
            CHECK(first_int(pool.query("SELECT $1::int + 1", {1})) == 2);
            CHECK(first_int(pool.query("SELECT $1::int + 2", {1})) == 3);
            CHECK(first_int(pool.query("SELECT $1::int + 2", {2})) == 4);
            CHECK(p.on_server() == std::vector<std::string>{"SELECT $1::int + 2"});
        }
    }
}

TEST_CASE("a statement after an eviction runs as it would on its own", "[prepared]") {
    ProxiedCachePool p("pg-prepared-evict-alone", 1);
    auto& pool = *p.pool;
    pool.query("DROP TABLE IF EXISTS prepared_alone");
    pool.query("CREATE TABLE prepared_alone (id int)");
    const auto evict = [&] {
        CHECK(first_int(pool.query("SELECT $1::int + 1", {1})) == 2);
        CHECK(first_int(pool.query("SELECT $1::int + 2", {1})) == 3);  // evicts the first
    };
    // Refused in a transaction block, and in a pipeline after another statement: VACUUM runs.
    evict();
    CHECK(p.trips([&] { pool.query("VACUUM prepared_alone"); }) == 1);
    // Only allowed in a transaction block: LOCK TABLE is still refused.
    evict();
    std::string state;
    try {
        pool.query("LOCK TABLE prepared_alone");
    } catch (const db::SqlError& e) {
        state = e.sqlstate();
    }
    CHECK(state == "25P01");
    CHECK(first_int(pool.query("SELECT $1::int + 2", {2})) == 4);
    CHECK(first_int(pool.query("SELECT $1::int + 2", {3})) == 5);
    CHECK(p.on_server() == std::vector<std::string>{"SELECT $1::int + 2"});
    pool.query("DROP TABLE prepared_alone");
}

TEST_CASE("a DEALLOCATE that fails does not fail the statement it travels with", "[prepared]") {
    ProxiedCachePool p("pg-prepared-deallocate-fails", 1);
    auto& pool = *p.pool;
    CHECK(first_int(pool.query("SELECT $1::int + 1", {1})) == 2);
    CHECK(first_int(pool.query("SELECT $1::int + 2", {1})) == 3);  // evicts the first
    // The caller deallocates the evicted statement itself: the pool's DEALLOCATE will fail.
    const auto name = pool.query("SELECT name FROM pg_prepared_statements WHERE statement = $1",
                                 {"SELECT $1::int + 1"}, {.prepare = false})
                          .front()[0]
                          .as<std::string>();
    pool.query(fmt::format("DEALLOCATE {}", name), {}, {.prepare = false});
    SECTION("an autocommit statement") {
        pool.query("DROP TABLE IF EXISTS prepared_deallocate_fails");
        pool.query("CREATE TABLE prepared_deallocate_fails (id int)", {}, {.prepare = false});
        CHECK(
            pool.query("INSERT INTO prepared_deallocate_fails VALUES ($1)", {1}).affected_rows() ==
            1);
        CHECK(pool.query("SELECT count(*) FROM prepared_deallocate_fails", {}, {.prepare = false})
                  .front()[0]
                  .as<int>() == 1);
        pool.query("DROP TABLE prepared_deallocate_fails", {}, {.prepare = false});
    }
    SECTION("a transaction's first statement") {
        int got = 0;
        pool.transaction([&](auto& tx) {
            got = first_int(tx.query("SELECT $1::int + 3", {1}));
            got += first_int(tx.query("SELECT count(*)::int FROM pg_prepared_statements", {},
                                      {.prepare = false}));
        });
        CHECK(got == 4 + 2);  // "+ 2" and "+ 3": the cache evicts "+ 2" only now
    }
    CHECK(pool.stats().in_use == 0);
    CHECK(first_int(pool.query("SELECT $1::int + 2", {2})) == 4);
    CHECK(first_int(pool.query("SELECT $1::int + 2", {3})) == 5);
    CHECK(p.on_server() == std::vector<std::string>{"SELECT $1::int + 2"});
}

TEST_CASE("a first execution stopped by its deadline leaves the statement cache right",
          "[prepared]") {
    ProxiedCachePool p("pg-prepared-deadline", 2);
    auto& pool = *p.pool;
    const std::string sleep = "SELECT pg_sleep($1::float8)";
    bool cancelled = false;
    try {
        pool.query(sleep, {60}, {.timeout = 300ms});
    } catch (const db::QueryTimeout& e) {
        cancelled = e.client_side() && e.cancelled();
    }
    CHECK(cancelled);
    CHECK(eventually([] { return sleeping_statements("pg-prepared-deadline") == 0; }, 30s));
    CHECK(first_int(pool.query("SELECT $1::int", {4})) == 4);
    // Prepared before the cancel: cached, and on the server.
    CHECK(p.trips([&] { pool.query(sleep, {0}); }) == 1);
    CHECK(p.on_server() == std::vector<std::string>{"SELECT $1::int", sleep});
    CHECK(pool.stats().in_use == 0);
}

TEST_CASE("a streamed statement's first use costs one round trip", "[prepared]") {
    ProxiedCachePool p("pg-prepared-stream", 3);
    auto& pool = *p.pool;
    const std::string series = "SELECT g FROM generate_series(1, $1::int) g";
    std::size_t rows = 0;
    auto count = [&](const db::Row&) { ++rows; };
    CHECK(p.trips([&] { pool.for_each(series, {3}, count); }) == 1);
    CHECK(rows == 3);
    CHECK(p.trips([&] { pool.for_each(series, {4}, count); }) == 1);
    CHECK(rows == 7);
    const auto fails_with = [&](const std::string& sql, const std::string& param) {
        std::string state;
        try {
            pool.for_each(sql, {param}, count);
        } catch (const db::SqlError& e) {
            state = e.sqlstate();
        }
        return state;
    };
    // Refused by the server: nothing prepared.
    CHECK(fails_with("SELEC $1::int", "1") == "42601");
    // A parameter of the wrong type: prepared, cached.
    CHECK(fails_with("SELECT $1::int + 5", "not a number") == "22P02");
    // An error after some rows.
    CHECK(fails_with("SELECT 1 / (3 - g) FROM generate_series(1, $1::int) g", "5") == "22012");
    // The function stops half-way through a first use.
    CHECK_THROWS_AS(pool.for_each("SELECT g FROM generate_series(1, $1::int) g WHERE g > 0",
                                  {1'000'000}, [](const db::Row&) { throw Stop("enough"); }),
                    Stop);
    // The deadline passes before the first row (and the Prepare's answer, sent with it).
    bool client_side = false;
    try {
        pool.for_each("SELECT pg_sleep($1::float8)", {60}, count, {.timeout = 300ms});
    } catch (const db::QueryTimeout& e) {
        client_side = e.client_side();
    }
    CHECK(client_side);
    CHECK(eventually([] { return sleeping_statements("pg-prepared-stream") == 0; }, 30s));
    CHECK(first_int(pool.query("SELECT $1::int + 5", {1})) == 6);
    CHECK(p.trips([&] { pool.for_each(series, {1}, count); }) == 1);
    // The statement it evicted is deallocated with the next query().
    CHECK(first_int(pool.query("SELECT $1::int + 5", {2})) == 7);
    CHECK(p.on_server() == std::vector<std::string>{
                               "SELECT $1::int + 5",
                               "SELECT g FROM generate_series(1, $1::int) g",
                               "SELECT pg_sleep($1::float8)",
                           });
    CHECK(pool.stats().in_use == 0);
}
