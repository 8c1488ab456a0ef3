// Whatever the environment holds, a password never shows in what a pool displays: host labels,
// hook events, metrics text, health JSON and the configuration JSON that `sparc-db config`
// prints. An environment is either refused (and then the message masks the password) or
// accepted, and then every one of those outputs is scanned.

#include <sparc/db/config.hpp>
#include <sparc/db/connection_url.hpp>
#include <sparc/db/errors.hpp>
#include <sparc/db/registry.hpp>

#include <catch2/catch.hpp>

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_util.hpp"

namespace db = sparc::db;
using namespace std::chrono_literals;
using db::test::FakePool;
using db::test::Vars;

namespace {

// Pieces of the passwords written in kEnvironments, as written (percent-encoded) and decoded.
const std::vector<std::string> kSecretPieces = {
    "Disp1aySecret", "Disp2aySecret", "KeyDisp3Secret", "y/Secret", "y%2FSecret", "Disp@y",
};

std::string secret_shown(std::string_view text) {
    for (const auto& piece : kSecretPieces) {
        if (text.find(piece) != std::string_view::npos) {
            return piece;
        }
    }
    return {};
}

const std::vector<Vars> kEnvironments = {
    // Replica lists mistyped with another separator than a comma.
    {{"DATABASE_READ_REPLICAS",
      "postgresql://app:Disp1aySecret@r1/app postgresql://app:Disp2aySecret@r2/app"}},
    {{"DATABASE_READ_REPLICAS",
      "postgresql://app:Disp1aySecret@r1/app;postgresql://app:Disp2aySecret@r2/app"}},
    {{"DATABASE_READ_REPLICAS",
      "postgresql://app:Disp1aySecret@r1/app\npostgresql://app:Disp2aySecret@r2/app"}},
    {{"DATABASE_READ_REPLICAS",
      "postgresql://app:Disp1aySecret@r1/apppostgresql://app:Disp2aySecret@r2/app"}},
    // Two URLs where one is expected.
    {{"DATABASE_URL",
      "postgresql://app:Disp1aySecret@primary/app,postgresql://app:Disp2aySecret@r2/app"}},
    {{"DATABASE_URL", "host=primary dbname='app postgresql://app:Disp2aySecret@r2/app'"}},
    // A raw '@' or '/' in a password.
    {{"DATABASE_READ_REPLICAS", "postgresql://app:Disp@Disp1aySecret@r1/app"}},
    {{"DATABASE_READ_REPLICAS", "postgresql://app:12/Disp1aySecret@r1/app"}},
    // Odd but valid: multi-host, IPv6, encoded secrets, secrets in the query.
    {{"DATABASE_READ_REPLICAS",
      "postgresql://app:Disp1aySecret@r1:6432,r2:6433/app, "
      "postgres://app:Disp%40y%2FSecret@[::1]:5433/my%20db?sslpassword=KeyDisp3Secret"
      "&application_name=a%2Cb"}},
    {{"DATABASE_READ_REPLICAS",
      "postgresql://app@r1/app?password=Disp1aySecret&options=-c%20search_path%3Dx,"
      "postgresql://r2/app?user=app&password=Disp%40y%2FSecret"}},
    {{"DATABASE_URL",
      "host=primary,standby port=5432,5433 dbname=app user=app password='Disp1aySecret' "
      "sslpassword=KeyDisp3Secret"}},
};

// Every text the pool and the configuration display, labelled by where it came from.
std::vector<std::pair<std::string, std::string>> displayed(const db::PoolConfig& cfg) {
    std::vector<std::pair<std::string, std::string>> out;
    out.emplace_back("primary label", cfg.primary.label());
    for (const auto& r : cfg.replicas) {
        out.emplace_back("replica label", r.endpoint.label());
    }
    // What `sparc-db config` prints.
    out.emplace_back("config JSON", nlohmann::json(cfg).dump());
    out.emplace_back("connection URL", db::redacted_connection_url(cfg));

    std::mutex mutex;
    std::vector<std::string> hook_labels;
    auto record = [&](std::string_view label) {
        const std::lock_guard lock(mutex);
        hook_labels.emplace_back(label);
    };
    db::Hooks hooks;
    hooks.on_connect = [&](const db::ConnectEvent& e) { record(e.host.label); };
    hooks.on_acquire = [&](const db::AcquireEvent& e) { record(e.host.label); };
    hooks.on_query = [&](const db::QueryEvent& e) { record(e.host.label); };
    hooks.on_host_state = [&](const db::HostStateEvent& e) { record(e.host.label); };

    db::testing::FakeBackend fake;
    {
        FakePool pool(cfg, fake, hooks);
        for (int i = 0; i < 4; ++i) {
            try {
                (void)pool.query("SELECT 1", {}, {.use_read_replica = i % 2 == 0});
            } catch (const db::Error& e) {
                out.emplace_back("query error", e.what());
            }
        }
        out.emplace_back("metrics", pool.metrics_text());
        out.emplace_back("health JSON", pool.health().to_json());
        pool.shutdown(1s);
    }
    const std::lock_guard lock(mutex);
    for (const auto& label : hook_labels) {
        out.emplace_back("hook host label", label);
    }
    return out;
}

}  // namespace

