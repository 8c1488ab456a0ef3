// Topology changes under a pool, on a cluster of their own (the pg_topology fixture): a hung
// primary and a promotion, a fenced primary, a split brain, a server at its connection limit.
// Each case puts the cluster back as it found it (TopologyGuard). The times measured are
// printed for docs/failover.md; the bounds asserted are far above them, to catch a pool that
// does not fail over at all (the old behaviour took 20 s and more), not to time it.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <sparc/db.hpp>
#include <sparc_test/cluster_env.hpp>
#include <sparc_test/fault_proxy.hpp>

#include "pg_util.hpp"

namespace db = sparc::db;
using sparc::testing::ClusterEnv;
using sparc::testing::ClusterNode;
using sparc::testing::FrozenNode;
using sparc::testing::TopologyGuard;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

using sparc::pgtest::cluster;
using sparc::pgtest::eventually;

// Two callers, each stuck in `INSERT INTO <table> ... pg_sleep(600)` on the primary: start()
// returns once both statements run there and the table's first row has reached replica1.
// outcomes() gives how each call ended: "sent: <message>", "not sent: ...", "other: ..." or
// "no error". Declared before the pool, so that the threads are joined at scope exit after the
// pool's destruction has ended their calls (a failed REQUIRE included).
class StuckCallers {
  public:
    StuckCallers() = default;
    StuckCallers(const StuckCallers&) = delete;
    StuckCallers& operator=(const StuckCallers&) = delete;
    ~StuckCallers() { join(); }

    void start(db::Database& pool, const std::string& table, const std::string& app) {
        for (int i = 0; i < 2; ++i) {
            threads_.emplace_back([&pool, table, this, i] {
                auto& outcome = outcomes_[static_cast<std::size_t>(i)];
                try {
                    pool.query("INSERT INTO " + table + " (v) SELECT $1 FROM pg_sleep(600)",
                               {i + 1});
                    outcome.set_value("no error");
                } catch (const db::ConnectionError& e) {
                    outcome.set_value(std::string(e.statement_sent() ? "sent: " : "not sent: ") +
                                      e.what());
                } catch (const std::exception& e) {
                    outcome.set_value(std::string("other: ") + e.what());
                }
            });
        }
        REQUIRE(eventually([&] {
            return std::stoi(cluster().psql(
                       ClusterNode::primary,
                       "SELECT count(*) FROM pg_stat_activity WHERE application_name = '" + app +
                           "' AND query LIKE '%pg_sleep(600)%' AND state = 'active'")) == 2;
        }));
        REQUIRE(eventually([&] {
            return cluster().psql(ClusterNode::replica1, "SELECT count(*) FROM " + table) == "1";
        }));
    }

    // Waits for both calls to end (each within `timeout`), and joins their threads.
    std::vector<std::string> outcomes(Clock::duration timeout) {
        std::vector<std::string> texts;
        for (auto& outcome : outcomes_) {
            auto f = outcome.get_future();
            REQUIRE(f.wait_for(timeout) == std::future_status::ready);
            texts.push_back(f.get());
        }
        join();
        return texts;
    }

  private:
    void join() {
        for (auto& t : threads_) {
            if (t.joinable()) t.join();
        }
        threads_.clear();
    }

    std::vector<std::thread> threads_;
    std::promise<std::string> outcomes_[2];
};

// The shared configuration with short timeouts and a quick reconnect, so that a change of
// topology shows within a test's time.
db::PoolConfig base_config(const std::string& name, bool with_replicas = false) {
    auto cfg = sparc::pgtest::config(name, with_replicas);
    cfg.max_connections = 4;
    cfg.statement_timeout = 1s;
    cfg.query_timeout = 1500ms;
    cfg.reconnect_backoff_max = 500ms;
    return cfg;
}

// base_config() with the primary named by a host list, the primary then replica1, each host
// tried for connect_timeout=2 (target_session_attrs=read-write, as multi_host_url() gives).
db::PoolConfig host_list_config(const std::string& name, bool with_replicas = false) {
    auto cfg = base_config(name, with_replicas);
    cfg.primary = db::Endpoint::parse(cluster().multi_host_url(
        {ClusterNode::primary, ClusterNode::replica1}, "connect_timeout=2"));
    return cfg;
}

