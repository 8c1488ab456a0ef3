#pragma once
/// @file pqxx_backend.hpp
/// The production backend: PostgreSQL through libpqxx and libpq.

#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>

#include <sparc/db/backend.hpp>

namespace sparc::db {

/// Backend over libpqxx. Connections are `pqxx::connection`s; statements go through libpq's
/// asynchronous calls on the same connection, so that a statement has a client-side deadline
/// and a failure is known to have happened before or after the statement reached the server.
/// libpqxx 6.4's automatic reconnection is disabled: the pool must see a broken connection.
///
/// Thread safety: the backend object may be shared; a Connection is used by one thread at a
/// time, except cancel(), which is safe from any thread.
class PqxxBackend {
  public:
    class Connection;

    PqxxBackend();

    /// Opens a connection. A host list (`h1:5432,h2:5432`) is tried host by host, each with
    /// its own `connect_timeout` (or an equal share of the deadline without one), starting
    /// with the host that accepted last; host names are looked up within the attempt's time.
    /// @throws ConnectionError (message without the password; sqlstate() of the server's
    /// refusal, e.g. "53300").
    std::unique_ptr<Connection> connect(const Endpoint& endpoint, const ConnectSettings& settings);

    struct Shared;

  private:
    std::unique_ptr<Connection> open_host(const Endpoint& endpoint, Clock::time_point deadline,
                                          const ConnectSettings& settings);

    std::shared_ptr<Shared> shared_;
};

/// One server session.
class PqxxBackend::Connection {
  public:
    struct Impl;
    explicit Connection(std::unique_ptr<Impl> impl) noexcept;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection();

    /// Runs one statement with bound parameters. @throws ConnectionError, SqlError, QueryTimeout.
    Result execute(std::string_view sql, ParamsRef params, const ExecSettings& settings);
    /// Runs one statement in libpq's single-row mode, handing each row to `sink` as it
    /// arrives; returns how many it handed over. The deadline in `settings` covers the whole
    /// stream. When `sink` throws, the statement is cancelled (the session is broken off if the
    /// server does not answer within settings.cancel_grace) and the exception propagates
    /// unchanged. @throws ConnectionError, SqlError, QueryTimeout.
    std::size_t stream(std::string_view sql, ParamsRef params, const ExecSettings& settings,
                       detail::RowSink sink);
    /// Runs a COPY ... FROM STDIN, sending the data `source` produces in chunks of about
    /// 64 KiB within the deadline in `settings`; returns the rows the server loaded. When
    /// `source` throws, the deadline passes or cancel() is called, the COPY is aborted
    /// (PQputCopyEnd with a reason) so that the server loads none of it; the source's
    /// exception propagates unchanged (otherwise QueryTimeout). The session stays usable when
    /// the server confirms the abort within settings.cancel_grace, and is broken off otherwise.
    /// @throws ConnectionError, SqlError, QueryTimeout, UsageError.
    std::size_t copy_in(std::string_view sql, detail::CopySource source,
                        const ExecSettings& settings);
    /// Runs `statements` in one round trip (libpq's pipeline mode, one Sync): outside a
    /// transaction block, one implicit transaction. Returns one Result per statement; a failing
    /// statement's SqlError has batch_index(), and the session stays usable. The deadline in
    /// `settings` covers the whole batch. @throws ConnectionError, SqlError, QueryTimeout,
    /// UsageError.
    std::vector<Result> batch(std::span<const Statement> statements, const ExecSettings& settings);
    /// Starts a transaction with the given isolation and access mode.
    void begin(const TransactionOptions& options, const ExecSettings& settings);
    /// Commits. A ConnectionError with statement_sent() means the outcome is unknown.
    void commit(const ExecSettings& settings);
    /// Rolls back.
    void rollback(const ExecSettings& settings);
    /// Asks the server to cancel the running statement; safe from any thread, never blocks.
    void cancel() noexcept;
    /// Whether a cancel request was sent that the server has not been seen to act on: it may
    /// still interrupt a later statement on this session.
    bool cancel_outstanding() const noexcept;
    /// Whether the session still looks usable, without a round trip (the socket tells when the
    /// server closed it).
    bool is_alive();
    /// The server's in_hot_standby as last reported (PostgreSQL 14+; nullopt before).
    std::optional<bool> in_recovery() const noexcept;
    /// Transaction state as libpq reports it.
    TxStatus transaction_status() const noexcept;
    /// Server process id of the session (for pg_terminate_backend in tests and logs).
    int backend_pid() const noexcept;
    /// The server the session reached, "host:port" (for a host list, the host that accepted).
    std::string_view server() const noexcept;
    /// Cuts the session from any thread (see ServerAwareBackend): its socket is shut down, so
    /// a wait in progress ends at once with ConnectionError carrying `reason`.
    void interrupt(std::string_view reason) noexcept;
    /// Closes the session; idempotent.
    void close() noexcept;

  private:
    std::unique_ptr<Impl> impl_;
};

static_assert(StreamingBackend<PqxxBackend>);
static_assert(CopyingBackend<PqxxBackend>);
static_assert(ServerAwareBackend<PqxxBackend>);
static_assert(BatchingBackend<PqxxBackend>);

}  // namespace sparc::db
