#include <sparc/db/config.hpp>
#include <sparc/db/errors.hpp>

#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace db = sparc::db;
using namespace std::chrono_literals;

TEST_CASE("A value-initialised PoolConfig is valid", "[db][config]") {
    CHECK_NOTHROW(db::PoolConfig{}.validate());
    const db::PoolConfig c{};
    CHECK(c.service_name == "default");
    CHECK(c.min_connections == db::kDefaultMinConnections);
    CHECK(c.max_connections == db::kDefaultMaxConnections);
    CHECK(c.query_timeout > c.statement_timeout);
    CHECK(c.fallback_to_primary);
    CHECK_FALSE(c.prefer_replica_reads);
    CHECK_FALSE(c.pgbouncer_mode);
}

TEST_CASE("validate() names the field at fault", "[db][config]") {
    struct Case {
        std::string name;
        std::function<void(db::PoolConfig&)> change;
        std::string expected;  // part of the message
    };
    const std::vector<Case> cases = {
        {"empty service name", [](auto& c) { c.service_name.clear(); }, "service_name is empty"},
        {"control character in service name", [](auto& c) { c.service_name = "a\nb"; },
         "service_name contains a control character"},
        {"primary with a bad option",
         [](auto& c) {
             c.primary = db::Endpoint::from_options({{"sslmode", "on"}});
         },
         "primary: invalid sslmode"},
        {"primary with a bad port",
         [](auto& c) {
             c.primary = db::Endpoint::from_options({{"port", "99999"}});
         },
         "primary: invalid port"},
        {"replica with a bad option",
         [](auto& c) {
             c.replicas = {{db::Endpoint::from_options({{"host", "r"}, {"port", "0"}}), 1}};
         },
         "replicas[0]: invalid port"},
        {"zero weight",
         [](auto& c) {
             c.replicas = {{db::Endpoint::parse("host=r1"), 0}};
         },
         "replicas[0].weight is 0"},
        {"huge weight",
         [](auto& c) {
             c.replicas = {{db::Endpoint::parse("host=r1"), db::kMaxReplicaWeight + 1}};
         },
         "replicas[0].weight is 1000001"},
        {"duplicate replica",
         [](auto& c) {
             c.replicas = {{db::Endpoint::parse("host=r1"), 1},
                           {db::Endpoint::parse("host=r2"), 1},
                           {db::Endpoint::parse("postgresql://other@r1:5432"), 2}};
         },
         "replicas[0] and replicas[2] are both r1:5432"},
        {"no connections", [](auto& c) { c.max_connections = 0; }, "max_connections is 0"},
        {"too many connections", [](auto& c) { c.max_connections = db::kMaxConnectionsLimit + 1; },
         "max_connections is 10001"},
        {"min above max",
         [](auto& c) {
             c.min_connections = 11;
             c.max_connections = 10;
         },
         "min_connections (11) exceeds max_connections (10)"},
        {"replica limit below min",
         [](auto& c) {
             c.min_connections = 4;
             c.max_replica_connections = 3;
         },
         "max_replica_connections (3) is below min_connections (4)"},
        {"replica limit too large",
         [](auto& c) { c.max_replica_connections = db::kMaxConnectionsLimit + 1; },
         "max_replica_connections is 10001"},
        {"zero idle timeout", [](auto& c) { c.idle_timeout = 0ms; }, "idle_timeout is 0ms"},
        {"negative connection timeout", [](auto& c) { c.connection_timeout = -1ms; },
         "connection_timeout is -1ms"},
        {"zero statement timeout", [](auto& c) { c.statement_timeout = 0ms; },
         "statement_timeout is 0ms"},
        {"zero query timeout", [](auto& c) { c.query_timeout = 0ms; }, "query_timeout is 0ms"},
        {"zero lifetime", [](auto& c) { c.max_lifetime = 0ms; }, "max_lifetime is 0ms"},
        {"zero health period", [](auto& c) { c.health_check_period = 0ms; },
         "health_check_period is 0ms"},
        {"zero replica lag", [](auto& c) { c.max_replica_lag = 0ms; }, "max_replica_lag is 0ms"},
        {"negative leak threshold", [](auto& c) { c.leak_detection_threshold = -5ms; },
         "leak_detection_threshold is -5ms"},
        {"timeout beyond PostgreSQL's range",
         [](auto& c) { c.statement_timeout = db::kMaxTimeout + 1ms; },
         "statement_timeout is 2147483648ms; it must be at most 2147483647ms"},
        {"query timeout not above statement timeout",
         [](auto& c) {
             c.statement_timeout = 5s;
             c.query_timeout = 5s;
         },
         "query_timeout (5000ms) must exceed statement_timeout (5000ms)"},
        {"lifetime below idle timeout",
         [](auto& c) {
             c.idle_timeout = 10min;
             c.max_lifetime = 5min;
         },
         "max_lifetime (300000ms) is below idle_timeout (600000ms)"},
    };
    for (const auto& tc : cases) {
        SECTION(tc.name) {
            db::PoolConfig c;
            c.service_name = "svc";
            tc.change(c);
            try {
                c.validate();
                FAIL("validate() accepted it");
            } catch (const db::ConfigError& e) {
                CHECK_THAT(e.what(), Catch::Contains(tc.expected));
                if (!c.service_name.empty() && c.service_name == "svc") {
                    CHECK_THAT(e.what(),
                               Catch::StartsWith("invalid configuration for service \"svc\""));
                }
            }
        }
    }
}

