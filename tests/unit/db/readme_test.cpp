// The README's sparc::db snippets, compiled. Each region between "README begin" and
// "README end" is the README's text, line for line (indentation aside): the test
// unit.db.readme_snippets (check_readme_snippets.py) fails when the two drift apart. The
// functions are compiled, never called: they would need a server.

// clang-format off
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

// README begin
#include <sparc/db.hpp>
namespace db = sparc::db;
using namespace std::chrono_literals;
// README end
// README begin
#include <sparc/db/testing/fake_backend.hpp>
// README end

namespace readme {

struct Events {
    void publish(std::string_view, std::int64_t) {}
};

void queries(std::int64_t tenant_id, std::int64_t user_id) {
// README begin
db::PoolConfig cfg = db::pool_config("video-management");  // registry + environment
db::Database pool(cfg);                                     // opens connections in the background

db::Result r = pool.query("SELECT id, title FROM videos WHERE tenant_id = $1",
                          {tenant_id}, {.use_read_replica = true});
for (const auto& row : r) {
    std::int64_t id = row["id"].as<std::int64_t>();
    std::optional<std::string> title = row["title"].as<std::optional<std::string>>();
}

auto n = pool.transaction([&](auto& tx) {
    tx.query("INSERT INTO logs (action) VALUES ($1)", {"user_login"});
    return tx.query("UPDATE users SET last_login = NOW() WHERE id = $1", {user_id}).affected_rows();
}, {.timeout = 10s, .retries = 3, .isolation = db::IsolationLevel::serializable});
// README end
}

void read_your_writes(db::Database& pool, const std::string& title, std::int64_t id) {
// README begin
  pool.query("UPDATE videos SET title = $1 WHERE id = $2", {title, id});
  const auto written = pool.current_position();
  auto fresh = pool.query("SELECT title FROM videos WHERE id = $1", {id},
                          {.use_read_replica = true, .after = written});   // sees the update
// README end
}

void orders(db::Database& pool, Events& events, std::int64_t user_id, double total) {
// README begin
const auto order_id = pool.transaction([&](db::Tx& tx) {
    return tx.query("INSERT INTO orders (user_id, total) VALUES ($1, $2) RETURNING id",
                    {user_id, total}).front()[0].as<std::int64_t>();   // database only
}, {.resolve_unknown_outcome = true});
events.publish("order_created", order_id);                            // after, once
// README end
}

// README begin
std::int64_t add_view(db::Client& db, std::int64_t video_id) {
    return db.transaction([&](db::Tx& tx) {
        return tx.query("UPDATE videos SET views = views + 1 WHERE id = $1 RETURNING views",
                        {video_id}).front()[0].as<std::int64_t>();
    });
}
// README end

void client(const db::PoolConfig& cfg, db::testing::FakeBackend& fake) {
// README begin
db::Database pool(cfg);                                              add_view(pool, 1);
db::ConnectionPool<db::testing::FakeBackend> fake_pool(cfg, fake);   add_view(fake_pool, 1);
// README end
}

void unit_testing(const db::PoolConfig& cfg) {
// README begin
db::testing::FakeBackend fake;
fake.replica("replica1");
fake.on("SELECT views FROM videos WHERE id = $1").returns({"views"}, {{"8"}});
fake.on_prefix("UPDATE videos").times(1).fails("40001", "could not serialize access");
db::ConnectionPool<db::testing::FakeBackend> pool(cfg, fake);
// ... run your code, then assert on fake.calls(), fake.count(...), hosts going down, lag ...
// README end
}

void reload_videos() {}
void on_video_event(const std::string&, const std::string&) {}

void events(const db::PoolConfig& cfg, db::Database& pool) {
// README begin
db::Listener listener(cfg);                  // connects at the first listen()
listener.listen("video_events");
while (!listener.closed()) {
    std::optional<db::Notification> n = listener.wait(1s);   // nullopt: nothing within 1 s
    if (!n) continue;
    if (n->gap()) { reload_videos(); continue; }   // reconnected: some may have been missed
    on_video_event(n->channel, n->payload);
}
pool.notify("video_events", R"({"id": 42})");      // SELECT pg_notify($1, $2) on the primary
// README end
}

}  // namespace readme

TEST_CASE("the README's service example runs on the fake pool", "[db][client][readme]") {
    db::testing::FakeBackend fake;
    fake.on_prefix("UPDATE videos SET views").returns({"views"}, {{"8"}});
    auto cfg = db::PoolConfig{};
    cfg.service_name = "readme";
    cfg.primary = db::Endpoint::parse("postgresql://app@primary/app");
    cfg.min_connections = 0;
    db::ConnectionPool<db::testing::FakeBackend> fake_pool(cfg, fake);
    REQUIRE(readme::add_view(fake_pool, 1) == 8);
}
