// sparc-load: N client threads run one parameterised statement for a fixed time, through
// db::Database (mode sparc) or through one libpqxx connection per thread with a prepared
// statement (mode raw, the baseline). Prints one JSON line: queries per second, latency
// percentiles and, for sparc, how long callers waited for a connection.
//
//   sparc-load --url postgresql://... --threads 8 --duration 5 --param-range 1:100000
//              --sql 'SELECT abalance FROM pgbench_accounts WHERE aid = $1'

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <iostream>
#include <latch>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <sparc/db.hpp>

namespace db = sparc::db;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view kUsage =
    R"(Usage: sparc-load [OPTIONS]

Runs one parameterised statement from N threads for a fixed time and prints one JSON line.

  --url URL               primary (default: $DATABASE_URL)
  --replicas URL,...      read replicas (used with --use-replicas)
  --use-replicas          route the statement to the replicas
  --threads N             client threads (default 8)
  --duration SECONDS      measured time, after one warm-up statement per thread (default 5)
  --sql SQL               statement with one parameter $1
                          (default: SELECT abalance FROM pgbench_accounts WHERE aid = $1)
  --param-range LO:HI     $1 is a uniform random integer in [LO, HI] (default 1:100000)
  --max-connections N     pool size per host, opened up front (default: --threads)
  --mode sparc|raw        sparc: through db::Database; raw: one libpqxx connection per
                          thread, statement prepared once (default sparc)
)";

struct Options {
    std::string url;
    std::vector<std::string> replicas;
    bool use_replicas = false;
    int threads = 8;
    double duration_s = 5.0;
    std::string sql = "SELECT abalance FROM pgbench_accounts WHERE aid = $1";
    std::int64_t param_lo = 1;
    std::int64_t param_hi = 100000;
    std::size_t max_connections = 0;
    std::string mode = "sparc";
};

[[noreturn]] void usage_error(const std::string& message) {
    std::cerr << "sparc-load: " << message << "\n\n" << kUsage;
    std::exit(2);
}

template <typename T>
T parse_number(std::string_view text, std::string_view option) {
    T v{};
    const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    if (r.ec != std::errc{} || r.ptr != text.data() + text.size()) {
        usage_error(std::string(option) + ": not a number: " + std::string(text));
    }
    return v;
}

std::vector<std::string> split(std::string_view text, char sep) {
    std::vector<std::string> out;
    while (!text.empty()) {
        const auto pos = text.find(sep);
        const auto item = text.substr(0, pos);
        if (!item.empty()) out.emplace_back(item);
        if (pos == std::string_view::npos) break;
        text.remove_prefix(pos + 1);
    }
    return out;
}

Options parse_options(int argc, char** argv) {
    Options o;
    if (const char* url = std::getenv("DATABASE_URL")) o.url = url;
    const std::vector<std::string_view> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view a = args[i];
        auto value = [&]() -> std::string_view {
            if (i + 1 >= args.size()) usage_error(std::string(a) + " needs a value");
            return args[++i];
        };
        if (a == "--help" || a == "-h") {
            std::cout << kUsage;
            std::exit(0);
        } else if (a == "--url") {
            o.url = value();
        } else if (a == "--replicas") {
            o.replicas = split(value(), ',');
        } else if (a == "--use-replicas") {
            o.use_replicas = true;
        } else if (a == "--threads") {
            o.threads = parse_number<int>(value(), a);
        } else if (a == "--duration") {
            o.duration_s = parse_number<double>(value(), a);
        } else if (a == "--sql") {
            o.sql = value();
        } else if (a == "--param-range") {
            const auto v = value();
            const auto colon = v.find(':');
            if (colon == std::string_view::npos) usage_error("--param-range: expected LO:HI");
            o.param_lo = parse_number<std::int64_t>(v.substr(0, colon), a);
            o.param_hi = parse_number<std::int64_t>(v.substr(colon + 1), a);
        } else if (a == "--max-connections") {
            o.max_connections = parse_number<std::size_t>(value(), a);
        } else if (a == "--mode") {
            o.mode = value();
        } else {
            usage_error("unknown option " + std::string(a));
        }
    }
    if (o.url.empty()) usage_error("no --url and no DATABASE_URL");
    if (o.threads < 1) usage_error("--threads must be at least 1");
    if (!(o.duration_s > 0)) usage_error("--duration must be positive");
    if (o.param_lo > o.param_hi) usage_error("--param-range: LO > HI");
    if (o.mode != "sparc" && o.mode != "raw") usage_error("--mode is sparc or raw");
    if (o.use_replicas && o.replicas.empty()) usage_error("--use-replicas needs --replicas");
    if (o.max_connections == 0) o.max_connections = static_cast<std::size_t>(o.threads);
    return o;
}

/// What one client thread measured.
struct ThreadResult {
    std::vector<std::int64_t> latency_ns;
    std::vector<std::int64_t> acquire_wait_ns;
    std::uint64_t errors = 0;
    std::string first_error;
};

// The acquire-wait samples of the calling thread: the pool's on_acquire hook runs on the thread
// that acquires, with the wait the pool itself measured.
thread_local std::vector<std::int64_t>* t_acquire_waits = nullptr;

nlohmann::json percentiles_us(std::vector<std::int64_t>& ns) {
    if (ns.empty()) return nullptr;
    std::sort(ns.begin(), ns.end());
    auto at = [&](double q) {
        const auto idx = static_cast<std::size_t>(q * static_cast<double>(ns.size() - 1) + 0.5);
        return static_cast<double>(ns[idx]) / 1000.0;
    };
    long double sum = 0;
    for (auto v : ns) sum += static_cast<long double>(v);
    return {{"p50", at(0.50)},
            {"p95", at(0.95)},
            {"p99", at(0.99)},
            {"max", static_cast<double>(ns.back()) / 1000.0},
            {"mean", static_cast<double>(sum / static_cast<long double>(ns.size())) / 1000.0}};
}

