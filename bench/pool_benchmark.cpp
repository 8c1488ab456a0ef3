// Acquire + release of a lease: sparc's ConnectionPool against a textbook pool (one mutex, one
// condition variable, a deque of connection pointers), 1 to 16 threads, 4 and 16 connections.
//
// Two backends, no I/O:
// - `fake`: db::testing::FakeBackend, the one users test with. The pool calls its is_alive()
//   and transaction_status() on every acquire and release (lock-free reads of atomics).
// - `null`: a backend whose connections do nothing, so only the pool is measured.
// The textbook pool holds the same connection objects but never calls into them.
//
// Throughput is items_per_second (all threads together); scripts/bench.sh prints the ratio
// sparc / textbook for each row.
//
// fairness/...: more threads than connections for a fixed time, every acquire timed, to set
// the textbook pool's unfairness (whoever runs takes the connection) against sparc's bounded
// barging. hold_us > 0 keeps each lease that long in a sleep, as a query waiting for the server
// would, so that callers really queue. Counters: ns_per_op (throughput, the timing included),
// max_wait_us, p999_wait_us, p99_wait_us, and min_share (the ops of the thread that did least,
// over the mean: 1 is even). With more threads than CPUs, a thread preempted between its two
// clock reads shows a long wait whatever the pool does: compare the pools, not the absolutes.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include <sparc/db.hpp>
#include <sparc/db/testing/fake_backend.hpp>

namespace db = sparc::db;

namespace {

/// A backend whose connections do nothing; it answers the pool's health probe so the pool
/// keeps its connections.
class NullBackend {
  public:
    class Connection {
      public:
        db::Result execute(std::string_view sql, db::ParamsRef /*params*/,
                           const db::ExecSettings& /*exec*/) {
            if (sql == db::detail::kProbeSql) {
                return db::Result(std::make_shared<const db::detail::TextResultData>(
                    std::vector<std::string>{"pg_is_in_recovery", "pg_current_wal_lsn", "coalesce"},
                    std::vector<std::vector<std::optional<std::string>>>{{"f", "0/1000000", "0"}},
                    0));
            }
            return {};
        }
        void begin(const db::TransactionOptions& /*options*/, const db::ExecSettings& /*exec*/) {}
        void commit(const db::ExecSettings& /*exec*/) {}
        void rollback(const db::ExecSettings& /*exec*/) {}
        void cancel() noexcept {}
        bool cancel_outstanding() const noexcept { return false; }
        std::optional<bool> in_recovery() const noexcept { return false; }
        bool is_alive() const { return true; }
        db::TxStatus transaction_status() const { return db::TxStatus::idle; }
        void close() noexcept {}
    };

    std::unique_ptr<Connection> connect(const db::Endpoint& /*endpoint*/,
                                        const db::ConnectSettings& /*settings*/) {
        return std::make_unique<Connection>();
    }
};
static_assert(db::Backend<NullBackend>);

/// The textbook pool: one mutex, one condition variable, a FIFO deque of idle connections.
template <typename Conn>
class TextbookPool {
  public:
    explicit TextbookPool(std::vector<std::unique_ptr<Conn>> conns) : conns_(std::move(conns)) {
        for (auto& c : conns_) idle_.push_back(c.get());
    }

    /// Returns the connection to its pool when destroyed.
    class Lease {
      public:
        Lease(TextbookPool& pool, Conn* conn) : pool_(pool), conn_(conn) {}
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease() { pool_.release(conn_); }
        Conn& connection() noexcept { return *conn_; }

      private:
        TextbookPool& pool_;
        Conn* conn_;
    };

    Lease acquire() {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return !idle_.empty(); });
        Conn* c = idle_.front();
        idle_.pop_front();
        return Lease(*this, c);
    }

  private:
    void release(Conn* c) {
        {
            std::lock_guard lock(mutex_);
            idle_.push_back(c);
        }
        cv_.notify_one();
    }

    std::vector<std::unique_ptr<Conn>> conns_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<Conn*> idle_;
};

db::PoolConfig bench_config(std::size_t connections) {
    db::PoolConfig cfg;
    cfg.service_name = "bench";
    cfg.min_connections = connections;
    cfg.max_connections = connections;
    return cfg;
}

