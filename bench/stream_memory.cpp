// sparc-stream-memory: reads N rows of one statement through db::Database, either as one
// Result (query()) or row by row (for_each()), touching every value, and prints one JSON line
// with the process's peak resident set size (VmHWM) before and after, the rows read and the
// time taken. Run each mode in a process of its own: a peak never goes down.
//
//   sparc-stream-memory --url postgresql://... --rows 10000000 --mode for_each

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <sparc/db.hpp>

namespace db = sparc::db;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view kUsage =
    R"(Usage: sparc-stream-memory [OPTIONS]

Reads N rows through db::Database and prints one JSON line with the peak RSS.

  --url URL          primary (default: $DATABASE_URL)
  --rows N           rows to read (default 10000000)
  --mode MODE        query: one Result; for_each: streamed row by row (default for_each)
  --sql SQL          statement with one parameter $1, the row count (default:
                     SELECT g, 'video-' || g AS name FROM generate_series(1, $1::bigint) g)
)";

[[noreturn]] void usage_error(const std::string& message) {
    std::cerr << "sparc-stream-memory: " << message << "\n\n" << kUsage;
    std::exit(2);
}

// A field of /proc/self/status in KiB (VmHWM: peak resident set size; VmRSS: current).
long status_kib(std::string_view field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.starts_with(field) && line.size() > field.size() && line[field.size()] == ':') {
            return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
        }
    }
    return -1;
}

}  // namespace

int main(int argc, char** argv) {
    std::string url = std::getenv("DATABASE_URL") != nullptr ? std::getenv("DATABASE_URL") : "";
    std::int64_t rows = 10'000'000;
    std::string mode = "for_each";
    std::string sql = "SELECT g, 'video-' || g AS name FROM generate_series(1, $1::bigint) g";
    const std::vector<std::string_view> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const auto a = args[i];
        if (a == "-h" || a == "--help") {
            std::cout << kUsage;
            return 0;
        }
        if (i + 1 >= args.size()) usage_error(std::string(a) + " needs a value");
        const std::string value(args[++i]);
        if (a == "--url") {
            url = value;
        } else if (a == "--rows") {
            const auto r = std::from_chars(value.data(), value.data() + value.size(), rows);
            if (r.ec != std::errc{} || rows < 0) usage_error("--rows: not a count: " + value);
        } else if (a == "--mode") {
            if (value != "query" && value != "for_each") usage_error("--mode: query or for_each");
            mode = value;
        } else if (a == "--sql") {
            sql = value;
        } else {
            usage_error("unknown option " + std::string(a));
        }
    }
    if (url.empty()) usage_error("no --url and no DATABASE_URL");
    try {
        db::PoolConfig cfg;
        cfg.service_name = "sparc-stream-memory";
        cfg.primary = db::Endpoint::parse(url);
        cfg.min_connections = 1;
        cfg.max_connections = 1;
        cfg.statement_timeout = std::chrono::minutes(10);
        cfg.query_timeout = std::chrono::minutes(11);
        db::Database pool(cfg);
        pool.query("SELECT 1");  // connected, statement machinery warm
        const long before_kib = status_kib("VmHWM");
        const auto start = Clock::now();
        std::uint64_t count = 0;
        std::uint64_t checksum = 0;  // every value read, so nothing is optimised away
        if (mode == "query") {
            const db::Result r = pool.query(sql, {rows});
            for (const auto& row : r) {
                checksum += static_cast<std::uint64_t>(row[0].as<std::int64_t>()) +
                            row[1].as<std::string_view>().size();
                ++count;
            }
        } else {
            count = pool.for_each(sql, {rows}, [&](const db::Row& row) {
                checksum += static_cast<std::uint64_t>(row[0].as<std::int64_t>()) +
                            row[1].as<std::string_view>().size();
            });
        }
        const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
        const long peak_kib = status_kib("VmHWM");
        nlohmann::json out{{"mode", mode},
                           {"rows", count},
                           {"checksum", checksum},
                           {"peak_rss_before_kib", before_kib},
                           {"peak_rss_kib", peak_kib},
                           {"peak_rss_mib", static_cast<double>(peak_kib) / 1024.0},
                           {"seconds", seconds}};
        std::cout << out.dump() << std::endl;
        return count == static_cast<std::uint64_t>(rows) ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "sparc-stream-memory: " << e.what() << '\n';
        return 1;
    }
}
