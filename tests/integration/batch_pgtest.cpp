// ConnectionPool::batch against PostgreSQL: 50 INSERTs failing at the 30th roll back as one
// and the session is reused, results per statement, batches inside pool.transaction, a batch
// cut after it reached the server never runs twice, a dead idle session is replaced before
// sending, the client deadline, PgBouncer in transaction mode, and statements a batch refuses.

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "pg_util.hpp"

using namespace sparc::pgtest;
using namespace std::chrono_literals;

namespace {

int batch_test_pid(db::Database& pool) {
    return pool.query("SELECT pg_backend_pid()").front()[0].as<int>();
}

std::int64_t batch_test_rows(db::Database& pool, const std::string& table) {
    return pool.query("SELECT count(*) FROM " + table).front()[0].as<std::int64_t>();
}

// `n` INSERTs of ids 1..n into `table` (id, v), the id at position `duplicate_at` (1-based,
// 0 for none) repeating id 1.
std::vector<db::Statement> batch_test_inserts(const std::string& table, int n,
                                              int duplicate_at = 0) {
    std::vector<db::Statement> statements;
    for (int i = 1; i <= n; ++i) {
        statements.push_back({"INSERT INTO " + table + " (id, v) VALUES ($1, $2)",
                              {i == duplicate_at ? 1 : i, "row " + std::to_string(i)}});
    }
    return statements;
}

}  // namespace

TEST_CASE("50 INSERTs failing at the 30th: SqlError naming it, nothing kept, session reused",
          "[batch]") {
    db::Database pool(one_connection("pg-batch-atomic"));
    pool.query("DROP TABLE IF EXISTS batch_atomic");
    pool.query("CREATE TABLE batch_atomic (id int PRIMARY KEY, v text NOT NULL)");
    const auto pid = batch_test_pid(pool);
    try {
        pool.batch(batch_test_inserts("batch_atomic", 50, 30));
        FAIL("no SqlError");
    } catch (const db::SqlError& e) {
        CHECK(e.sqlstate() == "23505");
        CHECK(e.constraint() == "batch_atomic_pkey");
        REQUIRE(e.batch_index().has_value());
        CHECK(*e.batch_index() == 29);
        CHECK_THAT(e.what(), Catch::StartsWith("batch statement 30 of 50 failed"));
    }
    CHECK(batch_test_rows(pool, "batch_atomic") == 0);
    // The same session, idle and clean, runs the next batch.
    CHECK(batch_test_pid(pool) == pid);
    const auto results = pool.batch(batch_test_inserts("batch_atomic", 50));
    CHECK(results.size() == 50);
    CHECK(batch_test_rows(pool, "batch_atomic") == 50);
    CHECK(batch_test_pid(pool) == pid);
    CHECK(pool.stats().in_use == 0);
    pool.query("DROP TABLE batch_atomic");
}

TEST_CASE("a procedure that commits cannot keep part of a failing batch", "[batch]") {
    db::Database pool(one_connection("pg-batch-proc-commit"));
    pool.query("DROP TABLE IF EXISTS batch_proc");
    pool.query("CREATE TABLE batch_proc (id int PRIMARY KEY, v text NOT NULL)");
    pool.query(
        "CREATE OR REPLACE PROCEDURE batch_proc_commit() LANGUAGE plpgsql AS "
        "$$BEGIN COMMIT; END$$");
    for (const char* committer : {"CALL batch_proc_commit()", "DO $$BEGIN COMMIT; END$$"}) {
        INFO(committer);
        auto statements = batch_test_inserts("batch_proc", 2);
        statements.insert(statements.begin() + 1, db::Statement{committer, {}});
        statements.push_back({"INSERT INTO batch_proc (id, v) VALUES (1, 'again')", {}});
        CHECK_THROWS_AS(pool.batch(statements), db::SqlError);
        CHECK(batch_test_rows(pool, "batch_proc") == 0);
    }
    // A batch that succeeds still commits, and its results are its statements'.
    const auto results = pool.batch(batch_test_inserts("batch_proc", 3));
    CHECK(results.size() == 3);
    CHECK(batch_test_rows(pool, "batch_proc") == 3);
    CHECK(pool.stats().in_use == 0);
    pool.query("DROP TABLE batch_proc");
    pool.query("DROP PROCEDURE batch_proc_commit()");
}