// One sparc pool per backend and size, shared by every run and thread, opened before first use.
template <typename B, std::size_t N>
db::ConnectionPool<B>& sparc_pool() {
    static db::ConnectionPool<B> pool(bench_config(N), B{});
    static const bool warm = [] {
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (pool.stats().idle < N) {
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

template <typename B, std::size_t N>
TextbookPool<typename B::Connection>& textbook_pool() {
    static TextbookPool<typename B::Connection> pool([] {
        B backend = B{};
        std::vector<std::unique_ptr<typename B::Connection>> conns;
        for (std::size_t i = 0; i < N; ++i) {
            conns.push_back(backend.connect(db::Endpoint{}, db::ConnectSettings{}));
        }
        return conns;
    }());
    return pool;
}

template <typename B, std::size_t N>
void acquire_release_sparc(benchmark::State& state) {
    auto& pool = sparc_pool<B, N>();
    for (auto _ : state) {
        auto lease = pool.acquire();
        benchmark::DoNotOptimize(lease);
    }
    state.SetItemsProcessed(state.iterations());
}

template <typename B, std::size_t N>
void acquire_release_textbook(benchmark::State& state) {
    auto& pool = textbook_pool<B, N>();
    for (auto _ : state) {
        auto lease = pool.acquire();
        benchmark::DoNotOptimize(lease.connection());
    }
    state.SetItemsProcessed(state.iterations());
}

void thread_counts(benchmark::internal::Benchmark* b) {
    for (int t : {1, 2, 4, 8, 16}) b->Threads(t);
    b->UseRealTime();
}

using Fake = db::testing::FakeBackend;

// Names: acquire_release/<pool>/<backend>/conns:<N>/real_time/threads:<T>.
BENCHMARK(acquire_release_sparc<NullBackend, 4>)
    ->Name("acquire_release/sparc/null/conns:4")
    ->Apply(thread_counts);
BENCHMARK(acquire_release_textbook<NullBackend, 4>)
    ->Name("acquire_release/textbook/null/conns:4")
    ->Apply(thread_counts);
BENCHMARK(acquire_release_sparc<NullBackend, 16>)
    ->Name("acquire_release/sparc/null/conns:16")
    ->Apply(thread_counts);
BENCHMARK(acquire_release_textbook<NullBackend, 16>)
    ->Name("acquire_release/textbook/null/conns:16")
    ->Apply(thread_counts);
BENCHMARK(acquire_release_sparc<Fake, 4>)
    ->Name("acquire_release/sparc/fake/conns:4")
    ->Apply(thread_counts);
BENCHMARK(acquire_release_textbook<Fake, 4>)
    ->Name("acquire_release/textbook/fake/conns:4")
    ->Apply(thread_counts);
BENCHMARK(acquire_release_sparc<Fake, 16>)
    ->Name("acquire_release/sparc/fake/conns:16")
    ->Apply(thread_counts);
BENCHMARK(acquire_release_textbook<Fake, 16>)
    ->Name("acquire_release/textbook/fake/conns:16")
    ->Apply(thread_counts);

// Fixed iteration counts, for counting instructions deterministically: run each under
//   valgrind --tool=callgrind --toggle-collect='*acquire_release_sparc*'
// with --benchmark_filter='^callgrind/sparc/null/conns:16/n:100000/' (then n:300000); the
// difference divided by 200,000 is one acquire + release, set-up excluded.
BENCHMARK(acquire_release_sparc<NullBackend, 16>)
    ->Name("callgrind/sparc/null/conns:16/n:100000")
    ->Iterations(100000);
BENCHMARK(acquire_release_sparc<NullBackend, 16>)
    ->Name("callgrind/sparc/null/conns:16/n:300000")
    ->Iterations(300000);
BENCHMARK(acquire_release_sparc<Fake, 16>)
    ->Name("callgrind/sparc/fake/conns:16/n:100000")
    ->Iterations(100000);
BENCHMARK(acquire_release_sparc<Fake, 16>)
    ->Name("callgrind/sparc/fake/conns:16/n:300000")
    ->Iterations(300000);

// Acquire waits, in log-linear buckets: exact below 8 ns, then 8 per power of two (+-6%).
class WaitLog {
  public:
    void add(std::uint64_t ns) noexcept {
        ++buckets_[bucket_of(ns)];
        max_ns_ = std::max(max_ns_, ns);
        ++ops_;
    }
    void merge(const WaitLog& other) noexcept {
        for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
        max_ns_ = std::max(max_ns_, other.max_ns_);
        ops_ += other.ops_;
    }
    std::uint64_t ops() const noexcept { return ops_; }
    std::uint64_t max_ns() const noexcept { return max_ns_; }
    /// Upper bound of the bucket holding quantile q.
    std::uint64_t quantile_ns(double q) const noexcept {
        const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(ops_));
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < buckets_.size(); ++i) {
            seen += buckets_[i];
            if (seen > rank) return std::min(upper_of(i), max_ns_);
        }
        return max_ns_;
    }

  private:
    static std::size_t bucket_of(std::uint64_t ns) noexcept {
        if (ns < 8) return static_cast<std::size_t>(ns);
        const int b = 63 - __builtin_clzll(ns);
        return static_cast<std::size_t>((b - 2) * 8) + ((ns >> (b - 3)) & 7U);
    }
    static std::uint64_t upper_of(std::size_t i) noexcept {
        if (i < 8) return i;
        const auto b = static_cast<int>(i / 8) + 2;
        return ((std::uint64_t{8} + i % 8 + 1) << (b - 3)) - 1;
    }
    std::array<std::uint64_t, 512> buckets_{};
    std::uint64_t max_ns_ = 0;
    std::uint64_t ops_ = 0;
};

template <typename Pool>
void fairness(benchmark::State& state, Pool& pool) {
    const auto threads = static_cast<std::size_t>(state.range(0));
    const auto hold = std::chrono::microseconds(state.range(1));
    constexpr auto kDuration = std::chrono::milliseconds(1000);
    for (auto _ : state) {
        std::vector<WaitLog> logs(threads);
        std::atomic<bool> go{false};
        std::atomic<bool> stop{false};
        std::vector<std::thread> workers;
        for (std::size_t i = 0; i < threads; ++i) {
            workers.emplace_back([&, i] {
                while (!go.load()) std::this_thread::yield();
                WaitLog& log = logs[i];
                while (!stop.load(std::memory_order_relaxed)) {
                    const auto t0 = std::chrono::steady_clock::now();
                    auto lease = pool.acquire();
                    const auto t1 = std::chrono::steady_clock::now();
                    benchmark::DoNotOptimize(lease);
                    log.add(static_cast<std::uint64_t>(
                        std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
                    if (hold.count() > 0) std::this_thread::sleep_for(hold);
                }
            });
        }
        const auto start = std::chrono::steady_clock::now();
        go = true;
        std::this_thread::sleep_for(kDuration);
        stop = true;
        for (auto& w : workers) w.join();
        const auto elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start);
        state.SetIterationTime(elapsed.count());
        WaitLog all;
        std::uint64_t fewest = std::numeric_limits<std::uint64_t>::max();
        for (const auto& log : logs) {
            all.merge(log);
            fewest = std::min(fewest, log.ops());
        }
        const double ops = static_cast<double>(all.ops());
        state.counters["ns_per_op"] = elapsed.count() * 1e9 / ops;
        state.counters["max_wait_us"] = static_cast<double>(all.max_ns()) / 1e3;
        state.counters["p999_wait_us"] = static_cast<double>(all.quantile_ns(0.999)) / 1e3;
        state.counters["p99_wait_us"] = static_cast<double>(all.quantile_ns(0.99)) / 1e3;
        state.counters["min_share"] =
            static_cast<double>(fewest) / (ops / static_cast<double>(threads));
    }
}

template <typename B, std::size_t N>
void fairness_sparc(benchmark::State& state) {
    fairness(state, sparc_pool<B, N>());
}

template <typename B, std::size_t N>
void fairness_textbook(benchmark::State& state) {
    fairness(state, textbook_pool<B, N>());
}

void fairness_args(benchmark::internal::Benchmark* b) {
    b->ArgNames({"threads", "hold_us"})->Args({8, 0})->Args({16, 0})->Args({16, 100});
    b->Iterations(1)->UseManualTime();
}

// Names: fairness/<pool>/<backend>/conns:<N>/threads:<T>/hold_us:<H>.
BENCHMARK(fairness_sparc<NullBackend, 4>)
    ->Name("fairness/sparc/null/conns:4")
    ->Apply(fairness_args);
BENCHMARK(fairness_textbook<NullBackend, 4>)
    ->Name("fairness/textbook/null/conns:4")
    ->Apply(fairness_args);

// Reference costs on this machine, to read the figures above against: the textbook pool takes
// its mutex on acquire and on release; sparc's fast path takes no lock and reads no clock (the
// pool before it read the steady clock five times per acquire + release).
void steady_clock_now(benchmark::State& state) {
    for (auto _ : state) {
        benchmark::DoNotOptimize(std::chrono::steady_clock::now());
    }
}
BENCHMARK(steady_clock_now)->Name("reference/steady_clock::now");

void mutex_lock_unlock(benchmark::State& state) {
    std::mutex m;
    for (auto _ : state) {
        std::lock_guard lock(m);
        benchmark::DoNotOptimize(&m);
    }
}
BENCHMARK(mutex_lock_unlock)->Name("reference/mutex_lock_unlock");

const bool kContext = [] {
    benchmark::AddCustomContext("sparc_build_type", SPARC_BENCH_BUILD_TYPE);
    return true;
}();

}  // namespace
