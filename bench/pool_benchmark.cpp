// Acquire + release of a lease: sparc's ConnectionPool against a textbook pool (one mutex, one
// condition variable, a deque of connection pointers), 1 to 16 threads, 4 and 16 connections.
//
// Two backends, no I/O:
// - `fake`: db::testing::FakeBackend, the one users test with. Its is_alive() and
//   transaction_status() (called by the pool on acquire and release) take the fake's shared
//   mutex, so part of what is measured is the fake itself.
// - `null`: a backend whose connections do nothing, so only the pool is measured.
// The textbook pool holds the same connection objects but never calls into them.
//
// Throughput is items_per_second (all threads together); scripts/bench.sh prints the ratio
// sparc / textbook for each row.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
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

// Reference costs on this machine, to read the figures above against: the pool reads the
// steady clock and takes its mutex on both acquire and release.
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
