// transaction() against the real primary: conflicts, deadlocks, lost connections and commits.

#include <atomic>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include <sparc_test/fault_proxy.hpp>

#include "pg_util.hpp"

using namespace std::chrono_literals;
using namespace sparc::pgtest;

namespace {

db::TransactionOptions serializable(int retries = 50) {
    return {.timeout = 30s,
            .retries = retries,
            .isolation = db::IsolationLevel::serializable,
            .backoff_base = 1ms,
            .backoff_max = 20ms};
}

// A pool whose primary is reached through a fault-injecting proxy.
struct ProxiedPool {
    sparc::testing::FaultProxy proxy{"127.0.0.1", cluster().port(Node::primary)};
    db::PoolConfig cfg;
    std::unique_ptr<db::Database> pool;

    explicit ProxiedPool(const std::string& application) : cfg(config(application)) {
        auto ep = db::Endpoint::parse(cluster().primary_url);
        ep.set_option("host", "127.0.0.1");
        ep.set_option("port", std::to_string(proxy.port()));
        ep.set_option("sslmode", "disable");  // the proxy must see the protocol in clear
        cfg.primary = ep;
        cfg.statement_cache_size = 0;
        pool = std::make_unique<db::Database>(cfg);
    }
};

}  // namespace

TEST_CASE("conflicting SERIALIZABLE transactions end with exact totals", "[transaction]") {
    db::Database pool(config("pg-serializable"));
    pool.query("DROP TABLE IF EXISTS counters");
    pool.query("CREATE TABLE counters (id int PRIMARY KEY, n bigint NOT NULL)");
    pool.query("INSERT INTO counters VALUES (1, 0), (2, 0)");
    constexpr int kPerThread = 200;
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < kPerThread; ++i) {
                pool.transaction(
                    [](auto& tx) {
                        // Read both, write both: concurrent runs conflict and must be retried.
                        tx.query("SELECT sum(n) FROM counters");
                        tx.query("UPDATE counters SET n = n + 1 WHERE id = 1");
                        tx.query("UPDATE counters SET n = n + 1 WHERE id = 2");
                    },
                    serializable());
            }
        });
    }
    for (auto& t : threads) t.join();
    const auto r = pool.query("SELECT n FROM counters ORDER BY id");
    REQUIRE(r[0][0].as<int>() == 2 * kPerThread);
    REQUIRE(r[1][0].as<int>() == 2 * kPerThread);
    const auto retried = pool.pool_metrics().retries[0].value();
    INFO("serialization retries: " << retried);
    CHECK(retried > 0);
    REQUIRE(pool.pool_metrics().transactions[0].value() == 2 * kPerThread);
}

TEST_CASE("a forced deadlock is retried to success", "[transaction]") {
    db::Database pool(config("pg-deadlock"));
    pool.query("DROP TABLE IF EXISTS locks");
    pool.query("CREATE TABLE locks (id int PRIMARY KEY, v int NOT NULL)");
    pool.query("INSERT INTO locks VALUES (1, 0), (2, 0)");
    std::atomic<int> ready{0};
    auto worker = [&](int first, int second) {
        pool.transaction(
            [&](auto& tx) {
                tx.query("UPDATE locks SET v = v + 1 WHERE id = $1", {first});
                if (tx.attempt() == 1) {
                    ++ready;
                    while (ready < 2) std::this_thread::sleep_for(1ms);
                }
                tx.query("UPDATE locks SET v = v + 1 WHERE id = $1", {second});
            },
            {.timeout = 30s, .retries = 5, .backoff_base = 1ms, .backoff_max = 10ms});
    };
    std::thread a(worker, 1, 2);
    std::thread b(worker, 2, 1);
    a.join();
    b.join();
    const auto r = pool.query("SELECT sum(v) FROM locks");
    REQUIRE(r.front()[0].as<int>() == 4);
    REQUIRE(pool.pool_metrics().retries[1].value() >= 1);
}

