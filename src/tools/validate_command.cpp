// `sparc-cdn validate`: checks any document `sparc-cdn render` writes.

#include "validate_command.hpp"

#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <sparc/cdn.hpp>

namespace sparc_cdn_tool {

namespace cdn = sparc::cdn;

int validate_command(const std::vector<std::string_view>& args) {
    bool strict = false;
    std::string_view file;
    for (auto arg : args) {
        if (arg == "--strict") {
            strict = true;
        } else if (!arg.empty() && arg.front() == '-' && arg != "-") {
            throw CommandUsageError(fmt::format("validate: unknown option \"{}\"", arg));
        } else if (file.empty()) {
            file = arg;
        } else {
            throw CommandUsageError("validate: expected exactly one FILE.json");
        }
    }
    if (file.empty()) {
        throw CommandUsageError("validate: expected exactly one FILE.json");
    }
    (void)strict;
    const auto document = cdn::read_json_file(std::string(file));
    std::vector<cdn::Problem> problems;
    try {
        problems = cdn::validate(cdn::distribution_config_from_document(document));
    } catch (const std::exception& e) {
        throw std::runtime_error(fmt::format("{}: {}", file, e.what()));
    }
    for (const auto& p : problems) {
        fmt::print("{}: {}\n", p.path.empty() ? "/" : p.path, p.message);
    }
    if (!problems.empty()) {
        fmt::print(stderr, "{}: {} problem(s)\n", file, problems.size());
        return 1;
    }
    fmt::print("{}: ok\n", file);
    return 0;
}

}  // namespace sparc_cdn_tool
