// The read path at 1 to 8 threads: what every successful read writes besides the connection it
// leases. Each part against a baseline in the same run:
//
// - read_path/...: query() routed to one of two replicas through ConnectionPool (a backend
//   whose connections answer at once), acquire, execute, count, release. No baseline of its
//   own: bench/RESULTS.md compares it with the same file built on the code before the change.
// - router/pick/...: ReplicaRouter::pick() against the textbook form (smooth weighted
//   round-robin under one mutex, the state it reads in the same object).
// - metrics/record/...: one statement's metrics (a counter and a latency histogram) as
//   Counter and Histogram keep them, against one relaxed atomic per count shared by all threads.
//
// Throughput is items_per_second (all threads together).

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include <sparc/db.hpp>
#include <sparc/db/detail/sql.hpp>
#include <sparc/db/pool.hpp>  // the pool over a backend of its own

namespace db = sparc::db;

namespace {

/// A backend whose connections answer every statement at once with nothing; hosts whose name
/// starts with "replica" say they are standbys.
class NullBackend {
  public:
    class Connection {
      public:
        explicit Connection(bool standby) : standby_(standby) {}
        db::Result execute(std::string_view sql, db::ParamsRef /*params*/,
                           const db::ExecSettings& /*exec*/) {
            if (sql == db::detail::kProbeSql) {
                return db::Result(std::make_shared<const db::detail::TextResultData>(
                    std::vector<std::string>{"pg_is_in_recovery", "pg_current_wal_lsn", "coalesce"},
                    std::vector<std::vector<std::optional<std::string>>>{
                        {standby_ ? "t" : "f", "0/1000000", "0"}},
                    0));
            }
            return {};
        }
        void begin(const db::TransactionOptions& /*options*/, const db::ExecSettings& /*exec*/) {}
        void commit(const db::ExecSettings& /*exec*/) {}
        void rollback(const db::ExecSettings& /*exec*/) {}
        void cancel() noexcept {}
        bool cancel_outstanding() const noexcept { return false; }
        std::optional<bool> in_recovery() const noexcept { return standby_; }
        bool is_alive() const { return true; }
        db::TxStatus transaction_status() const { return db::TxStatus::idle; }
        void close() noexcept {}

      private:
        bool standby_;
    };

    std::unique_ptr<Connection> connect(const db::Endpoint& endpoint,
                                        const db::ConnectSettings& /*settings*/) {
        return std::make_unique<Connection>(endpoint.host().starts_with("replica"));
    }
};
static_assert(db::Backend<NullBackend>);

constexpr std::size_t kConnections = 16;  // per host: more than the most threads measured

db::ConnectionPool<NullBackend>& replica_pool() {
    static db::ConnectionPool<NullBackend> pool([] {
        db::PoolConfig cfg;
        cfg.service_name = "bench";
        cfg.primary = db::Endpoint::parse("postgresql://app@primary/app");
        cfg.replicas = {{db::Endpoint::parse("postgresql://app@replica1/app"), 1},
                        {db::Endpoint::parse("postgresql://app@replica2/app"), 1}};
        cfg.min_connections = kConnections;
        cfg.max_connections = kConnections;
        return cfg;
    }());
    static const bool warm = [] {
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (pool.stats().idle < 3 * kConnections || !pool.router().state(0).up ||
               !pool.router().state(1).up) {
            if (std::chrono::steady_clock::now() > until) {
                throw std::runtime_error("the benchmark pool did not open its connections");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return true;
    }();
    benchmark::DoNotOptimize(warm);
    return pool;
}

void read_path(benchmark::State& state) {
    auto& pool = replica_pool();
    for (auto _ : state) {
        auto r = pool.query("SELECT 1", {}, {.use_read_replica = true});
        benchmark::DoNotOptimize(r);
    }
    state.SetItemsProcessed(state.iterations());
}

/// Smooth weighted round-robin as a textbook writes it: the replicas' state and the running
/// weights under one mutex, which every pick takes.
class MutexRouter {
  public:
    explicit MutexRouter(std::vector<unsigned> weights)
        : weights_(std::move(weights)), up_(weights_.size(), true), current_(weights_.size()) {}

    int pick() {
        std::lock_guard lock(mutex_);
        std::int64_t total = 0;
        int best = -1;
        for (std::size_t i = 0; i < weights_.size(); ++i) {
            if (!up_[i]) continue;
            current_[i] += weights_[i];
            total += weights_[i];
            if (best < 0 || current_[i] > current_[static_cast<std::size_t>(best)]) {
                best = static_cast<int>(i);
            }
        }
        if (best >= 0) current_[static_cast<std::size_t>(best)] -= total;
        return best;
    }

  private:
    std::vector<unsigned> weights_;
    std::mutex mutex_;
    std::vector<bool> up_;
    std::vector<std::int64_t> current_;
};

std::vector<unsigned> router_weights() { return {3, 1}; }

void router_pick_sparc(benchmark::State& state) {
    static db::ReplicaRouter router(router_weights(), std::chrono::milliseconds(10'000));
    for (auto _ : state) benchmark::DoNotOptimize(router.pick());
    state.SetItemsProcessed(state.iterations());
}

void router_pick_mutex(benchmark::State& state) {
    static MutexRouter router(router_weights());
    for (auto _ : state) benchmark::DoNotOptimize(router.pick());
    state.SetItemsProcessed(state.iterations());
}

/// A statement's metrics with one relaxed atomic per count, shared by every thread.
struct SharedMetrics {
    std::atomic<std::uint64_t> queries{0};
    std::array<std::atomic<std::uint64_t>, db::Histogram::kBounds.size() + 1> buckets{};
    std::atomic<std::uint64_t> sum_ns{0};

    void record(std::chrono::nanoseconds d) noexcept {
        queries.fetch_add(1, std::memory_order_relaxed);
        const double s = std::chrono::duration<double>(d).count();
        std::size_t i = 0;
        while (i < db::Histogram::kBounds.size() && s > db::Histogram::kBounds[i]) ++i;
        buckets[i].fetch_add(1, std::memory_order_relaxed);
        sum_ns.fetch_add(static_cast<std::uint64_t>(d.count()), std::memory_order_relaxed);
    }
};

// A duration in the 1 ms bucket, as a fast statement's.
constexpr std::chrono::nanoseconds kTook{800'000};

void metrics_record_sparc(benchmark::State& state) {
    static db::HostMetrics metrics;
    for (auto _ : state) {
        metrics.queries[0].add();
        metrics.query_duration.observe(kTook);
    }
    state.SetItemsProcessed(state.iterations());
}

void metrics_record_shared(benchmark::State& state) {
    static SharedMetrics metrics;
    for (auto _ : state) metrics.record(kTook);
    state.SetItemsProcessed(state.iterations());
}

void thread_counts(benchmark::internal::Benchmark* b) {
    for (int t : {1, 2, 4, 8}) b->Threads(t);
    b->UseRealTime();
}

BENCHMARK(read_path)->Name("read_path/sparc/null/replicas:2")->Apply(thread_counts);
BENCHMARK(router_pick_sparc)->Name("router/pick/sparc/replicas:2")->Apply(thread_counts);
BENCHMARK(router_pick_mutex)->Name("router/pick/mutex/replicas:2")->Apply(thread_counts);
BENCHMARK(metrics_record_sparc)->Name("metrics/record/sparc")->Apply(thread_counts);
BENCHMARK(metrics_record_shared)->Name("metrics/record/shared")->Apply(thread_counts);

}  // namespace
