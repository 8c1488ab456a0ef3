// Replica routing against the real test cluster (PostgreSQL 15 primary + 2 streaming replicas):
// weighted reads, failover while replicas die and come back, and read-your-writes with lagging
// replicas.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <sparc/db.hpp>

#include "pg_util.hpp"
#include "sparc_test/cluster_env.hpp"

namespace db = sparc::db;
using sparc::pgtest::cluster;
using sparc::testing::ClusterEnv;
using sparc::testing::ClusterNode;
using sparc::testing::StoppedNode;
using namespace std::chrono_literals;

namespace {

using Clock = db::Clock;
using std::chrono::milliseconds;

constexpr int kPrimary = 0;
constexpr int kReplica1 = 1;
constexpr int kReplica2 = 2;
constexpr int kUnknownHost = -1;

// The host (kPrimary, kReplica1, kReplica2) that ran the last successful statement on this thread:
// on_query runs on the thread that issued the statement.
thread_local int t_last_ok_host = kUnknownHost;

long long ms_between(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration_cast<milliseconds>(to - from).count();
}

/// Records every statement the pool runs (Hooks::on_query) with the host that ran it.
class QueryLog {
  public:
    struct Event {
        Clock::time_point at;       ///< When the statement finished.
        Clock::time_point started;  ///< When it started (at most this early).
        std::thread::id thread;     ///< The thread that ran it.
        int host = kUnknownHost;
        db::HostRole role = db::HostRole::primary;
        db::QueryOutcome outcome = db::QueryOutcome::ok;
    };

    explicit QueryLog(const ClusterEnv& env)
        : labels_{db::Endpoint::parse(env.primary_url).label(),
                  db::Endpoint::parse(env.replica_urls.at(0)).label(),
                  db::Endpoint::parse(env.replica_urls.at(1)).label()} {}

    db::Hooks hooks() {
        db::Hooks h;
        h.on_query = [this](const db::QueryEvent& e) { record(e); };
        h.on_host_state = [this](const db::HostStateEvent& e) {
            if (e.up) return;
            const auto now = Clock::now();
            const int host = index(e.host.label);
            std::lock_guard lock(mutex_);
            downs_.emplace_back(host, now);
        };
        return h;
    }

    /// When the pool first marked `host` down after `after` (the hook runs just after it did).
    std::optional<Clock::time_point> first_down_after(int host, Clock::time_point after) const {
        std::lock_guard lock(mutex_);
        for (const auto& [h, at] : downs_) {
            if (h == host && at > after) return at;
        }
        return std::nullopt;
    }

    /// Forgets the host of this thread's last statement.
    static void reset_last() { t_last_ok_host = kUnknownHost; }
    /// The host of this thread's last successful statement since reset_last().
    static int last_ok_host() { return t_last_ok_host; }

    std::vector<Event> events() const {
        std::lock_guard lock(mutex_);
        return events_;
    }

    void clear() {
        std::lock_guard lock(mutex_);
        events_.clear();
    }

    /// The first successful statement on `host` that finished after `after`.
    std::optional<Clock::time_point> first_ok_after(int host, Clock::time_point after) const {
        std::lock_guard lock(mutex_);
        std::optional<Clock::time_point> first;
        for (const auto& e : events_) {
            if (e.host == host && e.outcome == db::QueryOutcome::ok && e.at > after &&
                (!first || e.at < *first)) {
                first = e.at;
            }
        }
        return first;
    }

    const std::string& label(int host) const { return labels_.at(static_cast<std::size_t>(host)); }

  private:
    int index(std::string_view label) const {
        int host = kUnknownHost;
        for (std::size_t i = 0; i < labels_.size(); ++i) {
            if (labels_[i] == label) host = static_cast<int>(i);
        }
        return host;
    }

    void record(const db::QueryEvent& e) {
        const int host = index(e.host.label);
        if (e.outcome == db::QueryOutcome::ok) t_last_ok_host = host;
        const auto now = Clock::now();
        const auto started = now - std::chrono::duration_cast<Clock::duration>(e.duration);
        std::lock_guard lock(mutex_);
        events_.push_back({now, started, std::this_thread::get_id(), host, e.host.role, e.outcome});
    }

