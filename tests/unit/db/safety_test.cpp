// The write-safety rules (safety.hpp): a test per row of each rule's table, then what the pool
// does with them over the fake backend.

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "test_util.hpp"

namespace db = sparc::db;
namespace safety = sparc::db::safety;
using db::test::fake_config;
using db::test::FakePool;
using db::test::fast;
using namespace std::chrono_literals;

namespace {

db::SqlError server_error(std::string sqlstate, std::string routine) {
    db::SqlErrorFields fields;
    fields.routine = std::move(routine);
    return db::SqlError("server error", std::move(sqlstate), fields);
}

// Options whose retry_if would retry anything, counting how often it is asked.
db::TransactionOptions retry_everything(int& asked) {
    auto options = fast();
    options.retry_if = [&asked](const db::Error&) {
        ++asked;
        return true;
    };
    return options;
}

}  // namespace

TEST_CASE("rerun_statement: only what never reached the server, or a stale cached plan",
          "[db][safety]") {
    using R = safety::Rerun;
    REQUIRE(safety::rerun_statement(db::ConnectionError("x", false)) == R::fresh_connection);
    REQUIRE(safety::rerun_statement(db::ConnectionError("x", true)) == R::no);
    REQUIRE(safety::rerun_statement(db::ConnectionError("x", true, "57P01")) == R::no);
    REQUIRE(safety::rerun_statement(server_error("0A000", "RevalidateCachedQuery")) ==
            R::same_host);
    REQUIRE(safety::rerun_statement(server_error("26000", "FetchPreparedStatement")) ==
            R::same_host);
    // The same SQLSTATEs raised elsewhere may come after the statement wrote: never rerun.
    REQUIRE(safety::rerun_statement(server_error("0A000", "exec_stmt_raise")) == R::no);
    REQUIRE(safety::rerun_statement(server_error("26000", "")) == R::no);
    REQUIRE(safety::rerun_statement(db::QueryTimeout("x", true)) == R::no);
    REQUIRE(safety::rerun_statement(db::QueryTimeout("x", false)) == R::no);
    REQUIRE(safety::rerun_statement(db::UsageError("x")) == R::no);
    REQUIRE(safety::rerun_statement(db::SqlError("x", "23505")) == R::no);
    // A for_each that handed a row to its function: nothing runs again, whatever the failure.
    REQUIRE(safety::rerun_statement(db::ConnectionError("x", false), 0) == R::fresh_connection);
    REQUIRE(safety::rerun_statement(db::ConnectionError("x", false), 1) == R::no);
    REQUIRE(safety::rerun_statement(server_error("0A000", "RevalidateCachedQuery"), 1) == R::no);
}