/// Runs `body(rng_value)` in a loop on `threads` threads for the duration after one warm-up
/// call each; returns the wall time of the measured part.
template <typename Setup>
Clock::duration run_clients(const Options& o, std::vector<ThreadResult>& results, Setup setup) {
    results.assign(static_cast<std::size_t>(o.threads), ThreadResult{});
    std::latch ready(o.threads + 1);
    std::atomic<bool> failed{false};
    std::string setup_error;
    std::mutex setup_error_mutex;
    const auto duration =
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
    std::vector<std::thread> threads;
    for (int t = 0; t < o.threads; ++t) {
        threads.emplace_back([&, t] {
            auto& r = results[static_cast<std::size_t>(t)];
            r.latency_ns.reserve(1 << 18);
            std::mt19937_64 rng(std::random_device{}() ^ static_cast<std::uint64_t>(t));
            std::uniform_int_distribution<std::int64_t> dist(o.param_lo, o.param_hi);
            std::function<void(std::int64_t)> run_one;
            try {
                run_one = setup();
                run_one(dist(rng));  // warm-up: connection opened, statement prepared
            } catch (const std::exception& e) {
                std::lock_guard lock(setup_error_mutex);
                if (setup_error.empty()) setup_error = e.what();
                failed = true;
            }
            ready.arrive_and_wait();
            if (failed) return;
            t_acquire_waits = &r.acquire_wait_ns;
            const auto deadline = Clock::now() + duration;
            while (true) {
                const auto start = Clock::now();
                if (start >= deadline) break;
                try {
                    run_one(dist(rng));
                } catch (const std::exception& e) {
                    if (r.errors++ == 0) r.first_error = e.what();
                    continue;
                }
                r.latency_ns.push_back(
                    std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start)
                        .count());
            }
            t_acquire_waits = nullptr;
        });
    }
    ready.arrive_and_wait();
    const auto start = Clock::now();
    for (auto& th : threads) th.join();
    const auto took = Clock::now() - start;
    if (failed) throw std::runtime_error("setup failed: " + setup_error);
    return took;
}

int run(const Options& o) {
    std::vector<ThreadResult> results;
    Clock::duration took{};
    nlohmann::json pool_info;
    if (o.mode == "sparc") {
        db::PoolConfig cfg;
        cfg.service_name = "sparc-load";
        cfg.primary = db::Endpoint::parse(o.url);
        for (const auto& r : o.replicas) cfg.replicas.push_back({db::Endpoint::parse(r), 1});
        cfg.min_connections = o.max_connections;
        cfg.max_connections = o.max_connections;
        db::Hooks hooks;
        hooks.on_acquire = [](const db::AcquireEvent& e) {
            if (t_acquire_waits != nullptr) t_acquire_waits->push_back(e.wait.count());
        };
        db::Database pool(cfg, db::PqxxBackend{}, hooks);
        const db::QueryOptions qo{.use_read_replica = o.use_replicas};
        took = run_clients(o, results, [&] {
            return std::function<void(std::int64_t)>([&pool, &o, qo](std::int64_t v) {
                const auto r = pool.query(o.sql, {v}, qo);
                if (r.size() > 1'000'000) std::abort();  // the result is used
            });
        });
        const auto stats = pool.stats();
        pool_info = {{"total", stats.total}, {"max", stats.max}};
    } else {
        took = run_clients(o, results, [&] {
            // Owned by the thread's closure: one connection, one prepared statement.
            auto conn = std::make_shared<pqxx::connection>(o.url);
            conn->prepare("sparc_load", o.sql);
            auto tx = std::make_shared<pqxx::nontransaction>(*conn);
            return std::function<void(std::int64_t)>([conn, tx](std::int64_t v) {
                const pqxx::result r = tx->exec_prepared("sparc_load", v);
                if (r.size() > 1'000'000) std::abort();
            });
        });
    }

    std::vector<std::int64_t> latency;
    std::vector<std::int64_t> waits;
    std::uint64_t errors = 0;
    std::string first_error;
    for (auto& r : results) {
        latency.insert(latency.end(), r.latency_ns.begin(), r.latency_ns.end());
        waits.insert(waits.end(), r.acquire_wait_ns.begin(), r.acquire_wait_ns.end());
        errors += r.errors;
        if (first_error.empty()) first_error = r.first_error;
    }
    const double seconds = std::chrono::duration<double>(took).count();
    nlohmann::json out = {
        {"tool", "sparc-load"},
        {"mode", o.mode},
        {"threads", o.threads},
        {"duration_s", seconds},
        {"queries", latency.size()},
        {"errors", errors},
        {"qps", static_cast<double>(latency.size()) / seconds},
        {"latency_us", percentiles_us(latency)},
    };
    if (o.mode == "sparc") {
        out["max_connections"] = o.max_connections;
        out["use_replicas"] = o.use_replicas;
        out["acquire_wait_us"] = percentiles_us(waits);
        out["pool"] = pool_info;
    }
    if (!first_error.empty()) out["first_error"] = first_error;
    std::cout << out.dump() << std::endl;
    return latency.empty() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse_options(argc, argv);
    try {
        return run(o);
    } catch (const std::exception& e) {
        std::cerr << "sparc-load: " << e.what() << "\n";
        return 1;
    }
}
