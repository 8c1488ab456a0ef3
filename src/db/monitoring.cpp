#include <sparc/db/monitoring.hpp>

#include <sparc/db/metrics.hpp>

#include <fstream>
#include <regex>
#include <set>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace sparc::db {

namespace {

namespace names = metric_names;
using nlohmann::json;

double seconds(std::chrono::milliseconds d) { return std::chrono::duration<double>(d).count(); }

// `name{matchers}`, leaving out the braces when there are no matchers.
std::string series(std::string_view name, std::string_view a, std::string_view b = {}) {
    std::string matchers(a);
    if (!b.empty()) {
        if (!matchers.empty()) matchers += ',';
        matchers += b;
    }
    if (matchers.empty()) return std::string(name);
    return fmt::format("{}{{{}}}", name, matchers);
}

std::string bucket(std::string_view histogram) { return std::string(histogram) + "_bucket"; }

// ---- Dashboard ----

constexpr int kFullWidth = 24;
constexpr int kPanelHeight = 8;

struct Target {
    std::string expr;
    std::string legend;
};

class Dashboard {
  public:
    explicit Dashboard(const MonitoringOptions& options) : options_(options) {}

    // A selector on the dashboard's service variable (and the configured extra matchers).
    std::string sel(std::string_view name, std::string_view extra = {}) const {
        std::string matchers = "service=~\"$service\"";
        if (!options_.selector.empty()) matchers += "," + options_.selector;
        return series(name, matchers, extra);
    }

    void row(std::string_view title) {
        next_line();
        panels_.push_back({{"id", next_id_++},
                           {"type", "row"},
                           {"title", title},
                           {"collapsed", false},
                           {"gridPos", {{"h", 1}, {"w", kFullWidth}, {"x", 0}, {"y", y_}}},
                           {"panels", json::array()}});
        y_ += 1;
    }

    json& timeseries(std::string_view title, std::string_view description, std::string_view unit,
                     const std::vector<Target>& targets, int width = 12) {
        json& p = panel("timeseries", title, description, targets, width);
        p["fieldConfig"] = {
            {"defaults",
             {{"unit", unit},
              {"min", 0},
              {"custom", {{"lineWidth", 1}, {"fillOpacity", 10}, {"showPoints", "never"}}}}},
            {"overrides", json::array()}};
        p["options"] = {
            {"legend", {{"displayMode", "table"}, {"placement", "bottom"}, {"showLegend", true}}},
            {"tooltip", {{"mode", "multi"}, {"sort", "desc"}}}};
        return p;
    }

    json& panel(std::string_view type, std::string_view title, std::string_view description,
                const std::vector<Target>& targets, int width) {
        if (x_ + width > kFullWidth) next_line();
        json t = json::array();
        char ref = 'A';
        for (const auto& target : targets) {
            t.push_back({{"refId", std::string(1, ref++)},
                         {"datasource", datasource()},
                         {"expr", target.expr},
                         {"legendFormat", target.legend}});
        }
        panels_.push_back({{"id", next_id_++},
                           {"type", type},
                           {"title", title},
                           {"description", description},
                           {"datasource", datasource()},
                           {"gridPos", {{"h", kPanelHeight}, {"w", width}, {"x", x_}, {"y", y_}}},
                           {"targets", std::move(t)}});
        x_ += width;
        line_height_ = kPanelHeight;
        return panels_.back();
    }

    static json datasource() { return {{"type", "prometheus"}, {"uid", "${datasource}"}}; }

    static void threshold_line(json& panel, double value, std::string_view color = "red") {
        auto& defaults = panel["fieldConfig"]["defaults"];
        defaults["thresholds"] = {{"mode", "absolute"},
                                  {"steps", json::array({{{"color", "green"}, {"value", nullptr}},
                                                         {{"color", color}, {"value", value}}})}};
        defaults["custom"]["thresholdsStyle"] = {{"mode", "line"}};
    }

