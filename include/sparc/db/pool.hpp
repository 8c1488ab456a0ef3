#pragma once
/// @file pool.hpp
/// ConnectionPool: leases, queries, replica routing, retrying transactions, health, metrics
/// and graceful shutdown over any Backend. The classes are declared in
/// <sparc/db/connection_pool.hpp>; this header has their logic, which a pool over a backend
/// other than PqxxBackend (db::Database, compiled in the library) needs.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/core.h>

#include <sparc/db/backend.hpp>
#include <sparc/db/client.hpp>
#include <sparc/db/config.hpp>
#include <sparc/db/connection_pool.hpp>
#include <sparc/db/detail/host_pool.hpp>
#include <sparc/db/detail/sql.hpp>
#include <sparc/db/errors.hpp>
#include <sparc/db/health.hpp>
#include <sparc/db/hooks.hpp>
#include <sparc/db/metrics.hpp>
#include <sparc/db/options.hpp>
#include <sparc/db/params.hpp>
#include <sparc/db/result.hpp>
#include <sparc/db/retry.hpp>
#include <sparc/db/router.hpp>
#include <sparc/db/safety.hpp>
#include <sparc/db/stats.hpp>

namespace sparc::db {

namespace detail {

/// What the hooks are told about a statement: its text and the caller's trace context.
struct StatementInfo {
    std::string_view sql;
    const void* trace_context = nullptr;
};

/// Runs one backend call on a leased slot, timing it and counting its outcome, between the
/// on_query_start and on_query hooks (called on this thread, outside the pool's locks). The
/// error text given to on_query is redacted, and built only when that hook is set.
template <typename B, typename F>
auto timed_call(HostPool<B>& host, PoolMetrics& pool_metrics, const Hooks& hooks,
                StatementInfo statement, F&& f) -> decltype(f()) {
    if (hooks.on_query_start) {
        call_hook(hooks.on_query_start,
                  QueryStartEvent{host.ref(), statement.sql, statement.trace_context},
                  pool_metrics);
    }
    const auto start = Clock::now();
    QueryOutcome outcome = QueryOutcome::ok;
    std::string sqlstate;
    // Rows and affected rows of what the call returned: a Result's, or a stream's count.
    auto notify = [&](Clock::duration took, std::size_t rows, std::uint64_t affected,
                      const std::exception* error) {
        if (!hooks.on_query) return;
        const std::string text =
            error != nullptr ? redact_error_text(error->what(), host.endpoint()) : std::string();
        call_hook(hooks.on_query,
                  QueryEvent{.host = host.ref(),
                             .duration = took,
                             .outcome = outcome,
                             .sqlstate = sqlstate,
                             .sql = statement.sql,
                             .rows = rows,
                             .affected_rows = affected,
                             .error = text,
                             .trace_context = statement.trace_context},
                  pool_metrics);
    };
    auto record = [&](std::size_t rows, std::uint64_t affected, const std::exception* error) {
        const auto took = Clock::now() - start;
        auto& m = host.metrics();
        m.queries[static_cast<std::size_t>(outcome)].add();
        m.query_duration.observe(took);
        if (outcome == QueryOutcome::sql_error || outcome == QueryOutcome::timeout) {
            m.count_error_class(sqlstate);
        }
        if (outcome == QueryOutcome::connection_error) m.connection_errors.add();
        notify(took, rows, affected, error);
    };
    try {
        if constexpr (std::is_void_v<decltype(f())>) {
            f();
            record(0, 0, nullptr);
        } else {
            auto r = f();
            if constexpr (std::is_same_v<decltype(r), Result>) {
                record(r.size(), r.affected_rows(), nullptr);
            } else if constexpr (std::is_same_v<decltype(r), std::size_t>) {
                record(r, 0, nullptr);  // a stream's row count
            } else {
                record(0, 0, nullptr);
            }
            return r;
        }
    } catch (const QueryTimeout& e) {
        outcome = QueryOutcome::timeout;
        sqlstate = "57014";
        record(0, 0, &e);
        throw;
    } catch (const SqlError& e) {
        outcome = QueryOutcome::sql_error;
        sqlstate = e.sqlstate();
        record(0, 0, &e);
        if (safety::usage_error(e)) throw UsageError(e.what(), e.sqlstate());
        throw;
    } catch (const UsageError& e) {
        outcome = QueryOutcome::sql_error;
        sqlstate = e.sqlstate();
        record(0, 0, &e);
        throw;
    } catch (const ConnectionError& e) {
        outcome = QueryOutcome::connection_error;
        sqlstate = e.sqlstate();
        record(0, 0, &e);
        throw;
    } catch (const std::exception& e) {
        // Not a statement outcome the metrics count (a backend's bug, bad_alloc, PoolClosed):
        // the hook still hears of it, so a span opened by on_query_start is closed.
        outcome = QueryOutcome::connection_error;
        notify(Clock::now() - start, 0, 0, &e);
        throw;
    } catch (...) {
        outcome = QueryOutcome::connection_error;
        notify(Clock::now() - start, 0, 0, nullptr);
        throw;
    }
}

/// Runs one statement on a leased connection: checks what the caller passed, then runs it
/// timed and counted. @throws UsageError before anything is sent, or what the backend throws.
template <typename B>
Result run_statement(HostPool<B>& host, PoolMetrics& pool_metrics, const Hooks& hooks,
                     typename B::Connection& conn, std::string_view sql, ParamsRef params,
                     const ExecSettings& x, const void* trace_context = nullptr) {
    safety::check_statement(sql, params);
    return timed_call(host, pool_metrics, hooks, StatementInfo{sql, trace_context},
                      [&] { return conn.execute(sql, params, x); });
}

/// Carries what a for_each function threw through the backend and timed_call(), so that the
/// hooks hear of it (its text) without the metrics counting it as the statement's failure;
/// stream_statement() rethrows the original.
class CallbackFailed final : public std::exception {
  public:
    explicit CallbackFailed(std::string what) : what_(std::move(what)) {}
    const char* what() const noexcept override { return what_.c_str(); }