TEST_CASE("No password shows in labels, hooks, metrics, health or config output",
          "[db][secrets][separators]") {
    for (const auto& vars : kEnvironments) {
        INFO(vars.begin()->first << "=" << vars.begin()->second);
        auto cfg = db::test::fake_config();
        try {
            db::apply_environment(cfg, db::fixed_environment(vars));
        } catch (const db::ConfigError& e) {
            INFO(e.what());
            CHECK(secret_shown(e.what()).empty());
            continue;
        }
        for (const auto& [where, text] : displayed(cfg)) {
            INFO(where << ": " << text);
            CHECK(secret_shown(text).empty());
        }
    }
}

namespace {

// A password that is also (part of) the text of another component: the database name, the
// user, the host. The scheme of a URL is fixed text, not a component: it is left out of the
// scan.
struct SharedPassword {
    std::string url;
    std::string password;
};

const std::vector<SharedPassword> kSharedPasswords = {
    {"postgresql://postgres:postgres@127.0.0.1/postgres", "postgres"},
    {"postgresql://app:shop@primary/shop_orders", "shop"},
    {"postgresql://dbadmin:admin@primary/app", "admin"},
    {"postgresql://app:dbhost@dbhost/app", "dbhost"},
    {"host=primary dbname=videos user=app password=x sslpassword=videos", "videos"},
};

bool shows(std::string text, std::string_view password) {
    for (const std::string_view scheme : {"postgresql://", "postgres://"}) {
        for (auto at = text.find(scheme); at != std::string::npos; at = text.find(scheme, at)) {
            text.erase(at, scheme.size());
        }
    }
    return text.find(password) != std::string::npos;
}

}  // namespace

TEST_CASE("A password that is also the database name or the user or the host shows nowhere",
          "[db][secrets]") {
    for (const auto& [url, password] : kSharedPasswords) {
        INFO(url);
        auto cfg = db::test::fake_config();
        cfg.primary = db::Endpoint::parse(url);
        for (const auto& [where, text] : displayed(cfg)) {
            INFO(where << ": " << text);
            CHECK_FALSE(shows(text, password));
        }
    }
}

TEST_CASE("A component holding the password is displayed as the mask and the others as they are",
          "[db][secrets]") {
    auto cfg = db::test::fake_config();
    cfg.primary = db::Endpoint::parse("postgresql://postgres:postgres@127.0.0.1/postgres");
    CHECK(cfg.primary.label() == "127.0.0.1:5432/****");
    CHECK(cfg.primary.redacted_url() == "postgresql://****:****@127.0.0.1/****");
    const auto conninfo = cfg.primary.redacted();
    CHECK(conninfo.find("dbname=****") != std::string::npos);
    CHECK(conninfo.find("user=****") != std::string::npos);
    CHECK(conninfo.find("host=127.0.0.1") != std::string::npos);
    CHECK(db::redacted_connection_url(cfg).starts_with("postgresql://****:****@127.0.0.1/****?"));
    const nlohmann::json j = cfg.primary;
    CHECK(j["dbname"] == "****");
    CHECK(j["user"] == "****");
    CHECK(j["host"] == "127.0.0.1");
    // Health output and metric labels name the server by its label.
    db::testing::FakeBackend fake;
    {
        FakePool pool(cfg, fake);
        (void)pool.query("SELECT 1");
        const auto health = pool.health();
        REQUIRE(health.hosts.size() == 1);
        CHECK(health.hosts.front().host == "127.0.0.1:5432/****");
        CHECK(pool.metrics_text().find("host=\"127.0.0.1:5432/****\"") != std::string::npos);
        pool.shutdown(1s);
    }

    // Contained in the host, and in the port.
    CHECK(db::Endpoint::parse("postgresql://app:dbhost@dbhost.internal/app").label() ==
          "****:5432/app");
    CHECK(db::Endpoint::parse("postgresql://app:6432@h:6432/app").label() == "h:****/app");
    // A password spanning two components still does not show.
    CHECK(db::Endpoint::parse("postgresql://app:1:6432@h1:6432/app").label().find("1:6432") ==
          std::string::npos);
    // An ordinary password changes nothing.
    CHECK(db::test::fake_config().primary.label() == "primary:5432/app");
    CHECK(db::test::fake_config().primary.redacted_url() == "postgresql://app:****@primary/app");
}
