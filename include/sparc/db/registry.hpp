#pragma once
/// @file registry.hpp
/// Per-service pool defaults, and the environment applied on top of them.

#include <array>
#include <concepts>
#include <functional>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include <sparc/db/config.hpp>

namespace sparc::db {

/// Where the configuration variables come from: a lookup of one variable (std::nullopt when
/// unset) and, when the source can list them, the names it holds. Injectable so tests never
/// touch the process environment. Any callable taking a name and returning an optional string
/// converts to a source that cannot list its names.
class EnvironmentSource {
  public:
    /// Reads one variable; std::nullopt when unset.
    using Lookup = std::function<std::optional<std::string>(std::string_view)>;
    /// Lists the names of the variables that are set.
    using Names = std::function<std::vector<std::string>()>;

    /// An environment where nothing is set.
    EnvironmentSource() = default;
    /// A source that can look variables up but not list them.
    template <typename F>
    requires(!std::same_as<std::remove_cvref_t<F>, EnvironmentSource> &&
             std::is_invocable_r_v<std::optional<std::string>, const F&, std::string_view>)
        EnvironmentSource(F lookup)  // NOLINT(google-explicit-constructor): a lambda is a source
        : lookup_(std::move(lookup)) {}
    /// A source that can also list the names it holds.
    EnvironmentSource(Lookup lookup, Names names)
        : lookup_(std::move(lookup)), names_(std::move(names)) {}

    /// The value of `name`, or std::nullopt when it is unset.
    std::optional<std::string> operator()(std::string_view name) const {
        return lookup_ ? lookup_(name) : std::nullopt;
    }
    /// The names of every variable set, or std::nullopt when the source cannot list them.
    std::optional<std::vector<std::string>> names() const {
        if (!names_) {
            return lookup_ ? std::nullopt : std::optional<std::vector<std::string>>(std::in_place);
        }
        return names_();
    }

  private:
    Lookup lookup_;
    Names names_;
};

/// The process environment (getenv); lists its names from `environ`.
EnvironmentSource process_environment();

/// An environment made of fixed values, for tests and tools; lists its names.
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
/// @throws ConfigError for an unknown service (listing the known ones), a malformed variable
/// (naming it and its value, password masked), a variable that looks like one of sparc's but is
/// not (see apply_environment()), or no primary: DATABASE_URL unset and none in the registry's
/// defaults (there is no silent "local server" default; `DATABASE_URL=postgresql://` asks for
/// libpq's defaults and its PG* variables explicitly).
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
/// When `env` can list its names, a variable sparc does not read is an error naming the closest
/// one it does, if it looks like one of sparc's: a `DB_POOL_*`, `DB_*_TIMEOUT*` or
/// `DATABASE_READ_*` name, or a `DB_*` / `DATABASE_*` name within two edits of a known one
/// (`DB_POOL_SIZE`, `DB_QUERY_TIMOUT`, `DATABASE_ULR`). Other names (`DB_HOST`, `DB_PASSWORD`,
/// ...) belong to other software and are left alone.
/// @throws ConfigError naming the variable and its value (secrets masked); when the result is
/// invalid only in combination (DB_POOL_MIN above max_connections, ...), the message names the
/// variables involved. `config` is unchanged when this throws.
void apply_environment(PoolConfig& config, const EnvironmentSource& env);

/// The known variable closest to `name` by edit distance (first in kEnvironmentVariables order
/// on a tie), with that distance.
std::pair<std::string_view, std::size_t> closest_environment_variable(std::string_view name);

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
