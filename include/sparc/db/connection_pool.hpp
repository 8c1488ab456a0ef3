#pragma once
/// @file connection_pool.hpp
/// ConnectionPool, Lease and Transaction as a caller sees them: their members declared, the
/// pool's logic left out. <sparc/db/pool.hpp> adds the logic, for a pool over any Backend;
/// db::Database (<sparc/db/database.hpp>) needs only this header, its code being compiled
/// once in the sparc::db library.

#include <chrono>
#include <concepts>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <sparc/db/backend.hpp>
#include <sparc/db/client.hpp>
#include <sparc/db/config.hpp>
#include <sparc/db/copy.hpp>
#include <sparc/db/errors.hpp>
#include <sparc/db/health.hpp>
#include <sparc/db/hooks.hpp>
#include <sparc/db/metrics.hpp>
#include <sparc/db/options.hpp>
#include <sparc/db/params.hpp>
#include <sparc/db/result.hpp>
#include <sparc/db/router.hpp>
#include <sparc/db/stats.hpp>

namespace sparc::db {

template <Backend B>
class ConnectionPool;
template <Backend B>
class Transaction;
namespace detail {
template <Backend B>
class PoolCore;
template <typename B>
class HostPool;
template <typename B>
struct Slot;

/// Where a for_each call stands: how many rows its function was handed (over every attempt),
/// and whether the function threw. Nothing is run again once a row was handed over, and what
/// the function throws is the caller's own: it propagates without any judgement of the pool's.
struct StreamProgress {
    std::size_t rows = 0;
    bool callback_failed = false;
};

/// Where a copy_in call stands: how often its row source was asked for data (only ever after
/// the server accepted the COPY: nothing is run again once it was), and whether it threw.
struct CopyProgress {
    std::size_t chunks = 0;
    bool callback_failed = false;
};

}  // namespace detail

/// A leased connection, returned to the pool when the lease is destroyed. Move-only.
/// A lease dropped inside a transaction rolls it back; a connection in an unknown state is
/// discarded rather than returned. Not thread-safe: one thread uses a lease at a time.
template <Backend B>
class Lease {
  public:
    Lease() noexcept = default;
    Lease(Lease&& other) noexcept
        : pool_(std::exchange(other.pool_, nullptr)),
          host_(std::exchange(other.host_, nullptr)),
          slot_(std::exchange(other.slot_, nullptr)) {}
    Lease& operator=(Lease&& other) noexcept {
        if (this != &other) {
            release();
            pool_ = std::exchange(other.pool_, nullptr);
            host_ = std::exchange(other.host_, nullptr);
            slot_ = std::exchange(other.slot_, nullptr);
        }
        return *this;
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { release(); }

    /// Whether the lease holds a connection.
    explicit operator bool() const noexcept { return slot_ != nullptr; }

    /// Runs a statement on this connection, parameters bound.
    /// @throws SqlError, QueryTimeout, ConnectionError (the connection is then discarded on
    /// release), UsageError (also when the lease holds no connection), PoolClosed (the pool
    /// was shut down while the lease was held, its statement included).
    Result query(std::string_view sql, ParamsRef params = {}, QueryOptions options = {});

    /// Runs a statement on this connection, parameters bound, handing each row to `fn` as it
    /// arrives (see ConnectionPool::for_each()). @returns the number of rows.
    /// @throws like query(), and what `fn` throws, unchanged (the statement is stopped first).
    template <typename F>
    requires std::invocable<F&, const Row&> std::size_t for_each(std::string_view sql,
                                                                 ParamsRef params, F&& fn,
                                                                 QueryOptions options = {}) {
        detail::StreamProgress progress;
        return stream(sql, params, detail::RowSink(fn), options, progress);
    }

    /// Loads `rows` into `table` with COPY FROM STDIN on this connection; see
    /// ConnectionPool::copy_in(). @returns the number of rows loaded.
    /// @throws like query(), UsageError for a refused value, and what the row source throws.
    template <typename R>
    requires CopyRows<std::remove_reference_t<R>> std::size_t copy_in(
        const TableName& table, const std::vector<std::string>& columns, R&& rows,
        QueryOptions options = {}) {
        return detail::run_copy(table, columns, rows,
                                [&](std::string_view sql, detail::CopySource source) {
                                    detail::CopyProgress progress;
                                    return copy(sql, source, options, progress);
                                });
    }

    /// Runs `statements` on this connection in one round trip; see ConnectionPool::batch().
    /// Outside a transaction block they are one transaction; inside one, a part of it.
    /// @returns one Result per statement. @throws like query(); a failing statement's SqlError
    /// has batch_index().
    std::vector<Result> batch(const std::vector<Statement>& statements, QueryOptions options = {});

    /// The backend connection, for calls the pool does not wrap.
    /// @throws PoolClosed when the pool was shut down while the lease was held, UsageError when
    /// the lease holds no connection.
    typename B::Connection& connection();
    /// The host this connection is to (empty when the lease holds no connection).
    HostRef host() const noexcept;

    /// Returns the connection now (rolling back an open transaction).
    void release() noexcept;
    /// Closes the connection instead of returning it.
    void discard() noexcept;

  private:
    friend class detail::PoolCore<B>;
    friend class ConnectionPool<B>;
    friend class Transaction<B>;
    Lease(detail::PoolCore<B>* pool, detail::HostPool<B>* host, detail::Slot<B>* slot) noexcept
        : pool_(pool), host_(host), slot_(slot) {}

    std::size_t stream(std::string_view sql, ParamsRef params, detail::RowSink fn,
                       const QueryOptions& options, detail::StreamProgress& progress);
    std::size_t copy(std::string_view sql, detail::CopySource source, const QueryOptions& options,
                     detail::CopyProgress& progress);

    // A lease outlived by its pool's shutdown grace period is revoked: its statement was
    // cancelled, and it may only be released now.
    void check_usable() const;

    // Runs `run()`, a call on this lease, under `options`' deadline and stop token. A
    // QueryTimeout or Cancelled that the pool's shutdown caused is reported as PoolClosed
    // (check_usable()), unless `*callback_failed` says the caller's own function ended the call.
    template <typename F>
    auto guarded(const QueryOptions& options, F&& run, const bool* callback_failed = nullptr)
        -> decltype(run());

    detail::PoolCore<B>* pool_ = nullptr;
    detail::HostPool<B>* host_ = nullptr;
    detail::Slot<B>* slot_ = nullptr;
};

/// The handle a transaction() function receives: statements run inside the transaction. It is
/// a db::Tx, so a function taking `db::Tx&` runs here too; called as Transaction<B> (an
/// `auto& tx` function), its members are direct calls.
template <Backend B>
class Transaction final : public Tx {
  public:
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