// Inserts `v` into `table`, flushed at commit (the test cluster runs with synchronous_commit
// off, so its WAL reaches the replicas on the WAL writer's schedule; a service's database
// flushes at commit, as here). Returns the new row's id.
std::int64_t insert_flushed(db::Database& pool, const char* table, std::int64_t v) {
    return pool.transaction([&](auto& tx) {
        tx.query("SET LOCAL synchronous_commit = on");
        return tx.query(std::string("INSERT INTO ") + table + " (v) VALUES ($1) RETURNING id", {v})
            .front()[0]
            .template as<std::int64_t>();
    });
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

void create_table(const char* name) {
    cluster().psql(ClusterNode::primary, std::string("DROP TABLE IF EXISTS ") + name +
                                             "; CREATE TABLE " + name +
                                             " (id bigserial PRIMARY KEY, v bigint)");
    // Both replicas have it before the topology changes.
    for (auto node : {ClusterNode::replica1, ClusterNode::replica2}) {
        REQUIRE(eventually([&] {
            try {
                cluster().psql(node, std::string("SELECT count(*) FROM ") + name);
                return true;
            } catch (const std::exception&) {
                return false;
            }
        }));
    }
}

}  // namespace

TEST_CASE("writes resume after a hung primary fails over, within connect_timeout + 1 s",
          "[topology][failover]") {
    TopologyGuard guard(cluster());
    create_table("failover_writes");
    auto cfg = host_list_config("topo-hung");
    db::Database pool(cfg);
    pool.query("INSERT INTO failover_writes (v) VALUES (0)");

    std::atomic<bool> stop{false};
    std::atomic<std::int64_t> last_ok_ns{0};
    std::atomic<int> ok{0};
    std::atomic<int> failed{0};
    std::thread writer([&] {
        for (std::int64_t i = 1; !stop; ++i) {
            try {
                pool.query("INSERT INTO failover_writes (v) VALUES ($1)", {i});
                ++ok;
                last_ok_ns = Clock::now().time_since_epoch().count();
            } catch (const db::Error&) {
                ++failed;
                std::this_thread::sleep_for(10ms);
            }
        }
    });
    REQUIRE(eventually([&] { return ok > 20; }));
    std::optional<FrozenNode> frozen;
    frozen.emplace(cluster(), ClusterNode::primary);
    // The pool notices: writes stop succeeding.
    REQUIRE(eventually([&] { return failed > 0; }));
    cluster().promote(ClusterNode::replica1);
    const auto promoted = Clock::now();
    const auto promoted_ns = promoted.time_since_epoch().count();
    const bool resumed = eventually([&] { return last_ok_ns.load() > promoted_ns; }, 30s);
    const auto took = Clock::now() - promoted;
    stop = true;
    writer.join();
    std::printf("hung primary: writes resumed %.2f s after the promotion (connect_timeout=2)\n",
                seconds(took));
    REQUIRE(resumed);
    CHECK(took < 10s);
    // The new primary has the rows written after the promotion.
    const auto rows = cluster().psql(ClusterNode::replica1, "SELECT count(*) FROM failover_writes");
    CHECK(std::stoll(rows) >= 1);
    frozen.reset();  // thaw before reset rebuilds the nodes
}

TEST_CASE("statements stuck on a hung primary are cut once the host list has moved on",
          "[topology][failover]") {
    TopologyGuard guard(cluster());
    create_table("failover_cut");
    auto cfg = host_list_config("topo-hung-cut");
    // Deadlines far beyond the test: only the pool's cut can end the stuck statements.
    cfg.max_connections = 2;
    cfg.statement_timeout = 10min;
    cfg.query_timeout = 11min;
    StuckCallers stuck;
    db::Database pool(cfg);
    pool.query("INSERT INTO failover_cut (v) VALUES (0)");

    // Both of the pool's sessions run a statement on the primary when it freezes.
    stuck.start(pool, "failover_cut", "topo-hung-cut");
    std::optional<FrozenNode> frozen;
    frozen.emplace(cluster(), ClusterNode::primary);
    cluster().promote(ClusterNode::replica1);
    const auto promoted = Clock::now();

    // No caller opens a session (both are busy): the health check opens one of its own, which
    // lands on the promoted host, and the statements on the frozen one end with an error that
    // says so, at once instead of at their 11 minute deadline.
    const auto texts = stuck.outcomes(5min);
    const auto took = Clock::now() - promoted;
    std::printf(
        "hung primary: stuck statements cut %.2f s after the promotion "
        "(connect_timeout=2)\n",
        seconds(took));
    for (const auto& text : texts) {
        // "the result", or "the statement's results" for a first use that sent its Prepare
        // in the same pipeline.
        CHECK_THAT(text, Catch::StartsWith("sent: connection cut while waiting for the "));
        CHECK_THAT(text, Catch::Contains("moved from"));
    }
    // The pool writes to the promoted host, and neither stuck statement ran again there.
    pool.query("INSERT INTO failover_cut (v) VALUES (3)");
    CHECK(cluster().psql(ClusterNode::replica1,
                         "SELECT string_agg(v::text, ',' ORDER BY v) FROM failover_cut") == "0,3");
    CHECK_THAT(pool.metrics_text(), Catch::Contains("sparc_db_primary_moves_total{"));
    frozen.reset();  // thaw before reset rebuilds the nodes
}

