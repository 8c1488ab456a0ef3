// A host whose name does not resolve in time (a name server that stopped answering, as the
// preloaded slow_dns_shim makes "slow.test") costs a connect at most its own connect_timeout:
// the next host of the list is tried, a pool with only that host fails with the reason, and a
// pool being destroyed does not wait for the lookup; a listener's connects are bounded the same
// way. The shim's lookups take 600 s, so a pool that waited for one would stand out against the
// limits below.
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <netdb.h>
#include <catch2/catch.hpp>

#include <sparc/db.hpp>

#include "pg_util.hpp"

namespace db = sparc::db;
using sparc::pgtest::cluster;
using Node = sparc::testing::ClusterNode;
using namespace std::chrono_literals;

namespace {

bool shim_loaded() {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const int rc = ::getaddrinfo("slow-dns-shim.test", "5432", &hints, &res);
    if (rc == 0) ::freeaddrinfo(res);
    return rc == 0;
}

// The primary's endpoint with its host replaced by `hosts` (each on the primary's port).
db::Endpoint primary_as(const std::string& hosts, int count) {
    auto ep = db::Endpoint::parse(cluster().primary_url);
    std::string ports;
    for (int i = 0; i < count; ++i) {
        if (i > 0) ports += ',';
        ports += std::to_string(cluster().port(Node::primary));
    }
    ep.set_option("host", hosts);
    ep.set_option("port", ports);
    ep.set_option("connect_timeout", "1");
    return ep;
}

// A pool configuration for `application` whose primary is `hosts`, opening nothing early.
db::PoolConfig config_for(const std::string& application, const std::string& hosts, int count) {
    auto cfg = sparc::pgtest::config(application);
    cfg.primary = primary_as(hosts, count);
    cfg.min_connections = 0;
    return cfg;
}

}  // namespace

TEST_CASE("a host whose name does not resolve in time is passed over for the next", "[slow-dns]") {
    REQUIRE(shim_loaded());
    auto cfg = config_for("slow-dns-next", "slow.test,127.0.0.1", 2);
    cfg.connection_timeout = 10s;
    db::Database pool(cfg);
    const auto r = pool.query("SELECT inet_server_port()");
    CHECK(r.front()[0].as<int>() == cluster().port(Node::primary));
    // The host that answered is tried first from then on.
    CHECK(pool.query("SELECT 1").front()[0].as<int>() == 1);
}

TEST_CASE("a pool whose only host does not resolve fails with the reason, at its deadline",
          "[slow-dns]") {
    REQUIRE(shim_loaded());
    auto cfg = config_for("slow-dns-only", "slow.test", 1);
    cfg.connection_timeout = 2s;
    db::Database pool(cfg);
    try {
        pool.query("SELECT 1");
        FAIL("connected through a name that never resolved");
    } catch (const db::Error& e) {
        const std::string what = e.what();
        INFO(what);
        CHECK(what.find("slow.test") != std::string::npos);
        CHECK(sparc::pgtest::no_password(what));
    }
}

TEST_CASE("a listener whose host does not resolve fails by its deadline and names the host",
          "[slow-dns][listen]") {
    REQUIRE(shim_loaded());
    auto cfg = config_for("slow-dns-listener", "slow.test", 1);
    cfg.connection_timeout = 2s;
    auto listener = std::make_shared<db::Listener>(cfg);
    // On a thread of its own, holding its own reference: a listen() stuck in the shim's 600 s
    // lookup must not hold the test up once it has failed.
    auto outcome = std::make_shared<std::promise<std::string>>();
    auto ended = outcome->get_future();
    std::thread([listener, outcome] {
        try {
            listener->listen("slow_dns");
            outcome->set_value("listened through a name that never resolved");
        } catch (const db::ConnectionError& e) {
            outcome->set_value(std::string("ConnectionError: ") + e.what());
        } catch (const std::exception& e) {
            outcome->set_value(std::string("another error: ") + e.what());
        }
    }).detach();
    // Far below the lookup's 600 s: the listener gave up on it at its deadline.
    REQUIRE(ended.wait_for(120s) == std::future_status::ready);
    const std::string what = ended.get();
    INFO(what);
    CHECK(what.starts_with("ConnectionError: "));
    CHECK(what.find("slow.test") != std::string::npos);
    CHECK(sparc::pgtest::no_password(what));
    CHECK(listener->channels().empty());
    CHECK_FALSE(listener->connected());
}

TEST_CASE("a listener whose host list starts with a name that does not resolve uses the next",
          "[slow-dns][listen]") {
    REQUIRE(shim_loaded());
    auto cfg = config_for("slow-dns-listener-next", "slow.test,127.0.0.1", 2);
    cfg.connection_timeout = 10s;
    db::Listener listener(cfg);
    listener.listen("slow_dns_next");
    CHECK(listener.connected());
    db::Database pool(config_for("slow-dns-listener-pool", "127.0.0.1", 1));
    pool.notify("slow_dns_next", "arrived");
    const auto n = listener.wait(60s);
    REQUIRE(n.has_value());
    CHECK(n->payload == "arrived");
}

TEST_CASE("destroying a pool does not wait for a host name lookup in progress", "[slow-dns]") {
    REQUIRE(shim_loaded());
    auto cfg = config_for("slow-dns-shutdown", "slow.test", 1);
    cfg.primary.set_option("connect_timeout", "300");
    cfg.min_connections = 1;  // the opener starts a connect, and with it the lookup
    cfg.connection_timeout = 300s;
    auto pool = std::make_unique<db::Database>(cfg);
    // The opener has started its connect (counted just before it), and with it the lookup.
    REQUIRE(sparc::pgtest::eventually([&] {
        return sparc::pgtest::metric_sum(pool->metrics_text(), "sparc_db_connect_attempts_total") >=
               1;
    }));
    CHECK(pool->stats().total == 0);
    auto destroyed = std::async(std::launch::async, [&] { pool.reset(); });
    // Far below the lookup's 600 s and the connect's 300 s: the pool gave up on both.
    CHECK(destroyed.wait_for(60s) == std::future_status::ready);
}
