#include <sparc/db/endpoint.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstddef>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <sparc/db/errors.hpp>

namespace sparc::db {
namespace {

constexpr std::string_view kMask = "****";
constexpr std::size_t kMaxEchoedInput = 256;  // longer input is shortened in messages

struct ConninfoFree {
    void operator()(PQconninfoOption* o) const noexcept { PQconninfoFree(o); }
};
using ConninfoPtr = std::unique_ptr<PQconninfoOption, ConninfoFree>;

// libpq's keywords in its own order. Parsing the empty string lists them without consulting
// the environment or a service file, as PQconndefaults() would.
const std::vector<std::string>& libpq_keywords() {
    static const std::vector<std::string> keywords = [] {
        std::vector<std::string> k;
        char* err = nullptr;
        ConninfoPtr all(PQconninfoParse("", &err));
        if (err != nullptr) {
            PQfreemem(err);
        }
        for (auto* o = all.get(); o != nullptr && o->keyword != nullptr; ++o) {
            k.emplace_back(o->keyword);
        }
        return k;
    }();
    return keywords;
}

// Position of `key` in libpq's keyword list; npos when libpq does not know it.
std::size_t keyword_rank(std::string_view key) {
    const auto& k = libpq_keywords();
    const auto it = std::find(k.begin(), k.end(), key);
    return it == k.end() ? std::string_view::npos : static_cast<std::size_t>(it - k.begin());
}

void require_keyword(std::string_view key) {
    if (keyword_rank(key) == std::string_view::npos) {
        throw ConfigError(fmt::format("unknown libpq connection option \"{}\"", key));
    }
}

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// A libpq key=value value: quoted unless it is a non-empty run of printable ASCII without
// quotes or backslashes (libpq's isspace() is locale-dependent for bytes >= 0x80).
std::string quote_value(std::string_view v) {
    const bool plain = !v.empty() && std::all_of(v.begin(), v.end(), [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return c > 0x20 && c < 0x7f && c != '\'' && c != '\\';
    });
    if (plain) {
        return std::string(v);
    }
    std::string out = "'";
    for (char c : v) {
        if (c == '\'' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    out += '\'';
    return out;
}

bool is_unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

// Percent-encodes every byte outside RFC 3986's unreserved set and `keep`.
std::string percent_encode(std::string_view v, std::string_view keep = {}) {
    std::string out;
    out.reserve(v.size());
    for (char ch : v) {
        const auto c = static_cast<unsigned char>(ch);
        if (is_unreserved(c) || keep.find(ch) != std::string_view::npos) {
            out += ch;
        } else {
            out += fmt::format("%{:02X}", c);
        }
    }
    return out;
}

// Decodes every valid %XX sequence, as libpq does to URI parts; other bytes are kept.
std::string percent_decode(std::string_view v) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        if (c >= 'A' && c <= 'F') {
            return c - 'A' + 10;
        }
        return -1;
    };
    std::string out;
    out.reserve(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '%' && i + 2 < v.size() && hex(v[i + 1]) >= 0 && hex(v[i + 2]) >= 0) {
            out += static_cast<char>(hex(v[i + 1]) * 16 + hex(v[i + 2]));
            i += 2;
        } else {
            out += v[i];
        }
    }
    return out;
}

// ---- Secrets in text that may not parse -------------------------------------------------

struct Span {
    std::size_t begin;
    std::size_t end;
};

// Whether `s[i..]` starts a `key=` token of a key=value string: a run of keyword characters
// followed by optional blanks and '='.
bool starts_keyword_assignment(std::string_view s, std::size_t i) {
    std::size_t j = i;
    while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) != 0 || s[j] == '_')) {
        ++j;
    }
    if (j == i) {
        return false;
    }
    while (j < s.size() && is_space(s[j])) {
        ++j;
    }
    return j < s.size() && s[j] == '=';
}

// Splits a libpq host or port list at its commas; an empty list is one empty item.
std::vector<std::string_view> list_items(std::string_view list) {
    std::vector<std::string_view> out;
    while (true) {
        const auto comma = list.find(',');
        out.push_back(list.substr(0, comma));
        if (comma == std::string_view::npos) {
            return out;
        }
        list.remove_prefix(comma + 1);
    }
}