TEST_CASE("an old primary thawed after the failover gets no more writes from the pool",
          "[topology][failover][split-brain]") {
    TopologyGuard guard(cluster());
    create_table("failover_thaw");
    auto cfg = host_list_config("topo-thaw");
    cfg.statement_timeout = 10min;
    cfg.query_timeout = 11min;
    StuckCallers stuck;
    db::Database pool(cfg);
    pool.query("INSERT INTO failover_thaw (v) VALUES (0)");
    // The pool has checked the primary: it knows which history its server continues.
    REQUIRE(eventually(
        [&] { return pool.health({.timeout = 2s}).status == db::HealthStatus::healthy; }));
    stuck.start(pool, "failover_thaw", "topo-thaw");
    std::optional<FrozenNode> frozen;
    frozen.emplace(cluster(), ClusterNode::primary);
    cluster().promote(ClusterNode::replica1);
    // The first write after the promotion reaches replica1 (the frozen host costs one
    // connect_timeout); then the old primary thaws, writable again: a split brain.
    REQUIRE(eventually([&] {
        try {
            pool.query("INSERT INTO failover_thaw (v) VALUES (100)");
            return true;
        } catch (const db::Error&) {
            return false;
        }
    }));
    frozen.reset();
    for (std::int64_t i = 1; i <= 20; ++i) {
        pool.query("INSERT INTO failover_thaw (v) VALUES ($1)", {100 + i});
    }
    // The statements stuck on the old primary were cut, saying why: they may have run there.
    for (const auto& text : stuck.outcomes(5min)) {
        CHECK_THAT(text, Catch::StartsWith("sent: connection cut"));
        CHECK_THAT(text, Catch::Contains("timeline"));
    }
    // Every write after the promotion is on the new primary, none on the thawed old one.
    CHECK(cluster().psql(ClusterNode::replica1,
                         "SELECT count(*) FROM failover_thaw WHERE v >= 100") == "21");
    CHECK(cluster().psql(ClusterNode::primary,
                         "SELECT count(*) FROM failover_thaw WHERE v >= 100") == "0");
}

TEST_CASE("a fenced primary's writes move to the promoted host without a caller error",
          "[topology][fence]") {
    TopologyGuard guard(cluster());
    create_table("fence_writes");
    auto cfg = host_list_config("topo-fence");
    db::Database pool(cfg);
    for (int i = 0; i < 10; ++i) pool.query("INSERT INTO fence_writes (v) VALUES ($1)", {i});
    // What a failover manager does: fence the old primary, promote a standby.
    cluster().fence(ClusterNode::primary, true);
    cluster().promote(ClusterNode::replica1);
    int errors = 0;
    std::string first_error;
    for (int i = 10; i < 60; ++i) {
        try {
            pool.query("INSERT INTO fence_writes (v) VALUES ($1)", {i});
        } catch (const db::Error& e) {
            if (errors++ == 0) first_error = e.what();
        }
    }
    INFO(first_error);
    CHECK(errors == 0);
    // Every write made after the fence is on the new primary, once.
    CHECK(cluster().psql(ClusterNode::replica1,
                         "SELECT count(*) FROM fence_writes WHERE v >= 10") == "50");
    CHECK(cluster().psql(ClusterNode::primary, "SELECT count(*) FROM fence_writes WHERE v >= 10") ==
          "0");
    // A transaction too.
    CHECK_NOTHROW(
        pool.transaction([](auto& tx) { tx.query("INSERT INTO fence_writes (v) VALUES (100)"); }));
    cluster().fence(ClusterNode::primary, false);
}

