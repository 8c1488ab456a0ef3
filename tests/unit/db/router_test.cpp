// The replica router alone, and replica reads through the pool on the fake cluster.

#include <atomic>
#include <map>
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

TEST_CASE("smooth weighted round-robin follows the weights exactly per cycle", "[db][router]") {
    db::ReplicaRouter router({5, 1, 1}, 1s);
    std::vector<int> picks;
    for (int i = 0; i < 7; ++i) picks.push_back(router.pick());
    // Nginx's smooth weighting: the heavy replica is spread out, not picked five times in a row.
    REQUIRE(picks == std::vector<int>{0, 0, 1, 0, 2, 0, 0});
    std::map<int, int> counts;
    for (int i = 0; i < 7000; ++i) ++counts[router.pick()];
    REQUIRE(counts[0] == 5000);
    REQUIRE(counts[1] == 1000);
    REQUIRE(counts[2] == 1000);
}

TEST_CASE("the router skips replicas that are down, lagging, behind or excluded", "[db][router]") {
    db::ReplicaRouter router({1, 1}, 100ms);
    SECTION("down") {
        REQUIRE(router.mark_down(0, "refused"));
        REQUIRE_FALSE(router.mark_down(0, "refused"));  // already down
        for (int i = 0; i < 10; ++i) REQUIRE(router.pick() == 1);
        REQUIRE(router.mark_up(0, db::HostRole::replica, 0ms, std::nullopt, 1ms));
        std::map<int, int> counts;
        for (int i = 0; i < 10; ++i) ++counts[router.pick()];
        REQUIRE(counts[0] == 5);
    }
    SECTION("lagging") {
        router.mark_up(1, db::HostRole::replica, 500ms, std::nullopt, 1ms);
        for (int i = 0; i < 10; ++i) REQUIRE(router.pick() == 0);
    }
    SECTION("excluded") {
        REQUIRE(router.pick(0b01) == 1);
        REQUIRE(router.pick(0b11) == -1);
    }
    SECTION("behind a commit position") {
        router.mark_up(0, db::HostRole::replica, 0ms, db::CommitPosition{10}, 1ms);
        router.mark_up(1, db::HostRole::replica, 0ms, db::CommitPosition{20}, 1ms);
        for (int i = 0; i < 5; ++i) REQUIRE(router.pick(0, db::CommitPosition{15}) == 1);
        REQUIRE(router.pick(0, db::CommitPosition{25}) == -1);
        router.advance_position(0, db::CommitPosition{30});
        REQUIRE(router.pick(0b10, db::CommitPosition{25}) == 0);
    }
    SECTION("down backoff is capped by the health period") {
        router.mark_down(0, "x");
        const auto first = router.next_check(0, 1s) - router.state(0).checked_at;
        for (int i = 0; i < 20; ++i) router.mark_down(0, "x");
        const auto later = router.next_check(0, 1s) - router.state(0).checked_at;
        REQUIRE(first < later);
        REQUIRE(later == std::chrono::steady_clock::duration(1s));
    }
}

TEST_CASE("each thread follows the weights exactly per cycle of its own picks", "[db][router]") {
    db::ReplicaRouter router({3, 1}, 1s);
    constexpr int kThreads = 8;
    constexpr int kCycles = 1000;
    std::vector<std::map<int, int>> counts(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 4 * kCycles; ++i)
                ++counts[static_cast<std::size_t>(t)][router.pick()];
        });
    }
    for (auto& t : threads) t.join();
    for (const auto& c : counts) {
        CHECK(c.at(0) == 3 * kCycles);
        CHECK(c.at(1) == kCycles);
    }
}

TEST_CASE("threads that pick once each still spread their picks by weight", "[db][router]") {
    // Each thread starts one step further into the rotation than the thread before it: a
    // thread per request does not send every read to the heaviest replica.
    db::ReplicaRouter router({3, 1}, 1s);
    std::map<int, int> counts;
    for (int t = 0; t < 8; ++t) std::thread([&] { ++counts[router.pick()]; }).join();
    CHECK(counts[0] == 6);
    CHECK(counts[1] == 2);
}

