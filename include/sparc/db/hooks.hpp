#pragma once
/// @file hooks.hpp
/// Callbacks a service attaches to its own telemetry. Called outside the pool's locks; an
/// exception thrown by a hook is caught and counted, never propagated into the pool.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

#include <sparc/db/options.hpp>

namespace sparc::db {

/// Where a call was made: std::source_location's interface, on the compiler builtins that
/// GCC and Clang share (Clang 14 with libstdc++ 12 has no std::source_location).
class SourceLocation {
  public:
    /// The caller's location when used as a default argument.
    static constexpr SourceLocation current(const char* file = __builtin_FILE(),
                                            const char* function = __builtin_FUNCTION(),
                                            unsigned line = __builtin_LINE()) noexcept {
        SourceLocation l;
        l.file_ = file;
        l.function_ = function;
        l.line_ = line;
        return l;
    }
    constexpr const char* file_name() const noexcept { return file_; }
    constexpr const char* function_name() const noexcept { return function_; }
    constexpr unsigned line() const noexcept { return line_; }

  private:
    const char* file_ = "";
    const char* function_ = "";
    unsigned line_ = 0;
};

/// Whether a host serves as primary or replica.
enum class HostRole { primary, replica };
/// "primary" / "replica".
const char* to_string(HostRole role) noexcept;

/// Identifies a host in hook events: its label (host:port/db, never credentials) and role, and
/// the parts of its endpoint a trace names (OpenTelemetry's server.address, server.port,
/// db.namespace, db.user). Never the password.
struct HostRef {
    std::string_view label;
    HostRole role = HostRole::primary;
    std::string_view address;   ///< The configured host (a host list as written: "h1,h2").
    std::string_view port;      ///< The configured port ("5432" when unset; a list likewise).
    std::string_view database;  ///< The database name (empty when unset: libpq uses the user).
    std::string_view user;      ///< The user name (empty when unset).
};

/// How a statement ended.
enum class QueryOutcome { ok, sql_error, timeout, connection_error };
/// Name for metrics and logs.
const char* to_string(QueryOutcome outcome) noexcept;

struct ConnectEvent {
    HostRef host;
    std::chrono::nanoseconds duration{};
    bool ok = true;
    std::string_view error;  ///< Redacted error text when !ok.
};
struct AcquireEvent {
    HostRef host;
    std::chrono::nanoseconds wait{};
};
struct ReleaseEvent {
    HostRef host;
    std::chrono::nanoseconds held{};
    bool reused = true;  ///< False when the connection was discarded.
};
/// A statement about to be sent (on_query_start). The same statement's on_query follows on the
/// same thread, whatever happens; the strings live until the hook returns.
struct QueryStartEvent {
    HostRef host;
    std::string_view sql;  ///< The statement's text as the caller wrote it, never its parameters.
    /// The caller's QueryOptions::trace_context (or TransactionOptions::trace_context for a
    /// statement of a transaction, BEGIN and COMMIT included), untouched; nullptr when unset.
    const void* trace_context = nullptr;
};
/// A statement that ended (on_query). The strings live until the hook returns.
struct QueryEvent {
    HostRef host;
    std::chrono::nanoseconds duration{};
    QueryOutcome outcome = QueryOutcome::ok;
    std::string_view sqlstate;        ///< Set for sql_error and timeout (and a server's goodbye).
    std::string_view sql;             ///< As in QueryStartEvent.
    std::uint64_t rows = 0;           ///< Rows returned (0 on error and for BEGIN / COMMIT);
                                      ///< for for_each, the rows handed to its function.
    std::uint64_t affected_rows = 0;  ///< As Result::affected_rows(): an INSERT's, UPDATE's,
                                      ///< DELETE's or MERGE's count, else 0.
    /// The error's message when outcome != ok, empty otherwise. Passwords are masked: the
    /// host's own, and anything that looks like one in a connection string the text quotes.
    std::string_view error;
    const void* trace_context = nullptr;  ///< As in QueryStartEvent.
};
struct RetryEvent {
    RetryReason reason = RetryReason::connection_lost;
    int attempt = 0;  ///< The attempt about to start (2 = first retry).
    std::chrono::nanoseconds backoff{};
};
struct TransactionEvent {
    TransactionOutcome outcome = TransactionOutcome::committed;
    int attempts = 1;
    std::chrono::nanoseconds duration{};
};
struct HostStateEvent {
    HostRef host;
    bool up = true;
    std::string_view reason;  ///< Why it went down, or what it recovered from.
};
struct LeakEvent {
    HostRef host;
    std::chrono::nanoseconds held{};
    SourceLocation acquired_at;  ///< Where the lease was acquired.
};
struct PoolTimeoutEvent {
    HostRef host;
    std::chrono::nanoseconds waited{};
    std::size_t pool_size = 0;
    std::size_t waiting = 0;
};

/// Telemetry callbacks; any may be empty.
struct Hooks {
    std::function<void(const ConnectEvent&)> on_connect;
    std::function<void(const AcquireEvent&)> on_acquire;
    std::function<void(const ReleaseEvent&)> on_release;
    /// Before each statement is sent (with on_query after it: a span per statement).
    std::function<void(const QueryStartEvent&)> on_query_start;
    /// After each statement, whatever its outcome.
    std::function<void(const QueryEvent&)> on_query;
    std::function<void(const RetryEvent&)> on_retry;
    std::function<void(const TransactionEvent&)> on_transaction;
    std::function<void(const HostStateEvent&)> on_host_state;
    std::function<void(const LeakEvent&)> on_leak;
    std::function<void(const PoolTimeoutEvent&)> on_pool_timeout;
};

}  // namespace sparc::db
