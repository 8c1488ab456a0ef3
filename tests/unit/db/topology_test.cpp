// Topology changes under a pool, on the fake backend: a server at its connection limit, a
// refusing server, a fenced primary, a promoted replica, a busy pool's health.
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sparc/db/pool.hpp>
#include <sparc/db/testing/fake_backend.hpp>

#include "unit/db/test_util.hpp"

namespace db = sparc::db;
using db::test::eventually;
using db::test::fake_config;
using db::test::FakePool;
using namespace std::chrono_literals;

TEST_CASE("a caller waits through 53300 for a connection released before its deadline",
          "[db][topology]") {
    db::testing::FakeBackend fake;
    fake.host("primary").max_connections(1);  // the server's limit, below the pool's
    auto cfg = fake_config();
    cfg.max_connections = 4;
    cfg.connection_timeout = 2s;
    FakePool pool(cfg, fake);
    auto held = pool.acquire();
    std::thread releaser([&] {
        // Released once the second caller's connect has been refused.
        eventually([&] { return fake.host("primary").connection_attempts() >= 2; });
        held.release();
    });
    std::optional<std::string> error;
    try {
        pool.query("SELECT 1");
    } catch (const db::Error& e) {
        error = e.what();
    }
    releaser.join();
    CHECK_FALSE(error);
    CHECK(fake.host("primary").connection_attempts() >= 2);
}

TEST_CASE(
    "a full server with a caller waiting is tried again within half a second, not after a "
    "grown backoff",
    "[db][topology]") {
    // A session may free up outside the pool (another client leaves): only a connect finds it.
    db::testing::FakeBackend fake;
    fake.host("primary").max_connections(1);
    auto cfg = fake_config();
    cfg.max_connections = 4;
    cfg.connection_timeout = 30s;
    cfg.reconnect_backoff_max = 10s;
    FakePool pool(cfg, fake);
    auto held = pool.acquire();
    std::thread waiter([&] {
        try {
            pool.query("SELECT 1");
        } catch (const db::Error&) {
        }
    });
    // Backing off as from a server that is down, the 12th attempt would come after 20 s and
    // more; retrying a full server every half second at most, within about 4 s.
    CHECK(eventually([&] { return fake.host("primary").connection_attempts() >= 12; }, 15s));
    held.release();
    waiter.join();
}

TEST_CASE("without a release, the 53300 reaches the caller at its deadline with its SQLSTATE",
          "[db][topology]") {
    db::testing::FakeBackend fake;
    fake.host("primary").max_connections(1);
    auto cfg = fake_config();
    cfg.max_connections = 4;
    cfg.connection_timeout = 300ms;
    FakePool pool(cfg, fake);
    auto held = pool.acquire();
    const auto start = std::chrono::steady_clock::now();
    try {
        pool.query("SELECT 1");
        FAIL("expected ConnectionError");
    } catch (const db::ConnectionError& e) {
        CHECK(e.sqlstate() == "53300");
        CHECK_FALSE(e.statement_sent());
        CHECK_THAT(e.what(), Catch::Contains("too many clients"));
    }
    CHECK(std::chrono::steady_clock::now() - start >= 300ms);
}

TEST_CASE("a refusing server sees backed-off, jittered attempts, all counted", "[db][topology]") {
    db::testing::FakeBackend fake;
    fake.host("primary").refuse_connections();
    auto cfg = fake_config();
    cfg.min_connections = 2;
    cfg.reconnect_backoff_max = 400ms;
    std::vector<std::unique_ptr<FakePool>> pools;
    for (int i = 0; i < 10; ++i) pools.push_back(std::make_unique<FakePool>(cfg, fake));
    // The opener waits 25-50 ms, 50-100, 100-200, 200-400, then 200-400 ms: about 6 attempts
    // in the first 1.5 s, and the probe as many. Without backoff (a retry every 10-50 ms, a
    // probe every 50 ms) it would be more than 30 per pool.
    REQUIRE(eventually([&] { return fake.host("primary").connection_attempts() >= 100; }, 3s));
    const auto t0 = std::chrono::steady_clock::now();
    const auto before = fake.host("primary").connection_attempts();
    std::this_thread::sleep_for(1s);  // a measurement window, not a wait for a condition
    const auto during = fake.host("primary").connection_attempts() - before;
    const auto window = std::chrono::steady_clock::now() - t0;
    // Steady state: each pool's opener and probe try at most every 200 ms each (the upper
    // half of the 400 ms cap): 10 per pool per second, 100 in all, plus a little slack.
    CHECK(during <= static_cast<std::size_t>(110 * window / 1s + 20));
    const auto text = pools.front()->metrics_text();
    CHECK_THAT(text, Catch::Contains("sparc_db_connect_attempts_total"));
    pools.clear();
    fake.host("primary").refuse_connections(false);
}

TEST_CASE("a transaction that runs out of time says so, with its whole duration",
          "[db][topology][transaction]") {
    db::testing::FakeBackend fake;
    fake.host("primary").max_connections(2);
    auto cfg = fake_config();
    FakePool pool(cfg, fake);
    auto held = pool.acquire();  // one of the server's two sessions
    // The first attempt's statement runs 250 ms and loses its connection; meanwhile the server
    // came to refuse a second session (53300), so the retry waits for one until the deadline.
    fake.on("INSERT INTO t VALUES (1)").delays(250ms).drops_connection(false).once();
    int runs = 0;
    try {
        pool.transaction(
            [&](auto& tx) {
                if (++runs == 1) fake.host("primary").max_connections(1);
                tx.query("INSERT INTO t VALUES (1)");
            },
            {.timeout = 400ms});
        FAIL("expected ConnectionError");
    } catch (const db::ConnectionError& e) {
        // The type and facts of the last failure, and a text that accounts for the whole call,
        // not only for its last wait.
        CHECK(e.sqlstate() == "53300");
        CHECK_FALSE(e.statement_sent());
        // The first attempt and at least one more; how many more depends on when the
        // opener's backoff lets the next connect through.
        CHECK_THAT(e.what(), Catch::Matches("transaction\\(\\) gave up at its 400 ms deadline "
                                            "after ([2-9]|[1-9][0-9]) attempts, [0-9]+ ms after "
                                            "it began: [^]*"));
        CHECK_THAT(e.what(), Catch::Contains("too many clients"));
    }
    CHECK(runs == 1);
}