TEST_CASE("pick() returns only what is eligible while the replicas' state changes",
          "[db][router]") {
    db::ReplicaRouter router({1, 1, 1, 1}, 1s);
    const db::CommitPosition ahead{100};
    const db::CommitPosition behind{10};
    const db::CommitPosition after{50};
    // 0: always up and caught up. 1: up and down, caught up. 2: up only while behind (down
    // whenever its position is past `after`): a read of its state torn between two
    // publications could find it up and past `after`, though the window is a few stores wide
    // and a run seldom hits it. 3: never a standby within max_lag.
    router.mark_up(0, db::HostRole::replica, 0ms, ahead, 1ms);
    router.mark_up(1, db::HostRole::replica, 0ms, ahead, 1ms);
    router.mark_up(2, db::HostRole::replica, 0ms, behind, 1ms);
    router.mark_up(3, db::HostRole::replica, 5s, ahead, 1ms);
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        while (!stop) {
            router.mark_up(0, db::HostRole::replica, 0ms, ahead, 1ms);
            router.mark_down(1, "refused");
            router.mark_down(2, "refused");
            router.advance_position(2, ahead);
            router.mark_not_standby(3, "promoted");
            router.mark_up(1, db::HostRole::replica, 0ms, ahead, 1ms);
            router.mark_up(2, db::HostRole::replica, 0ms, behind, 1ms);  // down before: 10
            router.mark_up(3, db::HostRole::replica, 5s, ahead, 1ms);
        }
    });
    std::atomic<int> wrong{0};
    std::vector<std::map<int, int>> counts(4);
    std::vector<std::thread> readers;
    for (std::size_t t = 0; t < counts.size(); ++t) {
        readers.emplace_back([&, t] {
            for (int i = 0; i < 20'000; ++i) {
                const bool ryw = i % 2 == 1;
                const int r = ryw ? router.pick(0, after) : router.pick();
                ++counts[t][r];
                if (r < 0 || r == 3 || (ryw && r == 2)) ++wrong;
                if (router.pick(0b0001) == 3) ++wrong;
            }
        });
    }
    for (auto& r : readers) r.join();
    stop = true;
    writer.join();
    CHECK(wrong == 0);
    for (const auto& c : counts) CHECK(c.contains(0));
}

TEST_CASE("a zero weight is refused", "[db][router]") {
    REQUIRE_THROWS_AS(db::ReplicaRouter({1, 0}, 1s), db::ConfigError);
}

TEST_CASE("CommitPosition parses and prints PostgreSQL LSNs", "[db][router]") {
    const auto p = db::CommitPosition::parse("16/B374D848");
    REQUIRE(p.lsn == 0x16B374D848ULL);
    REQUIRE(p.to_string() == "16/B374D848");
    REQUIRE(db::CommitPosition::parse("0/0").lsn == 0);
    for (const char* bad : {"", "/", "1/", "/1", "x/1", "1/1/1", "123456789/0", "1 /2"}) {
        REQUIRE_THROWS_AS(db::CommitPosition::parse(bad), db::ConfigError);
    }
}

TEST_CASE("reads go to replicas by weight, writes to the primary", "[db][router][pool]") {
    db::testing::FakeBackend fake;
    fake.replica("r1");
    fake.replica("r2");
    auto cfg = fake_config({"r1", "r2"});
    cfg.replicas[0].weight = 3;
    FakePool pool(cfg, fake);
    for (int i = 0; i < 400; ++i) pool.query("SELECT v", {}, {.use_read_replica = true});
    for (int i = 0; i < 10; ++i) pool.query("UPDATE v SET x = 1");
    REQUIRE(fake.count_on("r1", "SELECT v") == 300);
    REQUIRE(fake.count_on("r2", "SELECT v") == 100);
    REQUIRE(fake.count_on("primary", "SELECT v") == 0);
    REQUIRE(fake.count_on("primary", "UPDATE v SET x = 1") == 10);
}

TEST_CASE("replica failures cost no read", "[db][router][pool]") {
    db::testing::FakeBackend fake;
    fake.replica("r1");
    fake.replica("r2");
    auto cfg = fake_config({"r1", "r2"});
    cfg.min_connections = 1;
    std::vector<std::string> went_down;
    std::mutex mutex;
    db::Hooks hooks;
    hooks.on_host_state = [&](const db::HostStateEvent& e) {
        std::lock_guard lock(mutex);
        if (!e.up) went_down.emplace_back(e.host.label);
    };
    FakePool pool(cfg, fake, hooks);
    std::atomic<bool> stop{false};
    std::atomic<int> failures{0};
    std::atomic<int> reads{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 4; ++t) {
        readers.emplace_back([&] {
            while (!stop) {
                try {
                    pool.query("SELECT v", {}, {.use_read_replica = true});
                    ++reads;
                } catch (const std::exception&) {
                    ++failures;
                }
            }
        });
    }
    REQUIRE(eventually([&] { return reads > 200; }));
    fake.host("r1").down();
    REQUIRE(eventually([&] { return !pool.router().state(0).up; }));
    fake.clear_calls();
    REQUIRE(eventually([&] { return fake.count_on("r2", "SELECT v") > 100; }));
    REQUIRE(fake.count_on("r1", "SELECT v") == 0);
    fake.host("r2").down();
    REQUIRE(eventually([&] { return !pool.router().state(1).up; }));
    fake.clear_calls();
    REQUIRE(eventually([&] { return fake.count_on("primary", "SELECT v") > 100; }));
    fake.host("r1").up();
    fake.host("r2").up();
    REQUIRE(eventually([&] { return pool.router().state(0).up && pool.router().state(1).up; }));
    fake.clear_calls();
    REQUIRE(eventually([&] {
        return fake.count_on("r1", "SELECT v") > 50 && fake.count_on("r2", "SELECT v") > 50;
    }));
    stop = true;
    for (auto& r : readers) r.join();
    REQUIRE(failures == 0);
    std::lock_guard lock(mutex);
    REQUIRE(went_down.size() == 2);
}