    std::array<std::string, 3> labels_;
    mutable std::mutex mutex_;
    std::vector<Event> events_;
    std::vector<std::pair<int, Clock::time_point>> downs_;  ///< host, when marked down
};

db::PoolConfig replica_config(const ClusterEnv& env, unsigned weight1, unsigned weight2) {
    db::PoolConfig cfg;
    cfg.service_name = "replica-pgtest";
    cfg.primary = db::Endpoint::parse(env.primary_url);
    cfg.replicas = {{db::Endpoint::parse(env.replica_urls.at(0)), weight1},
                    {db::Endpoint::parse(env.replica_urls.at(1)), weight2}};
    cfg.min_connections = 1;
    cfg.max_connections = 8;
    cfg.health_check_period = 200ms;
    return cfg;
}

/// Reads from `threads` threads (use_read_replica, checking every answer) until stopped.
class ReadLoad {
  public:
    ReadLoad(db::Database& pool, int threads) : pool_(pool) {
        for (int t = 0; t < threads; ++t) {
            threads_.emplace_back([this, t] { run(t); });
        }
    }
    ~ReadLoad() { stop(); }
    ReadLoad(const ReadLoad&) = delete;
    ReadLoad& operator=(const ReadLoad&) = delete;

    void stop() {
        stop_ = true;
        for (auto& th : threads_) {
            if (th.joinable()) th.join();
        }
    }

    std::size_t reads() const { return reads_.load(); }
    std::size_t failures() const { return failures_.load(); }
    std::vector<std::string> errors() const {
        std::lock_guard lock(mutex_);
        return errors_;
    }

  private:
    void run(int t) {
        std::int64_t i = 0;
        while (!stop_) {
            const std::int64_t n = t * 1'000'000'000LL + i++;
            try {
                const auto r =
                    pool_.query("SELECT $1::bigint AS n", {n}, {.use_read_replica = true});
                if (r.size() != 1 || r.front()[0].as<std::int64_t>() != n) {
                    fail(fmt::format("read {} returned a wrong answer", n));
                } else {
                    ++reads_;
                }
            } catch (const std::exception& e) {
                fail(e.what());
            }
            // A short pause keeps 8 readers from starving the cluster and the pool's own
            // housekeeping of CPU on a small machine.
            std::this_thread::sleep_for(500us);
        }
    }

    void fail(std::string what) {
        ++failures_;
        std::lock_guard lock(mutex_);
        if (errors_.size() < 10) errors_.push_back(std::move(what));
    }

    db::Database& pool_;
    std::vector<std::thread> threads_;
    std::atomic<bool> stop_{false};
    std::atomic<std::size_t> reads_{0};
    std::atomic<std::size_t> failures_{0};
    mutable std::mutex mutex_;
    std::vector<std::string> errors_;
};

/// Waits until `pred()` holds, polling; false if `timeout` passes first.
template <typename Pred>
bool eventually_within(milliseconds timeout, Pred pred, milliseconds poll = 10ms) {
    const auto until = Clock::now() + timeout;
    while (true) {
        if (pred()) return true;
        if (Clock::now() >= until) return false;
        std::this_thread::sleep_for(poll);
    }
}

/// Waits until `node` has replayed the primary's WAL up to `lsn`.
void wait_replayed(const ClusterEnv& env, ClusterNode node, const std::string& lsn) {
    const bool replayed = eventually_within(
        30s,
        [&] {
            return env.psql(node, fmt::format("SELECT pg_last_wal_replay_lsn() >= '{}'::pg_lsn",
                                              lsn)) == "t";
        },
        50ms);
    INFO(to_string(node) << " replays up to " << lsn);
    REQUIRE(replayed);
}

/// Brings the cluster to a known state: a fresh commit on the primary, replayed by both replicas,
/// and the pool's router seeing both replicas up and within max_replica_lag.
void wait_replicas_ready(const ClusterEnv& env, db::Database& pool) {
    env.psql(ClusterNode::primary, "SELECT txid_current()");
    const auto lsn = env.psql(ClusterNode::primary, "SELECT pg_current_wal_insert_lsn()");
    wait_replayed(env, ClusterNode::replica1, lsn);
    wait_replayed(env, ClusterNode::replica2, lsn);
    const auto max_lag = pool.config().max_replica_lag;
    const bool ready = eventually_within(60s, [&] {
        for (std::size_t i = 0; i < pool.router().size(); ++i) {
            const auto st = pool.router().state(i);
            if (!st.up || st.lag > max_lag) return false;
        }
        return true;
    });
    REQUIRE(ready);
}

/// What the router knows about a replica, for failure messages.
std::string describe(const db::ReplicaState& st) {
    return fmt::format("up {}, lag {} ms, last error '{}'", st.up, st.lag.count(), st.last_error);
}

/// Pauses WAL replay on the replicas for its lifetime: they keep receiving WAL but apply none,
/// so they lag behind the primary as much as the test needs.
class ReplayPause {
  public:
    explicit ReplayPause(const ClusterEnv& env) : env_(env) {
        for (auto node : kNodes) {
            env_.psql(node, "SELECT pg_wal_replay_pause()");
            paused_ = true;
        }
    }
    ~ReplayPause() {
        try {
            resume();
        } catch (...) {
        }
    }
    ReplayPause(const ReplayPause&) = delete;
    ReplayPause& operator=(const ReplayPause&) = delete;

