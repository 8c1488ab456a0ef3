#pragma once
/// @file endpoint.hpp
/// A PostgreSQL server address with its libpq connection options.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace sparc::db {

/// One PostgreSQL server: libpq connection options (host, port, dbname, user, password, sslmode,
/// ...) parsed by libpq itself, so every option libpq knows is accepted and passed through.
///
/// Options are kept in libpq's own keyword order, one value per keyword, so two endpoints with
/// the same settings compare equal however they were built.
class Endpoint {
  public:
    /// One libpq keyword and its value.
    using Option = std::pair<std::string, std::string>;

    Endpoint() = default;

    /// Parses a `postgresql://` / `postgres://` URL or a libpq `key=value` string, then checks
    /// the values libpq would only reject when connecting (port, connect_timeout, sslmode,
    /// target_session_attrs, gssencmode, channel_binding, sslcompression and the TLS protocol
    /// versions). Also refuses what would carry part of a password into a displayed field: in a
    /// URL, a raw `@` after the first `/` (a password with a raw `/`); a host name holding `@`
    /// or a blank (a password with a raw `@`); a value other than a secret that holds a
    /// `postgresql://` or `postgres://` URL (two connection strings glued together) or what
    /// redact_connection_string() would mask (it is displayed as it is).
    /// @throws ConfigError naming what is wrong (the password never appears in the message).
    static Endpoint parse(std::string_view url_or_conninfo);

    /// Builds an endpoint from options; each key must be a libpq keyword. A key given twice
    /// keeps its last value, as libpq does.
    /// @throws ConfigError for an unknown keyword.
    static Endpoint from_options(std::vector<Option> options);

    /// Value of a libpq option, if set (e.g. "sslmode").
    std::optional<std::string> option(std::string_view key) const;
    /// libpq's connect_timeout, per host: none when unset or not a positive number, and at
    /// least 2 s, as libpq counts it.
    std::optional<std::chrono::seconds> connect_timeout() const;
    /// Sets (or replaces) a libpq option. @throws ConfigError for an unknown keyword.
    void set_option(std::string_view key, std::string value);
    /// Removes an option if present.
    void erase_option(std::string_view key);
    /// All options, in libpq's keyword order.
    const std::vector<Option>& options() const noexcept { return options_; }

    std::string host() const;    ///< "localhost" when unset, as libpq defaults.
    std::string port() const;    ///< "5432" when unset.
    std::string dbname() const;  ///< empty when unset (libpq then uses the user name).
    std::string user() const;    ///< empty when unset.
    bool has_password() const;   ///< Whether a password is configured.

    /// Checks the option values that libpq only checks when connecting (see parse()).
    /// @throws ConfigError naming the option; secret values are never quoted.
    void validate() const;

    /// The libpq key=value connection string, values quoted as libpq requires. Contains the
    /// password: pass it to libpq only, never display it.
    std::string conninfo() const;
    /// Same as conninfo() with every secret option (password, sslpassword) replaced by `****`:
    /// for messages and logs. A value that holds a secret (a password that is also the user or
    /// the database name, say) is shown as `****` too (see display_value()).
    std::string redacted() const;
    /// A `postgresql://` URL equivalent to conninfo() (password included, percent-encoded).
    /// Endpoint::parse(url()) == *this for every endpoint.
    std::string url() const;
    /// A `postgresql://` URL with every secret option masked, and every component that holds
    /// a secret shown as `****`: `postgresql://postgres:postgres@h/postgres` gives
    /// `postgresql://****:****@h/****`.
    std::string redacted_url() const;
    /// `value` (a host, port, user or database name, an option's value) as it may be
    /// displayed: `****` when it contains one of this endpoint's secrets (password,
    /// sslpassword), as written or percent-encoded; unchanged otherwise.
    std::string display_value(std::string_view value) const;
    /// `host:port/dbname`: a short label for metrics, health output and hook events. A host list
    /// gives each host with its port (`h1:5432,h2:5433/app`, 5432 where none is set). Built from
    /// the hosts, the ports and the database name only, and the database name only when it is
    /// plain (ASCII letters, digits, `_ - . $`): no user, no option, and a host or port that
    /// validate() refuses shows as `(invalid host)` / `(invalid port)`, so no password can
    /// appear in it whatever the input. A host, port or database name that contains the
    /// password (or sslpassword) shows as `****` (`127.0.0.1:5432/****` for
    /// `postgresql://postgres:postgres@127.0.0.1/postgres`); the label of an endpoint whose
    /// password appears in none of them is unchanged. Bytes of a host outside printable ASCII
    /// are percent-encoded: a label is always valid UTF-8.
    std::string label() const;

    friend bool operator==(const Endpoint&, const Endpoint&) = default;

  private:
    explicit Endpoint(std::vector<Option> options) : options_(std::move(options)) {}
    std::vector<Option> options_;
};

/// The hosts of an endpoint, one endpoint each, in the order libpq would try them: libpq's
/// `host`, `hostaddr` and `port` lists split by position (a single port applies to every host;
/// an empty item is libpq's default), every other option kept. An endpoint with one host gives
/// a list holding itself. The pool connects host by host with these, so that each host gets
/// its own `connect_timeout` even on non-blocking connects.
/// @throws ConfigError when the lists' lengths do not match (as libpq refuses them).
std::vector<Endpoint> split_hosts(const Endpoint& endpoint);

/// Whether a libpq keyword holds a secret that must never be displayed (`password`,
/// `sslpassword`).
bool is_secret_option(std::string_view key) noexcept;

/// Replaces the password in free text (a libpq message, a URL) with `****`; its
/// percent-encoded form is masked too.
std::string mask_password(std::string_view text, std::string_view password);

/// Replaces `endpoint`'s password and sslpassword in free text with `****`, as
/// mask_password() does for one.
std::string mask_secrets(std::string_view text, const Endpoint& endpoint);

/// Masks the secrets in a connection string that may not even parse: the password of every
/// `scheme://user:password@` and the value of every `password=` / `sslpassword=` (URL query or
/// key=value). Generous by design: for messages about input nobody could parse.
std::string redact_connection_string(std::string_view url_or_conninfo);

/// JSON for display: `{"url": redacted_url(), "label": label(), "host", "port", "dbname",
/// "user", "options": {key: value}}`, secrets masked, and every value through display_value().
/// There is deliberately no from_json: parse a URL instead.
void to_json(nlohmann::json& j, const Endpoint& endpoint);

}  // namespace sparc::db
