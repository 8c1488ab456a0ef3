#pragma once
/// @file client.hpp
/// db::Client, db::Tx and db::Session: the pool's interface without templates, so that service
/// code (`void f(db::Client&)`) runs unchanged on db::Database and on the fake backend.
///
/// Every ConnectionPool<B> is a Client. Calls through the pool's own type stay direct (its
/// members hide these and call the pool's core without a virtual call); calls through a
/// Client& cost one virtual call each, and acquire() one allocation for the Session.

#include <chrono>
#include <concepts>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <sparc/db/copy.hpp>
#include <sparc/db/errors.hpp>
#include <sparc/db/health.hpp>
#include <sparc/db/hooks.hpp>
#include <sparc/db/listener.hpp>
#include <sparc/db/options.hpp>
#include <sparc/db/params.hpp>
#include <sparc/db/result.hpp>
#include <sparc/db/stats.hpp>

namespace sparc::db {

/// The handle a transaction function receives through a Client: statements run inside the
/// transaction. ConnectionPool<B>'s Transaction<B> implements it, so a `[&](db::Tx& tx)`
/// function also runs on a pool of known type. Belongs to the thread running the function.
class Tx {
  public:
    virtual ~Tx() = default;

    /// Runs a statement in the transaction, parameters bound, within the transaction's
    /// deadline. Without its own options.trace_context the statement carries the
    /// transaction's. @throws SqlError, QueryTimeout, ConnectionError, UsageError, PoolClosed.
    Result query(std::string_view sql, ParamsRef params = {}, QueryOptions options = {}) {
        return do_query(sql, params, options);
    }
    /// Loads `rows` into `table` with COPY FROM STDIN inside the transaction; see
    /// ConnectionPool::copy_in(). @returns the number of rows loaded.
    template <typename R>
    requires CopyRows<std::remove_reference_t<R>> std::size_t copy_in(
        const TableName& table, const std::vector<std::string>& columns, R&& rows,
        QueryOptions options = {}) {
        return detail::run_copy(table, columns, rows,
                                [&](std::string_view sql, detail::CopySource source) {
                                    return do_copy_in(sql, source, options);
                                });
    }
    /// Runs `statements` in the transaction in one round trip; see ConnectionPool::batch().
    /// A failing statement leaves the transaction failed. @returns one Result per statement.
    std::vector<Result> batch(const std::vector<Statement>& statements, QueryOptions options = {}) {
        return do_batch(statements, options);
    }
    /// The attempt number (1 for the first run, 2 for the first retry, ...).
    int attempt() const noexcept { return do_attempt(); }
    /// The host the transaction runs on.
    HostRef host() const noexcept { return do_host(); }

  protected:
    Tx() = default;
    Tx(const Tx&) = default;
    Tx& operator=(const Tx&) = default;

  private:
    virtual Result do_query(std::string_view sql, ParamsRef params,
                            const QueryOptions& options) = 0;
    virtual std::size_t do_copy_in(std::string_view sql, detail::CopySource source,
                                   const QueryOptions& options) = 0;
    virtual std::vector<Result> do_batch(const std::vector<Statement>& statements,
                                         const QueryOptions& options) = 0;
    virtual int do_attempt() const noexcept = 0;
    virtual HostRef do_host() const noexcept = 0;
};

namespace detail {

/// What a Session holds: a lease of some ConnectionPool<B> (detail::LeaseSession<B>).
class SessionImpl {
  public:
    virtual ~SessionImpl() = default;
    virtual Result query(std::string_view sql, ParamsRef params, const QueryOptions& options) = 0;
    virtual HostRef host() const noexcept = 0;
    virtual bool holds() const noexcept = 0;
    virtual void release() noexcept = 0;
    virtual void discard() noexcept = 0;
};

/// A non-owning reference to a callable taking Tx&: a transaction function, passed through
/// Client's virtual call without a copy or an allocation.
class TransactionBody {
  public:
    template <typename F>
    requires(!std::same_as<std::remove_cvref_t<F>, TransactionBody> &&
             std::invocable<F&, Tx&>) explicit TransactionBody(F& f) noexcept
        : object_(std::addressof(f)),
          call_([](void* object, Tx& tx) { std::invoke(*static_cast<F*>(object), tx); }) {}

    /// Runs the function; what it throws propagates unchanged.
    void operator()(Tx& tx) const { call_(object_, tx); }

