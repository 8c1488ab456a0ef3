#include <sparc/db/endpoint.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <memory>

#include <fmt/format.h>

#include <sparc/db/errors.hpp>

namespace sparc::db {
namespace {

constexpr std::string_view kMask = "****";

struct ConninfoFree {
    void operator()(PQconninfoOption* o) const noexcept { PQconninfoFree(o); }
};
using ConninfoPtr = std::unique_ptr<PQconninfoOption, ConninfoFree>;

bool is_libpq_keyword(std::string_view key) {
    static const std::vector<std::string> keywords = [] {
        std::vector<std::string> k;
        ConninfoPtr defaults(PQconndefaults());
        for (auto* o = defaults.get(); o != nullptr && o->keyword != nullptr; ++o) {
            k.emplace_back(o->keyword);
        }
        return k;
    }();
    return std::find(keywords.begin(), keywords.end(), key) != keywords.end();
}

// A libpq key=value value: quoted when empty or containing spaces, quotes or backslashes.
std::string quote_value(std::string_view v) {
    const bool plain = !v.empty() && v.find_first_of(" \t\n\r\f\v'\\") == std::string_view::npos;
    if (plain) return std::string(v);
    std::string out = "'";
    for (char c : v) {
        if (c == '\'' || c == '\\') out += '\\';
        out += c;
    }
    out += '\'';
    return out;
}

bool is_unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

std::string percent_encode(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char ch : v) {
        const auto c = static_cast<unsigned char>(ch);
        if (is_unreserved(c)) {
            out += ch;
        } else {
            out += fmt::format("%{:02X}", c);
        }
    }
    return out;
}

// What libpq says about a string it could not parse, with any password-looking text removed:
// libpq's messages quote the offending fragment, which may hold the password.
std::string describe_parse_error(const char* err, std::string_view input) {
    std::string msg = err != nullptr ? err : "unknown error";
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    // Mask everything between "://user:" and "@" in the input if it appears in the message.
    const auto scheme = input.find("://");
    if (scheme != std::string_view::npos) {
        const auto at = input.find('@', scheme + 3);
        const auto colon = input.find(':', scheme + 3);
        if (at != std::string_view::npos && colon != std::string_view::npos && colon < at) {
            const auto password = input.substr(colon + 1, at - colon - 1);
            msg = mask_password(msg, password);
        }
    }
    const auto pw = input.find("password=");
    if (pw != std::string_view::npos) {
        auto rest = input.substr(pw + 9);
        const auto end = rest.find(' ');
        msg = mask_password(msg, rest.substr(0, end));
    }
    return msg;
}

std::string redact_input(std::string_view input) {
    // Best effort, for error messages about input libpq refused: drop userinfo and
    // password=... without trying to understand the rest.
    std::string s(input);
    const auto scheme = s.find("://");
    if (scheme != std::string::npos) {
        const auto at = s.find('@', scheme + 3);
        if (at != std::string::npos) {
            const auto colon = s.find(':', scheme + 3);
            if (colon != std::string::npos && colon < at) {
                s.replace(colon + 1, at - colon - 1, kMask);
            }
        }
    }
    auto pw = s.find("password=");
    while (pw != std::string::npos) {
        const auto start = pw + 9;
        auto end = s.find(' ', start);
        if (end == std::string::npos) end = s.size();
        s.replace(start, end - start, kMask);
        pw = s.find("password=", start + kMask.size());
    }
    return s;
}

}  // namespace

std::string mask_password(std::string_view text, std::string_view password) {
    std::string out(text);
    if (password.empty()) return out;
    for (auto pos = out.find(password); pos != std::string::npos;
         pos = out.find(password, pos + kMask.size())) {
        out.replace(pos, password.size(), kMask);
    }
    // The percent-encoded form may appear in URLs.
    const auto encoded = percent_encode(password);
    if (encoded != password) {
        for (auto pos = out.find(encoded); pos != std::string::npos;
             pos = out.find(encoded, pos + kMask.size())) {
            out.replace(pos, encoded.size(), kMask);
        }
    }
    return out;
}

Endpoint Endpoint::parse(std::string_view url_or_conninfo) {
    const std::string input(url_or_conninfo);
    if (input.find('\0') != std::string::npos) {
        throw ConfigError("connection string contains a NUL byte");
    }
    char* err = nullptr;
    ConninfoPtr parsed(PQconninfoParse(input.c_str(), &err));
    if (!parsed) {
        std::string reason = describe_parse_error(err, input);
        if (err != nullptr) PQfreemem(err);
        throw ConfigError(fmt::format("invalid connection string \"{}\": {}",
                                      redact_input(input), reason));
    }
    std::vector<Option> options;
    for (auto* o = parsed.get(); o->keyword != nullptr; ++o) {
        if (o->val != nullptr) options.emplace_back(o->keyword, o->val);
    }
    return Endpoint(std::move(options));
}