    /// Runs a statement in the transaction, parameters bound, within the transaction's
    /// deadline. Without its own options.trace_context the statement carries the
    /// transaction's. @throws SqlError, QueryTimeout, ConnectionError.
    Result query(std::string_view sql, ParamsRef params = {}, QueryOptions options = {});
    /// Loads `rows` into `table` with COPY FROM STDIN inside the transaction, within its
    /// deadline: a later error that rolls the transaction back takes the rows with it. A COPY
    /// that fails (or whose row source throws) leaves the transaction failed; see
    /// ConnectionPool::copy_in(). @returns the number of rows loaded.
    template <typename R>
    requires CopyRows<std::remove_reference_t<R>> std::size_t copy_in(
        const TableName& table, const std::vector<std::string>& columns, R&& rows,
        QueryOptions options = {}) {
        return detail::run_copy(table, columns, rows,
                                [&](std::string_view sql, detail::CopySource source) {
                                    return copy(sql, source, options);
                                });
    }
    /// Runs `statements` in the transaction in one round trip, within its deadline; see
    /// ConnectionPool::batch(). A failing statement leaves the transaction failed.
    /// @returns one Result per statement. @throws like query(); a failing statement's SqlError
    /// has batch_index().
    std::vector<Result> batch(const std::vector<Statement>& statements, QueryOptions options = {});
    /// The attempt number (1 for the first run, 2 for the first retry, ...).
    int attempt() const noexcept { return attempt_; }
    /// The host the transaction runs on.
    HostRef host() const noexcept { return lease_.host(); }
    /// The underlying lease.
    Lease<B>& lease() noexcept { return lease_; }

