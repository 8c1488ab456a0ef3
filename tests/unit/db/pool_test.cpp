// ConnectionPool on the fake backend: sizing, waiting, timeouts, lifetimes, dead connections,
// leaks and shutdown.

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "test_util.hpp"

namespace db = sparc::db;
using db::test::eventually;
using db::test::fake_config;
using db::test::FakePool;
using namespace std::chrono_literals;

TEST_CASE("construction opens min_connections in the background", "[db][pool]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config();
    cfg.min_connections = 3;
    SECTION("a reachable server gets the minimum") {
        FakePool pool(cfg, fake);
        REQUIRE(eventually([&] { return pool.stats().idle == 3; }));
        REQUIRE(fake.host("primary").open_connections() == 3);
    }
    SECTION("an unreachable server does not make construction fail or wait") {
        fake.host("primary").refuse_connections();
        FakePool pool(cfg, fake);
        REQUIRE(pool.stats().total == 0);
        REQUIRE(eventually([&] { return fake.host("primary").connection_attempts() >= 2; }));
        fake.host("primary").refuse_connections(false);
        REQUIRE(eventually([&] { return pool.stats().idle == 3; }));
    }
}

TEST_CASE("the pool never opens more than max_connections", "[db][pool]") {
    db::testing::FakeBackend fake;
    fake.on("SELECT work").delays(2ms);
    auto cfg = fake_config();
    cfg.max_connections = 3;
    FakePool pool(cfg, fake);
    std::atomic<std::size_t> peak{0};
    std::atomic<bool> done{false};
    std::thread watcher([&] {
        while (!done) {
            const auto n = fake.host("primary").open_connections();
            if (n > peak) peak = n;
            std::this_thread::sleep_for(200us);
        }
    });
    std::vector<std::thread> workers;
    for (int t = 0; t < 12; ++t) {
        workers.emplace_back([&] {
            for (int i = 0; i < 20; ++i) pool.query("SELECT work");
        });
    }
    for (auto& w : workers) w.join();
    done = true;
    watcher.join();
    REQUIRE(fake.count("SELECT work") == 240);
    REQUIRE(peak.load() <= 3);
    REQUIRE(fake.connections_opened() <= 3);
    const auto s = pool.stats();
    REQUIRE(eventually([&] { return pool.stats().in_use == 0; }));  // probes borrow briefly
    REQUIRE(s.waiting == 0);
}

TEST_CASE("waiters are served in FIFO order", "[db][pool]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config();
    cfg.max_connections = 1;
    cfg.connection_timeout = 10s;
    FakePool pool(cfg, fake);
    auto held = pool.acquire();
    std::mutex mutex;
    std::vector<int> order;
    std::vector<std::thread> waiters;
    for (int i = 0; i < 4; ++i) {
        waiters.emplace_back([&, i] {
            auto lease = pool.acquire();
            std::lock_guard lock(mutex);
            order.push_back(i);
        });
        // The next waiter starts only once this one is queued.
        REQUIRE(
            eventually([&] { return pool.stats().waiting == static_cast<std::size_t>(i + 1); }));
    }
    held.release();
    for (auto& w : waiters) w.join();
    REQUIRE(order == std::vector<int>{0, 1, 2, 3});
    REQUIRE(fake.connections_opened() == 1);  // handed from lease to lease, never reopened
}

TEST_CASE("an exhausted pool throws PoolTimeout after connection_timeout", "[db][pool]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config();
    cfg.max_connections = 2;
    cfg.connection_timeout = 100ms;
    FakePool pool(cfg, fake);
    auto a = pool.acquire();
    auto b = pool.acquire();
    try {
        pool.query("SELECT 1");
        FAIL("expected PoolTimeout");
    } catch (const db::PoolTimeout& e) {
        REQUIRE(e.pool_size() == 2);
        REQUIRE(e.waiting() == 1);
        REQUIRE(e.waited() >= 100ms);
        REQUIRE_THAT(e.what(), Catch::Contains("primary:5432/app") && Catch::Contains("2 of 2"));
    }
    REQUIRE(pool.stats().waiting == 0);
    b.release();
    REQUIRE_NOTHROW(pool.query("SELECT 1"));
}