// The number in a metrics_text() line that starts with `prefix` (0 when there is none).
static double metric(const std::string& text, const std::string& prefix) {
    const auto at = text.find("\n" + prefix);
    if (at == std::string::npos) return 0;
    const auto line_end = text.find('\n', at + 1);
    const auto line = text.substr(at + 1, line_end - at - 1);
    return std::stod(line.substr(line.rfind(' ') + 1));
}

TEST_CASE("a caller that no connect attempt can serve before its deadline fails at once",
          "[db][topology]") {
    db::testing::FakeBackend fake;
    fake.host("primary").refuse_connections();
    auto cfg = fake_config();
    cfg.connection_timeout = 100ms;
    cfg.reconnect_backoff_max = 60s;
    FakePool pool(cfg, fake);
    // Each refused attempt fails its caller; the opener's backoff doubles from 50 ms until its
    // next attempt comes after a 100 ms deadline. From then on, callers do not wait for it.
    std::string last;
    for (int i = 0; i < 20 && last.find("next attempt") == std::string::npos; ++i) {
        try {
            pool.query("SELECT 1");
            FAIL("the server refuses every connection");
        } catch (const db::ConnectionError& e) {
            last = e.what();
            CHECK_FALSE(e.statement_sent());
        }
    }
    CHECK_THAT(last, Catch::Contains("refus"));
    CHECK_THAT(last, Catch::Contains("after this call's deadline"));
    CHECK_THAT(last, !Catch::Contains("unit-secret-pw"));
    // None of them waited out its deadline for nothing.
    CHECK(metric(pool.metrics_text(), "sparc_db_pool_timeouts_total") == 0);

    // The server comes back: the health check's statement gets through, and the opener stops
    // backing off, so callers are served without waiting out a 60 s backoff.
    fake.host("primary").refuse_connections(false);
    CHECK(eventually(
        [&] {
            try {
                pool.query("SELECT 1");
                return true;
            } catch (const db::ConnectionError&) {
                return false;
            }
        },
        5s));
}

TEST_CASE(
    "callers queued behind a refused connect fail before the next attempt, not at their "
    "deadline",
    "[db][topology]") {
    db::testing::FakeBackend fake;
    fake.host("primary").refuse_connections();
    auto cfg = fake_config();
    cfg.connection_timeout = 1500ms;
    cfg.reconnect_backoff_max = 60s;
    cfg.health_check_period = 1h;
    FakePool pool(cfg, fake);
    std::vector<std::future<std::string>> calls;
    for (int i = 0; i < 12; ++i) {
        calls.push_back(std::async(std::launch::async, [&] {
            try {
                pool.query("SELECT 1");
                return std::string("served");
            } catch (const db::Error& e) {
                return std::string(e.what());
            }
        }));
    }
    for (auto& c : calls) {
        const auto error = c.get();
        CHECK_THAT(error, Catch::Contains("refus"));
        CHECK_THAT(error, !Catch::Contains("callers waiting"));  // the deadline's message
    }
    // Every caller learnt the cause from a refused attempt or before the next one: none sat out
    // its deadline, and a dozen callers did not cost a dozen attempts.
    CHECK(metric(pool.metrics_text(), "sparc_db_pool_timeouts_total") == 0);
    CHECK(fake.host("primary").connection_attempts() < 12);
}

TEST_CASE("sessions that die at their first statement back off like refused connects",
          "[db][topology]") {
    // PgBouncer with the database behind it down: every login succeeds, and each session ends
    // at its first statement with 08P01, the statement never forwarded.
    db::testing::FakeBackend fake;
    fake.on_any().responds([](const db::testing::Call&) -> db::Result {
        throw db::ConnectionError(
            "server login has been failing, try again later (server_login_retry)", false, "08P01");
    });
    auto cfg = fake_config();
    cfg.connection_timeout = 300ms;
    cfg.reconnect_backoff_max = 60s;
    cfg.health_check_period = 1h;
    FakePool pool(cfg, fake);
    std::string last;
    for (int i = 0; i < 30; ++i) {
        try {
            pool.query("SELECT 1");
            FAIL("every session dies at its first statement");
        } catch (const db::ConnectionError& e) {
            last = e.what();
            CHECK_FALSE(e.statement_sent());
            CHECK(e.sqlstate() == "08P01");
        }
    }
    CHECK_THAT(last, Catch::Contains("server login has been failing"));
    CHECK_THAT(last, Catch::Contains("after this call's deadline"));
    // The opener waits 25-50 ms, then 50-100, 100-200, ...: a few sessions within the first
    // call's 300 ms, then none until the next attempt is due. Without the backoff every call
    // would open a session for each of its attempts (five here): 150 in all.
    // (A caller may still wait out its deadline for an attempt due just before it, so the pool
    // timeouts are not checked: its error is the same ConnectionError, checked above.)
    CHECK(fake.host("primary").connection_attempts() <= 10);

    // The database is back: the next attempt finds it, and the first statement a session
    // serves ends the backoff.
    fake.clear_rules();
    CHECK(eventually(
        [&] {
            try {
                pool.query("SELECT 1");
                return true;
            } catch (const db::ConnectionError&) {
                return false;
            }
        },
        5s));
    const auto attempts = fake.host("primary").connection_attempts();
    for (int i = 0; i < 5; ++i) pool.query("SELECT 1");
    CHECK(fake.host("primary").connection_attempts() == attempts);
}