    void resume() {
        if (!paused_) return;
        paused_ = false;
        for (auto node : kNodes) env_.psql(node, "SELECT pg_wal_replay_resume()");
    }

  private:
    static constexpr std::array<ClusterNode, 2> kNodes{ClusterNode::replica1,
                                                       ClusterNode::replica2};
    const ClusterEnv& env_;
    bool paused_ = false;
};

struct LoadTotals {
    std::size_t reads = 0;
    std::size_t failures = 0;
    std::vector<std::string> errors;
};

/// Checks that reads moved off a stopped replica once the pool knew it was down: from the moment
/// it marked the host down until the restart, nothing succeeded there, and no thread ran a
/// statement there after it had run one elsewhere (what a thread runs there before that belongs
/// to a read routed before the mark, with its retries on the same host). How soon the pool
/// notices is not the question (bench/ measures the failover time); that it notices, and then
/// stops sending reads there, is.
void check_moved_off(const QueryLog& log, int host, Clock::time_point stop_called,
                     Clock::time_point restart_called) {
    const auto down = log.first_down_after(host, stop_called);
    INFO(log.label(host) << " was " << (down ? "" : "never ") << "marked down after the stop");
    REQUIRE(down.has_value());
    REQUIRE(*down < restart_called);
    std::size_t ok_late = 0;
    std::size_t tried_late = 0;
    std::size_t stragglers = 0;
    std::vector<std::thread::id> moved;  // threads that ran a statement elsewhere after the mark
    auto events = log.events();
    std::sort(events.begin(), events.end(),
              [](const auto& a, const auto& b) { return a.started < b.started; });
    for (const auto& e : events) {
        if (e.started <= *down || e.at >= restart_called) continue;
        const bool has_moved = std::find(moved.begin(), moved.end(), e.thread) != moved.end();
        if (e.host != host) {
            if (!has_moved) moved.push_back(e.thread);
            continue;
        }
        if (e.outcome == db::QueryOutcome::ok) ++ok_late;
        (has_moved ? tried_late : stragglers) += 1;
    }
    INFO(log.label(host) << " marked down " << ms_between(stop_called, *down)
                         << " ms after the stop was called; then " << stragglers
                         << " statements of reads routed before the mark and " << tried_late
                         << " of later reads ran on it before the restart");
    CHECK(ok_late == 0);
    CHECK(tried_late == 0);
}

}  // namespace