TEST_CASE("a refused connection reaches the waiting caller as ConnectionError", "[db][pool]") {
    db::testing::FakeBackend fake;
    fake.host("primary").refuse_connections();
    auto cfg = fake_config();
    FakePool pool(cfg, fake);
    REQUIRE_THROWS_AS(pool.query("SELECT 1"), db::ConnectionError);
}

TEST_CASE("idle connections above the minimum are closed after idle_timeout", "[db][pool]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config();
    cfg.min_connections = 1;
    cfg.max_connections = 4;
    cfg.idle_timeout = 100ms;
    FakePool pool(cfg, fake);
    {
        std::vector<db::Lease<db::testing::FakeBackend>> leases;
        for (int i = 0; i < 4; ++i) leases.push_back(pool.acquire());
        REQUIRE(pool.stats().total == 4);
    }
    REQUIRE(pool.stats().idle == 4);
    REQUIRE(eventually([&] { return pool.stats().total == 1; }));
    REQUIRE(fake.host("primary").open_connections() == 1);
}

TEST_CASE("connections are retired after max_lifetime and replaced", "[db][pool]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config();
    cfg.min_connections = 2;
    cfg.idle_timeout = 100ms;
    cfg.max_lifetime = 150ms;
    FakePool pool(cfg, fake);
    REQUIRE(eventually([&] { return fake.connections_opened() >= 6; }));
    REQUIRE(pool.stats().total <= cfg.max_connections);
    REQUIRE(eventually([&] { return pool.stats().idle == 2; }));
}

TEST_CASE("a dead connection is replaced, not handed out", "[db][pool]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config();
    cfg.min_connections = 2;
    FakePool pool(cfg, fake);
    REQUIRE(eventually([&] { return pool.stats().idle == 2; }));
    const auto before = fake.connections_opened();
    fake.host("primary").terminate_connections();  // as pg_terminate_backend on each
    for (int i = 0; i < 5; ++i) REQUIRE_NOTHROW(pool.query("SELECT 1"));
    REQUIRE(fake.connections_opened() > before);
    for (const auto& call : fake.calls_on("primary")) REQUIRE(call.outcome == db::QueryOutcome::ok);
}

TEST_CASE("a statement that never reached the server runs once more; one that did is reported",
          "[db][pool]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config();
    FakePool pool(cfg, fake);
    SECTION("lost before sending: retried on a fresh connection") {
        fake.on("SELECT 1").times(1).drops_connection(false);
        REQUIRE_NOTHROW(pool.query("SELECT 1"));
        const auto calls = fake.calls_on("primary");
        REQUIRE(calls.size() == 2);
        REQUIRE(calls[0].connection_id != calls[1].connection_id);
    }
    SECTION("lost after sending: never silently re-run") {
        fake.on("UPDATE t SET n = n + 1").times(1).drops_connection(true);
        try {
            pool.query("UPDATE t SET n = n + 1");
            FAIL("expected ConnectionError");
        } catch (const db::ConnectionError& e) {
            REQUIRE(e.statement_sent());
        }
        REQUIRE(fake.count("UPDATE t SET n = n + 1") == 1);
    }
}