TEST_CASE("a replica promoted while the primary runs serves no read-your-writes read",
          "[topology][split-brain]") {
    TopologyGuard guard(cluster());
    create_table("split_reads");
    auto cfg = base_config("topo-split", true);
    cfg.max_replica_lag = 30s;
    db::Database pool(cfg);
    REQUIRE(eventually(
        [&] { return pool.health({.timeout = 2s}).status == db::HealthStatus::healthy; }));
    cluster().promote(ClusterNode::replica1);  // split brain: two writable hosts
    int stale = 0;
    int reads = 0;
    for (std::int64_t i = 0; i < 300; ++i) {
        const auto r = pool.query("INSERT INTO split_reads (v) VALUES ($1) RETURNING id", {i});
        const auto id = r.front()[0].as<std::int64_t>();
        const auto pos = pool.current_position();
        const auto read = pool.query("SELECT v FROM split_reads WHERE id = $1", {id},
                                     {.use_read_replica = true, .after = pos});
        ++reads;
        if (read.empty() || read.front()[0].as<std::int64_t>() != i) ++stale;
    }
    CHECK(stale == 0);
    const auto report = pool.health({.timeout = 2s});
    CHECK(report.status == db::HealthStatus::degraded);
    bool named = false;
    for (const auto& reason : report.reasons) {
        named = named || reason.find(std::to_string(cluster().port(ClusterNode::replica1))) !=
                             std::string::npos;
    }
    CHECK(named);
    std::printf("split brain: %d of %d read-your-writes reads stale\n", stale, reads);
}

TEST_CASE(
    "in a split brain, a standby still streaming from the old primary serves no "
    "read-your-writes read of the new one, even to a role that cannot see its timeline",
    "[topology][split-brain][ryw]") {
    TopologyGuard guard(cluster());
    create_table("split_plain");
    // A role without pg_read_all_stats: it sees that a standby's WAL receiver runs, not which
    // timeline it streams.
    const std::string role = "sparc_plain";
    const std::string password = "plain-secret-5d1c";
    cluster().psql(ClusterNode::primary,
                   "DO $$ BEGIN CREATE ROLE " + role + " LOGIN PASSWORD '" + password +
                       "'; EXCEPTION WHEN duplicate_object THEN NULL; END $$; "
                       "GRANT ALL ON split_plain, split_plain_id_seq TO " +
                       role);
    auto url = [&](const std::string& hosts, std::string_view query = {}) {
        return "postgresql://" + role + ":" + password + "@" + hosts + "/" + cluster().database +
               (query.empty() ? "" : "?") + std::string(query);
    };
    auto host = [&](ClusterNode node) {
        return "127.0.0.1:" + std::to_string(cluster().port(node));
    };
    // The pool reaches the old primary through a proxy, to cut it off from the pool alone.
    sparc::testing::FaultProxy to_primary("127.0.0.1", cluster().port(ClusterNode::primary));
    auto cfg = base_config("topo-split-plain");
    cfg.primary = db::Endpoint::parse(url(to_primary.address() + "," + host(ClusterNode::replica1),
                                          "target_session_attrs=read-write&connect_timeout=2"));
    for (auto node : {ClusterNode::replica1, ClusterNode::replica2}) {
        cfg.replicas.push_back({db::Endpoint::parse(url(host(node))), 1});
    }
    cfg.max_replica_lag = 60s;  // lag is not what must keep replica2 out
    for (auto node : {ClusterNode::replica1, ClusterNode::replica2}) {
        REQUIRE(eventually([&] {
            return cluster().psql(
                       node, "SELECT count(*) FROM pg_roles WHERE rolname = '" + role + "'") == "1";
        }));
    }
    db::Database pool(cfg);
    REQUIRE(eventually(
        [&] { return pool.health({.timeout = 2s}).status == db::HealthStatus::healthy; }));
    REQUIRE(eventually([&] { return pool.router().state(1).receiver.has_value(); }));
    REQUIRE_FALSE(pool.router().state(1).receiver->details_visible);
    // replica1 is promoted and the pool loses the old primary, which goes on taking writes
    // from elsewhere and streaming them to replica2.
    cluster().promote(ClusterNode::replica1);
    to_primary.refuse_new(true);
    to_primary.cut_all();
    int stale = 0;
    int reads = 0;
    for (std::int64_t i = 0; i < 60; ++i) {
        // More WAL on the old primary than on the new one: replica2's LSN passes the pool's.
        cluster().psql(ClusterNode::primary,
                       "INSERT INTO split_plain (v) SELECT -g FROM generate_series(1, 2000) g");
        const auto v = 1'000'000 + i;
        try {
            insert_flushed(pool, "split_plain", v);
        } catch (const db::Error&) {
            continue;  // the pool is still finding the new primary
        }
        const auto pos = pool.current_position();
        const auto read = pool.query("SELECT count(*) FROM split_plain WHERE v = $1", {v},
                                     {.use_read_replica = true, .after = pos});
        ++reads;
        if (read.front()[0].as<std::int64_t>() != 1) ++stale;
    }
    std::printf("split brain, unprivileged role: %d of %d read-your-writes reads stale\n", stale,
                reads);
    CHECK(reads > 40);
    CHECK(stale == 0);
    // replica2 replays, but the new primary streams to nobody: health says why it is out.
    const auto port2 = std::to_string(cluster().port(ClusterNode::replica2));
    REQUIRE(eventually([&] {
        for (const auto& reason : pool.health({.timeout = 2s}).reasons) {
            if (reason.find(port2) != std::string::npos &&
                reason.find("pg_read_all_stats") != std::string::npos) {
                return true;
            }
        }
        return false;
    }));
    CHECK(pool.health({.timeout = 2s}).to_json().find(password) == std::string::npos);
}

