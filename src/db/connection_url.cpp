#include <sparc/db/connection_url.hpp>

#include <fmt/format.h>

namespace sparc::db {

Endpoint with_pool_limits(const PoolConfig& config, const Endpoint& server, ServerRole role) {
    Endpoint out = server;
    if (!out.option("connect_timeout")) {
        const auto ms = config.connection_timeout.count();
        const auto seconds = ms <= 0 ? 0 : (ms + 999) / 1000;
        if (seconds > 0) {
            out.set_option("connect_timeout", std::to_string(seconds));
        }
    }
    if (!out.option("application_name")) {
        const auto& name =
            config.application_name.empty() ? config.service_name : config.application_name;
        if (!name.empty()) {
            out.set_option("application_name", name);
        }
    }
    if (!config.pgbouncer_mode && config.statement_timeout.count() > 0) {
        const auto existing = out.option("options").value_or("");
        if (existing.find("statement_timeout") == std::string::npos) {
            const auto setting =
                fmt::format("-c statement_timeout={}", config.statement_timeout.count());
            out.set_option("options", existing.empty() ? setting : existing + ' ' + setting);
        }
    }
    if (role == ServerRole::primary && !out.option("target_session_attrs")) {
        out.set_option("target_session_attrs", "read-write");
    }
    return out;
}

std::string connection_url(const PoolConfig& config) {
    return with_pool_limits(config, config.primary).url();
}

std::string redacted_connection_url(const PoolConfig& config) {
    return with_pool_limits(config, config.primary).redacted_url();
}

}  // namespace sparc::db