  private:
    friend class detail::PoolCore<B>;
    // Lease::guarded() for a statement, batch or COPY (`what`) of this transaction: nothing is
    // sent once the transaction's deadline has passed. `run(x)` gets the settings bounded by
    // that deadline and the call's own timeout.
    template <typename F>
    auto guarded(const QueryOptions& options, bool prepare, const char* what, F&& run,
                 const bool* callback_failed = nullptr) -> decltype(run(ExecSettings{}));
    Transaction(Lease<B>& lease, detail::PoolCore<B>& pool, Clock::time_point deadline, int attempt,
                const void* trace_context)
        : lease_(lease),
          pool_(pool),
          deadline_(deadline),
          attempt_(attempt),
          trace_context_(trace_context) {}

    Result do_query(std::string_view sql, ParamsRef params, const QueryOptions& options) override {
        return query(sql, params, options);
    }
    std::size_t do_copy_in(std::string_view sql, detail::CopySource source,
                           const QueryOptions& options) override {
        return copy(sql, source, options);
    }
    std::vector<Result> do_batch(const std::vector<Statement>& statements,
                                 const QueryOptions& options) override {
        return batch(statements, options);
    }
    std::size_t copy(std::string_view sql, detail::CopySource source, const QueryOptions& options);
    int do_attempt() const noexcept override { return attempt_; }
    HostRef do_host() const noexcept override { return host(); }

    Lease<B>& lease_;
    detail::PoolCore<B>& pool_;
    Clock::time_point deadline_;
    int attempt_;
    const void* trace_context_;
};

/// A pool of PostgreSQL connections to a primary and its read replicas.
///
/// Thread safety: every member function may be called from any thread concurrently. Leases and
/// Transaction handles belong to the thread using them. Destroying the pool drains it
/// (shutdown() with a 5 s grace period), then waits until every lease has been released and
/// every call that touched the pool's state (a release, its on_release hook, a caller failed
/// out of the wait queue) has returned; a lease still held after the grace period is revoked,
/// so its owner's next use throws PoolClosed.
template <Backend B>
class ConnectionPool : public Client {
  public:
    using backend_type = B;
    using connection_type = typename B::Connection;

    /// Builds the pool and starts opening min_connections per host in the background:
    /// construction never waits for a server. @throws ConfigError when `config` is invalid.
    explicit ConnectionPool(PoolConfig config, B backend = B{}, Hooks hooks = {});

    ConnectionPool(const ConnectionPool&) = delete;
    ConnectionPool& operator=(const ConnectionPool&) = delete;

    /// Shuts down with a 5 s grace period (see shutdown()), then waits for revoked leases to be
    /// released and for every call still touching the pool to return.
    ~ConnectionPool() override;

    /// The configuration the pool runs with.
    const PoolConfig& config() const noexcept;

    /// Leases a connection (the primary's, or a replica's with use_read_replica).
    /// @throws PoolTimeout after connection_timeout, PoolClosed, ConnectionError.
    Lease<B> acquire(AcquireOptions options = {}, SourceLocation where = SourceLocation::current());

    /// Runs one statement, parameters bound, on the primary or (use_read_replica) a replica.
    /// A statement is run again only when no byte of it reached the server (or the server
    /// rejected a stale cached plan before running it), see safety::rerun_statement(); replica
    /// reads fail over to other replicas, then the primary.
    /// @throws SqlError, QueryTimeout, PoolTimeout, PoolClosed, ConnectionError, UsageError.
    Result query(std::string_view sql, ParamsRef params = {}, QueryOptions options = {},
                 SourceLocation where = SourceLocation::current());

