// JSON plumbing: errors, pointers, bounded parsing and placeholders.

#include <sparc/cdn/json.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
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

JsonError::JsonError(std::string_view file, const JsonError& error)
    : std::runtime_error(fmt::format("{}: {}", file, error.what())),
      pointer_(error.pointer()),
      kind_(error.kind()) {}

namespace {

// Line and column (both from 1, the column in bytes) of byte `offset` of `text`.
std::string line_and_column(std::string_view text, std::size_t offset) {
    const auto before = text.substr(0, std::min(offset, text.size()));
    const auto line = 1 + std::count(before.begin(), before.end(), '\n');
    const auto last_newline = before.rfind('\n');
    const auto column = last_newline == std::string_view::npos ? offset + 1 : offset - last_newline;
    return fmt::format("line {}, column {}", line, column);
}

// Refuses text that is not UTF-8, naming the first byte that is not part of a character.
void check_utf8(std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        if (static_cast<unsigned char>(text[i]) < 0x80) {
            ++i;
            continue;
        }
        char32_t ignored = 0;
        const auto n = detail::utf8_character(text.substr(i), ignored);
        if (n == 0) {
            throw JsonError(
                "", fmt::format("not UTF-8: byte offset {} ({}) is 0x{:02X}, which "
                                "does not begin or continue a UTF-8 character; JSON "
                                "text must be UTF-8",
                                i, line_and_column(text, i), static_cast<unsigned char>(text[i])));
        }
        i += n;
    }
}

}  // namespace

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
    check_utf8(text);
    try {
        return nlohmann::json::parse(text.begin(), text.end(), guard);
    } catch (const JsonError&) {
        throw;
    } catch (const nlohmann::json::parse_error& e) {
        // "[json.exception.parse_error.101] parse error at line 1, column 2: syntax error ...":
        // the position is given as a byte offset, line and column instead. `byte` counts from 1
        // and is the last byte read.
        std::string_view what = e.what();
        if (const auto colon = what.find(": "); colon != std::string_view::npos) {
            what.remove_prefix(colon + 2);
        }
        const auto offset = e.byte == 0 ? 0 : e.byte - 1;
        throw JsonError("", fmt::format("not valid JSON: byte offset {} ({}): {}", offset,
                                        line_and_column(text, offset), what));
    } catch (const nlohmann::json::exception& e) {
        // out_of_range for a number too large for a double (406).
        throw JsonError("", fmt::format("not valid JSON ({})", e.what()));
    }
}

nlohmann::json read_json_file(const std::string& path, const ParseLimits& limits) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        throw JsonError("", fmt::format("{}: is a directory, not a JSON file", path));
    }
    errno = 0;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int error = errno;
        throw JsonError("", error == 0 ? fmt::format("{}: cannot open", path)
                                       : fmt::format("{}: cannot open: {}", path,
                                                     std::generic_category().message(error)));
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
        throw JsonError("", fmt::format("{}: cannot read", path));
    }
    if (text.size() > limits.max_bytes) {
        throw JsonError(
            "", fmt::format("{}: larger than the limit of {} bytes", path, limits.max_bytes));
    }
    try {
        return parse_json(text, limits);
    } catch (const JsonError& e) {
        throw JsonError(path, e);
    }
}

bool has_placeholder(std::string_view value) noexcept {
    const auto open = value.find("{{");
    return open != std::string_view::npos && value.find("}}", open + 2) != std::string_view::npos;
}

std::string placeholder(std::string_view name) { return fmt::format("{{{{{}}}}}", name); }

namespace detail {

std::size_t utf8_character(std::string_view text, char32_t& code_point) {
    if (text.empty()) {
        return 0;
    }
    const auto lead = static_cast<unsigned char>(text[0]);
    std::size_t n = 0;
    char32_t cp = 0;
    if (lead < 0x80) {
        code_point = lead;
        return 1;
    }
    if ((lead >> 5) == 0x6) {
        n = 2;
        cp = lead & 0x1fU;
    } else if ((lead >> 4) == 0xe) {
        n = 3;
        cp = lead & 0x0fU;
    } else if ((lead >> 3) == 0x1e) {
        n = 4;
        cp = lead & 0x07U;
    } else {
        return 0;
    }
    if (text.size() < n) {
        return 0;
    }
    for (std::size_t k = 1; k < n; ++k) {
        const auto c = static_cast<unsigned char>(text[k]);
        if ((c & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (c & 0x3fU);
    }
    constexpr std::array<char32_t, 5> kSmallest{0, 0, 0x80, 0x800, 0x10000};
    if (cp < kSmallest[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    code_point = cp;
    return n;
}

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
