// ConnectionPool::copy_in against PostgreSQL: 100,000 rows of awkward values read back exactly,
// a row source that throws half-way, a unique violation at row 30,000, a COPY rolled back with
// its transaction, a NUL byte refused, quoted and schema-qualified names, and the client
// deadline over the whole COPY. Every failure leaves nothing in the table.

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "pg_util.hpp"

using namespace sparc::pgtest;
using namespace std::chrono_literals;

namespace {

using TimePoint = std::chrono::system_clock::time_point;
using Row = std::tuple<std::int64_t, std::optional<std::string>, db::Bytes, TimePoint,
                       nlohmann::json, std::optional<std::int32_t>>;

// one_connection() with time for 100,000 rows, so that the next caller gets the connection
// the COPY used.
db::PoolConfig one_copy_connection(const std::string& application) {
    auto cfg = one_connection(application);
    cfg.statement_timeout = 120s;
    cfg.query_timeout = 180s;
    return cfg;
}

std::int64_t count_rows(db::Database& pool, const std::string& table) {
    return pool.query("SELECT count(*) FROM " + table).front()[0].as<std::int64_t>();
}

// The next caller gets a working session: the one the aborted COPY used when the server
// confirmed the abort in time (as it does at once), or, on a machine too loaded for the grace
// period, a new one, the old session then gone rather than handed on.
void check_session_after_abort(db::Database& pool, int pid) {
    const auto now = pool.query("SELECT pg_backend_pid()").front()[0].as<int>();
    if (now == pid) return;
    REQUIRE(eventually([&] {
        return std::stoi(cluster().psql(Node::primary,
                                        "SELECT count(*) FROM pg_stat_activity WHERE pid = " +
                                            std::to_string(pid))) == 0;
    }));
}

// Text that COPY's format has to escape, and text that merely looks special.
const std::vector<std::string> kCopyAwkward = {
    "plain",
    "tab\there",
    "new\nline",
    "carriage\rreturn",
    "crlf\r\n",
    "back\\slash",
    "\\N",
    "\\.",
    "\\",
    "ends with backslash\\",
    "\"double\" and 'single' quotes",
    "unicode: \xC3\xA9\xE2\x82\xAC\xF0\x9F\x8E\xAC \xE4\xB8\xAD\xE6\x96\x87",
    "",
    " leading and trailing ",
    "comma, semicolon; pipe |",
    "\x01\x02\x1f control",
    "\\x41 not hex",
    "NULL",
};

Row make_row(std::int64_t i) {
    const auto& text = kCopyAwkward[static_cast<std::size_t>(i) % kCopyAwkward.size()];
    std::optional<std::string> t = text + (i % 7 == 0 ? std::string() : std::to_string(i));
    if (i % 11 == 0) t = std::nullopt;  // NULL, unlike the empty strings above
    db::Bytes b;
    for (std::int64_t k = 0; k < i % 9; ++k) {
        b.push_back(static_cast<std::byte>((i * 31 + k * 7) % 256));
    }
    if (i % 5 == 0) b = {std::byte{0}, std::byte{'\\'}, std::byte{'\t'}, std::byte{'\n'}};
    const TimePoint at =
        TimePoint{} + std::chrono::microseconds(1'700'000'000'000'000LL + i * 1'234'567LL);
    nlohmann::json j = {{"i", i}, {"s", text}, {"a", {1, nullptr, "x\ty"}}};
    std::optional<std::int32_t> n;
    if (i % 3 != 0) n = static_cast<std::int32_t>(i % 2 == 0 ? -i : i);
    return {i, std::move(t), std::move(b), at, std::move(j), n};
}

}  // namespace

TEST_CASE("copy_in loads 100,000 rows of awkward values that read back exactly", "[copy]") {
    db::Database pool(one_copy_connection("pg-copy-roundtrip"));
    pool.query("DROP TABLE IF EXISTS copy_roundtrip");
    pool.query(
        "CREATE TABLE copy_roundtrip (id bigint PRIMARY KEY, t text, b bytea, at timestamptz, "
        "j json, n integer)");
    std::vector<Row> rows;
    rows.reserve(100'000);
    for (std::int64_t i = 1; i <= 100'000; ++i) rows.push_back(make_row(i));
    REQUIRE(pool.copy_in("copy_roundtrip", {"id", "t", "b", "at", "j", "n"}, rows) == 100'000);
    std::size_t i = 0;
    std::size_t mismatches = 0;
    std::string first_mismatch;
    pool.for_each("SELECT id, t, b, at, j, n FROM copy_roundtrip ORDER BY id", {},
                  [&](const db::Row& row) {
                      const auto got = row.as<Row>();
                      if (got != rows[i]) {
                          if (mismatches++ == 0) {
                              first_mismatch = "row " + std::to_string(i + 1) + ": " +
                                               std::get<4>(got).dump() + " text " +
                                               std::get<1>(got).value_or("NULL");
                          }
                      }
                      ++i;
                  });
    INFO(first_mismatch);
    REQUIRE(i == rows.size());
    REQUIRE(mismatches == 0);
    // The json column keeps the text as sent: the same as a parameter's.
    const auto j = pool.query("SELECT j::text FROM copy_roundtrip WHERE id = 2").front()[0];
    REQUIRE(j.as<std::string>() == db::Param(std::get<4>(rows[1])).text());
    // Empty string and NULL stay apart.
    REQUIRE(pool.query("SELECT count(*) FROM copy_roundtrip WHERE t IS NULL")
                .front()[0]
                .as<std::int64_t>() == 100'000 / 11);
    SECTION("rows from a function, in a schema, with quoted names") {
        pool.query("DROP SCHEMA IF EXISTS copy_s CASCADE");
        pool.query("CREATE SCHEMA copy_s");
        pool.query(R"(CREATE TABLE copy_s."odd ""name""" ("Mixed Col" int, "a""b" text))");
        int k = 0;
        REQUIRE(pool.copy_in({"copy_s", R"(odd "name")"}, {"Mixed Col", R"(a"b)"},
                             [&](db::CopyWriter& w) {
                                 ++k;
                                 w.row(k, "v" + std::to_string(k));
                                 return k < 1000;
                             }) == 1000);
        REQUIRE(pool.query(R"(SELECT sum("Mixed Col"), max("a""b") FROM copy_s."odd ""name""")")
                    .front()
                    .as<std::tuple<std::int64_t, std::string>>() ==
                std::tuple<std::int64_t, std::string>{500'500, "v999"});
        pool.query("DROP SCHEMA copy_s CASCADE");
    }
    pool.query("DROP TABLE copy_roundtrip");
}

TEST_CASE("a row source that throws half-way: nothing loaded, the connection reusable", "[copy]") {
    db::Database pool(one_copy_connection("pg-copy-throw"));
    pool.query("DROP TABLE IF EXISTS copy_throw");
    pool.query("CREATE TABLE copy_throw (id bigint, t text)");
    const auto pid = pool.query("SELECT pg_backend_pid()").front()[0].as<int>();
    std::int64_t next = 0;
    try {
        pool.copy_in("copy_throw", {"id", "t"}, [&](db::CopyWriter& w) -> bool {
            ++next;
            if (next == 50'000) throw Stop("the source failed at row 50000");
            w.row(next, "some text to fill the chunks " + std::to_string(next));
            return next < 100'000;
        });
        FAIL("no exception");
    } catch (const Stop& e) {
        REQUIRE(std::string(e.what()) == "the source failed at row 50000");
    }
    REQUIRE(next == 50'000);
    REQUIRE(count_rows(pool, "copy_throw") == 0);
    check_session_after_abort(pool, pid);
    std::vector<std::tuple<int, std::string>> two{{1, "a"}, {2, "b"}};
    REQUIRE(pool.copy_in("copy_throw", {"id", "t"}, two) == 2);
    REQUIRE(count_rows(pool, "copy_throw") == 2);
    REQUIRE(pool.stats().in_use == 0);
    pool.query("DROP TABLE copy_throw");
}

TEST_CASE("a unique violation at row 30,000 is SqlError 23505 and nothing is loaded", "[copy]") {
    db::Database pool(one_copy_connection("pg-copy-unique"));
    pool.query("DROP TABLE IF EXISTS copy_unique");
    pool.query("CREATE TABLE copy_unique (id bigint PRIMARY KEY, t text)");
    std::vector<std::tuple<std::int64_t, std::string>> rows;
    for (std::int64_t i = 1; i <= 50'000; ++i) rows.emplace_back(i == 30'000 ? 1 : i, "x");
    try {
        pool.copy_in("copy_unique", {"id", "t"}, rows);
        FAIL("no SqlError");
    } catch (const db::SqlError& e) {
        REQUIRE(e.sqlstate() == "23505");
        REQUIRE(e.constraint() == "copy_unique_pkey");
    }
    REQUIRE(count_rows(pool, "copy_unique") == 0);
    REQUIRE(pool.query("SELECT 7").front()[0].as<int>() == 7);
    pool.query("DROP TABLE copy_unique");
}

TEST_CASE("copy_in inside a transaction is rolled back with it", "[copy]") {
    db::Database pool(one_copy_connection("pg-copy-tx"));
    pool.query("DROP TABLE IF EXISTS copy_tx");
    pool.query("CREATE TABLE copy_tx (id bigint, t text)");
    std::vector<std::tuple<std::int64_t, std::string>> rows;
    for (std::int64_t i = 1; i <= 10'000; ++i) rows.emplace_back(i, "in a transaction");
    std::size_t loaded = 0;
    REQUIRE_THROWS_AS(pool.transaction([&](auto& tx) {
        loaded = tx.copy_in("copy_tx", {"id", "t"}, rows);
        // The rows are there inside the transaction...
        REQUIRE(tx.query("SELECT count(*) FROM copy_tx").front()[0].template as<std::int64_t>() ==
                10'000);
        tx.query("SELECT 1 / 0");  // ...until a later error rolls it back.
    }),
                      db::SqlError);
    REQUIRE(loaded == 10'000);
    REQUIRE(count_rows(pool, "copy_tx") == 0);
    SECTION("committed when the transaction commits, through db::Tx") {
        db::Client& client = pool;
        client.transaction([&](db::Tx& tx) { tx.copy_in("copy_tx", {"id", "t"}, rows); });
        REQUIRE(count_rows(pool, "copy_tx") == 10'000);
    }
    pool.query("DROP TABLE copy_tx");
}

TEST_CASE("a NUL byte in a text value is UsageError naming the column and row; nothing loaded",
          "[copy]") {
    db::Database pool(one_copy_connection("pg-copy-nul"));
    pool.query("DROP TABLE IF EXISTS copy_nul");
    pool.query("CREATE TABLE copy_nul (id bigint, t text)");
    const auto pid = pool.query("SELECT pg_backend_pid()").front()[0].as<int>();
    std::vector<std::tuple<std::int64_t, std::string>> rows;
    for (std::int64_t i = 1; i <= 100'000; ++i) rows.emplace_back(i, "fine");
    std::get<1>(rows[70'000]) = std::string("bad\0byte", 8);
    try {
        pool.copy_in("copy_nul", {"id", "t"}, rows);
        FAIL("no UsageError");
    } catch (const db::UsageError& e) {
        REQUIRE_THAT(e.what(), Catch::Contains("\"t\"") && Catch::Contains("row 70001") &&
                                   Catch::Contains("NUL"));
    }
    REQUIRE(count_rows(pool, "copy_nul") == 0);
    check_session_after_abort(pool, pid);
    pool.query("DROP TABLE copy_nul");
}

TEST_CASE("the client deadline covers the whole COPY: aborted, nothing loaded", "[copy]") {
    db::Database pool(one_copy_connection("pg-copy-deadline"));
    pool.query("DROP TABLE IF EXISTS copy_deadline");
    pool.query("CREATE TABLE copy_deadline (id bigint, t text)");
    std::int64_t next = 0;
    try {
        // An endless source: only the deadline ends it.
        pool.copy_in("copy_deadline", {"id", "t"},
                     [&](db::CopyWriter& w) {
                         w.row(++next, "endless");
                         return true;
                     },
                     {.timeout = 500ms});
        FAIL("no QueryTimeout");
    } catch (const db::QueryTimeout& e) {
        REQUIRE(e.client_side());
    }
    REQUIRE(next > 0);
    REQUIRE(count_rows(pool, "copy_deadline") == 0);
    SECTION("the caller's own deadline ends in Cancelled") {
        try {
            pool.copy_in("copy_deadline", {"id", "t"},
                         [&](db::CopyWriter& w) {
                             w.row(++next, "endless");
                             return true;
                         },
                         {.deadline = std::chrono::steady_clock::now() + 300ms});
            FAIL("no Cancelled");
        } catch (const db::Cancelled& e) {
            REQUIRE(e.reason() == db::CancelReason::deadline);
        }
        REQUIRE(count_rows(pool, "copy_deadline") == 0);
    }
    SECTION("a stop request ends it in Cancelled; the server confirms, nothing is loaded") {
        std::stop_source stop;
        try {
            pool.copy_in("copy_deadline", {"id", "t"},
                         [&](db::CopyWriter& w) {
                             w.row(++next, "until stopped");
                             // Asked from the source itself, so that the stop lands mid-COPY.
                             if (w.rows() == 5000) stop.request_stop();
                             return true;
                         },
                         {.stop = stop.get_token()});
            FAIL("no Cancelled");
        } catch (const db::Cancelled& e) {
            REQUIRE(e.reason() == db::CancelReason::stop);
            REQUIRE_FALSE(e.statement_may_have_run());
        }
        REQUIRE(count_rows(pool, "copy_deadline") == 0);
    }
    pool.query("DROP TABLE copy_deadline");
}

TEST_CASE("a slow row source still stops at the deadline: nothing loaded, the source left",
          "[copy]") {
    db::Database pool(one_copy_connection("pg-copy-slow-source"));
    pool.query("DROP TABLE IF EXISTS copy_slow");
    pool.query("CREATE TABLE copy_slow (id bigint)");
    int calls = 0;
    try {
        // 100 rows, 30 ms each: they fit in one chunk, and would take 3 s.
        pool.copy_in("copy_slow", {"id"},
                     [&](db::CopyWriter& w) {
                         std::this_thread::sleep_for(30ms);
                         w.row(++calls);
                         return calls < 100;
                     },
                     {.timeout = 300ms});
        FAIL("no QueryTimeout");
    } catch (const db::QueryTimeout& e) {
        CHECK(e.client_side());
    }
    CHECK(calls < 100);  // the deadline ended the COPY, not the end of the rows
    CHECK(count_rows(pool, "copy_slow") == 0);
    pool.query("DROP TABLE copy_slow");
}

TEST_CASE("a COPY FROM STDIN through query() is a UsageError, not a hang", "[copy]") {
    db::Database pool(one_copy_connection("pg-copy-query"));
    pool.query("DROP TABLE IF EXISTS copy_query");
    pool.query("CREATE TABLE copy_query (id bigint)");
    REQUIRE_THROWS_AS(pool.query("COPY copy_query FROM STDIN"), db::UsageError);
    // That session waited for data and was closed; the pool serves the next caller.
    REQUIRE(pool.query("SELECT count(*) FROM copy_query").front()[0].as<std::int64_t>() == 0);
    pool.query("DROP TABLE copy_query");
}
