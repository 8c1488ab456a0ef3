// Text encodings of the built-in parameter and field types: timestamptz, bytea, uuid, json and
// arrays, as PostgreSQL reads and prints them.

#include <sparc/db/types.hpp>

#include <array>
#include <charconv>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace sparc::db {

namespace detail {

namespace {

constexpr std::int64_t kMicrosPerSecond = 1'000'000;
constexpr std::int64_t kSecondsPerDay = 86'400;
constexpr std::int64_t kMicrosPerDay = kSecondsPerDay * kMicrosPerSecond;

struct CivilDate {
    std::int64_t year;
    unsigned month;
    unsigned day;
};

// Days since 1970-01-01 of a proleptic Gregorian date, and back (H. Hinnant's algorithms):
// year 0 is 1 BC, as in ISO 8601.
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

constexpr CivilDate civil_from_days(std::int64_t z) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    return {y + (m <= 2 ? 1 : 0), m, d};
}

static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(days_from_civil(2000, 3, 1) == 11017);
static_assert(civil_from_days(-1).year == 1969 && civil_from_days(-1).day == 31);

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

[[noreturn]] void throw_bad(std::string_view text, std::string_view column, std::string_view what) {
    throw ConversionError(
        fmt::format("value \"{}\" of column \"{}\" is not {}", text, column, what));
}

/// A cursor over text being parsed.
struct Scanner {
    std::string_view s;
    std::size_t i = 0;

    bool done() const { return i >= s.size(); }
    char peek() const { return done() ? '\0' : s[i]; }
    bool eat(char c) {
        if (peek() != c) return false;
        ++i;
        return true;
    }
    bool digit() const { return !done() && s[i] >= '0' && s[i] <= '9'; }
    /// Reads between `min` and `max` decimal digits.
    std::optional<std::int64_t> number(std::size_t min, std::size_t max) {
        std::int64_t v = 0;
        std::size_t n = 0;
        while (n < max && digit()) {
            v = v * 10 + (s[i++] - '0');
            ++n;
        }
        if (n < min) return std::nullopt;
        return v;
    }
};

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool is_array_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool equals_null_word(std::string_view s) {
    if (s.size() != 4) return false;
    for (std::size_t i = 0; i < 4; ++i) {
        if ((s[i] | 0x20) != "null"[i]) return false;
    }
    return true;
}

}  // namespace

std::string format_timestamp(std::int64_t micros) {
    const std::int64_t days = floor_div(micros, kMicrosPerDay);
    std::int64_t rest = micros - days * kMicrosPerDay;
    const auto date = civil_from_days(days);
    const std::int64_t us = rest % kMicrosPerSecond;
    rest /= kMicrosPerSecond;
    const bool bc = date.year <= 0;
    std::string out =
        fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", bc ? 1 - date.year : date.year,
                    date.month, date.day, rest / 3600, rest / 60 % 60, rest % 60);
    if (us != 0) out += fmt::format(".{:06}", us);
    out += "+00";
    if (bc) out += " BC";
    return out;
}