// Regions of `s` that may hold a secret, found generously: better to mask too much in a
// message than too little.
// `garbled`: also text that reads as a URL with its scheme garbled or left out, and .pgpass
// lines; for masking a message, not for judging a value that parsed.
std::vector<Span> secret_spans(std::string_view s, bool garbled = true) {
    std::vector<Span> spans;
    // Where a URL's user information may start: after any "scheme://", and after a postgres
    // scheme written with fewer or more slashes ("postgresql:/", "postgres:"), which libpq
    // does not take for a URL but whoever reads the message would.
    std::vector<std::size_t> starts;
    for (auto at = s.find("://"); at != std::string_view::npos; at = s.find("://", at + 3)) {
        starts.push_back(at + 3);
    }
    std::string folded(s);
    std::transform(folded.begin(), folded.end(), folded.begin(), [](char c) {
        return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    });
    for (auto at = folded.find("postgres"); at != std::string::npos;
         at = folded.find("postgres", at + 1)) {
        auto i = at + 8;
        if (folded.compare(i, 2, "ql") == 0) {
            i += 2;
        }
        if (i >= folded.size() || folded[i] != ':') {
            continue;
        }
        ++i;
        const auto slashes_from = i;
        while (i < folded.size() && folded[i] == '/') {
            ++i;
        }
        if (i - slashes_from != 2) {  // "://" is found above
            starts.push_back(i);
        }
    }
    for (const auto start : starts) {
        // user:password@host: everything from the first ':' to the last '@' before the next
        // blank (a password may itself contain '@', '/' or '?').
        auto stop = start;
        while (stop < s.size() && !is_space(s[stop])) {
            ++stop;
        }
        auto authority = s.substr(start, stop - start);
        auto last_at = authority.rfind('@');
        if (last_at == std::string_view::npos) {
            // A blank or a line break inside the password: the '@' comes after it, before the
            // next URL.
            const auto next = s.find("://", start);
            authority = s.substr(start, next == std::string_view::npos ? next : next - start);
            last_at = authority.rfind('@');
        }
        const auto colon = authority.find(':');
        if (last_at != std::string_view::npos) {
            if (colon != std::string_view::npos && colon < last_at) {
                spans.push_back({start + colon + 1, start + last_at});
            }
            continue;
        }
        // No '@' at all: "user:password" with the host left out reads as host and port. Text
        // after a ':' that is no port number is masked up to the path.
        const auto host_end = s.substr(start, stop - start).find_first_of("/?");
        const auto hosts =
            s.substr(start, host_end == std::string_view::npos ? stop - start : host_end);
        if (hosts.starts_with('[') || colon == std::string_view::npos || colon >= hosts.size()) {
            continue;
        }
        bool port_like = true;
        for (const auto item : list_items(hosts)) {
            const auto p = item.rfind(':');
            if (p == std::string_view::npos) {
                continue;
            }
            const auto port = item.substr(p + 1);
            // "user:password:port" (host left out) has two ':'.
            port_like = port_like && item.find(':') == p &&
                        std::all_of(port.begin(), port.end(), [](char c) {
                            return std::isdigit(static_cast<unsigned char>(c)) != 0;
                        });
        }
        if (!port_like) {
            spans.push_back({start + colon + 1, start + hosts.size()});
        }
    }
    // Text that is no URL to any rule above but reads as one with its scheme garbled or left
    // out ("//user:password@host", "postgresql//user:password@host", "user:password@host"),
    // and a .pgpass line (host:port:database:user:password): per blank-separated word.
    for (std::size_t at = 0; garbled && at < s.size();) {
        while (at < s.size() && is_space(s[at])) {
            ++at;
        }
        auto end = at;
        while (end < s.size() && !is_space(s[end])) {
            ++end;
        }
        const auto word = s.substr(at, end - at);
        const std::string_view folded_word(folded.data() + at, word.size());
        const bool url = word.find("://") != std::string_view::npos ||
                         folded_word.starts_with("postgres:") ||
                         folded_word.starts_with("postgresql:");
        const auto last_at = word.rfind('@');
        const auto colon = word.find(':');
        if (!url && last_at != std::string_view::npos && colon != std::string_view::npos &&
            colon < last_at) {
            spans.push_back({at + colon + 1, at + last_at});
        } else if (!url && last_at == std::string_view::npos &&
                   word.find_first_of("=/,[") == std::string_view::npos &&
                   word.find("::") == std::string_view::npos &&
                   std::count(word.begin(), word.end(), ':') == 4) {
            // Exactly four ':' and none doubled: no IPv6 address (seven, or a "::").
            std::size_t fourth = 0;
            for (int k = 0; k < 4; ++k) {
                fourth = word.find(':', k == 0 ? 0 : fourth + 1);
            }
            spans.push_back({at + fourth + 1, end});
        }
        at = end;
    }
    // password=... and sslpassword=..., in key=value strings or URL queries, in any case
    // (libpq refuses "PASSWORD=", but whoever wrote it meant a password), and every key that
    // looks like a misspelt one (pasword, passwd, pwd, db_pass, ...): libpq refuses it, and the
    // value is a password all the same.
    const std::string& lower = folded;
    auto key_char = [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
    };
    std::vector<std::size_t> keys;  // where each such key starts
    for (const std::string_view stem : {std::string_view("pas"), std::string_view("pwd")}) {
        for (auto at = lower.find(stem); at != std::string::npos; at = lower.find(stem, at + 1)) {
            auto k = at;
            while (k > 0 && key_char(lower[k - 1])) {
                --k;
            }
            keys.push_back(k);
        }
    }
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    for (const auto at : keys) {
        auto i = at;
        while (i < s.size() && key_char(lower[i])) {
            ++i;
        }
        while (i < s.size() && is_space(s[i])) {
            ++i;
        }
        if (i >= s.size() || s[i] != '=') {
            continue;
        }
        // In a URL query the value ends at '&'; in a key=value string '&' is an ordinary byte.
        const bool in_query = at > 0 && (s[at - 1] == '?' || s[at - 1] == '&');
        ++i;
        while (i < s.size() && is_space(s[i])) {
            ++i;
        }
        const auto begin = i;
        bool quoted = false;
        if (i < s.size() && s[i] == '\'') {
            ++i;
            while (i < s.size() && s[i] != '\'') {
                if (s[i] == '\\') {
                    ++i;
                }
                ++i;
            }
            i = std::min(i + 1, s.size());
            // The value ends here only if a "key=" (or nothing) follows. Otherwise the quote
            // was part of the password, lacking its backslash, and libpq reads the rest of the
            // password as keywords: cover it as an unquoted value.
            auto next = i;
            while (next < s.size() && is_space(s[next])) {
                ++next;
            }
            quoted = next >= s.size() || (next > i && starts_keyword_assignment(s, next));
        }
        if (!quoted) {
            // Up to the next "key=" after a blank, or in a query the next "&key=": an unquoted
            // password with a blank or a raw '&' in it makes libpq quote its pieces as
            // keywords or parameters, so they are covered too.
            while (i < s.size() &&
                   !(in_query && s[i] == '&' && starts_keyword_assignment(s, i + 1))) {
                if (is_space(s[i]) && i + 1 < s.size() && !is_space(s[i + 1]) &&
                    starts_keyword_assignment(s, i + 1)) {
                    break;
                }
                ++i;
            }
        }
        if (i > begin) {
            spans.push_back({begin, i});
        }
    }
    return spans;
}

