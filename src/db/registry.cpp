#include <sparc/db/registry.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <numeric>

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <sparc/db/connection_url.hpp>
#include <sparc/db/errors.hpp>

namespace sparc::db {
namespace {

using namespace std::chrono_literals;

struct ServiceDefaults {
    std::string_view name;
    std::size_t min_connections;
    std::size_t max_connections;
    milliseconds idle_timeout;
    milliseconds connection_timeout;
    milliseconds statement_timeout;
    milliseconds query_timeout;
    milliseconds max_lifetime;
    milliseconds health_check_period;
    milliseconds max_replica_lag;
    milliseconds leak_detection_threshold;
    bool prefer_replica_reads;
};

// The table in docs/configuration.md; keep them in step.
constexpr std::array<ServiceDefaults, 5> kBuiltinServices = {{
    // Request path: many short queries, fail fast rather than queue.
    {"api-gateway", 10, 50, 30s, 3s, 15s, 20s, 30min, 5s, 5s, 1min, false},
    // Uploads and transcoding bookkeeping: fewer, longer statements.
    {"video-management", 5, 20, 60s, 10s, 60s, 75s, 60min, 10s, 30s, 5min, false},
    // Reporting: long reads served by replicas, some staleness tolerated.
    {"analytics", 5, 30, 60s, 10s, 5min, 330s, 60min, 5s, 60s, 10min, true},
    // Logins and token checks: tight bounds, fresh data.
    {"auth-service", 10, 40, 30s, 2s, 3s, 5s, 30min, 2s, 1s, 30s, false},
    // Batch consumers: bursts, long statements, connections kept between batches.
    {"event-processing", 5, 25, 5min, 30s, 10min, 11min, 60min, 10s, 30s, 15min, false},
}};

PoolConfig to_config(const ServiceDefaults& d) {
    PoolConfig c;
    c.service_name = std::string(d.name);
    c.application_name = std::string(d.name);
    c.min_connections = d.min_connections;
    c.max_connections = d.max_connections;
    c.idle_timeout = d.idle_timeout;
    c.connection_timeout = d.connection_timeout;
    c.statement_timeout = d.statement_timeout;
    c.query_timeout = d.query_timeout;
    c.max_lifetime = d.max_lifetime;
    c.health_check_period = d.health_check_period;
    c.max_replica_lag = d.max_replica_lag;
    c.leak_detection_threshold = d.leak_detection_threshold;
    c.prefer_replica_reads = d.prefer_replica_reads;
    return c;
}

// A value as it may be shown in a message: secrets masked, control bytes escaped, shortened.
std::string shown(std::string_view value) {
    constexpr std::size_t kMaxShown = 120;
    const std::string redacted = redact_connection_string(value);
    std::string out;
    for (char ch : redacted) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) {
            out += fmt::format("\\x{:02x}", c);
        } else if (ch == '"' || ch == '\\') {
            out += '\\';
            out += ch;
        } else {
            out += ch;
        }
        if (out.size() > kMaxShown) {
            out += "...";
            break;
        }
    }
    return out;
}

[[noreturn]] void bad_value(std::string_view var, std::string_view value,
                            std::string_view expected) {
    throw ConfigError(fmt::format("{}=\"{}\" is not valid: {}", var, shown(value), expected));
}

// Digits only, within [low, high]: no sign, blank, exponent, fraction or unit.
std::uint64_t parse_number(std::string_view var, std::string_view value, std::uint64_t low,
                           std::uint64_t high, std::string_view expected) {
    const auto digits_only = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
        return c >= '0' && c <= '9';
    });
    std::uint64_t n = 0;
    if (digits_only) {
        const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (ec == std::errc{} && ptr == value.data() + value.size() && n >= low && n <= high) {
            return n;
        }
    }
    bad_value(var, value,
              fmt::format("expected {} from {} to {}, digits only", expected, low, high));
}

