#include <sparc/db/errors.hpp>
#include <sparc/db/registry.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace db = sparc::db;
using namespace std::chrono_literals;

namespace {

struct Expected {
    std::string name;
    std::size_t min, max;
    db::milliseconds idle, connection, statement, query, lifetime, health, lag, leak;
    bool replica_reads;
};

// The table in docs/configuration.md.
const std::vector<Expected> kExpected = {
    {"api-gateway", 10, 50, 30s, 3s, 15s, 20s, 30min, 5s, 5s, 1min, false},
    {"video-management", 5, 20, 60s, 10s, 60s, 75s, 60min, 10s, 30s, 5min, false},
    {"analytics", 5, 30, 60s, 10s, 5min, 330s, 60min, 5s, 60s, 10min, true},
    {"auth-service", 10, 40, 30s, 2s, 3s, 5s, 30min, 2s, 1s, 30s, false},
    {"event-processing", 5, 25, 5min, 30s, 10min, 11min, 60min, 10s, 30s, 15min, false},
};

}  // namespace

TEST_CASE("Each built-in service has its documented defaults", "[db][registry]") {
    const db::ServiceRegistry registry(db::builtin_services());
    CHECK(registry.services() == std::vector<std::string>{"analytics", "api-gateway",
                                                          "auth-service", "event-processing",
                                                          "video-management"});
    for (const auto& x : kExpected) {
        SECTION(x.name) {
            const auto c = registry.defaults(x.name);
            CHECK(c.service_name == x.name);
            CHECK(c.application_name == x.name);
            CHECK(c.min_connections == x.min);
            CHECK(c.max_connections == x.max);
            CHECK(c.idle_timeout == x.idle);
            CHECK(c.connection_timeout == x.connection);
            CHECK(c.statement_timeout == x.statement);
            CHECK(c.query_timeout == x.query);
            CHECK(c.max_lifetime == x.lifetime);
            CHECK(c.health_check_period == x.health);
            CHECK(c.max_replica_lag == x.lag);
            CHECK(c.leak_detection_threshold == x.leak);
            CHECK(c.prefer_replica_reads == x.replica_reads);
            CHECK(c.fallback_to_primary);
            CHECK_FALSE(c.pgbouncer_mode);
            CHECK(c.primary == db::Endpoint{});
            CHECK(c.replicas.empty());
            CHECK(c.query_timeout > c.statement_timeout);
            CHECK_NOTHROW(c.validate());
        }
    }
}

TEST_CASE("Service timeouts differ as the services need", "[db][registry]") {
    const db::ServiceRegistry registry(db::builtin_services());
    const auto gateway = registry.defaults("api-gateway");
    const auto video = registry.defaults("video-management");
    const auto auth = registry.defaults("auth-service");
    const auto events = registry.defaults("event-processing");
    CHECK(video.statement_timeout > gateway.statement_timeout);
    CHECK(video.connection_timeout > gateway.connection_timeout);
    CHECK(auth.statement_timeout < gateway.statement_timeout);
    CHECK(auth.connection_timeout < gateway.connection_timeout);
    CHECK(events.statement_timeout > video.statement_timeout);
    CHECK(registry.defaults("analytics").prefer_replica_reads);
}

TEST_CASE("An unknown service is an error listing the known ones", "[db][registry]") {
    const db::ServiceRegistry registry(db::builtin_services());
    try {
        (void)registry.defaults("billing");
        FAIL("no ConfigError");
    } catch (const db::ConfigError& e) {
        CHECK(std::string(e.what()) ==
              "unknown service \"billing\"; known services: analytics, api-gateway, "
              "auth-service, event-processing, video-management");
    }
    CHECK_FALSE(registry.find("billing"));
    CHECK_FALSE(registry.contains("billing"));
    const db::ServiceRegistry empty;
    CHECK_THAT(std::string([&] {
                   try {
                       (void)empty.defaults("x");
                   } catch (const db::ConfigError& e) {
                       return std::string(e.what());
                   }
                   return std::string();
               }()),
               Catch::Contains("known services: (none)"));
}