std::string apply_spans(std::string_view s, std::vector<Span> spans) {
    std::sort(spans.begin(), spans.end(),
              [](const Span& a, const Span& b) { return a.begin < b.begin; });
    std::string out;
    std::size_t pos = 0;
    bool masked = false;
    for (const auto& sp : spans) {
        if (sp.end <= pos) {
            continue;
        }
        if (masked && sp.begin <= pos) {  // overlaps or touches the last mask: extend it
            pos = sp.end;
            continue;
        }
        out.append(s.substr(pos, sp.begin - pos));
        out.append(kMask);
        pos = sp.end;
        masked = true;
    }
    out.append(s.substr(pos));
    return out;
}

std::string shorten(std::string s) {
    if (s.size() > kMaxEchoedInput) {
        s.resize(kMaxEchoedInput);  // may split a multi-byte character; messages are bytes
        s += "...";
    }
    return s;
}

// libpq's reason for refusing `input`, with every fragment of a secret masked: libpq quotes
// the offending token, or the whole URL, and either may hold the password. With
// `quoted_only`, for a message of our own, only what it quotes is searched.
std::string sanitize_reason(const char* err, std::string_view input, bool quoted_only = false) {
    std::string msg = err != nullptr ? err : "unknown error";
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) {
        msg.pop_back();
    }
    if (!input.empty()) {
        // The input is echoed once by the caller, redacted; drop libpq's raw copy.
        const std::string quoted = fmt::format("\"{}\"", input);
        const std::string suffix = ": " + quoted;  // libpq's "... in URI: \"<uri>\""
        for (auto p = msg.find(suffix); p != std::string::npos; p = msg.find(suffix)) {
            msg.erase(p, suffix.size());
        }
    }
    // The secrets: each span, and for a userinfo span also its part before the first '@',
    // where libpq ends the password (the span runs to the last '@').
    std::vector<std::string_view> secrets;
    for (const auto& sp : secret_spans(input)) {
        const auto span = input.substr(sp.begin, sp.end - sp.begin);
        secrets.push_back(span);
        if (const auto at = span.find('@'); at != std::string_view::npos && at > 0) {
            secrets.push_back(span.substr(0, at));
        }
    }
    std::sort(secrets.begin(), secrets.end());
    secrets.erase(std::unique(secrets.begin(), secrets.end()), secrets.end());

    // libpq quotes the tokens it refuses, between the first and the last '"' of its message.
    const auto first = msg.find('"');
    const auto last = msg.rfind('"');
    const bool has_quoted = first != std::string::npos && last != first;
    if (quoted_only && !has_quoted) {
        return msg;
    }
    const auto search_from = quoted_only ? first : 0;
    const auto search_to = quoted_only ? last + 1 : msg.size();
    // More secrets than anyone writes in one connection string: rather than search for each,
    // mask everything libpq quoted.
    constexpr std::size_t kMaxSecrets = 32;
    if (secrets.size() > kMaxSecrets) {
        if (has_quoted) {
            msg.replace(first, last + 1 - first, fmt::format("\"{}\"", kMask));
        }
        return msg;
    }

    // Every match is found in libpq's message as it is, then all are masked at once: masking
    // one secret after the other would search text that earlier masks inserted, and a secret
    // made of '*' would then grow the message exponentially.
    std::vector<Span> found;
    auto find_all = [&](std::string_view text, std::size_t begin, std::size_t end) {
        for (auto p = msg.find(text, begin); p != std::string::npos && p + text.size() <= end;
             p = msg.find(text, p + 1)) {
            found.push_back({p, p + text.size()});
        }
    };
    // A piece of a secret of this many bytes is masked even inside a longer quoted token (a
    // mistyped scheme makes a whole "xyz://user:password@host" one keyword).
    constexpr std::size_t kMinEmbeddedSecret = 3;
    for (const auto secret : secrets) {
        find_all(secret, search_from, search_to);
        if (const auto encoded = percent_encode(secret); encoded != secret) {
            find_all(encoded, search_from, search_to);
        }
        // libpq quotes URI parts percent-decoded.
        if (const auto decoded = percent_decode(secret); decoded != secret && !decoded.empty()) {
            find_all(decoded, search_from, search_to);
        }
        if (!has_quoted) {
            continue;
        }
        // Pieces of the secret as libpq tokenizes it: at blanks, '=', '&', and at a quote that a
        // password lacking its backslash closes early.
        auto separator = [](char c) { return is_space(c) || c == '=' || c == '&' || c == '\''; };
        std::size_t i = 0;
        while (i < secret.size()) {
            while (i < secret.size() && separator(secret[i])) {
                ++i;
            }
            auto j = i;
            while (j < secret.size() && !separator(secret[j])) {
                ++j;
            }
            if (j > i) {
                const auto piece = secret.substr(i, j - i);
                const auto token = fmt::format("\"{}\"", piece);
                for (auto p = msg.find(token, first); p != std::string::npos && p <= last;
                     p = msg.find(token, p + 1)) {
                    found.push_back({p + 1, p + 1 + piece.size()});
                }
                if (piece.size() >= kMinEmbeddedSecret) {
                    find_all(piece, first, last + 1);
                    // As libpq quotes it when the piece ended up in a URI part it decoded.
                    if (const auto decoded = percent_decode(piece);
                        decoded != piece && decoded.size() >= kMinEmbeddedSecret) {
                        find_all(decoded, first, last + 1);
                    }
                }
            }
            i = j;
        }
    }
    return apply_spans(msg, std::move(found));
}

