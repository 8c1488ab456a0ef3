#pragma once
// Helpers shared by the db unit tests.

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <sparc/db.hpp>
#include <sparc/db/testing/fake_backend.hpp>

namespace sparc::db::test {

using FakePool = ConnectionPool<testing::FakeBackend>;

/// Rows of text fields, a missing one NULL (as the fake backend returns them).
using Rows = std::vector<std::vector<std::optional<std::string>>>;

/// Environment variables by name, for fixed_environment().
using Vars = std::map<std::string, std::string, std::less<>>;

/// What a test's callback (a row function, a row source) throws to stop half-way.
struct Stop : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Polls `condition` until it holds or `limit` passes; the result says which. Used for
/// background work (opening, reaping, health checks) whose timing the test does not assert.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
        if (condition()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return condition();
}

/// A configuration for the fake cluster: primary "primary", replicas as named.
inline PoolConfig fake_config(std::initializer_list<const char*> replicas = {}) {
    PoolConfig cfg;
    cfg.service_name = "unit";
    cfg.primary = Endpoint::parse("postgresql://app:unit-secret-pw@primary/app");
    for (const char* r : replicas) {
        cfg.replicas.push_back(
            {Endpoint::parse(std::string("postgresql://app:unit-secret-pw@") + r + "/app"), 1});
    }
    cfg.min_connections = 0;
    cfg.max_connections = 4;
    cfg.connection_timeout = std::chrono::milliseconds(2000);
    cfg.statement_timeout = std::chrono::milliseconds(4000);
    cfg.query_timeout = std::chrono::milliseconds(5000);
    cfg.health_check_period = std::chrono::milliseconds(50);
    return cfg;
}

/// Transaction options that retry quickly: `retries` retries, 1-5 ms of backoff, 5 s in all.
inline TransactionOptions fast(int retries = 3) {
    return {.timeout = std::chrono::seconds(5),
            .retries = retries,
            .backoff_base = std::chrono::milliseconds(1),
            .backoff_max = std::chrono::milliseconds(5)};
}

/// The message of the ConfigError `f` throws; fails the test when it throws nothing.
template <typename F>
std::string config_error(F&& f) {
    try {
        f();
    } catch (const ConfigError& e) {
        return e.what();
    }
    FAIL("no ConfigError thrown");
    return {};
}

}  // namespace sparc::db::test