bool starts_with_scheme(std::string_view s) {
    return s.starts_with("postgresql://") || s.starts_with("postgres://");
}

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool is_blank_or_control(char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c <= 0x20 || c == 0x7f;
}

// Whether a postgresql:// or postgres:// scheme, in any case, starts anywhere after `s[0]`.
bool has_second_scheme(std::string_view s) {
    std::string lower(s.substr(s.empty() ? 0 : 1));
    std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
        return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    });
    return lower.find("postgresql://") != std::string::npos ||
           lower.find("postgres://") != std::string::npos;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_blank(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_blank(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

// An environment variable that is set, with its value.
struct Setting {
    std::string_view var;
    std::string value;
};

// The PoolConfig field each variable sets, to name the variable when a combination fails.
constexpr std::array<std::pair<std::string_view, std::string_view>, 9> kFieldOf = {{
    {"DATABASE_URL", "primary"},
    {"DATABASE_READ_REPLICAS", "replicas"},
    {"DATABASE_READ_REPLICA_WEIGHTS", "replicas"},
    {"DB_POOL_MIN", "min_connections"},
    {"DB_POOL_MAX", "max_connections"},
    {"DB_IDLE_TIMEOUT", "idle_timeout"},
    {"DB_CONNECTION_TIMEOUT", "connection_timeout"},
    {"DB_STATEMENT_TIMEOUT", "statement_timeout"},
    {"DB_QUERY_TIMEOUT", "query_timeout"},
}};

std::vector<Replica> parse_replicas(std::string_view value) {
    constexpr std::string_view kVar = "DATABASE_READ_REPLICAS";
    const auto trimmed = trim(value);
    if (trimmed.empty()) {
        bad_value(kVar, value, "expected comma-separated postgresql:// URLs");
    }
    const auto urls = split_replica_urls(trimmed);
    std::vector<Replica> replicas;
    for (std::size_t i = 0; i < urls.size(); ++i) {
        const auto& url = urls[i];
        if (!starts_with_scheme(url)) {
            throw ConfigError(fmt::format(
                "{} entry {} (\"{}\") is not valid: expected a postgresql:// or postgres:// URL "
                "(key=value strings cannot be listed here)",
                kVar, i + 1, shown(url)));
        }
        // A list separated by blanks, semicolons, newlines... is one URL to libpq, whose
        // database name (or another part) holds the next URL, password included, and would
        // show it wherever the replica is named. No URL holds a raw blank or a second scheme.
        if (std::any_of(url.begin(), url.end(), is_blank_or_control)) {
            throw ConfigError(fmt::format(
                "{} entry {} (\"{}\") is not valid: it contains a blank or a control character, "
                "which no URL has (percent-encode them in values); separate replicas with commas",
                kVar, i + 1, shown(url)));
        }
        if (has_second_scheme(url)) {
            throw ConfigError(fmt::format(
                "{} entry {} (\"{}\") is not valid: it holds more than one URL; separate "
                "replicas with commas",
                kVar, i + 1, shown(url)));
        }
        const auto last = trim(url).back();
        if (last == ',' || url.find(",,") != std::string::npos) {
            throw ConfigError(fmt::format("{} entry {} (\"{}\") is not valid: empty list item",
                                          kVar, i + 1, shown(url)));
        }
        Endpoint endpoint;
        try {
            endpoint = Endpoint::parse(url);
        } catch (const ConfigError& e) {
            throw ConfigError(fmt::format("{} entry {}: {}", kVar, i + 1, e.what()));
        }
        if (endpoint.dbname().find(',') != std::string::npos) {
            throw ConfigError(fmt::format(
                "{} entry {} (\"{}\") is not valid: its database name contains a comma; write "
                "each replica as a full postgresql:// URL",
                kVar, i + 1, shown(url)));
        }
        replicas.push_back(Replica{std::move(endpoint), 1});
    }
    return replicas;
}

void apply_weights(std::vector<Replica>& replicas, std::string_view value) {
    constexpr std::string_view kVar = "DATABASE_READ_REPLICA_WEIGHTS";
    std::vector<unsigned> weights;
    std::string_view rest = value;
    while (true) {
        const auto comma = rest.find(',');
        weights.push_back(
            static_cast<unsigned>(parse_number(kVar, rest.substr(0, comma), 1, kMaxReplicaWeight,
                                               "comma-separated weights, each a whole number")));
        if (comma == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(comma + 1);
    }
    if (weights.size() != replicas.size()) {
        throw ConfigError(fmt::format(
            "{}=\"{}\" is not valid: it lists {} weight{} for {} replica{} (one weight per "
            "DATABASE_READ_REPLICAS entry, same order)",
            kVar, shown(value), weights.size(), weights.size() == 1 ? "" : "s", replicas.size(),
            replicas.size() == 1 ? "" : "s"));
    }
    for (std::size_t i = 0; i < weights.size(); ++i) {
        replicas[i].weight = weights[i];
    }
}

constexpr std::string_view kMillis = "milliseconds";

// Levenshtein distance: insertions, deletions and substitutions each count one.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    std::iota(row.begin(), row.end(), std::size_t{0});
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] =
                std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

// Two edits catch a dropped, doubled or swapped letter without claiming the DB_HOST, DB_USER or
// DATABASE_NAME of other software (all at least three edits from every name sparc reads).
constexpr std::size_t kTypoDistance = 2;

// Whether `name` looks like a variable meant for sparc: in a family sparc owns, or a typo of a
// name it reads.
bool claimed_by_sparc(std::string_view name) {
    if (!name.starts_with("DB_") && !name.starts_with("DATABASE_")) {
        return false;
    }
    return name.starts_with("DB_POOL_") || name.starts_with("DATABASE_READ_") ||
           (name.starts_with("DB_") && name.find("_TIMEOUT") != std::string_view::npos) ||
           closest_environment_variable(name).second <= kTypoDistance;
}

std::vector<std::string_view> name_words(std::string_view name) {
    std::vector<std::string_view> words;
    while (!name.empty()) {
        const auto cut = name.find('_');
        if (cut != 0) words.push_back(name.substr(0, cut));
        if (cut == std::string_view::npos) break;
        name.remove_prefix(cut + 1);
    }
    return words;
}

// Whether two words of a variable name say the same: equal, or the shorter abbreviates the
// longer (its letters in order, the first one first: CONN, STMT, MAX for MAXIMUM).
bool same_word(std::string_view a, std::string_view b) {
    if (a.size() > b.size()) std::swap(a, b);
    if (a.size() < 2 || a.front() != b.front()) return a == b;
    std::size_t at = 0;
    for (const char c : a) {
        at = b.find(c, at);
        if (at == std::string_view::npos) return false;
        ++at;
    }
    return true;
}

// What to suggest for an unknown `name`: the known name a typo away, or else the known names
// sharing the most words with it (fewest words of their own left over), all of them when
// several tie; the nearest by edit distance when no name shares more than one word.
std::vector<std::string_view> suggested_variables(std::string_view name) {
    const auto [closest, distance] = closest_environment_variable(name);
    if (distance <= kTypoDistance) return {closest};
    const auto words = name_words(name);
    std::size_t best_shared = 0;
    std::size_t best_left = 0;
    std::vector<std::string_view> best;
    for (const auto var : kEnvironmentVariables) {
        const auto own = name_words(var);
        std::size_t shared = 0;
        for (std::size_t i = 0; i < words.size(); ++i) {
            // The first word is the family (DB, DATABASE): it counts only when equal.
            if (i == 0 ? !own.empty() && own.front() == words[0]
                       : std::any_of(own.begin() + 1, own.end(),
                                     [&](std::string_view o) { return same_word(words[i], o); })) {
                ++shared;
            }
        }
        const std::size_t left = own.size() > shared ? own.size() - shared : 0;
        if (shared > best_shared || (shared == best_shared && left < best_left)) {
            best = {var};
            best_shared = shared;
            best_left = left;
        } else if (shared == best_shared && left == best_left) {
            best.push_back(var);
        }
    }
    if (best_shared <= 1) return {closest};
    return best;
}

// "A", "A or B", "A, B or C".
std::string or_list(const std::vector<std::string_view>& names) {
    std::string out;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
        out += names[i];
    }
    return out;
}

// Throws for every name in `env` that sparc would be expected to read but does not.
void check_unknown_variables(const EnvironmentSource& env) {
    const auto names = env.names();
    if (!names) {
        return;
    }
    std::vector<std::string> unknown;
    for (const auto& name : *names) {
        const bool known = std::find(kEnvironmentVariables.begin(), kEnvironmentVariables.end(),
                                     name) != kEnvironmentVariables.end();
        if (!known && claimed_by_sparc(name)) {
            unknown.push_back(name);
        }
    }
    if (unknown.empty()) {
        return;
    }
    std::sort(unknown.begin(), unknown.end());
    std::string listed;
    for (const auto& name : unknown) {
        if (!listed.empty()) {
            listed += "; ";
        }
        listed +=
            fmt::format("{} (did you mean {}?)", shown(name), or_list(suggested_variables(name)));
    }
    std::string known;
    for (const auto var : kEnvironmentVariables) {
        if (!known.empty()) {
            known += ", ";
        }
        known += var;
    }
    throw ConfigError(
        fmt::format("unknown environment variable{} {}: sparc reads {} (see docs/configuration.md)",
                    unknown.size() == 1 ? "" : "s", listed, known));
}

}  // namespace

