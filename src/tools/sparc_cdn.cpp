// sparc-cdn: render the video-platform CDN stack, validate documents, match paths.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <regex>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fcntl.h>     // AT_FDCWD, open
#include <stdio.h>     // renameat2
#include <stdlib.h>    // mkdtemp
#include <sys/file.h>  // flock
#include <unistd.h>    // close

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
  Files an earlier render left in DIR that this one does not write are removed; other files
  in DIR are kept. The render is written beside DIR (.DIR.render-XXXXXX) and takes its place
  only once complete, so a failed render leaves DIR as it was. Renders into one DIR run one
  after the other; what a killed render left beside DIR is removed by the next render after
  10 minutes. Prints the files written, one a line.
)";
constexpr std::string_view kMatchUsage = R"(usage: sparc-cdn match FILE.json PATH
  Print the path pattern of the cache behaviour serving PATH ("*" for the default), using
  CloudFront's matching rules. FILE.json as for validate; members newer than this tool
  (e.g. IpAddressType) are ignored with a warning on stderr.
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

// Runs `read`, prefixing any error with the file it concerns (read_json_file's errors name
// the file already).
template <class F>
auto in_file(std::string_view path, F&& read) {
    try {
        return read();
    } catch (const std::exception& e) {
        throw std::runtime_error(fmt::format("{}: {}", path, e.what()));
    }
}

// Whether `entry` is something a render writes: call documents, deploy.sh, template.json and
// the code directories.
bool written_by_render(const fs::directory_entry& entry) {
    static const std::regex kCallDocument(R"(\d\d-[a-z0-9]+-[a-z0-9-]+\.json)");
    const auto name = entry.path().filename().string();
    if (entry.is_directory()) {
        return name == "edge-auth" || name == "field-encryption-provider";
    }
    return entry.is_regular_file() && (name == "deploy.sh" || name == "template.json" ||
                                       std::regex_match(name, kCallDocument));
}

// A new, empty directory beside `target` (same file system, so it can be renamed onto it).
fs::path directory_beside(const fs::path& target, std::string_view purpose) {
    auto name =
        (target.parent_path() / fmt::format(".{}.{}-XXXXXX", target.filename().string(), purpose))
            .string();
    if (::mkdtemp(name.data()) == nullptr) {
        throw std::system_error(
            errno, std::generic_category(),
            fmt::format("cannot create a directory beside {}", target.string()));
    }
    return name;
}

// An exclusive lock on a directory (flock), held for the object's lifetime.
class RenderLock {
  public:
    explicit RenderLock(const fs::path& directory)
        : fd_(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
        if (fd_ < 0) {
            throw std::system_error(errno, std::generic_category(),
                                    fmt::format("cannot open {}", directory.string()));
        }
        while (::flock(fd_, LOCK_EX) != 0) {
            if (errno != EINTR) {
                const int error = errno;
                ::close(fd_);
                throw std::system_error(error, std::generic_category(),
                                        fmt::format("cannot lock {}", directory.string()));
            }
        }
    }
    RenderLock(const RenderLock&) = delete;
    RenderLock& operator=(const RenderLock&) = delete;
    ~RenderLock() { ::close(fd_); }  // closing releases the lock

  private:
    int fd_;
};

// How old the staging directory of a render must be to count as left by a killed one.
constexpr auto kStaleRenderAge = std::chrono::minutes(10);

// Removes `.DIR.render-*` directories that renders killed before they finished left beside
// `target` more than kStaleRenderAge ago. (`.DIR.previous-*` may hold files of the user's
// and are left alone.)
void remove_stale_renders(const fs::path& target) {
    const auto prefix = fmt::format(".{}.render-", target.filename().string());
    std::error_code ec;
    const auto now = fs::file_time_type::clock::now();
    for (fs::directory_iterator it(target.parent_path(), ec), end; !ec && it != end;
         it.increment(ec)) {
        const auto name = it->path().filename().string();
        std::error_code entry_ec;
        if (name.size() == prefix.size() + 6 && name.starts_with(prefix) &&
            it->is_directory(entry_ec) && !it->is_symlink(entry_ec)) {
            const auto modified = fs::last_write_time(it->path(), entry_ec);
            if (!entry_ec && now - modified > kStaleRenderAge) {
                fs::remove_all(it->path(), entry_ec);
            }
        }
    }
}

