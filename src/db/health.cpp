#include <sparc/db/health.hpp>

#include <nlohmann/json.hpp>

namespace sparc::db {

const char* to_string(HealthStatus status) noexcept {
    switch (status) {
        case HealthStatus::healthy:
            return "healthy";
        case HealthStatus::degraded:
            return "degraded";
        case HealthStatus::unhealthy:
            return "unhealthy";
    }
    return "unhealthy";
}

std::string HealthReport::to_json() const {
    nlohmann::json j;
    j["status"] = to_string(status);
    j["healthy"] = healthy;
    j["service"] = service;
    j["check_duration_ms"] = static_cast<double>(took.count()) / 1000.0;
    auto& hs = j["hosts"] = nlohmann::json::array();
    for (const auto& h : hosts) {
        nlohmann::json o;
        o["host"] = h.host;
        o["role"] = to_string(h.role);
        o["observed_role"] = to_string(h.observed_role);
        o["reachable"] = h.reachable;
        o["latency_ms"] = static_cast<double>(h.latency.count()) / 1000.0;
        if (h.role == HostRole::replica) {
            o["replication_lag_ms"] = h.replication_lag.count();
            o["lagging"] = h.lagging;
        }
        o["busy"] = h.busy;
        if (!h.error.empty()) o["error"] = h.error;
        hs.push_back(std::move(o));
    }
    j["reasons"] = reasons;
    // Host labels and server messages are bytes, not necessarily UTF-8: replace what JSON
    // cannot carry rather than throw from a /health endpoint.
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace sparc::db