TEST_CASE("replica reads follow the configured weights; other reads stay on the primary",
          "[replicas]") {
    const auto& env = cluster();
    QueryLog log(env);
    db::Database pool(replica_config(env, 3, 1), db::PqxxBackend{}, log.hooks());
    wait_replicas_ready(env, pool);

    constexpr int kThreads = 4;
    constexpr int kReadsPerThread = 2'500;
    std::atomic<int> wrong{0};
    std::vector<std::string> errors;
    std::mutex errors_mutex;
    auto run = [&](bool use_read_replica) {
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t) {
            threads.emplace_back([&, t] {
                for (int i = 0; i < kReadsPerThread; ++i) {
                    const int n = t * kReadsPerThread + i;
                    try {
                        const auto r = pool.query("SELECT $1::int AS n", {n},
                                                  {.use_read_replica = use_read_replica});
                        if (r.size() != 1 || r.front()["n"].as<int>() != n) ++wrong;
                    } catch (const std::exception& e) {
                        std::lock_guard lock(errors_mutex);
                        errors.emplace_back(e.what());
                    }
                }
            });
        }
        for (auto& th : threads) th.join();
    };
    auto count = [&] {
        std::array<std::size_t, 3> ok{};
        std::size_t other = 0;
        for (const auto& e : log.events()) {
            const bool role_matches =
                e.role == (e.host == kPrimary ? db::HostRole::primary : db::HostRole::replica);
            if (e.outcome == db::QueryOutcome::ok && e.host != kUnknownHost && role_matches) {
                ++ok[static_cast<std::size_t>(e.host)];
            } else {
                ++other;
            }
        }
        return std::pair{ok, other};
    };
    constexpr std::size_t kTotal = std::size_t{kThreads} * kReadsPerThread;

    SECTION("use_read_replica: replicas only, 3:1 within 5%") {
        run(true);
        REQUIRE(errors.empty());
        CHECK(wrong == 0);
        const auto [ok, other] = count();
        INFO("primary " << ok[0] << ", replica1 " << ok[1] << ", replica2 " << ok[2]
                        << ", other events " << other);
        CHECK(other == 0);
        CHECK(ok[kPrimary] == 0);
        REQUIRE(ok[kReplica1] + ok[kReplica2] == kTotal);
        const double share1 = static_cast<double>(ok[kReplica1]) / static_cast<double>(kTotal);
        const double share2 = static_cast<double>(ok[kReplica2]) / static_cast<double>(kTotal);
        CHECK(share1 == Approx(0.75).epsilon(0.05));
        CHECK(share2 == Approx(0.25).epsilon(0.05));
    }

    SECTION("without use_read_replica: the primary only") {
        run(false);
        REQUIRE(errors.empty());
        CHECK(wrong == 0);
        const auto [ok, other] = count();
        INFO("primary " << ok[0] << ", replica1 " << ok[1] << ", replica2 " << ok[2]
                        << ", other events " << other);
        CHECK(other == 0);
        CHECK(ok[kPrimary] == kTotal);
        CHECK(ok[kReplica1] + ok[kReplica2] == 0);
    }
}

TEST_CASE("replica reads survive a replica killed and restarted under load", "[replicas]") {
    const auto& env = cluster();
    QueryLog log(env);
    auto cfg = replica_config(env, 1, 1);
    // A replica that has caught up takes reads again however long ago the primary last wrote;
    // a short max_replica_lag keeps the test from depending on what ran before it.
    cfg.max_replica_lag = 1s;
    db::Database pool(cfg, db::PqxxBackend{}, log.hooks());
    wait_replicas_ready(env, pool);

    std::optional<Clock::time_point> back;
    std::optional<Clock::time_point> down;
    bool replica2_served = false;
    db::HealthReport health;
    std::string metrics;
    std::string router_state;
    Clock::time_point stop_called;
    Clock::time_point restart_called;
    Clock::time_point restarted;
    LoadTotals totals;
    {
        ReadLoad load(pool, 8);
        REQUIRE(eventually_within(60s, [&] {
            return log.first_ok_after(kReplica1, Clock::time_point{}).has_value() &&
                   log.first_ok_after(kReplica2, Clock::time_point{}).has_value();
        }));
        std::this_thread::sleep_for(300ms);
        {
            stop_called = Clock::now();
            StoppedNode stopped_node(env, ClusterNode::replica1, /*immediate=*/true);
            // Down for a while (at least; a slow machine keeps it down longer), until the pool
            // has marked it down and replica2 has served reads since.
            std::this_thread::sleep_for(2500ms);
            eventually_within(60s, [&] {
                down = log.first_down_after(kReplica1, stop_called);
                return down && (replica2_served = log.first_ok_after(kReplica2, *down).has_value());
            });
            health = pool.health();
            metrics = pool.metrics_text();
            restart_called = Clock::now();
            stopped_node.restart();
            restarted = Clock::now();
        }
        eventually_within(
            60s, [&] { return (back = log.first_ok_after(kReplica1, restarted)).has_value(); });
        router_state = describe(pool.router().state(0));
        std::this_thread::sleep_for(300ms);
        load.stop();
        totals = {load.reads(), load.failures(), load.errors()};
    }

    INFO("reads " << totals.reads << ", failed " << totals.failures
                  << (totals.errors.empty() ? "" : "; first error: ")
                  << (totals.errors.empty() ? "" : totals.errors.front()));
    CHECK(totals.failures == 0);
    CHECK(totals.reads > 0);
    check_moved_off(log, kReplica1, stop_called, restart_called);
    // replica2 took the reads meanwhile.
    CHECK(replica2_served);
    {
        // The health report named the dead replica; neither it nor the metrics show the password.
        const auto json = health.to_json();
        INFO("health while replica1 was down: " << json);
        CHECK(health.healthy);
        CHECK(health.status == db::HealthStatus::degraded);
        REQUIRE(health.hosts.size() == 3);
        CHECK_FALSE(health.hosts[kReplica1].reachable);
        CHECK(health.hosts[kReplica2].reachable);
        CHECK(json.find(env.password) == std::string::npos);
        CHECK(metrics.find(env.password) == std::string::npos);
    }
    // Back in service after the restart (how soon is measured in bench/, not asserted here).
    INFO("router on replica1 at the end: " << router_state);
    REQUIRE(back.has_value());
}