TEST_CASE("classify: each row of the transaction table", "[db][safety][retry]") {
    using A = db::RetryDecision::Action;
    const auto body = db::TransactionPhase::body;
    const auto commit = db::TransactionPhase::commit;
    const auto broken = db::TxStatus::unknown;
    const auto failed = db::TxStatus::in_error;
    const auto clean = db::TxStatus::in_transaction;

    // Connection lost: retried when the transaction's own connection broke.
    REQUIRE(safety::classify(db::ConnectionError("x", false), body, broken).action == A::retry);
    REQUIRE(safety::classify(db::ConnectionError("x", true), body, broken).action == A::retry);
    // ... but an error from another connection (a pool.query() inside fn) is fn's own failure.
    REQUIRE(safety::classify(db::ConnectionError("x", true), body, clean).action == A::fail);
    REQUIRE(safety::classify(db::ConnectionError("x", false), commit, broken).action == A::retry);
    REQUIRE(safety::classify(db::ConnectionError("x", true), commit, broken).action ==
            A::outcome_unknown);

    // Client deadline during COMMIT: the COMMIT may finish without us.
    REQUIRE(safety::classify(db::QueryTimeout("x", true), commit, broken).action ==
            A::outcome_unknown);
    REQUIRE(safety::classify(db::QueryTimeout("x", false), commit, failed).action == A::fail_final);
    REQUIRE(safety::classify(db::QueryTimeout("x", true), body, failed).action == A::fail);
    REQUIRE(safety::classify(db::QueryTimeout("x", false), body, failed).action == A::fail);

    REQUIRE(safety::classify(db::SqlError("x", "40001"), body, failed).reason ==
            db::RetryReason::serialization_failure);
    REQUIRE(safety::classify(db::SqlError("x", "40001"), body, clean).action == A::fail);
    REQUIRE(safety::classify(db::SqlError("x", "40001"), commit, broken).action == A::retry);
    REQUIRE(safety::classify(db::SqlError("x", "40P01"), body, failed).reason ==
            db::RetryReason::deadlock);
    REQUIRE(safety::classify(db::SqlError("x", "40003"), commit, broken).action ==
            A::outcome_unknown);
    const auto stale = server_error("0A000", "RevalidateCachedQuery");
    REQUIRE(safety::classify(stale, body, failed).reason == db::RetryReason::stale_statement);
    REQUIRE(safety::classify(stale, commit, failed).action == A::fail_final);
    // A server answer to COMMIT proves the rollback; retry_if is never asked there.
    REQUIRE(safety::classify(db::SqlError("x", "23505"), commit, failed).action == A::fail_final);
    REQUIRE(safety::classify(db::SqlError("x", "23505"), body, failed).action == A::fail);
    REQUIRE(safety::classify(db::UsageError("x"), body, clean).action == A::fail_final);
    REQUIRE(safety::classify(db::PoolTimeout("x", 1ms, 1, 1), body, clean).action == A::fail);
    REQUIRE(safety::classify(db::PoolTimeout("x", 1ms, 1, 1), commit, broken).action ==
            A::fail_final);
}

TEST_CASE("marks_host_down: only a broken or refused session", "[db][safety]") {
    REQUIRE(safety::marks_host_down(db::ConnectionError("x")));
    REQUIRE_FALSE(safety::marks_host_down(db::UsageError("x", "08P01")));
    REQUIRE_FALSE(safety::marks_host_down(db::SqlError("x", "42601")));
    REQUIRE_FALSE(safety::marks_host_down(db::QueryTimeout("x", true)));
}

TEST_CASE("pooler_never_forwarded: PgBouncer's refusals for want of a server", "[db][safety]") {
    // Sent by PgBouncer before any server saw the statement.
    REQUIRE(safety::pooler_never_forwarded(
        "08P01", "server login has been failing, try again later (server_login_retry)"));
    REQUIRE(safety::pooler_never_forwarded(
        "08P01",
        "server login has been failing, cached error: connect failed "
        "(server_login_retry)"));
    REQUIRE(safety::pooler_never_forwarded("08P01", "pgbouncer cannot connect to server"));
    REQUIRE(safety::pooler_never_forwarded("08P01", "query_wait_timeout"));
    REQUIRE(
        safety::pooler_never_forwarded("08P01", "no more connections allowed (max_client_conn)"));
    // Anything else may have reached the server.
    REQUIRE_FALSE(safety::pooler_never_forwarded("08P01", "server conn crashed?"));
    REQUIRE_FALSE(safety::pooler_never_forwarded("57P01", "server login has been failing"));
    REQUIRE_FALSE(safety::pooler_never_forwarded(
        "08P01", "terminating connection: server login has been failing"));
    REQUIRE_FALSE(safety::pooler_never_forwarded("", ""));
}

TEST_CASE("pooler_lost_database: PgBouncer cannot reach the database behind it", "[db][safety]") {
    // As the pool reports them: PgBouncer's text inside the pool's own message.
    REQUIRE(safety::pooler_lost_database(
        "08P01",
        "connection lost: ERROR:  server login has been failing, try again later "
        "(server_login_retry)"));
    REQUIRE(safety::pooler_lost_database("08P01",
                                         "connection lost: pgbouncer cannot connect to server"));
    // The database is up but busy, or the session broke for another reason: no backoff.
    REQUIRE_FALSE(safety::pooler_lost_database("08P01", "connection lost: query_wait_timeout"));
    REQUIRE_FALSE(safety::pooler_lost_database(
        "08P01", "connection lost: no more connections allowed (max_client_conn)"));
    REQUIRE_FALSE(safety::pooler_lost_database("57P01", "server login has been failing"));
    REQUIRE_FALSE(safety::pooler_lost_database("", "server closed the connection"));
}

