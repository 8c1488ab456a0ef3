// sparc-cdn: render the video-platform CDN stack, validate documents, match paths.

#include <cstdio>
#include <exception>
#include <filesystem>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <sparc/cdn.hpp>

#include "validate_command.hpp"

namespace {

namespace cdn = sparc::cdn;
namespace fs = std::filesystem;

constexpr int kExitOk = 0;
constexpr int kExitProblems = 1;
constexpr int kExitUsage = 2;

constexpr std::string_view kRenderUsage =
    R"(usage: sparc-cdn render [--format cloudformation|cli] --vars VARS.json --out DIR
  Render the video-platform CDN stack into DIR after checking every variable (exit 2 with
  the reason if one is wrong) and every document (exit 1 if one has problems).
  --format cloudformation  DIR/template.json, one CloudFormation template of the whole
                           stack (us-east-1), with edge-auth/ and field-encryption-provider/
                           beside it for `aws cloudformation package`. Deploys and updates.
  --format cli (default)   one NN-SERVICE-OPERATION.json per AWS API call and deploy.sh,
                           which creates the stack once (create-only: it cannot update).
  Files an earlier render left in DIR that this one does not write are removed. Prints the
  files written, one a line.
)";
constexpr std::string_view kMatchUsage = R"(usage: sparc-cdn match FILE.json PATH
  Print the path pattern of the cache behaviour serving PATH ("*" for the default), using
  CloudFront's matching rules. FILE.json as for validate.
)";

std::string usage() {
    return fmt::format(R"(usage:
  sparc-cdn render [--format cloudformation|cli] --vars VARS.json --out DIR
  sparc-cdn validate [--strict] FILE.json
  sparc-cdn match FILE.json PATH
  sparc-cdn --version
  sparc-cdn COMMAND --help

{}
{}
{}
Exit status: 0 success, 1 problems found, 2 usage, input or I/O error.
)",
                       kRenderUsage, sparc_cdn_tool::kValidateUsage, kMatchUsage);
}

class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

bool wants_help(const std::vector<std::string_view>& args) {
    for (auto a : args) {
        if (a == "--help" || a == "-h") {
            return true;
        }
    }
    return false;
}

// Runs `read`, prefixing any error with the file it concerns.
template <class F>
auto in_file(std::string_view path, F&& read) {
    try {
        return read();
    } catch (const std::exception& e) {
        throw std::runtime_error(fmt::format("{}: {}", path, e.what()));
    }
}

// Removes what an earlier render may have written to `dir` (and only that): call documents,
// deploy.sh, template.json and the code directories. Other files are left alone.
void remove_earlier_render(const fs::path& dir) {
    if (!fs::is_directory(dir)) {
        return;
    }
    static const std::regex kCallDocument(R"(\d\d-[a-z0-9]+-[a-z0-9-]+\.json)");
    for (const auto& entry : fs::directory_iterator(dir)) {
        const auto name = entry.path().filename().string();
        if (entry.is_directory() && (name == "edge-auth" || name == "field-encryption-provider")) {
            fs::remove_all(entry.path());
        } else if (entry.is_regular_file() && (name == "deploy.sh" || name == "template.json" ||
                                               std::regex_match(name, kCallDocument))) {
            fs::remove(entry.path());
        }
    }
}

// Every document of the stack must pass its validator before anything is written.
bool report_problems(const cdn::presets::VideoPlatformStack& stack) {
    std::size_t count = 0;
    const auto report = [&](std::string_view what, const std::vector<cdn::Problem>& problems) {
        for (const auto& p : problems) {
            fmt::print(stderr, "{}{}: {}\n", what, p.path, p.message);
        }
        count += problems.size();
    };
    report("distribution", cdn::validate(stack.distribution));
    report("video cache policy", cdn::validate(stack.video_cache_policy));
    report("api cache policy", cdn::validate(stack.api_cache_policy));
    report("static cache policy", cdn::validate(stack.static_cache_policy));
    report("websocket origin request policy", cdn::validate(stack.websocket_origin_request_policy));
    report("security headers policy", cdn::validate(stack.security_headers_policy));
    report("web ACL", cdn::validate(stack.web_acl));
    for (const auto& alarm : stack.alarms) {
        report(alarm.alarm_name, cdn::validate(alarm));
    }
    return count > 0;
}