std::int64_t parse_timestamp(std::string_view text, std::string_view column) {
    if (text == "infinity" || text == "-infinity") {
        throw ConversionError(fmt::format(
            "value \"{}\" of column \"{}\" is infinite, which a std::chrono time point cannot "
            "hold: test it with isfinite() in SQL, or read it as std::string",
            text, column));
    }
    const auto bad = [&]() -> std::int64_t {
        throw ConversionError(fmt::format(
            "value \"{}\" of column \"{}\" is not a timestamp in PostgreSQL's ISO DateStyle "
            "(YYYY-MM-DD hh:mm:ss[.ffffff][+hh[:mm[:ss]]]); sparc opens sessions with "
            "DateStyle ISO, so another style means the session changed it (SET DateStyle)",
            text, column));
    };
    Scanner in{text};
    const auto year = in.number(1, 9);
    if (!year || !in.eat('-')) return bad();
    const auto month = in.number(2, 2);
    if (!month || !in.eat('-')) return bad();
    const auto day = in.number(2, 2);
    if (!day) return bad();
    std::int64_t h = 0;
    std::int64_t m = 0;
    std::int64_t s = 0;
    std::int64_t fraction = 0;
    std::int64_t offset = 0;  // seconds east of UTC
    if (in.eat(' ') || in.eat('T')) {
        if (in.peek() == 'B') {
            --in.i;  // "YYYY-MM-DD BC": a date
        } else {
            const auto hh = in.number(2, 2);
            if (!hh || !in.eat(':')) return bad();
            const auto mm = in.number(2, 2);
            if (!mm || !in.eat(':')) return bad();
            const auto ss = in.number(2, 2);
            if (!ss) return bad();
            h = *hh;
            m = *mm;
            s = *ss;
            if (in.eat('.')) {
                std::int64_t scale = 100'000;
                if (!in.digit()) return bad();
                while (in.digit()) {  // digits past the microsecond are dropped (floor)
                    fraction += (in.s[in.i++] - '0') * scale;
                    scale /= 10;
                }
            }
            if (in.eat('Z')) {
                // UTC
            } else if (in.peek() == '+' || in.peek() == '-') {
                const int sign = in.s[in.i++] == '-' ? -1 : 1;
                const auto oh = in.number(2, 2);
                if (!oh) return bad();
                std::int64_t om = 0;
                std::int64_t os = 0;
                const bool colon = in.eat(':');
                if (colon || in.digit()) {
                    const auto v = in.number(2, 2);
                    if (!v) return bad();
                    om = *v;
                    if (colon ? in.eat(':') : in.digit()) {
                        const auto w = in.number(2, 2);
                        if (!w) return bad();
                        os = *w;
                    }
                }
                if (om > 59 || os > 59) return bad();
                offset = sign * (*oh * 3600 + om * 60 + os);
            }
        }
    }
    std::int64_t y = *year;
    if (in.eat(' ')) {
        if (!in.eat('B') || !in.eat('C')) return bad();
        y = 1 - y;  // 1 BC is year 0
    }
    if (!in.done()) return bad();
    if (*month < 1 || *month > 12 || *day < 1 || h > 23 || m > 59 || s > 59) return bad();
    const auto days =
        days_from_civil(y, static_cast<unsigned>(*month), static_cast<unsigned>(*day));
    const auto check = civil_from_days(days);
    if (check.month != *month || check.day != *day) return bad();  // 2026-02-30

    // days * 86400e6 overflows only near PostgreSQL's largest timestamps (year 294276).
    std::int64_t micros = 0;
    if (__builtin_mul_overflow(days, kMicrosPerDay, &micros) ||
        __builtin_add_overflow(
            micros, ((h * 60 + m) * 60 + s - offset) * kMicrosPerSecond + fraction, &micros)) {
        throw_out_of_range(text, column);
    }
    return micros;
}

std::string bytea_hex(std::string_view raw) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 + raw.size() * 2);
    out += "\\x";
    for (const char c : raw) {
        const auto b = static_cast<unsigned char>(c);
        out += kDigits[b >> 4];
        out += kDigits[b & 0xF];
    }
    return out;
}