TEST_CASE("reuse: a connection goes back only when clean", "[db][safety]") {
    using R = safety::Reuse;
    REQUIRE(safety::reuse(db::TxStatus::idle, false) == R::keep);
    REQUIRE(safety::reuse(db::TxStatus::idle, true) == R::discard);
    REQUIRE(safety::reuse(db::TxStatus::in_transaction, false) == R::roll_back_first);
    REQUIRE(safety::reuse(db::TxStatus::in_error, false) == R::roll_back_first);
    REQUIRE(safety::reuse(db::TxStatus::in_transaction, true) == R::discard);
    REQUIRE(safety::reuse(db::TxStatus::active, false) == R::discard);
    REQUIRE(safety::reuse(db::TxStatus::unknown, false) == R::discard);
}

TEST_CASE("check_statement: NUL bytes and too many parameters are the caller's mistake",
          "[db][safety]") {
    REQUIRE_NOTHROW(safety::check_statement("SELECT $1", {std::string("a\tb\nc\\d")}));
    REQUIRE_NOTHROW(safety::check_statement("SELECT $1", {std::nullopt}));
    const std::string nul_param("abc\0def", 7);
    try {
        safety::check_statement("SELECT $1, $2", {1, nul_param});
        FAIL("no UsageError");
    } catch (const db::UsageError& e) {
        REQUIRE_THAT(e.what(), Catch::Contains("parameter $2") && Catch::Contains("offset 3"));
    }
    REQUIRE_THROWS_AS(safety::check_statement(std::string_view("SELECT 1\0; DROP", 15), {}),
                      db::UsageError);
    std::vector<db::Param> many(db::kMaxParameters + 1, db::Param(1));
    REQUIRE_THROWS_WITH(safety::check_statement("SELECT 1", many),
                        Catch::Contains("65536 parameters"));
    many.pop_back();
    REQUIRE_NOTHROW(safety::check_statement("SELECT 1", many));
}

TEST_CASE("the pool refuses a NUL byte before anything is sent", "[db][safety][pool]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    const std::string key("vid\0eo", 6);
    REQUIRE_THROWS_AS(pool.query("SELECT * FROM videos WHERE slug = $1", {key}), db::UsageError);
    int runs = 0;
    REQUIRE_THROWS_AS(pool.transaction(
                          [&](auto& tx) {
                              ++runs;
                              tx.query("INSERT INTO videos (slug) VALUES ($1)", {key});
                          },
                          fast()),
                      db::UsageError);
    REQUIRE(runs == 1);
    REQUIRE(fake.count(std::regex("videos")) == 0);
}

TEST_CASE("a parameter-count mistake (08P01) is a UsageError: no retry, no host down, kept",
          "[db][safety][pool]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config({"replica1"});
    cfg.min_connections = 1;
    cfg.max_connections = 2;
    FakePool pool(cfg, fake);
    fake.on("SELECT $1::int + $2::int")
        .fails("08P01", "bind message supplies 1 parameters, but prepared statement requires 2");
    REQUIRE(db::test::eventually([&] { return pool.stats().total == 2; }));

    REQUIRE_THROWS_AS(pool.query("SELECT $1::int + $2::int", {1}, {.use_read_replica = true}),
                      db::UsageError);
    REQUIRE(pool.router().state(0).up);
    REQUIRE(fake.count("SELECT $1::int + $2::int") == 1);

    int runs = 0;
    REQUIRE_THROWS_AS(pool.transaction(
                          [&](auto& tx) {
                              ++runs;
                              tx.query("SELECT $1::int + $2::int", {1});
                          },
                          fast()),
                      db::UsageError);
    REQUIRE(runs == 1);
    REQUIRE(pool.query("SELECT 1").empty());
    // Nothing was discarded: every connection ever opened is still open. (A health probe
    // may open one more while both are leased, so the opened count alone cannot tell.)
    REQUIRE(fake.open_connections() == fake.connections_opened());
}

TEST_CASE("a statement whose session ended with FATAL after it was sent is not rerun",
          "[db][safety][pool]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    fake.on("CALL archive_videos()").once().drops_connection(true);
    try {
        pool.query("CALL archive_videos()");
        FAIL("no ConnectionError");
    } catch (const db::ConnectionError& e) {
        REQUIRE(e.statement_sent());
    }
    REQUIRE(fake.count("CALL archive_videos()") == 1);
}

