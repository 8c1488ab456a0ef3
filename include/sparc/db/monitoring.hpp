#pragma once
/// @file monitoring.hpp
/// A Grafana dashboard and Prometheus alert rules for the pool's metrics, generated from the
/// same metric names metrics_text() exports, so they cannot drift apart.

#include <array>
#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace sparc::db {

/// The design's query latency objective: p95 below 50 ms.
inline constexpr std::chrono::milliseconds kQueryP95Target{50};
/// Utilisation above which the pool is running out of head room.
inline constexpr double kUtilizationWarning = 0.8;
/// Utilisation treated as "all connections in use" for the exhaustion alert.
inline constexpr double kExhaustionUtilization = 0.95;
/// Replication lag above which the replica-lag alert fires.
inline constexpr std::chrono::milliseconds kReplicaLagAlert{10'000};

/// What the generated dashboard and rules look like: titles and thresholds.
struct MonitoringOptions {
    std::string dashboard_title = "sparc::db connection pools";  ///< Grafana title.
    std::string dashboard_uid = "sparc-db-pools";  ///< Stable uid: re-imports replace.
    std::string rule_group = "sparc-db";           ///< Prometheus rule group name.
    /// Extra label matchers for every selector, e.g. `env="prod"` (empty: none); checked by
    /// normalize_selector().
    std::string selector;
    double utilization_warning = kUtilizationWarning;              ///< SparcDbPoolUtilizationHigh.
    double exhaustion_utilization = kExhaustionUtilization;        ///< SparcDbPoolExhausted.
    std::chrono::milliseconds query_p95_target = kQueryP95Target;  ///< SparcDbSlowQueries.
    std::chrono::milliseconds replica_lag_threshold = kReplicaLagAlert;  ///< SparcDbReplicaLag.
    /// When set, each alert gets a `runbook_url` annotation: this base + "#" + alert name.
    std::string runbook_url;
};

/// The alerts prometheus_alert_rules() defines, in file order.
inline constexpr std::array<std::string_view, 9> kAlertNames = {
    "SparcDbPoolExhausted", "SparcDbPoolUtilizationHigh", "SparcDbConnectionErrors",
    "SparcDbSlowQueries",   "SparcDbPrimaryDown",         "SparcDbPrimaryInRecovery",
    "SparcDbReplicaDown",   "SparcDbReplicaLagHigh",      "SparcDbTransactionOutcomeUnknown",
};

/// Checks PromQL label matchers as promtool reads them between the braces of a selector:
/// `name op value` items separated by commas (a trailing comma allowed), the name
/// `[a-zA-Z_][a-zA-Z0-9_]*`, op one of `=`, `!=`, `=~`, `!~`, the value in double quotes,
/// single quotes (both with Go's escapes) or backquotes; no braces. Regular expressions are not
/// compiled. Returns the matchers without surrounding blanks or a trailing comma ("" for none).
/// @throws std::invalid_argument naming the character (counted from 1) and what is wrong.
std::string normalize_selector(std::string_view selector);

/// A Grafana dashboard (JSON text, schema of Grafana 9/10) over every service's pools:
/// utilisation, connections by state, waiting callers, acquire and query latency percentiles,
/// outcomes and errors, transactions and retries, replica status and lag. Templated by a
/// `datasource` and a multi-value `service` variable.
/// @throws std::invalid_argument for an invalid `options.selector` (see normalize_selector()).
std::string grafana_dashboard(const MonitoringOptions& options = {});

/// Prometheus alerting rules (YAML text, one group) for pool exhaustion, high utilisation,
/// connection errors, slow queries, hosts down, a primary in recovery, replica lag and unknown
/// transaction outcomes; each with `for`, a `severity` label and summary/description.
/// @throws std::invalid_argument for an invalid `options.selector` (see normalize_selector()).
std::string prometheus_alert_rules(const MonitoringOptions& options = {});

/// The distinct sparc_db_* names a dashboard or rules text mentions, sorted.
std::vector<std::string> referenced_metrics(std::string_view text);

/// The files write_monitoring_files() creates, relative to its directory.
inline constexpr std::string_view kDashboardFile = "grafana-dashboard.json";
/// The alert rules file write_monitoring_files() creates.
inline constexpr std::string_view kAlertRulesFile = "alert-rules.yml";

/// Writes DIR/grafana-dashboard.json and DIR/alert-rules.yml (creating DIR); returns their
/// paths. @throws std::filesystem::filesystem_error or std::runtime_error when writing fails.
std::vector<std::filesystem::path> write_monitoring_files(const std::filesystem::path& dir,
                                                          const MonitoringOptions& options = {});

}  // namespace sparc::db