TEST_CASE("a fenced primary refuses writes with 25006: its connections go, health says why",
          "[db][topology]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config();
    cfg.min_connections = 2;
    FakePool pool(cfg, fake);
    REQUIRE(eventually([&] { return pool.stats().idle == 2; }));
    pool.query("INSERT INTO t VALUES (1)");
    const auto opened = fake.connections_opened();
    fake.host("primary").fence();
    try {
        pool.query("INSERT INTO t VALUES (2)");
        FAIL("expected 25006");
    } catch (const db::SqlError& e) {
        CHECK(e.sqlstate() == "25006");
    }
    // Run once more on a new connection (which, with a host list, would be the writable host);
    // the fenced host's pooled connections were dropped, not kept until max_lifetime.
    CHECK(fake.count("INSERT INTO t VALUES (2)") == 2);
    CHECK(fake.connections_opened() > opened);
    auto report = pool.health({.timeout = 1s});
    CHECK(report.status == db::HealthStatus::unhealthy);
    CHECK_FALSE(report.healthy);
    REQUIRE_FALSE(report.reasons.empty());
    CHECK_THAT(report.reasons.front(), Catch::Contains("read-only"));
    // A transaction is retried on a new connection once, then fails with the refusal.
    CHECK_THROWS_AS(
        pool.transaction([](auto& tx) { tx.query("INSERT INTO t VALUES (3)"); }, {.retries = 1}),
        db::SqlError);
    CHECK(fake.count("INSERT INTO t VALUES (3)") == 2);
    // A read-only transaction of the caller's own is not the host's doing: no retry.
    fake.host("primary").fence(false);
    CHECK_THROWS_AS(pool.transaction([](auto& tx) { tx.query("INSERT INTO t VALUES (4)"); },
                                     {.retries = 3, .read_only = true}),
                    db::SqlError);
    CHECK(fake.count("INSERT INTO t VALUES (4)") == 1);
    REQUIRE_NOTHROW(pool.query("INSERT INTO t VALUES (5)"));
    CHECK(eventually([&] { return pool.health({.timeout = 1s}).healthy; }));
}

TEST_CASE("a replica promoted behind the pool's back takes no reads at once and health degrades",
          "[db][topology]") {
    db::testing::FakeBackend fake;
    fake.replica("replica1");
    fake.replica("replica2");
    auto cfg = fake_config({"replica1", "replica2"});
    cfg.health_check_period = 10s;  // the reads must find out, not the next check
    FakePool pool(cfg, fake);
    REQUIRE(eventually([&] {
        const auto r = pool.health({.timeout = 1s});
        return r.status == db::HealthStatus::healthy;
    }));
    fake.host("replica1").role(db::HostRole::primary);  // split brain
    fake.clear_calls();
    for (int i = 0; i < 20; ++i) {
        pool.query("SELECT v FROM t", {}, {.use_read_replica = true});
    }
    // The first read that reached replica1 found it promoted and went elsewhere; none after it
    // was sent there.
    CHECK(fake.count_on("replica1", "SELECT v FROM t") <= 1);
    CHECK(fake.count_on("replica2", "SELECT v FROM t") +
              fake.count_on("primary", "SELECT v FROM t") ==
          20);
    const auto report = pool.health({.timeout = 1s});
    CHECK(report.status == db::HealthStatus::degraded);
    CHECK(report.healthy);
    bool said = false;
    for (const auto& r : report.reasons) said = said || r.find("replica1") != std::string::npos;
    CHECK(said);
    const auto j = nlohmann::json::parse(report.to_json());
    CHECK(j["status"] == "degraded");
    CHECK(j["reasons"].size() >= 1);
}

TEST_CASE("a write sent to a replica goes straight to the primary, marking no replica down",
          "[db][topology]") {
    db::testing::FakeBackend fake;
    fake.replica("replica1");
    fake.replica("replica2");
    auto cfg = fake_config({"replica1", "replica2"});
    cfg.prefer_replica_reads = true;
    FakePool pool(cfg, fake);
    fake.clear_calls();
    pool.query("INSERT INTO t VALUES (1)");
    CHECK(fake.count_on("primary", "INSERT INTO t VALUES (1)") == 1);
    CHECK(fake.count_on("replica1", "INSERT INTO t VALUES (1)") +
              fake.count_on("replica2", "INSERT INTO t VALUES (1)") ==
          1);
    const auto report = pool.health({.timeout = 1s});
    CHECK(report.status == db::HealthStatus::healthy);
}

TEST_CASE("health answers on a busy pool, within its timeout, and calls it busy",
          "[db][topology]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config();
    cfg.max_connections = 1;
    cfg.connection_timeout = 2s;
    FakePool pool(cfg, fake);
    auto held = pool.acquire();
    std::thread waiter([&] {
        try {
            pool.query("SELECT 1");
        } catch (const db::Error&) {
        }
    });
    REQUIRE(eventually([&] { return pool.stats().waiting == 1; }));
    const auto start = std::chrono::steady_clock::now();
    const auto report = pool.health({.timeout = 500ms});
    CHECK(std::chrono::steady_clock::now() - start < 1500ms);
    CHECK(report.healthy);
    CHECK(report.status == db::HealthStatus::healthy);
    REQUIRE_FALSE(report.hosts.empty());
    CHECK(report.hosts.front().busy);
    held.release();
    waiter.join();
}