TEST_CASE("without fallback, no replica means one clear error naming the hosts",
          "[db][router][pool]") {
    db::testing::FakeBackend fake;
    fake.replica("r1").down();
    fake.replica("r2").down();
    auto cfg = fake_config({"r1", "r2"});
    cfg.fallback_to_primary = false;
    FakePool pool(cfg, fake);
    try {
        pool.query("SELECT v", {}, {.use_read_replica = true});
        FAIL("expected ConnectionError");
    } catch (const db::ConnectionError& e) {
        REQUIRE_THAT(e.what(), Catch::Contains("fallback_to_primary"));
        REQUIRE_THAT(e.what(), Catch::Contains("r1:5432/app") && Catch::Contains("r2:5432/app"));
        REQUIRE_THAT(e.what(), !Catch::Contains("unit-secret-pw"));
    }
    REQUIRE(fake.count("SELECT v") == 0);
}

TEST_CASE("a lagging replica takes no reads until it catches up", "[db][router][pool]") {
    db::testing::FakeBackend fake;
    fake.replica("r1").lag(5s);
    fake.replica("r2");
    auto cfg = fake_config({"r1", "r2"});
    cfg.max_replica_lag = 1s;
    FakePool pool(cfg, fake);
    REQUIRE(eventually([&] { return pool.router().state(0).lag == 5s; }));
    for (int i = 0; i < 20; ++i) pool.query("SELECT v", {}, {.use_read_replica = true});
    REQUIRE(fake.count_on("r1", "SELECT v") == 0);
    REQUIRE(fake.count_on("r2", "SELECT v") == 20);
    fake.host("r1").lag(0ms);
    REQUIRE(eventually([&] { return pool.router().state(0).lag == 0ms; }));
    fake.clear_calls();
    for (int i = 0; i < 20; ++i) pool.query("SELECT v", {}, {.use_read_replica = true});
    REQUIRE(fake.count_on("r1", "SELECT v") == 10);
}

TEST_CASE("read-your-writes: a read after a commit position never sees an older replica",
          "[db][router][pool]") {
    db::testing::FakeBackend fake;
    fake.replica("r1");
    auto cfg = fake_config({"r1"});
    FakePool pool(cfg, fake);
    REQUIRE(eventually([&] { return pool.router().state(0).position.has_value(); }));
    fake.host("r1").pause_replay();
    pool.query("INSERT INTO t VALUES (1)");
    const auto pos = pool.current_position();
    for (int i = 0; i < 10; ++i) {
        pool.query("SELECT v", {}, {.use_read_replica = true, .after = pos});
    }
    REQUIRE(fake.count_on("r1", "SELECT v") == 0);
    REQUIRE(fake.count_on("primary", "SELECT v") == 10);
    fake.host("r1").resume_replay();
    REQUIRE(eventually([&] {
        const auto p = pool.router().state(0).position;
        return p && *p >= pos;
    }));
    fake.clear_calls();
    for (int i = 0; i < 10; ++i) {
        pool.query("SELECT v", {}, {.use_read_replica = true, .after = pos});
    }
    REQUIRE(fake.count_on("r1", "SELECT v") == 10);
}

TEST_CASE("health: degraded when a replica is down, unhealthy when the primary is",
          "[db][health][pool]") {
    db::testing::FakeBackend fake;
    fake.replica("r1");
    auto cfg = fake_config({"r1"});
    FakePool pool(cfg, fake);
    REQUIRE(eventually([&] { return pool.health().status == db::HealthStatus::healthy; }));
    fake.host("r1").down();
    REQUIRE(eventually([&] { return pool.health().status == db::HealthStatus::degraded; }));
    REQUIRE(db::check_database_health(pool));
    fake.host("primary").down();
    const auto report = pool.health({.timeout = 200ms});
    REQUIRE(report.status == db::HealthStatus::unhealthy);
    REQUIRE_FALSE(report.healthy);
    REQUIRE_FALSE(db::check_database_health(pool, {.timeout = 200ms}));
    const auto json = report.to_json();
    REQUIRE_THAT(json, Catch::Contains("\"status\":\"unhealthy\""));
    REQUIRE_THAT(json, !Catch::Contains("unit-secret-pw"));
    fake.host("primary").up();
    fake.host("r1").up();
    REQUIRE(eventually([&] { return pool.health().status == db::HealthStatus::healthy; }));
}

