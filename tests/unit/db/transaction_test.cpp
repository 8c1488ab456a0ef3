// transaction(): what is retried, what never is, backoff and the deadline.

#include <atomic>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "test_util.hpp"

namespace db = sparc::db;
using db::test::fake_config;
using db::test::FakePool;
using db::test::fast;
using namespace std::chrono_literals;

TEST_CASE("classify: the retry discipline", "[db][retry]") {
    using Action = db::RetryDecision::Action;
    const auto body = db::TransactionPhase::body;
    const auto commit = db::TransactionPhase::commit;
    REQUIRE(db::classify(db::SqlError("x", "40001"), body).action == Action::retry);
    REQUIRE(db::classify(db::SqlError("x", "40001"), body).reason ==
            db::RetryReason::serialization_failure);
    REQUIRE(db::classify(db::SqlError("x", "40001"), commit).action == Action::retry);
    REQUIRE(db::classify(db::SqlError("x", "40P01"), body).reason == db::RetryReason::deadlock);
    REQUIRE(db::classify(db::SqlError("x", "40003"), commit).action == Action::outcome_unknown);
    REQUIRE(db::classify(db::ConnectionError("x", true), body).action == Action::retry);
    REQUIRE(db::classify(db::ConnectionError("x", false), commit).action == Action::retry);
    REQUIRE(db::classify(db::ConnectionError("x", true), commit).action == Action::outcome_unknown);
    REQUIRE(db::classify(db::SqlError("x", "23505"), body).action == Action::fail);
    REQUIRE(db::classify(db::SqlError("x", "42601"), body).action == Action::fail);
    REQUIRE(db::classify(db::QueryTimeout("x"), body).action == Action::fail);
    REQUIRE(db::classify(db::PoolTimeout("x", 1ms, 1, 1), body).action == Action::fail);
}

TEST_CASE("backoff: full jitter under an exponential ceiling", "[db][retry]") {
    std::mt19937_64 rng(7);
    for (int retry = 1; retry <= 12; ++retry) {
        const auto ceiling = std::min<std::int64_t>(1000, 10LL << (retry - 1));
        std::int64_t lo = ceiling;
        std::int64_t hi = 0;
        for (int i = 0; i < 2000; ++i) {
            const auto d = db::backoff_delay(retry, 10ms, 1000ms, rng).count();
            REQUIRE(d >= 0);
            REQUIRE(d <= ceiling);
            lo = std::min(lo, d);
            hi = std::max(hi, d);
        }
        // Spread over the whole range, not clustered at one end.
        REQUIRE(lo <= ceiling / 10);
        REQUIRE(hi >= ceiling * 9 / 10);
    }
}