TEST_CASE("a backend terminated mid-transaction is retried to success", "[transaction]") {
    db::Database pool(config("pg-tx-terminate"));
    pool.query("DROP TABLE IF EXISTS tx_terminate");
    pool.query("CREATE TABLE tx_terminate (id int PRIMARY KEY)");
    int runs = 0;
    pool.transaction(
        [&](auto& tx) {
            ++runs;
            tx.query("INSERT INTO tx_terminate VALUES (1)");
            if (runs == 1) terminate_sessions("pg-tx-terminate");
            tx.query("SELECT 1");
        },
        {.timeout = 10s, .retries = 3});
    REQUIRE(runs == 2);
    REQUIRE(pool.query("SELECT count(*) FROM tx_terminate").front()[0].as<int>() == 1);
    REQUIRE(pool.pool_metrics().retries[2].value() == 1);
}

TEST_CASE("BEGIN travels with the transaction's first statement, in one round trip",
          "[transaction]") {
    sparc::testing::FaultProxy proxy("127.0.0.1", cluster().port(Node::primary));
    auto cfg = config("pg-begin-pipelined");
    auto ep = db::Endpoint::parse(cluster().primary_url);
    ep.set_option("host", "127.0.0.1");
    ep.set_option("port", std::to_string(proxy.port()));
    ep.set_option("sslmode", "disable");
    cfg.primary = ep;
    cfg.min_connections = 1;
    cfg.max_connections = 1;
    cfg.health_check_period = 1h;  // nothing but the calls below goes through the proxy
    cfg.statement_cache_size = 0;
    db::Database pool(cfg);
    pool.query("DROP TABLE IF EXISTS begin_pipelined");
    pool.query("CREATE TABLE begin_pipelined (id int PRIMARY KEY)");
    auto trips = [&](auto&& fn) {
        const auto before = proxy.client_reads();
        fn();
        return proxy.client_reads() - before;
    };
    // BEGIN and SET LOCAL statement_timeout with the INSERT, then COMMIT.
    CHECK(trips([&] {
              pool.transaction(
                  [](auto& tx) { tx.query("INSERT INTO begin_pipelined VALUES ($1)", {1}); });
          }) == 2);
    // With the outcome resolution's txid_current() as the first statement.
    CHECK(trips([&] {
              pool.transaction(
                  [](auto& tx) { tx.query("INSERT INTO begin_pipelined VALUES ($1)", {2}); },
                  {.resolve_unknown_outcome = true});
          }) == 3);
    // A transaction that runs no statement sends nothing.
    CHECK(trips([&] { pool.transaction([](auto&) {}); }) == 0);
    // The first statement's error fails the transaction; nothing is kept, the session is clean.
    CHECK_THROWS_AS(pool.transaction(
                        [](auto& tx) { tx.query("INSERT INTO begin_pipelined VALUES ($1)", {1}); }),
                    db::SqlError);
    CHECK(pool.transaction([](auto& tx) {
        return tx.query("SELECT count(*) FROM begin_pipelined").front()[0].template as<int>();
    }) == 2);
    // Options still reach the server with a deferred BEGIN.
    CHECK(pool.transaction(
              [](auto& tx) {
                  return tx.query("SELECT current_setting('transaction_isolation')")
                      .front()[0]
                      .template as<std::string>();
              },
              {.isolation = db::IsolationLevel::serializable}) == "serializable");
    CHECK(pool.stats().in_use == 0);
    pool.query("DROP TABLE begin_pipelined");
}