TEST_CASE(
    "after a failover, a standby that replayed the old primary's last WAL serves no "
    "read-your-writes read of the new primary",
    "[topology][failover][ryw]") {
    TopologyGuard guard(cluster());
    create_table("ryw_failover");
    auto cfg = host_list_config("topo-ryw-failover", true);
    cfg.max_replica_lag = 60s;  // lag is not what must keep replica2 out
    db::Database pool(cfg);
    REQUIRE(eventually(
        [&] { return pool.health({.timeout = 2s}).status == db::HealthStatus::healthy; }));
    insert_flushed(pool, "ryw_failover", 0);
    {
        // replica1, to be promoted, stops replaying; replica2 goes on and replays the old
        // primary's last WAL (a few MB), which the new primary will never have.
        FrozenNode frozen(cluster(), ClusterNode::replica1);
        cluster().psql(ClusterNode::primary,
                       "INSERT INTO ryw_failover (v) SELECT g FROM generate_series(1, 20000) g");
        REQUIRE(eventually([&] {
            return cluster().psql(ClusterNode::replica2, "SELECT count(*) FROM ryw_failover") ==
                   "20001";
        }));
        cluster().stop_node(ClusterNode::primary, true);
    }
    cluster().promote(ClusterNode::replica1);
    // The new primary's positions are below replica2's by LSN, and replica2 has none of its
    // writes.
    int stale = 0;
    int reads = 0;
    for (std::int64_t i = 0; i < 50; ++i) {
        const auto v = 1'000'000 + i;
        try {
            insert_flushed(pool, "ryw_failover", v);
        } catch (const db::Error&) {
            continue;  // the pool is still finding the new primary
        }
        const auto pos = pool.current_position();
        const auto read = pool.query("SELECT count(*) FROM ryw_failover WHERE v = $1", {v},
                                     {.use_read_replica = true, .after = pos});
        ++reads;
        if (read.front()[0].as<std::int64_t>() != 1) ++stale;
    }
    std::printf("failover to a lagging standby: %d of %d read-your-writes reads stale\n", stale,
                reads);
    CHECK(reads > 40);
    CHECK(stale == 0);
    // Health names replica2: it is not seen on the new primary's timeline.
    REQUIRE(eventually([&] {
        for (const auto& reason : pool.health({.timeout = 2s}).reasons) {
            if (reason.find(std::to_string(cluster().port(ClusterNode::replica2))) !=
                    std::string::npos &&
                reason.find("timeline") != std::string::npos) {
                return true;
            }
        }
        return false;
    }));
}

TEST_CASE(
    "after a failover, a standby replaying the old primary's WAL it had received is not taken "
    "for one following the new primary",
    "[topology][failover][ryw]") {
    TopologyGuard guard(cluster());
    create_table("ryw_replay_resume");
    auto cfg = host_list_config("topo-ryw-replay-resume", true);
    cfg.max_replica_lag = 60s;  // lag is not what must keep replica2 out
    db::Database pool(cfg);
    REQUIRE(eventually(
        [&] { return pool.health({.timeout = 2s}).status == db::HealthStatus::healthy; }));
    insert_flushed(pool, "ryw_replay_resume", 0);
    // replica2 receives the old primary's last WAL but does not replay it yet.
    cluster().psql(ClusterNode::replica2, "SELECT pg_wal_replay_pause()");
    {
        FrozenNode frozen(cluster(), ClusterNode::replica1);
        cluster().psql(ClusterNode::primary,
                       "INSERT INTO ryw_replay_resume (v) SELECT g FROM "
                       "generate_series(1, 20000) g");
        cluster().psql(ClusterNode::primary, "SELECT pg_switch_wal()");
        REQUIRE(eventually([&] {
            return cluster().psql(
                       ClusterNode::replica2,
                       "SELECT pg_last_wal_receive_lsn() >= '" +
                           cluster().psql(ClusterNode::primary, "SELECT pg_current_wal_lsn()") +
                           "'::pg_lsn") == "t";
        }));
        cluster().stop_node(ClusterNode::primary, true);
    }
    cluster().promote(ClusterNode::replica1);
    // The pool sees the new timeline (a write, then its checks) and puts replica2 off it.
    REQUIRE(eventually(
        [&] {
            try {
                insert_flushed(pool, "ryw_replay_resume", 1);
                pool.current_position();
            } catch (const db::Error&) {
                return false;
            }
            return pool.router().state(1).off_timeline;
        },
        30s));
    // Now replica2 replays what it had received: the old primary's rows, past the new
    // primary's positions by LSN, with no receiver following anyone.
    cluster().psql(ClusterNode::replica2, "SELECT pg_wal_replay_resume()");
    REQUIRE(eventually([&] {
        return cluster().psql(ClusterNode::replica2, "SELECT count(*) FROM ryw_replay_resume") ==
               "20001";
    }));
    int stale = 0;
    int reads = 0;
    for (std::int64_t i = 0; i < 50; ++i) {
        const auto v = 1'000'000 + i;
        insert_flushed(pool, "ryw_replay_resume", v);
        const auto pos = pool.current_position();
        const auto read = pool.query("SELECT count(*) FROM ryw_replay_resume WHERE v = $1", {v},
                                     {.use_read_replica = true, .after = pos});
        ++reads;
        if (read.front()[0].as<std::int64_t>() != 1) ++stale;
    }
    std::printf(
        "standby replaying old-timeline WAL after a failover: %d of %d read-your-writes "
        "reads stale\n",
        stale, reads);
    CHECK(stale == 0);
    CHECK(pool.router().state(1).off_timeline);
}