std::pair<std::string_view, std::size_t> closest_environment_variable(std::string_view name) {
    std::pair<std::string_view, std::size_t> best{kEnvironmentVariables.front(),
                                                  edit_distance(name, kEnvironmentVariables[0])};
    for (const auto var : kEnvironmentVariables) {
        const auto d = edit_distance(name, var);
        if (d < best.second) {
            best = {var, d};
        }
    }
    return best;
}

EnvironmentSource process_environment() {
    auto lookup = [](std::string_view name) -> std::optional<std::string> {
        const std::string key(name);
        if (const char* v = std::getenv(key.c_str())) {
            return std::string(v);
        }
        return std::nullopt;
    };
    auto names = [] {
        std::vector<std::string> out;
        for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
            const std::string_view line(*entry);
            out.emplace_back(line.substr(0, line.find('=')));
        }
        return out;
    };
    return {lookup, names};
}

EnvironmentSource fixed_environment(std::map<std::string, std::string, std::less<>> variables) {
    auto vars = std::make_shared<const std::map<std::string, std::string, std::less<>>>(
        std::move(variables));
    auto lookup = [vars](std::string_view name) -> std::optional<std::string> {
        if (const auto it = vars->find(name); it != vars->end()) {
            return it->second;
        }
        return std::nullopt;
    };
    auto names = [vars] {
        std::vector<std::string> out;
        out.reserve(vars->size());
        for (const auto& [name, value] : *vars) {
            out.push_back(name);
        }
        return out;
    };
    return {lookup, names};
}