// ---- Value checks libpq defers to connection time ---------------------------------------

bool parse_int(std::string_view s, long long& out) {
    if (s.empty()) {
        return false;
    }
    const auto* first = s.data();
    const auto* last = s.data() + s.size();
    if (*first == '+') {
        ++first;
    }
    const auto [ptr, ec] = std::from_chars(first, last, out);
    return ec == std::errc{} && ptr == last && first != last;
}

bool one_of(std::string_view v, std::initializer_list<std::string_view> allowed) {
    return std::find(allowed.begin(), allowed.end(), v) != allowed.end();
}

std::string join(std::initializer_list<std::string_view> items) {
    std::string out;
    for (const auto& i : items) {
        if (!out.empty()) {
            out += ", ";
        }
        out += i;
    }
    return out;
}

bool is_blank_or_control(char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c <= 0x20 || c == 0x7f;
}

// Whether `text` holds a postgresql:// or postgres:// URL, in any case.
bool holds_url(std::string_view text) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
        return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    });
    return lower.find("postgresql://") != std::string::npos ||
           lower.find("postgres://") != std::string::npos;
}

// A host (or hostaddr) item that no server can have: an '@' or a blank in a host name. libpq
// ends a URL's password at its first '@', so a password with a raw '@' leaves its rest in the
// host name, from where labels, metrics and health output would show it. Socket directories
// ('/...') and abstract sockets ('@...') are paths, not names, and are left alone.
bool is_impossible_host(std::string_view host) {
    if (host.starts_with('/') || host.starts_with('@')) {
        return false;
    }
    return std::any_of(host.begin(), host.end(),
                       [](char c) { return c == '@' || is_blank_or_control(c); });
}

// Problems with the host list, and values other than secrets that hold a second URL or what
// looks like a password. Never quotes a value: each one here may hold part of a password.
std::optional<std::string> find_host_problem(const std::vector<Endpoint::Option>& options) {
    for (const auto& [key, value] : options) {
        if (key == "host" || key == "hostaddr") {
            for (const auto item : list_items(value)) {
                if (is_impossible_host(item)) {
                    return fmt::format(
                        "invalid {}: a host name cannot contain '@' or a blank (in a URL, "
                        "percent-encode '@' in a password as %40)",
                        key);
                }
            }
        }
        if (is_secret_option(key)) {
            continue;
        }
        // Two connection strings glued together: the second would be shown as, say, the
        // database name, with its password.
        if (holds_url(value)) {
            return fmt::format(
                "the {} value holds a postgresql:// URL: give one server per connection string",
                key);
        }
        // Displayed values are shown as they are: one holding what the masker takes for a
        // password ("scheme://user:password@", "password=") would show it.
        if (!secret_spans(value, false).empty()) {
            return fmt::format(
                "the {} value holds what looks like a password (scheme://user:password@ or "
                "password=): passwords go in password or sslpassword only",
                key);
        }
    }
    return std::nullopt;
}

// The length of the scheme that makes `input` a URL for libpq (which matches it exactly, case
// included), or 0 for a key=value string.
std::size_t find_url_scheme(std::string_view input) {
    for (const std::string_view prefix : {"postgresql://", "postgres://"}) {
        if (input.starts_with(prefix)) {
            return prefix.size();
        }
    }
    return 0;
}