TEST_CASE("behind PgBouncer, a statement refused for want of a server was never sent",
          "[topology][pgbouncer]") {
    TopologyGuard guard(cluster());
    auto cfg = base_config("topo-pgb-down");
    cfg.primary = db::Endpoint::parse(cluster().pgbouncer_url);
    cfg.pgbouncer_mode = true;
    db::Database pool(cfg);
    pool.query("SELECT 1");
    cluster().stop_node(ClusterNode::primary, true);
    // PgBouncer accepts the session, holds the statement, finds no server and ends the session:
    // the statement reached no PostgreSQL, and the error says so.
    int refusals = 0;
    int sent = 0;
    const bool seen = eventually(
        [&] {
            try {
                pool.query("INSERT INTO never_created_table VALUES (1)");
            } catch (const db::ConnectionError& e) {
                const std::string what = e.what();
                if (what.find("server login has been failing") != std::string::npos ||
                    what.find("cannot connect to server") != std::string::npos) {
                    ++refusals;
                    if (e.statement_sent()) ++sent;
                }
            } catch (const db::Error&) {
            }
            return refusals >= 3;
        },
        30s);
    CHECK(seen);
    CHECK(sent == 0);
    cluster().start_node(ClusterNode::primary);
}

TEST_CASE("behind PgBouncer with the database down, calls back off instead of opening sessions",
          "[topology][pgbouncer]") {
    TopologyGuard guard(cluster());
    auto cfg = base_config("topo-pgb-churn");
    cfg.primary = db::Endpoint::parse(cluster().pgbouncer_url);
    cfg.pgbouncer_mode = true;
    cfg.reconnect_backoff_max = 5s;
    // A caller waits for the opener's next attempt when it comes before the caller's deadline:
    // a short deadline keeps most calls from waiting, so the loop below makes many calls.
    cfg.connection_timeout = 500ms;
    db::Database pool(cfg);
    pool.query("SELECT 1");
    cluster().stop_node(ClusterNode::primary, true);
    // Each login to PgBouncer succeeds and the session ends at its first statement: once
    // PgBouncer says so, those count as failed connects and the pool backs off.
    const bool refused = eventually(
        [&] {
            try {
                pool.query("SELECT 1");
            } catch (const db::ConnectionError& e) {
                return std::string(e.what()).find("server login has been failing") !=
                       std::string::npos;
            } catch (const db::Error&) {
            }
            return false;
        },
        30s);
    REQUIRE(refused);
    const auto attempts = [&] {
        return sparc::pgtest::metric_sum(pool.metrics_text(), "sparc_db_connect_attempts_total");
    };
    const double before = attempts();
    int calls = 0;
    int other_errors = 0;
    std::string other;
    const auto until = std::chrono::steady_clock::now() + 3s;
    while (std::chrono::steady_clock::now() < until) {
        try {
            pool.query("SELECT 1");
        } catch (const db::ConnectionError& e) {
            const std::string what = e.what();
            if (what.find("server login has been failing") == std::string::npos &&
                what.find("cannot connect to server") == std::string::npos) {
                ++other_errors;
                other = what;
            }
        }
        ++calls;
        std::this_thread::sleep_for(10ms);  // a steady caller, not a wait for a condition
    }
    const double during = attempts() - before;
    INFO(calls << " calls, " << during << " sessions opened; " << other);
    CHECK(calls >= 20);
    CHECK(other_errors == 0);
    // The opener's backoff doubles from 25-50 ms to the 5 s cap and the health check's from
    // 100 ms: about fifteen sessions in 3 s. Without it each call opened one per attempt
    // (five here), hundreds in all.
    CHECK(during <= 40);
    cluster().start_node(ClusterNode::primary);
    CHECK(eventually(
        [&] {
            try {
                pool.query("SELECT 1");
                return true;
            } catch (const db::Error&) {
                return false;
            }
        },
        60s));
}