TEST_CASE("a COMMIT past the client deadline is an unknown outcome, never retried",
          "[db][safety][transaction]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config();
    cfg.statement_timeout = 50ms;  // does not interrupt a COMMIT
    cfg.query_timeout = 100ms;
    FakePool pool(cfg, fake);
    fake.on_commit().once().delays(10s);  // a slow fsync or synchronous-replication wait
    int runs = 0;
    int asked = 0;
    const auto options = retry_everything(asked);
    REQUIRE_THROWS_AS(pool.transaction(
                          [&](auto& tx) {
                              ++runs;
                              tx.query("INSERT INTO views (video_id) VALUES ($1)", {7});
                          },
                          options),
                      db::TransactionOutcomeUnknown);
    REQUIRE(runs == 1);
    REQUIRE(asked == 0);
    REQUIRE(fake.count("COMMIT") == 1);
    REQUIRE(pool.pool_metrics()
                .transactions[static_cast<std::size_t>(db::TransactionOutcome::unknown)]
                .value() == 1);
}

TEST_CASE("a COMMIT is not undone by the server's statement_timeout or a cancel",
          "[db][safety][transaction][fake]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config();
    cfg.statement_timeout = 50ms;
    FakePool pool(cfg, fake);
    fake.on_commit().once().delays(300ms);
    const auto n = pool.transaction(
        [&](auto& tx) { return tx.query("UPDATE videos SET views = views + 1").affected_rows(); });
    (void)n;
    const auto calls = fake.calls();
    const auto commit =
        std::find_if(calls.begin(), calls.end(), [](const auto& c) { return c.sql == "COMMIT"; });
    REQUIRE(commit != calls.end());
    REQUIRE(commit->outcome == db::QueryOutcome::ok);
}

TEST_CASE("retry_if is never asked for a caller's mistake nor in the commit phase",
          "[db][safety][transaction]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    fake.fail_next_commit("23505", "deferred unique violation at commit");
    int runs = 0;
    int asked = 0;
    const auto options = retry_everything(asked);
    REQUIRE_THROWS_AS(pool.transaction([&](auto& tx) { ++runs, tx.query("INSERT 1"); }, options),
                      db::SqlError);
    REQUIRE(runs == 1);
    REQUIRE(asked == 0);
}

TEST_CASE("an error from another connection inside fn does not rerun fn", "[db][safety]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    fake.on("INSERT INTO audit DEFAULT VALUES").once().drops_connection(true);
    int runs = 0;
    REQUIRE_THROWS_AS(pool.transaction(
                          [&](auto& tx) {
                              ++runs;
                              tx.query("UPDATE videos SET views = views + 1");
                              pool.query("INSERT INTO audit DEFAULT VALUES");  // autocommit
                          },
                          fast()),
                      db::ConnectionError);
    REQUIRE(runs == 1);
    REQUIRE(fake.count("INSERT INTO audit DEFAULT VALUES") == 1);
}

TEST_CASE(
    "a query waiting on a connection its own transaction holds gives up at the "
    "transaction's deadline and says why",
    "[db][safety][pool]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config();
    cfg.max_connections = 1;
    cfg.connection_timeout = 10s;
    FakePool pool(cfg, fake);
    try {
        pool.transaction([&](auto&) { pool.query("SELECT 1"); }, {.timeout = 200ms, .retries = 0});
        FAIL("no PoolTimeout");
    } catch (const db::PoolTimeout& e) {
        REQUIRE(e.waited() < cfg.connection_timeout);
        REQUIRE_THAT(e.what(), Catch::Contains("lease held by the same thread"));
    }
    REQUIRE(pool.query("SELECT 1").empty());
}

