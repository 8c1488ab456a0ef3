#pragma once
/// @file metrics.hpp
/// The pool's counters and histograms (relaxed atomics on the hot path) and their Prometheus
/// text exposition.

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

/// A fixed-bucket latency histogram; observe() is a few relaxed atomic increments.
class Histogram {
  public:
    /// Upper bounds in seconds (Prometheus `le`), chosen around the 50 ms query target.
    static constexpr std::array<double, 14> kBounds = {
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0};

    /// Records one observation.
    void observe(std::chrono::nanoseconds d) noexcept {
        const double s = std::chrono::duration<double>(d).count();
        std::size_t i = 0;
        while (i < kBounds.size() && s > kBounds[i]) ++i;
        buckets_[i].fetch_add(1, std::memory_order_relaxed);
        sum_ns_.fetch_add(static_cast<std::uint64_t>(d.count() > 0 ? d.count() : 0),
                          std::memory_order_relaxed);
    }

    /// Non-cumulative bucket counts (the last one is +Inf).
    std::array<std::uint64_t, kBounds.size() + 1> buckets() const noexcept {
        std::array<std::uint64_t, kBounds.size() + 1> out{};
        for (std::size_t i = 0; i < out.size(); ++i) {
            out[i] = buckets_[i].load(std::memory_order_relaxed);
        }
        return out;
    }
    /// Sum of observations in seconds.
    double sum_seconds() const noexcept {
        return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) * 1e-9;
    }
    /// Estimated quantile (0..1) in seconds by linear interpolation inside the bucket.
    double quantile(double q) const noexcept;

  private:
    std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};
    std::atomic<std::uint64_t> sum_ns_{0};
};

/// A relaxed counter.
class Counter {
  public:
    void add(std::uint64_t n = 1) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }

  private:
    std::atomic<std::uint64_t> v_{0};
};

/// Counters kept per host.
struct HostMetrics {
    Counter connections_opened;
    Counter connections_closed;
    Counter connection_errors;
    Counter acquires;
    Counter pool_timeouts;
    Counter leaks;
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
    std::array<Counter, 5> retries;       ///< Indexed by RetryReason.
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

/// Renders the Prometheus text exposition format (version 0.0.4).
std::string render_prometheus(std::string_view service, const std::vector<HostSnapshot>& hosts,
                              const PoolMetrics& pool);

}  // namespace sparc::db
