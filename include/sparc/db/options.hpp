#pragma once
/// @file options.hpp
/// Per-call options for queries, leases and transactions.

#include <chrono>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>

namespace sparc::db {

class Error;

/// A commit position on the primary (an LSN, from pg_current_wal_lsn()). A read given one is
/// served only by a host that has replayed at least that far: read-your-writes on replicas.
struct CommitPosition {
    std::uint64_t lsn = 0;
    /// The primary's timeline when the position was read (0: unknown). A failover starts a new
    /// timeline: a position of one timeline says nothing of a server on another, which may
    /// have replayed past the same LSN a history without the write. Not part of the text form.
    std::uint32_t timeline = 0;

    /// Parses PostgreSQL's `X/Y` LSN text. @throws ConfigError on malformed text.
    static CommitPosition parse(std::string_view text);
    /// PostgreSQL's `X/Y` text.
    std::string to_string() const;
    /// Positions compare by LSN only: the timeline travels alongside.
    friend constexpr std::strong_ordering operator<=>(const CommitPosition& a,
                                                      const CommitPosition& b) noexcept {
        return a.lsn <=> b.lsn;
    }
    friend constexpr bool operator==(const CommitPosition& a, const CommitPosition& b) noexcept {
        return a.lsn == b.lsn;
    }
};

/// Options for ConnectionPool::query. Every member has a default.
struct QueryOptions {
    /// Serve this read on a replica (weighted, healthy, not lagging), failing over to another
    /// replica and then to the primary when fallback_to_primary is set. Unset: the pool's
    /// PoolConfig::prefer_replica_reads decides.
    std::optional<bool> use_read_replica{};
    /// Client-side limit for this statement; zero means the pool's query_timeout.
    std::chrono::milliseconds timeout{0};
    /// Read-your-writes: only hosts that have replayed this position may serve the read.
    std::optional<CommitPosition> after{};
    /// Use the connection's prepared-statement cache (ignored in pgbouncer_mode).
    bool prepare = true;
    /// Opaque to the pool: handed untouched to the on_query_start and on_query hooks of this
    /// statement (a span, for instance), never dereferenced.
    const void* trace_context = nullptr;
    /// The caller's deadline for the whole call, the wait for a connection included: when it
    /// passes the call ends with Cancelled (a running statement is cancelled). Tighter of this
    /// and `timeout` / the pool's limits applies.
    std::optional<std::chrono::steady_clock::time_point> deadline{};
    /// A stop request ends the call with Cancelled, the wait for a connection included; a
    /// running statement is cancelled (a COMMIT never is).
    std::stop_token stop{};
};

/// Options for ConnectionPool::acquire.
struct AcquireOptions {
    /// Lease a replica connection instead of the primary's.
    bool use_read_replica = false;
    /// Wait limit; zero means the pool's connection_timeout.
    std::chrono::milliseconds timeout{0};
    /// Give up waiting at this time with Cancelled.
    std::optional<std::chrono::steady_clock::time_point> deadline{};
    /// A stop request ends the wait with Cancelled.
    std::stop_token stop{};
};

/// SQL transaction isolation levels.
enum class IsolationLevel { read_committed, repeatable_read, serializable };

/// Why a transaction attempt is being retried.
enum class RetryReason {
    serialization_failure,
    deadlock,
    connection_lost,
    aborted_commit,
    user,
    stale_statement,  ///< A cached prepared statement went stale (schema change, DISCARD ALL).
    read_only_host,   ///< The primary refused a write (25006): fenced or demoted; reconnected.
};

/// What ended a transaction() call.
enum class TransactionOutcome { committed, rolled_back, failed, unknown };

/// Name for metrics and logs.
const char* to_string(RetryReason reason) noexcept;
/// Name for metrics and logs.
const char* to_string(TransactionOutcome outcome) noexcept;
/// SQL spelling ("READ COMMITTED", ...).
const char* to_string(IsolationLevel level) noexcept;

inline constexpr std::chrono::milliseconds kDefaultTransactionTimeout{30'000};
inline constexpr int kDefaultTransactionRetries = 3;

/// Options for ConnectionPool::transaction. Every member has a default.
struct TransactionOptions {
    /// Deadline for the whole call: every attempt, the waits between them and fn's statements.
    std::chrono::milliseconds timeout = kDefaultTransactionTimeout;
    /// Retries after the first attempt (0 = run once).
    int retries = kDefaultTransactionRetries;
    IsolationLevel isolation = IsolationLevel::read_committed;
    bool read_only = false;
    bool deferrable = false;  ///< With serializable + read_only: wait for a safe snapshot.
    /// Run a read-only transaction on a replica (implies read_only; never retried there as a
    /// write). Falls back to the primary like replica reads do.
    bool use_read_replica = false;
    /// Record txid_current() before COMMIT and, if the connection is lost during COMMIT, ask
    /// the server (txid_status) whether it committed instead of throwing at once.
    bool resolve_unknown_outcome = false;
    /// Extra retry decision for errors the pool would not retry: return true to retry.
    std::function<bool(const Error&)> retry_if{};
    /// Initial backoff between attempts (full jitter, doubling each retry).
    std::chrono::milliseconds backoff_base{10};
    /// Cap on a single backoff wait.
    std::chrono::milliseconds backoff_max{1'000};
    /// Opaque to the pool: handed untouched to the on_query_start and on_query hooks of every
    /// statement of the transaction (BEGIN, COMMIT and the function's statements that set no
    /// trace_context of their own), never dereferenced.
    const void* trace_context = nullptr;
    /// The caller's deadline for the whole call (every attempt and the waits between them);
    /// the tighter of this and `timeout` applies. When it ends the call, Cancelled: the
    /// transaction was rolled back, unless COMMIT had been sent (that is waited for).
    std::optional<std::chrono::steady_clock::time_point> deadline{};
    /// A stop request cancels the running statement, rolls back and throws Cancelled; between
    /// attempts it ends the wait. A COMMIT already sent is waited for, never cancelled.
    std::stop_token stop{};
};

}  // namespace sparc::db
