// Fuzzes sparc::db::Endpoint: URLs and key=value connection strings, and endpoints built from
// options, with the invariants docs/configuration.md promises.
//
// Input forms:
//   <connection string>            parsed as it is (a postgresql:// URL or key=value string)
//   pw:<secret>\n<template>        <template> with {pw} replaced by <secret> and {pwenc} by
//                                  its percent-encoding; <secret> must never show in a message
//                                  or in a redacted form
//   opts:\n<key>=<value>\n...      Endpoint::from_options(); values take \xHH, \n and \\ escapes
//
// Invariants on a parsed endpoint: it validates; from_options(options()) equals it;
// parse(conninfo()) and parse(url()) give it back; parse(redacted()) and parse(redacted_url())
// give it back with every secret replaced by "****"; redacted(), redacted_url(), label() and the
// JSON form do not depend on the secrets' values; with_pool_limits() round-trips as a URL. A
// parse that fails throws ConfigError and nothing else. With pw:, the secret shows neither in
// the message of a refused input nor, for an accepted one, in anything displayed about a pool on
// it (labels, redacted forms, metrics text, health JSON, sparc-db config's JSON; see
// fuzz_displays.hpp), as written or percent-encoded: whatever libpq made of the input, even when
// the secret did not end up as the password.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <sparc/db/config.hpp>
#include <sparc/db/connection_url.hpp>
#include <sparc/db/endpoint.hpp>
#include <sparc/db/errors.hpp>
#include <sparc/db/registry.hpp>

#include "fuzz_displays.hpp"
#include "fuzz_support.hpp"

