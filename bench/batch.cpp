// 50 INSERTs three ways against PostgreSQL behind a link with 20 ms of latency each way (a
// delaying TCP proxy written here): one batch() (one round trip), 50 query() calls (autocommit,
// a round trip each) and one transaction() running the 50 INSERTs (BEGIN, 50, COMMIT).
//
//   SPARC_PRIMARY_URL=postgresql://... sparc-batch-bench [--benchmark_... options]
//
// The proxy needs the protocol in clear: the pool connects with sslmode=disable. Set
// SPARC_BENCH_DELAY_MS to change the one-way delay (default 20).

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include <sparc/db.hpp>

namespace db = sparc::db;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kStatements = 50;

// Forwards TCP connections from 127.0.0.1:port() to a target, delivering every chunk read
// from either side `delay` after it was read (order kept): a link with that one-way latency
// and no bandwidth limit. Two threads per direction per connection; fine for a benchmark.
class DelayProxy {
  public:
    DelayProxy(const std::string& host, const std::string& port, std::chrono::milliseconds delay)
        : delay_(delay) {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* found = nullptr;
        if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
            throw std::runtime_error("delay proxy: cannot resolve " + host + ":" + port);
        }
        target_.assign(reinterpret_cast<const char*>(found->ai_addr), found->ai_addrlen);
        family_ = found->ai_family;
        freeaddrinfo(found);
        listener_ = socket(AF_INET, SOCK_STREAM, 0);
        const int one = 1;
        setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            listen(listener_, 16) != 0) {
            throw std::system_error(errno, std::generic_category(), "delay proxy: listen");
        }
        socklen_t len = sizeof addr;
        getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        acceptor_ = std::thread([this] { accept_loop(); });
    }

    ~DelayProxy() {
        stopping_ = true;
        acceptor_.join();
        close(listener_);
        std::lock_guard lock(mutex_);
        for (auto& pipe : pipes_) pipe->stop();
        for (auto& pipe : pipes_) pipe->join();
        for (int fd : sockets_) close(fd);
    }

    DelayProxy(const DelayProxy&) = delete;
    DelayProxy& operator=(const DelayProxy&) = delete;

    std::uint16_t port() const { return port_; }

  private:
    // One direction: a reader stamps each chunk with its due time, a writer sends it then.
    class Pipe {
      public:
        Pipe(int from, int to, std::chrono::milliseconds delay)
            : from_(from), to_(to), delay_(delay) {
            reader_ = std::thread([this] { read_loop(); });
            writer_ = std::thread([this] { write_loop(); });
        }
        void stop() {
            {
                std::lock_guard lock(mutex_);
                stopped_ = true;
            }
            cv_.notify_all();
            shutdown(from_, SHUT_RDWR);
        }
        void join() {
            reader_.join();
            writer_.join();
        }

      private:
        struct Chunk {
            Clock::time_point due;
            std::string bytes;  // empty: the sender closed its side
        };

        void read_loop() {
            std::string buffer(64 * 1024, '\0');
            while (true) {
                const auto n = recv(from_, buffer.data(), buffer.size(), 0);
                std::lock_guard lock(mutex_);
                queue_.push_back({Clock::now() + delay_,
                                  n > 0 ? buffer.substr(0, static_cast<std::size_t>(n)) : ""});
                cv_.notify_all();
                if (n <= 0) return;
            }
        }

        void write_loop() {
            std::unique_lock lock(mutex_);
            while (true) {
                cv_.wait(lock, [&] { return stopped_ || !queue_.empty(); });
                if (stopped_) return;
                const auto due = queue_.front().due;
                if (cv_.wait_until(lock, due, [&] { return stopped_.load(); })) return;
                Chunk chunk = std::move(queue_.front());
                queue_.pop_front();
                lock.unlock();
                if (chunk.bytes.empty()) {
                    shutdown(to_, SHUT_WR);
                    return;
                }
                std::size_t off = 0;
                while (off < chunk.bytes.size()) {
                    const auto n =
                        send(to_, chunk.bytes.data() + off, chunk.bytes.size() - off, MSG_NOSIGNAL);
                    if (n <= 0) return;
                    off += static_cast<std::size_t>(n);
                }
                lock.lock();
            }
        }

        int from_;
        int to_;
        std::chrono::milliseconds delay_;
        std::mutex mutex_;
        std::condition_variable cv_;
        std::deque<Chunk> queue_;
        std::atomic<bool> stopped_{false};
        std::thread reader_;
        std::thread writer_;
    };

    void accept_loop() {
        while (!stopping_) {
            pollfd p{listener_, POLLIN, 0};
            if (poll(&p, 1, 100) <= 0) continue;
            const int client = accept(listener_, nullptr, nullptr);
            if (client < 0) continue;
            const int server = socket(family_, SOCK_STREAM, 0);
            if (connect(server, reinterpret_cast<const sockaddr*>(target_.data()),
                        static_cast<socklen_t>(target_.size())) != 0) {
                close(client);
                close(server);
                continue;
            }
            const int one = 1;
            setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            std::lock_guard lock(mutex_);
            sockets_.push_back(client);
            sockets_.push_back(server);
            pipes_.push_back(std::make_unique<Pipe>(client, server, delay_));
            pipes_.push_back(std::make_unique<Pipe>(server, client, delay_));
        }
    }

    std::chrono::milliseconds delay_;
    std::string target_;
    int family_ = AF_INET;
    int listener_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stopping_{false};
    std::thread acceptor_;
    std::mutex mutex_;
    std::vector<int> sockets_;
    std::vector<std::unique_ptr<Pipe>> pipes_;
};

