#pragma once
/// @file registry.hpp
/// Per-service pool defaults, and the environment applied on top of them.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sparc/db/config.hpp>

namespace sparc::db {

/// Reads one environment variable; std::nullopt when unset. Injectable so tests never touch
/// the process environment.
using EnvironmentSource = std::function<std::optional<std::string>(std::string_view)>;

/// The process environment (getenv).
EnvironmentSource process_environment();

/// The registry's defaults for `service`, with the environment applied on top.
/// @throws ConfigError for an unknown service (listing the known ones) or a malformed variable
/// (naming it and its value, password masked).
PoolConfig pool_config(std::string_view service);
/// Same, reading variables from `env`.
PoolConfig pool_config(std::string_view service, const EnvironmentSource& env);

/// The registry's defaults for `service`, environment not applied. @throws ConfigError.
PoolConfig registry_defaults(std::string_view service);
/// Adds or replaces a service's defaults; thread-safe.
void register_service(std::string_view service, PoolConfig defaults);
/// Names of the registered services, sorted.
std::vector<std::string> registered_services();

/// Applies the DATABASE_* / DB_* variables to `config`. @throws ConfigError.
void apply_environment(PoolConfig& config, const EnvironmentSource& env);

}  // namespace sparc::db