TEST_CASE("a batch returns each statement's result in order, parameters of several types",
          "[batch]") {
    db::Database pool(one_connection("pg-batch-results"));
    pool.query("DROP TABLE IF EXISTS batch_results");
    pool.query(
        "CREATE TABLE batch_results (id bigserial PRIMARY KEY, n int, t text, b bytea, "
        "f double precision, ok boolean)");
    const db::Bytes bytes{std::byte{0}, std::byte{'\\'}, std::byte{0xff}, std::byte{'\n'}};
    const std::optional<std::string> no_text;
    const auto results = pool.batch({
        {"INSERT INTO batch_results (n, t, b, f, ok) VALUES ($1, $2, $3, $4, $5) RETURNING id",
         {1, "first", bytes, 1.5, true}},
        {"INSERT INTO batch_results (n, t, b, f, ok) VALUES ($1, $2, $3, $4, $5) RETURNING id",
         {2, no_text, nullptr, -0.25, false}},
        {"INSERT INTO batch_results (n, t) VALUES ($1, $2) RETURNING id", {3, "third"}},
        {"UPDATE batch_results SET n = n * 10 WHERE n >= $1", {2}},
        {"SELECT n, t, b, f, ok FROM batch_results WHERE id <= $1 ORDER BY id", {std::int64_t{3}}},
        {"SELECT $1::text IS NULL, $2::bytea = $3", {std::nullopt, bytes, bytes}},
    });
    REQUIRE(results.size() == 6);
    const auto id1 = results[0].front()[0].as<std::int64_t>();
    CHECK(results[1].front()[0].as<std::int64_t>() == id1 + 1);
    CHECK(results[2].front()[0].as<std::int64_t>() == id1 + 2);
    CHECK(results[0].affected_rows() == 1);  // INSERT ... RETURNING: a row, and a write
    CHECK(results[3].affected_rows() == 2);
    CHECK(results[4].affected_rows() == 0);  // a SELECT writes nothing, whatever it returns
    REQUIRE(results[4].size() == 3);
    const auto& rows = results[4];
    auto it = rows.begin();
    CHECK((*it)[0].as<int>() == 1);
    CHECK((*it)[1].as<std::string>() == "first");
    CHECK((*it)[2].as<db::Bytes>() == bytes);
    CHECK((*it)[3].as<double>() == 1.5);
    CHECK((*it)[4].as<bool>());
    ++it;
    CHECK((*it)[0].as<int>() == 20);
    CHECK((*it)[1].is_null());
    CHECK((*it)[2].is_null());
    CHECK((*it)[3].as<double>() == -0.25);
    CHECK_FALSE((*it)[4].as<bool>());
    ++it;
    CHECK((*it)[0].as<int>() == 30);
    CHECK((*it)[1].as<std::string>() == "third");
    CHECK((*it)[4].is_null());
    CHECK(results[5].front()[0].as<bool>());
    CHECK(results[5].front()[1].as<bool>());
    CHECK(batch_test_rows(pool, "batch_results") == 3);
    pool.query("DROP TABLE batch_results");
}

TEST_CASE("a batch inside pool.transaction commits and rolls back with it", "[batch]") {
    db::Database pool(one_connection("pg-batch-tx"));
    pool.query("DROP TABLE IF EXISTS batch_tx");
    pool.query("CREATE TABLE batch_tx (id int PRIMARY KEY, v text NOT NULL)");
    SECTION("a later statement fails: nothing of the batch is committed") {
        std::size_t ran = 0;
        REQUIRE_THROWS_AS(pool.transaction([&](auto& tx) {
            ran = tx.batch(batch_test_inserts("batch_tx", 20)).size();
            // Inside the transaction the rows are there...
            REQUIRE(tx.query("SELECT count(*) FROM batch_tx").front()[0].template as<int>() == 20);
            tx.query("SELECT 1 / 0");  // ...until a later error rolls them back.
        }),
                          db::SqlError);
        CHECK(ran == 20);
        CHECK(batch_test_rows(pool, "batch_tx") == 0);
    }
    SECTION("a failing batch fails the transaction: nothing committed") {
        try {
            pool.transaction([&](auto& tx) {
                tx.query("INSERT INTO batch_tx (id, v) VALUES (100, 'before')");
                tx.batch(batch_test_inserts("batch_tx", 10, 5));
            });
            FAIL("no SqlError");
        } catch (const db::SqlError& e) {
            CHECK(e.sqlstate() == "23505");
            CHECK(e.batch_index() == std::optional<std::size_t>(4));
        }
        CHECK(batch_test_rows(pool, "batch_tx") == 0);
    }
    SECTION("committed with the transaction, through db::Client and db::Tx") {
        db::Client& client = pool;
        client.transaction([&](db::Tx& tx) {
            tx.query("INSERT INTO batch_tx (id, v) VALUES (100, 'before')");
            const auto results = tx.batch(batch_test_inserts("batch_tx", 20));
            REQUIRE(results.size() == 20);
            tx.query("INSERT INTO batch_tx (id, v) VALUES (101, 'after')");
        });
        CHECK(batch_test_rows(pool, "batch_tx") == 22);
        const auto results = client.batch(
            {{"DELETE FROM batch_tx WHERE id > $1", {100}}, {"SELECT count(*) FROM batch_tx", {}}});
        CHECK(results[0].affected_rows() == 1);
        CHECK(results[1].front()[0].as<int>() == 21);
    }
    pool.query("DROP TABLE batch_tx");
}