  private:
    std::string what_;
};

/// Calls the caller's function `f` (`who` names it in messages) on the backend's behalf: what
/// it throws is kept in `thrown`, `failed` is set, and CallbackFailed goes through the backend
/// instead, for the caller to rethrow the original.
template <typename F>
decltype(auto) guard_callback(F&& f, std::exception_ptr& thrown, bool& failed, const char* who) {
    try {
        return std::forward<F>(f)();
    } catch (const std::exception& e) {
        thrown = std::current_exception();
        failed = true;
        throw CallbackFailed(e.what());
    } catch (...) {
        thrown = std::current_exception();
        failed = true;
        throw CallbackFailed(fmt::format("{} threw a non-standard exception", who));
    }
}

/// Runs one statement on a leased connection, handing each row to `fn` as it arrives (from
/// the whole result on a backend that cannot stream), timed and counted like run_statement().
/// @returns the number of rows. @throws UsageError before anything is sent, what the backend
/// throws, or, unchanged, what `fn` throws (the statement is then stopped, see
/// StreamingBackend).
template <typename B>
std::size_t stream_statement(HostPool<B>& host, PoolMetrics& pool_metrics, const Hooks& hooks,
                             typename B::Connection& conn, std::string_view sql, ParamsRef params,
                             const ExecSettings& x, RowSink fn, StreamProgress& progress,
                             const void* trace_context = nullptr) {
    safety::check_statement(sql, params);
    std::exception_ptr thrown;
    auto sink = [&](const Row& row) {
        ++progress.rows;  // counted before the call: the function has seen it
        guard_callback([&] { fn(row); }, thrown, progress.callback_failed, "the for_each function");
    };
    try {
        return timed_call(host, pool_metrics, hooks, StatementInfo{sql, trace_context},
                          [&]() -> std::size_t {
                              if constexpr (StreamingBackend<B>) {
                                  return conn.stream(sql, params, x, RowSink(sink));
                              } else {
                                  const Result r = conn.execute(sql, params, x);
                                  for (const auto& row : r) sink(row);
                                  return r.size();
                              }
                          });
    } catch (const CallbackFailed&) {
        std::rethrow_exception(thrown);
    }
}

/// Runs one COPY ... FROM STDIN on a leased connection, its data from `source`, timed and
/// counted like run_statement() (one statement; `rows` is the count loaded).
/// @returns the number of rows loaded. @throws UsageError when the backend cannot COPY (nothing
/// is sent), what the backend throws, or, unchanged, what `source` throws (the COPY is then
/// aborted, see CopyingBackend).
template <typename B>
std::size_t copy_in_statement(HostPool<B>& host, PoolMetrics& pool_metrics, const Hooks& hooks,
                              typename B::Connection& conn, std::string_view sql, CopySource source,
                              const ExecSettings& x, CopyProgress& progress,
                              const void* trace_context = nullptr) {
    if constexpr (!CopyingBackend<B>) {
        (void)host, (void)pool_metrics, (void)hooks, (void)conn, (void)sql, (void)source, (void)x,
            (void)progress, (void)trace_context;
        throw UsageError("copy_in: this backend has no copy_in(): it cannot run COPY FROM STDIN");
    } else {
        safety::check_statement(sql, {});
        std::exception_ptr thrown;
        auto fill = [&](std::string& out) -> bool {
            ++progress.chunks;
            return guard_callback([&] { return source(out); }, thrown, progress.callback_failed,
                                  "the copy_in row source");
        };
        try {
            return timed_call(
                host, pool_metrics, hooks, StatementInfo{sql, trace_context},
                [&]() -> std::size_t { return conn.copy_in(sql, CopySource(fill), x); });
        } catch (const CallbackFailed&) {
            std::rethrow_exception(thrown);
        }
    }
}

/// Runs a batch (BatchingBackend) on a leased connection in one round trip, timed and counted
/// like run_statement(): one statement for metrics and hooks, which see the first statement's
/// SQL. Every statement is checked before anything is sent; transaction control (BEGIN, COMMIT,
/// ROLLBACK, SAVEPOINT, ...) is refused, since a batch is one transaction of its own or a part
/// of the caller's. @throws UsageError (nothing sent), or what the backend throws.
template <typename B>
std::vector<Result> batch_statements(HostPool<B>& host, PoolMetrics& pool_metrics,
                                     const Hooks& hooks, typename B::Connection& conn,
                                     std::span<const Statement> statements, const ExecSettings& x,
                                     const void* trace_context = nullptr) {
    if constexpr (!BatchingBackend<B>) {
        (void)host, (void)pool_metrics, (void)hooks, (void)conn, (void)statements, (void)x,
            (void)trace_context;
        throw UsageError("batch: this backend has no batch(): it cannot pipeline statements");
    } else {
        if (statements.empty()) return {};
        for (std::size_t i = 0; i < statements.size(); ++i) {
            try {
                safety::check_statement(statements[i].sql, statements[i].params);
                safety::check_batch_statement(statements[i].sql);
            } catch (const UsageError& e) {
                throw UsageError(
                    fmt::format("batch statement {} of {}: {}", i + 1, statements.size(), e.what()),
                    e.sqlstate());
            }
        }
        return timed_call(host, pool_metrics, hooks,
                          StatementInfo{statements.front().sql, trace_context},
                          [&] { return conn.batch(statements, x); });
    }
}

/// Runs `run(x)`, a caller's statement, under the deadline and stop token of the call this
/// thread is making (CallLimits): never started once the call is stopped or past its deadline;
/// a stop cancels it on the server (conn.cancel(), which another thread may call); a timeout
/// that the caller's limits caused is reported as Cancelled, saying whether the server
/// confirmed the cancel. A connection whose cancel was not confirmed is discarded
/// (safety::reuse).
template <typename B, typename F>
auto under_caller_limits(HostPool<B>& host, typename B::Connection& conn, ExecSettings x, F&& run)
    -> decltype(run(x)) {
    if (t_call_limits == nullptr) return run(x);
    const auto deadline = call_deadline();
    if (call_stop_requested()) {
        throw Cancelled(
            fmt::format("the call was stopped before its statement was sent to {}", host.label()),
            CancelReason::stop);
    }
    if (deadline) {
        if (Clock::now() >= *deadline) {
            throw Cancelled(fmt::format("the call's deadline passed before its statement was "
                                        "sent to {}",
                                        host.label()),
                            CancelReason::deadline);
        }
        x.deadline = std::min(x.deadline, *deadline);
    }
    struct Fire {
        typename B::Connection* conn;
        void operator()() const noexcept { conn->cancel(); }
    };
    try {
        OnCallStop<Fire> on_stop(Fire{&conn});
        return run(x);
    } catch (const QueryTimeout& e) {
        const bool stopped = call_stop_requested();
        if (!stopped && !(deadline && *deadline <= x.deadline && Clock::now() >= *deadline)) {
            throw;
        }
        const bool may_have_run = !e.cancelled();
        throw Cancelled(
            fmt::format("the call {} while its statement ran on {}: {}",
                        stopped ? "was stopped" : "reached its deadline", host.label(),
                        may_have_run ? "the server did not answer the cancel request in time and "
                                       "the connection was closed; the statement may have "
                                       "completed"
                                     : "the server cancelled the statement"),
            stopped ? CancelReason::stop : CancelReason::deadline, may_have_run);
    }
}

/// run_statement() under the caller's limits (under_caller_limits()).
template <typename B>
Result run_caller_statement(HostPool<B>& host, PoolMetrics& pool_metrics, const Hooks& hooks,
                            typename B::Connection& conn, std::string_view sql, ParamsRef params,
                            const ExecSettings& x, const void* trace_context = nullptr) {
    return under_caller_limits(host, conn, x, [&](const ExecSettings& limited) {
        return run_statement(host, pool_metrics, hooks, conn, sql, params, limited, trace_context);
    });
}

/// The transaction() running on this thread, if any: statements the thread runs through the
/// same pool meanwhile stop waiting for a connection at its deadline, and say why they may
/// wait in vain (the transaction holds a connection they may be waiting for).
struct ActiveTransaction {
    const void* pool = nullptr;
    Clock::time_point deadline{};
    ActiveTransaction* outer = nullptr;
};
inline thread_local ActiveTransaction* t_active_transaction = nullptr;

/// The innermost transaction() of `pool` on this thread, or nullptr.
inline const ActiveTransaction* active_transaction(const void* pool) noexcept {
    for (auto* t = t_active_transaction; t != nullptr; t = t->outer) {
        if (t->pool == pool) return t;
    }
    return nullptr;
}

}  // namespace detail

namespace detail {
/// How long a read-your-writes read asks the replicas whether they have replayed its position
/// before it goes to the primary.
inline constexpr std::chrono::milliseconds kReadYourWritesWait{20};
/// The longest the replay-position question may take on one replica; one that takes longer
/// is marked down (its checks bring it back).
inline constexpr std::chrono::milliseconds kReplayQueryLimit{200};

/// Where the primary's WAL was, and when: the last positions its checks and current_position()
/// saw, on its current timeline. A replica that has not replayed a position the primary had at
/// time t is behind by at least now - t, whatever it says of itself: a standby cut off from its
/// primary has replayed all it received and reports no lag.
class PrimaryHistory {
  public:
    /// Records a position of the primary (older timelines' samples go on a change).
    void add(CommitPosition position, Clock::time_point at) {
        std::lock_guard lock(mutex_);
        if (position.timeline != timeline_) {
            samples_.clear();
            timeline_ = position.timeline;
        }
        if (!samples_.empty() && samples_.back().first.lsn >= position.lsn) return;
        if (samples_.size() == kSamples) samples_.erase(samples_.begin());
        samples_.emplace_back(position, at);
    }
    /// How far behind a replica that has replayed `replayed` is at least: the age of the
    /// oldest position recorded past it (0 when it has replayed them all).
    std::chrono::milliseconds behind(const CommitPosition& replayed, Clock::time_point now) const {
        std::lock_guard lock(mutex_);
        for (const auto& [p, at] : samples_) {
            if (p.lsn > replayed.lsn) {
                return std::chrono::duration_cast<std::chrono::milliseconds>(now - at);
            }
        }
        return std::chrono::milliseconds{0};
    }

  private:
    static constexpr std::size_t kSamples = 64;
    mutable std::mutex mutex_;
    std::vector<std::pair<CommitPosition, Clock::time_point>> samples_;
    std::uint32_t timeline_ = 0;
};

/// A replica read found its server promoted (run_on); carries the read's result (a Result, or
/// a stream's row count).
template <typename T>
struct NotAStandby {
    T result;
};

/// Rethrows `failure`, a ConnectionError or a PoolTimeout with `context` before its text and
/// every other fact kept; any other error (subclasses included) as it is.
[[noreturn]] inline void rethrow_in_context(const std::exception_ptr& failure,
                                            std::string_view context) {
    try {
        std::rethrow_exception(failure);
    } catch (const ConnectionError& e) {
        if (typeid(e) != typeid(ConnectionError)) throw;
        throw ConnectionError(fmt::format("{}: {}", context, e.what()), e.statement_sent(),
                              e.sqlstate(), e.read_only_session());
    } catch (const PoolTimeout& e) {
        if (typeid(e) != typeid(PoolTimeout)) throw;
        throw PoolTimeout(fmt::format("{}: {}", context, e.what()), e.waited(), e.pool_size(),
                          e.waiting());
    }
}

/// How a statement that a limit cut short inside transaction() ended, for the error that
/// reports the rollback: the statement may have run, but COMMIT was never sent, so that is
/// not said.
inline std::string cut_statement_detail(const Error& e) {
    const auto* timeout = dynamic_cast<const QueryTimeout*>(&e);
    const auto* cancelled = dynamic_cast<const Cancelled*>(&e);
    if ((timeout != nullptr && !timeout->cancelled()) ||
        (cancelled != nullptr && cancelled->statement_may_have_run())) {
        return "the server did not confirm the cancel of the running statement in time, and "
               "closing the connection ended the transaction there";
    }
    return e.what();
}
}  // namespace detail

namespace detail {

/// A Lease<B> behind db::Session's interface.
template <Backend B>
class LeaseSession final : public SessionImpl {
  public:
    explicit LeaseSession(Lease<B> lease) noexcept : lease_(std::move(lease)) {}
    Result query(std::string_view sql, ParamsRef params, const QueryOptions& options) override {
        return lease_.query(sql, params, options);
    }
    HostRef host() const noexcept override { return lease_.host(); }
    bool holds() const noexcept override { return static_cast<bool>(lease_); }
    void release() noexcept override { lease_.release(); }
    void discard() noexcept override { lease_.discard(); }

  private:
    Lease<B> lease_;
};

/// The state and the logic of a ConnectionPool, which is its public face. It is freed only
/// once every lease has been released and every release, waiter and hook call that touched it
/// has returned (wait_quiescent()).
template <Backend B>
class PoolCore {
  public:
    using backend_type = B;
    using connection_type = typename B::Connection;

    /// Builds the pool and starts opening min_connections per host in the background:
    /// construction never waits for a server. @throws ConfigError when `config` is invalid.
    PoolCore(PoolConfig config, B backend, Hooks hooks)
        : config_(std::move(config)), backend_(std::move(backend)), hooks_(std::move(hooks)) {
        config_.validate();
        router_.emplace(replica_weights(), config_.max_replica_lag);
        ConnectSettings settings;
        settings.statement_timeout = config_.statement_timeout;
        settings.application_name =
            config_.application_name.empty() ? config_.service_name : config_.application_name;
        settings.pgbouncer_mode = config_.pgbouncer_mode;
        settings.statement_cache_size = config_.pgbouncer_mode ? 0 : config_.statement_cache_size;
        settings.alive_bypass = config_.alive_bypass_window;
        detail::HostLimits limits{config_.min_connections,      config_.max_connections,
                                  config_.idle_timeout,         config_.connection_timeout,
                                  config_.max_lifetime,         config_.leak_detection_threshold,
                                  config_.reconnect_backoff_max};
        hosts_.push_back(std::make_unique<detail::HostPool<B>>(
            backend_, config_.primary, HostRole::primary, limits, settings, hooks_, metrics_));
        auto replica_limits = limits;
        if (config_.max_replica_connections > 0) {
            replica_limits.max = config_.max_replica_connections;
            replica_limits.min = std::min(replica_limits.min, replica_limits.max);
        }
        // Replica sessions are read-only by default: even a host promoted behind the pool's back
        // applies no write sent there as a read, so a read lost on one may go elsewhere
        // (safety::try_another_host()).
        auto replica_settings = settings;
        replica_settings.read_only = !config_.pgbouncer_mode;  // no startup options there
        for (const auto& r : config_.replicas) {
            hosts_.push_back(std::make_unique<detail::HostPool<B>>(
                backend_, r.endpoint, HostRole::replica, replica_limits, replica_settings, hooks_,
                metrics_));
        }
        housekeeper_ = std::thread([this] { housekeeping_loop(); });
    }

    PoolCore(const PoolCore&) = delete;
    PoolCore& operator=(const PoolCore&) = delete;

    ~PoolCore() {
        shutdown(std::chrono::seconds(5));
        wait_quiescent();
        hosts_.clear();
    }

    /// Waits until no lease is held and no release, hook call or failed waiter still touches
    /// the pool's state. Call after shutdown().
    void wait_quiescent() {
        for (auto& h : hosts_) h->wait_quiescent();
    }

    /// The configuration the pool runs with.
    const PoolConfig& config() const noexcept { return config_; }