Endpoint Endpoint::from_options(std::vector<Option> options) {
    for (const auto& [key, value] : options) {
        if (!is_libpq_keyword(key)) {
            throw ConfigError(fmt::format("unknown libpq connection option \"{}\"", key));
        }
    }
    return Endpoint(std::move(options));
}

std::optional<std::string> Endpoint::option(std::string_view key) const {
    for (const auto& [k, v] : options_) {
        if (k == key) return v;
    }
    return std::nullopt;
}

void Endpoint::set_option(std::string_view key, std::string value) {
    if (!is_libpq_keyword(key)) {
        throw ConfigError(fmt::format("unknown libpq connection option \"{}\"", key));
    }
    for (auto& [k, v] : options_) {
        if (k == key) {
            v = std::move(value);
            return;
        }
    }
    options_.emplace_back(std::string(key), std::move(value));
}

void Endpoint::erase_option(std::string_view key) {
    std::erase_if(options_, [&](const Option& o) { return o.first == key; });
}

std::string Endpoint::host() const {
    if (auto h = option("host"); h && !h->empty()) return *h;
    if (auto a = option("hostaddr"); a && !a->empty()) return *a;
    return "localhost";
}

std::string Endpoint::port() const {
    if (auto p = option("port"); p && !p->empty()) return *p;
    return "5432";
}

std::string Endpoint::dbname() const { return option("dbname").value_or(""); }
std::string Endpoint::user() const { return option("user").value_or(""); }
bool Endpoint::has_password() const { return option("password").has_value(); }

std::string Endpoint::conninfo() const {
    std::string out;
    for (const auto& [k, v] : options_) {
        if (!out.empty()) out += ' ';
        out += k;
        out += '=';
        out += quote_value(v);
    }
    return out;
}

std::string Endpoint::redacted() const {
    std::string out;
    for (const auto& [k, v] : options_) {
        if (!out.empty()) out += ' ';
        out += k;
        out += '=';
        out += k == "password" ? std::string(kMask) : quote_value(v);
    }
    return out;
}

namespace {
std::string make_url(const std::vector<Endpoint::Option>& options, bool mask) {
    std::string user, password, host, port, dbname;
    bool has_password = false;
    std::string query;
    for (const auto& [k, v] : options) {
        if (k == "user") {
            user = v;
        } else if (k == "password") {
            password = v;
            has_password = true;
        } else if (k == "host") {
            host = v;
        } else if (k == "port") {
            port = v;
        } else if (k == "dbname") {
            dbname = v;
        } else {
            query += query.empty() ? '?' : '&';
            query += percent_encode(k);
            query += '=';
            query += percent_encode(v);
        }
    }
    std::string out = "postgresql://";
    if (!user.empty() || has_password) {
        out += percent_encode(user);
        if (has_password) {
            out += ':';
            out += mask ? std::string(kMask) : percent_encode(password);
        }
        out += '@';
    }
    // A host list or a socket directory cannot go in the authority part: pass it as a query
    // parameter, which libpq accepts.
    const bool simple_host = host.find_first_of(",/") == std::string::npos;
    if (simple_host) {
        if (host.find(':') != std::string::npos) {
            out += '[' + host + ']';
        } else {
            out += percent_encode(host);
        }
        if (!port.empty() && port.find(',') == std::string::npos) out += ':' + port;
    }
    out += '/';
    out += percent_encode(dbname);
    auto add = [&](std::string_view k, const std::string& v) {
        query += query.empty() ? '?' : '&';
        query += k;
        query += '=';
        query += percent_encode(v);
    };
    if (!simple_host) {
        add("host", host);
        if (!port.empty()) add("port", port);
    } else if (port.find(',') != std::string::npos) {
        add("port", port);
    }
    return out + query;
}
}  // namespace

std::string Endpoint::url() const { return make_url(options_, false); }
std::string Endpoint::redacted_url() const { return make_url(options_, true); }

std::string Endpoint::label() const {
    const auto h = host();
    const auto db = dbname();
    std::string out = h.find(':') != std::string::npos && h.find(',') == std::string::npos
                          ? "[" + h + "]"
                          : h;
    out += ':';
    out += port();
    if (!db.empty()) {
        out += '/';
        out += db;
    }
    return out;
}

}  // namespace sparc::db
