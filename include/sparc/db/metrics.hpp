#pragma once
/// @file metrics.hpp
/// The pool's counters and histograms (relaxed atomics on per-thread cache lines on the hot
/// path) and their Prometheus text exposition.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <sparc/db/hooks.hpp>
#include <sparc/db/options.hpp>

namespace sparc::db {

namespace detail {

/// How many cache lines a counter or histogram spreads its writes over.
inline constexpr std::size_t kMetricShards = 16;
/// The size of the cache line a shard has to itself.
inline constexpr std::size_t kCacheLine = 64;

/// Hands out shards in turn, one per thread on its first write.
std::size_t next_metric_shard() noexcept;

/// The shard this thread writes to: the first kMetricShards threads to count anything each
/// have one of their own, later ones share.
inline std::size_t metric_shard() noexcept {
    thread_local const std::size_t shard = next_metric_shard();
    return shard;
}

}  // namespace detail

/// A fixed-bucket latency histogram; observe() is a few relaxed atomic increments on the
/// calling thread's shard, so threads recording at once do not write to the same cache line.
/// Readers add the shards up.
class Histogram {
  public:
    /// Upper bounds in seconds (Prometheus `le`), chosen around the 50 ms query target.
    static constexpr std::array<double, 14> kBounds = {
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0};

    /// Records `n` observations of `d` (one by default).
    void observe(std::chrono::nanoseconds d, std::uint64_t n = 1) noexcept {
        const double s = std::chrono::duration<double>(d).count();
        std::size_t i = 0;
        while (i < kBounds.size() && s > kBounds[i]) ++i;
        auto& shard = shards_[detail::metric_shard()];
        shard.buckets[i].fetch_add(n, std::memory_order_relaxed);
        // Zeros (acquires served at once) add nothing to the sum: skip the read-modify-write.
        if (d.count() > 0) {
            shard.sum_ns.fetch_add(static_cast<std::uint64_t>(d.count()) * n,
                                   std::memory_order_relaxed);
        }
    }

    /// Non-cumulative bucket counts (the last one is +Inf).
    std::array<std::uint64_t, kBounds.size() + 1> buckets() const noexcept {
        std::array<std::uint64_t, kBounds.size() + 1> out{};
        for (const auto& shard : shards_) {
            for (std::size_t i = 0; i < out.size(); ++i) {
                out[i] += shard.buckets[i].load(std::memory_order_relaxed);
            }
        }
        return out;
    }
    /// Number of observations.
    std::uint64_t count() const noexcept {
        std::uint64_t n = 0;
        for (auto b : buckets()) n += b;
        return n;
    }
    /// Sum of observations in seconds.
    double sum_seconds() const noexcept {
        std::uint64_t ns = 0;
        for (const auto& shard : shards_) ns += shard.sum_ns.load(std::memory_order_relaxed);
        return static_cast<double>(ns) * 1e-9;
    }
    /// Estimated quantile (0..1) in seconds by linear interpolation inside the bucket.
    double quantile(double q) const noexcept;

  private:
    struct alignas(detail::kCacheLine) Shard {
        std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets{};
        std::atomic<std::uint64_t> sum_ns{0};
    };
    std::array<Shard, detail::kMetricShards> shards_{};
};

/// A relaxed counter, sharded as Histogram is: add() writes the calling thread's cache line,
/// value() adds the shards up.
class Counter {
  public:
    /// Adds `n`.
    void add(std::uint64_t n = 1) noexcept {
        shards_[detail::metric_shard()].v.fetch_add(n, std::memory_order_relaxed);
    }
    /// The current count.
    std::uint64_t value() const noexcept {
        std::uint64_t n = 0;
        for (const auto& shard : shards_) n += shard.v.load(std::memory_order_relaxed);
        return n;
    }