    /// Leases a connection (the primary's, or a replica's with use_read_replica).
    /// @throws PoolTimeout after connection_timeout, PoolClosed, ConnectionError.
    Lease<B> acquire(AcquireOptions options = {},
                     SourceLocation where = SourceLocation::current()) {
        detail::ScopedCallLimits limits(options.deadline, options.stop);
        if (options.stop.stop_requested()) {
            throw Cancelled("the call was stopped before a connection was leased",
                            CancelReason::stop);
        }
        if (const auto d = detail::call_deadline(); d && Clock::now() >= *d) {
            throw Cancelled("the call's deadline passed before a connection was leased",
                            CancelReason::deadline);
        }
        // The timeout starts when the pool first has to wait: an acquire served at once reads
        // no clock.
        auto deadline = acquire_deadline(options.timeout.count() > 0 ? options.timeout
                                                                     : config_.connection_timeout);
        if (options.use_read_replica && router_->size() > 0) {
            std::uint64_t tried = 0;
            while (true) {
                const int i = router_->pick(tried);
                if (i < 0) break;
                tried |= std::uint64_t{1} << static_cast<unsigned>(i);
                auto& host = *hosts_[static_cast<std::size_t>(i) + 1];
                try {
                    return Lease<B>(this, &host, acquire_on(host, deadline, where));
                } catch (const ConnectionError& e) {
                    replica_failed(static_cast<std::size_t>(i), e.what());
                } catch (const PoolTimeout&) {
                    if (deadline.passed()) throw;
                }
            }
            if (!config_.fallback_to_primary) {
                throw ConnectionError("no replica is available and fallback_to_primary is off");
            }
        }
        auto& primary = *hosts_.front();
        return Lease<B>(this, &primary, acquire_on(primary, deadline, where));
    }

    /// Runs one statement, parameters bound, on the primary or (use_read_replica) a replica.
    /// A statement whose connection proved dead before it reached the server is run once more
    /// on a fresh connection; replica reads fail over to other replicas, then the primary.
    /// @throws SqlError, QueryTimeout, PoolTimeout, PoolClosed, ConnectionError.
    Result query(std::string_view sql, ParamsRef params = {}, QueryOptions options = {},
                 SourceLocation where = SourceLocation::current()) {
        detail::ScopedCallLimits limits(options.deadline, options.stop);
        QueryWork work{sql, params, options};
        if (options.use_read_replica.value_or(config_.prefer_replica_reads) &&
            router_->size() > 0) {
            return read_on_replicas(work, where);
        }
        auto deadline = acquire_deadline(config_.connection_timeout);
        return run_on(*hosts_.front(), work, deadline, where);
    }

    /// Runs one statement like query(), handing each row to `fn` as it arrives; see
    /// ConnectionPool::for_each(). @returns the number of rows.
    std::size_t for_each(std::string_view sql, ParamsRef params, detail::RowSink fn,
                         QueryOptions options = {},
                         SourceLocation where = SourceLocation::current()) {
        detail::ScopedCallLimits limits(options.deadline, options.stop);
        StreamWork work{sql, params, options, fn};
        if (options.use_read_replica.value_or(config_.prefer_replica_reads) &&
            router_->size() > 0) {
            return read_on_replicas(work, where);
        }
        auto deadline = acquire_deadline(config_.connection_timeout);
        return run_on(*hosts_.front(), work, deadline, where);
    }

    /// Runs one COPY ... FROM STDIN on the primary, its data from `source`; see
    /// ConnectionPool::copy_in(). @returns the number of rows loaded.
    std::size_t copy_in(std::string_view sql, detail::CopySource source, QueryOptions options = {},
                        SourceLocation where = SourceLocation::current()) {
        detail::ScopedCallLimits limits(options.deadline, options.stop);
        CopyWork work{sql, source, options};
        auto deadline = acquire_deadline(config_.connection_timeout);
        return run_on(*hosts_.front(), work, deadline, where);
    }

    /// Runs `statements` on the primary in one round trip and one transaction; see
    /// ConnectionPool::batch(). @returns one Result per statement.
    std::vector<Result> batch(const std::vector<Statement>& statements, QueryOptions options = {},
                              SourceLocation where = SourceLocation::current()) {
        detail::ScopedCallLimits limits(options.deadline, options.stop);
        BatchWork work{statements, options};
        auto deadline = acquire_deadline(config_.connection_timeout);
        return run_on(*hosts_.front(), work, deadline, where);
    }

    /// The primary's current WAL position: pass it as QueryOptions::after to read your own
    /// writes from a replica. @throws like query().
    CommitPosition current_position() {
        auto r = query(detail::kCurrentLsnSql, {}, QueryOptions{.prepare = false});
        auto position = CommitPosition::parse(r.front()[0].template as<std::string_view>());
        if (r.columns() > 1 && !r.front()[1].is_null()) {
            position.timeline =
                detail::timeline_of_walfile(r.front()[1].template as<std::string_view>());
        }
        primary_seen_at(position);
        return position;
    }

    /// Runs `fn(tx)` in a transaction on the primary and commits; retries the whole function
    /// on serialization failure, deadlock, or a connection lost before COMMIT was sent (each
    /// retry on a fresh connection after a jittered exponential backoff), within
    /// options.retries and options.timeout. Never re-runs a transaction whose COMMIT may have
    /// been applied: that throws TransactionOutcomeUnknown (or, with resolve_unknown_outcome,
    /// asks the server with txid_status and returns normally if it committed). Any other error,
    /// including an exception from `fn`, rolls back and propagates unchanged.
    /// @returns what `fn` returns.
    ///
    /// `body` gets the Transaction<B> as its Tx& and keeps what the function returns; the
    /// retry loop itself is no template of the function, so that it is compiled once per
    /// backend (in the library, for PqxxBackend).
    void transaction(detail::TransactionBody body, TransactionOptions options,
                     SourceLocation where);

    /// Health: a live check of the primary bounded by options.timeout, plus each replica's
    /// state from the background checks.
    HealthReport health(HealthOptions options = {});

    /// Connection counts.
    PoolStats stats() const {
        PoolStats s;
        for (const auto& h : hosts_) {
            const auto c = h->counts();
            s.total += c.total;
            s.idle += c.idle;
            s.in_use += c.in_use;
            s.waiting += c.waiting;
            s.max += h->max();
            s.hosts.push_back(
                {h->label(), h->role(), c.total, c.idle, c.in_use, c.waiting, h->max()});
        }
        return s;
    }

    /// Prometheus text exposition of the pool's metrics.
    std::string metrics_text() const {
        std::vector<HostSnapshot> snaps;
        for (std::size_t i = 0; i < hosts_.size(); ++i) {
            hosts_[i]->fold_fast_path_metrics();
            const auto& h = *hosts_[i];
            const auto c = h.counts();
            HostSnapshot s;
            s.label = h.label();
            s.role = h.role();
            s.total = c.total;
            s.idle = c.idle;
            s.in_use = c.in_use;
            s.waiting = c.waiting;
            s.max = h.max();
            s.metrics = &h.metrics();
            if (i == 0) {
                s.up = primary_up_.load(std::memory_order_relaxed);
                s.observed_role = primary_in_recovery_.load(std::memory_order_relaxed)
                                      ? HostRole::replica
                                      : HostRole::primary;
            } else {
                const auto st = router_->state(i - 1);
                s.up = st.up;
                s.observed_role = st.observed_role;
                s.replication_lag = st.lag;
            }
            snaps.push_back(std::move(s));
        }
        return render_prometheus(config_.service_name, snaps, metrics_);
    }

    /// The pool-wide counters (retries, transactions, hook errors).
    const PoolMetrics& pool_metrics() const noexcept { return metrics_; }
    /// The replica router (for inspection).
    const ReplicaRouter& router() const noexcept { return *router_; }

    /// Drains the pool: refuses new work (PoolClosed), lets leased connections finish for up
    /// to `grace`, then cancels what still runs and closes every connection. Idempotent.
    void shutdown(std::chrono::milliseconds grace) {
        {
            std::unique_lock lock(shutdown_mutex_);
            if (shutdown_started_) {
                // Another caller drains: return when it is done, as it will.
                shutdown_cv_.wait(lock, [&] { return shutdown_done_; });
                return;
            }
            shutdown_started_ = true;
            closed_.store(true);
        }
        for (auto& h : hosts_) h->stop_accepting();
        const auto deadline = Clock::now() + grace;
        bool drained = true;
        for (auto& h : hosts_) drained = h->wait_drained(deadline) && drained;
        if (!drained) {
            // Leases held past the grace period: their statements are cancelled and any
            // further use throws PoolClosed; each connection closes when its lease ends.
            for (auto& h : hosts_) h->revoke_in_use();
        }
        stop_housekeeper();
        for (auto& h : hosts_) h->close_now();
        {
            std::lock_guard lock(shutdown_mutex_);
            shutdown_done_ = true;
        }
        shutdown_cv_.notify_all();
    }

    /// Whether shutdown() has begun.
    bool closed() const noexcept { return closed_.load(); }

  private:
    friend class Lease<B>;
    friend class Transaction<B>;

    std::vector<unsigned> replica_weights() const {
        std::vector<unsigned> w;
        for (const auto& r : config_.replicas) w.push_back(r.weight);
        return w;
    }

    ExecSettings exec_settings(std::chrono::milliseconds timeout, bool prepare,
                               Clock::time_point cap = Clock::time_point::max()) const {
        ExecSettings x;
        const auto t = timeout.count() > 0 ? timeout : config_.query_timeout;
        x.deadline = t.count() > 0 ? std::min(cap, Clock::now() + t) : cap;
        x.prepare = prepare;
        if (config_.pgbouncer_mode && config_.statement_timeout.count() > 0) {
            // Behind PgBouncer the session has no statement_timeout of its own: an autocommit
            // statement goes out as BEGIN; SET LOCAL statement_timeout; it; COMMIT, in one
            // round trip, with this timeout.
            x.local_statement_timeout = server_timeout_until(x.deadline);
        }
        return x;
    }

    // The server's statement_timeout for statements that must end by `deadline`: the configured
    // one, or the time left when that is shorter, plus kServerTimeoutMargin, so that the
    // client's own deadline acts first and is reported as what it is (Cancelled for a caller's
    // deadline) rather than raced by the server's timer; the server still stops the work of a
    // client that has gone.
    std::chrono::milliseconds server_timeout_until(Clock::time_point deadline) const {
        auto timeout = config_.statement_timeout;
        if (deadline != Clock::time_point::max()) {
            const auto left =
                std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()) +
                kServerTimeoutMargin;
            if (timeout.count() == 0 || left < timeout) timeout = left;
        }
        return std::max(std::chrono::milliseconds(1), timeout);
    }
    static constexpr std::chrono::milliseconds kServerTimeoutMargin{50};