TEST_CASE("health calls a pool at the server's connection limit busy, not unhealthy",
          "[db][topology]") {
    db::testing::FakeBackend fake;
    fake.host("primary").max_connections(2);  // a role's CONNECTION LIMIT: 53300 beyond
    auto cfg = fake_config();
    cfg.max_connections = 2;
    FakePool pool(cfg, fake);
    auto a = pool.acquire();
    auto b = pool.acquire();
    // Both of the server's connections are the pool's, in use: health's own is refused.
    const auto report = pool.health({.timeout = 500ms});
    INFO(report.to_json());
    CHECK(report.healthy);
    CHECK(report.status == db::HealthStatus::healthy);
    REQUIRE_FALSE(report.hosts.empty());
    CHECK(report.hosts.front().busy);
    CHECK(report.hosts.front().reachable);
    bool named = false;
    for (const auto& r : report.reasons) named = named || r.find("53300") != std::string::npos;
    CHECK(named);
    // A primary that refuses with nothing of the pool's in use is another matter.
    a.release();
    b.release();
    db::testing::FakeBackend other;
    other.host("primary").refuse_connections();
    FakePool refused(cfg, other);
    CHECK_FALSE(refused.health({.timeout = 500ms}).healthy);
}

TEST_CASE("a busy replica's lag is still checked", "[db][topology]") {
    db::testing::FakeBackend fake;
    fake.replica("replica1");
    auto cfg = fake_config({"replica1"});
    cfg.max_connections = 1;
    cfg.max_replica_lag = 1s;
    FakePool pool(cfg, fake);
    // Keep the replica's only connection busy with a stream of callers.
    std::atomic<bool> stop{false};
    std::vector<std::thread> readers;
    for (int i = 0; i < 3; ++i) {
        readers.emplace_back([&] {
            while (!stop) {
                try {
                    pool.query("SELECT pg_sleep(0.01)", {}, {.use_read_replica = true});
                } catch (const db::Error&) {
                }
            }
        });
    }
    fake.on("SELECT pg_sleep(0.01)").delays(10ms);
    REQUIRE(eventually([&] { return fake.count_on("replica1", "SELECT pg_sleep(0.01)") > 5; }));
    fake.host("replica1").lag(5s);
    const bool seen = eventually([&] {
        const auto r = pool.health({.timeout = 1s});
        return r.hosts.size() == 2 && r.hosts[1].lagging;
    });
    stop = true;
    for (auto& t : readers) t.join();
    CHECK(seen);
}

TEST_CASE("a read-your-writes read asks the replica instead of waiting for the next check",
          "[db][topology]") {
    db::testing::FakeBackend fake;
    fake.replica("replica1");
    auto cfg = fake_config({"replica1"});
    cfg.health_check_period = 60s;  // the router's positions stay as the first check saw them
    FakePool pool(cfg, fake);
    REQUIRE(eventually(
        [&] { return pool.health({.timeout = 1s}).status == db::HealthStatus::healthy; }));
    pool.query("INSERT INTO t VALUES (1)");
    const auto pos = pool.current_position();
    fake.clear_calls();
    pool.query("SELECT v FROM t", {}, {.use_read_replica = true, .after = pos});
    CHECK(fake.count_on("replica1", "SELECT v FROM t") == 1);
    CHECK(fake.count_on("primary", "SELECT v FROM t") == 0);
    // A replica that has not replayed it: the read waits a moment, then goes to the primary.
    fake.host("replica1").pause_replay();
    pool.query("INSERT INTO t VALUES (2)");
    const auto later = pool.current_position();
    pool.query("SELECT v FROM t", {}, {.use_read_replica = true, .after = later});
    CHECK(fake.count_on("primary", "SELECT v FROM t") == 1);
}

TEST_CASE("destroying a pool does not wait out a connect to a host that hangs", "[db][topology]") {
    db::testing::FakeBackend fake;
    fake.host("primary").connect_latency(30s);  // every connect hangs until its deadline
    auto cfg = fake_config();
    cfg.min_connections = 1;
    cfg.connection_timeout = 30s;
    auto pool = std::make_unique<FakePool>(cfg, fake);
    REQUIRE(eventually([&] { return fake.host("primary").connection_attempts() >= 1; }));
    const auto start = std::chrono::steady_clock::now();
    pool.reset();
    // The connect in progress gives up at the shutdown instead of at its 30 s deadline.
    CHECK(std::chrono::steady_clock::now() - start < 10s);
}

TEST_CASE("a transaction rides out a failover window in which no host takes a session",
          "[db][topology]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config();
    db::Hooks hooks;
    std::atomic<int> retries{0};
    hooks.on_retry = [&](const db::RetryEvent& e) {
        if (e.reason == db::RetryReason::connection_lost) ++retries;
    };
    fake.host("primary").refuse_connections();  // the new primary not promoted yet
    FakePool pool(cfg, fake, hooks);
    auto result = std::async(std::launch::async, [&] {
        return pool.transaction(
            [](auto& tx) {
                tx.query("INSERT INTO t VALUES (1)");
                return 1;
            },
            {.retries = 5});
    });
    // The transaction meets the window: its session is refused and it retries.
    REQUIRE(eventually([&] { return retries.load() >= 1; }));
    fake.host("primary").refuse_connections(false);  // promoted
    CHECK(result.get() == 1);
    CHECK(fake.count("INSERT INTO t VALUES (1)") == 1);
    // At its deadline, the caller gets the connect error.
    db::testing::FakeBackend other;
    other.host("primary").refuse_connections();
    FakePool refused(cfg, other);
    CHECK_THROWS_AS(refused.transaction([](auto& tx) { tx.query("SELECT 1"); },
                                        {.timeout = 300ms, .retries = 1}),
                    db::ConnectionError);
    CHECK(other.host("primary").connection_attempts() >= 2);
}

TEST_CASE("attempts that got no connection do not use up a transaction's retries",
          "[db][topology][transaction]") {
    db::testing::FakeBackend fake;
    db::Hooks hooks;
    std::atomic<int> refused{0};
    hooks.on_retry = [&](const db::RetryEvent& e) {
        if (e.reason == db::RetryReason::connection_lost) ++refused;
    };
    fake.host("primary").refuse_connections();
    FakePool pool(fake_config(), fake, hooks);
    std::atomic<int> runs{0};
    auto result = std::async(std::launch::async, [&] {
        return pool.transaction(
            [&](auto& tx) {
                ++runs;
                tx.query("INSERT INTO t VALUES (1)");
                return 1;
            },
            {.timeout = 60s, .retries = 1});
    });
    // More refused attempts than the retries allow; then the host takes sessions again.
    REQUIRE(eventually([&] { return refused.load() >= 4; }, 30s));
    fake.host("primary").refuse_connections(false);
    CHECK(result.get() == 1);
    CHECK(runs == 1);
    CHECK(fake.count("INSERT INTO t VALUES (1)") == 1);
}

