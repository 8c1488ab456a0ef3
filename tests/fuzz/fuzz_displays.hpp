#pragma once
// Everything sparc::db displays about a configuration, for the fuzz targets to scan for
// passwords: each endpoint's label and redacted forms, the metric exposition and the health
// JSON a pool over the configuration would produce (built from the same pieces the pool uses,
// without starting one), and what `sparc-db config` prints.

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <sparc/db/config.hpp>
#include <sparc/db/endpoint.hpp>
#include <sparc/db/health.hpp>
#include <sparc/db/metrics.hpp>
#include <sparc/db/registry.hpp>

#include "fuzz_support.hpp"

namespace sparc::fuzz {

/// One displayed text and where it comes from.
struct Display {
    std::string where;
    std::string text;
};

inline std::string display_json(const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// The texts displayed for `config`, in a fixed order (so that two configurations of the same
/// shape can be compared text by text).
inline std::vector<Display> displays(const db::PoolConfig& config,
                                     const db::EnvironmentSource& env) {
    std::vector<Display> out;
    std::vector<const db::Endpoint*> endpoints{&config.primary};
    for (const auto& r : config.replicas) {
        endpoints.push_back(&r.endpoint);
    }
    std::vector<db::HostSnapshot> snapshots;
    db::HealthReport health;
    health.service = config.service_name;
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
        const auto& e = *endpoints[i];
        out.push_back({"label", e.label()});
        out.push_back({"redacted()", e.redacted()});
        out.push_back({"redacted_url()", e.redacted_url()});
        out.push_back({"endpoint JSON", display_json(nlohmann::json(e))});
        const auto role = i == 0 ? db::HostRole::primary : db::HostRole::replica;
        db::HostSnapshot s;
        s.label = e.label();
        s.role = role;
        snapshots.push_back(std::move(s));
        db::HostHealth h;
        h.host = e.label();
        h.role = role;
        health.hosts.push_back(std::move(h));
    }
    const db::PoolMetrics pool_metrics;
    out.push_back(
        {"metrics text", db::render_prometheus(config.service_name, snapshots, pool_metrics)});
    out.push_back({"health JSON", health.to_json()});
    out.push_back({"sparc-db config", display_json(db::describe_config(config, env))});
    return out;
}

/// Checks that no text in `shown` shows `secret`, as written or percent-encoded. `other` holds
/// the displays of the same input written around other_secret(secret) (empty when that input
/// was refused) and `context` the input with the secret left out: a piece found there as well
/// is structure, not a leak (see shows_secret()).
inline void check_hidden(const std::vector<Display>& shown, const std::vector<Display>& other,
                         std::string_view secret, std::string_view context,
                         std::string_view input) {
    const auto encoded = percent_encode(secret);
    for (std::size_t i = 0; i < shown.size(); ++i) {
        const std::string_view for_other = i < other.size() ? other[i].text : std::string_view();
        const auto& [where, text] = shown[i];
        check(!shows_secret(text, secret, for_other, context), "a display shows the password",
              std::string(input) + "\n" + where + ": " + text);
        if (encoded != secret) {
            check(!shows_secret(text, encoded, for_other, context),
                  "a display shows the percent-encoded password",
                  std::string(input) + "\n" + where + ": " + text);
        }
    }
}

}  // namespace sparc::fuzz