    // The acquire deadline for a statement or lease: `timeout` from when the caller first has
    // to wait, but never past the deadline of a transaction() this thread is inside.
    detail::AcquireDeadline acquire_deadline(std::chrono::milliseconds timeout) const noexcept {
        if (const auto* tx = detail::active_transaction(this)) {
            return detail::AcquireDeadline::at(std::min(tx->deadline, Clock::now() + timeout));
        }
        return detail::AcquireDeadline(timeout);
    }

    // Leases a connection of `host`. A caller inside a transaction() of this pool that has to
    // give up learns that it may be waiting for the connection its own transaction holds.
    detail::Slot<B>* acquire_on(detail::HostPool<B>& host, detail::AcquireDeadline& deadline,
                                const SourceLocation& where) {
        try {
            return host.acquire(deadline, where);
        } catch (const PoolTimeout& e) {
            if (detail::active_transaction(this) == nullptr) throw;
            throw PoolTimeout(fmt::format("{}; this thread is inside a transaction() of this pool "
                                          "and holds one of its connections: a lease held by the "
                                          "same thread may be what this call is waiting for",
                                          e.what()),
                              e.waited(), e.pool_size(), e.waiting());
        }
    }

    // What query() runs on a lease: one statement, its whole result.
    struct QueryWork {
        std::string_view sql;
        ParamsRef params;
        const QueryOptions& options;
        Result run(Lease<B>& lease) { return lease.query(sql, params, options); }
        std::size_t delivered() const noexcept { return 0; }
        bool caller_failed() const noexcept { return false; }
    };

    // What for_each() runs on a lease: one statement, its rows handed to `fn` as they arrive.
    // `progress` lasts across attempts: once a row was handed over, nothing runs again.
    struct StreamWork {
        std::string_view sql;
        ParamsRef params;
        const QueryOptions& options;
        detail::RowSink fn;
        detail::StreamProgress progress{};
        std::size_t run(Lease<B>& lease) {
            return lease.stream(sql, params, fn, options, progress);
        }
        std::size_t delivered() const noexcept { return progress.rows; }
        bool caller_failed() const noexcept { return progress.callback_failed; }
    };

    // What copy_in() runs on a lease: one COPY, its data pulled from `source` only once the
    // server accepted the statement. Once the source was asked for data, nothing runs again.
    struct CopyWork {
        std::string_view sql;
        detail::CopySource source;
        const QueryOptions& options;
        detail::CopyProgress progress{};
        std::size_t run(Lease<B>& lease) { return lease.copy(sql, source, options, progress); }
        std::size_t delivered() const noexcept { return progress.chunks; }
        bool caller_failed() const noexcept { return progress.callback_failed; }
    };

    // What batch() runs on a lease: the statements in one round trip.
    struct BatchWork {
        const std::vector<Statement>& statements;
        const QueryOptions& options;
        std::vector<Result> run(Lease<B>& lease) { return lease.batch(statements, options); }
        std::size_t delivered() const noexcept { return 0; }
        bool caller_failed() const noexcept { return false; }
    };

    // Runs an autocommit statement (`work`) on `host`, running it again only when safety::
    // rerun_statement() allows: never once a byte of it may have reached the server, nor once
    // a row of it was handed to a for_each function.
    //
    // On the primary, a write refused with 25006 (a fenced or demoted primary) drops the
    // host's connections and runs once more on a new one: with a host list it reaches the
    // writable host; the refused statement changed nothing. A replica read (`replica_read`)
    // whose server reports it is no longer a standby throws NotAStandby with the result.
    template <typename Work>
    auto run_on(detail::HostPool<B>& host, Work& work, detail::AcquireDeadline& acquire_deadline,
                const SourceLocation& where, bool replica_read = false)
        -> decltype(work.run(std::declval<Lease<B>&>())) {
        using T = decltype(work.run(std::declval<Lease<B>&>()));
        bool refused_write = false;
        for (int attempt = 0;; ++attempt) {
            Lease<B> lease(this, &host, acquire_on(host, acquire_deadline, where));
            try {
                T r = work.run(lease);
                if (replica_read && lease.connection().in_recovery() == false) {
                    lease.discard();
                    throw detail::NotAStandby<T>{std::move(r)};
                }
                return r;
            } catch (const Error& e) {
                if (work.caller_failed()) throw;  // the caller's own error, unchanged
                session_failed(host, e);
                if (&host == hosts_.front().get() && safety::read_only_refusal(e) &&
                    work.delivered() == 0 && !refused_write &&
                    refused_by_host(lease.connection())) {
                    refused_write = true;
                    lease.discard();
                    primary_refused_write();
                    continue;
                }
                // Other idle connections may be just as dead (a restart ends every session),
                // or hold the same stale statement: as many attempts as the host has
                // connections, plus a new one.
                const auto rerun = safety::rerun_statement(e, work.delivered());
                if (rerun == safety::Rerun::no || attempt > static_cast<int>(host.max())) throw;
                if (rerun == safety::Rerun::fresh_connection) lease.discard();
            }
        }
    }

    // A pooler that cannot reach the database ended the session: the host counts a failed
    // connect and backs off (HostPool::session_failed()).
    static void session_failed(detail::HostPool<B>& host, const Error& e) {
        if (const auto* c = dynamic_cast<const ConnectionError*>(&e)) host.session_failed(*c);
    }

    void replica_failed(std::size_t replica, std::string_view reason) {
        auto& host = *hosts_[replica + 1];
        if (router_->mark_down(replica, std::string(reason))) {
            host.discard_idle();
            detail::call_hook(hooks_.on_host_state, HostStateEvent{host.ref(), false, reason},
                              metrics_);
        }
        wake_housekeeper();
    }

    template <typename Work>
    auto read_on_replicas(Work& work, const SourceLocation& where)
        -> decltype(work.run(std::declval<Lease<B>&>())) {
        using T = decltype(work.run(std::declval<Lease<B>&>()));
        const QueryOptions& options = work.options;
        auto deadline = detail::AcquireDeadline::at(Clock::now() + config_.connection_timeout);
        std::uint64_t tried = 0;
        std::string failures;
        bool write_refused = false;
        bool asked = false;
        while (true) {
            int i = router_->pick(tried, options.after);
            if (i < 0 && options.after && !asked && !write_refused) {
                // Read your writes: what the router knows of the replicas' positions dates from
                // the last check. Ask them, briefly, before going to the primary.
                asked = true;
                if (refresh_positions(*options.after, tried, deadline)) {
                    i = router_->pick(tried, options.after);
                }
            }
            if (i < 0) break;
            const auto idx = static_cast<std::size_t>(i);
            tried |= std::uint64_t{1} << idx;
            auto& host = *hosts_[idx + 1];
            try {
                return run_on(host, work, deadline, where, true);
            } catch (const detail::NotAStandby<T>& e) {
                // Promoted: in a split brain its data is another history. Out of rotation; a
                // read-only session wrote nothing, so the read goes elsewhere.
                const auto why = "no longer a standby (promoted?): out of rotation";
                if (router_->mark_not_standby(idx, why)) {
                    detail::call_hook(hooks_.on_host_state, HostStateEvent{host.ref(), false, why},
                                      metrics_);
                }
                wake_housekeeper();
                if (config_.pgbouncer_mode) return e.result;  // not read-only: it may have written
                if (work.delivered() > 0) return e.result;    // the function has its rows already
                failures +=
                    fmt::format("{}{}: {}", failures.empty() ? "" : "; ", host.label(), why);
            } catch (const PoolTimeout& e) {
                failures +=
                    fmt::format("{}{}: {}", failures.empty() ? "" : "; ", host.label(), e.what());
                if (deadline.passed()) break;
            } catch (const Error& e) {
                if (work.caller_failed()) throw;  // the caller's own error, unchanged
                if (safety::read_only_refusal(e) && work.delivered() == 0) {
                    // A write: it belongs on the primary, whichever replica is asked.
                    if (!config_.fallback_to_primary) throw;
                    write_refused = true;
                    break;
                }
                if (safety::marks_host_down(e)) replica_failed(idx, e.what());
                if (!safety::try_another_host(e, work.delivered())) throw;
                failures +=
                    fmt::format("{}{}: {}", failures.empty() ? "" : "; ", host.label(), e.what());
            }
        }
        // Replicas not tried were ruled out by what the router knows: say why.
        for (std::size_t i = 0; i < router_->size() && !write_refused; ++i) {
            if ((tried >> i) & 1U) continue;
            const auto st = router_->state(i);
            std::string why = !st.up ? fmt::format("down ({})", st.last_error)
                              : st.observed_role != HostRole::replica
                                  ? std::string("not a standby (promoted?): out of rotation")
                              : st.off_timeline ? fmt::format(
                                                      "not seen on the primary's timeline since a "
                                                      "failover ({} ms ago)",
                                                      st.lag.count())
                              : st.lag > config_.max_replica_lag
                                  ? fmt::format("lagging {} ms", st.lag.count())
                                  : std::string("has not replayed the requested position");
            failures +=
                fmt::format("{}{}: {}", failures.empty() ? "" : "; ", hosts_[i + 1]->label(), why);
        }
        if (!config_.fallback_to_primary) {
            throw ConnectionError(
                fmt::format("no replica could serve the read and fallback_to_primary is off{}{}",
                            failures.empty() ? "" : "; tried ", failures));
        }
        auto& primary = *hosts_.front();
        try {
            auto fallback = detail::AcquireDeadline::at(
                std::max(deadline.get(), Clock::now() + std::chrono::milliseconds(100)));
            return run_on(primary, work, fallback, where);
        } catch (const ConnectionError& e) {
            if (failures.empty() || work.caller_failed()) throw;
            throw ConnectionError(fmt::format("no host could serve the read; tried {}; {}: {}",
                                              failures, primary.label(), e.what()),
                                  e.statement_sent());
        }
    }

