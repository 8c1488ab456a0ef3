#include <sparc/db/health.hpp>

#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

namespace db = sparc::db;

TEST_CASE("Health JSON is valid JSON whatever bytes a host or an error holds", "[db][health]") {
    // Host names and server messages are bytes, not necessarily UTF-8; a /health endpoint must
    // answer anyway.
    db::HealthReport report;
    report.service = "unit";
    db::HostHealth host;
    host.host = "r\xb3:5432/app";
    host.error = "could not connect: \xff\xfe";
    report.hosts.push_back(host);
    std::string text;
    REQUIRE_NOTHROW(text = report.to_json());
    const auto j = nlohmann::json::parse(text);
    CHECK(j["service"] == "unit");
    REQUIRE(j["hosts"].size() == 1);
    CHECK(j["hosts"][0]["host"].get<std::string>().starts_with("r"));
    CHECK(j["hosts"][0]["error"].get<std::string>().starts_with("could not connect: "));
}