TEST_CASE("replica reads fall back to the primary while every replica is down", "[replicas]") {
    const auto& env = cluster();
    QueryLog log(env);
    auto cfg = replica_config(env, 1, 1);
    cfg.max_replica_lag = 1s;  // as in the single-replica test
    db::Database pool(cfg, db::PqxxBackend{}, log.hooks());
    wait_replicas_ready(env, pool);

    std::array<Clock::time_point, 3> stop_called{};
    std::array<Clock::time_point, 3> restart_called{};
    std::array<Clock::time_point, 3> restarted{};
    std::array<std::optional<Clock::time_point>, 3> back{};
    std::array<std::string, 3> router_state{};
    std::size_t primary_reads_while_down = 0;
    LoadTotals totals;
    {
        ReadLoad load(pool, 8);
        REQUIRE(eventually_within(60s, [&] {
            return log.first_ok_after(kReplica1, Clock::time_point{}).has_value() &&
                   log.first_ok_after(kReplica2, Clock::time_point{}).has_value();
        }));
        {
            stop_called[kReplica1] = Clock::now();
            StoppedNode down1(env, ClusterNode::replica1, /*immediate=*/true);
            stop_called[kReplica2] = Clock::now();
            StoppedNode down2(env, ClusterNode::replica2, /*immediate=*/true);
            // Down for a while (at least; a slow machine keeps them down longer), until the pool
            // has marked both down and the primary has served reads since.
            std::this_thread::sleep_for(2500ms);
            eventually_within(60s, [&] {
                const auto d1 = log.first_down_after(kReplica1, stop_called[kReplica1]);
                const auto d2 = log.first_down_after(kReplica2, stop_called[kReplica2]);
                if (!d1 || !d2) return false;
                primary_reads_while_down = 0;
                for (const auto& e : log.events()) {
                    if (e.host == kPrimary && e.outcome == db::QueryOutcome::ok &&
                        e.started > std::max(*d1, *d2)) {
                        ++primary_reads_while_down;
                    }
                }
                return primary_reads_while_down > 0;
            });
            restart_called[kReplica1] = Clock::now();
            down1.restart();
            restarted[kReplica1] = Clock::now();
            restart_called[kReplica2] = Clock::now();
            down2.restart();
            restarted[kReplica2] = Clock::now();
        }
        for (int host : {kReplica1, kReplica2}) {
            const auto h = static_cast<std::size_t>(host);
            eventually_within(60s, [&] {
                return (back[h] = log.first_ok_after(host, restarted[h])).has_value();
            });
            router_state[h] = describe(pool.router().state(h - 1));
        }
        std::this_thread::sleep_for(300ms);
        load.stop();
        totals = {load.reads(), load.failures(), load.errors()};
    }

    INFO("reads " << totals.reads << ", failed " << totals.failures
                  << (totals.errors.empty() ? "" : "; first error: ")
                  << (totals.errors.empty() ? "" : totals.errors.front()));
    CHECK(totals.failures == 0);
    CHECK(primary_reads_while_down > 0);
    check_moved_off(log, kReplica1, stop_called[kReplica1], restart_called[kReplica1]);
    check_moved_off(log, kReplica2, stop_called[kReplica2], restart_called[kReplica2]);
    // Both back in service after the restart (how soon is measured in bench/).
    for (int host : {kReplica1, kReplica2}) {
        const auto h = static_cast<std::size_t>(host);
        INFO(log.label(host) << "; router: " << router_state[h]);
        CHECK(back[h].has_value());
    }
}