    /// Runs one statement like query() (the same routing to replicas, timeouts, hooks and
    /// metrics), handing each row to `fn(const db::Row&)` as it arrives instead of building a
    /// Result: libpq's single-row mode, so memory stays bounded whatever the row count.
    /// Before the first row reaches `fn`, failures are handled as query() handles them (a
    /// statement that never reached the server runs again, a replica read moves elsewhere);
    /// once a row has reached `fn`, nothing is run again, so `fn` never sees a row twice.
    /// The client deadline (options.timeout, else query_timeout) and the server's
    /// statement_timeout cover the whole stream, the time spent in `fn` included. A server
    /// error mid-stream throws (SqlError, QueryTimeout, ConnectionError) after `fn` has seen
    /// the rows before it. What `fn` throws propagates unchanged, after the statement was
    /// cancelled; its connection goes back to the pool only once the server confirmed the
    /// cancel, otherwise it is closed, so no later caller sees the statement's rows.
    /// @returns the number of rows handed to `fn`.
    /// @throws what query() throws, and what `fn` throws.
    template <typename F>
    requires std::invocable<F&, const Row&> std::size_t for_each(
        std::string_view sql, ParamsRef params, F&& fn, QueryOptions options = {},
        SourceLocation where = SourceLocation::current()) {
        return do_for_each(sql, params, detail::RowSink(fn), options, where);
    }

    /// Loads `rows` into `table` (`"events"`, or `{"schema", "events"}`) with
    /// `COPY "table" ("col", ...) FROM STDIN` on the primary, in one statement: all rows or
    /// none. `rows` is a range of tuples (std::tuple, std::pair, std::array; std::optional<T>
    /// for NULL) or a function `bool(db::CopyWriter&)` called until it returns false. Values
    /// are converted exactly as statement parameters are and sent in COPY text format, about
    /// 64 KiB at a time; an empty `columns` means every column of the table, in order.
    /// A COPY is run again only when its connection proved dead before the statement was sent
    /// (as query()); never once it reached the server. The client deadline (options.timeout,
    /// else query_timeout, and options.deadline / options.stop) covers the whole COPY.
    /// When the row source throws, or a value is refused (a NUL byte in text: UsageError naming
    /// the column and row), the COPY is aborted on the server, which loads none of it, and the
    /// exception propagates unchanged; the connection stays in the pool when the server
    /// confirmed the abort. Hooks and metrics see one statement. See docs/copy.md.
    /// @returns the number of rows loaded (the server's count).
    /// @throws SqlError (a constraint, a bad value: nothing loaded), QueryTimeout,
    /// ConnectionError, PoolTimeout, PoolClosed, UsageError, Cancelled, and what the row
    /// source throws.
    template <typename R>
    requires CopyRows<std::remove_reference_t<R>> std::size_t copy_in(
        const TableName& table, const std::vector<std::string>& columns, R&& rows,
        QueryOptions options = {}, SourceLocation where = SourceLocation::current()) {
        return detail::run_copy(table, columns, rows,
                                [&](std::string_view sql, detail::CopySource source) {
                                    return do_copy_in(sql, source, options, where);
                                });
    }

    /// Runs `statements` (each a db::Statement{sql, params}) on the primary in one round trip
    /// (libpq's pipeline mode) and one transaction: all of them or none. A failing statement's
    /// SqlError says which ("batch statement 30 of 50 failed: ...") and has batch_index(); the
    /// statements after it are skipped and the ones before it rolled back. Every statement is
    /// checked before anything is sent (UsageError naming it); transaction control statements
    /// are refused. The batch runs again only when its connection proved dead before any of it
    /// was sent (as query()); a batch lost after it was sent may have committed and is never
    /// run twice (ConnectionError, statement_sent()). The client deadline covers the whole
    /// batch; hooks and metrics see one statement, with the first statement's SQL.
    /// @returns one Result per statement, in order.
    /// @throws SqlError, QueryTimeout, ConnectionError, PoolTimeout, PoolClosed, UsageError,
    /// Cancelled.
    std::vector<Result> batch(const std::vector<Statement>& statements, QueryOptions options = {},
                              SourceLocation where = SourceLocation::current());

    /// The primary's current WAL position: pass it as QueryOptions::after to read your own
    /// writes from a replica. @throws like query().
    CommitPosition current_position();

