#pragma once
/// @file config.hpp
/// Pool configuration: the aggregate every pool is built from.

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include <sparc/db/endpoint.hpp>

namespace sparc::db {

using std::chrono::milliseconds;

/// Defaults used when a PoolConfig is value-initialised (a service registry entry overrides them).
inline constexpr std::size_t kDefaultMinConnections = 2;
inline constexpr std::size_t kDefaultMaxConnections = 10;
inline constexpr milliseconds kDefaultIdleTimeout{30'000};
inline constexpr milliseconds kDefaultConnectionTimeout{5'000};
inline constexpr milliseconds kDefaultStatementTimeout{30'000};
inline constexpr milliseconds kDefaultQueryTimeout{35'000};
inline constexpr milliseconds kDefaultMaxLifetime{30 * 60'000};
inline constexpr milliseconds kDefaultHealthCheckPeriod{5'000};
inline constexpr milliseconds kDefaultMaxReplicaLag{10'000};
inline constexpr milliseconds kDefaultLeakDetectionThreshold{60'000};
inline constexpr milliseconds kDefaultReconnectBackoffMax{10'000};
inline constexpr std::size_t kDefaultStatementCacheSize = 128;
inline constexpr milliseconds kDefaultAliveBypassWindow{500};

/// Upper bound validate() accepts for min/max connections: a PostgreSQL backend is a process,
/// and a larger number is a typo, not a plan.
inline constexpr std::size_t kMaxConnectionsLimit = 10'000;
/// Upper bound for a replica weight, so that weight sums cannot overflow.
inline constexpr unsigned kMaxReplicaWeight = 1'000'000;
/// Upper bound for every duration: PostgreSQL's limit for statement_timeout (INT_MAX ms,
/// about 24.8 days).
inline constexpr milliseconds kMaxTimeout{2'147'483'647};

/// A read replica and its share of the read traffic.
struct Replica {
    Endpoint endpoint;
    unsigned weight = 1;  ///< Relative share of replica reads; must be > 0.

    friend bool operator==(const Replica&, const Replica&) = default;
};

/// Everything a ConnectionPool needs. `PoolConfig{}` is valid (a local server, default sizes);
/// validate() throws ConfigError naming the field at fault.
struct PoolConfig {
    std::string service_name = "default";  ///< Labels metrics and health output.
    Endpoint primary;                      ///< Writes, transactions, fallback reads.
    std::vector<Replica> replicas;         ///< Read replicas, weighted.

    std::size_t min_connections = kDefaultMinConnections;  ///< Per host, kept open and warm.
    std::size_t max_connections = kDefaultMaxConnections;  ///< Primary's limit (open + opening).
    /// Per replica host limit; 0 means "same as max_connections".
    std::size_t max_replica_connections = 0;

    milliseconds idle_timeout = kDefaultIdleTimeout;  ///< Idle connections above min closed after.
    milliseconds connection_timeout = kDefaultConnectionTimeout;  ///< Bound on a whole acquire.
    milliseconds statement_timeout = kDefaultStatementTimeout;    ///< Server-side, per statement.
    milliseconds query_timeout = kDefaultQueryTimeout;  ///< Client-side: cancel, then discard.
    milliseconds max_lifetime = kDefaultMaxLifetime;    ///< Connections retired after (jittered).
    milliseconds health_check_period = kDefaultHealthCheckPeriod;  ///< Replica health checks.
    milliseconds max_replica_lag = kDefaultMaxReplicaLag;  ///< Laggier replicas take no reads.
    milliseconds leak_detection_threshold = kDefaultLeakDetectionThreshold;  ///< 0 disables.
    /// Longest wait between two attempts to reach a host that refuses or does not answer (the
    /// opener's connects and the health checks of a host that is down): the waits start at
    /// 50-100 ms and double, jittered, up to this.
    milliseconds reconnect_backoff_max = kDefaultReconnectBackoffMax;
    /// A connection that answered the server less than this long ago is handed out without
    /// checking its socket (HikariCP's alive-bypass window): a session the server ended inside
    /// the window fails its next statement instead of being replaced first. 0 checks at every
    /// checkout. See docs/configuration.md.
    milliseconds alive_bypass_window = kDefaultAliveBypassWindow;

    bool fallback_to_primary = true;  ///< Serve reads on the primary when no replica can.
    /// Default for QueryOptions::use_read_replica: route reads to replicas unless a query says
    /// otherwise.
    bool prefer_replica_reads = false;
    bool pgbouncer_mode = false;  ///< No named prepared statements, no session SET.
    std::size_t statement_cache_size = kDefaultStatementCacheSize;  ///< Per connection; 0 = off.
    std::string application_name;  ///< Sent to the server when the endpoint sets none.

    /// Checks every field. @throws ConfigError naming the first field at fault (and the
    /// service), never quoting a password.
    void validate() const;

    friend bool operator==(const PoolConfig&, const PoolConfig&) = default;
};

/// JSON for display, every duration in milliseconds under a `_ms` key and every secret masked.
/// There is deliberately no from_json.
void to_json(nlohmann::json& j, const Replica& replica);
/// JSON for display (see to_json(nlohmann::json&, const Replica&)).
void to_json(nlohmann::json& j, const PoolConfig& config);

}  // namespace sparc::db