Bytes parse_bytea(std::string_view text, std::string_view column) {
    Bytes out;
    if (text.starts_with("\\x")) {
        const auto hex = text.substr(2);
        if (hex.size() % 2 != 0) throw_bad(text, column, "bytea in hex format");
        out.reserve(hex.size() / 2);
        for (std::size_t i = 0; i < hex.size(); i += 2) {
            const int hi = hex_value(hex[i]);
            const int lo = hex_value(hex[i + 1]);
            if (hi < 0 || lo < 0) throw_bad(text, column, "bytea in hex format");
            out.push_back(static_cast<std::byte>(hi * 16 + lo));
        }
        return out;
    }
    // bytea_output = escape: `\\` is a backslash, `\ooo` an octal byte, the rest as it is.
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '\\') {
            out.push_back(static_cast<std::byte>(text[i]));
        } else if (i + 1 < text.size() && text[i + 1] == '\\') {
            out.push_back(std::byte{'\\'});
            ++i;
        } else if (i + 3 < text.size() && text[i + 1] >= '0' && text[i + 1] <= '3' &&
                   text[i + 2] >= '0' && text[i + 2] <= '7' && text[i + 3] >= '0' &&
                   text[i + 3] <= '7') {
            out.push_back(static_cast<std::byte>((text[i + 1] - '0') * 64 +
                                                 (text[i + 2] - '0') * 8 + (text[i + 3] - '0')));
            i += 3;
        } else {
            throw_bad(text, column, "bytea in hex or escape format");
        }
    }
    return out;
}

void append_array_element(std::string& literal, const Param& element) {
    if (element.is_null()) {
        literal += "NULL";
        return;
    }
    const std::string hex = element.is_binary() ? bytea_hex(element.text()) : std::string();
    const std::string_view text = element.is_binary() ? std::string_view(hex) : element.text();
    bool quote = text.empty() || equals_null_word(text);
    for (const char c : text) {
        if (c == '"' || c == '\\' || c == '{' || c == '}' || c == ',' || is_array_space(c)) {
            quote = true;
            break;
        }
    }
    if (!quote) {
        literal += text;
        return;
    }
    literal += '"';
    for (const char c : text) {
        if (c == '"' || c == '\\') literal += '\\';
        literal += c;
    }
    literal += '"';
}

std::vector<ArrayElement> parse_array(std::string_view text, std::string_view column,
                                      char delimiter) {
    const auto bad = [&]() -> std::vector<ArrayElement> { throw_bad(text, column, "an array"); };
    Scanner in{text};
    if (in.peek() == '[') {  // dimensions, "[0:2]={...}" when a lower bound is not 1
        const auto eq = text.find('=');
        if (eq == std::string_view::npos) return bad();
        in.i = eq + 1;
    }
    const auto skip_space = [&] {
        while (!in.done() && is_array_space(in.peek())) ++in.i;
    };
    skip_space();
    if (!in.eat('{')) return bad();
    std::vector<ArrayElement> out;
    skip_space();
    if (in.eat('}')) {
        skip_space();
        return in.done() ? out : bad();
    }
    while (true) {
        skip_space();
        ArrayElement e;
        if (in.peek() == '{') {  // a sub-array: kept whole, parsed by the element's reader
            const std::size_t start = in.i;
            int depth = 0;
            bool quoted = false;
            for (; !in.done(); ++in.i) {
                const char c = in.peek();
                if (c == '\\') {
                    ++in.i;
                } else if (c == '"') {
                    quoted = !quoted;
                } else if (!quoted && c == '{') {
                    ++depth;
                } else if (!quoted && c == '}' && --depth == 0) {
                    break;
                }
            }
            if (in.done()) return bad();
            ++in.i;
            e.text = std::string(text.substr(start, in.i - start));
            e.nested = true;
        } else if (in.eat('"')) {
            std::string value;
            while (true) {
                if (in.done()) return bad();
                const char c = in.s[in.i++];
                if (c == '"') break;
                if (c == '\\') {
                    if (in.done()) return bad();
                    value += in.s[in.i++];
                } else {
                    value += c;
                }
            }
            e.text = std::move(value);
        } else {
            std::string value;
            std::size_t keep = 0;  // length up to the last character that was not a blank
            bool escaped = false;
            while (!in.done() && in.peek() != delimiter && in.peek() != '}') {
                char c = in.s[in.i++];
                if (c == '"' || c == '{') return bad();
                if (c == '\\') {
                    if (in.done()) return bad();
                    c = in.s[in.i++];
                    escaped = true;
                    value += c;
                    keep = value.size();
                } else {
                    value += c;
                    if (!is_array_space(c)) keep = value.size();
                }
            }
            value.resize(keep);
            if (value.empty()) return bad();
            if (!escaped && equals_null_word(value)) {
                e.text.reset();
            } else {
                e.text = std::move(value);
            }
        }
        out.push_back(std::move(e));
        skip_space();
        if (in.eat(delimiter)) continue;
        if (in.eat('}')) break;
        return bad();
    }
    skip_space();
    return in.done() ? out : bad();
}