namespace {

namespace db = sparc::db;
using sparc::fuzz::check;
using sparc::fuzz::fail;

constexpr std::string_view kMask = "****";

std::string describe(const db::Endpoint& e) {
    std::string out;
    for (const auto& [k, v] : e.options()) {
        out += k;
        out += " = [";
        out += v;
        out += "]\n";
    }
    return out;
}

// Parses text the library itself produced: it must parse, to `expected`.
void check_reparse(std::string_view what, const std::string& text, const db::Endpoint& expected) {
    db::Endpoint back;
    try {
        back = db::Endpoint::parse(text);
    } catch (const db::ConfigError& e) {
        fail(what, "text: " + text + "\nerror: " + e.what() + "\nendpoint:\n" + describe(expected));
    }
    check(back == expected, what,
          "text: " + text + "\nexpected:\n" + describe(expected) + "got:\n" + describe(back));
}

// `e` with every secret option set to `value(old)`.
template <class F>
db::Endpoint with_secrets(const db::Endpoint& e, F&& value) {
    db::Endpoint out = e;
    for (const auto& [k, v] : e.options()) {
        if (db::is_secret_option(k)) {
            out.set_option(k, value(v));
        }
    }
    return out;
}

std::string display_json(const db::Endpoint& e) {
    return nlohmann::json(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void check_endpoint(const db::Endpoint& e) {
    try {
        e.validate();
    } catch (const db::ConfigError& err) {
        fail("a parsed endpoint does not validate", err.what());
    }
    check(db::Endpoint::from_options(e.options()) == e, "from_options(options()) differs",
          describe(e));

    check_reparse("parse(conninfo()) differs", e.conninfo(), e);
    check_reparse("parse(url()) differs", e.url(), e);

    const auto masked = with_secrets(e, [](const std::string&) { return std::string(kMask); });
    // A component that holds a secret (a password that is also the host, say) is shown as the
    // mask too: then the redacted text is not the endpoint with only its secrets masked.
    bool secret_elsewhere = false;
    // What is shown includes defaults (localhost, 5432), which a secret may be part of too.
    const std::string shown = masked.conninfo() + '\n' + masked.url() + '\n' + masked.label() +
                              '\n' + display_json(masked);
    for (const auto& [k, v] : e.options()) {
        if (db::is_secret_option(k)) {
            secret_elsewhere =
                secret_elsewhere || (!v.empty() && shown.find(v) != std::string::npos);
        } else {
            secret_elsewhere = secret_elsewhere || e.display_value(v) != v;
        }
    }
    if (!secret_elsewhere) {
        check_reparse("parse(redacted()) is not the endpoint with secrets masked", e.redacted(),
                      masked);
        check_reparse("parse(redacted_url()) is not the endpoint with secrets masked",
                      e.redacted_url(), masked);
    }

    // Nothing shown may depend on a secret's value (only on whether it is empty), unless a
    // component holds it: that component is then masked, and shown again with another secret.
    const auto other = with_secrets(e, [](const std::string& v) {
        return v.empty() ? std::string() : std::string("0ther-Secret");
    });
    if (!secret_elsewhere) {
        check(e.redacted() == other.redacted(), "redacted() depends on a secret",
              e.redacted() + "\n" + other.redacted());
        check(e.redacted_url() == other.redacted_url(), "redacted_url() depends on a secret",
              e.redacted_url() + "\n" + other.redacted_url());
        check(e.label() == other.label(), "label() depends on a secret", e.label());
        check(display_json(e) == display_json(other), "to_json() depends on a secret",
              display_json(e));
    }

    // The URL handed to other clients carries the pool's limits and still round-trips.
    db::PoolConfig config;
    const auto limited = db::with_pool_limits(config, e);
    check_reparse("parse(with_pool_limits().url()) differs", limited.url(), limited);
    const auto limited_replica = db::with_pool_limits(config, e, db::ServerRole::replica);
    check_reparse("parse(with_pool_limits(replica).url()) differs", limited_replica.url(),
                  limited_replica);
}

// What a pool whose primary is `e` displays must not show the secret; `alt` is the input parsed
// with another secret (see sparc::fuzz::check_hidden()).
void check_hidden(const db::Endpoint& e, const std::optional<db::Endpoint>& alt,
                  std::string_view secret, std::string_view context, std::string_view input) {
    const auto shown_for = [](const db::Endpoint& endpoint) {
        db::PoolConfig config;
        config.primary = endpoint;
        return sparc::fuzz::displays(config, db::fixed_environment({}));
    };
    const auto shown = shown_for(e);
    const auto other = alt ? shown_for(*alt) : std::vector<sparc::fuzz::Display>{};
    sparc::fuzz::check_hidden(shown, other, secret, context, input);
}

// Parses `input`: the endpoint, or the ConfigError message.
std::pair<std::optional<db::Endpoint>, std::string> try_parse(const std::string& input) {
    try {
        return {db::Endpoint::parse(input), {}};
    } catch (const db::ConfigError& e) {
        return {std::nullopt, e.what()};
    }
}

void fuzz_plain(std::string_view text) {
    const auto [endpoint, message] = try_parse(std::string(text));
    if (endpoint) {
        check_endpoint(*endpoint);
    }
    // The generous masker takes any text.
    (void)db::redact_connection_string(text);
}

std::string instantiate(std::string_view tmpl, std::string_view secret) {
    return sparc::fuzz::with_secret(tmpl, secret);
}

void fuzz_secret(std::string_view rest) {
    const auto newline = rest.find('\n');
    if (newline == std::string_view::npos) {
        return;
    }
    const auto secret = rest.substr(0, newline);
    const auto tmpl = rest.substr(newline + 1);
    if (secret.find('\0') != std::string_view::npos) {
        return;
    }
    if (!sparc::fuzz::only_passwords_use_secret(tmpl, secret)) {
        fuzz_plain(instantiate(tmpl, secret));
        return;
    }
    const auto input = instantiate(tmpl, secret);
    const auto alternative = instantiate(tmpl, sparc::fuzz::other_secret(secret));
    const auto context = instantiate(tmpl, "");

    const auto [endpoint, message] = try_parse(input);
    if (endpoint) {
        check_endpoint(*endpoint);
        const auto [alt_endpoint, alt_message] = try_parse(alternative);
        check_hidden(*endpoint, alt_endpoint, secret, context, input);
    } else {
        const auto [alt_endpoint, alt_message] = try_parse(alternative);
        check(!sparc::fuzz::shows_secret(message, secret, alt_message, context),
              "a ConfigError message shows the password", "input: " + input + "\n" + message);
    }
    const auto redacted = db::redact_connection_string(input);
    const auto alt_redacted = db::redact_connection_string(alternative);
    if (endpoint && endpoint->option("password") == std::string(secret)) {
        check(!sparc::fuzz::shows_secret(redacted, secret, alt_redacted, context),
              "redact_connection_string() shows the password", "input: " + input + "\n" + redacted);
    }
}

int hex_digit(char c) {
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
}

std::string unescape(std::string_view v) {
    std::string out;
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] != '\\' || i + 1 >= v.size()) {
            out += v[i];
            continue;
        }
        const char next = v[i + 1];
        if (next == 'n') {
            out += '\n';
            ++i;
        } else if (next == '\\') {
            out += '\\';
            ++i;
        } else if (next == 'x' && i + 3 < v.size() && hex_digit(v[i + 2]) >= 0 &&
                   hex_digit(v[i + 3]) >= 0) {
            out += static_cast<char>(hex_digit(v[i + 2]) * 16 + hex_digit(v[i + 3]));
            i += 3;
        } else {
            out += v[i];
        }
    }
    return out;
}

void fuzz_options(std::string_view rest) {
    std::vector<db::Endpoint::Option> options;
    for (const auto line : sparc::fuzz::split(rest, '\n')) {
        const auto eq = line.find('=');
        if (eq == std::string_view::npos) {
            continue;
        }
        options.emplace_back(std::string(line.substr(0, eq)), unescape(line.substr(eq + 1)));
    }
    db::Endpoint e;
    try {
        e = db::Endpoint::from_options(options);
    } catch (const db::ConfigError&) {
        return;  // an unknown keyword
    }
    for (const auto& [k, v] : e.options()) {
        if (v.find('\0') != std::string::npos) {
            return;  // libpq strings end at NUL: no connection string can carry one
        }
    }
    try {
        e.validate();
    } catch (const db::ConfigError&) {
        return;  // parse() refuses what validate() refuses
    }
    check_endpoint(e);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto text = sparc::fuzz::as_text(data, size);
    if (text.starts_with("pw:")) {
        fuzz_secret(text.substr(3));
    } else if (text.starts_with("opts:\n")) {
        fuzz_options(text.substr(6));
    } else {
        fuzz_plain(text);
    }
    return 0;
}