TEST_CASE("a replica cut off from its primary counts as lagging, though it reports no lag",
          "[db][topology][router]") {
    db::testing::FakeBackend fake;
    fake.replica("replica1");
    auto cfg = fake_config({"replica1"});
    cfg.max_replica_lag = 300ms;
    FakePool pool(cfg, fake);
    REQUIRE(eventually([&] { return pool.router().state(0).position.has_value(); }));
    // Its WAL receiver lost the primary: it has replayed all it received, and says lag 0.
    fake.host("replica1").pause_replay();
    pool.query("INSERT INTO t VALUES (1)");
    REQUIRE(fake.host("replica1").replay_position() < fake.wal_position());
    // The primary's checks saw a position it has not replayed: it falls behind from then on.
    REQUIRE(eventually([&] { return pool.router().state(0).lag > 300ms; }, 5s));
    fake.clear_calls();
    for (int i = 0; i < 5; ++i) pool.query("SELECT v FROM t", {}, {.use_read_replica = true});
    CHECK(fake.count_on("replica1", "SELECT v FROM t") == 0);
    CHECK(fake.count_on("primary", "SELECT v FROM t") == 5);
    const auto report = pool.health({.timeout = 1s});
    CHECK(report.status == db::HealthStatus::degraded);
    CHECK_THAT(report.to_json(), Catch::Contains("replica1") && Catch::Contains("lags"));
    // Back in touch: it catches up and serves again.
    fake.host("replica1").resume_replay();
    REQUIRE(eventually([&] { return pool.router().state(0).lag < 300ms; }, 5s));
    fake.clear_calls();
    pool.query("SELECT v FROM t", {}, {.use_read_replica = true});
    CHECK(fake.count_on("replica1", "SELECT v FROM t") == 1);
}

TEST_CASE(
    "after a failover, replicas whose replay moves come back only as far as the new primary "
    "shows standbys",
    "[db][topology][router]") {
    db::testing::FakeBackend fake;
    fake.replica("replica1");
    fake.replica("replica2");
    FakePool pool(fake_config({"replica1", "replica2"}), fake);
    REQUIRE(eventually([&] {
        return pool.router().state(0).position.has_value() &&
               pool.router().state(1).position.has_value();
    }));
    // A new primary that streams to nobody: both replicas replay someone else's WAL.
    fake.host("primary").new_timeline().wal_senders(0);
    auto writes_seen = [&](std::size_t replica) {
        pool.query("INSERT INTO t VALUES (1)");
        return pool.router().state(replica).progress_unconfirmed;
    };
    REQUIRE(eventually([&] { return writes_seen(0) && writes_seen(1); }, 5s));
    CHECK(pool.router().state(0).off_timeline);
    CHECK(pool.router().state(1).off_timeline);
    pool.query("INSERT INTO t VALUES (2)");
    const auto mine = pool.current_position();
    fake.clear_calls();
    for (int i = 0; i < 10; ++i) {
        pool.query("SELECT v FROM t", {}, {.use_read_replica = true, .after = mine});
    }
    CHECK(fake.count_on("primary", "SELECT v FROM t") == 10);
    CHECK_THAT(pool.health({.timeout = 1s}).to_json(),
               Catch::Contains("replica1:5432/app has not been seen following") &&
                   Catch::Contains("grant pg_read_all_stats"));
    // One standby connects: one replica comes back, the other stays out.
    fake.host("primary").wal_senders(1);
    REQUIRE(eventually(
        [&] {
            pool.query("INSERT INTO t VALUES (3)");
            return !pool.router().state(0).off_timeline || !pool.router().state(1).off_timeline;
        },
        5s));
    for (int i = 0; i < 5; ++i) pool.query("INSERT INTO t VALUES (4)");
    CHECK(pool.router().state(0).off_timeline != pool.router().state(1).off_timeline);
    // Both stream from it: both come back.
    fake.host("primary").wal_senders(2);
    REQUIRE(eventually(
        [&] {
            pool.query("INSERT INTO t VALUES (5)");
            return !pool.router().state(0).off_timeline && !pool.router().state(1).off_timeline;
        },
        5s));
}

