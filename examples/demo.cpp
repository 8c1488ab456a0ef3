// sparc-demo: a tour of sparc::db against a primary and its read replicas.
//
// Configuration comes from the service registry plus the environment (DATABASE_URL,
// DATABASE_READ_REPLICAS, ...), exactly as a service would get it:
//   DATABASE_URL=postgresql://... DATABASE_READ_REPLICAS=postgresql://...,postgresql://...
//   sparc-demo

#include <sparc/db.hpp>

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <fmt/format.h>

namespace db = sparc::db;
using namespace std::chrono_literals;

int main() try {
    db::PoolConfig cfg = db::pool_config("video-management");
    fmt::print("service {}: primary {}, {} replica(s), {}-{} connections\n", cfg.service_name,
               cfg.primary.redacted_url(), cfg.replicas.size(), cfg.min_connections,
               cfg.max_connections);

    // Count where statements ran, through the telemetry hooks.
    std::mutex mutex;
    std::map<std::string, int> reads_by_host;
    db::Hooks hooks;
    hooks.on_query = [&](const db::QueryEvent& e) {
        if (e.host.role == db::HostRole::replica) {
            std::lock_guard lock(mutex);
            ++reads_by_host[std::string(e.host.label)];
        }
    };
    // Fresh replica positions for this short demo (services keep the registry's period).
    cfg.health_check_period = 250ms;
    db::Database pool(cfg, {}, hooks);

    pool.query(
        "CREATE TABLE IF NOT EXISTS demo_videos ("
        " id bigserial PRIMARY KEY, tenant_id bigint NOT NULL, title text NOT NULL,"
        " views bigint NOT NULL DEFAULT 0, created_at timestamptz NOT NULL DEFAULT now())");

    // A retrying transaction: the whole function runs again on a serialization failure.
    const std::int64_t tenant = 42;
    const auto inserted = pool.transaction(
        [&](auto& tx) {
            std::uint64_t n = 0;
            for (const char* title : {"Launch keynote", "Behind the scenes", "Q&A"}) {
                n += tx.query("INSERT INTO demo_videos (tenant_id, title) VALUES ($1, $2)",
                              {tenant, title})
                         .affected_rows();
            }
            return n;
        },
        {.timeout = 10s, .retries = 3, .isolation = db::IsolationLevel::serializable});
    fmt::print("inserted {} videos in one transaction\n", inserted);

    // Read your own writes on a replica: the read waits for no one; it goes to a replica that
    // has replayed the commit, or to the primary.
    const auto position = pool.current_position();
    // The replicas replay the new table within moments; reads without a position would fail
    // on one that has not yet. Wait (briefly) until the health checks see them caught up.
    const auto caught_up = [&] {
        for (std::size_t i = 0; i < pool.router().size(); ++i) {
            const auto st = pool.router().state(i);
            if (st.up && (!st.position || *st.position < position)) return false;
        }
        return true;
    };
    for (int i = 0; i < 100 && !caught_up(); ++i) std::this_thread::sleep_for(50ms);
    auto videos = pool.query(
        "SELECT id, title, views FROM demo_videos WHERE tenant_id = $1 ORDER BY id DESC LIMIT 3",
        {tenant}, {.use_read_replica = true, .after = position});
    fmt::print("latest videos for tenant {} (read after WAL position {}):\n", tenant,
               position.to_string());
    for (const auto& row : videos) {
        fmt::print("  #{} {} ({} views)\n", row["id"].as<std::int64_t>(),
                   row["title"].as<std::string>(), row["views"].as<std::int64_t>());
    }

    // Spread reads over the replicas by weight.
    for (int i = 0; i < 300; ++i) {
        pool.query("SELECT count(*) FROM demo_videos WHERE tenant_id = $1", {tenant},
                   {.use_read_replica = true});
    }
    {
        std::lock_guard lock(mutex);
        fmt::print("replica reads by host:\n");
        for (const auto& [host, n] : reads_by_host) fmt::print("  {}: {}\n", host, n);
    }

    // Errors are typed and carry the SQLSTATE.
    try {
        pool.query("INSERT INTO demo_videos (id, tenant_id, title) VALUES ($1, $2, $3)",
                   {videos.front()["id"].as<std::int64_t>(), tenant, "duplicate"});
    } catch (const db::SqlError& e) {
        fmt::print("duplicate key refused: SQLSTATE {}\n", e.sqlstate());
    }

    const auto stats = pool.stats();
    fmt::print("pool: {} open, {} idle, {} in use, {} waiting, max {}\n", stats.total, stats.idle,
               stats.in_use, stats.waiting, stats.max);
    fmt::print("health: {}\n", pool.health().to_json());

    pool.query("DROP TABLE demo_videos");
    pool.shutdown(5s);
    fmt::print("pool drained and closed\n");
    return 0;
} catch (const db::Error& e) {
    std::fprintf(stderr, "sparc-demo: %s\n", e.what());
    return 1;
}
