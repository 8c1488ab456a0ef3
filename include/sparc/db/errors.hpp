#pragma once
/// @file errors.hpp
/// The sparc::db exception hierarchy: one class per situation a caller can act on.

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace sparc::db {

/// Root of every exception sparc::db throws. Messages never contain a password.
class Error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// Invalid configuration: names the field or environment variable at fault.
class ConfigError : public Error {
  public:
    using Error::Error;
};

/// No connection could be leased within `connection_timeout`.
class PoolTimeout : public Error {
  public:
    PoolTimeout(const std::string& message, std::chrono::milliseconds waited, std::size_t pool_size,
                std::size_t waiting)
        : Error(message), waited_(waited), pool_size_(pool_size), waiting_(waiting) {}
    /// How long the caller waited before giving up.
    std::chrono::milliseconds waited() const noexcept { return waited_; }
    /// Connections open or opening when the wait expired.
    std::size_t pool_size() const noexcept { return pool_size_; }
    /// Callers waiting (this one included) when the wait expired.
    std::size_t waiting() const noexcept { return waiting_; }

  private:
    std::chrono::milliseconds waited_;
    std::size_t pool_size_;
    std::size_t waiting_;
};

/// The pool is shutting down or shut down and accepts no new work.
class PoolClosed : public Error {
  public:
    using Error::Error;
};

/// A connection could not be opened, or broke while in use.
class ConnectionError : public Error {
  public:
    explicit ConnectionError(const std::string& message, bool statement_sent = false,
                             std::string sqlstate = {}, bool read_only_session = false)
        : Error(message),
          statement_sent_(statement_sent),
          sqlstate_(std::move(sqlstate)),
          read_only_session_(read_only_session) {}
    /// True when some bytes of the statement may have reached the server: from then on the
    /// server may have applied it, so it is never run again automatically.
    bool statement_sent() const noexcept { return statement_sent_; }
    /// The SQLSTATE the server ended the session or refused the connection with ("57P01",
    /// "53300", ...), or empty when it sent none (a reset, a timeout, a refused TCP connect).
    const std::string& sqlstate() const noexcept { return sqlstate_; }
    /// True when the server had reported the session read-only by default
    /// (default_transaction_read_only on) when the statement was sent: it cannot have written.
    bool read_only_session() const noexcept { return read_only_session_; }

  private:
    bool statement_sent_;
    std::string sqlstate_;
    bool read_only_session_;
};

/// The fields of a server error beyond its SQLSTATE (PostgreSQL's ErrorResponse fields); each
/// is empty when the server did not send it.
struct SqlErrorFields {
    std::string detail;      ///< DETAIL
    std::string hint;        ///< HINT
    std::string schema;      ///< schema of the object concerned
    std::string table;       ///< table concerned
    std::string column;      ///< column concerned
    std::string constraint;  ///< constraint violated (23xxx)
    /// The server function that raised the error (PostgreSQL's "R" field, e.g.
    /// "RevalidateCachedQuery"): not translated, so rules may rely on it.
    std::string routine;
};

/// The server rejected a statement; carries the SQLSTATE code the server reported.
class SqlError : public Error {
  public:
    SqlError(const std::string& message, std::string sqlstate, SqlErrorFields fields = {},
             std::optional<std::size_t> batch_index = std::nullopt)
        : Error(message),
          sqlstate_(std::move(sqlstate)),
          fields_(std::move(fields)),
          batch_index_(batch_index) {}
    /// In a batch (ConnectionPool::batch()), the index of the statement that failed, from 0.
    std::optional<std::size_t> batch_index() const noexcept { return batch_index_; }
    /// Five-character SQLSTATE, e.g. "23505"; empty when the server sent none.
    const std::string& sqlstate() const noexcept { return sqlstate_; }
    /// The constraint violated, e.g. "users_email_key" (23xxx errors).
    const std::string& constraint() const noexcept { return fields_.constraint; }
    /// The table concerned.
    const std::string& table() const noexcept { return fields_.table; }
    /// The column concerned.
    const std::string& column() const noexcept { return fields_.column; }
    /// The schema concerned.
    const std::string& schema() const noexcept { return fields_.schema; }
    /// The server's DETAIL text.
    const std::string& detail() const noexcept { return fields_.detail; }
    /// The server's HINT text.
    const std::string& hint() const noexcept { return fields_.hint; }
    /// The server function that raised the error (see SqlErrorFields::routine).
    const std::string& routine() const noexcept { return fields_.routine; }
    /// All the fields.
    const SqlErrorFields& fields() const noexcept { return fields_; }

  private:
    std::string sqlstate_;
    SqlErrorFields fields_;
    std::optional<std::size_t> batch_index_;
};

namespace detail {
/// The error of statement `index` (from 0) of a batch of `count`: the server's error, with its
/// message saying which statement failed and batch_index() set.
inline SqlError batch_failure(const SqlError& e, std::size_t index, std::size_t count) {
    return SqlError("batch statement " + std::to_string(index + 1) + " of " +
                        std::to_string(count) + " failed: " + e.what(),
                    e.sqlstate(), e.fields(), index);
}
}  // namespace detail

/// A caller's mistake: a NUL byte in SQL text or in a text parameter, more than 65,535
/// parameters, a parameter count that does not match the statement (SQLSTATE 08P01). Never
/// retried, never marks a host down; the connection is kept when it is still clean.
class UsageError : public Error {
  public:
    explicit UsageError(const std::string& message, std::string sqlstate = {})
        : Error(message), sqlstate_(std::move(sqlstate)) {}
    /// The server's SQLSTATE when the server found the mistake ("08P01"), else empty.
    const std::string& sqlstate() const noexcept { return sqlstate_; }

  private:
    std::string sqlstate_;
};

/// A statement ran past the server's statement_timeout or the client's query_timeout.
class QueryTimeout : public SqlError {
  public:
    /// `cancelled`: the server said it cancelled the statement (SQLSTATE 57014), or it was never
    /// sent; false when the client gave up without that answer.
    explicit QueryTimeout(const std::string& message, bool client_side = false,
                          bool cancelled = true)
        : SqlError(message, cancelled ? "57014" : ""),
          client_side_(client_side),
          cancelled_(cancelled) {}
    /// True when the client's query_timeout fired rather than the server's statement_timeout.
    bool client_side() const noexcept { return client_side_; }
    /// True when the statement did not complete: the server cancelled it (sqlstate() is
    /// "57014"). False when the server did not answer in time and the connection was closed:
    /// the statement may have completed there (sqlstate() is empty), as after a lost connection.
    /// From transaction(), either way nothing of the transaction was kept: COMMIT was never
    /// sent, and the message says so.
    bool cancelled() const noexcept { return cancelled_; }

  private:
    bool client_side_;
    bool cancelled_;
};

namespace detail {
/// The timeout of statement `index` (from 0) of a batch of `count`: still a QueryTimeout (with
/// its client_side() and cancelled()), its message saying which statement was running. Not
/// batch_failure(), which would slice it into a plain SqlError 57014.
inline QueryTimeout batch_timeout(const QueryTimeout& e, std::size_t index, std::size_t count) {
    return QueryTimeout("batch statement " + std::to_string(index + 1) + " of " +
                            std::to_string(count) + " timed out: " + e.what(),
                        e.client_side(), e.cancelled());
}
}  // namespace detail

/// Why a call ended early on the caller's say-so.
enum class CancelReason {
    deadline,  ///< QueryOptions::deadline (or TransactionOptions::deadline) passed.
    stop,      ///< A stop was requested on QueryOptions::stop (or TransactionOptions::stop).
};

/// The caller's deadline passed or its stop_token was stopped before the call finished: while
/// it waited for a connection, ran a statement (which was then cancelled) or waited between
/// transaction attempts. Never retried. A statement that was running is cancelled; when the
/// server confirmed the cancel (SQLSTATE 57014) the statement had no effect and the connection
/// is kept, otherwise the connection is discarded and statement_may_have_run() says the
/// statement may have completed. A COMMIT is never cancelled: it is waited for.
class Cancelled : public Error {
  public:
    Cancelled(const std::string& message, CancelReason reason, bool statement_may_have_run = false)
        : Error(message), reason_(reason), may_have_run_(statement_may_have_run) {}
    /// What ended the call.
    CancelReason reason() const noexcept { return reason_; }
    /// True when a statement was running and the server did not confirm its cancel: it may
    /// have completed, as after a lost connection. False when nothing was running, nothing was
    /// sent, or the server cancelled it.
    bool statement_may_have_run() const noexcept { return may_have_run_; }

  private:
    CancelReason reason_;
    bool may_have_run_;
};

/// COMMIT was sent but its outcome never arrived; the transaction may or may not have
/// committed. Never retried automatically.
class TransactionOutcomeUnknown : public Error {
  public:
    TransactionOutcomeUnknown(const std::string& message, std::optional<std::int64_t> txid)
        : Error(message), txid_(txid) {}
    /// The server transaction id (txid_current()) when it was recorded before COMMIT.
    std::optional<std::int64_t> txid() const noexcept { return txid_; }

  private:
    std::optional<std::int64_t> txid_;
};

}  // namespace sparc::db
