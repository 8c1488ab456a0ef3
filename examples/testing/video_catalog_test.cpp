// Unit tests of a service's data access on db::testing::FakeBackend: no server, no network.
// Build: link sparc::db_testing (sparc::db and the fake backend) and Catch2 (v2), e.g.
//   add_executable(catalog_test video_catalog_test.cpp)
//   target_link_libraries(catalog_test PRIVATE sparc::db_testing Catch2::Catch2)
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <sparc/db.hpp>
#include <sparc/db/testing/fake_backend.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace db = sparc::db;
using namespace std::chrono_literals;

// ---- The code under test: it takes a db::Client&, so production passes a db::Database. ----

struct Video {
    std::int64_t id = 0;
    std::string title;
};

// The newest videos of a tenant, read on a replica (or wherever has replayed `after`).
std::vector<Video> list_videos(db::Client& db, std::int64_t tenant,
                               std::optional<db::CommitPosition> after = std::nullopt) {
    std::vector<Video> videos;
    for (const auto& row : db.query("SELECT id, title FROM videos WHERE tenant_id = $1", {tenant},
                                    {.use_read_replica = true, .after = after})) {
        videos.push_back({row["id"].as<std::int64_t>(), row["title"].as<std::string>()});
    }
    return videos;
}

// Adds a video; nullopt when the tenant already has one with this title (23505).
std::optional<std::int64_t> add_video(db::Client& db, std::int64_t tenant,
                                      const std::string& title) {
    try {
        return db.transaction([&](db::Tx& tx) {
            return tx
                .query("INSERT INTO videos (tenant_id, title) VALUES ($1, $2) RETURNING id",
                       {tenant, title})
                .front()[0]
                .as<std::int64_t>();
        });
    } catch (const db::SqlError& e) {
        if (e.sqlstate() == "23505") return std::nullopt;  // unique_violation
        throw;
    }
}

// ---- The tests ----

namespace {

constexpr auto kSelect = "SELECT id, title FROM videos WHERE tenant_id = $1";
constexpr auto kInsert = "INSERT INTO videos (tenant_id, title) VALUES ($1, $2) RETURNING id";

// A primary and one replica, named as the fake knows them: by host name.
db::PoolConfig test_config() {
    db::PoolConfig cfg;
    cfg.service_name = "catalog-test";
    cfg.primary = db::Endpoint::parse("postgresql://app@primary/videos");
    cfg.replicas = {{db::Endpoint::parse("postgresql://app@replica1/videos"), 1}};
    cfg.min_connections = 0;            // open connections only when used
    cfg.health_check_period = 50ms;     // notice hosts going down or lagging sooner
    cfg.reconnect_backoff_max = 200ms;  // and retry them sooner once they are back
    return cfg;
}

// Polls until `condition` holds (the pool checks hosts in the background); false after 5 s.
template <typename F>
bool eventually(F condition) {
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

}  // namespace

TEST_CASE("videos are listed from a replica") {
    db::testing::FakeBackend fake;
    fake.replica("replica1");
    fake.on(kSelect).returns({"id", "title"}, {{"2", "Trailer"}, {"1", "Intro"}});
    db::ConnectionPool<db::testing::FakeBackend> pool(test_config(), fake);

    const auto videos = list_videos(pool, 7);

    REQUIRE(videos.size() == 2);
    CHECK(videos[0].title == "Trailer");
    REQUIRE(fake.count_on("replica1", kSelect) == 1);
    REQUIRE(fake.calls_on("replica1").back().params ==
            std::vector<std::optional<std::string>>{"7"});
}

TEST_CASE("a duplicate title is reported, not thrown") {
    db::testing::FakeBackend fake;
    fake.on(kInsert).returns({"id"}, {{"42"}});
    fake.on(kInsert).with_params({7, "Intro"}).fails("23505", "duplicate key value");
    db::ConnectionPool<db::testing::FakeBackend> pool(test_config(), fake);

    REQUIRE(add_video(pool, 7, "Outro") == 42);
    REQUIRE(add_video(pool, 7, "Intro") == std::nullopt);
    REQUIRE(fake.count("COMMIT") == 1);  // the failed transaction was rolled back
    REQUIRE(fake.count("ROLLBACK") == 1);
}

TEST_CASE("a serialization failure is retried, the whole transaction again") {
    db::testing::FakeBackend fake;
    fake.on(kInsert).returns({"id"}, {{"42"}});
    fake.on(kInsert).once().fails("40001", "could not serialize access");  // newest wins, once
    db::ConnectionPool<db::testing::FakeBackend> pool(test_config(), fake);

    REQUIRE(add_video(pool, 7, "Intro") == 42);
    REQUIRE(fake.count(kInsert) == 2);
    REQUIRE(fake.count("COMMIT") == 1);
}

TEST_CASE("reads move to the primary while the replica is down") {
    db::testing::FakeBackend fake;
    fake.replica("replica1").down();
    fake.on(kSelect).returns({"id", "title"}, {{"1", "Intro"}});
    db::ConnectionPool<db::testing::FakeBackend> pool(test_config(), fake);

    REQUIRE(list_videos(pool, 7).size() == 1);
    REQUIRE(fake.count_on("primary", kSelect) == 1);
    REQUIRE(fake.count_on("replica1", kSelect) == 0);
    REQUIRE(pool.health().status == db::HealthStatus::degraded);

    fake.host("replica1").up();
    REQUIRE(eventually([&] { return pool.health().status == db::HealthStatus::healthy; }));
    list_videos(pool, 7);
    REQUIRE(fake.count_on("replica1", kSelect) == 1);
}

TEST_CASE("a read after a write never sees a replica that has not replayed it") {
    db::testing::FakeBackend fake;
    fake.replica("replica1").pause_replay();  // the replica stops replaying here
    fake.on(kInsert).returns({"id"}, {{"42"}});
    fake.on(kSelect).returns({"id", "title"}, {{"42", "Intro"}});
    db::ConnectionPool<db::testing::FakeBackend> pool(test_config(), fake);

    REQUIRE(add_video(pool, 7, "Intro") == 42);
    const auto written = pool.current_position();  // after the commit
    list_videos(pool, 7, written);
    REQUIRE(fake.count_on("primary", kSelect) == 1);  // the replica is behind

    fake.host("replica1").resume_replay();
    REQUIRE(eventually([&] {
        list_videos(pool, 7, written);
        return fake.count_on("replica1", kSelect) == 1;
    }));
}