TEST_CASE("a connection cut just after COMMIT is sent", "[transaction][faults]") {
    ProxiedPool p("pg-commit-cut");
    auto& pool = *p.pool;
    pool.query("DROP TABLE IF EXISTS commit_cut");
    pool.query("CREATE TABLE commit_cut (id int PRIMARY KEY)");
    SECTION("without the txid check: TransactionOutcomeUnknown, and the row exists once") {
        p.proxy.cut_after_client_sends(kCommitOnWire);
        int runs = 0;
        REQUIRE_THROWS_AS(pool.transaction(
                              [&](auto& tx) {
                                  ++runs;
                                  tx.query("INSERT INTO commit_cut VALUES (1)");
                              },
                              {.timeout = 10s, .retries = 3}),
                          db::TransactionOutcomeUnknown);
        REQUIRE(runs == 1);
    }
    SECTION("with the txid check: success, and the row exists once") {
        p.proxy.cut_after_client_sends(kCommitOnWire);
        int runs = 0;
        pool.transaction(
            [&](auto& tx) {
                ++runs;
                tx.query("INSERT INTO commit_cut VALUES (1)");
            },
            {.timeout = 10s, .retries = 3, .resolve_unknown_outcome = true});
        REQUIRE(runs == 1);
        REQUIRE(pool.pool_metrics().transactions[0].value() >= 1);
    }
    REQUIRE(p.proxy.wait_for_triggers(1, 5s));
    REQUIRE(p.proxy.triggers_fired() == 1);
    REQUIRE(pool.query("SELECT count(*) FROM commit_cut WHERE id = 1").front()[0].as<int>() == 1);
}

TEST_CASE("a connection cut before COMMIT is sent retries; the row exists once",
          "[transaction][faults]") {
    ProxiedPool p("pg-precommit-cut");
    auto& pool = *p.pool;
    pool.query("DROP TABLE IF EXISTS precommit_cut");
    pool.query("CREATE TABLE precommit_cut (id int PRIMARY KEY)");
    int runs = 0;
    SECTION("cut while fn runs: the pool sees it before sending COMMIT") {
        pool.transaction(
            [&](auto& tx) {
                ++runs;
                tx.query("INSERT INTO precommit_cut VALUES (1)");
                if (runs == 1) p.proxy.cut_all();
            },
            {.timeout = 10s, .retries = 3});
    }
    SECTION("COMMIT written but dropped on the way: the txid check finds it aborted") {
        p.proxy.cut_before_client_sends(kCommitOnWire);
        pool.transaction(
            [&](auto& tx) {
                ++runs;
                tx.query("INSERT INTO precommit_cut VALUES (1)");
            },
            {.timeout = 10s, .retries = 3, .resolve_unknown_outcome = true});
        REQUIRE(p.proxy.wait_for_triggers(1, 5s));
        REQUIRE(p.proxy.triggers_fired() == 1);
        REQUIRE(pool.pool_metrics().retries[3].value() == 1);
    }
    REQUIRE(runs == 2);
    REQUIRE(pool.query("SELECT count(*) FROM precommit_cut").front()[0].as<int>() == 1);
}