TEST_CASE("timeouts: server statement_timeout and client query_timeout", "[db][pool]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config();
    fake.on("SELECT pg_sleep(2)").delays(2s);
    SECTION("the server's statement timeout leaves the connection usable") {
        cfg.statement_timeout = 100ms;
        cfg.query_timeout = 1s;
        FakePool pool(cfg, fake);
        try {
            pool.query("SELECT pg_sleep(2)");
            FAIL("expected QueryTimeout");
        } catch (const db::QueryTimeout& e) {
            REQUIRE_FALSE(e.client_side());
            REQUIRE(e.sqlstate() == "57014");
        }
        REQUIRE_NOTHROW(pool.query("SELECT 1"));
        REQUIRE(fake.connections_opened() == 1);
    }
    SECTION("the client's query timeout discards the connection") {
        cfg.statement_timeout = 1s;
        cfg.query_timeout = 2s;
        FakePool pool(cfg, fake);
        try {
            pool.query("SELECT pg_sleep(2)", {}, {.timeout = 50ms});
            FAIL("expected QueryTimeout");
        } catch (const db::QueryTimeout& e) {
            REQUIRE(e.client_side());
        }
        REQUIRE_NOTHROW(pool.query("SELECT 1"));
        REQUIRE(fake.connections_opened() == 2);
        REQUIRE(fake.open_connections() == 1);
    }
}

TEST_CASE("a lease dropped inside a transaction rolls it back", "[db][pool]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config();
    cfg.max_connections = 1;
    FakePool pool(cfg, fake);
    {
        auto lease = pool.acquire();
        lease.connection().begin({}, {});
        lease.query("INSERT INTO t VALUES (1)");
    }
    REQUIRE(fake.count("ROLLBACK") == 1);
    REQUIRE(pool.stats().idle == 1);
    auto lease = pool.acquire();
    REQUIRE(lease.connection().transaction_status() == db::TxStatus::idle);
}

TEST_CASE("a lease held past the leak threshold is reported with where it was acquired",
          "[db][pool]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config();
    cfg.leak_detection_threshold = 50ms;
    std::mutex mutex;
    std::vector<std::string> files;
    std::vector<unsigned> lines;
    db::Hooks hooks;
    hooks.on_leak = [&](const db::LeakEvent& e) {
        std::lock_guard lock(mutex);
        files.emplace_back(e.acquired_at.file_name());
        lines.push_back(static_cast<unsigned>(e.acquired_at.line()));
    };
    FakePool pool(cfg, fake, hooks);
    const unsigned line = __LINE__ + 1;
    auto lease = pool.acquire();
    REQUIRE(eventually([&] {
        std::lock_guard lock(mutex);
        return !files.empty();
    }));
    std::lock_guard lock(mutex);
    REQUIRE(files.size() == 1);  // reported once, not on every check
    REQUIRE_THAT(files[0], Catch::EndsWith("pool_test.cpp"));
    REQUIRE(lines[0] == line);
    REQUIRE_NOTHROW(lease.query("SELECT 1"));  // no forced close
}

TEST_CASE("shutdown drains: refuses new work, lets leases finish, then closes", "[db][pool]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config();
    cfg.min_connections = 2;
    SECTION("in-flight work finishes within the grace period") {
        fake.on("SELECT slow").delays(100ms);
        FakePool pool(cfg, fake);
        std::atomic<bool> ok{false};
        std::thread worker([&] {
            pool.query("SELECT slow");
            ok = true;
        });
        REQUIRE(fake.wait_for_running(1, 5s));
        pool.shutdown(5s);
        worker.join();
        REQUIRE(ok);
        REQUIRE_THROWS_AS(pool.query("SELECT 1"), db::PoolClosed);
        REQUIRE_THROWS_AS(pool.acquire(), db::PoolClosed);
        REQUIRE(fake.open_connections() == 0);
    }
    SECTION("work past the grace period is cancelled") {
        fake.on("SELECT forever").delays(60s);
        FakePool pool(cfg, fake);
        std::atomic<bool> timed_out{false};
        std::thread worker([&] {
            try {
                pool.query("SELECT forever");
            } catch (const db::QueryTimeout&) {
                timed_out = true;
            }
        });
        REQUIRE(fake.wait_for_running(1, 5s));
        pool.shutdown(50ms);
        worker.join();
        REQUIRE(timed_out);
        REQUIRE(fake.open_connections() == 0);
    }
    SECTION("waiters are released with PoolClosed") {
        cfg.min_connections = 0;
        cfg.max_connections = 1;
        cfg.connection_timeout = 10s;
        FakePool pool(cfg, fake);
        std::atomic<bool> closed{false};
        std::thread waiter;
        {
            auto lease = pool.acquire();
            waiter = std::thread([&] {
                try {
                    pool.acquire();
                } catch (const db::PoolClosed&) {
                    closed = true;
                }
            });
            REQUIRE(eventually([&] { return pool.stats().waiting == 1; }));
            std::thread stopper([&] { pool.shutdown(2s); });
            waiter.join();
            REQUIRE(closed);
            lease.release();
            stopper.join();
        }
        REQUIRE(fake.open_connections() == 0);
    }
}