void throw_array_dimensions(std::string_view column, bool found_nested) {
    throw ConversionError(
        found_nested ? fmt::format("column \"{}\" holds a multi-dimensional array: read it as "
                                   "std::vector<std::vector<T>>",
                                   column)
                     : fmt::format("column \"{}\" holds an array with fewer dimensions than the "
                                   "std::vector it is read as",
                                   column));
}

}  // namespace detail

std::optional<Uuid> Uuid::try_parse(std::string_view text) noexcept {
    // As PostgreSQL's uuid_in: optional braces, 32 hex digits, a hyphen allowed after each
    // group of four but the last.
    Octets bytes{};
    std::size_t i = 0;
    const bool braces = !text.empty() && text[0] == '{';
    if (braces) ++i;
    for (std::size_t b = 0; b < bytes.size(); ++b) {
        if (i + 2 > text.size()) return std::nullopt;
        const int hi = detail::hex_value(text[i]);
        const int lo = detail::hex_value(text[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        bytes[b] = static_cast<std::uint8_t>(hi * 16 + lo);
        i += 2;
        if (i < text.size() && text[i] == '-' && b % 2 == 1 && b < bytes.size() - 1) ++i;
    }
    if (braces) {
        if (i >= text.size() || text[i] != '}') return std::nullopt;
        ++i;
    }
    if (i != text.size()) return std::nullopt;
    return Uuid(bytes);
}

Uuid Uuid::parse(std::string_view text) {
    if (auto u = try_parse(text)) return *u;
    throw ConversionError(fmt::format("\"{}\" is not a UUID", text));
}

std::string Uuid::to_string() const {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(36);
    for (std::size_t b = 0; b < bytes_.size(); ++b) {
        if (b == 4 || b == 6 || b == 8 || b == 10) out += '-';
        out += kDigits[bytes_[b] >> 4];
        out += kDigits[bytes_[b] & 0xF];
    }
    return out;
}

Uuid Traits<Uuid>::from_field(const Field& f) {
    if (auto u = Uuid::try_parse(f.view())) return *u;
    detail::throw_bad(f.view(), f.name(), "a UUID");
}

namespace {

template <typename Json>
Param json_param(const Json& j) {
    try {
        return Param(j.dump());
    } catch (const nlohmann::json::exception& e) {
        throw UsageError(fmt::format("a JSON parameter cannot be sent: {}", e.what()));
    }
}

template <typename Json>
Json json_field(const Field& f) {
    try {
        return Json::parse(f.view());
    } catch (const nlohmann::json::exception& e) {
        throw ConversionError(
            fmt::format("value of column \"{}\" is not JSON: {}", f.name(), e.what()));
    }
}

}  // namespace

Param Traits<nlohmann::json>::to_param(const nlohmann::json& j) { return json_param(j); }
nlohmann::json Traits<nlohmann::json>::from_field(const Field& f) {
    return json_field<nlohmann::json>(f);
}
Param Traits<nlohmann::ordered_json>::to_param(const nlohmann::ordered_json& j) {
    return json_param(j);
}
nlohmann::ordered_json Traits<nlohmann::ordered_json>::from_field(const Field& f) {
    return json_field<nlohmann::ordered_json>(f);
}

}  // namespace sparc::db
