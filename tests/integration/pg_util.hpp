#pragma once
// Shared by the integration tests: the cluster, configurations pointing at it, and checks.

#include <chrono>
#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include <catch2/catch.hpp>

#include <sparc/db.hpp>
#include <sparc_test/cluster_env.hpp>
#include <sparc_test/fault_proxy.hpp>

namespace sparc::pgtest {

namespace db = sparc::db;
using Node = sparc::testing::ClusterNode;

/// The cluster of the pg_cluster fixture, loaded once.
inline const sparc::testing::ClusterEnv& cluster() {
    static const auto env = sparc::testing::ClusterEnv::load();
    return env;
}

/// The COMMIT statement as it crosses the wire: a Parse message with an unnamed statement, so
/// the text sits between NUL bytes (BEGIN ... READ COMMITTED does not match).
inline const std::string kCommitOnWire("\0COMMIT\0", 8);

/// The primary, reached through `proxy` (in clear, so the proxy sees the protocol).
inline db::Endpoint through(const sparc::testing::FaultProxy& proxy) {
    auto ep = db::Endpoint::parse(cluster().primary_url);
    ep.set_option("host", "127.0.0.1");
    ep.set_option("port", std::to_string(proxy.port()));
    ep.set_option("sslmode", "disable");
    return ep;
}

/// A configuration for the cluster's primary (and replicas when asked), with an application
/// name so tests can find their own sessions in pg_stat_activity.
inline db::PoolConfig config(const std::string& application, bool with_replicas = false) {
    db::PoolConfig cfg;
    cfg.service_name = application;
    cfg.application_name = application;
    cfg.primary = db::Endpoint::parse(cluster().primary_url);
    if (with_replicas) {
        for (const auto& url : cluster().replica_urls) {
            cfg.replicas.push_back({db::Endpoint::parse(url), 1});
        }
    }
    cfg.min_connections = 1;
    cfg.max_connections = 8;
    cfg.connection_timeout = std::chrono::seconds(5);
    cfg.statement_timeout = std::chrono::seconds(10);
    cfg.query_timeout = std::chrono::seconds(15);
    cfg.health_check_period = std::chrono::milliseconds(200);
    return cfg;
}

/// config() with a pool of one connection, so that the next caller gets the connection the
/// previous one used.
inline db::PoolConfig one_connection(const std::string& application) {
    auto cfg = config(application);
    cfg.min_connections = 1;
    cfg.max_connections = 1;
    return cfg;
}

/// What a test's callback (a row function, a row source) throws to stop half-way.
struct Stop : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Polls until `condition` holds or `limit` passes.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds limit = std::chrono::seconds(60)) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
        if (condition()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return condition();
}

/// Terminates every server session of `application` (as an operator or a failover would).
inline int terminate_sessions(const std::string& application) {
    const auto out = cluster().psql(
        Node::primary,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '" +
            application + "'");
    return std::stoi(out);
}

/// The sum of a Prometheus metric's series in `metrics` (a pool's metrics_text()).
/// Terminates the session with this pid and waits until the server has closed it; false when it
/// could not be terminated or is still there after eventually()'s time.
inline bool terminate_and_wait(int pid) {
    const auto id = std::to_string(pid);
    if (cluster().psql(Node::primary, "SELECT pg_terminate_backend(" + id + ")") != "t") {
        return false;
    }
    return eventually([&] {
        return cluster().psql(Node::primary,
                              "SELECT count(*) FROM pg_stat_activity WHERE pid = " + id) == "0";
    });
}

inline double metric_sum(const std::string& metrics, const std::string& name) {
    const std::string series = name + "{";
    double sum = 0;
    for (auto at = metrics.find(series); at != std::string::npos;
         at = metrics.find(series, at + 1)) {
        if (at > 0 && metrics[at - 1] != '\n') continue;
        const auto value = metrics.find("} ", at);
        if (value != std::string::npos) sum += std::stod(metrics.substr(value + 2));
    }
    return sum;
}

/// Round trips `fn` makes through `proxy`: reads of client bytes (FaultProxy::client_reads()),
/// one per round trip for a session that waits for each answer before it writes again.
template <typename Fn>
std::size_t round_trips(const sparc::testing::FaultProxy& proxy, Fn&& fn) {
    const auto before = proxy.client_reads();
    std::forward<Fn>(fn)();
    return proxy.client_reads() - before;
}

/// Whether `text` is free of the cluster's password.
inline bool no_password(const std::string& text) {
    return text.find(cluster().password) == std::string::npos;
}

/// Statements of `application` the primary is running now (pg_sleep ones).
inline int sleeping_statements(const std::string& application) {
    return std::stoi(cluster().psql(
        Node::primary, "SELECT count(*) FROM pg_stat_activity WHERE application_name = '" +
                           application +
                           "' AND state = 'active' AND query LIKE 'SELECT pg_sleep%'"));
}

}  // namespace sparc::pgtest
