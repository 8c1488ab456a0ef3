#pragma once
/// @file backend.hpp
/// The Backend concept: what ConnectionPool needs from a database driver.

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <sparc/db/copy.hpp>
#include <sparc/db/endpoint.hpp>
#include <sparc/db/options.hpp>
#include <sparc/db/params.hpp>
#include <sparc/db/result.hpp>

namespace sparc::db {

using Clock = std::chrono::steady_clock;

/// Session settings applied when a connection is opened.
struct ConnectSettings {
    Clock::time_point deadline = Clock::time_point::max();  ///< Give up connecting after.
    std::chrono::milliseconds statement_timeout{0};         ///< Server-side; 0 leaves the default.
    std::string application_name{};                         ///< When the endpoint sets none.
    bool pgbouncer_mode = false;           ///< No startup options, no named prepared statements.
    std::size_t statement_cache_size = 0;  ///< Prepared statements kept per connection.
    /// A session that answered less than this long ago is taken as alive without a system call
    /// (Connection::is_alive() and the check before a statement); 0 checks every time.
    std::chrono::milliseconds alive_bypass{0};
    /// Open the session with default_transaction_read_only on (not in pgbouncer_mode, which
    /// allows no startup options).
    bool read_only = false;
    /// When set, a connect in progress gives up as soon as this turns true (the pool is
    /// shutting down): checked at least every 50 ms.
    const std::atomic<bool>* abandon = nullptr;
};

/// Per-statement execution settings.
struct ExecSettings {
    /// Client-side deadline: cancel the statement then, and if the server does not answer the
    /// cancel promptly, break the connection and throw QueryTimeout.
    Clock::time_point deadline = Clock::time_point::max();
    bool prepare = true;  ///< Allow the statement cache.
    /// For begin(): `SET LOCAL statement_timeout` to this (0 = leave the session's), sent with
    /// BEGIN in one round trip. For an autocommit statement of a pool in pgbouncer_mode: the
    /// statement_timeout the server enforces on it (a backend may wrap the statement in a
    /// transaction that sets it).
    std::chrono::milliseconds local_statement_timeout{0};
    /// How long a statement cancelled at the deadline may take to answer before the connection
    /// is broken off instead. Health checks use 0: they end at their deadline.
    std::chrono::milliseconds cancel_grace{500};
};

/// The connection's transaction state, as libpq reports it.
enum class TxStatus { idle, in_transaction, in_error, active, unknown };

/// A database driver for ConnectionPool. `B` is cheap to copy; copies share state.
/// `B::Connection` is one server session; the pool uses it from one thread at a time, except
/// cancel(), which another thread may call while a statement runs.
///
/// Backends report facts and leave every judgement to safety.hpp. Errors: connect() and the
/// statement calls throw ConnectionError when the session broke or never opened
/// (statement_sent(): whether any byte of the statement may have left the client; sqlstate():
/// the server's, when it said goodbye with one), SqlError when the server answered with an
/// ERROR (SQLSTATE and the server's fields), QueryTimeout for 57014 or the client deadline
/// (client_side()), UsageError when the driver itself refused the call. transaction_status()
/// is `unknown` once the session is broken; cancel_outstanding() says whether a cancel request
/// was sent that the server has not been seen to act on. in_recovery() is what the server
/// last reported of itself without a round trip: whether it is a hot standby (PostgreSQL 14+
/// reports in_hot_standby, and a promotion at the next statement), nullopt when it does not say.
template <typename B>
concept Backend = std::copy_constructible<B> &&
    requires(B& backend, const Endpoint& endpoint, const ConnectSettings& settings) {
    typename B::Connection;
    {
        backend.connect(endpoint, settings)
        } -> std::same_as<std::unique_ptr<typename B::Connection>>;
} && requires(typename B::Connection& c, std::string_view sql, ParamsRef params,
              const ExecSettings& exec, const TransactionOptions& tx) {
    { c.execute(sql, params, exec) } -> std::same_as<Result>;
    { c.begin(tx, exec) } -> std::same_as<void>;
    { c.commit(exec) } -> std::same_as<void>;
    { c.rollback(exec) } -> std::same_as<void>;
    { c.cancel() }
    noexcept;
    { c.cancel_outstanding() } -> std::same_as<bool>;
    { c.is_alive() } -> std::same_as<bool>;
    { c.in_recovery() } -> std::same_as<std::optional<bool>>;
    { c.transaction_status() } -> std::same_as<TxStatus>;
    { c.close() }
    noexcept;
};

/// A Backend whose connections also stream a statement's rows (ConnectionPool::for_each):
/// `c.stream(sql, params, exec, sink)` sends the statement like execute() and hands each row to
/// `sink` as it arrives, holding no more than a few rows at a time, and returns how many rows
/// it handed over. The deadline in `exec` covers the whole stream, the sink's time included.
/// Facts as for execute(); besides, when `sink` throws, the backend stops the statement (cancels
/// it, or breaks off the session) so that no row of it can reach a later statement, leaves
/// cancel_outstanding() and transaction_status() telling the truth about the session, and
/// rethrows the sink's exception unchanged. A Backend without stream() still runs for_each,
/// from execute()'s whole result.
template <typename B>
concept StreamingBackend = Backend<B> &&
    requires(typename B::Connection& c, std::string_view sql, ParamsRef params,
             const ExecSettings& exec, detail::RowSink sink) {
    { c.stream(sql, params, exec, sink) } -> std::same_as<std::size_t>;
};

/// A backend whose sessions tell which server they reached and can be cut from another
/// thread. server(): for an endpoint with a host list, the host that accepted ("host:port");
/// called from any thread, its value never changes. interrupt(reason): called from any thread
/// while the session's owner may be using it; a wait for the server in progress or to come
/// ends at once with ConnectionError whose message is `reason` (statement_sent() when the
/// statement had left), and the session is broken. The pool uses both to follow a failover:
/// once a new session of the writable primary lands on another server, the sessions still on
/// the old one are cut (see docs/failover.md).
template <typename B>
concept ServerAwareBackend = Backend<B> &&
    requires(typename B::Connection& c, const typename B::Connection& cc, std::string_view reason) {
    { cc.server() } -> std::convertible_to<std::string_view>;
    { c.interrupt(reason) }
    noexcept;
};

/// A Backend whose connections load data with COPY FROM STDIN (ConnectionPool::copy_in):
/// `c.copy_in(sql, source, exec)` sends `sql` (a `COPY ... FROM STDIN` statement, no
/// parameters, never prepared), then, once the server accepted it, the data `source` produces,
/// chunk by chunk, and returns the number of rows the server reports loaded. The deadline in
/// `exec` covers the whole COPY. Facts as for execute(); besides, when `source` throws, the
/// backend aborts the COPY so that the server loads nothing of it (PQputCopyEnd with a reason),
/// leaves transaction_status() and cancel_outstanding() telling the truth about the session,
/// and rethrows the source's exception unchanged. A Backend without copy_in() cannot run
/// copy_in(): the call throws UsageError before anything is sent.
template <typename B>
concept CopyingBackend = Backend<B> &&
    requires(typename B::Connection& c, std::string_view sql, detail::CopySource source,
             const ExecSettings& exec) {
    { c.copy_in(sql, source, exec) } -> std::same_as<std::size_t>;
};

/// A Backend whose connections run several statements in one round trip (ConnectionPool::
/// batch): `c.batch(statements, exec)` sends them all, then waits for their results (libpq's
/// pipeline mode), and returns one Result per statement. Outside a transaction block they run
/// as one implicit transaction: all or nothing. When one fails the later ones are skipped, and
/// the call throws the failing statement's SqlError through detail::batch_failure() (its
/// batch_index()), with the session left idle and usable. The deadline in `exec` covers the
/// whole batch. Facts as for execute(): statement_sent() is false only when nothing of the
/// batch may have left the client. A Backend without batch() cannot run batch(): the call
/// throws UsageError before anything is sent.
template <typename B>
concept BatchingBackend = Backend<B> &&
    requires(typename B::Connection& c, std::span<const Statement> statements,
             const ExecSettings& exec) {
    { c.batch(statements, exec) } -> std::same_as<std::vector<Result>>;
};

/// The SQL that starts a transaction with the given options.
std::string begin_statement(const TransactionOptions& options);

}  // namespace sparc::db