std::vector<std::string> split_replica_urls(std::string_view value) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] != ',') {
            continue;
        }
        auto j = i + 1;
        while (j < value.size() && is_blank(value[j])) {
            ++j;
        }
        if (starts_with_scheme(value.substr(j))) {
            out.emplace_back(trim(value.substr(start, i - start)));
            start = j;
            i = j - 1;
        }
    }
    out.emplace_back(trim(value.substr(start)));
    return out;
}

std::vector<std::string> environment_overrides(const EnvironmentSource& env) {
    std::vector<std::string> out;
    for (const auto var : kEnvironmentVariables) {
        if (env(var)) {
            out.emplace_back(var);
        }
    }
    return out;
}

nlohmann::json describe_config(const PoolConfig& config, const EnvironmentSource& env) {
    nlohmann::json j = config;
    j["connection_url"] = redacted_connection_url(config);
    j["environment"] = environment_overrides(env);
    return j;
}

void apply_environment(PoolConfig& config, const EnvironmentSource& env) {
    check_unknown_variables(env);
    PoolConfig c = config;
    std::vector<Setting> applied;
    auto get = [&](std::string_view var) -> std::optional<std::string> {
        auto v = env(var);
        if (v) {
            applied.push_back({var, *v});
        }
        return v;
    };

    if (auto v = get("DATABASE_URL")) {
        if (v->empty()) {
            bad_value("DATABASE_URL", *v,
                      "expected a postgresql:// URL or a libpq key=value string");
        }
        // A replica list pasted here is one connection string to libpq, with the next URL
        // (and its password) in the database name.
        if (has_second_scheme(*v)) {
            bad_value("DATABASE_URL", *v,
                      "it holds more than one URL; DATABASE_URL names one server (list "
                      "replicas in DATABASE_READ_REPLICAS, separated by commas)");
        }
        try {
            c.primary = Endpoint::parse(*v);
        } catch (const ConfigError& e) {
            throw ConfigError(fmt::format("DATABASE_URL: {}", e.what()));
        }
    }
    if (auto v = get("DATABASE_READ_REPLICAS")) {
        c.replicas = parse_replicas(*v);
    }
    if (auto v = get("DATABASE_READ_REPLICA_WEIGHTS")) {
        if (c.replicas.empty()) {
            throw ConfigError(fmt::format(
                "DATABASE_READ_REPLICA_WEIGHTS=\"{}\" is set but there are no replicas to weigh "
                "(set DATABASE_READ_REPLICAS)",
                shown(*v)));
        }
        apply_weights(c.replicas, *v);
    }
    if (auto v = get("DB_POOL_MIN")) {
        c.min_connections = parse_number("DB_POOL_MIN", *v, 0, kMaxConnectionsLimit,
                                         "a whole number of connections");
    }
    if (auto v = get("DB_POOL_MAX")) {
        c.max_connections = parse_number("DB_POOL_MAX", *v, 1, kMaxConnectionsLimit,
                                         "a whole number of connections");
    }
    const auto max_ms = static_cast<std::uint64_t>(kMaxTimeout.count());
    auto duration = [&](std::string_view var, milliseconds& field) {
        if (auto v = get(var)) {
            field = milliseconds(
                static_cast<milliseconds::rep>(parse_number(var, *v, 1, max_ms, kMillis)));
        }
    };
    duration("DB_IDLE_TIMEOUT", c.idle_timeout);
    duration("DB_CONNECTION_TIMEOUT", c.connection_timeout);
    duration("DB_STATEMENT_TIMEOUT", c.statement_timeout);
    duration("DB_QUERY_TIMEOUT", c.query_timeout);

    try {
        c.validate();
    } catch (const ConfigError& e) {
        // Name the variables behind the fields the message mentions.
        const std::string what = e.what();
        std::string sources;
        for (const auto& s : applied) {
            const auto field = std::find_if(kFieldOf.begin(), kFieldOf.end(),
                                            [&](const auto& p) { return p.first == s.var; });
            if (field == kFieldOf.end() || what.find(field->second) == std::string::npos) {
                continue;
            }
            if (!sources.empty()) {
                sources += ", ";
            }
            sources += fmt::format("{}=\"{}\"", s.var, shown(s.value));
        }
        if (sources.empty()) {
            throw;
        }
        throw ConfigError(fmt::format("{} [from the environment: {}]", what, sources));
    }
    config = std::move(c);
}

