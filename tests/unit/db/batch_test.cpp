// batch() on the fake backend: results per statement, the failing statement's index, checks
// made before anything is sent, what is run again after a lost connection and what never is,
// transactions, leases and db::Client.

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "test_util.hpp"

namespace db = sparc::db;
using db::test::fake_config;
using db::test::FakePool;
using namespace std::chrono_literals;

namespace {

// The statements the fake saw on the primary, in order, without the pool's own.
std::vector<std::string> statements_run(const db::testing::FakeBackend& fake) {
    std::vector<std::string> out;
    for (const auto& c : fake.calls()) out.push_back(c.sql);
    return out;
}

std::vector<db::Statement> inserts(int n) {
    std::vector<db::Statement> batch;
    for (int i = 0; i < n; ++i) batch.push_back({"INSERT INTO t (v) VALUES ($1)", {i}});
    return batch;
}

}  // namespace

TEST_CASE("a batch returns one result per statement, in order", "[db][batch]") {
    db::testing::FakeBackend fake;
    fake.on("SELECT v FROM t WHERE id = $1").returns({"v"}, {{"7"}});
    fake.on("UPDATE t SET v = $1").affects(3);
    FakePool pool(fake_config(), fake);
    fake.clear_calls();
    const auto results = pool.batch({{"INSERT INTO t (v) VALUES ($1)", {1}},
                                     {"UPDATE t SET v = $1", {2}},
                                     {"SELECT v FROM t WHERE id = $1", {3}}});
    REQUIRE(results.size() == 3);
    CHECK(results[1].affected_rows() == 3);
    REQUIRE(results[2].size() == 1);
    CHECK(results[2].front()[0].as<int>() == 7);
    CHECK(statements_run(fake) == std::vector<std::string>{"INSERT INTO t (v) VALUES ($1)",
                                                           "UPDATE t SET v = $1",
                                                           "SELECT v FROM t WHERE id = $1"});
    CHECK(fake.calls()[1].params == std::vector<std::optional<std::string>>{"2"});
    CHECK(pool.batch({}).empty());
}

TEST_CASE("a failing statement of a batch says which, and the later ones do not run",
          "[db][batch]") {
    db::testing::FakeBackend fake;
    fake.on("INSERT INTO t (v) VALUES ($1)")
        .with_params({29})
        .fails("23505", "duplicate key value violates unique constraint \"t_v_key\"");
    FakePool pool(fake_config(), fake);
    fake.clear_calls();
    try {
        pool.batch(inserts(50));
        FAIL("the batch succeeded");
    } catch (const db::SqlError& e) {
        CHECK(e.sqlstate() == "23505");
        REQUIRE(e.batch_index());
        CHECK(*e.batch_index() == 29);
        CHECK_THAT(e.what(), Catch::StartsWith("batch statement 30 of 50 failed: duplicate key"));
    }
    CHECK(fake.calls().size() == 30);  // never run again, nothing after the 30th
    // The connection is fine: the next call uses it.
    CHECK(pool.batch(inserts(2)).size() == 2);
    CHECK(fake.host("primary").open_connections() == fake.host("primary").connections_opened());
}

TEST_CASE("a batch is checked whole before anything is sent", "[db][batch]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    fake.clear_calls();
    auto refused = [&](std::vector<db::Statement> batch) -> std::string {
        try {
            pool.batch(batch);
        } catch (const db::UsageError& e) {
            return e.what();
        }
        return "(accepted)";
    };
    auto batch = inserts(3);
    batch.push_back({"COMMIT"});
    CHECK_THAT(refused(batch), Catch::StartsWith("batch statement 4 of 4: COMMIT cannot run in "
                                                 "a batch"));
    CHECK_THAT(refused({{"  /* a /* nested */ comment */ -- line\n begin isolation level "
                         "serializable"}}),
               Catch::Contains("BEGIN cannot run in a batch"));
    CHECK_THAT(refused({{"SAVEPOINT a"}}), Catch::Contains("SAVEPOINT"));
    CHECK_THAT(refused({{"prepare transaction 'x'"}}), Catch::Contains("PREPARE TRANSACTION"));
    CHECK_THAT(refused({{"SELECT 1"}, {"SELECT $1", {std::string("a\0b", 3)}}}),
               Catch::StartsWith("batch statement 2 of 2: parameter $1 contains a NUL byte"));
    CHECK(fake.calls().empty());
    // Words that only start like transaction control are fine.
    pool.batch({{"PREPARE q AS SELECT 1"}, {"ENDURE_NOT_A_KEYWORD"}, {"SELECT 'COMMIT'"}});
    CHECK(fake.calls().size() == 3);
}