// Writes a render with `write` into a directory beside `dir`, then puts it in the place of
// `dir`: files an earlier render left there are replaced or removed, other files are kept.
// If anything fails before the swap, `dir` is left exactly as it was.
template <class Write>
void render_into(const fs::path& dir, Write&& write) {
    // A symbolic link stays: the directory it points to is the one replaced.
    auto target = fs::weakly_canonical(fs::absolute(dir));
    if (target.filename().empty()) {
        target = target.parent_path();
    }
    if (fs::exists(target) && !fs::is_directory(target)) {
        throw std::runtime_error(fmt::format("{} is not a directory", dir.string()));
    }
    fs::create_directories(target.parent_path());
    // Renders into the same directory take turns (an exclusive lock on the directory DIR is
    // in), so that each one sees DIR either before or after another, never half-swapped.
    const RenderLock lock(target.parent_path());
    const bool existed = fs::exists(target);
    if (existed && !fs::is_directory(target)) {
        throw std::runtime_error(fmt::format("{} is not a directory", dir.string()));
    }
    remove_stale_renders(target);
    const auto staging = directory_beside(target, "render");
    try {
        fs::permissions(staging, existed ? fs::status(target).permissions()
                                         : fs::perms::owner_all | fs::perms::group_read |
                                               fs::perms::group_exec | fs::perms::others_read |
                                               fs::perms::others_exec);
        write(staging);
    } catch (const std::exception& e) {
        std::error_code ignored;
        fs::remove_all(staging, ignored);
        throw std::runtime_error(fmt::format("{}; {}", e.what(),
                                             existed
                                                 ? fmt::format("{} is left as it was", dir.string())
                                                 : fmt::format("{} is not created", dir.string())));
    }
    if (!existed) {
        try {
            fs::rename(staging, target);
        } catch (const fs::filesystem_error& e) {
            std::error_code ignored;
            fs::remove_all(staging, ignored);
            throw std::runtime_error(fmt::format("cannot put the render in place of {}: {}",
                                                 dir.string(), e.code().message()));
        }
        return;
    }
    // The working directory (or one it is in) is not moved away from under the shell that
    // ran render: the complete render replaces the earlier one's files inside it instead.
    const auto cwd = fs::current_path();
    if (const auto rel = cwd.lexically_relative(target); !rel.empty() && *rel.begin() != "..") {
        for (const auto& entry : fs::directory_iterator(target)) {
            if (written_by_render(entry)) {
                fs::remove_all(entry.path());
            }
        }
        for (const auto& entry : fs::directory_iterator(staging)) {
            fs::rename(entry.path(), target / entry.path().filename());
        }
        fs::remove(staging);
        return;
    }
    // One atomic exchange where the system has it (Linux); else two renames, between which
    // DIR is briefly absent.
    fs::path previous = staging;
#ifdef RENAME_EXCHANGE
    const bool exchanged =
        ::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0;
#else
    const bool exchanged = false;
#endif
    if (!exchanged) {
        previous = directory_beside(target, "previous");
        try {
            fs::rename(target, previous);
        } catch (...) {
            std::error_code ignored;
            fs::remove_all(staging, ignored);
            fs::remove(previous, ignored);
            throw;
        }
        try {
            fs::rename(staging, target);
        } catch (...) {
            fs::rename(previous, target);
            std::error_code ignored;
            fs::remove_all(staging, ignored);
            throw;
        }
    }
    // Keep what is not ours: it moves (same file system, no copying) into the new directory.
    try {
        for (const auto& entry : fs::directory_iterator(previous)) {
            if (!written_by_render(entry)) {
                fs::rename(entry.path(), target / entry.path().filename());
            }
        }
    } catch (const std::exception& e) {
        throw std::runtime_error(
            fmt::format("{}; the files of {} that render did not write are "
                        "in {}",
                        e.what(), dir.string(), previous.string()));
    }
    fs::remove_all(previous);
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
    std::vector<std::string_view> given;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const auto arg = args[i];
        if ((arg == "--vars" || arg == "--out" || arg == "--format") && i + 1 < args.size()) {
            auto& value = arg == "--vars" ? vars_path : arg == "--out" ? out_dir : format;
            if (std::find(given.begin(), given.end(), arg) != given.end()) {
                throw UsageError(
                    fmt::format("render: {} is given twice (\"{}\" and \"{}\"); "
                                "give it once",
                                arg, value, args[i + 1]));
            }
            given.push_back(arg);
            value = std::string(args[++i]);
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
    const auto vars = cdn::read_json_file(vars_path);  // its errors name the file
    const auto params =
        in_file(vars_path, [&] { return cdn::presets::video_platform_params_from_json(vars); });
    const auto stack = in_file(vars_path, [&] { return cdn::presets::video_platform(params); });
    if (report_problems(stack)) {
        return kExitProblems;
    }
    const fs::path dir(out_dir);
    std::vector<std::string> written;
    render_into(dir, [&](const fs::path& staging) {
        if (format == "cloudformation") {
            written = cdn::cloudformation::write_template(stack, staging);
            return;
        }
        cdn::write_deployment(stack, staging);
        const auto calls = cdn::deployment_calls(stack);
        for (std::size_t i = 0; i < calls.size(); ++i) {
            written.push_back(cdn::call_file_name(i, calls[i]));
        }
        for (const auto& file : stack.edge_auth_bundle) {
            written.push_back("edge-auth/" + file.name);
        }
        written.emplace_back("deploy.sh");
    });
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
    std::vector<cdn::Problem> ignored;
    const auto document = cdn::read_json_file(std::string(args[0]));  // its errors name the file
    const auto config =
        in_file(args[0], [&] { return cdn::read_distribution_config(document, ignored); });
    for (const auto& p : ignored) {
        fmt::print(stderr, "{}: warning: {}\n", p.path, p.message);
    }
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
        if (args.size() > 1) {
            fmt::print(stderr, "sparc-cdn: --version takes no arguments\n\n{}", usage());
            return kExitUsage;
        }
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
