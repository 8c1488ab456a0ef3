#include <sparc/db/config.hpp>

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <sparc/db/errors.hpp>
#include <sparc/db/router.hpp>

namespace sparc::db {
namespace {

[[noreturn]] void fail(const PoolConfig& c, std::string_view problem) {
    throw ConfigError(
        fmt::format("invalid configuration for service \"{}\": {}", c.service_name, problem));
}

void check_duration(const PoolConfig& c, std::string_view field, milliseconds value,
                    bool zero_allowed = false) {
    if (value.count() < 0 || (value.count() == 0 && !zero_allowed)) {
        fail(c, fmt::format("{} is {}ms; it must be {}", field, value.count(),
                            zero_allowed ? "0 (disabled) or positive" : "positive"));
    }
    if (value > kMaxTimeout) {
        fail(c, fmt::format("{} is {}ms; it must be at most {}ms", field, value.count(),
                            kMaxTimeout.count()));
    }
}

}  // namespace

void PoolConfig::validate() const {
    if (service_name.empty()) {
        fail(*this, "service_name is empty");
    }
    if (std::any_of(service_name.begin(), service_name.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
        fail(*this, "service_name contains a control character");
    }

    try {
        primary.validate();
    } catch (const ConfigError& e) {
        fail(*this, fmt::format("primary: {}", e.what()));
    }
    // The pool's router takes this many; a longer list would pass here and fail in the pool.
    if (replicas.size() > ReplicaRouter::kMaxReplicas) {
        fail(*this, fmt::format("replicas lists {} servers; at most {} are supported",
                                replicas.size(), ReplicaRouter::kMaxReplicas));
    }
    for (std::size_t i = 0; i < replicas.size(); ++i) {
        const auto& r = replicas[i];
        try {
            r.endpoint.validate();
        } catch (const ConfigError& e) {
            fail(*this, fmt::format("replicas[{}]: {}", i, e.what()));
        }
        if (r.weight == 0) {
            fail(*this, fmt::format("replicas[{}].weight is 0; it must be at least 1", i));
        }
        if (r.weight > kMaxReplicaWeight) {
            fail(*this, fmt::format("replicas[{}].weight is {}; it must be at most {}", i, r.weight,
                                    kMaxReplicaWeight));
        }
        for (std::size_t j = 0; j < i; ++j) {
            if (replicas[j].endpoint.label() == r.endpoint.label()) {
                fail(*this, fmt::format("replicas[{}] and replicas[{}] are both {}; list a server "
                                        "once and give it the combined weight",
                                        j, i, r.endpoint.label()));
            }
        }
    }

    if (max_connections == 0) {
        fail(*this, "max_connections is 0; it must be at least 1");
    }
    if (max_connections > kMaxConnectionsLimit) {
        fail(*this, fmt::format("max_connections is {}; it must be at most {}", max_connections,
                                kMaxConnectionsLimit));
    }
    if (min_connections > max_connections) {
        fail(*this, fmt::format("min_connections ({}) exceeds max_connections ({})",
                                min_connections, max_connections));
    }
    if (max_replica_connections > kMaxConnectionsLimit) {
        fail(*this, fmt::format("max_replica_connections is {}; it must be at most {}",
                                max_replica_connections, kMaxConnectionsLimit));
    }
    if (max_replica_connections != 0 && max_replica_connections < min_connections) {
        fail(*this, fmt::format("max_replica_connections ({}) is below min_connections ({}), "
                                "which applies to every host; use 0 for \"same as "
                                "max_connections\"",
                                max_replica_connections, min_connections));
    }

    check_duration(*this, "idle_timeout", idle_timeout);
    check_duration(*this, "connection_timeout", connection_timeout);
    check_duration(*this, "statement_timeout", statement_timeout);
    check_duration(*this, "query_timeout", query_timeout);
    check_duration(*this, "max_lifetime", max_lifetime);
    check_duration(*this, "health_check_period", health_check_period);
    check_duration(*this, "max_replica_lag", max_replica_lag);
    check_duration(*this, "reconnect_backoff_max", reconnect_backoff_max);
    check_duration(*this, "leak_detection_threshold", leak_detection_threshold, true);
    check_duration(*this, "alive_bypass_window", alive_bypass_window, true);

    if (query_timeout <= statement_timeout) {
        fail(*this, fmt::format("query_timeout ({}ms) must exceed statement_timeout ({}ms), so "
                                "that the server cancels a slow statement before the client "
                                "gives up on the connection",
                                query_timeout.count(), statement_timeout.count()));
    }
    if (max_lifetime < idle_timeout) {
        fail(*this, fmt::format("max_lifetime ({}ms) is below idle_timeout ({}ms); connections "
                                "would be retired before they could ever count as idle",
                                max_lifetime.count(), idle_timeout.count()));
    }
}

void to_json(nlohmann::json& j, const Replica& replica) {
    j = nlohmann::json{{"endpoint", replica.endpoint}, {"weight", replica.weight}};
}

void to_json(nlohmann::json& j, const PoolConfig& c) {
    j = nlohmann::json{
        {"service_name", c.service_name},
        {"primary", c.primary},
        {"replicas", c.replicas},
        {"min_connections", c.min_connections},
        {"max_connections", c.max_connections},
        {"max_replica_connections", c.max_replica_connections},
        {"idle_timeout_ms", c.idle_timeout.count()},
        {"connection_timeout_ms", c.connection_timeout.count()},
        {"statement_timeout_ms", c.statement_timeout.count()},
        {"query_timeout_ms", c.query_timeout.count()},
        {"max_lifetime_ms", c.max_lifetime.count()},
        {"health_check_period_ms", c.health_check_period.count()},
        {"max_replica_lag_ms", c.max_replica_lag.count()},
        {"leak_detection_threshold_ms", c.leak_detection_threshold.count()},
        {"reconnect_backoff_max_ms", c.reconnect_backoff_max.count()},
        {"alive_bypass_window_ms", c.alive_bypass_window.count()},
        {"fallback_to_primary", c.fallback_to_primary},
        {"prefer_replica_reads", c.prefer_replica_reads},
        {"pgbouncer_mode", c.pgbouncer_mode},
        {"statement_cache_size", c.statement_cache_size},
        {"application_name", c.application_name},
    };
}

}  // namespace sparc::db