TEST_CASE("a restarted replica that has caught up takes reads while the primary is idle",
          "[replicas]") {
    // After a restart, a standby streams from the start of a WAL segment, so until the primary
    // writes again pg_last_wal_receive_lsn() is *behind* pg_last_wal_replay_lsn(). The replica
    // has replayed everything there is; it must not count as lagging by the age of the last
    // commit it replayed.
    const auto& env = cluster();
    QueryLog log(env);
    auto cfg = replica_config(env, 1, 1);
    cfg.max_replica_lag = 1s;
    const auto period = cfg.health_check_period;
    db::Database pool(cfg, db::PqxxBackend{}, log.hooks());
    wait_replicas_ready(env, pool);

    env.restart_node(ClusterNode::replica1);
    // No writes from here on, as under a read-only load. Long enough (at least) that the last
    // commit is older than max_replica_lag; then the pool must find the replica up and within
    // the lag on its own health checks (a replica counted as lagging by the age of the last
    // commit never is, and the wait fails).
    std::this_thread::sleep_for(cfg.max_replica_lag + 4 * period);
    eventually_within(60s, [&] {
        const auto st = pool.router().state(0);
        return st.up && st.lag <= cfg.max_replica_lag;
    });
    const auto lsns = env.psql(ClusterNode::replica1,
                               "SELECT pg_last_wal_receive_lsn() || ' received, ' || "
                               "pg_last_wal_replay_lsn() || ' replayed'");
    const auto primary_lsn = env.psql(ClusterNode::primary, "SELECT pg_current_wal_insert_lsn()");
    const auto st = pool.router().state(0);

    log.clear();
    for (int i = 0; i < 200; ++i) pool.query("SELECT 1", {}, {.use_read_replica = true});
    std::size_t on_replica1 = 0;
    for (const auto& e : log.events()) {
        if (e.host == kReplica1 && e.outcome == db::QueryOutcome::ok) ++on_replica1;
    }
    INFO("replica1: " << lsns << "; primary at " << primary_lsn << "; router: " << describe(st));
    CHECK(on_replica1 > 0);
}