TEST_CASE("reconnect delay: upper half of a doubling ceiling, capped", "[db][retry]") {
    std::mt19937_64 rng(11);
    for (int failures = 1; failures <= 40; ++failures) {
        const std::int64_t ceiling =
            std::min<std::int64_t>(10'000, 50LL << std::min(failures - 1, 16));
        for (int i = 0; i < 200; ++i) {
            const auto d = db::reconnect_delay(failures, 50ms, 10'000ms, rng).count();
            REQUIRE(d >= ceiling / 2);
            REQUIRE(d <= ceiling);
        }
    }
    // A cap of zero or less still waits a little instead of spinning.
    REQUIRE(db::reconnect_delay(3, 50ms, 0ms, rng).count() >= 0);
    REQUIRE(db::reconnect_delay(3, 50ms, 0ms, rng).count() <= 1);
}

TEST_CASE("a transaction commits and returns fn's value", "[db][transaction]") {
    db::testing::FakeBackend fake;
    fake.on("UPDATE users SET last_login = NOW() WHERE id = $1").affects(1);
    FakePool pool(fake_config(), fake);
    const auto n = pool.transaction(
        [&](auto& tx) {
            tx.query("INSERT INTO logs (action) VALUES ($1)", {"user_login"});
            return tx.query("UPDATE users SET last_login = NOW() WHERE id = $1", {7})
                .affected_rows();
        },
        {.timeout = 10s, .retries = 3, .isolation = db::IsolationLevel::serializable});
    REQUIRE(n == 1);
    const auto calls = fake.calls_on("primary");
    REQUIRE(calls.front().sql.starts_with("BEGIN ISOLATION LEVEL SERIALIZABLE"));
    REQUIRE(calls.back().sql == "COMMIT");
    REQUIRE(pool.pool_metrics().transactions[0].value() == 1);
}

TEST_CASE("serialization failures and deadlocks rerun the whole function", "[db][transaction]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    std::vector<db::RetryReason> reasons;
    SECTION("40001 twice, then success") {
        fake.on("UPDATE accounts").times(2).fails("40001", "could not serialize access");
        int runs = 0;
        pool.transaction(
            [&](auto& tx) {
                ++runs;
                tx.query("UPDATE accounts");
            },
            fast());
        REQUIRE(runs == 3);
        REQUIRE(fake.count("COMMIT") == 1);
        REQUIRE(pool.pool_metrics().retries[0].value() == 2);
    }
    SECTION("a deadlock is retried") {
        fake.on("UPDATE a").times(1).fails("40P01", "deadlock detected");
        int runs = 0;
        pool.transaction(
            [&](auto& tx) {
                ++runs;
                tx.query("UPDATE a");
            },
            fast());
        REQUIRE(runs == 2);
        REQUIRE(pool.pool_metrics().retries[1].value() == 1);
    }
    SECTION("a serialization failure at COMMIT is retried") {
        fake.fail_next_commit("40001", "could not serialize access");
        int runs = 0;
        pool.transaction([&](auto&) { ++runs; }, fast());
        REQUIRE(runs == 2);
    }
    SECTION("retries run out: the last error propagates") {
        fake.on("UPDATE accounts").fails("40001", "could not serialize access");
        int runs = 0;
        try {
            pool.transaction(
                [&](auto& tx) {
                    ++runs;
                    tx.query("UPDATE accounts");
                },
                fast(2));
            FAIL("expected SqlError");
        } catch (const db::SqlError& e) {
            REQUIRE(e.sqlstate() == "40001");
        }
        REQUIRE(runs == 3);
        REQUIRE(fake.count("COMMIT") == 0);
    }
}

TEST_CASE("a connection lost before COMMIT was sent is retried on a fresh connection",
          "[db][transaction]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    SECTION("lost during fn") {
        fake.on("INSERT INTO t VALUES (1)").times(1).drops_connection(true);
        int runs = 0;
        pool.transaction(
            [&](auto& tx) {
                ++runs;
                tx.query("INSERT INTO t VALUES (1)");
            },
            fast());
        REQUIRE(runs == 2);
        REQUIRE(pool.pool_metrics().retries[2].value() == 1);
    }
    SECTION("lost as COMMIT was about to be sent") {
        fake.fail_next_commit(db::testing::CommitFailure::before_send);
        int runs = 0;
        pool.transaction(
            [&](auto& tx) {
                ++runs;
                tx.query("INSERT INTO t VALUES (1)");
            },
            fast());
        REQUIRE(runs == 2);
    }
}

TEST_CASE("a COMMIT whose answer was lost is never rerun", "[db][transaction]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    fake.fail_next_commit(db::testing::CommitFailure::after_send);
    int runs = 0;
    auto fn = [&](auto& tx) {
        ++runs;
        tx.query("INSERT INTO t VALUES (1)");
        return 5;
    };
    SECTION("without resolution: TransactionOutcomeUnknown") {
        try {
            pool.transaction(fn, fast());
            FAIL("expected TransactionOutcomeUnknown");
        } catch (const db::TransactionOutcomeUnknown& e) {
            REQUIRE_FALSE(e.txid().has_value());
        }
        REQUIRE(runs == 1);
        REQUIRE(pool.pool_metrics().transactions[3].value() == 1);
    }
    SECTION("with resolution: txid_status says committed, the call succeeds") {
        auto opts = fast();
        opts.resolve_unknown_outcome = true;
        REQUIRE(pool.transaction(fn, opts) == 5);
        REQUIRE(runs == 1);
        REQUIRE(fake.count(db::detail::kTxidStatusSql) == 1);
    }
    SECTION("SQLSTATE 40003 is unknown too") {
        fake.clear_rules();
        fake.fail_next_commit("40003", "statement completion unknown");
        REQUIRE_THROWS_AS(pool.transaction(fn, fast()), db::TransactionOutcomeUnknown);
    }
}

TEST_CASE("resolution: an aborted commit is retried, an unknown one still throws",
          "[db][transaction]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    auto opts = fast();
    opts.resolve_unknown_outcome = true;
    SECTION("txid_status says aborted") {
        fake.on_commit().times(1).drops_connection(true);  // lost; the fake rolled it back
        fake.on(db::detail::kTxidStatusSql)
            .times(1)
            .returns({"txid_status", "pg_postmaster_start_time"},
                     {{"aborted", "2026-01-01 00:00:00+00 run 2"}});
        int runs = 0;
        pool.transaction([&](auto&) { ++runs; }, opts);
        REQUIRE(runs == 2);
        REQUIRE(pool.pool_metrics().retries[3].value() == 1);
    }
    SECTION("after a restart, a committed id may belong to another transaction") {
        // The server restarted between COMMIT and the question: a crash can hand the id of a
        // transaction that never reached the disk to a new one, which may have committed.
        fake.fail_next_commit(db::testing::CommitFailure::after_send);
        fake.on(db::detail::kTxidStatusSql)
            .returns({"txid_status", "pg_postmaster_start_time"},
                     {{"committed", "2026-01-01 00:00:00+00 run 2"}});
        int runs = 0;
        try {
            pool.transaction([&](auto&) { ++runs; }, opts);
            FAIL("expected TransactionOutcomeUnknown");
        } catch (const db::TransactionOutcomeUnknown& e) {
            REQUIRE(e.txid().has_value());
            REQUIRE_THAT(e.what(), Catch::Contains("restarted"));
        }
        REQUIRE(runs == 1);
    }
    SECTION("a committed id from the same server run is trusted") {
        fake.fail_next_commit(db::testing::CommitFailure::after_send);
        fake.on(db::detail::kTxidStatusSql)
            .returns({"txid_status", "pg_postmaster_start_time"},
                     {{"committed", "2026-01-01 00:00:00+00 run 1"}});
        int runs = 0;
        pool.transaction([&](auto&) { ++runs; }, opts);
        REQUIRE(runs == 1);
    }
    SECTION("the fake's own answer: the start time changes when the host goes down") {
        auto conn = fake.connect(db::Endpoint::parse("postgresql://u@primary/db"), {});
        const auto before = conn->execute(db::detail::kTxidCurrentSql, {}, {});
        fake.host("primary").down();
        fake.host("primary").up();
        auto again = fake.connect(db::Endpoint::parse("postgresql://u@primary/db"), {});
        const auto after = again->execute(db::detail::kTxidCurrentSql, {}, {});
        REQUIRE(before.front()[1].as<std::string>() != after.front()[1].as<std::string>());
    }
    SECTION("txid_status cannot tell") {
        fake.fail_next_commit(db::testing::CommitFailure::after_send);
        fake.on(db::detail::kTxidStatusSql).returns({"txid_status"}, {{std::nullopt}});
        try {
            pool.transaction([&](auto&) {}, opts);
            FAIL("expected TransactionOutcomeUnknown");
        } catch (const db::TransactionOutcomeUnknown& e) {
            REQUIRE(e.txid().has_value());
        }
    }
}

TEST_CASE("other errors roll back and propagate unchanged, without retry", "[db][transaction]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    int runs = 0;
    SECTION("a constraint violation") {
        fake.on("INSERT dup").fails("23505", "duplicate key");
        try {
            pool.transaction(
                [&](auto& tx) {
                    ++runs;
                    tx.query("INSERT dup");
                },
                fast());
            FAIL("expected SqlError");
        } catch (const db::SqlError& e) {
            REQUIRE(e.sqlstate() == "23505");
        }
    }
    SECTION("a user exception") {
        struct Mine : std::runtime_error {
            using std::runtime_error::runtime_error;
        };
        REQUIRE_THROWS_AS(pool.transaction(
                              [&](auto& tx) {
                                  ++runs;
                                  tx.query("INSERT INTO t VALUES (1)");
                                  throw Mine("no");
                              },
                              fast()),
                          Mine);
    }
    SECTION("an error caught inside fn still fails the transaction") {
        fake.on("INSERT bad").fails("22001", "value too long");
        REQUIRE_THROWS_AS(pool.transaction(
                              [&](auto& tx) {
                                  ++runs;
                                  try {
                                      tx.query("INSERT bad");
                                  } catch (const db::SqlError&) {
                                  }
                              },
                              fast()),
                          db::SqlError);
    }
    REQUIRE(runs == 1);
    REQUIRE(fake.count("COMMIT") == 0);
    REQUIRE(fake.count("ROLLBACK") == 1);
    // Health probes borrow idle connections for a moment; nothing else may stay leased.
    REQUIRE(db::test::eventually([&] { return pool.stats().in_use == 0; }));
}

TEST_CASE("retry_if lets the caller retry more", "[db][transaction]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    fake.on("LOCK t NOWAIT").times(1).fails("55P03", "could not obtain lock");
    auto opts = fast();
    opts.retry_if = [](const db::Error& e) {
        const auto* s = dynamic_cast<const db::SqlError*>(&e);
        return s != nullptr && s->sqlstate() == "55P03";
    };
    int runs = 0;
    pool.transaction(
        [&](auto& tx) {
            ++runs;
            tx.query("LOCK t NOWAIT");
        },
        opts);
    REQUIRE(runs == 2);
    REQUIRE(pool.pool_metrics().retries[4].value() == 1);
}

TEST_CASE("the timeout bounds the whole call", "[db][transaction]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config();
    FakePool pool(cfg, fake);
    SECTION("a slow statement is stopped at the deadline, and the error says it rolled back") {
        fake.on("SELECT slow").delays(10s);
        try {
            pool.transaction([&](auto& tx) { tx.query("SELECT slow"); },
                             {.timeout = 100ms, .retries = 3});
            FAIL("expected QueryTimeout");
        } catch (const db::QueryTimeout& e) {
            // COMMIT was never sent: nothing of it can have been kept, whatever became of the
            // statement, and the limit named is the transaction's own.
            CHECK_THAT(e.what(), Catch::StartsWith("transaction() reached its 100 ms timeout "
                                                   "and was rolled back") &&
                                     Catch::Contains("COMMIT was never sent") &&
                                     !Catch::Contains("may have completed") &&
                                     !Catch::Contains("query timeout"));
        }
        REQUIRE(fake.count("COMMIT") == 0);
    }
    SECTION("a statement past its own timeout: the error names it, and says it rolled back") {
        fake.on("SELECT slow").delays(10s);
        try {
            pool.transaction([&](auto& tx) { tx.query("SELECT slow", {}, {.timeout = 50ms}); },
                             {.timeout = 30s, .retries = 3});
            FAIL("expected QueryTimeout");
        } catch (const db::QueryTimeout& e) {
            CHECK_THAT(e.what(), Catch::StartsWith("transaction() was rolled back: a statement "
                                                   "exceeded its query timeout") &&
                                     Catch::Contains("COMMIT was never sent") &&
                                     !Catch::Contains("may have completed"));
        }
        REQUIRE(fake.count("COMMIT") == 0);
    }
    SECTION("no retry starts past the deadline") {
        fake.on("UPDATE x").fails("40001", "could not serialize access");
        int runs = 0;
        REQUIRE_THROWS_AS(
            pool.transaction(
                [&](auto& tx) {
                    ++runs;
                    tx.query("UPDATE x");
                },
                {.timeout = 200ms, .retries = 1000, .backoff_base = 20ms, .backoff_max = 50ms}),
            db::SqlError);
        REQUIRE(runs < 1000);
    }
}

TEST_CASE("transaction options reach BEGIN", "[db][transaction]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    pool.transaction(
        [](auto&) {},
        {.isolation = db::IsolationLevel::serializable, .read_only = true, .deferrable = true});
    REQUIRE(fake.count("BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY DEFERRABLE") == 1);
    pool.transaction([](auto&) {}, {.isolation = db::IsolationLevel::repeatable_read});
    REQUIRE(fake.count("BEGIN ISOLATION LEVEL REPEATABLE READ") == 1);
}