TEST_CASE("after a crash, a reused transaction id is not taken for the lost commit",
          "[transaction][faults]") {
    // PostgreSQL makes a transaction id durable only through the WAL records that carry it:
    // after a crash, the id of a transaction whose COMMIT never ran may be handed to a new
    // transaction, and txid_status() then reports that one. The pool must not read it as ours.
    ProxiedPool p("pg-txid-reuse");
    auto& pool = *p.pool;
    db::Database direct(config("pg-txid-burner"));  // straight to the primary
    pool.query("DROP TABLE IF EXISTS txid_reuse");
    // Unlogged: the row writes no WAL, so the transaction's id reaches the WAL only with its
    // COMMIT, which the stalled network holds back. (The crash empties the table: what counts
    // below is that the pool does not report the transaction committed.)
    pool.query("CREATE UNLOGGED TABLE txid_reuse (attempt int NOT NULL)");
    // The test cluster commits asynchronously; make the table survive the crashes below.
    pool.query("CHECKPOINT");
    // Whether the crash made the id reusable still depends on the WAL other sessions (other
    // tests) wrote with later ids before it: try a few times until it did.
    bool reused = false;
    for (int scenario = 0; scenario < 6 && !reused; ++scenario) {
        std::int64_t txid = 0;
        std::int64_t first_after_restart = 0;
        std::string crash_error;
        std::thread crasher;
        int runs = 0;
        std::optional<std::string> unknown;
        try {
            pool.transaction(
                [&](auto& tx) {
                    ++runs;
                    tx.query("INSERT INTO txid_reuse VALUES ($1)", {scenario});
                    if (runs > 1) return;
                    txid = tx.query("SELECT txid_current()").front()[0].template as<std::int64_t>();
                    // COMMIT goes out into a stalled network. Meanwhile the server crashes and,
                    // once back, hands out ids up to ours to transactions that commit.
                    p.proxy.stall(true);
                    crasher = std::thread([&] {
                        try {
                            cluster().restart_node(Node::primary, /*immediate=*/true);
                            std::int64_t next = 0;
                            while (next < txid) {
                                next = direct.query("SELECT txid_current()")
                                           .front()[0]
                                           .as<std::int64_t>();
                                if (first_after_restart == 0) first_after_restart = next;
                            }
                        } catch (const std::exception& e) {
                            crash_error = e.what();
                        }
                        p.proxy.stall(false);
                    });
                },
                {.timeout = 30s, .retries = 3, .resolve_unknown_outcome = true});
        } catch (const db::TransactionOutcomeUnknown& e) {
            unknown = e.what();
            REQUIRE(e.txid() == txid);
        }
        if (crasher.joinable()) crasher.join();
        REQUIRE(crash_error.empty());
        const auto rows =
            direct.query("SELECT count(*) FROM txid_reuse WHERE attempt = $1", {scenario});
        reused = first_after_restart <= txid;
        INFO("txid " << txid << ", first id after the restart " << first_after_restart);
        if (reused) {
            // Our transaction never committed, yet its id now reads as committed.
            REQUIRE(direct.query("SELECT txid_status($1)", {txid}).front()[0].as<std::string>() ==
                    "committed");
            REQUIRE(unknown.has_value());
            REQUIRE_THAT(*unknown, Catch::Contains("restarted"));
            REQUIRE(runs == 1);
            REQUIRE(rows.front()[0].as<int>() == 0);
        } else {
            // The id reached the WAL: the server knows it aborted, and the pool ran it again.
            REQUIRE_FALSE(unknown.has_value());
            REQUIRE(runs == 2);
            REQUIRE(rows.front()[0].as<int>() == 1);
        }
        if (reused) std::printf("txid reuse: the id was reused after crash %d\n", scenario + 1);
    }
    REQUIRE(reused);
}

