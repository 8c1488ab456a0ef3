// copy_in on the fake backend: the COPY statement and its quoting, the COPY text encoding
// (escapes, NULL, bytea, types converted as parameters), rows from a range or a function,
// refused values and the caller's exceptions, failures scripted by rules, what is run again,
// transactions, leases, hooks and metrics, and db::Client.

#include <array>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "test_util.hpp"

namespace db = sparc::db;
using db::test::fake_config;
using db::test::FakePool;
using db::test::Rows;
using db::test::Stop;
using namespace std::chrono_literals;

namespace {

const char* const kEventsCopy = R"(COPY "events" ("id", "kind", "at") FROM STDIN)";

// The one COPY the fake recorded.
db::testing::Call copy_call(const db::testing::FakeBackend& fake) {
    for (const auto& c : fake.calls()) {
        if (c.sql.starts_with("COPY ")) return c;
    }
    FAIL("no COPY was recorded");
    return {};
}

std::string encode(const db::Param& p) {
    std::string out;
    db::detail::append_copy_field(out, p, "c", 1);
    return out;
}

}  // namespace

TEST_CASE("copy_statement quotes the table, the schema and every column", "[db][copy]") {
    REQUIRE(db::detail::copy_statement("events", {"id", "kind", "at"}) == kEventsCopy);
    REQUIRE(db::detail::copy_statement({"audit", "events"}, {"id"}) ==
            R"(COPY "audit"."events" ("id") FROM STDIN)");
    REQUIRE(db::detail::copy_statement(R"(odd "name")", {R"(a"b)", "Mixed Case"}) ==
            R"(COPY "odd ""name""" ("a""b", "Mixed Case") FROM STDIN)");
    // A dot is part of the name: schema-qualified tables are given as {schema, table}.
    REQUIRE(db::detail::copy_statement("s.t", {}) == R"(COPY "s.t" FROM STDIN)");
    REQUIRE_THROWS_AS(db::detail::copy_statement("", {"a"}), db::UsageError);
    REQUIRE_THROWS_AS(db::detail::copy_statement("t", {"a", ""}), db::UsageError);
    REQUIRE_THROWS_AS(db::detail::copy_statement("t", {"a", "a"}), db::UsageError);
    REQUIRE_THROWS_AS(db::detail::copy_statement(std::string("t\0x", 3), {"a"}), db::UsageError);
}

TEST_CASE("COPY text escapes backslash, tab, newline and carriage return, and marks NULL",
          "[db][copy]") {
    REQUIRE(encode("plain") == "plain");
    REQUIRE(encode("a\\b\tc\nd\re") == "a\\\\b\\tc\\nd\\re");
    REQUIRE(encode("") == "");
    REQUIRE(encode(std::nullopt) == "\\N");
    REQUIRE(encode("\\N") == "\\\\N");  // the text \N is not NULL
    REQUIRE(encode("\\.") == "\\\\.");  // nor the end-of-data marker
    REQUIRE(encode("\"quoted\" 'x', \xC3\xA9") == "\"quoted\" 'x', \xC3\xA9");
    REQUIRE(encode(db::Bytes{std::byte{0}, std::byte{0xff}, std::byte{'\\'}}) == "\\\\x00ff5c");
    REQUIRE(encode(db::Bytes{}) == "\\\\x");
    REQUIRE(encode(std::int64_t{-42}) == "-42");
    REQUIRE(encode(true) == "true");
    SECTION("a NUL byte in text is refused, naming the column and the row") {
        std::string out;
        try {
            db::detail::append_copy_field(out, std::string("a\0b", 3), "kind", 17);
            FAIL("no UsageError");
        } catch (const db::UsageError& e) {
            REQUIRE_THAT(e.what(), Catch::Contains("\"kind\"") && Catch::Contains("row 17") &&
                                       Catch::Contains("NUL"));
        }
    }
    SECTION("parse_copy_text reads it back") {
        const std::string data = encode("a\\b\tc\nd\re") + "\t" + encode(std::nullopt) + "\t" +
                                 encode("") + "\t" + encode("\\N") + "\n";
        REQUIRE(db::detail::parse_copy_text(data) ==
                Rows{{"a\\b\tc\nd\re", std::nullopt, "", "\\N"}});
    }
}

TEST_CASE("copy_in sends a range of tuples as one COPY and returns the count", "[db][pool][copy]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    const auto at = std::chrono::system_clock::time_point{} + std::chrono::seconds(1700000000);
    std::vector<
        std::tuple<std::int64_t, std::optional<std::string>, std::chrono::system_clock::time_point>>
        rows{{1, "play\ttab", at}, {2, std::nullopt, at}, {3, "", at}};
    REQUIRE(pool.copy_in("events", {"id", "kind", "at"}, rows) == 3);
    const auto call = copy_call(fake);
    REQUIRE(call.sql == kEventsCopy);
    REQUIRE(call.params.empty());
    REQUIRE(call.host == "primary");
    const std::string at_text = db::Param(at).text();  // exactly as a parameter
    REQUIRE(call.copy_rows ==
            Rows{{"1", "play\ttab", at_text}, {"2", std::nullopt, at_text}, {"3", "", at_text}});
    SECTION("bytea, json, uuid and arrays convert as parameters do") {
        std::vector<std::tuple<db::Bytes, nlohmann::json, std::vector<int>>> typed{
            {db::Bytes{std::byte{1}, std::byte{0xab}}, nlohmann::json{{"k", "v\n"}},
             std::vector<int>{1, 2}}};
        fake.clear_calls();
        REQUIRE(pool.copy_in("blobs", {"b", "j", "a"}, typed) == 1);
        REQUIRE(copy_call(fake).copy_rows ==
                Rows{{"\\x01ab", R"({"k":"v\n"})", db::Param(std::vector<int>{1, 2}).text()}});
    }
    SECTION("pairs and arrays are rows too; empty columns mean the table's") {
        fake.clear_calls();
        std::vector<std::pair<int, const char*>> pairs{{1, "a"}, {2, "b"}};
        REQUIRE(pool.copy_in("t", {}, pairs) == 2);
        REQUIRE(copy_call(fake).sql == R"(COPY "t" FROM STDIN)");
        std::array<std::array<int, 2>, 2> grid{{{1, 2}, {3, 4}}};
        REQUIRE(pool.copy_in({"s", "grid"}, {"x", "y"}, grid) == 2);
    }
    SECTION("an empty range loads nothing") {
        rows.clear();
        REQUIRE(pool.copy_in("events", {"id", "kind", "at"}, rows) == 0);
    }
    SECTION("a tuple of the wrong size is refused before anything is sent") {
        fake.clear_calls();
        std::vector<std::tuple<int, int>> narrow{{1, 2}};
        REQUIRE_THROWS_AS(pool.copy_in("events", {"id", "kind", "at"}, narrow), db::UsageError);
        REQUIRE(fake.calls().empty());
    }
}

TEST_CASE("copy_in takes a function that writes rows until it returns false", "[db][pool][copy]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    int next = 0;
    // 50,000 rows: several 64 KiB chunks.
    const std::size_t n = pool.copy_in("events", {"id", "kind"}, [&](db::CopyWriter& w) {
        ++next;
        w.row(next, next % 2 == 0 ? std::optional<std::string>("even") : std::nullopt);
        return next < 50000;
    });
    REQUIRE(n == 50000);
    const auto call = copy_call(fake);
    REQUIRE(call.copy_rows.size() == 50000);
    REQUIRE(call.copy_rows[0] == std::vector<std::optional<std::string>>{"1", std::nullopt});
    REQUIRE(call.copy_rows[49999] == std::vector<std::optional<std::string>>{"50000", "even"});
    SECTION("a row of the wrong width aborts the COPY with UsageError") {
        REQUIRE_THROWS_AS(pool.copy_in("events", {"id", "kind"},
                                       [](db::CopyWriter& w) {
                                           w.row(1);
                                           return false;
                                       }),
                          db::UsageError);
    }
}

TEST_CASE("a refused value or the caller's exception aborts the COPY: nothing is loaded",
          "[db][pool][copy]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    SECTION("a NUL byte names the column and the row") {
        std::vector<std::tuple<int, std::string>> rows;
        for (int i = 1; i <= 10; ++i) rows.emplace_back(i, "ok");
        std::get<1>(rows[6]) = std::string("bad\0value", 9);
        try {
            pool.copy_in("events", {"id", "kind"}, rows);
            FAIL("no UsageError");
        } catch (const db::UsageError& e) {
            REQUIRE_THAT(e.what(), Catch::Contains("\"kind\"") && Catch::Contains("row 7"));
        }
        const auto call = copy_call(fake);
        REQUIRE(call.copy_rows.empty());
        REQUIRE(call.outcome == db::QueryOutcome::timeout);  // the server's 57014 for CopyFail
        REQUIRE(call.sqlstate == "57014");
    }
    SECTION("the row source's exception propagates unchanged") {
        int calls = 0;
        REQUIRE_THROWS_AS(pool.copy_in("events", {"id"},
                                       [&](db::CopyWriter& w) -> bool {
                                           w.row(++calls);
                                           if (calls == 1000) throw Stop("source failed");
                                           return true;
                                       }),
                          Stop);
        REQUIRE(copy_call(fake).copy_rows.empty());
        // Not run again, and the connection is reused.
        REQUIRE(fake.count(R"(COPY "events" ("id") FROM STDIN)") == 1);
        REQUIRE(pool.copy_in("events", {"id"}, std::vector<std::tuple<int>>{{1}}) == 1);
        // The health check may hold the first connection while the second COPY runs, so the
        // pool may open another; none has been closed.
        REQUIRE(fake.open_connections() == fake.connections_opened());
    }
}

TEST_CASE("rules fail a COPY, one whose connection was dead before it was sent runs again",
          "[db][pool][copy]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    std::vector<std::tuple<int>> rows{{1}, {2}};
    const std::string sql = R"(COPY "events" ("id") FROM STDIN)";
    SECTION("fails(): SqlError with its SQLSTATE, not run again") {
        fake.on(sql).once().fails("23505", "duplicate key value violates unique constraint");
        try {
            pool.copy_in("events", {"id"}, rows);
            FAIL("no SqlError");
        } catch (const db::SqlError& e) {
            REQUIRE(e.sqlstate() == "23505");
        }
        REQUIRE(fake.count(sql) == 1);
    }
    SECTION("drops_connection(false): run again on a fresh connection") {
        fake.on(sql).once().drops_connection(false);
        REQUIRE(pool.copy_in("events", {"id"}, rows) == 2);
        REQUIRE(fake.count(sql) == 2);
    }
    SECTION("drops_connection(true): may have reached the server, never run again") {
        fake.on(sql).once().drops_connection(true);
        try {
            pool.copy_in("events", {"id"}, rows);
            FAIL("no ConnectionError");
        } catch (const db::ConnectionError& e) {
            REQUIRE(e.statement_sent());
        }
        REQUIRE(fake.count(sql) == 1);
    }
    SECTION("the row source is read by the attempt that sent the COPY only") {
        fake.on(sql).once().drops_connection(false);
        int pulled = 0;
        REQUIRE(pool.copy_in("events", {"id"}, [&](db::CopyWriter& w) {
            w.row(++pulled);
            return pulled < 3;
        }) == 3);
        REQUIRE(pulled == 3);
        REQUIRE(copy_call(fake).copy_rows.empty());  // the first attempt read nothing
    }
}

TEST_CASE("copy_in runs in a transaction, on a lease and through db::Client",
          "[db][pool][copy][transaction]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    std::vector<std::tuple<int, std::string>> rows{{1, "a"}, {2, "b"}};
    SECTION("Transaction<B>") {
        const auto n = pool.transaction([&](auto& tx) {
            tx.query("DELETE FROM events");
            return tx.copy_in("events", {"id", "kind"}, rows);
        });
        REQUIRE(n == 2);
        const auto call = copy_call(fake);
        REQUIRE(call.in_transaction);
        REQUIRE(fake.count("COMMIT") == 1);
    }
    SECTION("a row source that throws inside a transaction rolls it back") {
        REQUIRE_THROWS_AS(pool.transaction([&](auto& tx) {
            return tx.copy_in("events", {"id"}, [](db::CopyWriter& w) -> bool {
                w.row(1);
                throw Stop("no");
            });
        }),
                          Stop);
        REQUIRE(fake.count("COMMIT") == 0);
        REQUIRE(fake.count("ROLLBACK") == 1);
    }
    SECTION("db::Client and db::Tx") {
        db::Client& client = pool;
        REQUIRE(client.copy_in("events", {"id", "kind"}, rows) == 2);
        client.transaction([&](db::Tx& tx) {
            REQUIRE(tx.copy_in({"s", "t"}, {"id", "kind"}, rows) == 2);
        });
        REQUIRE(fake.count(R"(COPY "s"."t" ("id", "kind") FROM STDIN)") == 1);
    }
    SECTION("Lease, on the primary") {
        auto lease = pool.acquire();
        REQUIRE(lease.copy_in("events", {"id", "kind"}, rows) == 2);
        REQUIRE(copy_call(fake).connection_id != 0);
    }
}

TEST_CASE("copy_in runs on the primary even when reads prefer replicas", "[db][pool][copy]") {
    db::testing::FakeBackend fake;
    fake.replica("replica1");
    auto cfg = fake_config({"replica1"});
    cfg.prefer_replica_reads = true;
    FakePool pool(cfg, fake);
    std::vector<std::tuple<int>> rows{{1}};
    REQUIRE(pool.copy_in("events", {"id"}, rows, {.use_read_replica = true}) == 1);
    REQUIRE(copy_call(fake).host == "primary");
}

TEST_CASE("hooks and metrics see a COPY as one statement with its row count",
          "[db][pool][copy][hooks]") {
    db::testing::FakeBackend fake;
    std::mutex mutex;
    std::vector<std::string> starts;
    std::vector<std::pair<db::QueryOutcome, std::size_t>> ends;
    std::vector<std::string> errors;
    db::Hooks hooks;
    hooks.on_query_start = [&](const db::QueryStartEvent& e) {
        std::lock_guard lock(mutex);
        if (e.trace_context != nullptr) starts.emplace_back(e.sql);
    };
    hooks.on_query = [&](const db::QueryEvent& e) {
        std::lock_guard lock(mutex);
        if (e.trace_context == nullptr) return;
        ends.emplace_back(e.outcome, e.rows);
        errors.emplace_back(e.error);
    };
    FakePool pool(fake_config(), fake, hooks);
    const int span = 0;
    std::vector<std::tuple<int>> rows{{1}, {2}, {3}};
    REQUIRE(pool.copy_in("events", {"id"}, rows, {.trace_context = &span}) == 3);
    {
        std::lock_guard lock(mutex);
        REQUIRE(starts == std::vector<std::string>{R"(COPY "events" ("id") FROM STDIN)"});
        REQUIRE(ends.size() == 1);
        REQUIRE(ends[0] == std::pair{db::QueryOutcome::ok, std::size_t{3}});
    }
    REQUIRE_THAT(pool.metrics_text(), Catch::Contains("outcome=\"ok\"} 1\n"));
    SECTION("the row source's exception closes the span with its text, counted as no outcome") {
        REQUIRE_THROWS_AS(
            pool.copy_in("events", {"id"}, [](db::CopyWriter&) -> bool { throw Stop("gave up"); },
                         {.trace_context = &span}),
            Stop);
        std::lock_guard lock(mutex);
        REQUIRE(ends.size() == 2);
        REQUIRE(errors[1] == "gave up");
        const auto text = pool.metrics_text();
        REQUIRE_THAT(text, Catch::Contains("outcome=\"sql_error\"} 0\n"));
    }
}

TEST_CASE("a client deadline that passes during a COPY aborts it", "[db][pool][copy]") {
    db::testing::FakeBackend fake;
    FakePool pool(fake_config(), fake);
    try {
        pool.copy_in("events", {"id"},
                     [&](db::CopyWriter& w) {
                         w.row(1);
                         return true;  // endless: only the deadline ends it
                     },
                     {.timeout = 50ms});
        FAIL("no QueryTimeout");
    } catch (const db::QueryTimeout& e) {
        REQUIRE(e.client_side());
    }
}