TEST_CASE("Services can be added, replaced and removed", "[db][registry]") {
    db::ServiceRegistry registry;
    db::PoolConfig billing;
    billing.service_name = "ignored";
    billing.max_connections = 8;
    registry.add("billing", billing);
    auto c = registry.defaults("billing");
    CHECK(c.service_name == "billing");
    CHECK(c.application_name == "billing");
    CHECK(c.max_connections == 8);

    billing.max_connections = 12;
    billing.application_name = "billing-v2";
    registry.add("billing", billing);
    c = registry.defaults("billing");
    CHECK(c.max_connections == 12);
    CHECK(c.application_name == "billing-v2");
    CHECK(registry.services() == std::vector<std::string>{"billing"});

    CHECK(registry.remove("billing"));
    CHECK_FALSE(registry.remove("billing"));
    CHECK(registry.services().empty());
}

TEST_CASE("Invalid defaults are refused and leave the registry unchanged", "[db][registry]") {
    db::ServiceRegistry registry;
    db::PoolConfig ok;
    registry.add("svc", ok);
    db::PoolConfig bad;
    bad.max_connections = 0;
    CHECK_THROWS_WITH(registry.add("svc", bad),
                      Catch::Contains("service \"svc\"") && Catch::Contains("max_connections"));
    CHECK(registry.defaults("svc").max_connections == ok.max_connections);
    CHECK_THROWS_AS(registry.add("", ok), db::ConfigError);
    CHECK_THROWS_AS(db::ServiceRegistry({{"x", bad}}), db::ConfigError);
}

TEST_CASE("The global registry backs the free functions", "[db][registry]") {
    const auto names = db::registered_services();
    for (const auto& x : kExpected) {
        CHECK(std::find(names.begin(), names.end(), x.name) != names.end());
    }
    CHECK(db::registry_defaults("analytics").prefer_replica_reads);

    db::PoolConfig custom;
    custom.max_connections = 3;
    custom.min_connections = 1;
    db::register_service("registry-test-service", custom);
    CHECK(db::registry_defaults("registry-test-service").max_connections == 3);
    const auto env = db::fixed_environment({{"DB_POOL_MAX", "4"}, {"DATABASE_URL", "host=h"}});
    CHECK(db::pool_config("registry-test-service", env).max_connections == 4);
    CHECK(db::registry_defaults("registry-test-service").max_connections == 3);
    CHECK(db::ServiceRegistry::global().remove("registry-test-service"));
    CHECK_THROWS_AS(db::pool_config("registry-test-service", env), db::ConfigError);
}

TEST_CASE("Concurrent lookups and updates are safe", "[db][registry][threads]") {
    db::ServiceRegistry registry(db::builtin_services());
    std::atomic<bool> stop{false};
    std::atomic<int> lookups{0};
    std::atomic<bool> torn{false};
    std::vector<std::thread> readers;
    readers.reserve(4);
    for (int i = 0; i < 4; ++i) {
        readers.emplace_back([&] {
            while (!stop.load()) {
                const auto c = registry.defaults("api-gateway");
                // Each replacement is atomic: a reader sees one whole version or another.
                const bool whole = (c.max_connections == 50 && c.min_connections == 10) ||
                                   (c.max_connections == c.min_connections + 1);
                if (!whole) {
                    torn = true;
                }
                (void)registry.services();
                (void)registry.find("dynamic");
                lookups.fetch_add(1);
            }
        });
    }
    for (std::size_t n = 1; n <= 300; ++n) {
        auto c = registry.defaults("api-gateway");
        c.min_connections = n;
        c.max_connections = n + 1;
        registry.add("api-gateway", c);
        registry.add("dynamic", c);
        registry.remove("dynamic");
    }
    while (lookups.load() < 100) {
        std::this_thread::yield();
    }
    stop = true;
    for (auto& t : readers) {
        t.join();
    }
    CHECK_FALSE(torn.load());
    CHECK(registry.defaults("api-gateway").max_connections == 301);
}