ServiceRegistry::ServiceRegistry(const std::vector<std::pair<std::string, PoolConfig>>& services) {
    for (const auto& [name, defaults] : services) {
        add(name, defaults);
    }
}

ServiceRegistry& ServiceRegistry::global() {
    static ServiceRegistry registry(builtin_services());
    return registry;
}

std::optional<PoolConfig> ServiceRegistry::find(std::string_view service) const {
    const std::shared_lock lock(mutex_);
    if (const auto it = services_.find(service); it != services_.end()) {
        return it->second;
    }
    return std::nullopt;
}

PoolConfig ServiceRegistry::defaults(std::string_view service) const {
    const std::shared_lock lock(mutex_);
    if (const auto it = services_.find(service); it != services_.end()) {
        return it->second;
    }
    std::string known;
    for (const auto& [name, config] : services_) {
        if (!known.empty()) {
            known += ", ";
        }
        known += name;
    }
    throw ConfigError(fmt::format("unknown service \"{}\"; known services: {}", shown(service),
                                  known.empty() ? "(none)" : known));
}

bool ServiceRegistry::contains(std::string_view service) const {
    const std::shared_lock lock(mutex_);
    return services_.find(service) != services_.end();
}

void ServiceRegistry::add(std::string_view service, PoolConfig defaults) {
    defaults.service_name = std::string(service);
    if (defaults.application_name.empty()) {
        defaults.application_name = defaults.service_name;
    }
    defaults.validate();  // outside the lock: it may take a while and touches nothing shared
    const std::unique_lock lock(mutex_);
    services_.insert_or_assign(std::string(service), std::move(defaults));
}

