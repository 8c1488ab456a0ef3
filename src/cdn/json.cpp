// JSON plumbing: errors, pointers, bounded parsing and placeholders.

#include <sparc/cdn/json.hpp>

#include <fstream>
#include <iterator>
#include <sstream>

#include "detail/json_io.hpp"

namespace sparc::cdn {

JsonError::JsonError(std::string pointer, const std::string& message, Kind kind)
    : std::runtime_error(pointer.empty() ? message : fmt::format("{}: {}", pointer, message)),
      pointer_(std::move(pointer)),
      kind_(kind) {}

nlohmann::json parse_json(std::string_view text, const ParseLimits& limits) {
    if (text.size() > limits.max_bytes) {
        throw JsonError("", fmt::format("document is {} bytes; the limit is {} bytes", text.size(),
                                        limits.max_bytes));
    }
    // The callback sees the depth of every value before it is stored, so an over-deep
    // document is rejected as soon as its nesting passes the limit.
    const auto max_depth = limits.max_depth;
    nlohmann::json::parser_callback_t guard = [max_depth](int depth, nlohmann::json::parse_event_t,
                                                          nlohmann::json&) {
        if (depth < 0 || static_cast<std::size_t>(depth) > max_depth) {
            throw JsonError("",
                            fmt::format("document is nested more than {} levels deep", max_depth));
        }
        return true;
    };
    try {
        return nlohmann::json::parse(text.begin(), text.end(), guard);
    } catch (const nlohmann::json::exception& e) {
        // parse_error, and out_of_range for a number too large for a double (406).
        throw JsonError("", fmt::format("not valid JSON ({})", e.what()));
    }
}

nlohmann::json read_json_file(const std::string& path, const ParseLimits& limits) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw JsonError("", fmt::format("cannot open {}", path));
    }
    in.seekg(0, std::ios::end);
    const auto size = in.tellg();
    if (size < 0) {
        throw JsonError("", fmt::format("cannot read {}", path));
    }
    if (static_cast<std::size_t>(size) > limits.max_bytes) {
        throw JsonError("", fmt::format("{} is {} bytes; the limit is {} bytes", path,
                                        static_cast<std::size_t>(size), limits.max_bytes));
    }
    in.seekg(0, std::ios::beg);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) {
        throw JsonError("", fmt::format("cannot read {}", path));
    }
    return parse_json(text, limits);
}

bool has_placeholder(std::string_view value) noexcept {
    const auto open = value.find("{{");
    return open != std::string_view::npos && value.find("}}", open + 2) != std::string_view::npos;
}

std::string placeholder(std::string_view name) { return fmt::format("{{{{{}}}}}", name); }

namespace detail {

std::string pointer_append(std::string_view base, std::string_view token) {
    std::string out(base);
    out += '/';
    for (char c : token) {
        if (c == '~') {
            out += "~0";
        } else if (c == '/') {
            out += "~1";
        } else {
            out += c;
        }
    }
    return out;
}

std::string pointer_append(std::string_view base, std::size_t index) {
    return fmt::format("{}/{}", base, index);
}

void throw_type_error(const std::string& path, std::string_view expected, const json& actual) {
    throw JsonError(path, fmt::format("expected {}, found {}", expected, actual.type_name()));
}

void Reader::finish() const {
    for (const auto& [key, value] : in_.items()) {
        if (std::find(known_.begin(), known_.end(), key) != known_.end()) {
            continue;
        }
        std::string expected;
        for (auto name : known_) {
            if (!expected.empty()) {
                expected += ", ";
            }
            expected += name;
        }
        throw JsonError(pointer_append(path_, key),
                        fmt::format("unknown member \"{}\"; this object takes: {}", key,
                                    expected.empty() ? "no members" : expected),
                        JsonError::Kind::unknown_member);
    }
}

void Reader::missing(const char* name) const {
    throw JsonError(pointer_append(path_, name),
                    fmt::format("required member \"{}\" is missing", name));
}

}  // namespace detail
}  // namespace sparc::cdn