TEST_CASE(
    "after a failover, a replica past the new timeline's positions serves no "
    "read-your-writes read until it follows the new primary",
    "[db][topology][router]") {
    db::testing::FakeBackend fake;
    fake.replica("replica1");
    fake.replica("replica2");
    auto cfg = fake_config({"replica1", "replica2"});
    cfg.max_replica_lag = 500ms;
    FakePool pool(cfg, fake);
    REQUIRE(eventually([&] {
        return pool.router().state(0).position.has_value() &&
               pool.router().state(1).position.has_value();
    }));
    pool.query("INSERT INTO t VALUES (1)");
    const auto before = pool.current_position();
    // replica1 stops at `before` (it will be promoted); replica2 goes on replaying the old
    // primary's last writes, which the new primary never gets.
    fake.host("replica1").pause_replay();
    fake.advance_wal(100);
    fake.host("replica2").pause_replay();
    // The failover: the primary's address now reaches replica1, promoted at `before`.
    fake.host("primary").new_timeline(before);
    fake.host("replica1").resume_replay();  // now a standby of the new primary
    pool.query("INSERT INTO t VALUES (2)");
    const auto mine = pool.current_position();
    REQUIRE(mine.timeline != before.timeline);
    // The trap: by LSN alone, replica2 has replayed the caller's write. It has not.
    REQUIRE(fake.host("replica2").replay_position() >= mine);
    fake.clear_calls();
    for (int i = 0; i < 20; ++i) {
        pool.query("SELECT v FROM t", {}, {.use_read_replica = true, .after = mine});
    }
    CHECK(fake.count_on("replica2", "SELECT v FROM t") == 0);
    CHECK(fake.count_on("replica1", "SELECT v FROM t") +
              fake.count_on("primary", "SELECT v FROM t") ==
          20);
    // A position of the old timeline: the failover may have lost it; only the primary answers.
    fake.clear_calls();
    pool.query("SELECT v FROM t", {}, {.use_read_replica = true, .after = before});
    CHECK(fake.count_on("primary", "SELECT v FROM t") == 1);
    // replica2 replays nothing of the new primary's: health says so, and once its lag,
    // counted from the change, passes max_replica_lag it leaves plain reads too.
    REQUIRE(eventually(
        [&] {
            const auto report = pool.health({.timeout = 1s});
            return report.status == db::HealthStatus::degraded &&
                   report.to_json().find(
                       "replica2:5432/app has not been seen following "
                       "the primary's new timeline") != std::string::npos;
        },
        5s));
    REQUIRE(eventually([&] { return pool.router().state(1).lag > 500ms; }, 5s));
    fake.clear_calls();
    for (int i = 0; i < 10; ++i) pool.query("SELECT v FROM t", {}, {.use_read_replica = true});
    CHECK(fake.count_on("replica2", "SELECT v FROM t") == 0);
    // Rebuilt from the new primary, it replays new writes and is back.
    fake.host("replica2").resume_replay();
    pool.query("INSERT INTO t VALUES (3)");
    const auto last = pool.current_position();
    REQUIRE(eventually(
        [&] {
            pool.query("INSERT INTO t VALUES (4)");
            return !pool.router().state(1).off_timeline;
        },
        5s));
    fake.clear_calls();
    for (int i = 0; i < 20; ++i) {
        pool.query("SELECT v FROM t", {}, {.use_read_replica = true, .after = last});
    }
    CHECK(fake.count_on("replica2", "SELECT v FROM t") > 0);
}

namespace {

// A host list whose writable host is h1, with h2 its standby.
db::PoolConfig host_list_config(db::testing::FakeBackend& fake) {
    fake.primary("h1");
    fake.replica("h2");
    auto cfg = fake_config();
    cfg.primary = db::Endpoint::parse(
        "postgresql://app:unit-secret-pw@h1,h2/app?target_session_attrs=read-write");
    cfg.query_timeout = 11min;  // far beyond the test: only a cut ends a hung statement
    cfg.statement_timeout = 10min;
    return cfg;
}

// A host list of two paths, h1 and h1b, to one writable server (two proxies in front of it,
// say), with `max_connections` sessions and the long timeouts of host_list_config().
db::PoolConfig two_paths_config(db::testing::FakeBackend& fake, std::size_t max_connections) {
    fake.primary("h1");
    fake.primary("h1b");
    auto cfg = fake_config();
    cfg.primary = db::Endpoint::parse(
        "postgresql://app:unit-secret-pw@h1,h1b/app?target_session_attrs=read-write");
    cfg.health_check_period = 10min;
    cfg.max_connections = max_connections;
    cfg.query_timeout = 11min;
    cfg.statement_timeout = 10min;
    return cfg;
}

// Threads joined at scope exit. Declared before the pool, so that after a failed REQUIRE the
// pool's destruction (which ends their calls) comes first.
struct Threads {
    std::vector<std::thread> list;
    void join_all() {
        for (auto& t : list) {
            if (t.joinable()) t.join();
        }
    }
    ~Threads() { join_all(); }
};

// Runs `sql` on `pool` in a thread; the future says how it ended.
std::future<std::string> run_in_background(FakePool& pool, std::string sql, Threads& threads) {
    auto outcome = std::make_shared<std::promise<std::string>>();
    auto result = outcome->get_future();
    threads.list.emplace_back([&pool, sql = std::move(sql), outcome] {
        try {
            pool.query(sql);
            outcome->set_value("no error");
        } catch (const db::ConnectionError& e) {
            outcome->set_value(std::string(e.statement_sent() ? "sent: " : "not sent: ") +
                               e.what());
        } catch (const std::exception& e) {
            outcome->set_value(std::string("other error: ") + e.what());
        }
    });
    return result;
}

// The pool's sessions on h1, with the start-up check done: `sql`, delayed by `delay`, runs on
// one of them in the background (`running`), and the others are leased by the test between
// statements (`held`).
struct BusyOnH1 {
    std::future<std::string> running;
    std::vector<db::Lease<db::testing::FakeBackend>> held;
};
BusyOnH1 busy_on_h1(FakePool& pool, db::testing::FakeBackend& fake, const std::string& sql,
                    std::chrono::milliseconds delay, Threads& threads) {
    {
        auto a = pool.acquire();
        auto b = pool.acquire();
    }
    REQUIRE(eventually([&] {
        const auto st = pool.stats();
        return fake.host("h1").statements_run() >= 1 && st.total >= 2 && st.idle == st.total &&
               fake.running_statements() == 0;
    }));
    fake.on(sql).delays(delay);
    BusyOnH1 busy;
    busy.running = run_in_background(pool, sql, threads);
    REQUIRE(fake.wait_for_running(1, 10s));
    while (pool.stats().idle > 0) busy.held.push_back(pool.acquire());
    REQUIRE_FALSE(busy.held.empty());
    for (auto& lease : busy.held) REQUIRE(lease.connection().server() == "h1");
    return busy;
}

// The failover: h1 takes no new session (it hangs, or is gone), h2 is promoted.
void fail_over(db::testing::FakeBackend& fake) {
    fake.host("h1").refuse_connections(true);
    fake.host("h2").role(db::HostRole::primary);
}

void check_cut_while_running(std::future<std::string>& outcome) {
    REQUIRE(outcome.wait_for(60s) == std::future_status::ready);
    const auto text = outcome.get();
    CHECK_THAT(text, Catch::StartsWith("sent: connection cut while waiting for the result"));
    CHECK_THAT(text, Catch::Contains("moved from h1") && Catch::Contains("to h2"));
    CHECK_THAT(text, !Catch::Contains("unit-secret-pw"));
}

}  // namespace

