// The pool's state outlives every lease, waiter and hook call that refers to it: destroying the
// pool waits for them, and a lease held past shutdown's grace period is revoked. Shutdown is
// idempotent from any number of threads. Run under AddressSanitizer in CI: a use after free
// here is a report, not a flaky crash.

#include <atomic>
#include <memory>
#include <mutex>
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

TEST_CASE("destroying the pool revokes a lease still held and waits for its release",
          "[db][pool][lifetime]") {
    db::testing::FakeBackend fake;
    std::mutex log_mutex;
    std::vector<std::string> log;
    db::Hooks hooks;
    const auto test_thread = std::this_thread::get_id();
    hooks.on_release = [&](const db::ReleaseEvent& e) {
        std::this_thread::sleep_for(20ms);  // a slow hook: the pool must wait for it
        std::lock_guard lock(log_mutex);
        // Reads the host's label: must still be alive. Only the test's own release is logged
        // (a health probe releases on the housekeeper's thread).
        const std::string host(e.host.label);
        if (std::this_thread::get_id() == test_thread) log.emplace_back(host);
    };
    auto pool = std::make_unique<FakePool>(fake_config(), fake, hooks);
    const std::string label = pool->stats().hosts.front().host;
    auto lease = pool->acquire();
    REQUIRE(lease.query("SELECT 1").empty());

    pool->shutdown(20ms);  // the grace period ends with the lease still held
    std::atomic<bool> destroyed{false};
    std::thread destroyer([&] {
        pool.reset();
        destroyed = true;
    });
    REQUIRE_THROWS_AS(lease.query("SELECT 1"), db::PoolClosed);
    REQUIRE_THROWS_AS(lease.connection(), db::PoolClosed);
    REQUIRE_FALSE(destroyed.load());  // it waits for the lease
    lease.release();
    destroyer.join();
    REQUIRE(destroyed);
    std::lock_guard lock(log_mutex);
    REQUIRE(log == std::vector<std::string>{label});
    REQUIRE(fake.open_connections() == 0);
}

TEST_CASE("a release racing the pool's destruction finishes before the pool is freed",
          "[db][pool][lifetime]") {
    for (int round = 0; round < 20; ++round) {
        db::testing::FakeBackend fake;
        std::atomic<int> hook_calls{0};
        db::Hooks hooks;
        // Counts the test's own releases (a health probe releases on the housekeeper's thread).
        static thread_local bool releasing = false;
        hooks.on_release = [&](const db::ReleaseEvent& e) {
            std::this_thread::yield();
            if (releasing && !e.host.label.empty()) ++hook_calls;
        };
        auto pool = std::make_unique<FakePool>(fake_config(), fake, hooks);
        std::vector<db::Lease<db::testing::FakeBackend>> leases;
        for (int i = 0; i < 4; ++i) leases.push_back(pool->acquire());
        std::vector<std::thread> releasers;
        for (auto& l : leases) {
            releasers.emplace_back([&l] {
                releasing = true;
                l.release();
            });
        }
        pool.reset();  // while the releases run their hooks
        for (auto& t : releasers) t.join();
        REQUIRE(hook_calls == 4);
    }
}

TEST_CASE("callers waiting for a connection when the pool is destroyed fail cleanly",
          "[db][pool][lifetime]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config();
    cfg.max_connections = 1;
    cfg.connection_timeout = 30s;
    auto pool = std::make_unique<FakePool>(cfg, fake);
    auto held = pool->acquire();
    std::atomic<int> closed{0};
    std::vector<std::thread> waiters;
    for (int i = 0; i < 4; ++i) {
        waiters.emplace_back([&, p = pool.get()] {
            try {
                auto lease = p->acquire();
            } catch (const db::PoolClosed&) {
                ++closed;
            }
        });
    }
    REQUIRE(eventually([&] { return pool->stats().waiting == 4; }));
    pool->shutdown(10ms);
    std::thread destroyer([&] { pool.reset(); });
    for (auto& t : waiters) t.join();
    REQUIRE(closed == 4);
    held.release();
    destroyer.join();
    REQUIRE(fake.open_connections() == 0);
}

TEST_CASE("shutdown from many threads: every call returns when the drain has ended",
          "[db][pool][lifetime]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    auto lease = pool.acquire();
    std::atomic<int> returned{0};
    std::vector<std::thread> callers;
    for (int i = 0; i < 6; ++i) {
        callers.emplace_back([&] {
            pool.shutdown(60s);
            ++returned;
        });
    }
    REQUIRE(eventually([&] { return pool.closed(); }));
    // The drain waits for the lease: no caller may return before it is released.
    REQUIRE_FALSE(eventually([&] { return returned.load() > 0; }, 300ms));
    lease.release();
    for (auto& t : callers) t.join();
    REQUIRE(returned == 6);
    REQUIRE(pool.stats().total == 0);
    REQUIRE_THROWS_AS(pool.query("SELECT 1"), db::PoolClosed);
}

TEST_CASE("a transaction whose lease is revoked at shutdown fails with PoolClosed",
          "[db][pool][lifetime][transaction]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    std::atomic<bool> inside{false};
    std::atomic<bool> go{false};
    std::atomic<bool> closed{false};
    std::thread worker([&] {
        try {
            pool.transaction(
                [&](auto& tx) {
                    tx.query("UPDATE videos SET views = 1");
                    inside = true;
                    while (!go) std::this_thread::yield();
                    tx.query("UPDATE videos SET views = 2");
                },
                {.timeout = 30s, .retries = 0});
        } catch (const db::PoolClosed&) {
            closed = true;
        }
    });
    REQUIRE(eventually([&] { return inside.load(); }));
    pool.shutdown(20ms);  // returns once the lease still held is revoked
    go = true;
    worker.join();
    REQUIRE(closed);
    REQUIRE(fake.count("UPDATE videos SET views = 2") == 0);
    REQUIRE(fake.count("COMMIT") == 0);
}