  private:
    void* object_;
    void (*call_)(void*, Tx&);
};

}  // namespace detail

/// A leased connection of any pool (what Client::acquire() returns): the connection goes back
/// to the pool when the Session is destroyed or released, rolled back first if a transaction
/// was left open, discarded if its state is unknown, as ConnectionPool<B>::acquire()'s
/// Lease<B> does. Move-only. Not thread-safe: one thread uses a Session at a time.
class Session {
  public:
    /// A session that holds no connection.
    Session() noexcept = default;
    /// Takes over a pool's lease; used by ConnectionPool<B>.
    explicit Session(std::unique_ptr<detail::SessionImpl> impl) noexcept : impl_(std::move(impl)) {}
    Session(Session&&) noexcept = default;
    Session& operator=(Session&& other) noexcept {
        if (this != &other) {
            release();
            impl_ = std::move(other.impl_);
        }
        return *this;
    }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    ~Session() { release(); }

    /// Whether the session holds a connection.
    explicit operator bool() const noexcept { return impl_ != nullptr && impl_->holds(); }

    /// Runs a statement on this connection, parameters bound.
    /// @throws SqlError, QueryTimeout, ConnectionError, UsageError (also when the session
    /// holds no connection), PoolClosed (the pool was shut down while the session was held).
    Result query(std::string_view sql, ParamsRef params = {}, QueryOptions options = {}) {
        if (impl_ == nullptr) {
            throw UsageError(
                "this session holds no connection: it was released, discarded or moved from");
        }
        return impl_->query(sql, params, options);
    }
    /// The host this connection is to (empty when the session holds no connection).
    HostRef host() const noexcept { return impl_ != nullptr ? impl_->host() : HostRef{}; }

    /// Returns the connection now (rolling back an open transaction).
    void release() noexcept {
        if (impl_ != nullptr) impl_->release();
        impl_.reset();
    }
    /// Closes the connection instead of returning it.
    void discard() noexcept {
        if (impl_ != nullptr) impl_->discard();
        impl_.reset();
    }

  private:
    std::unique_ptr<detail::SessionImpl> impl_;
};

/// A connection pool seen without its backend type: what service code takes, so that the same
/// non-template function runs on db::Database and on ConnectionPool<testing::FakeBackend>.
/// Every ConnectionPool<B> is a Client; each member means exactly what the pool's member of the
/// same name means (the same retries, errors, hooks and metrics).
///
/// Thread safety: every member may be called from any thread concurrently.
class Client {
  public:
    virtual ~Client() = default;
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    /// Runs one statement, parameters bound, on the primary or (use_read_replica) a replica;
    /// see ConnectionPool::query(). @throws SqlError, QueryTimeout, PoolTimeout, PoolClosed,
    /// ConnectionError, UsageError.
    Result query(std::string_view sql, ParamsRef params = {}, QueryOptions options = {},
                 SourceLocation where = SourceLocation::current()) {
        return do_query(sql, params, options, where);
    }

    /// Runs one statement like query(), handing each row to `fn(const db::Row&)` as it arrives,
    /// in bounded memory; see ConnectionPool::for_each(). Never runs the statement again once
    /// a row has reached `fn`. @returns the number of rows handed to `fn`.
    /// @throws what query() throws, and what `fn` throws, unchanged.
    template <typename F>
    requires std::invocable<F&, const Row&> std::size_t for_each(
        std::string_view sql, ParamsRef params, F&& fn, QueryOptions options = {},
        SourceLocation where = SourceLocation::current()) {
        return do_for_each(sql, params, detail::RowSink(fn), options, where);
    }

    /// Loads `rows` into `table` with COPY FROM STDIN on the primary: all rows or none; see
    /// ConnectionPool::copy_in(). @returns the number of rows loaded.
    /// @throws what query() throws, and what the row source throws, unchanged.
    template <typename R>
    requires CopyRows<std::remove_reference_t<R>> std::size_t copy_in(
        const TableName& table, const std::vector<std::string>& columns, R&& rows,
        QueryOptions options = {}, SourceLocation where = SourceLocation::current()) {
        return detail::run_copy(table, columns, rows,
                                [&](std::string_view sql, detail::CopySource source) {
                                    return do_copy_in(sql, source, options, where);
                                });
    }

    /// Runs `statements` on the primary in one round trip and one transaction; see
    /// ConnectionPool::batch(). @returns one Result per statement.
    std::vector<Result> batch(const std::vector<Statement>& statements, QueryOptions options = {},
                              SourceLocation where = SourceLocation::current()) {
        return do_batch(statements, options, where);
    }

    /// Runs `fn(tx)` in a transaction on the primary and commits, with exactly the retries of
    /// ConnectionPool::transaction(): the whole function may run again on a retryable failure
    /// before COMMIT was sent, never once COMMIT may have been applied. `fn` takes a `Tx&` and
    /// may return anything, void included; what it throws propagates unchanged (after the
    /// rollback). @returns what the last run of `fn` returned.
    /// @throws what ConnectionPool::transaction() throws.
    template <typename F>
    requires std::invocable<F&, Tx&>
    auto transaction(F&& fn, TransactionOptions options = {},
                     SourceLocation where = SourceLocation::current())
        -> std::invoke_result_t<F&, Tx&>;

