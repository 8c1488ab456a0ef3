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
    const auto document = cdn::read_json_file(std::string(file));  // its errors name the file
    cdn::DocumentReport report;
    try {
        report = cdn::check_document(document, strict);
    } catch (const cdn::JsonError& e) {
        throw std::runtime_error(fmt::format("{}: {}", file, e.what()));
    }
    if (!strict) {
        for (const auto& p : report.newer) {
            fmt::print(stderr, "{}: warning: {}\n", p.path.empty() ? "/" : p.path, p.message);
        }
    }
    for (const auto& p : report.notes) {
        fmt::print(stderr, "{}: note: {}\n", p.path.empty() ? "/" : p.path, p.message);
    }
    for (const auto& p : report.problems) {
        fmt::print("{}: {}\n", p.path.empty() ? "/" : p.path, p.message);
    }
    if (!report.problems.empty()) {
        fmt::print(stderr, "{}: {} problem(s) in this {}\n", file, report.problems.size(),
                   report.kind);
        return 1;
    }
    fmt::print("{}: ok ({}{})\n", file, report.kind,
               report.newer.empty()
                   ? ""
                   : fmt::format(", {} newer member(s) or value(s) ignored", report.newer.size()));
    return 0;
}

}  // namespace sparc_cdn_tool