TEST_CASE("callers ride out a connection limit (53300) while connections free up in time",
          "[topology][limit]") {
    TopologyGuard guard(cluster());
    cluster().psql(ClusterNode::primary,
                   "DROP ROLE IF EXISTS sparc_limited; CREATE ROLE sparc_limited LOGIN PASSWORD '" +
                       cluster().password + "' CONNECTION LIMIT 2");
    auto cfg = base_config("topo-limit");
    cfg.primary.set_option("user", "sparc_limited");
    cfg.min_connections = 0;
    cfg.max_connections = 4;  // above the role's limit: connects beyond 2 are refused
    cfg.connection_timeout = 5s;
    db::Database pool(cfg);
    std::atomic<int> errors{0};
    std::atomic<int> done{0};
    std::string first_error;
    std::mutex m;
    std::vector<std::thread> callers;
    for (int t = 0; t < 8; ++t) {
        callers.emplace_back([&] {
            for (int i = 0; i < 25; ++i) {
                try {
                    pool.query("SELECT pg_sleep(0.01)");
                    ++done;
                } catch (const db::Error& e) {
                    std::lock_guard lock(m);
                    if (errors++ == 0) first_error = e.what();
                }
            }
        });
    }
    for (auto& c : callers) c.join();
    INFO(first_error);
    CHECK(errors == 0);
    CHECK(done == 200);
    // The refusals were real, and counted.
    CHECK(pool.metrics_text().find("sparc_db_connect_attempts_total") != std::string::npos);
    cluster().psql(ClusterNode::primary, "DROP ROLE IF EXISTS sparc_limited");
}

