// sparc-db: inspect sparc::db configuration from the command line.
//
// Exit status: 0 success, 1 invalid configuration (the ConfigError text on stderr), 2 usage error.

#include <sparc/db/errors.hpp>
#include <sparc/db/registry.hpp>

#include <algorithm>
#include <array>
#include <exception>
#include <iostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "monitoring_command.hpp"

namespace {

namespace db = sparc::db;

constexpr int kExitOk = 0;
constexpr int kExitConfigError = 1;
constexpr int kExitUsage = 2;

using Args = std::span<const std::string_view>;

struct Command {
    std::string_view name;
    std::string_view synopsis;  // arguments, after "sparc-db NAME"
    std::string_view summary;
    std::string_view help;  // printed by "sparc-db NAME --help"
    int (*run)(Args args);
};

int usage_error(std::string_view message, std::string_view hint = "sparc-db --help") {
    std::cerr << "sparc-db: " << message << "\nTry '" << hint << "'.\n";
    return kExitUsage;
}

bool is_help(std::string_view arg) { return arg == "--help" || arg == "-h"; }

void print_json(const nlohmann::json& j) {
    // Connection options are bytes, not necessarily UTF-8: replace what JSON cannot carry.
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
}

int run_config(Args args) {
    bool list = false;
    std::vector<std::string_view> services;
    for (const auto arg : args) {
        if (arg == "--list" || arg == "-l") {
            list = true;
        } else if (arg.starts_with("-")) {
            return usage_error("config: unknown option '" + std::string(arg) + "'",
                               "sparc-db config --help");
        } else {
            services.push_back(arg);
        }
    }
    if (list && !services.empty()) {
        return usage_error("config: --list takes no SERVICE", "sparc-db config --help");
    }
    if (services.size() > 1) {
        return usage_error("config: at most one SERVICE", "sparc-db config --help");
    }

    if (list) {
        for (const auto& name : db::registered_services()) {
            std::cout << name << '\n';
        }
        return kExitOk;
    }
    const auto env = db::process_environment();
    try {
        if (services.size() == 1) {
            print_json(db::describe_config(db::pool_config(services.front(), env), env));
        } else {
            nlohmann::json all = nlohmann::json::object();
            for (const auto& name : db::registered_services()) {
                all[name] = db::describe_config(db::pool_config(name, env), env);
            }
            print_json(all);
        }
    } catch (const db::ConfigError& e) {
        std::cerr << "sparc-db: " << e.what() << '\n';
        return kExitConfigError;
    }
    return kExitOk;
}

constexpr std::string_view kConfigHelp =
    R"(Usage: sparc-db config [SERVICE]
       sparc-db config --list

Prints the effective pool configuration of SERVICE as JSON: the service's registry
defaults with the environment applied on top. Without SERVICE, prints every registered
service, keyed by name. Passwords are masked.

Environment (see docs/configuration.md):
  DATABASE_URL                   primary, postgresql:// URL or libpq key=value string
  DATABASE_READ_REPLICAS         comma-separated replica URLs
  DATABASE_READ_REPLICA_WEIGHTS  comma-separated weights, same order
  DB_POOL_MIN, DB_POOL_MAX       connection counts
  DB_IDLE_TIMEOUT, DB_CONNECTION_TIMEOUT, DB_STATEMENT_TIMEOUT, DB_QUERY_TIMEOUT
                                 milliseconds

Options:
  -l, --list   list the registered services, one per line
  -h, --help   show this help

Exit status: 0 success, 1 invalid configuration (reason on stderr), 2 usage error.
)";

// Add a subcommand here: the help and the dispatch both come from this table.
constexpr std::array kCommands = {
    Command{"config", "[SERVICE] | --list", "print the effective configuration as JSON",
            kConfigHelp, run_config},
    Command{"monitoring", "--out DIR | --list-metrics",
            "write the Grafana dashboard and Prometheus alert rules", sparc::tools::kMonitoringHelp,
            sparc::tools::run_monitoring},
};

void print_help(std::ostream& out) {
    out << "Usage: sparc-db COMMAND [ARGS...]\n\n"
           "Inspects sparc::db connection pool configuration.\n\nCommands:\n";
    std::size_t width = 0;
    for (const auto& c : kCommands) {
        width = std::max(width, c.name.size() + c.synopsis.size() + 1);
    }
    for (const auto& c : kCommands) {
        const std::string head = std::string(c.name) + ' ' + std::string(c.synopsis);
        out << "  " << head << std::string(width - head.size() + 3, ' ') << c.summary << '\n';
    }
    out << "\nRun 'sparc-db COMMAND --help' for a command's options.\n"
           "Exit status: 0 success, 1 invalid configuration, 2 usage error.\n";
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string_view> args(argv + 1, argv + argc);
    if (args.empty()) {
        print_help(std::cerr);
        return kExitUsage;
    }
    if (is_help(args.front()) || args.front() == "help") {
        print_help(std::cout);
        return kExitOk;
    }
    const auto* command = std::find_if(kCommands.begin(), kCommands.end(),
                                       [&](const Command& c) { return c.name == args.front(); });
    if (command == kCommands.end()) {
        return usage_error("unknown command '" + std::string(args.front()) + "'");
    }
    const Args rest(args.begin() + 1, args.end());
    if (std::any_of(rest.begin(), rest.end(), is_help)) {
        std::cout << command->help;
        return kExitOk;
    }
    try {
        return command->run(rest);
    } catch (const std::exception& e) {
        std::cerr << "sparc-db: " << e.what() << '\n';
        return kExitConfigError;
    }
}