TEST_CASE("retry and outcome hooks are called", "[db][transaction][hooks]") {
    db::testing::FakeBackend fake;
    std::vector<db::RetryReason> retries;
    std::vector<db::TransactionOutcome> outcomes;
    db::Hooks hooks;
    hooks.on_retry = [&](const db::RetryEvent& e) { retries.push_back(e.reason); };
    hooks.on_transaction = [&](const db::TransactionEvent& e) { outcomes.push_back(e.outcome); };
    FakePool pool(fake_config(), fake, hooks);
    fake.on("UPDATE y").times(1).fails("40P01", "deadlock detected");
    pool.transaction([](auto& tx) { tx.query("UPDATE y"); }, fast());
    REQUIRE(retries == std::vector<db::RetryReason>{db::RetryReason::deadlock});
    REQUIRE(outcomes == std::vector<db::TransactionOutcome>{db::TransactionOutcome::committed});
}

TEST_CASE("transaction control inside transaction() is refused before it is sent",
          "[db][transaction]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    for (const char* sql : {"COMMIT", "  commit and chain", "ROLLBACK", "END", "BEGIN", "abort",
                            "/* c */ START TRANSACTION", "PREPARE TRANSACTION 'x'"}) {
        INFO(sql);
        fake.clear_calls();
        CHECK_THROWS_WITH(pool.transaction([&](auto& tx) {
            tx.query("INSERT INTO t VALUES (1)");
            tx.query(sql);
        }),
                          Catch::Contains("cannot run inside transaction()"));
        // Rolled back: the statement never left, and neither did a COMMIT.
        bool committed = false;
        for (const auto& c : fake.calls()) {
            committed = committed || c.sql == "COMMIT";
            if (std::string_view(sql) != "ROLLBACK") CHECK(c.sql != sql);
        }
        CHECK_FALSE(committed);
    }
    // Savepoints are the function's own business.
    pool.transaction([](auto& tx) {
        tx.query("SAVEPOINT s");
        tx.query("ROLLBACK TO SAVEPOINT s");
        tx.query("RELEASE s");
    });
}