    json build() && {
        json variables = json::array();
        variables.push_back({{"name", "datasource"},
                             {"label", "Data source"},
                             {"type", "datasource"},
                             {"query", "prometheus"},
                             {"hide", 0},
                             {"refresh", 1},
                             {"current", json::object()}});
        const std::string services = fmt::format(
            "label_values({}, service)", options_.selector.empty()
                                             ? std::string(names::kConnectionsMax)
                                             : series(names::kConnectionsMax, options_.selector));
        variables.push_back({{"name", "service"},
                             {"label", "Service"},
                             {"type", "query"},
                             {"datasource", datasource()},
                             {"definition", services},
                             {"query", {{"query", services}, {"refId", "service"}}},
                             {"multi", true},
                             {"includeAll", true},
                             {"allValue", ".+"},
                             {"refresh", 2},
                             {"sort", 1},
                             {"hide", 0},
                             {"current", json::object()}});
        return {{"title", options_.dashboard_title},
                {"uid", options_.dashboard_uid},
                {"description",
                 "sparc::db connection pools: capacity, latency, errors, transactions and "
                 "replicas. Generated by sparc (sparc-db monitoring)."},
                {"tags", json::array({"sparc", "postgresql", "connection-pool"})},
                {"schemaVersion", 37},
                {"version", 1},
                {"editable", true},
                {"graphTooltip", 1},
                {"timezone", "browser"},
                {"time", {{"from", "now-6h"}, {"to", "now"}}},
                {"refresh", "30s"},
                {"templating", {{"list", std::move(variables)}}},
                {"annotations", {{"list", json::array()}}},
                {"links", json::array()},
                {"panels", std::move(panels_)}};
    }

  private:
    void next_line() {
        if (x_ > 0) y_ += line_height_;
        x_ = 0;
        line_height_ = 0;
    }