TEST_CASE("a batch cut after it reached the server: ConnectionError, statement sent, never rerun",
          "[batch]") {
    for (const bool keyed : {true, false}) {
        // Without a key a rerun would show as 12 rows; with one it would fail on the key.
        DYNAMIC_SECTION((keyed ? "a table with a primary key" : "a table without a key")) {
            const std::string table = keyed ? "batch_cut" : "batch_cut_nokey";
            const std::string marker = table + "_last_statement";
            sparc::testing::FaultProxy proxy("127.0.0.1", cluster().port(Node::primary));
            auto cfg = one_connection("pg-" + table);
            cfg.primary = through(proxy);
            db::Database pool(cfg);
            pool.query("DROP TABLE IF EXISTS " + table);
            pool.query("CREATE TABLE " + table + " (id int" + (keyed ? " PRIMARY KEY" : "") +
                       ", v text NOT NULL)");
            auto statements = batch_test_inserts(table, 5);
            statements.push_back(
                {"INSERT INTO " + table + " (id, v) VALUES (6, '" + marker + "')", {}});
            proxy.cut_after_client_sends(marker);
            try {
                pool.batch(statements);
                FAIL("no ConnectionError");
            } catch (const db::ConnectionError& e) {
                INFO(e.what());
                CHECK(e.statement_sent());
            }
            REQUIRE(proxy.wait_for_triggers(1, 5s));
            CHECK(proxy.triggers_fired() == 1);
            // The server had the whole batch and its Sync: it committed all of it, once, or
            // none of it.
            const auto rows = batch_test_rows(pool, table);
            INFO(rows << " rows");
            CHECK((rows == 6 || rows == 0));
            CHECK(pool.query("SELECT count(*) FROM " + table + " WHERE v = $1", {marker})
                      .front()[0]
                      .as<std::int64_t>() <= 1);
            pool.query("DROP TABLE " + table);
        }
    }
}

TEST_CASE("a dead idle session is found before sending: the batch runs once on a new one",
          "[batch]") {
    auto cfg = one_connection("pg-batch-dead");
    cfg.health_check_period = 60s;  // the batch, not the health check, finds the dead session
    cfg.alive_bypass_window = 0ms;  // checked although it answered a moment ago
    db::Database pool(cfg);
    pool.query("DROP TABLE IF EXISTS batch_dead");
    pool.query("CREATE TABLE batch_dead (id int, v text NOT NULL)");
    const auto pid = batch_test_pid(pool);
    REQUIRE(cluster().psql(Node::primary, fmt::format("SELECT pg_terminate_backend({})", pid)) ==
            "t");
    REQUIRE(eventually([&] {
        return std::stoi(cluster().psql(
                   Node::primary,
                   fmt::format("SELECT count(*) FROM pg_stat_activity WHERE pid = {}", pid))) == 0;
    }));
    const auto results = pool.batch(batch_test_inserts("batch_dead", 10));
    CHECK(results.size() == 10);
    CHECK(batch_test_rows(pool, "batch_dead") == 10);  // once, not twice
    CHECK(batch_test_pid(pool) != pid);
    pool.query("DROP TABLE batch_dead");
}

TEST_CASE("the client deadline covers the batch: QueryTimeout, nothing kept, pool usable",
          "[batch]") {
    db::Database pool(one_connection("pg-batch-deadline"));
    pool.query("DROP TABLE IF EXISTS batch_deadline");
    pool.query("CREATE TABLE batch_deadline (id int, v text NOT NULL)");
    auto statements = batch_test_inserts("batch_deadline", 10);
    statements.push_back({"SELECT pg_sleep(30)", {}});
    statements.push_back({"INSERT INTO batch_deadline (id, v) VALUES (11, 'after the sleep')", {}});
    try {
        pool.batch(statements, {.timeout = 300ms});
        FAIL("no QueryTimeout");
    } catch (const db::QueryTimeout& e) {
        INFO(e.what());
        CHECK(e.client_side());
        CHECK(e.cancelled());
        CHECK_THAT(e.what(), Catch::StartsWith("batch statement 11 of 12 timed out"));
    }
    CHECK(batch_test_rows(pool, "batch_deadline") == 0);
    CHECK(pool.query("SELECT 7").front()[0].as<int>() == 7);
    SECTION("the caller's own deadline ends in Cancelled; the server cancelled the batch") {
        try {
            pool.batch(statements, {.deadline = std::chrono::steady_clock::now() + 300ms});
            FAIL("no Cancelled");
        } catch (const db::Cancelled& e) {
            CHECK(e.reason() == db::CancelReason::deadline);
            CHECK_FALSE(e.statement_may_have_run());
        }
        CHECK(batch_test_rows(pool, "batch_deadline") == 0);
    }
    CHECK(pool.batch(batch_test_inserts("batch_deadline", 3)).size() == 3);
    CHECK(batch_test_rows(pool, "batch_deadline") == 3);
    CHECK(sleeping_statements("pg-batch-deadline") == 0);
    pool.query("DROP TABLE batch_deadline");
}

