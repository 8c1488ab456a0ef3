#include "monitoring_command.hpp"

#include <sparc/db/metrics.hpp>
#include <sparc/db/monitoring.hpp>

#include <charconv>
#include <chrono>
#include <exception>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sparc::tools {

namespace {

namespace db = sparc::db;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

int usage_error(std::string_view message) {
    std::cerr << "sparc-db monitoring: " << message << "\nTry 'sparc-db monitoring --help'.\n";
    return kExitUsage;
}

template <typename T>
std::optional<T> parse_number(std::string_view text) {
    T value{};
    const auto* end = text.data() + text.size();
    const auto r = std::from_chars(text.data(), end, value);
    if (r.ec != std::errc{} || r.ptr != end || text.empty()) return std::nullopt;
    return value;
}

}  // namespace

int run_monitoring(std::span<const std::string_view> args) {
    db::MonitoringOptions options;
    std::optional<std::string> out;
    bool list = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const auto arg = args[i];
        auto value = [&]() -> std::optional<std::string_view> {
            if (i + 1 >= args.size()) return std::nullopt;
            return args[++i];
        };
        if (arg == "--list-metrics") {
            list = true;
            continue;
        }
        const bool takes_value = arg == "--out" || arg == "-o" || arg == "--selector" ||
                                 arg == "--utilization-warning" || arg == "--query-p95-target-ms" ||
                                 arg == "--replica-lag-ms" || arg == "--runbook-url";
        if (!takes_value) return usage_error("unknown argument '" + std::string(arg) + "'");
        const auto v = value();
        if (!v) return usage_error(std::string(arg) + " needs a value");
        if (arg == "--out" || arg == "-o") {
            out = std::string(*v);
        } else if (arg == "--selector") {
            try {
                options.selector = db::normalize_selector(*v);
            } catch (const std::invalid_argument& e) {
                return usage_error(std::string("--selector: ") + e.what());
            }
        } else if (arg == "--runbook-url") {
            options.runbook_url = std::string(*v);
        } else if (arg == "--utilization-warning") {
            const auto r = parse_number<double>(*v);
            if (!r || *r <= 0.0 || *r > 1.0) {
                return usage_error("--utilization-warning takes a ratio in (0, 1]");
            }
            options.utilization_warning = *r;
        } else {
            const auto ms = parse_number<std::int64_t>(*v);
            if (!ms || *ms <= 0) {
                return usage_error(std::string(arg) + " takes a positive number of milliseconds");
            }
            (arg == "--replica-lag-ms" ? options.replica_lag_threshold : options.query_p95_target) =
                std::chrono::milliseconds(*ms);
        }
    }
    if (list) {
        if (out) return usage_error("--list-metrics takes no --out");
        for (const auto& name : db::exported_metric_names()) std::cout << name << '\n';
        return kExitOk;
    }
    if (!out || out->empty()) return usage_error("--out DIR is required");
    try {
        for (const auto& path : db::write_monitoring_files(*out, options)) {
            std::cout << "wrote " << path.string() << '\n';
        }
    } catch (const std::exception& e) {
        std::cerr << "sparc-db monitoring: " << e.what() << '\n';
        return kExitFailure;
    }
    return kExitOk;
}

}  // namespace sparc::tools

int run_monitoring_command(int argc, char** argv) {
    const std::vector<std::string_view> args(argv + (argc > 0 ? 1 : 0), argv + argc);
    for (const auto arg : args) {
        if (arg == "--help" || arg == "-h") {
            std::cout << sparc::tools::kMonitoringHelp;
            return 0;
        }
    }
    return sparc::tools::run_monitoring(args);
}