TEST_CASE("read-your-writes with a position token while replicas lag", "[replicas]") {
    const auto& env = cluster();
    QueryLog log(env);
    auto cfg = replica_config(env, 1, 1);
    // Paused replicas report a growing lag; keep them eligible for plain reads so that the test
    // can show they really miss the writes.
    cfg.max_replica_lag = 600'000ms;
    db::Database pool(cfg, db::PqxxBackend{}, log.hooks());

    const std::string table = "sparc_it_read_your_writes";
    pool.query(fmt::format("DROP TABLE IF EXISTS {}", table), {}, {.prepare = false});
    pool.query(fmt::format("CREATE TABLE {} (id bigserial PRIMARY KEY, thread int NOT NULL, "
                           "seq int NOT NULL, val text NOT NULL)",
                           table),
               {}, {.prepare = false});
    const std::string insert_sql =
        fmt::format("INSERT INTO {} (thread, seq, val) VALUES ($1, $2, $3) RETURNING id", table);
    const std::string select_sql = fmt::format("SELECT val FROM {} WHERE id = $1", table);
    {
        const auto created = pool.current_position().to_string();
        wait_replayed(env, ClusterNode::replica1, created);
        wait_replayed(env, ClusterNode::replica2, created);
    }

    struct Written {
        std::int64_t id = 0;
        std::string val;
        db::CommitPosition pos;
    };
    struct Counts {
        std::size_t token_reads = 0, token_seen = 0, token_on_primary = 0, token_on_replica = 0;
        std::size_t plain_reads = 0, plain_seen = 0, plain_on_replica = 0;
        std::vector<std::string> errors;
        Counts& operator+=(const Counts& o) {
            token_reads += o.token_reads;
            token_seen += o.token_seen;
            token_on_primary += o.token_on_primary;
            token_on_replica += o.token_on_replica;
            plain_reads += o.plain_reads;
            plain_seen += o.plain_seen;
            plain_on_replica += o.plain_on_replica;
            errors.insert(errors.end(), o.errors.begin(), o.errors.end());
            return *this;
        }
    };
    constexpr int kThreads = 6;
    constexpr int kWritesPerThread = 100;
    std::vector<std::vector<Written>> written(kThreads);

    // Reads `w` with its token; counts where it ran and whether it saw the write.
    auto token_read = [&](const Written& w, Counts& c) {
        QueryLog::reset_last();
        const auto r = pool.query(select_sql, {w.id}, {.use_read_replica = true, .after = w.pos});
        ++c.token_reads;
        if (r.size() == 1 && r.front()[0].as<std::string>() == w.val) ++c.token_seen;
        const int host = QueryLog::last_ok_host();
        if (host == kPrimary) ++c.token_on_primary;
        if (host == kReplica1 || host == kReplica2) ++c.token_on_replica;
    };
    // Each thread writes, takes the primary's position and reads the row back with it; with
    // `plain`, it also reads the row from a replica without the token.
    auto write_and_read = [&](int phase, bool plain) {
        std::vector<Counts> counts(kThreads);
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t) {
            threads.emplace_back([&, t] {
                auto& c = counts[static_cast<std::size_t>(t)];
                for (int i = 0; i < kWritesPerThread; ++i) {
                    try {
                        Written w;
                        w.val = fmt::format("phase {} thread {} write {}", phase, t, i);
                        w.id = pool.query(insert_sql, {t, i, w.val}).front()[0].as<std::int64_t>();
                        w.pos = pool.current_position();
                        token_read(w, c);
                        if (plain) {
                            QueryLog::reset_last();
                            const auto r =
                                pool.query(select_sql, {w.id}, {.use_read_replica = true});
                            ++c.plain_reads;
                            if (!r.empty()) ++c.plain_seen;
                            const int host = QueryLog::last_ok_host();
                            if (host == kReplica1 || host == kReplica2) ++c.plain_on_replica;
                        }
                        if (phase == 1) written[static_cast<std::size_t>(t)].push_back(w);
                    } catch (const std::exception& e) {
                        c.errors.emplace_back(e.what());
                    }
                }
            });
        }
        for (auto& th : threads) th.join();
        Counts total;
        for (const auto& c : counts) total += c;
        return total;
    };
    constexpr std::size_t kWrites = std::size_t{kThreads} * kWritesPerThread;

    Counts paused;
    Counts paused_later;
    Counts resumed_old;
    Counts resumed_new;
    {
        ReplayPause pause(env);
        paused = write_and_read(1, true);
        // Two more health checks of each replica: the replicas' known positions are fresh, and
        // they still have not replayed the writes, so the token still sends the reads to the
        // primary.
        for (int check = 0; check < 2; ++check) {
            const auto since = Clock::now();
            REQUIRE(eventually_within(60s, [&] {
                for (std::size_t i = 0; i < pool.router().size(); ++i) {
                    if (pool.router().state(i).checked_at <= since) return false;
                }
                return true;
            }));
        }
        for (const auto& per_thread : written) {
            if (!per_thread.empty()) token_read(per_thread.back(), paused_later);
        }
        pause.resume();
    }
    const auto now_lsn = pool.current_position().to_string();
    wait_replayed(env, ClusterNode::replica1, now_lsn);
    wait_replayed(env, ClusterNode::replica2, now_lsn);
    // The pool learns from its health checks that the replicas caught up.
    {
        const Written& last = written.front().back();
        bool on_replica = false;
        eventually_within(60s, [&] {
            Counts c;
            token_read(last, c);
            on_replica = c.token_on_replica == 1;
            return on_replica;
        });
        CHECK(on_replica);
    }
    {
        // Old tokens (already replayed) from every thread, concurrently with fresh writes.
        std::vector<Counts> counts(kThreads);
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t) {
            threads.emplace_back([&, t] {
                auto& c = counts[static_cast<std::size_t>(t)];
                for (const auto& w : written[static_cast<std::size_t>(t)]) {
                    try {
                        token_read(w, c);
                    } catch (const std::exception& e) {
                        c.errors.emplace_back(e.what());
                    }
                }
            });
        }
        resumed_new = write_and_read(2, false);
        for (auto& th : threads) th.join();
        for (const auto& c : counts) resumed_old += c;
    }
    pool.query(fmt::format("DROP TABLE IF EXISTS {}", table), {}, {.prepare = false});

    {
        INFO("replay paused: " << paused.token_reads << " token reads, " << paused.token_seen
                               << " saw the write, " << paused.token_on_primary
                               << " on the primary; " << paused.plain_reads << " plain reads, "
                               << paused.plain_seen << " saw the write, " << paused.plain_on_replica
                               << " on a replica");
        INFO((paused.errors.empty() ? "" : "first error: ")
             << (paused.errors.empty() ? "" : paused.errors.front()));
        CHECK(paused.errors.empty());
        CHECK(paused.token_reads == kWrites);
        CHECK(paused.token_seen == kWrites);
        CHECK(paused.token_on_primary == kWrites);
        // The lag is real: the replicas do not have the rows.
        CHECK(paused.plain_reads == kWrites);
        CHECK(paused.plain_on_replica == kWrites);
        CHECK(paused.plain_seen == 0);
        CHECK(paused_later.token_seen == paused_later.token_reads);
        CHECK(paused_later.token_on_primary == paused_later.token_reads);
    }
    {
        INFO("after resume: " << resumed_old.token_reads << " old-token reads, "
                              << resumed_old.token_seen << " saw the write, "
                              << resumed_old.token_on_replica << " on a replica; "
                              << resumed_new.token_reads << " fresh token reads, "
                              << resumed_new.token_seen << " saw the write, "
                              << resumed_new.token_on_replica << " on a replica");
        const auto& errs = resumed_old.errors.empty() ? resumed_new.errors : resumed_old.errors;
        INFO((errs.empty() ? "" : "first error: ") << (errs.empty() ? "" : errs.front()));
        CHECK(resumed_old.errors.empty());
        CHECK(resumed_new.errors.empty());
        CHECK(resumed_old.token_reads == kWrites);
        CHECK(resumed_old.token_seen == kWrites);
        CHECK(resumed_old.token_on_replica == kWrites);
        CHECK(resumed_new.token_reads == kWrites);
        CHECK(resumed_new.token_seen == kWrites);
    }
}

