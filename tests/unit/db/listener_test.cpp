// db::Listener and notify(): what can be checked without a server (argument validation, no
// connection opened before the first listen(), close()), and notify() through the fake pool.

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "test_util.hpp"

namespace db = sparc::db;
using namespace std::chrono_literals;
using db::test::fake_config;
using db::test::FakePool;

TEST_CASE("channel names: empty, NUL bytes and names PostgreSQL would cut are refused",
          "[db][listen]") {
    CHECK_THROWS_AS(db::check_channel_name(""), db::UsageError);
    CHECK_THROWS_AS(db::check_channel_name(std::string("a\0b", 3)), db::UsageError);
    CHECK_THROWS_AS(db::check_channel_name(std::string(64, 'x')), db::UsageError);
    CHECK_NOTHROW(db::check_channel_name(std::string(63, 'x')));
    CHECK_NOTHROW(db::check_channel_name("Video \"events\"; DROP TABLE x"));
    CHECK_NOTHROW(db::check_channel_name("\xc3\xa9v\xc3\xa9nements"));
}

TEST_CASE("a listener opens no connection before listen() and checks names first", "[db][listen]") {
    auto cfg = fake_config();
    // A port nothing listens on: any connect would fail, so none may be attempted here.
    cfg.primary = db::Endpoint::parse("postgresql://app:unit-secret-pw@127.0.0.1:1/app");
    db::Listener listener(cfg);
    CHECK_FALSE(listener.connected());
    CHECK(listener.backend_pid() == 0);
    CHECK_THROWS_AS(listener.listen(""), db::UsageError);
    CHECK_THROWS_AS(listener.unlisten(std::string("x\0", 2)), db::UsageError);
    CHECK(listener.channels().empty());
    // Nothing to listen to: a wait is a plain timeout.
    CHECK_FALSE(listener.wait(10ms).has_value());
    CHECK_FALSE(listener.wait(0ms).has_value());
}

TEST_CASE("a listener refuses an invalid configuration", "[db][listen]") {
    auto cfg = fake_config();
    cfg.max_connections = 0;
    CHECK_THROWS_AS(db::Listener(cfg), db::ConfigError);
}

TEST_CASE("close() wakes a waiting wait(), which returns nullopt, as do later calls",
          "[db][listen]") {
    db::Listener listener(fake_config());
    std::optional<db::Notification> got{db::Notification{}};
    std::thread waiter([&] { got = listener.wait(1h); });
    listener.close();
    waiter.join();
    CHECK_FALSE(got.has_value());
    CHECK(listener.closed());
    CHECK_FALSE(listener.wait(1h).has_value());
    CHECK_THROWS_AS(listener.listen("events"), db::PoolClosed);
    CHECK_THROWS_AS(listener.unlisten("events"), db::PoolClosed);
    listener.close();  // idempotent
}

TEST_CASE("notify() runs pg_notify with both values bound, on the primary", "[db][listen]") {
    db::testing::FakeBackend fake;
    auto cfg = fake_config({"replica1"});
    cfg.prefer_replica_reads = true;
    FakePool pool(cfg, fake);
    pool.notify("video_events", "it's \"new\"");
    db::Client& client = pool;
    client.notify("Other");
    std::vector<db::testing::Call> notifies;
    for (const auto& c : fake.calls()) {
        if (c.sql.find("pg_notify") != std::string::npos) notifies.push_back(c);
    }
    REQUIRE(notifies.size() == 2);
    CHECK(notifies[0].sql == "SELECT pg_notify($1, $2)");
    CHECK(notifies[0].role == db::HostRole::primary);
    CHECK(notifies[0].params ==
          std::vector<std::optional<std::string>>{"video_events", "it's \"new\""});
    CHECK(notifies[1].params == std::vector<std::optional<std::string>>{"Other", ""});
    CHECK_THROWS_AS(pool.notify(""), db::UsageError);
    CHECK_THROWS_AS(pool.notify(std::string(64, 'c')), db::UsageError);
    CHECK_THROWS_AS(pool.notify("c", std::string("a\0b", 3)), db::UsageError);
}

TEST_CASE("a listener's connect error does not show a password that is also the database name",
          "[db][listen][secrets]") {
    auto cfg = fake_config();
    // A port nothing listens on: the connect is refused at once.
    cfg.primary = db::Endpoint::parse("postgresql://postgres:postgres@127.0.0.1:1/postgres");
    db::Listener listener(cfg);
    try {
        listener.listen("events");
        FAIL("listen() connected to a port nothing listens on");
    } catch (const db::ConnectionError& e) {
        const std::string what = e.what();
        INFO(what);
        CHECK(what.find("127.0.0.1:1/****") != std::string::npos);
        CHECK(what.find("postgres") == std::string::npos);
    }
}

TEST_CASE("the fake records the notifications sent as PostgreSQL would deliver them",
          "[db][listen][fake]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    CHECK(fake.notifications().empty());
    pool.notify("video_events", "42");
    pool.notify("Other");
    // Inside a transaction: sent when it commits, never when it rolls back.
    pool.transaction([](auto& tx) {
        tx.query("SELECT pg_notify($1, $2)", {"in_tx", "committed"});
    });
    try {
        pool.transaction(
            [](auto& tx) {
                tx.query("SELECT pg_notify($1, $2)", {"in_tx", "rolled back"});
                throw std::runtime_error("the caller gives up");
            },
            {.retries = 0});
    } catch (const std::runtime_error&) {
    }
    // One the server refused is not sent either.
    fake.on("SELECT pg_notify($1, $2)").times(1).fails("22023", "payload string too long");
    CHECK_THROWS_AS(pool.notify("video_events", "too long"), db::SqlError);
    pool.notify("video_events", "43");
    CHECK(fake.notifications() == std::vector<db::testing::SentNotification>{
                                      {"video_events", "42"},
                                      {"Other", ""},
                                      {"in_tx", "committed"},
                                      {"video_events", "43"},
                                  });
    fake.clear_calls();
    CHECK(fake.notifications().empty());
}
