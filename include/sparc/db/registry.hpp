#pragma once
/// @file registry.hpp
/// Per-service pool defaults, and the environment applied on top of them.

#include <array>
#include <functional>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include <sparc/db/config.hpp>

namespace sparc::db {

/// Reads one environment variable; std::nullopt when unset. Injectable so tests never touch
/// the process environment.
using EnvironmentSource = std::function<std::optional<std::string>(std::string_view)>;

/// The process environment (getenv).
EnvironmentSource process_environment();

/// An environment made of fixed values, for tests and tools.
EnvironmentSource fixed_environment(std::map<std::string, std::string, std::less<>> variables);

/// The variables apply_environment() reads, in the order it applies them.
inline constexpr std::array<std::string_view, 9> kEnvironmentVariables = {
    "DATABASE_URL",
    "DATABASE_READ_REPLICAS",
    "DATABASE_READ_REPLICA_WEIGHTS",
    "DB_POOL_MIN",
    "DB_POOL_MAX",
    "DB_IDLE_TIMEOUT",
    "DB_CONNECTION_TIMEOUT",
    "DB_STATEMENT_TIMEOUT",
    "DB_QUERY_TIMEOUT",
};

/// A set of named service defaults. Every member function is thread-safe: lookups take a
/// shared lock, changes an exclusive one, so services can be added or replaced while others
/// read.
class ServiceRegistry {
  public:
    /// An empty registry.
    ServiceRegistry() = default;
    /// A registry holding `services` (name, defaults), each checked as add() checks it.
    /// @throws ConfigError for an invalid entry.
    explicit ServiceRegistry(const std::vector<std::pair<std::string, PoolConfig>>& services);

    ServiceRegistry(const ServiceRegistry&) = delete;
    ServiceRegistry& operator=(const ServiceRegistry&) = delete;

    /// The process-wide registry behind pool_config() and register_service(), preloaded with
    /// builtin_services().
    static ServiceRegistry& global();

    /// The defaults for `service`; `service_name` equals `service`.
    /// @throws ConfigError for an unknown service, listing the known ones.
    PoolConfig defaults(std::string_view service) const;
    /// The defaults for `service`, or std::nullopt when it is unknown.
    std::optional<PoolConfig> find(std::string_view service) const;
    /// Whether `service` is registered.
    bool contains(std::string_view service) const;
    /// Adds or replaces a service's defaults. Sets `service_name` to `service` and, when empty,
    /// `application_name` too, then validates.
    /// @throws ConfigError for an empty name or invalid defaults (the registry is unchanged).
    void add(std::string_view service, PoolConfig defaults);
    /// Removes a service; returns whether it was registered.
    bool remove(std::string_view service);
    /// Names of the registered services, sorted.
    std::vector<std::string> services() const;

    /// The defaults for `service` with the environment applied on top, validated.
    /// @throws ConfigError (see pool_config()).
    PoolConfig pool_config(std::string_view service, const EnvironmentSource& env) const;

  private:
    mutable std::shared_mutex mutex_;
    std::map<std::string, PoolConfig, std::less<>> services_;
};

/// The services sparc knows out of the box with their defaults (documented in
/// docs/configuration.md): api-gateway, video-management, analytics, auth-service,
/// event-processing.
std::vector<std::pair<std::string, PoolConfig>> builtin_services();

/// The registry's defaults for `service`, with the environment applied on top.
/// @throws ConfigError for an unknown service (listing the known ones) or a malformed variable
/// (naming it and its value, password masked).
PoolConfig pool_config(std::string_view service);
/// Same, reading variables from `env`.
PoolConfig pool_config(std::string_view service, const EnvironmentSource& env);

/// The registry's defaults for `service`, environment not applied. @throws ConfigError.
PoolConfig registry_defaults(std::string_view service);
/// Adds or replaces a service's defaults; thread-safe. @throws ConfigError (see
/// ServiceRegistry::add()).
void register_service(std::string_view service, PoolConfig defaults);
/// Names of the registered services, sorted.
std::vector<std::string> registered_services();

/// Applies the DATABASE_* / DB_* variables to `config`, then validates the result.
/// Each value is parsed strictly (digits only for numbers: no sign, blank, exponent or unit).
/// @throws ConfigError naming the variable and its value (secrets masked); when the result is
/// invalid only in combination (DB_POOL_MIN above max_connections, ...), the message names the
/// variables involved. `config` is unchanged when this throws.
void apply_environment(PoolConfig& config, const EnvironmentSource& env);

/// Which of kEnvironmentVariables are set in `env`, in that order.
std::vector<std::string> environment_overrides(const EnvironmentSource& env);

/// What `sparc-db config` prints for a service: `config` as JSON (see to_json(nlohmann::json&,
/// const PoolConfig&)) plus "connection_url" (redacted_connection_url()) and "environment"
/// (environment_overrides()). Secrets are masked; host labels are built as Endpoint::label().
nlohmann::json describe_config(const PoolConfig& config, const EnvironmentSource& env);

/// Splits a DATABASE_READ_REPLICAS value into its URLs: a comma starts a new URL only when
/// followed (after optional blanks) by `postgresql://` or `postgres://`, so multi-host URLs and
/// commas inside query parameters stay intact. Blanks around entries are dropped.
std::vector<std::string> split_replica_urls(std::string_view value);

}  // namespace sparc::db