// In a URL, a raw '@' after the first '/': libpq finds no user information past a '/', so a
// password with a raw '/' (or an '@' after one) ends up in the host, port and database name.
// url() percent-encodes both characters, so what it writes always passes.
std::optional<std::string> find_url_problem(std::string_view input) {
    const auto scheme = find_url_scheme(input);
    if (scheme == 0) {
        return std::nullopt;
    }
    const auto rest = input.substr(scheme);
    // libpq ends the user information at the first '@': the rest of a password holding a raw
    // '@' would become the host name (an abstract socket name when it starts with '@').
    const auto authority = rest.substr(0, rest.find_first_of("/?"));
    if (std::count(authority.begin(), authority.end(), '@') > 1) {
        return "more than one raw '@' before the host: percent-encode '@' in a password as %40";
    }
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) {
        return std::nullopt;
    }
    auto path = rest.substr(slash);
    path = path.substr(0, path.find('?'));
    if (path.find('@') == std::string_view::npos) {
        return std::nullopt;
    }
    return "a raw '@' follows the first '/': percent-encode '/' in a password as %2F, and '@' "
           "in a database name as %40";
}

// The first problem with `options`, if any. Never quotes a secret; never quotes the port
// either, which a mistyped URL can fill with part of a password.
std::optional<std::string> find_problem(const std::vector<Endpoint::Option>& options) {
    for (const auto& option : options) {
        const auto& key = option.first;  // named, not bound: lambdas below capture them
        const auto& value = option.second;
        auto check_enum =
            [&](std::initializer_list<std::string_view> allowed) -> std::optional<std::string> {
            if (one_of(value, allowed)) {
                return std::nullopt;
            }
            return fmt::format("invalid {} \"{}\": expected one of {}", key, value, join(allowed));
        };
        std::optional<std::string> problem;
        if (key == "port") {
            std::string_view rest = value;
            while (true) {
                const auto comma = rest.find(',');
                const auto item = rest.substr(0, comma);
                long long n = 0;
                if (!item.empty() &&
                    (item.front() == '+' || !parse_int(item, n) || n < 1 || n > 65535)) {
                    problem =
                        "invalid port: expected a number from 1 to 65535 (or a "
                        "comma-separated list, one per host)";
                    break;
                }
                if (comma == std::string_view::npos) {
                    break;
                }
                rest.remove_prefix(comma + 1);
            }
        } else if (key == "connect_timeout") {
            long long n = 0;
            if (!value.empty() && !parse_int(value, n)) {
                problem =
                    fmt::format("invalid connect_timeout \"{}\": expected whole seconds", value);
            }
        } else if (key == "sslmode") {
            problem =
                check_enum({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"});
        } else if (key == "target_session_attrs") {
            problem = check_enum(
                {"any", "read-write", "read-only", "primary", "standby", "prefer-standby"});
        } else if (key == "gssencmode" || key == "channel_binding") {
            problem = check_enum({"disable", "prefer", "require"});
        } else if (key == "sslcompression") {
            problem = check_enum({"0", "1"});
        } else if (key == "ssl_min_protocol_version" || key == "ssl_max_protocol_version") {
            problem = check_enum({"", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"});
        }
        if (problem) {
            return problem;
        }
    }
    if (auto problem = find_host_problem(options)) {
        return problem;
    }
    // libpq wants one port for all hosts, or one per host.
    auto count = [&](std::string_view key) -> std::size_t {
        for (const auto& [k, v] : options) {
            if (k == key && !v.empty()) {
                return static_cast<std::size_t>(std::count(v.begin(), v.end(), ',')) + 1;
            }
        }
        return 0;
    };
    const auto ports = count("port");
    const auto names = count("host");
    const auto addresses = count("hostaddr");
    // libpq pairs host and hostaddr by position: both lists, when both are given, match.
    if (names > 0 && addresses > 0 && names != addresses) {
        return fmt::format(
            "host lists {} host{} but hostaddr {} address{}: give one address "
            "per host",
            names, names == 1 ? "" : "s", addresses, addresses == 1 ? "" : "es");
    }
    const auto hosts = std::max<std::size_t>({names, addresses, 1});
    if (ports > 1 && ports != hosts) {
        return fmt::format("port lists {} ports for {} host{}: give one port, or one per host",
                           ports, hosts, hosts == 1 ? "" : "s");
    }
    return std::nullopt;
}

// Keeps one value per keyword (the last given) in libpq's keyword order.
std::vector<Endpoint::Option> canonical(std::vector<Endpoint::Option> options) {
    std::vector<Endpoint::Option> out;
    out.reserve(options.size());
    for (auto& opt : options) {
        const auto same = std::find_if(out.begin(), out.end(), [&](const Endpoint::Option& o) {
            return o.first == opt.first;
        });
        if (same != out.end()) {
            same->second = std::move(opt.second);
        } else {
            out.push_back(std::move(opt));
        }
    }
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return keyword_rank(a.first) < keyword_rank(b.first);
    });
    return out;
}

}  // namespace

bool is_secret_option(std::string_view key) noexcept {
    return key == "password" || key == "sslpassword";
}

std::string mask_password(std::string_view text, std::string_view password) {
    std::string out(text);
    if (password.empty()) {
        return out;
    }
    auto mask_all = [&out](std::string_view secret) {
        for (auto pos = out.find(secret); pos != std::string::npos;
             pos = out.find(secret, pos + kMask.size())) {
            out.replace(pos, secret.size(), kMask);
        }
    };
    mask_all(password);
    // The percent-encoded form may appear in URLs.
    const auto encoded = percent_encode(password);
    if (encoded != password) {
        mask_all(encoded);
    }
    return out;
}

std::string redact_connection_string(std::string_view url_or_conninfo) {
    return apply_spans(url_or_conninfo, secret_spans(url_or_conninfo));
}

namespace {
// libpq's reason for a string it cannot parse, with what it quotes replaced by "…": it quotes
// the text it stopped at, which may be a password no rule recognises. Only the name in
// `invalid connection option "name"` stays: a misspelt keyword is what the reader needs.
std::string hide_quoted(std::string reason) {
    static constexpr std::string_view kOption = "invalid connection option \"";
    std::size_t from = 0;
    if (reason.starts_with(kOption)) {
        const auto close = reason.find('"', kOption.size());
        const auto name = std::string_view(reason).substr(
            kOption.size(), close == std::string::npos ? 0 : close - kOption.size());
        const bool identifier = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
        });
        if (identifier) {
            from = close + 1;
        }
    }
    for (auto open = reason.find('"', from); open != std::string::npos;
         open = reason.find('"', open + 2)) {
        const auto close = reason.find('"', open + 1);
        if (close == open + 2) {  // one character, such as the "=" libpq found missing
            open = close - 1;
            continue;
        }
        reason.replace(open, close == std::string::npos ? std::string::npos : close + 1 - open,
                       "\"…\"");
        if (close == std::string::npos) {
            break;
        }
        open += std::string_view("\"…\"").size() - 2;
    }
    return reason;
}
}  // namespace