TEST_CASE("try_another_host: a replica read moves on only when the replica applied nothing",
          "[db][safety]") {
    REQUIRE(safety::try_another_host(db::ConnectionError("x", false)));
    REQUIRE_FALSE(safety::try_another_host(db::ConnectionError("x", true)));
    REQUIRE(safety::try_another_host(db::ConnectionError("x", true, "57P01", true)));
    REQUIRE_FALSE(safety::try_another_host(db::ConnectionError("x", true, "57P01")));
    REQUIRE(safety::try_another_host(db::SqlError("x", "25006")));
    REQUIRE(safety::try_another_host(db::SqlError("x", "40001")));
    REQUIRE(safety::try_another_host(db::SqlError("x", "57P04")));
    REQUIRE_FALSE(safety::try_another_host(db::SqlError("x", "23505")));
    REQUIRE_FALSE(safety::try_another_host(db::QueryTimeout("x", true)));
    REQUIRE_FALSE(safety::try_another_host(db::UsageError("x")));
    // A streamed read that handed a row to its function goes nowhere else.
    REQUIRE(safety::try_another_host(db::ConnectionError("x", true, "57P01", true), 0));
    REQUIRE_FALSE(safety::try_another_host(db::ConnectionError("x", true, "57P01", true), 1));
    REQUIRE_FALSE(safety::try_another_host(db::ConnectionError("x", false), 3));
    REQUIRE_FALSE(safety::try_another_host(db::SqlError("x", "40001"), 1));
}

TEST_CASE("a replica read lost after it was sent moves on only from a read-only session",
          "[db][safety][router]") {
    db::testing::FakeBackend fake;
    // The fake's "replicas" here are writable hosts: replicas promoted behind the pool's back.
    const std::string sql = "UPDATE counters SET n = n + 1 RETURNING n";
    SECTION("sessions opened read-only: the write is refused there, never applied twice") {
        FakePool pool(fake_config({"replica1", "replica2"}), fake);
        fake.on(sql).on_host("primary").affects(1);
        REQUIRE(pool.query(sql, {}, {.use_read_replica = true}).affected_rows() == 1);
        for (const auto& call : fake.calls()) {
            if (call.sql != sql) continue;
            REQUIRE((call.host == "primary" || call.sqlstate == "25006"));
        }
    }
    SECTION("a lost read on a read-only session goes to another host") {
        FakePool pool(fake_config({"replica1", "replica2"}), fake);
        fake.on("SELECT n FROM counters").on_host("replica1").drops_connection(true);
        fake.on("SELECT n FROM counters").on_host("replica2").returns({"n"}, {{"1"}});
        fake.on("SELECT n FROM counters").on_host("primary").returns({"n"}, {{"1"}});
        REQUIRE(pool.query("SELECT n FROM counters", {}, {.use_read_replica = true}).size() == 1);
    }
    SECTION(
        "behind PgBouncer (no read-only sessions) a statement lost after it was sent stays "
        "lost") {
        auto cfg = fake_config({"replica1", "replica2"});
        cfg.pgbouncer_mode = true;
        FakePool pool(cfg, fake);
        fake.on(sql).drops_connection(true);
        try {
            pool.query(sql, {}, {.use_read_replica = true});
            FAIL("no ConnectionError");
        } catch (const db::ConnectionError& e) {
            REQUIRE(e.statement_sent());
            REQUIRE_FALSE(e.read_only_session());
        }
        REQUIRE(fake.count(sql) == 1);
    }
}

TEST_CASE("a lease that holds no connection throws UsageError instead of crashing",
          "[db][safety][pool]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    auto lease = pool.acquire();
    auto moved = std::move(lease);
    REQUIRE_THROWS_AS(lease.query("SELECT 1"), db::UsageError);  // NOLINT(bugprone-use-after-move)
    moved.release();
    REQUIRE_THROWS_AS(moved.query("SELECT 1"), db::UsageError);
    REQUIRE_THROWS_AS(moved.connection(), db::UsageError);
    REQUIRE(moved.host().label.empty());
}

TEST_CASE("a statement cancelled by shutdown is PoolClosed, not a timeout", "[db][lifetime]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    fake.on("SELECT pg_sleep(60)").delays(60s);
    auto lease = pool.acquire();
    std::thread stopper([&] {
        REQUIRE(fake.wait_for_running(1, 30s));
        pool.shutdown(20ms);
    });
    REQUIRE_THROWS_AS(lease.query("SELECT pg_sleep(60)"), db::PoolClosed);
    stopper.join();
}
