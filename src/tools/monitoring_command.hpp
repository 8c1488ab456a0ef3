#pragma once
// The `sparc-db monitoring` subcommand: writes the Grafana dashboard and the Prometheus alert
// rules generated from the pool's metric names.

#include <span>
#include <string_view>

namespace sparc::tools {

/// The subcommand's --help text.
inline constexpr std::string_view kMonitoringHelp =
    R"(Usage: sparc-db monitoring --out DIR [OPTIONS]
       sparc-db monitoring --list-metrics

Writes DIR/grafana-dashboard.json (a Grafana dashboard templated by service) and
DIR/alert-rules.yml (Prometheus alerting rules), both generated from the metric names
the pool exports, so they match what metrics_text() serves.

Options:
  -o, --out DIR                 directory to write (created if missing)
  --selector MATCHERS           extra label matchers for every query, e.g. 'env="prod"':
                                PromQL matchers without braces, comma-separated (name,
                                = != =~ or !~, quoted value); checked as promtool reads them
  --utilization-warning RATIO   SparcDbPoolUtilizationHigh threshold (default 0.8)
  --query-p95-target-ms MS      SparcDbSlowQueries threshold (default 50)
  --replica-lag-ms MS           SparcDbReplicaLagHigh threshold (default 10000)
  --runbook-url URL             add runbook_url annotations (URL#AlertName)
  --list-metrics                print the exported metric names, one per line, and exit
  -h, --help                    show this help

Exit status: 0 success, 1 the files could not be written, 2 usage error.
)";

/// Runs `sparc-db monitoring ARGS...` (ARGS without the command name). Exit status: 0 success,
/// 1 the files could not be written, 2 usage error.
int run_monitoring(std::span<const std::string_view> args);

}  // namespace sparc::tools

/// Runs the subcommand from a main()-style argument vector whose argv[0] is the command name
/// ("monitoring"). Same exit status as sparc::tools::run_monitoring().
int run_monitoring_command(int argc, char** argv);