int render(const std::vector<std::string_view>& args) {
    if (wants_help(args)) {
        fmt::print("{}", kRenderUsage);
        return kExitOk;
    }
    std::string vars_path;
    std::string out_dir;
    std::string format = "cli";
    for (std::size_t i = 0; i < args.size(); ++i) {
        const auto arg = args[i];
        if ((arg == "--vars" || arg == "--out" || arg == "--format") && i + 1 < args.size()) {
            (arg == "--vars"  ? vars_path
             : arg == "--out" ? out_dir
                              : format) = std::string(args[++i]);
        } else {
            throw UsageError(fmt::format("render: unexpected argument \"{}\"", arg));
        }
    }
    if (vars_path.empty() || out_dir.empty()) {
        throw UsageError("render: both --vars VARS.json and --out DIR are required");
    }
    if (format != "cli" && format != "cloudformation") {
        throw UsageError(
            fmt::format("render: --format is \"cloudformation\" or \"cli\", not \"{}\"", format));
    }
    const auto params = in_file(vars_path, [&] {
        return cdn::presets::video_platform_params_from_json(cdn::read_json_file(vars_path));
    });
    const auto stack = in_file(vars_path, [&] { return cdn::presets::video_platform(params); });
    if (report_problems(stack)) {
        return kExitProblems;
    }
    const fs::path dir(out_dir);
    remove_earlier_render(dir);
    std::vector<std::string> written;
    if (format == "cloudformation") {
        written = cdn::cloudformation::write_template(stack, dir);
    } else {
        cdn::write_deployment(stack, dir);
        const auto calls = cdn::deployment_calls(stack);
        for (std::size_t i = 0; i < calls.size(); ++i) {
            written.push_back(cdn::call_file_name(i, calls[i]));
        }
        for (const auto& file : stack.edge_auth_bundle) {
            written.push_back("edge-auth/" + file.name);
        }
        written.emplace_back("deploy.sh");
    }
    for (const auto& name : written) {
        fmt::print("{}\n", (dir / name).string());
    }
    return kExitOk;
}

int match(const std::vector<std::string_view>& args) {
    if (wants_help(args)) {
        fmt::print("{}", kMatchUsage);
        return kExitOk;
    }
    if (args.size() != 2) {
        throw UsageError("match: expected FILE.json and PATH");
    }
    const auto config = in_file(args[0], [&] {
        return cdn::distribution_config_from_document(cdn::read_json_file(std::string(args[0])));
    });
    fmt::print("{}\n", cdn::match(config, args[1]).path_pattern);
    return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    if (args.empty()) {
        fmt::print(stderr, "{}", usage());
        return kExitUsage;
    }
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        fmt::print("{}", usage());
        return kExitOk;
    }
    if (args[0] == "--version") {
        fmt::print("sparc-cdn {}\n", SPARC_VERSION);
        return kExitOk;
    }
    const auto command = args[0];
    args.erase(args.begin());
    try {
        if (command == "render") {
            return render(args);
        }
        if (command == "validate") {
            if (wants_help(args)) {
                fmt::print("{}", sparc_cdn_tool::kValidateUsage);
                return kExitOk;
            }
            return sparc_cdn_tool::validate_command(args);
        }
        if (command == "match") {
            return match(args);
        }
        throw UsageError(fmt::format("unknown command \"{}\"", command));
    } catch (const UsageError& e) {
        fmt::print(stderr, "sparc-cdn: {}\n\n{}", e.what(), usage());
        return kExitUsage;
    } catch (const sparc_cdn_tool::CommandUsageError& e) {
        fmt::print(stderr, "sparc-cdn: {}\n\n{}", e.what(), usage());
        return kExitUsage;
    } catch (const std::exception& e) {
        fmt::print(stderr, "sparc-cdn: {}\n", e.what());
        return kExitUsage;
    }
}