TEST_CASE(
    "after a failover, the new primary's standbys bound how many replicas replay "
    "progress brings back",
    "[db][router]") {
    db::ReplicaRouter router({1, 1}, 60s);
    const db::ReceiverView hidden{.connected = true, .details_visible = false};
    auto check = [&](std::size_t replica, std::uint64_t lsn) {
        router.mark_up(replica, db::HostRole::replica, 0ms, db::CommitPosition{.lsn = lsn}, 1ms,
                       hidden);
    };
    router.primary_timeline(1);
    REQUIRE(router.primary_timeline(2));
    router.primary_standbys(2, 1);  // one standby streams from the new primary
    for (std::size_t r : {0U, 1U}) check(r, 100);
    for (std::size_t r : {0U, 1U}) check(r, 200);
    // Both replay, but only one can be the new primary's: the first seen moving.
    REQUIRE_FALSE(router.state(0).off_timeline);
    REQUIRE(router.state(1).off_timeline);
    REQUIRE(router.state(1).progress_unconfirmed);
    // Another failover starts the count again.
    REQUIRE(router.primary_timeline(3));
    REQUIRE(router.state(0).off_timeline);
    router.primary_standbys(3, 2);
    for (std::size_t r : {0U, 1U}) check(r, 300);
    for (std::size_t r : {0U, 1U}) check(r, 400);
    REQUIRE_FALSE(router.state(0).off_timeline);
    REQUIRE_FALSE(router.state(1).off_timeline);
}

TEST_CASE(
    "after a failover, replay progress brings a replica back only when it can mean the new "
    "timeline",
    "[db][router]") {
    db::ReplicaRouter router({1}, 60s);
    auto at = [](std::uint64_t lsn) { return db::CommitPosition{.lsn = lsn}; };
    auto check = [&](std::uint64_t lsn, std::optional<db::ReceiverView> receiver) {
        router.mark_up(0, db::HostRole::replica, 0ms, at(lsn), 1ms, receiver);
    };
    router.primary_timeline(1);
    check(100, std::nullopt);
    REQUIRE(router.primary_timeline(2));  // a failover
    REQUIRE(router.state(0).off_timeline);
    SECTION("the role sees the receiver's details and no receiver streams: replay proves nothing") {
        const db::ReceiverView none{.connected = false, .details_visible = true};
        check(200, none);
        check(300, none);
        REQUIRE(router.state(0).off_timeline);
        // Its receiver streams the new timeline: back.
        router.mark_up(0, db::HostRole::replica, 0ms, db::CommitPosition{.lsn = 400, .timeline = 2},
                       1ms, db::ReceiverView{.connected = true, .details_visible = true});
        REQUIRE_FALSE(router.state(0).off_timeline);
    }
    SECTION("no receiver connected, details hidden: replay proves nothing") {
        const db::ReceiverView none{.connected = false, .details_visible = false};
        check(200, none);
        check(300, none);
        REQUIRE(router.state(0).off_timeline);
    }
    SECTION("a receiver connected, details hidden: replay past the first position brings it back") {
        const db::ReceiverView hidden{.connected = true, .details_visible = false};
        check(200, hidden);
        REQUIRE(router.state(0).off_timeline);
        check(300, hidden);
        REQUIRE_FALSE(router.state(0).off_timeline);
    }
    SECTION("replay progress counts only while the new primary streams to that many standbys") {
        const db::ReceiverView hidden{.connected = true, .details_visible = false};
        // A count the old primary gave says nothing of the new one.
        router.primary_standbys(1, 2);
        check(200, hidden);
        check(300, hidden);
        REQUIRE(router.state(0).off_timeline);
        REQUIRE(router.state(0).progress_unconfirmed);
        // The new primary streams to nobody: the replica replays someone else's WAL (the old
        // primary's, in a split brain).
        router.primary_standbys(2, 0);
        check(400, hidden);
        REQUIRE(router.state(0).off_timeline);
        REQUIRE(router.state(0).progress_unconfirmed);
        // A standby connects to it: the replica's next progress brings it back.
        router.primary_standbys(2, 1);
        check(500, hidden);
        REQUIRE_FALSE(router.state(0).off_timeline);
        REQUIRE_FALSE(router.state(0).progress_unconfirmed);
        REQUIRE(router.pick(0, db::CommitPosition{.lsn = 450, .timeline = 2}) == 0);
    }
    SECTION("a position from a read-your-writes refresh counts only as the last check allows") {
        check(200, db::ReceiverView{.connected = false, .details_visible = true});
        router.advance_position(0, at(500));
        REQUIRE(router.state(0).off_timeline);
    }
}