    /// Leases a connection (the primary's, or a replica's with use_read_replica).
    /// @throws PoolTimeout after connection_timeout, PoolClosed, ConnectionError.
    Session acquire(AcquireOptions options = {}, SourceLocation where = SourceLocation::current()) {
        return do_acquire(options, where);
    }

    /// Sends a notification to the listeners of `channel` (see db::Listener): runs
    /// `SELECT pg_notify($1, $2)` on the primary with both bound as parameters, so the names
    /// and payloads need no quoting. Delivered when it commits: at once here, since it runs in
    /// a transaction of its own (inside a transaction, run that statement through the Tx).
    /// @throws UsageError for a bad channel name (check_channel_name()) or a NUL byte in the
    /// payload; SqlError with SQLSTATE 22023 for a payload the server finds too long (8000
    /// bytes and more with the default page size) and 54000 when its notification queue is
    /// full; otherwise what query() throws.
    void notify(std::string_view channel, std::string_view payload = {},
                SourceLocation where = SourceLocation::current()) {
        check_channel_name(channel);
        QueryOptions options;
        options.use_read_replica = false;
        do_query("SELECT pg_notify($1, $2)", {channel, payload}, options, where);
    }

    /// The primary's current WAL position, for read-your-writes reads. @throws like query().
    CommitPosition current_position() { return do_current_position(); }
    /// Health: a live check of the primary plus each replica's state.
    HealthReport health(HealthOptions options = {}) { return do_health(options); }
    /// Connection counts.
    PoolStats stats() const { return do_stats(); }
    /// Prometheus text exposition of the pool's metrics.
    std::string metrics_text() const { return do_metrics_text(); }
    /// Drains the pool (see ConnectionPool::shutdown()). Idempotent.
    void shutdown(std::chrono::milliseconds grace) { do_shutdown(grace); }
    /// Whether shutdown() has begun.
    bool closed() const noexcept { return do_closed(); }

  protected:
    Client() = default;

  private:
    virtual Result do_query(std::string_view sql, ParamsRef params, const QueryOptions& options,
                            const SourceLocation& where) = 0;
    virtual std::size_t do_for_each(std::string_view sql, ParamsRef params, detail::RowSink fn,
                                    const QueryOptions& options, const SourceLocation& where) = 0;
    virtual std::size_t do_copy_in(std::string_view sql, detail::CopySource source,
                                   const QueryOptions& options, const SourceLocation& where) = 0;
    virtual std::vector<Result> do_batch(const std::vector<Statement>& statements,
                                         const QueryOptions& options,
                                         const SourceLocation& where) = 0;
    virtual void do_transaction(detail::TransactionBody body, TransactionOptions options,
                                const SourceLocation& where) = 0;
    virtual Session do_acquire(const AcquireOptions& options, const SourceLocation& where) = 0;
    virtual CommitPosition do_current_position() = 0;
    virtual HealthReport do_health(const HealthOptions& options) = 0;
    virtual PoolStats do_stats() const = 0;
    virtual std::string do_metrics_text() const = 0;
    virtual void do_shutdown(std::chrono::milliseconds grace) = 0;
    virtual bool do_closed() const noexcept = 0;
};

template <typename F>
requires std::invocable<F&, Tx&>
auto Client::transaction(F&& fn, TransactionOptions options, SourceLocation where)
    -> std::invoke_result_t<F&, Tx&> {
    using R = std::invoke_result_t<F&, Tx&>;
    if constexpr (std::is_void_v<R>) {
        auto run = [&fn](Tx& tx) { std::invoke(fn, tx); };
        do_transaction(detail::TransactionBody(run), std::move(options), where);
    } else if constexpr (std::is_reference_v<R>) {
        std::remove_reference_t<R>* result = nullptr;
        auto run = [&](Tx& tx) { result = std::addressof(std::invoke(fn, tx)); };
        do_transaction(detail::TransactionBody(run), std::move(options), where);
        return static_cast<R>(*result);
    } else {
        // Each run replaces the last one's value: the value returned is the committed run's.
        std::optional<R> result;
        auto run = [&](Tx& tx) {
            result.reset();
            result.emplace(std::invoke(fn, tx));
        };
        do_transaction(detail::TransactionBody(run), std::move(options), where);
        return std::move(*result);
    }
}

/// True when the pool's primary answers within `options.timeout`.
inline bool check_database_health(Client& client, HealthOptions options = {}) {
    return client.health(options).healthy;
}

}  // namespace sparc::db