    const MonitoringOptions& options_;
    json panels_ = json::array();
    int next_id_ = 1;
    int x_ = 0;
    int y_ = 0;
    int line_height_ = 0;
};

std::vector<Target> percentiles(const Dashboard& d, std::string_view histogram,
                                std::string_view by) {
    std::vector<Target> out;
    for (const auto& [q, label] :
         {std::pair{"0.5", "p50"}, std::pair{"0.95", "p95"}, std::pair{"0.99", "p99"}}) {
        out.push_back({fmt::format("histogram_quantile({}, sum by ({}, le) "
                                   "(rate({}[$__rate_interval])))",
                                   q, by, d.sel(bucket(histogram))),
                       fmt::format("{} {{{{service}}}}", label)});
    }
    return out;
}

json make_dashboard(const MonitoringOptions& o) {
    Dashboard d(o);
    const auto rate = [&](std::string_view name, std::string_view extra = {}) {
        return fmt::format("rate({}[$__rate_interval])", d.sel(name, extra));
    };

    d.row("Capacity");
    auto& util = d.timeseries(
        "Pool utilisation",
        "Connections in use divided by the pool's maximum, per host. Sustained values above "
        "the line mean the pool is too small for the load (or queries hold connections too long).",
        "percentunit",
        {{fmt::format("max by (service, role, host) ({})", d.sel(names::kPoolUtilization)),
          "{{service}} {{role}} {{host}}"}},
        8);
    util["fieldConfig"]["defaults"]["max"] = 1;
    Dashboard::threshold_line(util, o.utilization_warning, "orange");
    d.timeseries("Connections by state",
                 "Open connections (idle and in use) summed over instances, and the pools' limit.",
                 "short",
                 {{fmt::format("sum by (service, role, state) ({})", d.sel(names::kConnections)),
                   "{{service}} {{role}} {{state}}"},
                  {fmt::format("sum by (service, role) ({})", d.sel(names::kConnectionsMax)),
                   "{{service}} {{role}} max"}},
                 8);
    auto& waiting = d.timeseries(
        "Waiting callers",
        "Callers queued for a connection. Non-zero with utilisation at 100% means exhaustion.",
        "short",
        {{fmt::format("sum by (service, role) ({})", d.sel(names::kWaitingRequests)),
          "{{service}} {{role}}"}},
        8);
    Dashboard::threshold_line(waiting, 1);

    d.row("Latency");
    d.timeseries("Acquire wait", "Time to lease a connection: p50, p95, p99.", "s",
                 percentiles(d, names::kAcquireWait, "service"));
    auto& query_latency =
        d.timeseries("Query latency",
                     fmt::format("Statement duration: p50, p95, p99. The line is the p95 target "
                                 "({} ms).",
                                 o.query_p95_target.count()),
                     "s", percentiles(d, names::kQueryDuration, "service"));
    Dashboard::threshold_line(query_latency, seconds(o.query_p95_target));
    d.timeseries("Transaction duration",
                 "transaction() calls, retries and backoff included: p50, p95, p99.", "s",
                 percentiles(d, names::kTransactionDuration, "service"));
    d.timeseries("Query p95 by host", "p95 statement duration per host (primary vs replicas).", "s",
                 {{fmt::format("histogram_quantile(0.95, sum by (service, role, host, le) ({}))",
                               rate(bucket(names::kQueryDuration))),
                   "{{service}} {{role}} {{host}}"}});

    d.row("Throughput and errors");
    d.timeseries("Statements by outcome",
                 "Statements per second: ok, sql_error, timeout, connection_error.", "ops",
                 {{fmt::format("sum by (service, outcome) ({})", rate(names::kQueries)),
                   "{{service}} {{outcome}}"}},
                 8);
    d.timeseries("Errors by SQLSTATE class",
                 "Failed statements per second by SQLSTATE class (23 integrity, 40 rollback, "
                 "57 cancel/timeout, 08 connection, ...).",
                 "ops",
                 {{fmt::format("sum by (service, sqlstate_class) ({})", rate(names::kQueryErrors)),
                   "{{service}} {{sqlstate_class}}"}},
                 8);
    d.timeseries(
        "Timeouts and connection errors",
        "Acquires that timed out, statements that timed out, and failed or broken connections.",
        "ops",
        {{fmt::format("sum by (service) ({})", rate(names::kPoolTimeouts)),
          "{{service}} pool timeouts"},
         {fmt::format("sum by (service) ({})", rate(names::kQueries, "outcome=\"timeout\"")),
          "{{service}} query timeouts"},
         {fmt::format("sum by (service, host) ({})", rate(names::kConnectionErrors)),
          "{{service}} connection errors {{host}}"}},
        8);

    d.row("Transactions");
    d.timeseries("Transactions by outcome",
                 "transaction() calls per second: committed, rolled_back, failed, and unknown "
                 "(COMMIT sent, outcome unknown: needs reconciliation).",
                 "ops",
                 {{fmt::format("sum by (service, outcome) ({})", rate(names::kTransactions)),
                   "{{service}} {{outcome}}"}});
    d.timeseries("Retries by reason",
                 "Transaction attempts retried per second: serialization_failure, deadlock, "
                 "connection_lost, aborted_commit, user.",
                 "ops",
                 {{fmt::format("sum by (service, reason) ({})", rate(names::kTransactionRetries)),
                   "{{service}} {{reason}}"}});

    d.row("Hosts and replicas");
    auto& status = d.panel(
        "stat", "Host status",
        "Whether each host answers its health checks (per instance: the worst view is shown).",
        {{fmt::format("min by (service, role, host) ({})", d.sel(names::kHostUp)),
          "{{service}} {{role}} {{host}}"}},
        8);
    status["fieldConfig"] = {
        {"defaults",
         {{"mappings",
           json::array({{{"type", "value"},
                         {"options",
                          {{"0", {{"text", "DOWN"}, {"color", "red"}, {"index", 0}}},
                           {"1", {{"text", "UP"}, {"color", "green"}, {"index", 1}}}}}}})},
          {"thresholds",
           {{"mode", "absolute"},
            {"steps", json::array({{{"color", "red"}, {"value", nullptr}},
                                   {{"color", "green"}, {"value", 1}}})}}}}},
        {"overrides", json::array()}};
    status["options"] = {
        {"colorMode", "background"},
        {"graphMode", "none"},
        {"textMode", "value_and_name"},
        {"justifyMode", "auto"},
        {"orientation", "horizontal"},
        {"reduceOptions",
         {{"calcs", json::array({"lastNotNull"})}, {"fields", ""}, {"values", false}}}};
    auto& lag = d.timeseries(
        "Replication lag", "Replay lag of each replica (from the pool's health checks).", "s",
        {{fmt::format("max by (service, host) ({})", d.sel(names::kReplicationLag)),
          "{{service}} {{host}}"}},
        8);
    Dashboard::threshold_line(lag, seconds(o.replica_lag_threshold));
    d.timeseries("Connection churn and leaks",
                 "Connections opened and closed per second, leaked leases and hook errors.", "ops",
                 {{fmt::format("sum by (service, role) ({})", rate(names::kConnectionsOpened)),
                   "{{service}} {{role}} opened"},
                  {fmt::format("sum by (service, role) ({})", rate(names::kConnectionsClosed)),
                   "{{service}} {{role}} closed"},
                  {fmt::format("sum by (service) ({})", rate(names::kLeakedLeases)),
                   "{{service}} leaked leases"},
                  {fmt::format("sum by (service) ({})", rate(names::kHookErrors)),
                   "{{service}} hook errors"}},
                 8);
    return std::move(d).build();
}

// ---- Alert rules ----

struct Alert {
    std::string_view name;
    std::string expr;
    std::string_view for_duration;
    std::string_view severity;
    std::string summary;
    std::string description;
};

// YAML double-quoted scalars accept JSON string syntax, which escapes everything needed.
std::string yaml_string(std::string_view s) { return json(s).dump(); }

// A percentage without trailing zeros ("80", "95", "87.5").
std::string percent(double ratio) { return fmt::format("{}", ratio * 100.0); }

std::vector<Alert> make_alerts(const MonitoringOptions& o) {
    const std::string_view extra = o.selector;
    const auto sel = [&](std::string_view name, std::string_view matchers = {}) {
        return series(name, extra, matchers);
    };
    constexpr std::string_view kByHost = "service, instance, role, host";
    std::vector<Alert> alerts;
    alerts.push_back(
        {"SparcDbPoolExhausted",
         fmt::format("(max by ({0}) ({1}) > 0 and on ({0}) max by ({0}) ({2}) >= {3}) or on ({0}) "
                     "sum by ({0}) (increase({4}[5m])) > 0",
                     kByHost, sel(names::kWaitingRequests), sel(names::kPoolUtilization),
                     o.exhaustion_utilization, sel(names::kPoolTimeouts)),
         "2m", "critical", "Connection pool of {{ $labels.service }} is exhausted",
         "The {{ $labels.role }} pool of {{ $labels.service }} on {{ $labels.instance }} "
         "({{ $labels.host }}) has every connection in use with callers waiting, or acquires "
         "are timing out. Requests fail with PoolTimeout: raise max_connections (within the "
         "server's max_connections), shorten transactions, or find the slow queries holding "
         "connections."});
    alerts.push_back(
        {"SparcDbPoolUtilizationHigh",
         fmt::format("max by ({}) (avg_over_time({}[5m])) > {}", kByHost,
                     sel(names::kPoolUtilization), o.utilization_warning),
         "10m", "warning",
         fmt::format("Connection pool of {{{{ $labels.service }}}} is above {}% utilisation",
                     percent(o.utilization_warning)),
         "The {{ $labels.role }} pool of {{ $labels.service }} on {{ $labels.instance }} "
         "({{ $labels.host }}) averaged {{ $value | humanizePercentage }} of its connections in "
         "use over 5 minutes; little head room is left before callers queue."});
    alerts.push_back(
        {"SparcDbConnectionErrors",
         fmt::format("sum by ({}) (rate({}[5m])) > 0", kByHost, sel(names::kConnectionErrors)),
         "5m", "warning", "{{ $labels.service }} is failing to connect to {{ $labels.host }}",
         "{{ $labels.service }} on {{ $labels.instance }} has seen connection errors to the "
         "{{ $labels.role }} {{ $labels.host }} (failed connection attempts or broken sessions) "
         "for 5 minutes, now {{ $value | printf \"%.2f\" }} per second."});
    alerts.push_back(
        {"SparcDbSlowQueries",
         fmt::format("histogram_quantile(0.95, sum by (service, role, le) (rate({}[5m]))) > {}",
                     sel(bucket(names::kQueryDuration)), seconds(o.query_p95_target)),
         "10m", "warning",
         fmt::format("{{{{ $labels.service }}}} query p95 is above {} ms",
                     o.query_p95_target.count()),
         fmt::format("The 95th percentile of statement duration on the {{{{ $labels.role }}}} "
                     "of {{{{ $labels.service }}}} is {{{{ $value | humanizeDuration }}}}, "
                     "above the {} ms target, for 10 minutes.",
                     o.query_p95_target.count())});
    alerts.push_back(
        {"SparcDbPrimaryDown",
         fmt::format("max by ({}) ({}) == 0", kByHost, sel(names::kHostUp, "role=\"primary\"")),
         "1m", "critical", "Primary {{ $labels.host }} of {{ $labels.service }} is down",
         "{{ $labels.service }} on {{ $labels.instance }} cannot reach its primary "
         "{{ $labels.host }}: its health checks have failed for a minute. Writes fail."});
    alerts.push_back(
        {"SparcDbPrimaryInRecovery",
         fmt::format("max by ({}) ({}) == 1", kByHost,
                     sel(names::kHostInRecovery, "role=\"primary\"")),
         "1m", "critical", "Configured primary {{ $labels.host }} is a standby",
         "The host {{ $labels.service }} uses as its primary ({{ $labels.host }}) reports "
         "being in recovery: a failover happened or the configuration points at a replica. "
         "Writes fail with SQLSTATE 25006."});
    alerts.push_back(
        {"SparcDbReplicaDown",
         fmt::format("max by ({}) ({}) == 0", kByHost, sel(names::kHostUp, "role=\"replica\"")),
         "2m", "warning", "Replica {{ $labels.host }} of {{ $labels.service }} is down",
         "{{ $labels.service }} on {{ $labels.instance }} cannot reach replica "
         "{{ $labels.host }}; its reads go to the other replicas or the primary (health is "
         "degraded)."});
    alerts.push_back(
        {"SparcDbReplicaLagHigh",
         fmt::format("max by ({}) ({}) > {}", kByHost, sel(names::kReplicationLag),
                     seconds(o.replica_lag_threshold)),
         "5m", "warning", "Replica {{ $labels.host }} lags behind its primary",
         fmt::format("Replica {{{{ $labels.host }}}} of {{{{ $labels.service }}}} is "
                     "{{{{ $value | humanizeDuration }}}} behind (threshold {} s); reads that "
                     "exceed max_replica_lag move to other hosts.",
                     seconds(o.replica_lag_threshold))});
    alerts.push_back(
        {"SparcDbTransactionOutcomeUnknown",
         fmt::format("sum by (service, instance) (increase({}[10m])) > 0",
                     sel(names::kTransactions, "outcome=\"unknown\"")),
         "1m", "warning", "{{ $labels.service }} has transactions with an unknown outcome",
         "Transactions of {{ $labels.service }} on {{ $labels.instance }} lost their connection "
         "after COMMIT was sent (about {{ $value | printf \"%.0f\" }} in the last 10 minutes): "
         "they threw TransactionOutcomeUnknown, may or may not have committed, and need "
         "reconciliation."});
    return alerts;
}

// The options with the selector checked and without a trailing comma, which would otherwise
// meet the generator's own matchers as ",,".
MonitoringOptions checked(const MonitoringOptions& options) {
    MonitoringOptions o = options;
    o.selector = normalize_selector(options.selector);
    return o;
}

}  // namespace