TEST_CASE("transfers under random backend termination keep every balance", "[transaction]") {
    auto cfg = config("pg-transfers");
    cfg.max_connections = 10;
    db::Database pool(cfg);
    constexpr int kAccounts = 50;
    constexpr int kThreads = 8;
    constexpr int kPerThread = 2500;  // 20,000 transfers
    pool.query("DROP TABLE IF EXISTS transfers");
    pool.query("DROP TABLE IF EXISTS accounts");
    pool.query("CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL)");
    pool.query("CREATE TABLE transfers (id bigint PRIMARY KEY, src int, dst int, amount int)");
    pool.query("INSERT INTO accounts SELECT g, 1000 FROM generate_series(1, $1) g", {kAccounts});

    std::atomic<bool> stop{false};
    std::atomic<int> terminated{0};
    std::string chaos_error;
    std::thread chaos([&] {
        std::mt19937 rng(1);
        while (!stop) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 60));
            try {
                terminated += terminate_sessions("pg-transfers");
            } catch (const std::exception& e) {
                chaos_error = e.what();
                return;
            }
        }
    });
    std::mutex mutex;
    std::set<std::int64_t> committed;
    std::atomic<int> unknown{0};
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            std::mt19937 rng(static_cast<unsigned>(t));
            for (int i = 0; i < kPerThread; ++i) {
                const std::int64_t id = std::int64_t{t} * kPerThread + i;
                const int src = 1 + static_cast<int>(rng() % kAccounts);
                const int dst = 1 + static_cast<int>(rng() % kAccounts);
                const int amount = 1 + static_cast<int>(rng() % 10);
                try {
                    pool.transaction(
                        [&](auto& tx) {
                            tx.query("UPDATE accounts SET balance = balance - $1 WHERE id = $2",
                                     {amount, src});
                            tx.query("UPDATE accounts SET balance = balance + $1 WHERE id = $2",
                                     {amount, dst});
                            tx.query("INSERT INTO transfers VALUES ($1, $2, $3, $4)",
                                     {id, src, dst, amount});
                        },
                        {.timeout = 20s,
                         .retries = 10,
                         .resolve_unknown_outcome = true,
                         .backoff_base = 1ms,
                         .backoff_max = 50ms});
                    std::lock_guard lock(mutex);
                    committed.insert(id);
                } catch (const db::TransactionOutcomeUnknown&) {
                    ++unknown;
                } catch (const db::Error&) {
                    ++failed;
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    stop = true;
    chaos.join();
    INFO("terminated " << terminated << " sessions; unknown " << unknown << ", failed " << failed
                       << ", retries " << pool.pool_metrics().retries[2].value());
    REQUIRE(chaos_error.empty());
    REQUIRE(terminated > 0);
    // Read through sessions of their own: the chaos's last termination may still be on its
    // way to one of the pool's (a statement sent there would fail, rightly not rerun).
    db::Database check(config("pg-transfers-check"));
    const auto total = check.query("SELECT sum(balance) FROM accounts").front()[0];
    REQUIRE(total.as<std::int64_t>() == 1000 * kAccounts);
    const auto rows = check.query("SELECT id FROM transfers");
    std::set<std::int64_t> in_table;
    for (const auto& row : rows) in_table.insert(row[0].as<std::int64_t>());
    REQUIRE(rows.size() == in_table.size());  // no duplicates (also the primary key)
    for (const auto id : committed) REQUIRE(in_table.count(id) == 1);
    // Everything in the table was reported committed, or its outcome was reported unknown.
    REQUIRE(in_table.size() <= committed.size() + static_cast<std::size_t>(unknown.load()));
}

TEST_CASE("a transaction ended by the caller's deadline throws Cancelled every time",
          "[transaction]") {
    // The server's lowered statement_timeout leaves the client's deadline to act first, so the
    // outcome is not a race between the two.
    auto cfg = config("pg-tx-deadline");
    cfg.min_connections = 1;
    db::Database pool(cfg);
    for (int i = 0; i < 5; ++i) {
        INFO("attempt " << i);
        try {
            pool.transaction([](auto& tx) { tx.query("SELECT pg_sleep(3)"); },
                             {.deadline = std::chrono::steady_clock::now() + 300ms});
            FAIL("pg_sleep(3) finished within a 300 ms deadline");
        } catch (const db::Cancelled& e) {
            CHECK(e.reason() == db::CancelReason::deadline);
            CHECK_THAT(e.what(), Catch::Contains("COMMIT was never sent") &&
                                     !Catch::Contains("may have completed"));
        }
    }
    CHECK(pool.query("SELECT 1").front()[0].as<int>() == 1);
}

TEST_CASE("a transaction past its own timeout says it rolled back and names that timeout",
          "[transaction]") {
    auto cfg = config("pg-tx-timeout");
    cfg.min_connections = 1;
    db::Database pool(cfg);
    pool.query("DROP TABLE IF EXISTS tx_timeout");
    pool.query("CREATE TABLE tx_timeout (id int PRIMARY KEY)");
    try {
        pool.transaction(
            [](auto& tx) {
                tx.query("INSERT INTO tx_timeout VALUES (1)");
                tx.query("SELECT pg_sleep(3)");
            },
            {.timeout = 300ms});
        FAIL("pg_sleep(3) finished within a 300 ms timeout");
    } catch (const db::QueryTimeout& e) {
        CHECK_THAT(e.what(),
                   Catch::StartsWith("transaction() reached its 300 ms timeout and was rolled "
                                     "back: COMMIT was never sent") &&
                       !Catch::Contains("may have completed") && !Catch::Contains("query timeout"));
    }
    CHECK(pool.query("SELECT count(*) FROM tx_timeout").front()[0].as<int>() == 0);
    pool.query("DROP TABLE tx_timeout");
}