Endpoint Endpoint::parse(std::string_view url_or_conninfo) {
    const std::string input(url_or_conninfo);
    if (input.find('\0') != std::string::npos) {
        throw ConfigError("invalid connection string: it contains a NUL byte");
    }
    // Without `echo`, the input is left out of the message: the masker reads it as written, and
    // a password written percent-encoded inside another value is not one it can find.
    auto fail = [&](const std::string& reason, bool echo = true) -> ConfigError {
        if (!echo) {
            return ConfigError(fmt::format(
                "invalid connection string (not shown: it may hold a password): {}", reason));
        }
        return ConfigError(fmt::format("invalid connection string \"{}\": {}",
                                       shorten(redact_connection_string(input)), reason));
    };
    if (auto problem = find_url_problem(input)) {
        throw fail(*problem);
    }
    char* err = nullptr;
    ConninfoPtr parsed(PQconninfoParse(input.c_str(), &err));
    if (!parsed) {
        // A string libpq cannot parse is not shown: a misspelt keyword or a missing '=' leaves
        // a password where no rule can tell it is one. libpq's reason names the keyword.
        std::string reason = hide_quoted(sanitize_reason(err, input));
        if (err != nullptr) {
            PQfreemem(err);
        }
        throw fail(shorten(std::move(reason)), false);
    }
    if (err != nullptr) {
        PQfreemem(err);
    }
    std::vector<Option> options;
    for (auto* o = parsed.get(); o->keyword != nullptr; ++o) {
        if (o->val != nullptr) {
            options.emplace_back(o->keyword, o->val);
        }
    }
    if (auto problem = find_problem(options)) {
        // A value it quotes (an sslmode, say) can hold a password when the input is garbled,
        // e.g. two URLs where one is expected.
        const bool url_in_value = std::any_of(options.begin(), options.end(), [](const Option& o) {
            return !is_secret_option(o.first) &&
                   (holds_url(o.second) || !secret_spans(o.second, false).empty());
        });
        throw fail(sanitize_reason(problem->c_str(), input, true), !url_in_value);
    }
    return Endpoint(std::move(options));
}

Endpoint Endpoint::from_options(std::vector<Option> options) {
    for (const auto& [key, value] : options) {
        require_keyword(key);
    }
    return Endpoint(canonical(std::move(options)));
}

std::optional<std::string> Endpoint::option(std::string_view key) const {
    for (const auto& [k, v] : options_) {
        if (k == key) {
            return v;
        }
    }
    return std::nullopt;
}

std::optional<std::chrono::seconds> Endpoint::connect_timeout() const {
    const auto v = option("connect_timeout");
    if (!v) return std::nullopt;
    long long seconds = 0;
    const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), seconds);
    if (ec != std::errc{} || seconds <= 0) return std::nullopt;
    return std::chrono::seconds(std::max<long long>(seconds, 2));
}

void Endpoint::set_option(std::string_view key, std::string value) {
    require_keyword(key);
    for (auto& [k, v] : options_) {
        if (k == key) {
            v = std::move(value);
            return;
        }
    }
    const auto rank = keyword_rank(key);
    const auto pos = std::find_if(options_.begin(), options_.end(),
                                  [&](const Option& o) { return keyword_rank(o.first) > rank; });
    options_.emplace(pos, std::string(key), std::move(value));
}

void Endpoint::erase_option(std::string_view key) {
    std::erase_if(options_, [&](const Option& o) { return o.first == key; });
}

std::string Endpoint::host() const {
    if (auto h = option("host"); h && !h->empty()) {
        return *h;
    }
    if (auto a = option("hostaddr"); a && !a->empty()) {
        return *a;
    }
    return "localhost";
}