// The proxy and a pool of one connection through it, made on first use.
struct Setup {
    std::unique_ptr<DelayProxy> proxy;
    std::unique_ptr<db::Database> pool;
    std::string error;
};

Setup& setup() {
    static Setup s = [] {
        Setup out;
        const char* url = std::getenv("SPARC_PRIMARY_URL");
        if (url == nullptr) url = std::getenv("DATABASE_URL");
        if (url == nullptr) {
            out.error = "set SPARC_PRIMARY_URL (or DATABASE_URL) to a PostgreSQL primary";
            return out;
        }
        const char* delay_env = std::getenv("SPARC_BENCH_DELAY_MS");
        const std::chrono::milliseconds delay(delay_env != nullptr ? std::atoi(delay_env) : 20);
        auto ep = db::Endpoint::parse(url);
        out.proxy = std::make_unique<DelayProxy>(ep.host(), ep.port(), delay);
        ep.set_option("host", "127.0.0.1");
        ep.set_option("port", std::to_string(out.proxy->port()));
        ep.set_option("sslmode", "disable");
        db::PoolConfig cfg;
        cfg.service_name = "sparc-batch-bench";
        cfg.application_name = "sparc-batch-bench";
        cfg.primary = ep;
        cfg.min_connections = 1;
        cfg.max_connections = 1;
        cfg.connection_timeout = std::chrono::seconds(10);
        cfg.query_timeout = std::chrono::seconds(60);
        out.pool = std::make_unique<db::Database>(cfg);
        out.pool->query("DROP TABLE IF EXISTS sparc_batch_bench");
        out.pool->query("CREATE TABLE sparc_batch_bench (id bigint, t text NOT NULL)");
        return out;
    }();
    return s;
}

const std::string kInsert = "INSERT INTO sparc_batch_bench (id, t) VALUES ($1, $2)";

void run(benchmark::State& state, void (*body)(db::Database&, std::int64_t)) {
    auto& s = setup();
    if (!s.error.empty()) {
        state.SkipWithError(s.error.c_str());
        return;
    }
    s.pool->query("TRUNCATE sparc_batch_bench");
    std::int64_t round = 0;
    for (auto _ : state) body(*s.pool, round++ * kStatements);
    const auto rows =
        s.pool->query("SELECT count(*) FROM sparc_batch_bench").front()[0].as<std::int64_t>();
    if (rows != round * kStatements) state.SkipWithError("wrong row count");
    state.counters["statements"] = kStatements;
}

void batch_of_50(benchmark::State& state) {
    run(state, [](db::Database& pool, std::int64_t base) {
        std::vector<db::Statement> statements;
        statements.reserve(kStatements);
        for (int i = 0; i < kStatements; ++i) {
            statements.push_back({kInsert, {base + i, "batch"}});
        }
        benchmark::DoNotOptimize(pool.batch(statements));
    });
}

void query_50_times(benchmark::State& state) {
    run(state, [](db::Database& pool, std::int64_t base) {
        for (int i = 0; i < kStatements; ++i) {
            benchmark::DoNotOptimize(pool.query(kInsert, {base + i, "query"}));
        }
    });
}

void transaction_of_50(benchmark::State& state) {
    run(state, [](db::Database& pool, std::int64_t base) {
        pool.transaction([&](auto& tx) {
            for (int i = 0; i < kStatements; ++i) {
                benchmark::DoNotOptimize(tx.query(kInsert, {base + i, "transaction"}));
            }
        });
    });
}

}  // namespace

BENCHMARK(batch_of_50)
    ->Name("insert50/batch")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(20);
BENCHMARK(query_50_times)
    ->Name("insert50/query_x50")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);
BENCHMARK(transaction_of_50)
    ->Name("insert50/transaction")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);