TEST_CASE("a cancel stuck on a frozen replica does not hold up a cancel on the primary",
          "[topology][cancel]") {
    TopologyGuard guard(cluster());
    auto cfg = base_config("topo-cancel");
    cfg.replicas.push_back({db::Endpoint::parse(cluster().replica_urls.at(0)), 1});
    cfg.statement_timeout = 30s;
    cfg.query_timeout = 40s;
    cfg.fallback_to_primary = false;
    db::Database pool(cfg);
    pool.query("SELECT 1", {}, {.use_read_replica = true});
    std::thread stuck([&] {
        try {
            // Frozen below: the client deadline sends a cancel that cannot complete.
            pool.query("SELECT pg_sleep(20)", {}, {.use_read_replica = true, .timeout = 500ms});
        } catch (const db::Error&) {
        }
    });
    REQUIRE(eventually([&] {
        return cluster().psql(ClusterNode::replica1,
                              "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT "
                              "pg_sleep(20)'") == "1";
    }));
    std::optional<FrozenNode> frozen;
    frozen.emplace(cluster(), ClusterNode::replica1);
    std::this_thread::sleep_for(700ms);  // past the replica read's deadline: its cancel is stuck
    const auto start = Clock::now();
    try {
        pool.query("SELECT pg_sleep(10) AS primary_sleep", {}, {.timeout = 300ms});
    } catch (const db::QueryTimeout&) {
    }
    // The primary's statement is cancelled on the server, not left running behind the stuck one.
    const bool ended = eventually(
        [&] {
            return cluster().psql(ClusterNode::primary,
                                  "SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                                  "'SELECT pg_sleep(10) AS primary_sleep%'") == "0";
        },
        5s);
    const auto took = Clock::now() - start;
    frozen.reset();
    stuck.join();
    std::printf("cancel on the primary with a replica frozen: statement gone after %.2f s\n",
                seconds(took));
    CHECK(ended);
}

TEST_CASE("read-your-writes reads are served by the replicas in a healthy cluster",
          "[topology][read-your-writes]") {
    TopologyGuard guard(cluster());
    create_table("ryw_reads");
    auto cfg = base_config("topo-ryw", true);
    cfg.health_check_period = 10s;  // video-management's: the checks alone would be too late
    int on_replica = 0;
    int on_primary = 0;
    db::Database pool(cfg);
    REQUIRE(eventually(
        [&] { return pool.health({.timeout = 2s}).status == db::HealthStatus::healthy; }));
    int stale = 0;
    for (std::int64_t i = 0; i < 100; ++i) {
        const auto id = insert_flushed(pool, "ryw_reads", i);
        // The server's port says which host served the read.
        const auto read =
            pool.query("SELECT v, inet_server_port() FROM ryw_reads WHERE id = $1", {id},
                       {.use_read_replica = true, .after = pool.current_position()});
        if (read.empty() || read.front()[0].as<std::int64_t>() != i) ++stale;
        if (!read.empty()) {
            ++(read.front()[1].as<int>() == cluster().port(ClusterNode::primary) ? on_primary
                                                                                 : on_replica);
        }
    }
    std::printf("read-your-writes: %d of 100 reads on a replica, %d on the primary\n", on_replica,
                on_primary);
    CHECK(stale == 0);
    CHECK(on_replica > 50);
}

TEST_CASE("a frozen replica neither stalls read-your-writes reads nor the pool's shutdown",
          "[topology][frozen-replica]") {
    TopologyGuard guard(cluster());
    create_table("frozen_ryw");
    auto cfg = base_config("topo-frozen", true);
    cfg.min_connections = 2;
    cfg.connection_timeout = 20s;  // a connect to the frozen host would take this long
    cfg.query_timeout = 3s;
    cfg.health_check_period = 10s;
    auto pool = std::make_unique<db::Database>(cfg);
    REQUIRE(eventually(
        [&] { return pool->health({.timeout = 2s}).status == db::HealthStatus::healthy; }));
    std::optional<FrozenNode> frozen;
    frozen.emplace(cluster(), ClusterNode::replica1);
    Clock::duration slowest{};
    for (std::int64_t i = 0; i < 20; ++i) {
        const auto id = insert_flushed(*pool, "frozen_ryw", i);
        const auto t0 = Clock::now();
        const auto read =
            pool->query("SELECT v FROM frozen_ryw WHERE id = $1", {id},
                        {.use_read_replica = true, .after = pool->current_position()});
        slowest = std::max(slowest, Clock::now() - t0);
        REQUIRE(read.size() == 1);
        CHECK(read.front()[0].as<std::int64_t>() == i);
    }
    std::printf("frozen replica: slowest read-your-writes read %.3f s (query_timeout 3 s)\n",
                seconds(slowest));
    CHECK(slowest < 2s);  // well under query_timeout: the frozen replica was not waited for
    // The pool now tries to reopen connections to the frozen replica; destroying it must not
    // wait for those connects (connection_timeout 20 s).
    REQUIRE(eventually(
        [&] { return pool->health({.timeout = 2s}).status == db::HealthStatus::degraded; }));
    const auto t0 = Clock::now();
    pool.reset();
    const auto took = Clock::now() - t0;
    std::printf("frozen replica: pool destroyed in %.2f s\n", seconds(took));
    CHECK(took < 8s);
    frozen.reset();
}

TEST_CASE("a COMMIT waiting for a synchronous standby that never answers is unknown, never rerun",
          "[topology][sync]") {
    TopologyGuard guard(cluster());
    create_table("sync_commits");
    cluster().set_synchronous(true);
    db::Database pool(base_config("topo-sync"));
    pool.query("INSERT INTO sync_commits (v) VALUES (0)");  // the quorum answers
    // No standby answers: COMMIT is written on the primary and waits for a standby until the
    // transaction's deadline, which leaves no time to ask the server how it ended.
    std::optional<FrozenNode> frozen1;
    std::optional<FrozenNode> frozen2;
    frozen1.emplace(cluster(), ClusterNode::replica1);
    frozen2.emplace(cluster(), ClusterNode::replica2);
    int runs = 0;
    std::optional<std::int64_t> txid;
    try {
        pool.transaction(
            [&](auto& tx) {
                ++runs;
                tx.query("INSERT INTO sync_commits (v) VALUES (1)");
            },
            {.timeout = 3s, .retries = 3, .resolve_unknown_outcome = true});
        FAIL("a COMMIT no standby confirmed was reported as committed");
    } catch (const db::TransactionOutcomeUnknown& e) {
        txid = e.txid();
    }
    CHECK(runs == 1);
    frozen1.reset();
    frozen2.reset();
    // The error carries the transaction id, with which the caller can ask how it ended: here,
    // committed on the primary.
    REQUIRE(txid.has_value());
    CHECK(cluster().psql(ClusterNode::primary,
                         "SELECT txid_status(" + std::to_string(*txid) + ")") == "committed");
    CHECK(cluster().psql(ClusterNode::primary,
                         "SELECT string_agg(v::text, ',' ORDER BY v) FROM sync_commits") == "0,1");
}