  private:
    struct alignas(detail::kCacheLine) Shard {
        std::atomic<std::uint64_t> v{0};
    };
    std::array<Shard, detail::kMetricShards> shards_{};
};

/// Counters kept per host.
struct HostMetrics {
    Counter connections_opened;
    Counter connections_closed;
    Counter connection_errors;
    Counter connect_attempts;  ///< by the opener, health checks and probes
    Counter acquires;
    Counter pool_timeouts;
    Counter leaks;
    Counter primary_moves;           ///< host lists: new sessions reached another writable server
    std::array<Counter, 4> queries;  ///< Indexed by QueryOutcome.
    Histogram acquire_wait;
    Histogram query_duration;

    /// Counts a server error by SQLSTATE class (first two characters); error path only.
    void count_error_class(std::string_view sqlstate);
    /// Errors by SQLSTATE class.
    std::map<std::string, std::uint64_t> error_classes() const;

  private:
    mutable std::mutex errors_mutex_;
    std::map<std::string, std::uint64_t> error_classes_;
};

/// Counters kept per pool.
struct PoolMetrics {
    std::array<Counter, 7> retries;       ///< Indexed by RetryReason.
    std::array<Counter, 4> transactions;  ///< Indexed by TransactionOutcome.
    Histogram transaction_duration;
    Counter hook_errors;
};

/// One host's state for an exposition, gathered under the pool's locks.
struct HostSnapshot {
    std::string label;
    HostRole role = HostRole::primary;           ///< Configured role.
    HostRole observed_role = HostRole::primary;  ///< Role the last probe saw.
    std::size_t total = 0;
    std::size_t idle = 0;
    std::size_t in_use = 0;
    std::size_t waiting = 0;
    std::size_t max = 0;
    bool up = true;
    std::chrono::milliseconds replication_lag{0};
    const HostMetrics* metrics = nullptr;
};

/// The kind of a metric family, as in the exposition's `# TYPE` line.
enum class MetricType { counter, gauge, histogram };
/// "counter" / "gauge" / "histogram".
const char* to_string(MetricType type) noexcept;

/// One metric family the pool exports: its name, type, labels and meaning.
struct MetricFamily {
    std::string_view name;  ///< Family name (for counters it ends in `_total`).
    MetricType type = MetricType::gauge;
    std::string_view labels;  ///< Comma-separated label names, `le` of histograms excluded.
    std::string_view help;    ///< The exposition's `# HELP` text.
};

/// The names of the exported metric families, for code that builds queries on them (the
/// dashboard and alert rules) so that a renamed metric fails to compile instead of drifting.
namespace metric_names {
inline constexpr std::string_view kConnections = "sparc_db_connections";
inline constexpr std::string_view kConnectionsMax = "sparc_db_connections_max";
inline constexpr std::string_view kWaitingRequests = "sparc_db_waiting_requests";
inline constexpr std::string_view kPoolUtilization = "sparc_db_pool_utilization_ratio";
inline constexpr std::string_view kHostUp = "sparc_db_host_up";
inline constexpr std::string_view kHostInRecovery = "sparc_db_host_in_recovery";
inline constexpr std::string_view kReplicationLag = "sparc_db_replication_lag_seconds";
inline constexpr std::string_view kConnectionsOpened = "sparc_db_connections_opened_total";
inline constexpr std::string_view kConnectionsClosed = "sparc_db_connections_closed_total";
inline constexpr std::string_view kConnectionErrors = "sparc_db_connection_errors_total";
inline constexpr std::string_view kConnectAttempts = "sparc_db_connect_attempts_total";
inline constexpr std::string_view kPoolTimeouts = "sparc_db_pool_timeouts_total";
inline constexpr std::string_view kLeakedLeases = "sparc_db_leaked_leases_total";
inline constexpr std::string_view kPrimaryMoves = "sparc_db_primary_moves_total";
inline constexpr std::string_view kQueries = "sparc_db_queries_total";
inline constexpr std::string_view kQueryErrors = "sparc_db_query_errors_total";
inline constexpr std::string_view kAcquireWait = "sparc_db_acquire_wait_seconds";
inline constexpr std::string_view kQueryDuration = "sparc_db_query_duration_seconds";
inline constexpr std::string_view kTransactionRetries = "sparc_db_transaction_retries_total";
inline constexpr std::string_view kTransactions = "sparc_db_transactions_total";
inline constexpr std::string_view kTransactionDuration = "sparc_db_transaction_duration_seconds";
inline constexpr std::string_view kHookErrors = "sparc_db_hook_errors_total";
}  // namespace metric_names

/// Every metric family metrics_text() exports, in exposition order. Per-host families carry
/// `service`, `role` (configured role: primary or replica) and `host` (host:port/db, never
/// credentials); pool-wide ones carry `service`.
inline constexpr std::array<MetricFamily, 22> kMetricFamilies = {{
    {metric_names::kConnections, MetricType::gauge, "service,role,host,state",
     "Open connections by state (idle or in_use); their sum is the open total."},
    {metric_names::kConnectionsMax, MetricType::gauge, "service,role,host",
     "Most connections the pool may open to the host."},
    {metric_names::kWaitingRequests, MetricType::gauge, "service,role,host",
     "Callers waiting for a connection."},
    {metric_names::kPoolUtilization, MetricType::gauge, "service,role,host",
     "Connections in use divided by the maximum (0 to 1)."},
    {metric_names::kHostUp, MetricType::gauge, "service,role,host",
     "1 when the host answers its health checks, else 0."},
    {metric_names::kHostInRecovery, MetricType::gauge, "service,role,host",
     "1 when the host last reported being in recovery (a standby), else 0."},
    {metric_names::kReplicationLag, MetricType::gauge, "service,role,host",
     "Replay lag of a replica behind its primary, from the last health check."},
    {metric_names::kConnectionsOpened, MetricType::counter, "service,role,host",
     "Connections opened."},
    {metric_names::kConnectionsClosed, MetricType::counter, "service,role,host",
     "Connections closed."},
    {metric_names::kConnectionErrors, MetricType::counter, "service,role,host",
     "Failed connection attempts and sessions found broken."},
    {metric_names::kConnectAttempts, MetricType::counter, "service,role,host",
     "Connection attempts, by the pool's opener and its health checks, failed ones included."},
    {metric_names::kPoolTimeouts, MetricType::counter, "service,role,host",
     "Acquires that gave up after connection_timeout."},
    {metric_names::kLeakedLeases, MetricType::counter, "service,role,host",
     "Leases held longer than leak_detection_threshold."},
    {metric_names::kPrimaryMoves, MetricType::counter, "service,role,host",
     "Times new sessions of a host list reached another writable server (a failover "
     "followed); the sessions on the old one were cut."},
    {metric_names::kQueries, MetricType::counter, "service,role,host,outcome",
     "Statements run, by outcome (ok, sql_error, timeout, connection_error)."},
    {metric_names::kQueryErrors, MetricType::counter, "service,role,host,sqlstate_class",
     "Statements that failed with a SQLSTATE (timeouts included), by SQLSTATE class."},
    {metric_names::kAcquireWait, MetricType::histogram, "service,role,host",
     "Time callers waited to lease a connection."},
    {metric_names::kQueryDuration, MetricType::histogram, "service,role,host",
     "Statement duration, failed statements included."},
    {metric_names::kTransactionRetries, MetricType::counter, "service,reason",
     "Transaction attempts retried, by reason."},
    {metric_names::kTransactions, MetricType::counter, "service,outcome",
     "transaction() calls by outcome (committed, rolled_back, failed, unknown)."},
    {metric_names::kTransactionDuration, MetricType::histogram, "service",
     "Duration of transaction() calls, retries included."},
    {metric_names::kHookErrors, MetricType::counter, "service",
     "Exceptions thrown by user hooks (caught and counted)."},
}};

/// The sample names metrics_text() can emit: every family's name, plus `_bucket`, `_sum` and
/// `_count` for histograms. Sorted.
std::vector<std::string> exported_metric_names();

/// Renders the Prometheus text exposition format (version 0.0.4). The caller gathers the
/// snapshots; this only reads relaxed atomics, so scraping never blocks the pool's hot path.
std::string render_prometheus(std::string_view service, const std::vector<HostSnapshot>& hosts,
                              const PoolMetrics& pool);

}  // namespace sparc::db
