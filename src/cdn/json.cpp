// JSON plumbing: errors, pointers, bounded parsing and placeholders.

#include <sparc/cdn/json.hpp>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

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
    // document is rejected as soon as its nesting passes the limit. It also follows the path
    // of every member, to refuse a key given twice in one object (nlohmann keeps the last, so
    // one of the two values would be silently dropped).
    struct Frame {
        bool object;
        std::set<std::string> keys;
        std::string key;
        std::size_t index = 0;
    };
    std::vector<Frame> frames;
    const auto path = [&frames](std::size_t n) {
        std::string out;
        for (std::size_t i = 0; i < n; ++i) {
            out = frames[i].object ? detail::pointer_append(out, frames[i].key)
                                   : fmt::format("{}/{}", out, frames[i].index);
        }
        return out;
    };
    const auto max_depth = limits.max_depth;
    nlohmann::json::parser_callback_t guard = [&](int depth, nlohmann::json::parse_event_t event,
                                                  nlohmann::json& parsed) {
        using Event = nlohmann::json::parse_event_t;
        if (depth < 0 || static_cast<std::size_t>(depth) > max_depth) {
            throw JsonError("",
                            fmt::format("document is nested more than {} levels deep", max_depth));
        }
        switch (event) {
            case Event::object_start:
            case Event::array_start:
                frames.push_back({event == Event::object_start, {}, {}, 0});
                break;
            case Event::key: {
                auto& top = frames.back();
                top.key = parsed.get<std::string>();
                if (!top.keys.insert(top.key).second) {
                    throw JsonError(path(frames.size()),
                                    "this key is given twice in its object; give it once");
                }
                break;
            }
            case Event::object_end:
            case Event::array_end:
                frames.pop_back();
                [[fallthrough]];
            case Event::value:
                if (!frames.empty() && !frames.back().object) {
                    ++frames.back().index;
                }
                break;
        }
        return true;
    };
    try {
        return nlohmann::json::parse(text.begin(), text.end(), guard);
    } catch (const JsonError&) {
        throw;
    } catch (const nlohmann::json::exception& e) {
        // parse_error, and out_of_range for a number too large for a double (406).
        throw JsonError("", fmt::format("not valid JSON ({})", e.what()));
    }
}

nlohmann::json read_json_file(const std::string& path, const ParseLimits& limits) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        throw JsonError("", fmt::format("{} is a directory, not a JSON file", path));
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw JsonError("", fmt::format("cannot open {}", path));
    }
    // Read at most one byte past the limit, whatever the file is (a pipe or a device such as
    // /dev/zero has no size to ask for first).
    std::string text;
    std::array<char, 65536> chunk{};
    while (text.size() <= limits.max_bytes) {
        const auto want = std::min(chunk.size(), limits.max_bytes + 1 - text.size());
        in.read(chunk.data(), static_cast<std::streamsize>(want));
        text.append(chunk.data(), static_cast<std::size_t>(in.gcount()));
        if (!in) {
            break;
        }
    }
    if (in.bad()) {
        throw JsonError("", fmt::format("cannot read {}", path));
    }
    if (text.size() > limits.max_bytes) {
        throw JsonError(
            "", fmt::format("{} is larger than the limit of {} bytes", path, limits.max_bytes));
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
