// Fuzzes the environment variables the service registry reads (kEnvironmentVariables, see
// docs/configuration.md), applied to every built-in service's defaults and to PoolConfig{}.
//
// Input: lines `NAME=VALUE`. NAME is one of kEnvironmentVariables (other lines are ignored; a
// later line for the same name wins). Two more lines steer the check:
//   PASSWORD=<secret>   {pw} in any value is replaced by <secret>, {pwenc} by its
//                       percent-encoding; <secret> must never show in an error message
//   SERVICE=<name>      also resolve this name through pool_config() (unknown names throw)
//
// Invariants: apply_environment() either gives a configuration that validates, reflects every
// numeric variable and is unchanged by a second application, or throws ConfigError (anything
// else aborts) and leaves the configuration as it was. With PASSWORD, the secret shows neither
// in the message of a refused configuration nor, for an accepted one, in anything displayed
// about it (labels, redacted forms, metrics text, health JSON, sparc-db config's JSON; see
// fuzz_displays.hpp), as written or percent-encoded.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sparc/db/config.hpp>
#include <sparc/db/errors.hpp>
#include <sparc/db/registry.hpp>

#include "fuzz_displays.hpp"
#include "fuzz_support.hpp"

namespace {

namespace db = sparc::db;
using sparc::fuzz::check;
using sparc::fuzz::fail;

using Variables = std::map<std::string, std::string, std::less<>>;

struct Input {
    Variables variables;
    std::optional<std::string> secret;
    std::optional<std::string> service;
};

Input read_input(std::string_view text) {
    Input in;
    for (const auto line : sparc::fuzz::split(text, '\n')) {
        const auto eq = line.find('=');
        if (eq == std::string_view::npos) {
            continue;
        }
        const auto name = line.substr(0, eq);
        const auto value = line.substr(eq + 1);
        if (name == "PASSWORD") {
            in.secret = std::string(value);
        } else if (name == "SERVICE") {
            in.service = std::string(value);
        } else {
            for (const auto var : db::kEnvironmentVariables) {
                if (name == var) {
                    in.variables.insert_or_assign(std::string(name), std::string(value));
                }
            }
        }
    }
    return in;
}

Variables instantiate(const Variables& variables, std::string_view secret) {
    Variables out;
    for (const auto& [name, value] : variables) {
        out.emplace(name, sparc::fuzz::with_secret(value, secret));
    }
    return out;
}

std::string describe(const Variables& variables) {
    std::string out;
    for (const auto& [name, value] : variables) {
        out += name + "=" + value + "\n";
    }
    return out;
}

// The number a strictly valid numeric variable holds.
std::optional<std::uint64_t> number(const Variables& variables, std::string_view name) {
    const auto it = variables.find(name);
    if (it == variables.end()) {
        return std::nullopt;
    }
    std::uint64_t n = 0;
    for (const char c : it->second) {
        if (c < '0' || c > '9' || n > 100'000'000'000ULL) {
            fail("a configuration was accepted with a malformed number",
                 std::string(name) + "=" + it->second);
        }
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return n;
}

// Applies `variables` to `defaults`: the result, or the ConfigError message.
std::pair<std::optional<db::PoolConfig>, std::string> apply(const db::PoolConfig& defaults,
                                                            const Variables& variables) {
    db::PoolConfig config = defaults;
    try {
        db::apply_environment(config, db::fixed_environment(variables));
        return {std::move(config), {}};
    } catch (const db::ConfigError& e) {
        check(config == defaults, "apply_environment() changed the configuration and threw",
              describe(variables));
        return {std::nullopt, e.what()};
    }
}

void check_applied(const db::PoolConfig& config, const Variables& variables) {
    try {
        config.validate();
    } catch (const db::ConfigError& e) {
        fail("apply_environment() returned a configuration that does not validate",
             describe(variables) + e.what());
    }
    const auto expect = [&](std::string_view name, std::uint64_t actual) {
        if (const auto n = number(variables, name)) {
            check(*n == actual, "a variable was not applied", describe(variables));
        }
    };
    expect("DB_POOL_MIN", config.min_connections);
    expect("DB_POOL_MAX", config.max_connections);
    expect("DB_IDLE_TIMEOUT", static_cast<std::uint64_t>(config.idle_timeout.count()));
    expect("DB_CONNECTION_TIMEOUT", static_cast<std::uint64_t>(config.connection_timeout.count()));
    expect("DB_STATEMENT_TIMEOUT", static_cast<std::uint64_t>(config.statement_timeout.count()));
    expect("DB_QUERY_TIMEOUT", static_cast<std::uint64_t>(config.query_timeout.count()));
    if (variables.contains("DATABASE_READ_REPLICAS")) {
        check(!config.replicas.empty(), "DATABASE_READ_REPLICAS gave no replica",
              describe(variables));
    }
    for (const auto& r : config.replicas) {
        check(r.weight >= 1 && r.weight <= db::kMaxReplicaWeight, "replica weight out of range",
              describe(variables));
    }
    // Applying the same environment again changes nothing.
    db::PoolConfig again = config;
    try {
        db::apply_environment(again, db::fixed_environment(variables));
    } catch (const db::ConfigError& e) {
        fail("a second apply_environment() threw", describe(variables) + e.what());
    }
    check(again == config, "apply_environment() is not idempotent", describe(variables));
    check(db::environment_overrides(db::fixed_environment(variables)).size() == variables.size(),
          "environment_overrides() does not list the variables set", describe(variables));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto in = read_input(sparc::fuzz::as_text(data, size));
    const std::string secret = in.secret.value_or("");
    // The secret is checked for only where every use of it is a password.
    bool check_secret = in.secret.has_value() && secret.find('\0') == std::string::npos;
    bool used = false;
    for (const auto& [name, value] : in.variables) {
        if (value.find("{pw") != std::string::npos) {
            used = true;
            check_secret = check_secret && sparc::fuzz::only_passwords_use_secret(value, secret);
        }
    }
    check_secret = check_secret && used;
    const auto variables = instantiate(in.variables, secret);
    const auto other = sparc::fuzz::other_secret(secret);
    const auto alternative = instantiate(in.variables, other);
    // Every value with the secret left out: a piece of the secret found there is not a leak.
    std::string context;
    for (const auto& [name, value] : instantiate(in.variables, "")) {
        context += name + "=" + value + "\n";
    }

    static const auto services = [] {
        auto s = db::builtin_services();
        db::PoolConfig plain;
        s.emplace_back(plain.service_name, plain);
        return s;
    }();
    for (const auto& [name, defaults] : services) {
        const auto [config, message] = apply(defaults, variables);
        if (config) {
            check_applied(*config, variables);
            if (check_secret) {
                const auto shown = sparc::fuzz::displays(*config, db::fixed_environment(variables));
                const auto [alt_config, alt_message] = apply(defaults, alternative);
                const auto alt_shown =
                    alt_config
                        ? sparc::fuzz::displays(*alt_config, db::fixed_environment(alternative))
                        : std::vector<sparc::fuzz::Display>{};
                sparc::fuzz::check_hidden(shown, alt_shown, secret, context, describe(variables));
            }
            continue;
        }
        if (check_secret) {
            const auto [alt_config, alt_message] = apply(defaults, alternative);
            check(!sparc::fuzz::shows_secret(message, secret, alt_message, context),
                  "a ConfigError message shows the password",
                  describe(variables) + "message: " + message);
        }
    }

    if (in.service) {
        try {
            const auto config = db::pool_config(*in.service, db::fixed_environment(variables));
            check(config.service_name == *in.service, "pool_config() named another service",
                  *in.service);
        } catch (const db::ConfigError&) {
            // an unknown service or a bad variable
        }
    }
    return 0;
}