std::string Endpoint::port() const {
    if (auto p = option("port"); p && !p->empty()) {
        return *p;
    }
    return "5432";
}

std::string Endpoint::dbname() const { return option("dbname").value_or(""); }
std::string Endpoint::user() const { return option("user").value_or(""); }
bool Endpoint::has_password() const { return option("password").has_value(); }

void Endpoint::validate() const {
    if (auto problem = find_problem(options_)) {
        throw ConfigError(*problem);
    }
}

namespace {
// Whether `text` shows one of the secrets of `options` (password, sslpassword), as written or
// percent-encoded.
bool shows_secret(std::string_view text, const std::vector<Endpoint::Option>& options) {
    for (const auto& [k, v] : options) {
        if (!is_secret_option(k) || v.empty()) {
            continue;
        }
        if (text.find(v) != std::string_view::npos ||
            text.find(percent_encode(v)) != std::string_view::npos) {
            return true;
        }
    }
    return false;
}

// A displayed component (a host, a port, a database or user name, an option's value): the mask
// in its place when its value, or the text shown for it, holds a secret of `options` (a
// password that is also the database name, say). Shown as it is otherwise.
std::string display_component(std::string_view value, std::string shown,
                              const std::vector<Endpoint::Option>& options) {
    if (shows_secret(value, options) || shows_secret(shown, options)) {
        return std::string(kMask);
    }
    return shown;
}

// `text` with every secret of `options` masked: for a secret spanning two components.
std::string mask_secrets_in(std::string text, const std::vector<Endpoint::Option>& options) {
    for (const auto& [k, v] : options) {
        if (is_secret_option(k) && !v.empty()) {
            text = mask_password(text, v);
        }
    }
    return text;
}

std::string make_conninfo(const std::vector<Endpoint::Option>& options, bool mask) {
    std::string out;
    for (const auto& [k, v] : options) {
        if (!out.empty()) {
            out += ' ';
        }
        out += k;
        out += '=';
        if (mask) {
            out += is_secret_option(k) ? std::string(kMask)
                                       : display_component(v, quote_value(v), options);
        } else {
            out += quote_value(v);
        }
    }
    return mask ? mask_secrets_in(std::move(out), options) : out;
}

// libpq's URI grammar cannot carry every value in the authority part (an empty user, a host
// list, a socket directory, an empty dbname...); those go in the query, which libpq accepts
// for every keyword.
std::string make_url(const std::vector<Endpoint::Option>& options, bool mask) {
    std::optional<std::string> user, password, host, port, dbname;
    std::string query;
    // A component shown in a masked URL: the mask when it holds a secret.
    auto encode = [&](std::string_view v, std::string_view keep = {}) {
        return mask ? display_component(v, percent_encode(v, keep), options)
                    : percent_encode(v, keep);
    };
    auto add = [&](std::string_view k, std::string_view v) {
        query += query.empty() ? '?' : '&';
        query += percent_encode(k);
        query += '=';
        query += encode(v);
    };
    auto add_secret = [&](std::string_view k, std::string_view v) {
        if (mask) {
            query += query.empty() ? '?' : '&';
            query += percent_encode(k);
            query += '=';
            query += kMask;
        } else {
            add(k, v);
        }
    };
    for (const auto& [k, v] : options) {
        if (k == "user") {
            user = v;
        } else if (k == "password") {
            password = v;
        } else if (k == "host") {
            host = v;
        } else if (k == "port") {
            port = v;
        } else if (k == "dbname") {
            dbname = v;
        } else if (is_secret_option(k)) {
            add_secret(k, v);
        } else {
            add(k, v);
        }
    }
    std::string authority;
    if (user && !user->empty()) {
        authority += encode(*user);
    } else if (user) {
        add("user", *user);
    }
    if (password && !password->empty()) {
        authority += ':';
        authority += mask ? std::string(kMask) : percent_encode(*password);
    } else if (password) {
        add_secret("password", *password);
    }
    if (!authority.empty()) {
        authority += '@';
    }

    const bool simple_host =
        host && !host->empty() && host->find_first_of(",/") == std::string::npos;
    if (simple_host) {
        if (host->find(':') != std::string::npos) {
            authority += '[' + encode(*host, ":") + ']';
        } else {
            authority += encode(*host);
        }
        if (port && !port->empty() && port->find(',') == std::string::npos) {
            authority += ':' + encode(*port);
            port.reset();
        }
    } else if (host) {
        add("host", *host);
    }
    if (port) {
        add("port", *port);
    }

    std::string path = "/";
    if (dbname && !dbname->empty()) {
        path += encode(*dbname);
    } else if (dbname) {
        add("dbname", *dbname);
    }
    // The scheme is fixed text; what follows it is masked where a secret spans components.
    std::string rest = authority + path + query;
    return "postgresql://" + (mask ? mask_secrets_in(std::move(rest), options) : rest);
}
}  // namespace

std::string Endpoint::conninfo() const { return make_conninfo(options_, false); }
std::string Endpoint::redacted() const { return make_conninfo(options_, true); }
std::string Endpoint::url() const { return make_url(options_, false); }
std::string Endpoint::redacted_url() const { return make_url(options_, true); }