TEST_CASE("a new session on another host of the list cuts the sessions left on the old primary",
          "[db][topology][failover]") {
    db::testing::FakeBackend fake;
    auto cfg = host_list_config(fake);
    cfg.health_check_period = 10min;  // one check at the start, none while the test runs
    cfg.max_connections = 8;
    Threads threads;
    FakePool pool(cfg, fake);
    // One session hangs in a statement on h1; the others are held by a caller between
    // statements.
    const std::string sql = "UPDATE accounts SET balance = balance - 1";
    auto [hung, held] = busy_on_h1(pool, fake, sql, 10min, threads);

    fail_over(fake);
    // The next session lands on h2: the primary may have moved. (A session on h1 that came
    // free meanwhile is served first: hold it too.)
    auto fresh = pool.acquire();
    while (fresh.connection().server() == "h1") {
        held.push_back(std::move(fresh));
        fresh = pool.acquire();
    }
    CHECK(fresh.connection().server() == "h2");
    CHECK_NOTHROW(fresh.query("SELECT 1"));

    // The hung caller learns now, not at its 10 minute deadline, that its statement may have
    // run on the old primary; it is not run again on the new one.
    check_cut_while_running(hung);
    threads.join_all();
    CHECK(fake.count(sql) == 1);
    // The sessions held between statements send nothing more to h1.
    for (auto& lease : held) {
        try {
            lease.query("INSERT INTO audit VALUES (1)");
            FAIL("a held session on h1 still ran a statement");
        } catch (const db::ConnectionError& e) {
            CHECK_FALSE(e.statement_sent());
            CHECK_THAT(e.what(), Catch::Contains("moved from h1"));
        }
        lease.release();
    }
    CHECK(fake.count("INSERT INTO audit VALUES (1)") == 0);
    fresh.release();
    CHECK(eventually([&] { return fake.host("h1").open_connections() == 0; }));
    CHECK_THAT(pool.metrics_text(),
               Catch::Contains("sparc_db_primary_moves_total{service=\"unit\",role=\"primary\","
                               "host=\"h1:5432,h2:5432/app\"} 1"));
    fake.host("h1").refuse_connections(false);
}

TEST_CASE("with every session stuck on a primary that hangs, the health check finds the new one",
          "[db][topology][failover]") {
    db::testing::FakeBackend fake;
    auto cfg = host_list_config(fake);
    cfg.max_connections = 2;
    Threads threads;
    FakePool pool(cfg, fake);
    // h1 hangs: every statement on it, the pool's own checks included, waits forever.
    fake.on_any().on_host("h1").delays(10min);
    auto first = run_in_background(pool, "UPDATE accounts SET balance = balance - 1", threads);
    auto second = run_in_background(pool, "UPDATE accounts SET balance = balance - 2", threads);
    // Both callers' statements are running on h1 (a health check may be waiting there too).
    REQUIRE(eventually([&] {
        return fake.count("UPDATE accounts SET balance = balance - 1") == 1 &&
               fake.count("UPDATE accounts SET balance = balance - 2") == 1 &&
               pool.stats().in_use == 2;
    }));

    fail_over(fake);
    // No caller opens a session (the pool is full): the health check, finding none free, opens
    // one of its own, which lands on h2.
    check_cut_while_running(first);
    check_cut_while_running(second);
    threads.join_all();
    CHECK_NOTHROW(pool.query("SELECT 1"));
    CHECK(fake.count("UPDATE accounts SET balance = balance - 1") == 1);
    CHECK(fake.count("UPDATE accounts SET balance = balance - 2") == 1);
    fake.host("h1").refuse_connections(false);
}

TEST_CASE("a second path to a primary that still answers is no failover: nothing is cut",
          "[db][topology][failover]") {
    // h1 and h1b lead to the same writable server (two proxies in front of it, say): a session
    // that lands on h1b while h1 refuses one connect is no move while h1's sessions answer.
    db::testing::FakeBackend fake;
    const auto cfg = two_paths_config(fake, 8);
    Threads threads;
    FakePool pool(cfg, fake);
    // A statement on h1 that outlasts the pool's decision (connection_timeout, 2 s).
    auto [slow, held] =
        busy_on_h1(pool, fake, "UPDATE accounts SET balance = balance - 1", 4s, threads);

    fake.host("h1").refuse_next_connections(1);
    auto other = pool.acquire();
    while (other.connection().server() == "h1") {
        held.push_back(std::move(other));
        fake.host("h1").refuse_next_connections(1);
        other = pool.acquire();
    }
    REQUIRE(other.connection().server() == "h1b");
    // h1 still answers its sessions.
    for (auto& lease : held) {
        CHECK_NOTHROW(lease.query("SELECT 1"));
        lease.release();
    }
    REQUIRE(slow.wait_for(60s) == std::future_status::ready);
    CHECK(slow.get() == "no error");
    threads.join_all();
    CHECK_NOTHROW(other.query("SELECT 1"));
    other.release();
    CHECK_THAT(pool.metrics_text(), Catch::Contains("sparc_db_primary_moves_total{service=\"unit\","
                                                    "role=\"primary\",host=\"h1:5432,h1b:5432/"
                                                    "app\"} 0"));
}