TEST_CASE("many threads with failures leave the pool consistent", "[db][pool][stress]") {
    db::testing::FakeBackend fake;
    fake.on("SELECT flaky").times(40).drops_connection(false);
    fake.on("SELECT broken").fails("42P01", "relation does not exist");
    fake.on("SELECT slow").delays(1ms);
    auto cfg = fake_config();
    cfg.max_connections = 6;
    cfg.min_connections = 2;
    cfg.idle_timeout = 20ms;
    cfg.max_lifetime = 40ms;
    FakePool pool(cfg, fake);
    std::atomic<int> ok{0};
    std::atomic<int> sql_errors{0};
    std::atomic<int> connection_errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 300; ++i) {
                try {
                    switch ((i + t) % 4) {
                        case 0:
                            pool.query("SELECT flaky");
                            break;
                        case 1:
                            pool.query("SELECT broken");
                            break;
                        case 2:
                            pool.query("SELECT slow");
                            break;
                        default: {
                            auto lease = pool.acquire();
                            lease.query("SELECT 1");
                        }
                    }
                    ++ok;
                } catch (const db::SqlError& e) {
                    if (e.sqlstate() == "42P01") ++sql_errors;
                } catch (const db::ConnectionError& e) {
                    // Two drops in a row for one query (the retry drew another scripted drop).
                    if (!e.statement_sent()) ++connection_errors;
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    REQUIRE(ok + sql_errors + connection_errors == 2400);
    REQUIRE(connection_errors <= 20);
    REQUIRE(sql_errors == 600);
    const auto s = pool.stats();
    REQUIRE(eventually([&] { return pool.stats().in_use == 0; }));  // probes borrow briefly
    REQUIRE(s.waiting == 0);
    REQUIRE(s.total <= 6);
    pool.shutdown(1s);
    REQUIRE(fake.open_connections() == 0);
}

TEST_CASE("hooks see traffic and cannot break the pool", "[db][pool][hooks]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config();
    std::atomic<int> queries{0};
    std::atomic<int> acquires{0};
    db::Hooks hooks;
    hooks.on_query = [&](const db::QueryEvent& e) {
        ++queries;
        REQUIRE(e.host.label == "primary:5432/app");
        throw std::runtime_error("a broken telemetry sink");
    };
    hooks.on_acquire = [&](const db::AcquireEvent&) { ++acquires; };
    FakePool pool(cfg, fake, hooks);
    for (int i = 0; i < 5; ++i) REQUIRE_NOTHROW(pool.query("SELECT 1"));
    REQUIRE(queries == 5);
    REQUIRE(acquires == 5);
    REQUIRE(pool.pool_metrics().hook_errors.value() == 5);
}

TEST_CASE("parameters reach the backend bound, never spliced", "[db][pool][params]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    const std::string evil = "'; DROP TABLE users; --";
    std::optional<int> none;
    pool.query("SELECT $1, $2, $3, $4, $5, $6, $7",
               {std::int64_t{-9007199254740993}, 2.5, true, evil, std::nullopt, none,
                std::optional<std::string>("x")});
    const auto calls = fake.calls_on("primary");
    REQUIRE(calls.size() == 1);
    REQUIRE(calls[0].sql == "SELECT $1, $2, $3, $4, $5, $6, $7");
    REQUIRE(calls[0].params == std::vector<std::optional<std::string>>{"-9007199254740993", "2.5",
                                                                       "true", evil, std::nullopt,
                                                                       std::nullopt, "x"});
}
