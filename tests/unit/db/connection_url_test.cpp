#include <sparc/db/connection_url.hpp>
#include <sparc/db/registry.hpp>

#include <catch2/catch.hpp>

#include <string>

namespace db = sparc::db;
using namespace std::chrono_literals;

TEST_CASE("connection_url carries the pool's limits as libpq parameters",
          "[db][config][connection_url]") {
    db::PoolConfig c = db::ServiceRegistry(db::builtin_services()).defaults("video-management");
    c.primary = db::Endpoint::parse("postgresql://app:S3cretPass@db:5432/videos?sslmode=require");
    c.connection_timeout = 2500ms;
    const auto url = db::connection_url(c);
    const auto e = db::Endpoint::parse(url);
    CHECK(e.host() == "db");
    CHECK(e.dbname() == "videos");
    CHECK(e.option("password") == "S3cretPass");
    CHECK(e.option("sslmode") == "require");
    CHECK(e.option("connect_timeout") == "3");  // rounded up
    CHECK(e.option("application_name") == "video-management");
    CHECK(e.option("options") == "-c statement_timeout=60000");
    CHECK(e.option("target_session_attrs") == "read-write");

    const auto redacted = db::redacted_connection_url(c);
    CHECK(redacted.find("S3cretPass") == std::string::npos);
    CHECK(db::Endpoint::parse(redacted).option("password") == "****");
}

TEST_CASE("Settings in the endpoint win over the pool's", "[db][config][connection_url]") {
    db::PoolConfig c;
    c.service_name = "svc";
    c.application_name = "svc-app";
    c.primary = db::Endpoint::parse(
        "host=h connect_timeout=9 application_name=mine target_session_attrs=any "
        "options='-c search_path=app'");
    const auto e = db::Endpoint::parse(db::connection_url(c));
    CHECK(e.option("connect_timeout") == "9");
    CHECK(e.option("application_name") == "mine");
    CHECK(e.option("target_session_attrs") == "any");
    CHECK(e.option("options") == "-c search_path=app -c statement_timeout=30000");

    c.primary.set_option("options", "-c statement_timeout=1000");
    CHECK(db::Endpoint::parse(db::connection_url(c)).option("options") ==
          "-c statement_timeout=1000");
}

TEST_CASE("Application name falls back to the service name", "[db][config][connection_url]") {
    db::PoolConfig c;
    c.service_name = "svc";
    c.connection_timeout = 1ms;
    const auto e = db::Endpoint::parse(db::connection_url(c));
    CHECK(e.option("application_name") == "svc");
    CHECK(e.option("connect_timeout") == "1");
}

TEST_CASE("PgBouncer mode sends no startup options", "[db][config][connection_url]") {
    db::PoolConfig c;
    c.pgbouncer_mode = true;
    const auto e = db::Endpoint::parse(db::connection_url(c));
    CHECK_FALSE(e.option("options"));
    CHECK(e.option("connect_timeout") == "5");
}

TEST_CASE("Replica endpoints get no target_session_attrs", "[db][config][connection_url]") {
    db::PoolConfig c;
    const auto replica = db::Endpoint::parse("postgresql://r1/db");
    const auto e = db::with_pool_limits(c, replica, db::ServerRole::replica);
    CHECK_FALSE(e.option("target_session_attrs"));
    CHECK(e.option("options") == "-c statement_timeout=30000");
    CHECK(db::with_pool_limits(c, replica).option("target_session_attrs") == "read-write");
}
