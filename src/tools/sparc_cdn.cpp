// sparc-cdn: render the video-platform CDN stack, validate distributions, match paths.

#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <sparc/cdn.hpp>

namespace {

namespace cdn = sparc::cdn;

constexpr int kExitOk = 0;
constexpr int kExitProblems = 1;
constexpr int kExitUsage = 2;

constexpr std::string_view kUsage = R"(usage:
  sparc-cdn render --vars VARS.json --out DIR
      Render the video-platform CDN stack: one NN-SERVICE-OPERATION.json per AWS API call
      (its --cli-input-json input), edge-auth/ (the edge function package) and deploy.sh.
  sparc-cdn validate FILE.json
      Check a DistributionConfig (bare or {"DistributionConfig": ...}); print each problem
      with its JSON pointer. Exit 1 if there are problems, 0 if none.
  sparc-cdn match FILE.json PATH
      Print the path pattern of the cache behaviour serving PATH ("*" for the default).

Exit status: 0 success, 1 problems found, 2 usage, input or I/O error.
)";

class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Runs `read`, prefixing any error with the file it concerns.
template <class F>
auto in_file(std::string_view path, F&& read) {
    try {
        return read();
    } catch (const std::exception& e) {
        throw std::runtime_error(fmt::format("{}: {}", path, e.what()));
    }
}

int render(const std::vector<std::string_view>& args) {
    std::string vars_path;
    std::string out_dir;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const auto arg = args[i];
        if ((arg == "--vars" || arg == "--out") && i + 1 < args.size()) {
            (arg == "--vars" ? vars_path : out_dir) = std::string(args[++i]);
        } else {
            throw UsageError(fmt::format("render: unexpected argument \"{}\"", arg));
        }
    }
    if (vars_path.empty() || out_dir.empty()) {
        throw UsageError("render: both --vars VARS.json and --out DIR are required");
    }
    const auto params = in_file(vars_path, [&] {
        return cdn::presets::video_platform_params_from_json(cdn::read_json_file(vars_path));
    });
    const auto stack = in_file(vars_path, [&] { return cdn::presets::video_platform(params); });
    auto problems = cdn::validate(stack.distribution);
    if (!problems.empty()) {
        for (const auto& p : problems) {
            fmt::print(stderr, "{}: {}\n", p.path, p.message);
        }
        return kExitProblems;
    }
    cdn::write_deployment(stack, out_dir);
    const auto calls = cdn::deployment_calls(stack);
    for (std::size_t i = 0; i < calls.size(); ++i) {
        fmt::print("{}\n",
                   (std::filesystem::path(out_dir) / cdn::call_file_name(i, calls[i])).string());
    }
    fmt::print("{}\n", (std::filesystem::path(out_dir) / "deploy.sh").string());
    return kExitOk;
}

cdn::DistributionConfig load_distribution(std::string_view path) {
    return in_file(path, [&] {
        return cdn::distribution_config_from_document(cdn::read_json_file(std::string(path)));
    });
}

int validate(const std::vector<std::string_view>& args) {
    if (args.size() != 1) {
        throw UsageError("validate: expected exactly one FILE.json");
    }
    const auto config = load_distribution(args[0]);
    const auto problems = cdn::validate(config);
    for (const auto& p : problems) {
        fmt::print("{}: {}\n", p.path.empty() ? "/" : p.path, p.message);
    }
    if (!problems.empty()) {
        fmt::print(stderr, "{}: {} problem(s)\n", args[0], problems.size());
        return kExitProblems;
    }
    return kExitOk;
}

int match(const std::vector<std::string_view>& args) {
    if (args.size() != 2) {
        throw UsageError("match: expected FILE.json and PATH");
    }
    const auto config = load_distribution(args[0]);
    fmt::print("{}\n", cdn::match(config, args[1]).path_pattern);
    return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        std::fputs(kUsage.data(), args.empty() ? stderr : stdout);
        return args.empty() ? kExitUsage : kExitOk;
    }
    const auto command = args[0];
    args.erase(args.begin());
    try {
        if (command == "render") {
            return render(args);
        }
        if (command == "validate") {
            return validate(args);
        }
        if (command == "match") {
            return match(args);
        }
        throw UsageError(fmt::format("unknown command \"{}\"", command));
    } catch (const UsageError& e) {
        fmt::print(stderr, "sparc-cdn: {}\n\n{}", e.what(), kUsage);
        return kExitUsage;
    } catch (const std::exception& e) {
        fmt::print(stderr, "sparc-cdn: {}\n", e.what());
        return kExitUsage;
    }
}