bool ServiceRegistry::remove(std::string_view service) {
    const std::unique_lock lock(mutex_);
    const auto it = services_.find(service);
    if (it == services_.end()) {
        return false;
    }
    services_.erase(it);
    return true;
}

std::vector<std::string> ServiceRegistry::services() const {
    const std::shared_lock lock(mutex_);
    std::vector<std::string> names;
    names.reserve(services_.size());
    for (const auto& [name, config] : services_) {
        names.push_back(name);
    }
    return names;
}

PoolConfig ServiceRegistry::pool_config(std::string_view service,
                                        const EnvironmentSource& env) const {
    PoolConfig config = defaults(service);
    apply_environment(config, env);
    // libpq's defaults (a local socket, the login name) would quietly connect somewhere nobody
    // chose; an empty DATABASE_URL-less primary is a missing setting, not a choice.
    if (config.primary == Endpoint{} && !env("DATABASE_URL")) {
        throw ConfigError(fmt::format(
            "no primary server for service \"{}\": DATABASE_URL is not set and the registry "
            "names none; set DATABASE_URL=postgresql://user:password@host:port/dbname (or "
            "DATABASE_URL=postgresql:// to use libpq's defaults and PGHOST, PGPORT, PGDATABASE, "
            "PGUSER, PGPASSWORD)",
            shown(service)));
    }
    return config;
}

std::vector<std::pair<std::string, PoolConfig>> builtin_services() {
    std::vector<std::pair<std::string, PoolConfig>> out;
    out.reserve(kBuiltinServices.size());
    for (const auto& d : kBuiltinServices) {
        out.emplace_back(std::string(d.name), to_config(d));
    }
    return out;
}

PoolConfig pool_config(std::string_view service) {
    return pool_config(service, process_environment());
}

PoolConfig pool_config(std::string_view service, const EnvironmentSource& env) {
    return ServiceRegistry::global().pool_config(service, env);
}

PoolConfig registry_defaults(std::string_view service) {
    return ServiceRegistry::global().defaults(service);
}

void register_service(std::string_view service, PoolConfig defaults) {
    ServiceRegistry::global().add(service, std::move(defaults));
}

std::vector<std::string> registered_services() { return ServiceRegistry::global().services(); }

}  // namespace sparc::db