namespace {
// A database name that can carry nothing but a name: ASCII letters, digits, '_', '-', '.' and
// '$'. Anything else (a blank, ':', '/', '@', '%'...) may be part of a URL or a password that
// a mistyped connection string put there.
bool is_plain_name(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || c == '.' || c == '$';
    });
}

// `host` with every byte outside printable ASCII percent-encoded: metric label values and JSON
// strings must be valid UTF-8, which a host name (a socket directory, say) need not be.
std::string printable(std::string_view host) {
    std::string out;
    out.reserve(host.size());
    for (const char ch : host) {
        const auto c = static_cast<unsigned char>(ch);
        if (c > 0x20 && c < 0x7f) {
            out += ch;
        } else {
            out += fmt::format("%{:02X}", c);
        }
    }
    return out;
}

bool is_port_number(std::string_view port) {
    return !port.empty() && port.size() <= 5 &&
           std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
}
}  // namespace

// Built from the host and port lists and a plain database name only: never from the user, the
// options or a database name that may hold a URL, and a host or port that validate() would
// refuse is not shown either. Whatever was mistyped, a label cannot show a password.
std::string Endpoint::label() const {
    std::string hosts = option("host").value_or("");
    if (hosts.empty()) {
        hosts = option("hostaddr").value_or("");
    }
    const std::string port_list = option("port").value_or("");
    const auto ports = list_items(port_list);
    const auto items = list_items(hosts);
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) {
            out += ',';
        }
        const auto host = items[i];
        if (host.empty()) {
            out += display_component("localhost", "localhost", options_);  // libpq's default
        } else if (is_impossible_host(host) || holds_url(host)) {
            out += "(invalid host)";
        } else if (host.find(':') != std::string_view::npos) {
            out += fmt::format("[{}]", display_component(host, printable(host), options_));
        } else {
            out += display_component(host, printable(host), options_);
        }
        // One port for every host, or one per host; an empty item is the default.
        const auto port = ports.size() == 1 ? ports.front() : i < ports.size() ? ports[i] : "";
        const std::string_view shown = port.empty()           ? std::string_view("5432")
                                       : is_port_number(port) ? port
                                                              : std::string_view("(invalid port)");
        out += ':';
        out += display_component(shown, std::string(shown), options_);
    }
    if (const auto db = dbname(); is_plain_name(db)) {
        out += '/';
        out += display_component(db, db, options_);
    }
    return mask_secrets_in(std::move(out), options_);
}

std::string Endpoint::display_value(std::string_view value) const {
    return display_component(value, std::string(value), options_);
}

std::string mask_secrets(std::string_view text, const Endpoint& endpoint) {
    return mask_secrets_in(std::string(text), endpoint.options());
}

std::vector<Endpoint> split_hosts(const Endpoint& endpoint) {
    const auto host_list = endpoint.option("host");
    const auto addr_list = endpoint.option("hostaddr");
    const auto port_list = endpoint.option("port");
    const std::string host_text = host_list.value_or("");
    const std::string addr_text = addr_list.value_or("");
    const std::string port_text = port_list.value_or("");
    const auto hosts = list_items(host_text);
    const auto addrs = list_items(addr_text);
    const auto ports = list_items(port_text);
    const std::size_t n = std::max(host_list ? hosts.size() : 0, addr_list ? addrs.size() : 0);
    if (n <= 1) {
        return {endpoint};
    }
    if ((host_list && hosts.size() != n) || (addr_list && addrs.size() != n)) {
        throw ConfigError(fmt::format("host lists name {} hosts but hostaddr lists {} addresses",
                                      host_list ? hosts.size() : 0, addr_list ? addrs.size() : 0));
    }
    if (ports.size() != 1 && ports.size() != n) {
        throw ConfigError(
            fmt::format("{} hosts but {} ports: give one port, or one per host", n, ports.size()));
    }
    std::vector<Endpoint> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        Endpoint one = endpoint;
        if (host_list) {
            if (hosts[i].empty()) {
                one.erase_option("host");
            } else {
                one.set_option("host", std::string(hosts[i]));
            }
        }
        if (addr_list) {
            if (addrs[i].empty()) {
                one.erase_option("hostaddr");
            } else {
                one.set_option("hostaddr", std::string(addrs[i]));
            }
        }
        if (port_list) {
            const auto port = ports.size() == 1 ? ports.front() : ports[i];
            if (port.empty()) {
                one.erase_option("port");
            } else {
                one.set_option("port", std::string(port));
            }
        }
        out.push_back(std::move(one));
    }
    return out;
}

void to_json(nlohmann::json& j, const Endpoint& endpoint) {
    nlohmann::json options = nlohmann::json::object();
    for (const auto& [k, v] : endpoint.options()) {
        options[k] = is_secret_option(k) ? std::string(kMask) : endpoint.display_value(v);
    }
    j = nlohmann::json{{"url", endpoint.redacted_url()},
                       {"label", endpoint.label()},
                       {"host", endpoint.display_value(endpoint.host())},
                       {"port", endpoint.display_value(endpoint.port())},
                       {"dbname", endpoint.display_value(endpoint.dbname())},
                       {"user", endpoint.display_value(endpoint.user())},
                       {"options", std::move(options)}};
}

}  // namespace sparc::db
