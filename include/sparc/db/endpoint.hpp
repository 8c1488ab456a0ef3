#pragma once
/// @file endpoint.hpp
/// A PostgreSQL server address with its libpq connection options.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sparc::db {

/// One PostgreSQL server: libpq connection options (host, port, dbname, user, password, sslmode,
/// ...) parsed by libpq itself, so every option libpq knows is accepted and passed through.
class Endpoint {
public:
    /// One libpq keyword and its value, in the order they were given.
    using Option = std::pair<std::string, std::string>;

    Endpoint() = default;

    /// Parses a `postgresql://` / `postgres://` URL or a libpq `key=value` string.
    /// @throws ConfigError naming what is wrong (the password never appears in the message).
    static Endpoint parse(std::string_view url_or_conninfo);

    /// Builds an endpoint from options; each key must be a libpq keyword.
    /// @throws ConfigError for an unknown keyword.
    static Endpoint from_options(std::vector<Option> options);

    /// Value of a libpq option, if set (e.g. "sslmode").
    std::optional<std::string> option(std::string_view key) const;
    /// Sets (or replaces) a libpq option. @throws ConfigError for an unknown keyword.
    void set_option(std::string_view key, std::string value);
    /// Removes an option if present.
    void erase_option(std::string_view key);
    /// All options, in order.
    const std::vector<Option>& options() const noexcept { return options_; }

    std::string host() const;      ///< "localhost" when unset, as libpq defaults.
    std::string port() const;      ///< "5432" when unset.
    std::string dbname() const;    ///< empty when unset (libpq then uses the user name).
    std::string user() const;      ///< empty when unset.
    bool has_password() const;     ///< Whether a password is configured.

    /// The libpq key=value connection string, values quoted as libpq requires. Contains the
    /// password: pass it to libpq only, never display it.
    std::string conninfo() const;
    /// Same as conninfo() with the password replaced by `****`: for messages and logs.
    std::string redacted() const;
    /// A `postgresql://` URL equivalent to conninfo() (password included, percent-encoded).
    std::string url() const;
    /// A `postgresql://` URL with the password masked.
    std::string redacted_url() const;
    /// `host:port/dbname`: a short label for metrics and health output (no user, no password).
    std::string label() const;

    friend bool operator==(const Endpoint&, const Endpoint&) = default;

private:
    explicit Endpoint(std::vector<Option> options) : options_(std::move(options)) {}
    std::vector<Option> options_;
};

/// Replaces the password in free text (a libpq message, a URL) with `****`.
std::string mask_password(std::string_view text, std::string_view password);

}  // namespace sparc::db