std::string grafana_dashboard(const MonitoringOptions& options) {
    return make_dashboard(checked(options)).dump(2) + "\n";
}

std::string prometheus_alert_rules(const MonitoringOptions& given) {
    const MonitoringOptions options = checked(given);
    std::string out =
        "# Prometheus alerting rules for sparc::db connection pools.\n"
        "# Generated by sparc (sparc-db monitoring); regenerate rather than edit.\n"
        "groups:\n";
    out += fmt::format("  - name: {}\n    rules:\n", yaml_string(options.rule_group));
    for (const auto& a : make_alerts(options)) {
        out += fmt::format("      - alert: {}\n", a.name);
        out += fmt::format("        expr: {}\n", yaml_string(a.expr));
        out += fmt::format("        for: {}\n", a.for_duration);
        out += fmt::format("        labels:\n          severity: {}\n", a.severity);
        out += "        annotations:\n";
        out += fmt::format("          summary: {}\n", yaml_string(a.summary));
        out += fmt::format("          description: {}\n", yaml_string(a.description));
        if (!options.runbook_url.empty()) {
            out += fmt::format("          runbook_url: {}\n",
                               yaml_string(options.runbook_url + "#" + std::string(a.name)));
        }
    }
    return out;
}

std::vector<std::string> referenced_metrics(std::string_view text) {
    static const std::regex kName(R"(sparc_db_[a-zA-Z0-9_]*)");
    std::set<std::string> found;
    for (std::cregex_iterator it(text.data(), text.data() + text.size(), kName), end; it != end;
         ++it) {
        found.insert(it->str());
    }
    return {found.begin(), found.end()};
}

std::vector<std::filesystem::path> write_monitoring_files(const std::filesystem::path& dir,
                                                          const MonitoringOptions& options) {
    std::filesystem::create_directories(dir);
    std::vector<std::filesystem::path> written;
    for (const auto& [file, text] : {std::pair{kDashboardFile, grafana_dashboard(options)},
                                     std::pair{kAlertRulesFile, prometheus_alert_rules(options)}}) {
        const auto path = dir / file;
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out << text;
        out.close();
        if (!out) throw std::runtime_error(fmt::format("cannot write {}", path.string()));
        written.push_back(path);
    }
    return written;
}

}  // namespace sparc::db