TEST_CASE(
    "a second path to the same server cuts nothing, even with every session busy past the "
    "pool's window",
    "[db][topology][failover]") {
    // h1 and h1b lead to one server (same history: same cluster, same timeline). Every session
    // on h1 runs a statement longer than connection_timeout, so none answers meanwhile: the
    // histories, not the answers, tell that nothing moved.
    db::testing::FakeBackend fake;
    const auto cfg = two_paths_config(fake, 3);
    Threads threads;
    FakePool pool(cfg, fake);
    const std::string sql = "UPDATE accounts SET balance = balance - 1";
    auto [slow, held] = busy_on_h1(pool, fake, sql, 4s, threads);
    for (auto& lease : held) lease.release();
    auto second = run_in_background(pool, sql, threads);
    REQUIRE(fake.wait_for_running(2, 10s));
    fake.host("h1").refuse_next_connections(1);
    auto other = pool.acquire();
    REQUIRE(other.connection().server() == "h1b");
    CHECK(slow.wait_for(60s) == std::future_status::ready);
    CHECK(slow.get() == "no error");
    CHECK(second.get() == "no error");
    threads.join_all();
    CHECK(fake.count(sql) == 2);
    CHECK_THAT(pool.metrics_text(), Catch::Contains("primary_moves_total{service=\"unit\","
                                                    "role=\"primary\",host=\"h1:5432,h1b:5432/"
                                                    "app\"} 0"));
}

TEST_CASE(
    "in a split brain the newer timeline wins: the old primary's sessions are cut though "
    "it still answers, and it gets no new session",
    "[db][topology][failover][split-brain]") {
    db::testing::FakeBackend fake;
    auto cfg = host_list_config(fake);
    cfg.health_check_period = 10min;  // the start-up check only: it learns h1's history
    cfg.max_connections = 8;
    Threads threads;
    FakePool pool(cfg, fake);
    const std::string sql = "UPDATE accounts SET balance = balance - 1";
    auto [running, held] = busy_on_h1(pool, fake, sql, 10min, threads);
    // h2 is promoted while h1 stays writable and answers (a split brain); a new session
    // reaches h2 (h1 refuses it once, as a partition would).
    fake.host("h2").role(db::HostRole::primary);
    fake.host("h1").refuse_next_connections(1);
    auto fresh = pool.acquire();
    REQUIRE(fresh.connection().server() == "h2");
    // At once, not after connection_timeout: h1's sessions are cut, whatever they answer.
    REQUIRE(running.wait_for(60s) == std::future_status::ready);
    const auto text = running.get();
    CHECK_THAT(text, Catch::StartsWith("sent: connection cut while waiting for the result"));
    CHECK_THAT(text, Catch::Contains("moved from h1 (timeline 1) to h2 (timeline 2)"));
    threads.join_all();
    for (auto& lease : held) {
        CHECK_THROWS_AS(lease.query("INSERT INTO audit VALUES (1)"), db::ConnectionError);
        lease.release();
    }
    CHECK(fake.count("INSERT INTO audit VALUES (1)") == 0);
    fresh.release();
    REQUIRE(eventually([&] { return fake.host("h1").open_connections() == 0; }));
    // h2 refuses a connect: the list leads back to h1, which is behind. It gets no session.
    std::vector<db::Lease<db::testing::FakeBackend>> leases;
    while (pool.stats().idle > 0) leases.push_back(pool.acquire());
    fake.host("h2").refuse_next_connections(1);
    const auto writes_before = fake.count("INSERT INTO t VALUES (1)");
    try {
        pool.query("INSERT INTO t VALUES (1)");
    } catch (const db::Error& e) {
        CHECK_THAT(e.what(), Catch::Contains("timeline 1, behind timeline 2"));
    }
    CHECK(fake.host("h1").open_connections() == 0);
    CHECK(fake.count_on("h1", "INSERT INTO t VALUES (1)") == 0);
    CHECK(fake.count("INSERT INTO t VALUES (1)") <= writes_before + 1);
}

TEST_CASE("a host list's primary found fenced cuts the transactions still open on it",
          "[db][topology][fence]") {
    // default_transaction_read_only does not touch a transaction already open: left alone, it
    // would commit on the fenced server, and be lost once the new primary takes over.
    db::testing::FakeBackend fake;
    auto cfg = host_list_config(fake);
    cfg.health_check_period = 10min;
    Threads threads;
    FakePool pool(cfg, fake);
    {
        auto a = pool.acquire();
        auto b = pool.acquire();
    }
    std::promise<void> inside;
    std::promise<void> go;
    auto go_future = go.get_future().share();
    std::atomic<int> runs{0};
    std::optional<std::string> error;
    threads.list.emplace_back([&] {
        try {
            pool.transaction(
                [&](auto& tx) {
                    tx.query("INSERT INTO t VALUES (1)");
                    if (++runs == 1) {
                        inside.set_value();
                        go_future.wait();
                    }
                },
                db::TransactionOptions{
                    .timeout = 20s, .retries = 50, .backoff_base = 10ms, .backoff_max = 100ms});
        } catch (const std::exception& e) {
            error = e.what();
        }
    });
    // Whatever ends this test, the transaction's function is let go first: a failed check must
    // not leave it holding its lease while the pool's destruction waits for it.
    struct LetGo {
        std::promise<void>& go;
        bool done = false;
        void operator()() {
            if (!std::exchange(done, true)) go.set_value();
        }
        ~LetGo() { (*this)(); }
    } let_go{go};
    inside.get_future().wait();
    REQUIRE(eventually([&] { return pool.stats().idle >= 1; }));
    // h1 is fenced; a write on one of its idle sessions meets 25006, and no host takes writes
    // yet.
    fake.host("h1").fence();
    CHECK_THROWS(pool.query("INSERT INTO t VALUES (2)"));
    fake.host("h2").role(db::HostRole::primary);
    let_go();
    threads.join_all();
    CHECK_FALSE(error);
    CHECK(runs == 2);
    CHECK(fake.count_on("h1", "COMMIT") == 0);
    CHECK(fake.count_on("h2", "INSERT INTO t VALUES (1)") == 1);
}
