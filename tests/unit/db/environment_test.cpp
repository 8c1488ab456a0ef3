#include <sparc/db/errors.hpp>
#include <sparc/db/registry.hpp>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "test_util.hpp"

namespace db = sparc::db;
using namespace std::chrono_literals;
using db::test::Vars;

namespace {

const std::string kPassword = "Tr0ub4dor&3xyz";
const std::string kKeyPassword = "KeyPhrase!42xyz";

// The registry's services name no primary, so pool_config() needs DATABASE_URL; the tests
// below are about other variables unless they set it, and take libpq's defaults.
db::PoolConfig effective(const std::string& service, Vars vars) {
    vars.try_emplace("DATABASE_URL", "postgresql://");
    const db::ServiceRegistry registry(db::builtin_services());
    return registry.pool_config(service, db::fixed_environment(std::move(vars)));
}

std::string error_for(const std::string& service, const Vars& vars) {
    try {
        (void)effective(service, vars);
    } catch (const db::ConfigError& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST_CASE("Without variables the registry defaults apply unchanged", "[db][config][env]") {
    const db::ServiceRegistry registry(db::builtin_services());
    for (const auto& name : registry.services()) {
        INFO(name);
        CHECK(effective(name, {{"DATABASE_URL", "postgresql://"}}) == registry.defaults(name));
    }
}

TEST_CASE("Without DATABASE_URL or a registered primary pool_config fails",
          "[db][config][env][primary]") {
    const db::ServiceRegistry registry(db::builtin_services());
    for (const auto& name : registry.services()) {
        INFO(name);
        try {
            (void)registry.pool_config(name, db::fixed_environment({{"DB_POOL_MAX", "12"}}));
            FAIL("no error without a primary");
        } catch (const db::ConfigError& e) {
            const std::string message = e.what();
            CHECK(message.find("no primary server for service \"" + name + "\"") !=
                  std::string::npos);
            CHECK(message.find("DATABASE_URL is not set") != std::string::npos);
        }
    }
    // The process-wide functions behave the same.
    CHECK_THROWS_AS(db::pool_config("api-gateway", db::fixed_environment({})), db::ConfigError);
}

TEST_CASE("A primary set in code or asked for explicitly needs no DATABASE_URL",
          "[db][config][env][primary]") {
    db::ServiceRegistry registry;
    db::PoolConfig billing;
    billing.primary = db::Endpoint::parse("postgresql://app@billing-db/billing");
    registry.add("billing", billing);
    CHECK(registry.pool_config("billing", db::fixed_environment({})).primary.host() ==
          "billing-db");
    // DATABASE_URL still wins over the registered primary.
    CHECK(registry.pool_config("billing", db::fixed_environment({{"DATABASE_URL", "host=other"}}))
              .primary.host() == "other");
    // An explicit libpq-defaults URL: libpq fills in the rest from PGHOST, PGPORT, ...
    registry.add("local", db::PoolConfig{});
    const auto local =
        registry.pool_config("local", db::fixed_environment({{"DATABASE_URL", "postgresql://"}}));
    CHECK(local.primary == db::Endpoint{});
}

TEST_CASE("A DB_* or DATABASE_* name sparc does not read is reported with the closest one",
          "[db][config][env][unknown]") {
    const std::vector<std::pair<std::string, std::string>> typos = {
        {"DB_POOL_MAXIMUM", "DB_POOL_MAX"},
        {"DB_QUERY_TIMOUT", "DB_QUERY_TIMEOUT"},
        {"DB_STATEMENT_TIMEOUT_MS", "DB_STATEMENT_TIMEOUT"},
        {"DATABASE_ULR", "DATABASE_URL"},
        {"DATABASE_URI", "DATABASE_URL"},
        {"DATABASE_READ_REPLICA", "DATABASE_READ_REPLICAS"},
        {"DATABASE_READ_REPLICA_WEIGHT", "DATABASE_READ_REPLICA_WEIGHTS"},
        {"DB_POOLMAX", "DB_POOL_MAX"},
    };
    for (const auto& [typo, closest] : typos) {
        INFO(typo);
        const auto message = error_for("api-gateway", {{typo, "10"}});
        CHECK(message.find(fmt::format("unknown environment variable {} (did you mean {}?)", typo,
                                       closest)) != std::string::npos);
        CHECK(message.find("sparc reads DATABASE_URL, DATABASE_READ_REPLICAS") !=
              std::string::npos);
    }
    CHECK(db::closest_environment_variable("DB_QUERY_TIMOUT").first == "DB_QUERY_TIMEOUT");
    // Beyond a typo, the names sharing the most words: a shortened word counts (CONN), and
    // when several share as many, all of them are named rather than one at random.
    const std::vector<std::pair<std::string, std::string>> words = {
        {"DB_CONN_TIMEOUT", "DB_CONNECTION_TIMEOUT"},
        {"DB_STMT_TIMEOUT", "DB_STATEMENT_TIMEOUT"},
        {"DB_TIMEOUT",
         "DB_IDLE_TIMEOUT, DB_CONNECTION_TIMEOUT, DB_STATEMENT_TIMEOUT or DB_QUERY_TIMEOUT"},
        {"DB_READ_TIMEOUT",
         "DB_IDLE_TIMEOUT, DB_CONNECTION_TIMEOUT, DB_STATEMENT_TIMEOUT or DB_QUERY_TIMEOUT"},
        {"DB_POOL_SIZE", "DB_POOL_MIN or DB_POOL_MAX"},
    };
    for (const auto& [name, suggested] : words) {
        INFO(name);
        const auto message = error_for("api-gateway", {{name, "10"}});
        INFO(message);
        CHECK(message.find(fmt::format("unknown environment variable {} (did you mean {}?)", name,
                                       suggested)) != std::string::npos);
    }
    // Several at once are reported together, sorted.
    const auto both = error_for("api-gateway", {{"DB_POOL_SIZE", "5"}, {"DATABASE_ULR", "x"}});
    CHECK(both.find("unknown environment variables DATABASE_ULR (did you mean DATABASE_URL?); "
                    "DB_POOL_SIZE (did you mean DB_POOL_MIN or DB_POOL_MAX?)") !=
          std::string::npos);
    // apply_environment() checks too, and leaves the configuration unchanged.
    db::PoolConfig c;
    const auto before = c;
    CHECK_THROWS_AS(db::apply_environment(
                        c, db::fixed_environment({{"DB_POOL_MAX", "5"}, {"DB_POOL_SIZE", "5"}})),
                    db::ConfigError);
    CHECK(c == before);
}

TEST_CASE("Variables of other software are left alone", "[db][config][env][unknown]") {
    const std::vector<std::string> others = {
        "DB_HOST",    "DB_PORT",       "DB_NAME",       "DB_USER",       "DB_PASSWORD",
        "DB_SSLMODE", "DATABASE_NAME", "DATABASE_HOST", "DATABASE_USER", "DATABASE_PORT",
        "PGHOST",     "DBPOOL_MAX",    "HOME",          "DB_URL",
    };
    for (const auto& name : others) {
        INFO(name);
        CHECK(error_for("api-gateway", {{name, "x"}}) == "(no error)");
    }
    // A source that cannot list its names is only asked for the variables sparc reads.
    const db::ServiceRegistry registry(db::builtin_services());
    const db::EnvironmentSource lookup_only =
        [](std::string_view name) -> std::optional<std::string> {
        if (name == "DATABASE_URL") return "host=h";
        if (name == "DB_POOL_SIZE") return "5";
        return std::nullopt;
    };
    CHECK_FALSE(lookup_only.names());
    CHECK(registry.pool_config("api-gateway", lookup_only).primary.host() == "h");
}

TEST_CASE("Numeric variables accept whole numbers in range", "[db][config][env]") {
    struct Case {
        std::string var, value;
        std::function<bool(const db::PoolConfig&)> holds;
    };
    const std::vector<Case> cases = {
        {"DB_POOL_MIN", "0", [](auto& c) { return c.min_connections == 0; }},
        {"DB_POOL_MIN", "50", [](auto& c) { return c.min_connections == 50; }},
        {"DB_POOL_MIN", "007", [](auto& c) { return c.min_connections == 7; }},
        {"DB_POOL_MAX", "10", [](auto& c) { return c.max_connections == 10; }},
        {"DB_POOL_MAX", "10000", [](auto& c) { return c.max_connections == 10000; }},
        {"DB_IDLE_TIMEOUT", "45000", [](auto& c) { return c.idle_timeout == 45s; }},
        {"DB_IDLE_TIMEOUT", "1", [](auto& c) { return c.idle_timeout == 1ms; }},
        {"DB_CONNECTION_TIMEOUT", "250", [](auto& c) { return c.connection_timeout == 250ms; }},
        {"DB_STATEMENT_TIMEOUT", "19999", [](auto& c) { return c.statement_timeout == 19999ms; }},
        {"DB_STATEMENT_TIMEOUT", "1", [](auto& c) { return c.statement_timeout == 1ms; }},
        {"DB_QUERY_TIMEOUT", "2147483647",
         [](auto& c) { return c.query_timeout == db::kMaxTimeout; }},
        {"DB_QUERY_TIMEOUT", "15001", [](auto& c) { return c.query_timeout == 15001ms; }},
    };
    for (const auto& tc : cases) {
        INFO(tc.var << "=" << tc.value);
        CHECK(tc.holds(effective("api-gateway", {{tc.var, tc.value}})));
    }
}

TEST_CASE("Numeric variables are parsed strictly", "[db][config][env]") {
    const std::vector<std::string> vars = {"DB_POOL_MIN",          "DB_POOL_MAX",
                                           "DB_IDLE_TIMEOUT",      "DB_CONNECTION_TIMEOUT",
                                           "DB_STATEMENT_TIMEOUT", "DB_QUERY_TIMEOUT"};
    const std::vector<std::string> bad = {"abc",
                                          "-5",
                                          "1e3",
                                          "+5",
                                          " 5",
                                          "5 ",
                                          "",
                                          "5.0",
                                          "0x10",
                                          "5ms",
                                          "30s",
                                          "1_000",
                                          "99999999999999999999999",
                                          "18446744073709551616",
                                          "\t5",
                                          "5\n",
                                          "٣"};
    for (const auto& var : vars) {
        for (const auto& value : bad) {
            INFO(var << "=\"" << value << "\"");
            const auto message = error_for("api-gateway", {{var, value}});
            CHECK_THAT(message, Catch::StartsWith(var + "=\""));
            CHECK_THAT(message, Catch::Contains("is not valid"));
            CHECK_THAT(message, Catch::Contains("digits only"));
        }
    }
    // The value is shown, control characters escaped.
    CHECK(error_for("api-gateway", {{"DB_POOL_MAX", "abc"}}) ==
          "DB_POOL_MAX=\"abc\" is not valid: expected a whole number of connections from 1 to "
          "10000, digits only");
    CHECK_THAT(error_for("api-gateway", {{"DB_POOL_MAX", "5\n"}}),
               Catch::StartsWith("DB_POOL_MAX=\"5\\x0a\""));
    CHECK(error_for("api-gateway", {{"DB_IDLE_TIMEOUT", "30s"}}) ==
          "DB_IDLE_TIMEOUT=\"30s\" is not valid: expected milliseconds from 1 to 2147483647, "
          "digits only");
}

TEST_CASE("Numeric variables are range-checked", "[db][config][env]") {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"DB_POOL_MAX", "0"},           {"DB_POOL_MAX", "10001"},
        {"DB_POOL_MIN", "10001"},       {"DB_IDLE_TIMEOUT", "0"},
        {"DB_CONNECTION_TIMEOUT", "0"}, {"DB_STATEMENT_TIMEOUT", "0"},
        {"DB_QUERY_TIMEOUT", "0"},      {"DB_QUERY_TIMEOUT", "2147483648"},
    };
    for (const auto& [var, value] : cases) {
        INFO(var << "=" << value);
        CHECK_THAT(error_for("api-gateway", {{var, value}}),
                   Catch::StartsWith(fmt::format("{}=\"{}\" is not valid", var, value)));
    }
}

TEST_CASE("Combinations that do not hold name their variables", "[db][config][env]") {
    CHECK(error_for("api-gateway", {{"DB_POOL_MIN", "60"}}) ==
          "invalid configuration for service \"api-gateway\": min_connections (60) exceeds "
          "max_connections (50) [from the environment: DB_POOL_MIN=\"60\"]");
    CHECK_THAT(error_for("api-gateway", {{"DB_POOL_MIN", "30"}, {"DB_POOL_MAX", "20"}}),
               Catch::EndsWith("[from the environment: DB_POOL_MIN=\"30\", DB_POOL_MAX=\"20\"]"));
    CHECK_THAT(error_for("api-gateway", {{"DB_POOL_MAX", "5"}}),
               Catch::Contains("min_connections (10) exceeds max_connections (5)") &&
                   Catch::EndsWith("[from the environment: DB_POOL_MAX=\"5\"]"));
    CHECK_THAT(error_for("api-gateway", {{"DB_STATEMENT_TIMEOUT", "60000"}}),
               Catch::Contains("query_timeout (20000ms) must exceed statement_timeout (60000ms)") &&
                   Catch::EndsWith("[from the environment: DB_STATEMENT_TIMEOUT=\"60000\"]"));
    CHECK_THAT(
        error_for("api-gateway", {{"DB_STATEMENT_TIMEOUT", "5000"}, {"DB_QUERY_TIMEOUT", "5000"}}),
        Catch::Contains("DB_STATEMENT_TIMEOUT=\"5000\", DB_QUERY_TIMEOUT=\"5000\""));
    CHECK_THAT(error_for("api-gateway", {{"DB_IDLE_TIMEOUT", "3600000"}}),
               Catch::Contains("max_lifetime (1800000ms) is below idle_timeout (3600000ms)") &&
                   Catch::Contains("DB_IDLE_TIMEOUT=\"3600000\""));
    // Both set consistently: fine.
    const auto c = effective("api-gateway", {{"DB_STATEMENT_TIMEOUT", "60000"},
                                             {"DB_QUERY_TIMEOUT", "65000"},
                                             {"DB_POOL_MIN", "2"},
                                             {"DB_POOL_MAX", "4"}});
    CHECK(c.statement_timeout == 60s);
    CHECK(c.query_timeout == 65s);
    CHECK(c.min_connections == 2);
    CHECK(c.max_connections == 4);
}

TEST_CASE("DATABASE_URL replaces the primary", "[db][config][env]") {
    const auto url = "postgresql://app:" + kPassword + "@primary.db:5432/videos?sslmode=require";
    CHECK(effective("video-management", {{"DATABASE_URL", url}}).primary ==
          db::Endpoint::parse(url));
    const auto kv = "host=primary.db dbname=videos user=app password='" + kPassword + "'";
    CHECK(effective("video-management", {{"DATABASE_URL", kv}}).primary.option("password") ==
          kPassword);
}

TEST_CASE("A malformed DATABASE_URL names the variable and masks the password",
          "[db][config][env][secrets]") {
    const std::vector<std::string> bad = {
        "postgresql://app:" + kPassword + "@h:abc/db",
        "postgresql://app:" + kPassword + "@[::1/db",
        "postgresql://app:" + kPassword + "@h/db?sslmode=sometimes",
        "postgresql://app:" + kPassword + "@h/db?sslpassword=" + kKeyPassword + "&nope=1",
        "host=h password=" + kPassword + " nope=1",
        "host=h password='" + kPassword,
        "mysql://app:" + kPassword + "@h/db",
        "",
    };
    for (const auto& value : bad) {
        INFO(value);
        const auto message = error_for("api-gateway", {{"DATABASE_URL", value}});
        INFO(message);
        CHECK_THAT(message, Catch::StartsWith("DATABASE_URL"));
        CHECK(message.find(kPassword) == std::string::npos);
        CHECK(message.find(kKeyPassword) == std::string::npos);
        CHECK(message.find("Tr0ub4dor") == std::string::npos);
    }
    CHECK_THAT(
        error_for("api-gateway", {{"DATABASE_URL", "postgresql://app:" + kPassword + "@h:abc/db"}}),
        Catch::Contains("postgresql://app:****@h:abc/db") && Catch::Contains("invalid port"));
}

TEST_CASE("DATABASE_READ_REPLICAS lists replica URLs", "[db][config][env]") {
    SECTION("one replica") {
        const auto c = effective("analytics", {{"DATABASE_READ_REPLICAS", "postgresql://r1/db"}});
        REQUIRE(c.replicas.size() == 1);
        CHECK(c.replicas[0].endpoint == db::Endpoint::parse("postgresql://r1/db"));
        CHECK(c.replicas[0].weight == 1);
    }
    SECTION("several, blanks around commas, both schemes") {
        const auto c = effective(
            "analytics",
            {{"DATABASE_READ_REPLICAS", " postgresql://u:" + kPassword +
                                            "@r1/db , postgres://r2:5433/db,postgresql://r3/db"}});
        REQUIRE(c.replicas.size() == 3);
        CHECK(c.replicas[0].endpoint.option("password") == kPassword);
        CHECK(c.replicas[1].endpoint.port() == "5433");
        CHECK(c.replicas[2].endpoint.host() == "r3");
    }
    SECTION("multi-host URLs and commas inside parameters stay whole") {
        const auto c =
            effective("analytics",
                      {{"DATABASE_READ_REPLICAS",
                        "postgresql://r1,r2/db?options=-csearch_path%3Da,b,postgresql://r3/db"}});
        REQUIRE(c.replicas.size() == 2);
        CHECK(c.replicas[0].endpoint.host() == "r1,r2");
        CHECK(c.replicas[0].endpoint.option("options") == "-csearch_path=a,b");
        CHECK(c.replicas[1].endpoint.host() == "r3");
    }
    SECTION("weights, same order") {
        const auto c = effective(
            "analytics", {{"DATABASE_READ_REPLICAS", "postgresql://r1/db,postgresql://r2/db"},
                          {"DATABASE_READ_REPLICA_WEIGHTS", "3,1"}});
        REQUIRE(c.replicas.size() == 2);
        CHECK(c.replicas[0].weight == 3);
        CHECK(c.replicas[1].weight == 1);
    }
    SECTION("weights for replicas registered in code") {
        db::ServiceRegistry registry;
        db::PoolConfig defaults;
        defaults.replicas = {{db::Endpoint::parse("host=r1"), 1},
                             {db::Endpoint::parse("host=r2"), 1}};
        registry.add("svc", defaults);
        const auto c = registry.pool_config(
            "svc", db::fixed_environment(
                       {{"DATABASE_URL", "host=p"}, {"DATABASE_READ_REPLICA_WEIGHTS", "2,5"}}));
        CHECK(c.replicas[0].weight == 2);
        CHECK(c.replicas[1].weight == 5);
    }
}

TEST_CASE("Malformed replica lists and weights name the variable", "[db][config][env][secrets]") {
    const std::string r2 = "postgresql://r1/db,postgresql://r2/db";
    struct Case {
        Vars vars;
        std::string expected;  // start of the message
    };
    const std::vector<Case> cases = {
        {{{"DATABASE_READ_REPLICAS", ""}}, "DATABASE_READ_REPLICAS=\"\" is not valid"},
        {{{"DATABASE_READ_REPLICAS", "  "}}, "DATABASE_READ_REPLICAS=\"  \" is not valid"},
        {{{"DATABASE_READ_REPLICAS", "host=r1 password=" + kPassword}},
         "DATABASE_READ_REPLICAS entry 1 (\"host=r1 password=****\") is not valid: expected a "
         "postgresql://"},
        {{{"DATABASE_READ_REPLICAS", "postgresql://u:" + kPassword + "@r1:0/db"}},
         "DATABASE_READ_REPLICAS entry 1: invalid connection string "
         "\"postgresql://u:****@r1:0/db\""},
        {{{"DATABASE_READ_REPLICAS", "postgresql://r1/db,postgresql://u:" + kPassword + "@[x"}},
         "DATABASE_READ_REPLICAS entry 2: invalid connection string (not shown: it may hold a "
         "password): end of string reached"},
        {{{"DATABASE_READ_REPLICAS", "postgresql://r1/db,"}},
         "DATABASE_READ_REPLICAS entry 1 (\"postgresql://r1/db,\") is not valid: empty list item"},
        {{{"DATABASE_READ_REPLICAS", "postgresql://r1/db,,postgresql://r2/db"}},
         "DATABASE_READ_REPLICAS entry 1 (\"postgresql://r1/db,\") is not valid: empty list item"},
        {{{"DATABASE_READ_REPLICAS", "postgresql://r1/db,r2/db"}},
         "DATABASE_READ_REPLICAS entry 1 (\"postgresql://r1/db,r2/db\") is not valid: its database "
         "name contains a comma"},
        {{{"DATABASE_READ_REPLICAS", r2}, {"DATABASE_READ_REPLICA_WEIGHTS", "1"}},
         "DATABASE_READ_REPLICA_WEIGHTS=\"1\" is not valid: it lists 1 weight for 2 replicas"},
        {{{"DATABASE_READ_REPLICAS", r2}, {"DATABASE_READ_REPLICA_WEIGHTS", "1,2,3"}},
         "DATABASE_READ_REPLICA_WEIGHTS=\"1,2,3\" is not valid: it lists 3 weights for 2 replicas"},
        {{{"DATABASE_READ_REPLICAS", r2}, {"DATABASE_READ_REPLICA_WEIGHTS", "1,0"}},
         "DATABASE_READ_REPLICA_WEIGHTS=\"0\" is not valid"},
        {{{"DATABASE_READ_REPLICAS", r2}, {"DATABASE_READ_REPLICA_WEIGHTS", "1,-2"}},
         "DATABASE_READ_REPLICA_WEIGHTS=\"-2\" is not valid"},
        {{{"DATABASE_READ_REPLICAS", r2}, {"DATABASE_READ_REPLICA_WEIGHTS", "1, 2"}},
         "DATABASE_READ_REPLICA_WEIGHTS=\" 2\" is not valid"},
        {{{"DATABASE_READ_REPLICAS", r2}, {"DATABASE_READ_REPLICA_WEIGHTS", "1,"}},
         "DATABASE_READ_REPLICA_WEIGHTS=\"\" is not valid"},
        {{{"DATABASE_READ_REPLICAS", r2}, {"DATABASE_READ_REPLICA_WEIGHTS", ""}},
         "DATABASE_READ_REPLICA_WEIGHTS=\"\" is not valid"},
        {{{"DATABASE_READ_REPLICAS", r2}, {"DATABASE_READ_REPLICA_WEIGHTS", "1,1000001"}},
         "DATABASE_READ_REPLICA_WEIGHTS=\"1000001\" is not valid"},
        {{{"DATABASE_READ_REPLICAS", r2},
          {"DATABASE_READ_REPLICA_WEIGHTS", "1,99999999999999999999"}},
         "DATABASE_READ_REPLICA_WEIGHTS=\"99999999999999999999\" is not valid"},
        {{{"DATABASE_READ_REPLICA_WEIGHTS", "1"}},
         "DATABASE_READ_REPLICA_WEIGHTS=\"1\" is set but there are no replicas"},
        {{{"DATABASE_READ_REPLICAS", "postgresql://r1/db,postgresql://u@r1:5432/db"}},
         "invalid configuration for service \"analytics\": replicas[0] and replicas[1] are both"},
    };
    for (const auto& tc : cases) {
        const auto message = error_for("analytics", tc.vars);
        INFO(message);
        CHECK_THAT(message, Catch::StartsWith(tc.expected));
        CHECK(message.find(kPassword) == std::string::npos);
    }
}

namespace {

const std::string kFirstPassword = "F1rstReplicaPw";
const std::string kSecondPassword = "Sec0ndReplicaPw";

// Whether `text` shows either replica password, as written or percent-decoded pieces of it.
bool shows_replica_password(const std::string& text) {
    for (const auto& pw : {kFirstPassword, kSecondPassword}) {
        if (text.find(pw) != std::string::npos) {
            return true;
        }
    }
    return false;
}

}  // namespace

TEST_CASE("Replica URLs separated by anything but a comma are refused",
          "[db][config][env][secrets][separators]") {
    const std::string a = "postgresql://app:" + kFirstPassword + "@replica-1:5432/videos";
    const std::string b = "postgresql://app:" + kSecondPassword + "@replica-2:5432/videos";
    // Each of these was read as one replica whose database name held the next URL.
    const std::vector<std::pair<std::string, std::string>> separators = {
        {"space", " "},         {"tab", "\t"},    {"semicolon", ";"},
        {"newline", "\n"},      {"CRLF", "\r\n"}, {"semicolon and blank", "; "},
        {"nothing at all", ""}, {"a pipe", "|"},
    };
    for (const auto& [name, separator] : separators) {
        SECTION("separated by " + name) {
            const auto message =
                error_for("analytics", {{"DATABASE_READ_REPLICAS", a + separator + b}});
            INFO(message);
            CHECK_THAT(message, Catch::StartsWith("DATABASE_READ_REPLICAS entry 1 (") &&
                                    Catch::Contains("is not valid") &&
                                    Catch::Contains("separate replicas with commas"));
            CHECK_FALSE(shows_replica_password(message));
        }
    }
    SECTION("the entry position is counted over comma-separated entries") {
        const auto message =
            error_for("analytics",
                      {{"DATABASE_READ_REPLICAS", "postgresql://replica-0/videos," + a + " " + b}});
        INFO(message);
        CHECK_THAT(message, Catch::StartsWith("DATABASE_READ_REPLICAS entry 2 ("));
        CHECK_FALSE(shows_replica_password(message));
    }
    SECTION("the second scheme is found in any case") {
        const auto upper = "POSTGRES://app:" + kSecondPassword + "@replica-2/videos";
        const auto message = error_for("analytics", {{"DATABASE_READ_REPLICAS", a + ";" + upper}});
        INFO(message);
        CHECK_THAT(message, Catch::StartsWith("DATABASE_READ_REPLICAS entry 1 ("));
        CHECK_FALSE(shows_replica_password(message));
    }
    SECTION("a blank inside one URL") {
        const auto message =
            error_for("analytics", {{"DATABASE_READ_REPLICAS", a + "?application_name=a b"}});
        INFO(message);
        CHECK_THAT(message, Catch::StartsWith("DATABASE_READ_REPLICAS entry 1 (") &&
                                Catch::Contains("blank"));
        CHECK_FALSE(shows_replica_password(message));
    }
    SECTION("percent-encoded passwords are masked too") {
        const auto message =
            error_for("analytics", {{"DATABASE_READ_REPLICAS",
                                     "postgresql://app:F1rst%40Pw%2FSecret@r1/db postgresql://"
                                     "app:Sec0nd%20Pw%3ASecret@r2/db"}});
        INFO(message);
        CHECK_THAT(message, Catch::StartsWith("DATABASE_READ_REPLICAS entry 1 ("));
        for (const auto* piece : {"F1rst", "Pw%2FSecret", "Sec0nd", "Pw%3ASecret", "Secret"}) {
            CHECK(message.find(piece) == std::string::npos);
        }
    }
}

TEST_CASE("Comma-separated replicas and multi-host URLs are still accepted",
          "[db][config][env][separators]") {
    const auto c =
        effective("analytics", {{"DATABASE_READ_REPLICAS",
                                 " postgresql://app:" + kFirstPassword +
                                     "@127.0.0.1:30060,127.0.0.1:23963/videos ,\n postgres://app:" +
                                     kSecondPassword + "@replica-2/videos\t"}});
    REQUIRE(c.replicas.size() == 2);
    CHECK(c.replicas[0].endpoint.host() == "127.0.0.1,127.0.0.1");
    CHECK(c.replicas[0].endpoint.port() == "30060,23963");
    CHECK(c.replicas[0].endpoint.label() == "127.0.0.1:30060,127.0.0.1:23963/videos");
    CHECK(c.replicas[1].endpoint.option("password") == kSecondPassword);
}

TEST_CASE("A DATABASE_URL holding two URLs is refused", "[db][config][env][secrets][separators]") {
    const std::string a = "postgresql://app:" + kFirstPassword + "@primary-1:5432/videos";
    const std::string b = "postgresql://app:" + kSecondPassword + "@primary-2:5432/videos";
    for (const auto& value :
         {a + "," + b, a + " " + b, a + ";" + b, a + "\n" + b, a + b,
          "host=primary-1 dbname='videos " + b + "'", "host=primary-1 dbname=" + b}) {
        const auto message = error_for("api-gateway", {{"DATABASE_URL", value}});
        INFO(message);
        CHECK_THAT(message, Catch::StartsWith("DATABASE_URL") && Catch::Contains("more than one") &&
                                Catch::Contains("DATABASE_READ_REPLICAS"));
        CHECK_FALSE(shows_replica_password(message));
    }
}

TEST_CASE("A failed apply_environment leaves the config unchanged", "[db][config][env]") {
    db::PoolConfig c;
    const auto before = c;
    CHECK_THROWS_AS(db::apply_environment(c, db::fixed_environment({{"DATABASE_URL", "host=h"},
                                                                    {"DB_POOL_MAX", "x"}})),
                    db::ConfigError);
    CHECK(c == before);
    db::apply_environment(c, db::fixed_environment({{"DATABASE_URL", "host=h"}}));
    CHECK(c.primary.host() == "h");
}

TEST_CASE("No error message contains a test password", "[db][config][env][secrets]") {
    const std::vector<Vars> bad = {
        {{"DATABASE_URL", "postgresql://u:" + kPassword + "@h/db"}, {"DB_POOL_MAX", "0"}},
        {{"DATABASE_URL", "postgresql://u:" + kPassword + "@h/db"}, {"DB_POOL_MIN", "999"}},
        {{"DATABASE_URL",
          "postgresql://u:" + kPassword + "@h/db?sslpassword=" + kKeyPassword + "&sslmode=x"}},
        {{"DATABASE_URL", "host=h sslpassword='" + kKeyPassword + "' sslmode=x"}},
        {{"DATABASE_READ_REPLICAS", "postgresql://u:" + kPassword + "@r/db"},
         {"DATABASE_READ_REPLICA_WEIGHTS", "0"}},
        {{"DB_POOL_MAX", "postgresql://u:" + kPassword + "@r/db"}},
        {{"DATABASE_READ_REPLICA_WEIGHTS", "postgresql://u:" + kPassword + "@r/db"}},
    };
    for (const auto& vars : bad) {
        const auto message = error_for("api-gateway", vars);
        INFO(message);
        CHECK(message != "(no error)");
        CHECK(message.find(kPassword) == std::string::npos);
        CHECK(message.find(kKeyPassword) == std::string::npos);
    }
}

TEST_CASE("split_replica_urls splits only before a scheme", "[db][config][env]") {
    using V = std::vector<std::string>;
    CHECK(db::split_replica_urls("postgresql://a/db") == V{"postgresql://a/db"});
    CHECK(db::split_replica_urls("postgresql://a/db, postgres://b/db") ==
          V{"postgresql://a/db", "postgres://b/db"});
    CHECK(db::split_replica_urls("postgresql://a,b/db") == V{"postgresql://a,b/db"});
    CHECK(db::split_replica_urls("postgresql://a/db?application_name=x,y,postgresql://c") ==
          V{"postgresql://a/db?application_name=x,y", "postgresql://c"});
    CHECK(db::split_replica_urls("") == V{""});
}

TEST_CASE("environment_overrides lists the variables that are set", "[db][config][env]") {
    const auto env = db::fixed_environment(
        {{"DB_POOL_MAX", "3"}, {"DATABASE_URL", "host=h"}, {"UNRELATED", "1"}});
    CHECK(db::environment_overrides(env) ==
          std::vector<std::string>{"DATABASE_URL", "DB_POOL_MAX"});
}

TEST_CASE("process_environment reads the process environment", "[db][config][env]") {
    ::setenv("SPARC_TEST_ONLY_VARIABLE", "42", 1);
    const auto env = db::process_environment();
    CHECK(env("SPARC_TEST_ONLY_VARIABLE") == "42");
    const auto names = env.names();
    REQUIRE(names);
    CHECK(std::find(names->begin(), names->end(), "SPARC_TEST_ONLY_VARIABLE") != names->end());
    ::unsetenv("SPARC_TEST_ONLY_VARIABLE");
    CHECK_FALSE(env("SPARC_TEST_ONLY_VARIABLE"));
}

TEST_CASE("An unknown DB_POOL_* in the process environment stops pool_config",
          "[db][config][env][unknown]") {
    ::setenv("DB_POOL_SIZE", "20", 1);
    ::setenv("DATABASE_URL", "host=h", 1);
    std::string message = "(no error)";
    try {
        (void)db::pool_config("api-gateway");
    } catch (const db::ConfigError& e) {
        message = e.what();
    }
    ::unsetenv("DB_POOL_SIZE");
    CHECK(message.find("DB_POOL_SIZE (did you mean DB_POOL_MIN or DB_POOL_MAX?)") !=
          std::string::npos);
    CHECK(db::pool_config("api-gateway").primary.host() == "h");
    ::unsetenv("DATABASE_URL");
}
