#pragma once
/// @file health.hpp
/// Health reports for load balancers and /health endpoints.

#include <chrono>
#include <string>
#include <vector>

#include <sparc/db/hooks.hpp>

namespace sparc::db {

/// Overall state: unhealthy means no writable primary answered; degraded means a replica is
/// down, lagging or no longer a standby while the primary is fine. A busy pool (callers waiting
/// for connections) is neither: it is reported with `busy` and a reason.
enum class HealthStatus { healthy, degraded, unhealthy };
/// "healthy" / "degraded" / "unhealthy".
const char* to_string(HealthStatus status) noexcept;

/// One host's health.
struct HostHealth {
    std::string host;                            ///< host:port/db, never credentials.
    HostRole role = HostRole::primary;           ///< Configured role.
    HostRole observed_role = HostRole::primary;  ///< What the server says it is.
    bool reachable = false;
    std::chrono::microseconds latency{0};  ///< Round trip of the last check.
    std::chrono::milliseconds replication_lag{0};
    bool lagging = false;  ///< Lag above max_replica_lag: takes no reads.
    bool busy = false;     ///< Callers are waiting for one of its connections (not a failure).
    std::string error;     ///< Why it is unreachable (redacted).
};

/// The pool's health.
struct HealthReport {
    bool healthy = false;  ///< A writable primary answers: the service can do its work.
    HealthStatus status = HealthStatus::unhealthy;
    std::string service;
    std::chrono::microseconds took{0};  ///< How long the check took.
    std::vector<HostHealth> hosts;
    /// What keeps the status from "healthy", one sentence each (also a busy pool, which does
    /// not): a host down, lagging, promoted, read-only.
    std::vector<std::string> reasons;

    /// JSON for a /health endpoint: {"status":..., "healthy":..., "hosts":[...]}.
    std::string to_json() const;
};

/// Options for ConnectionPool::health.
struct HealthOptions {
    /// Upper bound on the whole check, even when a host hangs.
    std::chrono::milliseconds timeout{2'000};
};

}  // namespace sparc::db