    /// Runs `fn(tx)` in a transaction on the primary and commits; retries the whole function
    /// on serialization failure, deadlock, or a connection lost before COMMIT was sent (each
    /// retry on a fresh connection after a jittered exponential backoff), within
    /// options.retries and options.timeout. Never re-runs a transaction whose COMMIT may have
    /// been applied: that throws TransactionOutcomeUnknown (or, with resolve_unknown_outcome,
    /// asks the server with txid_status and returns normally if it committed). Any other error,
    /// including an exception from `fn`, rolls back and propagates unchanged. The rules are
    /// safety::classify()'s table.
    /// @returns what `fn` returns.
    template <typename F>
    auto transaction(F&& fn, TransactionOptions options = {},
                     SourceLocation where = SourceLocation::current())
        -> std::invoke_result_t<F&, Transaction<B>&> {
        // The retry loop is not a template of F: it keeps what the last attempt's `fn` returned.
        using R = std::invoke_result_t<F&, Transaction<B>&>;
        if constexpr (std::is_void_v<R>) {
            auto body = [&fn](Tx& tx) { fn(static_cast<Transaction<B>&>(tx)); };
            do_transaction(detail::TransactionBody(body), std::move(options), where);
        } else {
            std::optional<R> value;
            auto body = [&fn, &value](Tx& tx) {
                value.emplace(fn(static_cast<Transaction<B>&>(tx)));
            };
            do_transaction(detail::TransactionBody(body), std::move(options), where);
            return std::move(*value);
        }
    }

    /// Health: a live check of the primary bounded by options.timeout, plus each replica's
    /// state from the background checks.
    HealthReport health(HealthOptions options = {});

    /// Connection counts.
    PoolStats stats() const;

    /// Prometheus text exposition of the pool's metrics.
    std::string metrics_text() const;

    /// The pool-wide counters (retries, transactions, hook errors).
    const PoolMetrics& pool_metrics() const noexcept;
    /// The replica router (for inspection).
    const ReplicaRouter& router() const noexcept;

    /// Drains the pool: refuses new work (PoolClosed), lets leased connections finish for up
    /// to `grace`, then revokes the leases still held (their statements are cancelled, any
    /// further use throws PoolClosed, and each connection closes when its lease is released)
    /// and closes every idle connection. Idempotent and safe from any number of threads at
    /// once: every call returns when the drain has ended.
    void shutdown(std::chrono::milliseconds grace);

    /// Whether shutdown() has begun.
    bool closed() const noexcept;

  private:
    // db::Client, for code that takes the pool without its backend type. Like the members
    // above, defined out of the class: not inline, so that a file using the pool over
    // PqxxBackend compiles none of the pool's logic (<sparc/db/database.hpp>).
    Result do_query(std::string_view sql, ParamsRef params, const QueryOptions& options,
                    const SourceLocation& where) override;
    std::size_t do_for_each(std::string_view sql, ParamsRef params, detail::RowSink fn,
                            const QueryOptions& options, const SourceLocation& where) override;
    std::size_t do_copy_in(std::string_view sql, detail::CopySource source,
                           const QueryOptions& options, const SourceLocation& where) override;
    std::vector<Result> do_batch(const std::vector<Statement>& statements,
                                 const QueryOptions& options, const SourceLocation& where) override;
    void do_transaction(detail::TransactionBody body, TransactionOptions options,
                        const SourceLocation& where) override;
    Session do_acquire(const AcquireOptions& options, const SourceLocation& where) override;
    CommitPosition do_current_position() override;
    HealthReport do_health(const HealthOptions& options) override;
    PoolStats do_stats() const override;
    std::string do_metrics_text() const override;
    void do_shutdown(std::chrono::milliseconds grace) override;
    bool do_closed() const noexcept override;

    std::unique_ptr<detail::PoolCore<B>> core_;
};

/// True when the pool's primary answers within `options.timeout`.
template <Backend B>
bool check_database_health(ConnectionPool<B>& pool, HealthOptions options = {}) {
    return pool.health(options).healthy;
}

}  // namespace sparc::db