TEST_CASE("read-your-writes: the token covers a write committed with synchronous_commit off",
          "[replicas]") {
    // current_position() must be at or after the write's commit record. With
    // synchronous_commit = off, COMMIT returns before its WAL is written out, so the primary's
    // WAL *write* position can still be before it while a replica has replayed everything
    // written: a token from the write position then lets that replica serve the read.
    const auto& env = cluster();
    QueryLog log(env);
    auto cfg = replica_config(env, 1, 1);
    const auto period = cfg.health_check_period;
    db::Database pool(cfg, db::PqxxBackend{}, log.hooks());

    const std::string table = "sparc_it_read_your_async_writes";
    pool.query(fmt::format("DROP TABLE IF EXISTS {}", table), {}, {.prepare = false});
    pool.query(fmt::format("CREATE TABLE {} (id bigserial PRIMARY KEY, val text NOT NULL)", table),
               {}, {.prepare = false});
    const std::string insert_sql =
        fmt::format("INSERT INTO {} (val) VALUES ($1) RETURNING id", table);
    const std::string select_sql = fmt::format("SELECT val FROM {} WHERE id = $1", table);

    constexpr int kWrites = 10;
    int missed = 0;
    int on_replica = 0;
    for (int i = 0; i < kWrites; ++i) {
        // Quiet for two health periods: the replicas replay everything and the pool learns it.
        std::this_thread::sleep_for(2 * period + 50ms);
        const auto val = fmt::format("async write {}", i);
        const auto id = pool.transaction([&](auto& tx) {
            tx.query("SET LOCAL synchronous_commit = off", {}, {.prepare = false});
            return tx.query(insert_sql, {val}).front()[0].template as<std::int64_t>();
        });
        const auto pos = pool.current_position();
        QueryLog::reset_last();
        const auto r = pool.query(select_sql, {id}, {.use_read_replica = true, .after = pos});
        if (r.size() != 1 || r.front()[0].as<std::string>() != val) ++missed;
        const int host = QueryLog::last_ok_host();
        if (host == kReplica1 || host == kReplica2) ++on_replica;
    }
    pool.query(fmt::format("DROP TABLE IF EXISTS {}", table), {}, {.prepare = false});

    INFO(kWrites << " token reads, " << missed << " missed the write, " << on_replica
                 << " served by a replica");
    CHECK(missed == 0);
}
