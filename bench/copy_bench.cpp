// sparc-copy-bench: loads N rows into a fresh table through db::Database, either with one
// copy_in() (COPY FROM STDIN) or with one single-row INSERT per row (autocommit, prepared, or
// all in one transaction), and prints one JSON line with the rows loaded and the time taken.
//
//   sparc-copy-bench --url postgresql://... --rows 100000 --mode copy_in
//   modes: copy_in, insert (one autocommit INSERT per row), insert_tx (the INSERTs in one
//   transaction)

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include <sparc/db.hpp>

namespace db = sparc::db;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view kUsage =
    R"(Usage: sparc-copy-bench [OPTIONS]

Loads N rows (bigint, text, timestamptz, nullable text) into a fresh table and prints one JSON
line with the time taken.

  --url URL          primary (default: $DATABASE_URL)
  --rows N           rows to load (default 100000)
  --mode MODE        copy_in, insert (one autocommit INSERT per row) or insert_tx (the INSERTs
                     in one transaction) (default copy_in)
  --table NAME       table to (re)create (default sparc_copy_bench)
)";

[[noreturn]] void usage_error(const std::string& message) {
    std::cerr << "sparc-copy-bench: " << message << "\n\n" << kUsage;
    std::exit(2);
}

using Row = std::tuple<std::int64_t, std::string, std::chrono::system_clock::time_point,
                       std::optional<std::string>>;

}  // namespace

int main(int argc, char** argv) {
    std::string url = std::getenv("DATABASE_URL") != nullptr ? std::getenv("DATABASE_URL") : "";
    std::int64_t rows = 100'000;
    std::string mode = "copy_in";
    std::string table = "sparc_copy_bench";
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
            if (value != "copy_in" && value != "insert" && value != "insert_tx") {
                usage_error("--mode: copy_in, insert or insert_tx");
            }
            mode = value;
        } else if (a == "--table") {
            table = value;
        } else {
            usage_error("unknown option " + std::string(a));
        }
    }
    if (url.empty()) usage_error("no --url and no DATABASE_URL");
    try {
        db::PoolConfig cfg;
        cfg.service_name = "sparc-copy-bench";
        cfg.primary = db::Endpoint::parse(url);
        cfg.min_connections = 1;
        cfg.max_connections = 1;
        cfg.statement_timeout = std::chrono::minutes(10);
        cfg.query_timeout = std::chrono::minutes(11);
        db::Database pool(cfg);
        const std::string quoted = db::detail::quote_identifier(table);
        pool.query("DROP TABLE IF EXISTS " + quoted);
        pool.query("CREATE TABLE " + quoted +
                   " (id bigint PRIMARY KEY, name text, at timestamptz, note text)");
        std::vector<Row> data;
        data.reserve(static_cast<std::size_t>(rows));
        const auto now = std::chrono::system_clock::now();
        for (std::int64_t i = 1; i <= rows; ++i) {
            data.emplace_back(i, "video-" + std::to_string(i) + "\twith a tab",
                              now + std::chrono::microseconds(i),
                              i % 3 == 0 ? std::nullopt : std::optional<std::string>("note"));
        }
        const std::string insert =
            "INSERT INTO " + quoted + " (id, name, at, note) VALUES ($1, $2, $3, $4)";
        const auto start = Clock::now();
        std::size_t loaded = 0;
        if (mode == "copy_in") {
            loaded = pool.copy_in(table, {"id", "name", "at", "note"}, data);
        } else if (mode == "insert") {
            for (const auto& [id, name, at, note] : data) {
                loaded += pool.query(insert, {id, name, at, note}).affected_rows();
            }
        } else {
            pool.transaction(
                [&](auto& tx) {
                    loaded = 0;
                    for (const auto& [id, name, at, note] : data) {
                        loaded += tx.query(insert, {id, name, at, note}).affected_rows();
                    }
                },
                {.timeout = std::chrono::minutes(10)});
        }
        const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
        const auto counted =
            pool.query("SELECT count(*) FROM " + quoted).front()[0].as<std::int64_t>();
        pool.query("DROP TABLE " + quoted);
        nlohmann::json out{{"mode", mode},
                           {"rows", loaded},
                           {"rows_in_table", counted},
                           {"seconds", seconds},
                           {"rows_per_second", static_cast<double>(loaded) / seconds}};
        std::cout << out.dump() << std::endl;
        return counted == rows ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "sparc-copy-bench: " << e.what() << '\n';
        return 1;
    }
}