TEST_CASE("PgBouncer: a batch works in transaction pooling and a failing one keeps nothing",
          "[batch][pgbouncer]") {
    db::PoolConfig cfg;
    cfg.service_name = "pg-batch-pgbouncer";
    cfg.primary = db::Endpoint::parse(cluster().pgbouncer_url);
    cfg.pgbouncer_mode = true;
    cfg.min_connections = 1;
    cfg.max_connections = 4;
    cfg.connection_timeout = 10s;
    db::Database pool(cfg);
    pool.query("DROP TABLE IF EXISTS batch_pgbouncer");
    pool.query("CREATE TABLE batch_pgbouncer (id int PRIMARY KEY, v text NOT NULL)");
    const auto results = pool.batch(batch_test_inserts("batch_pgbouncer", 10));
    CHECK(results.size() == 10);
    CHECK(batch_test_rows(pool, "batch_pgbouncer") == 10);
    pool.query("TRUNCATE batch_pgbouncer");
    try {
        pool.batch(batch_test_inserts("batch_pgbouncer", 10, 7));
        FAIL("no SqlError");
    } catch (const db::SqlError& e) {
        CHECK(e.sqlstate() == "23505");
        CHECK(e.batch_index() == std::optional<std::size_t>(6));
    }
    CHECK(batch_test_rows(pool, "batch_pgbouncer") == 0);
    CHECK(pool.batch(batch_test_inserts("batch_pgbouncer", 10)).size() == 10);
    CHECK(batch_test_rows(pool, "batch_pgbouncer") == 10);
    pool.query("DROP TABLE batch_pgbouncer");
}

TEST_CASE("statements a batch cannot run give a clear error and leave the pool usable", "[batch]") {
    db::Database pool(one_connection("pg-batch-refused"));
    pool.query("DROP TABLE IF EXISTS batch_refused");
    pool.query("CREATE TABLE batch_refused (id int, v text)");
    SECTION("COPY FROM STDIN") {
        try {
            pool.batch({{"INSERT INTO batch_refused (id) VALUES (1)", {}},
                        {"COPY batch_refused FROM STDIN", {}},
                        {"INSERT INTO batch_refused (id) VALUES (2)", {}}});
            FAIL("no error");
        } catch (const db::UsageError& e) {
            CHECK_THAT(e.what(), Catch::Contains("COPY") && Catch::Contains("copy_in"));
        }
    }
    SECTION("two statements in one string") {
        try {
            pool.batch(
                {{"INSERT INTO batch_refused (id) VALUES (1)", {}}, {"SELECT 1; SELECT 2", {}}});
            FAIL("no error");
        } catch (const db::SqlError& e) {
            CHECK(e.sqlstate() == "42601");
            CHECK(e.batch_index() == std::optional<std::size_t>(1));
            CHECK_THAT(e.what(), Catch::StartsWith("batch statement 2 of 2 failed") &&
                                     Catch::Contains("more than one statement"));
        }
    }
    SECTION("transaction control, refused before anything is sent") {
        try {
            pool.batch({{"INSERT INTO batch_refused (id) VALUES (1)", {}}, {"COMMIT", {}}});
            FAIL("no error");
        } catch (const db::UsageError& e) {
            CHECK_THAT(e.what(), Catch::StartsWith("batch statement 2 of 2") &&
                                     Catch::Contains("COMMIT cannot run in a batch"));
        }
    }
    CHECK(batch_test_rows(pool, "batch_refused") == 0);
    CHECK(pool.batch({{"INSERT INTO batch_refused (id) VALUES (3)", {}}}).size() == 1);
    CHECK(batch_test_rows(pool, "batch_refused") == 1);
    CHECK(pool.stats().in_use == 0);
    pool.query("DROP TABLE batch_refused");
}
