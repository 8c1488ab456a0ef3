// sparc-http-load: N client threads, each on one keep-alive HTTP connection, send GET requests
// to one URL path for a fixed time. Prints one JSON line: requests per second, latency
// percentiles, and how many responses were not 200.
//
//   sparc-http-load --port 8080 --path '/videos?tenant=1&limit=5' --threads 4 --duration 5

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <latch>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kUsage =
    R"(Usage: sparc-http-load [--host ADDR] --port N [--path PATH] [--threads N] [--duration S]

  --host ADDR    server address (default 127.0.0.1)
  --port N       server port
  --path PATH    request path and query (default /health)
  --threads N    client threads, one keep-alive connection each (default 4)
  --duration S   seconds to send requests for (default 5)
)";

struct Options {
    std::string host = "127.0.0.1";
    int port = 0;
    std::string path = "/health";
    int threads = 4;
    int duration_s = 5;
};

std::optional<int> parse_int(std::string_view text) {
    int value = 0;
    const auto* end = text.data() + text.size();
    const auto r = std::from_chars(text.data(), end, value);
    if (text.empty() || r.ec != std::errc{} || r.ptr != end) {
        return std::nullopt;
    }
    return value;
}

[[noreturn]] void usage_error(std::string_view message) {
    std::cerr << "sparc-http-load: " << message << '\n' << kUsage;
    std::exit(2);
}

Options parse_options(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help") {
            std::cout << kUsage;
            std::exit(0);
        }
        if (i + 1 >= argc) {
            usage_error(std::string(arg) + " needs a value");
        }
        const std::string_view value = argv[++i];
        if (arg == "--host") {
            o.host = value;
        } else if (arg == "--path") {
            o.path = value;
        } else if (arg == "--port" || arg == "--threads" || arg == "--duration") {
            const auto n = parse_int(value);
            if (!n || *n <= 0) {
                usage_error(std::string(arg) + " must be a positive integer");
            }
            (arg == "--port" ? o.port : arg == "--threads" ? o.threads : o.duration_s) = *n;
        } else {
            usage_error("unknown option " + std::string(arg));
        }
    }
    if (o.port == 0) {
        usage_error("--port is required");
    }
    return o;
}

double percentile_ms(const std::vector<Clock::duration>& sorted, double p) {
    if (sorted.empty()) {
        return 0;
    }
    const auto i = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1));
    return std::chrono::duration<double, std::milli>(sorted[i]).count();
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse_options(argc, argv);
    std::mutex mutex;
    std::vector<Clock::duration> latencies;
    std::atomic<std::int64_t> failures{0};
    std::atomic<std::int64_t> connections_lost{0};
    std::latch ready(o.threads + 1);
    const auto threads = static_cast<std::size_t>(o.threads);
    Clock::time_point start;
    std::vector<std::thread> clients;
    clients.reserve(threads);
    for (std::size_t t = 0; t < threads; ++t) {
        clients.emplace_back([&] {
            httplib::Client client(o.host, o.port);
            client.set_keep_alive(true);
            std::vector<Clock::duration> mine;
            mine.reserve(100'000);
            ready.arrive_and_wait();
            const auto until = start + std::chrono::seconds(o.duration_s);
            while (Clock::now() < until) {
                const auto sent = Clock::now();
                const auto res = client.Get(o.path);
                mine.push_back(Clock::now() - sent);
                if (!res) {
                    ++connections_lost;
                } else if (res->status != 200) {
                    ++failures;
                }
            }
            std::lock_guard lock(mutex);
            latencies.insert(latencies.end(), mine.begin(), mine.end());
        });
    }
    start = Clock::now();
    ready.arrive_and_wait();
    for (auto& c : clients) {
        c.join();
    }
    const auto elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::sort(latencies.begin(), latencies.end());

    const nlohmann::json out = {
        {"path", o.path},
        {"threads", o.threads},
        {"duration_s", elapsed},
        {"requests", latencies.size()},
        {"requests_per_s", static_cast<double>(latencies.size()) / elapsed},
        {"latency_ms",
         {{"p50", percentile_ms(latencies, 0.50)},
          {"p90", percentile_ms(latencies, 0.90)},
          {"p99", percentile_ms(latencies, 0.99)},
          {"max", percentile_ms(latencies, 1.0)}}},
        {"not_200", failures.load()},
        {"errors", connections_lost.load()},
    };
    std::cout << out.dump() << std::endl;
    return failures == 0 && connections_lost == 0 ? 0 : 1;
}