    // Asks each replica that could serve a read but for its known position how far it has
    // replayed now (on one of its pooled connections), again every 2 ms for up to
    // kReadYourWritesWait while none has reached `after`. True when one has: the router then
    // knows it. In a healthy cluster a replica replays a commit within a millisecond or two,
    // so read-your-writes reads stay on the replicas.
    bool refresh_positions(CommitPosition after, std::uint64_t exclude,
                           detail::AcquireDeadline& deadline) {
        const auto until = std::min(deadline.get(), Clock::now() + detail::kReadYourWritesWait);
        while (true) {
            bool candidate = false;
            for (std::size_t i = 0; i < router_->size(); ++i) {
                if ((exclude >> i) & 1U) continue;
                const auto st = router_->state(i);
                if (!st.up || st.observed_role != HostRole::replica ||
                    st.lag > config_.max_replica_lag) {
                    continue;
                }
                candidate = true;
                auto& host = *hosts_[i + 1];
                try {
                    auto d = detail::AcquireDeadline::at(until);
                    Lease<B> lease(this, &host, acquire_on(host, d, SourceLocation::current()));
                    // Bounded like the wait, not by query_timeout: a replica that does not
                    // answer this at once is not one to wait for.
                    ExecSettings x;
                    x.deadline = std::max(until, Clock::now() + detail::kReplayQueryLimit);
                    x.prepare = false;
                    x.cancel_grace = std::chrono::milliseconds(0);
                    const Result r = detail::run_statement(
                        host, metrics_, hooks_, lease.connection(), detail::kReplayLsnSql, {}, x);
                    if (r.empty() || r.front()[0].is_null()) continue;
                    const auto pos =
                        CommitPosition::parse(r.front()[0].template as<std::string_view>());
                    router_->advance_position(i, pos);
                    if (!(pos < after)) return true;
                } catch (const Cancelled&) {
                    throw;  // the caller's deadline or stop: no judgement on the replica
                } catch (const QueryTimeout& e) {
                    exclude |= std::uint64_t{1} << i;
                    replica_failed(i, fmt::format("did not answer within {} ms: {}",
                                                  detail::kReplayQueryLimit.count(), e.what()));
                } catch (const Error& e) {
                    exclude |= std::uint64_t{1} << i;
                    if (safety::marks_host_down(e)) replica_failed(i, e.what());
                }
            }
            if (!candidate || Clock::now() + std::chrono::milliseconds(2) >= until) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }

    // Asks a fresh primary connection whether transaction `txid`, handed out by the server run
    // that started at `server_start`, committed: "committed", "aborted", "restarted" (the server
    // restarted since and says the id committed: after a crash the id may have been handed to
    // another transaction, so that says nothing about this one), or empty when the server could
    // not tell before `deadline`. "aborted" holds across a restart: a transaction whose commit
    // reached the WAL keeps its id.
    std::string resolve_txid(std::int64_t txid, std::string_view server_start,
                             Clock::time_point deadline) {
        // COMMIT was sent: what it did is found out whatever the caller's deadline or stop.
        detail::SuspendCallLimits unlimited;
        const auto until = std::max(deadline, Clock::now() + config_.connection_timeout);
        while (Clock::now() < until) {
            try {
                auto& primary = *hosts_.front();
                auto acquire_deadline = detail::AcquireDeadline::at(until);
                Lease<B> lease(this, &primary,
                               primary.acquire(acquire_deadline, SourceLocation::current()));
                const Result r =
                    lease.query(detail::kTxidStatusSql, {txid}, QueryOptions{.prepare = false});
                if (r.empty() || r.front()[0].is_null()) return {};
                auto status = r.front()[0].template as<std::string>();
                if (status == "committed" &&
                    r.front()[1].template as<std::string_view>() != server_start) {
                    return "restarted";
                }
                // "in progress": the session that sent COMMIT is still finishing; ask again.
                if (status == "committed" || status == "aborted") return status;
            } catch (const Error&) {
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return {};
    }

    void wake_housekeeper() {
        std::lock_guard lock(housekeeper_mutex_);
        housekeeper_cv_.notify_one();
    }

    void stop_housekeeper() {
        {
            std::lock_guard lock(housekeeper_mutex_);
            housekeeper_stop_ = true;
            housekeeper_cv_.notify_all();
        }
        if (housekeeper_.joinable() && housekeeper_.get_id() != std::this_thread::get_id()) {
            housekeeper_.join();
        }
    }

    std::chrono::milliseconds tick() const {
        using std::chrono::milliseconds;
        milliseconds t{1000};
        auto consider = [&](milliseconds v) {
            if (v.count() > 0) t = std::min(t, v / 4);
        };
        consider(config_.idle_timeout);
        consider(config_.leak_detection_threshold);
        consider(config_.health_check_period);
        return std::clamp(t, milliseconds{25}, milliseconds{1000});
    }

    // Wait between checks of a host that is down: 100 ms doubling up to reconnect_backoff_max
    // (retry.hpp).
    Clock::duration probe_backoff(int failures) {
        std::lock_guard lock(rng_mutex_);
        return reconnect_delay(failures, std::chrono::milliseconds{100},
                               config_.reconnect_backoff_max, rng_);
    }

    // Probes a host: role, WAL position, lag, whether it takes writes, round trip. On an idle
    // pooled connection when there is one; on a new connection adopted by the pool when the
    // host has none; otherwise (every connection busy, callers waiting) on the next connection
    // released, ahead of the waiting callers, so a saturated host is checked too without
    // opening more than max_connections. Returns whether the host answered; a host whose
    // connections stay busy through the whole check is left as it was.
    bool probe(std::size_t i) {
        auto& host = *hosts_[i];
        const auto limit =
            std::min(config_.connection_timeout,
                     std::max(config_.health_check_period, std::chrono::milliseconds(500)));
        const auto started = Clock::now();
        detail::Slot<B>* slot = host.try_acquire();
        std::unique_ptr<connection_type> fresh;
        bool reserved = false;
        try {
            if (slot != nullptr && !slot->conn->is_alive()) {
                host.release(std::exchange(slot, nullptr), false);
            }
            if (slot == nullptr) {
                reserved = host.reserve_if_empty();
                if (reserved) {
                    fresh = host.open_reserved(started + limit);
                } else {
                    slot = host.acquire_for_check(started + limit);
                    if (slot == nullptr) {
                        // Busy throughout: no news, unless every session is stuck on a
                        // primary that hangs while a host list has moved on.
                        host.look_for_move(Clock::now() + config_.connection_timeout);
                        return true;
                    }
                    if (!slot->conn->is_alive()) {
                        host.release(std::exchange(slot, nullptr), false);
                        return true;
                    }
                }
            }
            connection_type& conn = slot != nullptr ? *slot->conn : *fresh;
            ExecSettings x;
            x.deadline = Clock::now() + limit;
            x.prepare = false;
            x.cancel_grace = std::chrono::milliseconds(0);
            const Result r = conn.execute(detail::kProbeSql, {}, x);
            const auto rtt = Clock::now() - started;
            host.answered();     // the opener, if backing off, tries again at once
            std::string server;  // which server of a host list answered
            if constexpr (ServerAwareBackend<B>) {
                if (host.follows_moves()) server = conn.server();
            }
            auto clean = [](connection_type& c) {
                return safety::reuse(c.transaction_status(), c.cancel_outstanding()) ==
                       safety::Reuse::keep;
            };
            if (slot != nullptr) {
                const bool keep = clean(*slot->conn);
                host.release(std::exchange(slot, nullptr), keep);
            } else if (reserved) {
                if (!clean(*fresh)) {
                    fresh->close();
                    fresh.reset();
                }
                host.adopt(std::move(fresh));
                reserved = false;
            }
            const auto answer = detail::ProbeAnswer::parse(r);
            const HostRole observed = answer.in_recovery ? HostRole::replica : HostRole::primary;
            if (i == 0) {
                primary_checked(true, answer.in_recovery, answer.read_only, "");
                if (answer.position && !answer.in_recovery) {
                    primary_seen_at(*answer.position);
                    if (router_ && answer.standbys && answer.position->timeline != 0) {
                        router_->primary_standbys(answer.position->timeline, *answer.standbys);
                    }
                    if (!server.empty()) {
                        host.note_history(server, {answer.system, answer.position->timeline});
                    }
                }
            } else {
                // A standby cut off from its primary has replayed all it received and says
                // it does not lag: the primary's own positions tell how far behind it is.
                auto lag = answer.lag;
                if (answer.position && answer.in_recovery) {
                    lag = std::max(lag, primary_history_.behind(*answer.position, Clock::now()));
                }
                const bool was_down =
                    router_->mark_up(i - 1, observed, lag, answer.position, rtt, answer.receiver);
                if (was_down) {
                    detail::call_hook(hooks_.on_host_state, HostStateEvent{host.ref(), true, ""},
                                      metrics_);
                }
            }
            return true;
        } catch (const std::exception& e) {
            if (slot != nullptr) host.release(slot, false);
            if (reserved) {
                if (fresh) fresh->close();
                host.adopt(nullptr);
            }
            // A server that refuses a session only because it is full answered: it is up.
            if (const auto* c = dynamic_cast<const ConnectionError*>(&e);
                c != nullptr && safety::server_busy(c->sqlstate())) {
                return true;
            }
            if (i == 0) {
                primary_checked(false, false, false, e.what());
            } else {
                replica_failed(i - 1, e.what());
            }
            return false;
        }
    }

    // Records a position the primary had (a check's, or current_position()'s): its history,
    // and its timeline, whose change (a failover) the router learns.
    void primary_seen_at(const CommitPosition& position) {
        primary_history_.add(position, Clock::now());
        if (router_) router_->primary_timeline(position.timeline);
    }

    // Records what a check found of the primary. When it stops taking writes (down, in
    // recovery, or read-only: fenced, demoted) its connections go: with a host list new ones
    // look for the writable host.
    void primary_checked(bool reachable, bool in_recovery, bool read_only, std::string_view error) {
        auto& host = *hosts_.front();
        primary_in_recovery_.store(in_recovery);
        primary_read_only_.store(read_only);
        const bool writable = reachable && !in_recovery && !read_only;
        const bool was_writable = primary_writable_.exchange(writable);
        const bool was_up = primary_up_.exchange(reachable);
        if (was_up != reachable) {
            detail::call_hook(hooks_.on_host_state, HostStateEvent{host.ref(), reachable, error},
                              metrics_);
        }
        if (!reachable) {
            host.discard_idle();
        } else if (was_writable && !writable) {
            host.evict_all();
        }
    }

    // Whether the primary's session `conn`, which refused a write with 25006, is on a host
    // that takes no writes (in recovery, or read-only by default: fenced, demoted) rather than
    // in a read-only transaction of the caller's own. One round trip, on this rare error only.
    bool refused_by_host(connection_type& conn) noexcept {
        try {
            ExecSettings x;
            x.deadline = Clock::now() +
                         std::min(config_.connection_timeout, std::chrono::milliseconds(2000));
            x.prepare = false;
            x.cancel_grace = std::chrono::milliseconds(0);
            if (conn.transaction_status() != TxStatus::idle) conn.rollback(x);
            return !detail::ProbeAnswer::parse(conn.execute(detail::kProbeSql, {}, x))
                        .takes_writes();
        } catch (...) {
            return true;  // the session broke: whatever the host is, start over on a new one
        }
    }

    // The primary refused a write with 25006: it is not the primary any more (fenced,
    // demoted). Drops its connections once per change, so new ones find the writable host.
    void primary_refused_write() {
        if (primary_writable_.exchange(false)) hosts_.front()->evict_all();
        primary_read_only_.store(true);
        check_primary_now_.store(true);
        wake_housekeeper();
    }

    void housekeeping_loop() {
        std::vector<Clock::time_point> due(hosts_.size(), Clock::time_point{});
        std::vector<int> failures(hosts_.size(), 0);
        std::unique_lock lock(housekeeper_mutex_);
        while (!housekeeper_stop_) {
            lock.unlock();
            const auto now = Clock::now();
            for (auto& h : hosts_) h->maintain(now);
            for (std::size_t i = 0; i < hosts_.size(); ++i) {
                if (housekeeper_stop_) break;
                // A read or write that found the host changed asks for a check now.
                if (i == 0 && check_primary_now_.exchange(false)) due[0] = {};
                if (Clock::now() < due[i]) continue;
                const bool answered = probe(i);
                failures[i] = answered ? 0 : failures[i] + 1;
                due[i] = Clock::now() + (answered ? Clock::duration(config_.health_check_period)
                                                  : probe_backoff(failures[i]));
            }
            lock.lock();
            housekeeper_cv_.wait_for(lock, tick());
        }
    }

    PoolConfig config_;
    B backend_;
    Hooks hooks_;
    PoolMetrics metrics_;
    std::optional<ReplicaRouter> router_;
    detail::PrimaryHistory primary_history_;
    std::vector<std::unique_ptr<detail::HostPool<B>>> hosts_;  // [0] is the primary
    std::atomic<bool> closed_{false};
    std::mutex shutdown_mutex_;
    std::condition_variable shutdown_cv_;
    bool shutdown_started_ = false;  // guarded by shutdown_mutex_
    bool shutdown_done_ = false;     // guarded by shutdown_mutex_
    std::atomic<bool> primary_up_{true};
    std::atomic<bool> primary_in_recovery_{false};
    std::atomic<bool> primary_read_only_{false};
    std::atomic<bool> primary_writable_{true};
    std::atomic<bool> check_primary_now_{false};

    std::mutex housekeeper_mutex_;
    std::condition_variable housekeeper_cv_;
    std::atomic<bool> housekeeper_stop_{false};
    std::thread housekeeper_;
    std::mutex rng_mutex_;
    std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace detail

// ---- ConnectionPool: each call goes to the core ----

template <Backend B>
ConnectionPool<B>::ConnectionPool(PoolConfig config, B backend, Hooks hooks)
    : core_(std::make_unique<detail::PoolCore<B>>(std::move(config), std::move(backend),
                                                  std::move(hooks))) {}

template <Backend B>
ConnectionPool<B>::~ConnectionPool() {
    core_->shutdown(std::chrono::seconds(5));
    core_->wait_quiescent();
}

template <Backend B>
const PoolConfig& ConnectionPool<B>::config() const noexcept {
    return core_->config();
}

template <Backend B>
Lease<B> ConnectionPool<B>::acquire(AcquireOptions options, SourceLocation where) {
    return core_->acquire(options, where);
}

template <Backend B>
Result ConnectionPool<B>::query(std::string_view sql, ParamsRef params, QueryOptions options,
                                SourceLocation where) {
    return core_->query(sql, params, options, where);
}

template <Backend B>
std::vector<Result> ConnectionPool<B>::batch(const std::vector<Statement>& statements,
                                             QueryOptions options, SourceLocation where) {
    return core_->batch(statements, options, where);
}

template <Backend B>
CommitPosition ConnectionPool<B>::current_position() {
    return core_->current_position();
}

template <Backend B>
HealthReport ConnectionPool<B>::health(HealthOptions options) {
    return core_->health(options);
}

template <Backend B>
PoolStats ConnectionPool<B>::stats() const {
    return core_->stats();
}

template <Backend B>
std::string ConnectionPool<B>::metrics_text() const {
    return core_->metrics_text();
}

template <Backend B>
const PoolMetrics& ConnectionPool<B>::pool_metrics() const noexcept {
    return core_->pool_metrics();
}

template <Backend B>
const ReplicaRouter& ConnectionPool<B>::router() const noexcept {
    return core_->router();
}

template <Backend B>
void ConnectionPool<B>::shutdown(std::chrono::milliseconds grace) {
    core_->shutdown(grace);
}

template <Backend B>
bool ConnectionPool<B>::closed() const noexcept {
    return core_->closed();
}

template <Backend B>
Result ConnectionPool<B>::do_query(std::string_view sql, ParamsRef params,
                                   const QueryOptions& options, const SourceLocation& where) {
    return core_->query(sql, params, options, where);
}

template <Backend B>
std::size_t ConnectionPool<B>::do_for_each(std::string_view sql, ParamsRef params,
                                           detail::RowSink fn, const QueryOptions& options,
                                           const SourceLocation& where) {
    return core_->for_each(sql, params, fn, options, where);
}

template <Backend B>
std::size_t ConnectionPool<B>::do_copy_in(std::string_view sql, detail::CopySource source,
                                          const QueryOptions& options,
                                          const SourceLocation& where) {
    return core_->copy_in(sql, source, options, where);
}

template <Backend B>
std::vector<Result> ConnectionPool<B>::do_batch(const std::vector<Statement>& statements,
                                                const QueryOptions& options,
                                                const SourceLocation& where) {
    return core_->batch(statements, options, where);
}

template <Backend B>
void ConnectionPool<B>::do_transaction(detail::TransactionBody body, TransactionOptions options,
                                       const SourceLocation& where) {
    core_->transaction(body, std::move(options), where);
}

template <Backend B>
Session ConnectionPool<B>::do_acquire(const AcquireOptions& options, const SourceLocation& where) {
    return Session(std::make_unique<detail::LeaseSession<B>>(core_->acquire(options, where)));
}

template <Backend B>
CommitPosition ConnectionPool<B>::do_current_position() {
    return core_->current_position();
}

template <Backend B>
HealthReport ConnectionPool<B>::do_health(const HealthOptions& options) {
    return core_->health(options);
}

template <Backend B>
PoolStats ConnectionPool<B>::do_stats() const {
    return core_->stats();
}

template <Backend B>
std::string ConnectionPool<B>::do_metrics_text() const {
    return core_->metrics_text();
}

template <Backend B>
void ConnectionPool<B>::do_shutdown(std::chrono::milliseconds grace) {
    core_->shutdown(grace);
}

template <Backend B>
bool ConnectionPool<B>::do_closed() const noexcept {
    return core_->closed();
}

// ---- Health ----

template <Backend B>
HealthReport detail::PoolCore<B>::health(HealthOptions options) {
    const auto start = Clock::now();
    const auto deadline = start + options.timeout;
    HealthReport report;
    report.service = config_.service_name;
    {
        auto& primary = *hosts_.front();
        HostHealth h;
        h.host = primary.label();
        h.role = HostRole::primary;
        h.observed_role = primary_in_recovery_.load() ? HostRole::replica : HostRole::primary;
        const auto counts = primary.counts();
        h.busy = counts.waiting > 0;
        // On an idle pooled connection, or on health's own: a busy pool is checked without
        // waiting for a connection, and every wait ends at the deadline.
        // The connection of its own is closed after the check: the pool's sessions stay the
        // pool's.
        detail::Slot<B>* slot = primary.try_acquire();
        std::unique_ptr<connection_type> own;
        try {
            if (slot != nullptr && !slot->conn->is_alive()) {
                primary.release(std::exchange(slot, nullptr), false);
            }
            if (slot == nullptr) own = primary.open_unpooled(deadline);
            connection_type& conn = slot != nullptr ? *slot->conn : *own;
            ExecSettings x;
            x.deadline = deadline;
            x.prepare = false;
            x.cancel_grace = std::chrono::milliseconds(0);
            const auto t0 = Clock::now();
            const Result r =
                detail::timed_call(primary, metrics_, hooks_, {detail::kProbeSql},
                                   [&] { return conn.execute(detail::kProbeSql, {}, x); });
            h.latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
            h.reachable = true;
            primary.answered();
            const auto answer = detail::ProbeAnswer::parse(r);
            if constexpr (ServerAwareBackend<B>) {
                if (primary.follows_moves() && answer.position && !answer.in_recovery) {
                    primary.note_history(conn.server(), {answer.system, answer.position->timeline});
                }
            }
            h.observed_role = answer.in_recovery ? HostRole::replica : HostRole::primary;
            if (answer.in_recovery) {
                report.reasons.push_back(fmt::format("primary {} is in recovery", h.host));
            } else if (answer.read_only) {
                h.error = "read-only (default_transaction_read_only is on): takes no writes";
                report.reasons.push_back(fmt::format("primary {} is {}", h.host, h.error));
            }
            const bool clean = safety::reuse(conn.transaction_status(),
                                             conn.cancel_outstanding()) == safety::Reuse::keep;
            if (slot != nullptr) primary.release(std::exchange(slot, nullptr), clean);
            if (own) own->close();
            report.healthy = answer.takes_writes();
        } catch (const ConnectionError& e) {
            if (slot != nullptr) primary.release(slot, false);
            if (own) own->close();
            if (slot == nullptr && counts.in_use > 0 && !e.statement_sent() &&
                (e.sqlstate() == "53300" || e.sqlstate() == "53400")) {
                // Every pooled connection is in use and the server refused one more: at its
                // connection limit, it answers. Busy, not down; writable as last checked.
                h.reachable = true;
                h.busy = true;
                report.healthy = primary_writable_.load() && !primary_in_recovery_.load();
                report.reasons.push_back(
                    fmt::format("primary {} is at its connection limit (SQLSTATE {}): every pooled "
                                "connection is in use and the check could not open one of its own",
                                h.host, e.sqlstate()));
            } else {
                h.error = e.what();
                report.reasons.push_back(fmt::format("primary {}: {}", h.host, h.error));
            }
        } catch (const std::exception& e) {
            if (slot != nullptr) primary.release(slot, false);
            if (own) own->close();
            h.error = e.what();
            report.reasons.push_back(fmt::format("primary {}: {}", h.host, h.error));
        }
        if (h.busy && counts.waiting > 0) {
            report.reasons.push_back(
                fmt::format("primary {} is busy: {} callers waiting for its {} connections", h.host,
                            counts.waiting, config_.max_connections));
        }
        report.hosts.push_back(std::move(h));
    }
    bool replicas_ok = true;
    for (std::size_t i = 0; i < router_->size(); ++i) {
        const auto st = router_->state(i);
        auto& host = *hosts_[i + 1];
        HostHealth h;
        h.host = host.label();
        h.role = HostRole::replica;
        h.observed_role = st.observed_role;
        h.reachable = st.up;
        h.latency = std::chrono::duration_cast<std::chrono::microseconds>(st.round_trip);
        h.replication_lag = st.lag;
        h.lagging = st.lag > config_.max_replica_lag;
        h.error = st.last_error;
        h.busy = host.counts().waiting > 0;
        if (!h.reachable) {
            report.reasons.push_back(fmt::format("replica {} is down: {}", h.host, h.error));
        } else if (h.observed_role != HostRole::replica) {
            report.reasons.push_back(
                fmt::format("replica {} is not in recovery (promoted?): out of rotation", h.host));
        } else if (st.off_timeline) {
            report.reasons.push_back(fmt::format(
                "replica {} has not been seen following the primary's new timeline since a "
                "failover {} ms ago ({})",
                h.host, h.replication_lag.count(),
                st.progress_unconfirmed
                    ? "its replay moves, but the new primary streams WAL to no more standbys "
                      "than already follow it: it may stream from the old primary (a split "
                      "brain); grant pg_read_all_stats to the pool's role to let the pool see "
                      "which timeline it streams"
                    : "a standby of the old primary, or one that diverged from the new one: it "
                      "needs pg_rewind or a new base backup"));
        } else if (h.lagging) {
            report.reasons.push_back(fmt::format("replica {} lags {} ms (more than {} ms)", h.host,
                                                 h.replication_lag.count(),
                                                 config_.max_replica_lag.count()));
        }
        if (!h.reachable || h.lagging || st.off_timeline || h.observed_role != HostRole::replica) {
            replicas_ok = false;
        }
        report.hosts.push_back(std::move(h));
    }
    report.status = !report.healthy ? HealthStatus::unhealthy
                    : !replicas_ok  ? HealthStatus::degraded
                                    : HealthStatus::healthy;
    report.took = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
    return report;
}

// ---- Lease ----

template <Backend B>
typename B::Connection& Lease<B>::connection() {
    check_usable();
    return *slot_->conn;
}

template <Backend B>
HostRef Lease<B>::host() const noexcept {
    return host_ != nullptr ? host_->ref() : HostRef{};
}

template <Backend B>
void Lease<B>::discard() noexcept {
    if (slot_ == nullptr) return;
    host_->release(std::exchange(slot_, nullptr), false);
    pool_ = nullptr;
    host_ = nullptr;
}

template <Backend B>
void Lease<B>::check_usable() const {
    if (slot_ == nullptr) {
        throw UsageError(
            "this lease holds no connection: it was released, discarded or "
            "moved from");
    }
    if (slot_->revoked.load(std::memory_order_acquire)) {
        throw PoolClosed(fmt::format(
            "the pool for {} was shut down while this lease was held: its statement was "
            "cancelled and its connection is closed when the lease is released",
            host_->label()));
    }
}

template <Backend B>
template <typename F>
auto Lease<B>::guarded(const QueryOptions& options, F&& run, const bool* callback_failed)
    -> decltype(run()) {
    check_usable();
    detail::ScopedCallLimits limits(options.deadline, options.stop);
    try {
        return run();
    } catch (const QueryTimeout&) {
        // Cancelled by a shutdown, not by a timeout: PoolClosed says so.
        if (callback_failed == nullptr || !*callback_failed) check_usable();
        throw;
    } catch (const Cancelled&) {
        check_usable();
        throw;
    }
}

template <Backend B>
Result Lease<B>::query(std::string_view sql, ParamsRef params, QueryOptions options) {
    return guarded(options, [&] {
        const ExecSettings x = pool_->exec_settings(options.timeout, options.prepare);
        auto& conn = *slot_->conn;
        auto run = [&] {
            return detail::run_caller_statement(*host_, pool_->metrics_, pool_->hooks_, conn, sql,
                                                params, x, options.trace_context);
        };
        try {
            return run();
        } catch (const Error& e) {
            // Outside a transaction block a stale cached statement was rejected before it ran
            // and is now forgotten: run it once more here, prepared anew.
            if (safety::rerun_statement(e) != safety::Rerun::same_host ||
                conn.transaction_status() != TxStatus::idle) {
                throw;
            }
        }
        return run();
    });
}

template <Backend B>
std::size_t Lease<B>::stream(std::string_view sql, ParamsRef params, detail::RowSink fn,
                             const QueryOptions& options, detail::StreamProgress& progress) {
    return guarded(
        options,
        [&] {
            // The deadline covers the whole stream, the function's time included.
            const ExecSettings x = pool_->exec_settings(options.timeout, options.prepare);
            auto& conn = *slot_->conn;
            auto run = [&] {
                return detail::under_caller_limits(
                    *host_, conn, x, [&](const ExecSettings& limited) {
                        return detail::stream_statement(*host_, pool_->metrics_, pool_->hooks_,
                                                        conn, sql, params, limited, fn, progress,
                                                        options.trace_context);
                    });
            };
            try {
                return run();
            } catch (const Error& e) {
                // As query(): a stale cached statement is rejected before it runs, so before
                // any row; run it once more, prepared anew.
                if (progress.callback_failed ||
                    safety::rerun_statement(e, progress.rows) != safety::Rerun::same_host ||
                    conn.transaction_status() != TxStatus::idle) {
                    throw;
                }
            }
            return run();
        },
        &progress.callback_failed);
}

template <Backend B>
std::size_t Lease<B>::copy(std::string_view sql, detail::CopySource source,
                           const QueryOptions& options, detail::CopyProgress& progress) {
    return guarded(
        options,
        [&] {
            // Never prepared: COPY takes no parameters. The deadline covers the whole COPY.
            const ExecSettings x = pool_->exec_settings(options.timeout, false);
            auto& conn = *slot_->conn;
            return detail::under_caller_limits(*host_, conn, x, [&](const ExecSettings& limited) {
                return detail::copy_in_statement(*host_, pool_->metrics_, pool_->hooks_, conn, sql,
                                                 source, limited, progress, options.trace_context);
            });
        },
        &progress.callback_failed);
}

template <Backend B>
std::vector<Result> Lease<B>::batch(const std::vector<Statement>& statements,
                                    QueryOptions options) {
    return guarded(options, [&] {
        // Never prepared: the statements travel together, unnamed. The deadline covers them.
        const ExecSettings x = pool_->exec_settings(options.timeout, false);
        auto& conn = *slot_->conn;
        return detail::under_caller_limits(*host_, conn, x, [&](const ExecSettings& limited) {
            return detail::batch_statements(*host_, pool_->metrics_, pool_->hooks_, conn,
                                            statements, limited, options.trace_context);
        });
    });
}

template <Backend B>
void Lease<B>::release() noexcept {
    if (slot_ == nullptr) return;
    auto& conn = *slot_->conn;
    auto reuse = safety::reuse(conn.transaction_status(), conn.cancel_outstanding());
    if (reuse == safety::Reuse::roll_back_first) {
        try {
            conn.rollback(pool_->exec_settings(std::chrono::milliseconds{0}, false,
                                               Clock::now() + std::chrono::seconds(5)));
            reuse = safety::reuse(conn.transaction_status(), conn.cancel_outstanding());
        } catch (...) {
            reuse = safety::Reuse::discard;
        }
    }
    host_->release(std::exchange(slot_, nullptr), reuse == safety::Reuse::keep);
    pool_ = nullptr;
    host_ = nullptr;
}

// ---- Transaction ----

template <Backend B>
template <typename F>
auto Transaction<B>::guarded(const QueryOptions& options, bool prepare, const char* what, F&& run,
                             const bool* callback_failed) -> decltype(run(ExecSettings{})) {
    return lease_.guarded(
        options,
        [&] {
            if (Clock::now() >= deadline_) {
                if (const auto d = detail::call_deadline(); d && *d <= deadline_) {
                    throw Cancelled(fmt::format("the call's deadline passed before the "
                                                "transaction's {} was sent",
                                                what),
                                    CancelReason::deadline);
                }
                throw QueryTimeout("its time ran out before the next statement was sent", true);
            }
            return run(pool_.exec_settings(options.timeout, prepare, deadline_));
        },
        callback_failed);
}

template <Backend B>
Result Transaction<B>::query(std::string_view sql, ParamsRef params, QueryOptions options) {
    safety::check_transaction_statement(sql);
    return guarded(options, options.prepare, "statement", [&](const ExecSettings& x) {
        return detail::run_caller_statement(
            *lease_.host_, pool_.metrics_, pool_.hooks_, *lease_.slot_->conn, sql, params, x,
            options.trace_context != nullptr ? options.trace_context : trace_context_);
    });
}

template <Backend B>
std::vector<Result> Transaction<B>::batch(const std::vector<Statement>& statements,
                                          QueryOptions options) {
    return guarded(options, false, "batch", [&](const ExecSettings& x) {
        auto& conn = *lease_.slot_->conn;
        return detail::under_caller_limits(
            *lease_.host_, conn, x, [&](const ExecSettings& limited) {
                return detail::batch_statements(
                    *lease_.host_, pool_.metrics_, pool_.hooks_, conn, statements, limited,
                    options.trace_context != nullptr ? options.trace_context : trace_context_);
            });
    });
}

template <Backend B>
std::size_t Transaction<B>::copy(std::string_view sql, detail::CopySource source,
                                 const QueryOptions& options) {
    detail::CopyProgress progress;
    return guarded(
        options, false, "COPY",
        [&](const ExecSettings& x) {
            auto& conn = *lease_.slot_->conn;
            return detail::under_caller_limits(
                *lease_.host_, conn, x, [&](const ExecSettings& limited) {
                    return detail::copy_in_statement(
                        *lease_.host_, pool_.metrics_, pool_.hooks_, conn, sql, source, limited,
                        progress,
                        options.trace_context != nullptr ? options.trace_context : trace_context_);
                });
        },
        &progress.callback_failed);
}

template <Backend B>
void detail::PoolCore<B>::transaction(detail::TransactionBody body, TransactionOptions options,
                                      SourceLocation where) {
    const auto start = Clock::now();
    detail::ScopedCallLimits limits(options.deadline, options.stop);
    const auto caller_deadline = detail::call_deadline();
    const bool caller_binds = caller_deadline && *caller_deadline <= start + options.timeout;
    const auto deadline = caller_binds ? *caller_deadline : start + options.timeout;
    int attempt = 0;
    int unconnected = 0;  // attempts that got no connection
    // The caller's stop or deadline ended the statement: never retried, retry_if or not.
    const auto ended_by_caller = [&](const Error& e) {
        return dynamic_cast<const Cancelled*>(&e) != nullptr ||
               (dynamic_cast<const QueryTimeout*>(&e) != nullptr &&
                (detail::call_stop_requested() || (caller_binds && Clock::now() >= deadline)));
    };
    auto finish = [&](TransactionOutcome outcome) {
        metrics_.transactions[static_cast<std::size_t>(outcome)].add();
        metrics_.transaction_duration.observe(Clock::now() - start);
        detail::call_hook(hooks_.on_transaction,
                          TransactionEvent{outcome, attempt, Clock::now() - start}, metrics_);
    };
    while (true) {
        ++attempt;
        if (detail::call_stop_requested() || (caller_binds && Clock::now() >= deadline)) {
            const bool stopped = detail::call_stop_requested();
            finish(attempt == 1 ? TransactionOutcome::failed : TransactionOutcome::rolled_back);
            throw Cancelled(fmt::format("transaction() was {} before attempt {}, {} ms after it "
                                        "began; nothing of it was committed",
                                        stopped ? "stopped" : "at its caller's deadline", attempt,
                                        std::chrono::duration_cast<std::chrono::milliseconds>(
                                            Clock::now() - start)
                                            .count()),
                            stopped ? CancelReason::stop : CancelReason::deadline);
        }
        std::optional<RetryReason> retry;
        std::exception_ptr failure;
        std::optional<std::int64_t> txid;
        std::string server_start;
        {
            Lease<B> lease;
            try {
                // The caller's deadline, when it binds, ends the wait itself (Cancelled, not
                // PoolTimeout: the pool was not too small for the pool's own limits).
                lease = acquire(
                    AcquireOptions{.use_read_replica = options.use_read_replica,
                                   .timeout = caller_binds
                                                  ? config_.connection_timeout
                                                  : std::chrono::ceil<std::chrono::milliseconds>(
                                                        std::min<Clock::duration>(
                                                            config_.connection_timeout,
                                                            std::max<Clock::duration>(
                                                                deadline - Clock::now(),
                                                                std::chrono::milliseconds(1))))},
                    where);
            } catch (const ConnectionError& e) {
                // No host took a session: during a failover the old primary refuses (down,
                // read-only) before the new one is promoted. Nothing was sent: try again after
                // a backoff, within the retries and the deadline.
                if (e.statement_sent()) {
                    finish(TransactionOutcome::failed);
                    throw;
                }
                failure = std::current_exception();
                retry = RetryReason::connection_lost;
                ++unconnected;
            } catch (...) {
                finish(TransactionOutcome::failed);
                throw;
            }
            if (!retry) {
                auto& host = *lease.host_;
                auto& conn = *lease.slot_->conn;
                Transaction<B> tx(lease, *this, deadline, attempt, options.trace_context);
                detail::ActiveTransaction active{this, deadline, detail::t_active_transaction};
                detail::t_active_transaction = &active;
                struct Restore {
                    detail::ActiveTransaction* outer;
                    ~Restore() { detail::t_active_transaction = outer; }
                } restore{active.outer};
                TransactionPhase phase = TransactionPhase::body;
                try {
                    ExecSettings x = exec_settings(std::chrono::milliseconds{0}, false, deadline);
                    // The server's statement timeout does not outlive the transaction's deadline
                    // by more than a margin; it is set with BEGIN, in the same round trip.
                    x.local_statement_timeout = server_timeout_until(deadline);
                    // The BEGIN text is built for the hooks only when one listens.
                    const std::string begin_sql = hooks_.on_query_start || hooks_.on_query
                                                      ? begin_statement(options)
                                                      : std::string();
                    detail::timed_call(host, metrics_, hooks_, {begin_sql, options.trace_context},
                                       [&] { conn.begin(options, x); });
                    if (options.resolve_unknown_outcome) {
                        const Result r =
                            tx.query(detail::kTxidCurrentSql, {}, QueryOptions{.prepare = false});
                        txid = r.front()[0].template as<std::int64_t>();
                        server_start = r.front()[1].template as<std::string>();
                    }
                    body(tx);
                    if (conn.transaction_status() == TxStatus::in_error) {
                        throw SqlError(
                            "the transaction failed (an error inside it was caught) and was rolled "
                            "back",
                            "25P02");
                    }
                    // A stop, or the deadline passing, while the function ran after its last
                    // statement: COMMIT is not sent, and the transaction is rolled back.
                    if (detail::call_stop_requested()) {
                        throw Cancelled("the call was stopped before COMMIT was sent",
                                        CancelReason::stop);
                    }
                    if (Clock::now() >= deadline) {
                        if (caller_binds) {
                            throw Cancelled("the call's deadline passed before COMMIT was sent",
                                            CancelReason::deadline);
                        }
                        throw QueryTimeout("its time ran out before COMMIT was sent", true);
                    }
                    phase = TransactionPhase::commit;
                    // A COMMIT sent is waited for past the caller's deadline, within the
                    // transaction's own timeout: its outcome is unknown only after that.
                    x = exec_settings(std::chrono::milliseconds{0}, false, start + options.timeout);
                    detail::timed_call(host, metrics_, hooks_, {"COMMIT", options.trace_context},
                                       [&] { conn.commit(x); });
                    finish(TransactionOutcome::committed);
                    return;
                } catch (const Error& e) {
                    failure = std::current_exception();
                    session_failed(host, e);
                    const auto decision = safety::classify(e, phase, conn.transaction_status());
                    using Action = RetryDecision::Action;
                    if (decision.action == Action::retry) {
                        retry = decision.reason;
                    } else if (decision.action == Action::outcome_unknown) {
                        lease.discard();
                        std::string status;
                        if (options.resolve_unknown_outcome && txid) {
                            status = resolve_txid(*txid, server_start, deadline);
                            if (status == "committed") {
                                finish(TransactionOutcome::committed);
                                return;
                            }
                            if (status == "aborted") retry = RetryReason::aborted_commit;
                        }
                        if (!retry) {
                            finish(TransactionOutcome::unknown);
                            throw TransactionOutcomeUnknown(
                                fmt::format(
                                    "COMMIT was sent but its outcome is unknown: {}{}{}", e.what(),
                                    txid ? fmt::format("; txid {}", *txid) : std::string(),
                                    status.empty() ? std::string()
                                    : status == "restarted"
                                        ? std::string(
                                              " (the server restarted since COMMIT was sent "
                                              "and may have reused the transaction id)")
                                        : fmt::format(" (server says: {})", status)),
                                txid);
                        }
                    } else if (decision.action == Action::fail && phase == TransactionPhase::body &&
                               safety::read_only_refusal(e) && &host == hosts_.front().get() &&
                               !options.read_only && refused_by_host(conn)) {
                        // The primary took no write: fenced or demoted. Nothing was committed;
                        // again on a new connection, which looks for the writable host.
                        lease.discard();
                        primary_refused_write();
                        retry = RetryReason::read_only_host;
                    } else if (decision.action == Action::fail && options.retry_if &&
                               !ended_by_caller(e) && options.retry_if(e)) {
                        // Only where the pool knows nothing was committed: never in the commit
                        // phase, never for a caller's mistake (safety::classify).
                        retry = RetryReason::user;
                    }
                    if (!retry) {
                        finish(phase == TransactionPhase::body ? TransactionOutcome::rolled_back
                                                               : TransactionOutcome::failed);
                        // The caller's stop or deadline ended the body: Cancelled, and since
                        // nothing was committed no statement of it may have taken effect.
                        const auto* cancelled = dynamic_cast<const Cancelled*>(&e);
                        const auto* timeout = dynamic_cast<const QueryTimeout*>(&e);
                        if (phase == TransactionPhase::body && ended_by_caller(e)) {
                            const bool stopped = cancelled != nullptr
                                                     ? cancelled->reason() == CancelReason::stop
                                                     : detail::call_stop_requested();
                            // A statement's own QueryOptions::deadline may have ended it
                            // before the transaction's.
                            throw Cancelled(
                                fmt::format("transaction() was {} and rolled back: COMMIT was "
                                            "never sent, so nothing of it was committed ({})",
                                            stopped ? "stopped"
                                            : caller_binds && Clock::now() >= deadline
                                                ? "at its caller's deadline"
                                                : "ended by a statement's deadline",
                                            detail::cut_statement_detail(e)),
                                stopped ? CancelReason::stop : CancelReason::deadline, false);
                        }
                        // A timeout ended the body: the transaction's own, or a statement's.
                        if (phase == TransactionPhase::body && timeout != nullptr) {
                            throw QueryTimeout(
                                fmt::format(
                                    "transaction() {}: COMMIT was never sent, so nothing of it "
                                    "was committed ({})",
                                    Clock::now() >= deadline
                                        ? fmt::format("reached its {} ms timeout and was rolled "
                                                      "back",
                                                      options.timeout.count())
                                        : std::string("was rolled back: a statement exceeded its "
                                                      "query timeout (QueryOptions::timeout, or "
                                                      "PoolConfig::query_timeout)"),
                                    detail::cut_statement_detail(e)),
                                timeout->client_side(), timeout->cancelled());
                        }
                        throw;
                    }
                } catch (...) {
                    finish(TransactionOutcome::rolled_back);
                    throw;
                }
            }
        }
        // Retry: fresh connection, after a jittered backoff, within retries and the deadline.
        const auto since_start = [&] {
            return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start)
                .count();
        };
        // Attempts that found no host to connect to ran nothing: only the deadline bounds them,
        // so that a failover that takes a few seconds does not use up the retries at once.
        if (attempt - unconnected > options.retries) {
            finish(TransactionOutcome::failed);
            detail::rethrow_in_context(
                failure, fmt::format("transaction() gave up after {} attempts (its retry limit), "
                                     "{} ms after it began",
                                     attempt, since_start()));
        }
        std::chrono::milliseconds wait;
        {
            std::lock_guard lock(rng_mutex_);
            wait = backoff_delay(attempt, options.backoff_base, options.backoff_max, rng_);
        }
        if (Clock::now() + wait >= deadline) {
            finish(TransactionOutcome::failed);
            if (caller_binds) {
                std::string last;
                try {
                    std::rethrow_exception(failure);
                } catch (const std::exception& e) {
                    last = e.what();
                }
                throw Cancelled(fmt::format("transaction() reached its caller's deadline after {} "
                                            "attempt{}, {} ms after it began; nothing of it was "
                                            "committed; last error: {}",
                                            attempt, attempt == 1 ? "" : "s", since_start(), last),
                                CancelReason::deadline);
            }
            detail::rethrow_in_context(
                failure,
                fmt::format("transaction() gave up at its {} ms deadline after {} attempt{}, {} "
                            "ms after it began",
                            options.timeout.count(), attempt, attempt == 1 ? "" : "s",
                            since_start()));
        }
        metrics_.retries[static_cast<std::size_t>(*retry)].add();
        detail::call_hook(hooks_.on_retry, RetryEvent{*retry, attempt + 1, wait}, metrics_);
        if (options.stop.stop_possible()) {
            // The backoff ends early on a stop request; the next attempt then says so.
            std::mutex m;
            std::condition_variable_any cv;
            std::unique_lock lock(m);
            cv.wait_for(lock, options.stop, wait, [] { return false; });
        } else {
            std::this_thread::sleep_for(wait);
        }
    }
}

}  // namespace sparc::db