TEST_CASE("a batch whose connection proved dead before it was sent runs on another one",
          "[db][batch]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    SECTION("dropped before the first statement was sent: run again") {
        fake.on("INSERT INTO t (v) VALUES ($1)").once().drops_connection(false);
        fake.clear_calls();
        CHECK(pool.batch(inserts(3)).size() == 3);
        CHECK(fake.count("INSERT INTO t (v) VALUES ($1)") == 4);
    }
    SECTION("dropped once part of it was sent: never run again") {
        fake.on("INSERT INTO t (v) VALUES ($1)").with_params({1}).once().drops_connection(false);
        fake.clear_calls();
        try {
            pool.batch(inserts(3));
            FAIL("the batch succeeded");
        } catch (const db::ConnectionError& e) {
            CHECK(e.statement_sent());
        }
        CHECK(fake.count("INSERT INTO t (v) VALUES ($1)") == 2);
    }
}

TEST_CASE("a batch past its timeout is QueryTimeout naming the statement, not a plain SqlError",
          "[db][batch]") {
    db::testing::FakeBackend fake;
    fake.on("SELECT pg_sleep(60)").delays(60s);
    FakePool pool(fake_config(), fake);
    auto statements = inserts(3);
    statements.push_back({"SELECT pg_sleep(60)", {}});
    SECTION("the statement's timeout") {
        try {
            pool.batch(statements, {.timeout = 50ms});
            FAIL("the batch succeeded");
        } catch (const db::QueryTimeout& e) {
            CHECK(e.client_side());
            CHECK_THAT(e.what(), Catch::StartsWith("batch statement 4 of 4 timed out"));
        }
    }
    SECTION("the caller's deadline: Cancelled") {
        try {
            pool.batch(statements, {.deadline = std::chrono::steady_clock::now() + 50ms});
            FAIL("the batch succeeded");
        } catch (const db::Cancelled& e) {
            CHECK(e.reason() == db::CancelReason::deadline);
        }
    }
    CHECK_NOTHROW(pool.batch(inserts(1)));
}

TEST_CASE("a batch runs inside a transaction, a lease and through db::Client", "[db][batch]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    fake.clear_calls();
    pool.transaction([](auto& tx) {
        tx.query("SELECT 1");
        CHECK(tx.batch(inserts(2)).size() == 2);
    });
    for (const auto& c : fake.calls()) {
        if (c.sql.starts_with("INSERT")) CHECK(c.in_transaction);
    }
    {
        auto lease = pool.acquire();
        CHECK(lease.batch(inserts(3)).size() == 3);
    }
    db::Client& client = pool;
    CHECK(client.batch(inserts(4)).size() == 4);
    client.transaction([](db::Tx& tx) { CHECK(tx.batch(inserts(1)).size() == 1); });
    // A failing statement inside a transaction fails it: the function's exception rolls back.
    fake.on("INSERT INTO t (v) VALUES ($1)").with_params({1}).once().fails("23514", "check");
    CHECK_THROWS_AS(pool.transaction([](auto& tx) { tx.batch(inserts(2)); }), db::SqlError);
}

TEST_CASE("hooks and metrics see a batch as one statement", "[db][batch][hooks]") {
    db::testing::FakeBackend fake;
    std::mutex mutex;
    std::vector<std::string> starts;
    std::vector<db::QueryOutcome> ends;
    db::Hooks hooks;
    hooks.on_query_start = [&](const db::QueryStartEvent& e) {
        std::lock_guard lock(mutex);
        if (e.trace_context != nullptr) starts.emplace_back(e.sql);
    };
    hooks.on_query = [&](const db::QueryEvent& e) {
        std::lock_guard lock(mutex);
        if (e.trace_context != nullptr) ends.push_back(e.outcome);
    };
    FakePool pool(fake_config(), fake, hooks);
    const int span = 0;
    pool.batch(inserts(5), {.trace_context = &span});
    std::lock_guard lock(mutex);
    CHECK(starts == std::vector<std::string>{"INSERT INTO t (v) VALUES ($1)"});
    CHECK(ends == std::vector<db::QueryOutcome>{db::QueryOutcome::ok});
}