TEST_CASE("validate() accepts the edges of each range", "[db][config]") {
    db::PoolConfig c;
    c.min_connections = 0;
    c.max_connections = 1;
    c.leak_detection_threshold = 0ms;  // disabled
    c.idle_timeout = 1ms;
    c.max_lifetime = 1ms;  // equal to idle_timeout
    c.statement_timeout = db::kMaxTimeout - 1ms;
    c.query_timeout = db::kMaxTimeout;
    c.replicas = {{db::Endpoint::parse("host=r1"), db::kMaxReplicaWeight},
                  {db::Endpoint::parse("host=r1 port=5433"), 1}};
    c.max_replica_connections = 0;
    CHECK_NOTHROW(c.validate());
    c.max_connections = db::kMaxConnectionsLimit;
    c.min_connections = db::kMaxConnectionsLimit;
    c.max_replica_connections = db::kMaxConnectionsLimit;
    CHECK_NOTHROW(c.validate());
}

TEST_CASE("validate() never quotes a password", "[db][config][secrets]") {
    db::PoolConfig c;
    c.primary = db::Endpoint::parse("postgresql://u:Pw0rdSecret@h/db?sslpassword=KeySecret77");
    c.primary.set_option("port", "Pw0rdSecret");
    try {
        c.validate();
        FAIL("validate() accepted it");
    } catch (const db::ConfigError& e) {
        CHECK(std::string(e.what()).find("Pw0rdSecret") == std::string::npos);
        CHECK(std::string(e.what()).find("KeySecret77") == std::string::npos);
    }
}

TEST_CASE("PoolConfig JSON has every field, secrets masked", "[db][config]") {
    db::PoolConfig c;
    c.service_name = "svc";
    c.primary = db::Endpoint::parse("postgresql://u:Pw0rdSecret@h/db");
    c.replicas = {{db::Endpoint::parse("postgresql://u:Pw0rdSecret@r/db"), 3}};
    c.prefer_replica_reads = true;
    const nlohmann::json j = c;
    const auto text = j.dump();
    CHECK(text.find("Pw0rdSecret") == std::string::npos);
    CHECK(j["service_name"] == "svc");
    CHECK(j["primary"]["url"] == "postgresql://u:****@h/db");
    CHECK(j["replicas"][0]["weight"] == 3);
    CHECK(j["replicas"][0]["endpoint"]["host"] == "r");
    CHECK(j["min_connections"] == db::kDefaultMinConnections);
    CHECK(j["query_timeout_ms"] == db::kDefaultQueryTimeout.count());
    CHECK(j["prefer_replica_reads"] == true);
    for (const auto* key :
         {"max_connections", "max_replica_connections", "idle_timeout_ms", "connection_timeout_ms",
          "statement_timeout_ms", "max_lifetime_ms", "health_check_period_ms", "max_replica_lag_ms",
          "leak_detection_threshold_ms", "fallback_to_primary", "pgbouncer_mode",
          "statement_cache_size", "application_name"}) {
        INFO(key);
        CHECK(j.contains(key));
    }
}
