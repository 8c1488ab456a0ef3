// db::Client, db::Tx and db::Session: non-template service code on the fake backend, with the
// pool's retry rules unchanged; and the tracing hooks (on_query_start / on_query).

#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "shared/client_code.hpp"
#include "test_util.hpp"

namespace db = sparc::db;
using db::test::fake_config;
using db::test::FakePool;
using db::testing::CommitFailure;
using sparc::example::add_view;

namespace {

// The statements the fake received, as text, for comparing two runs.
std::vector<std::string> sql_of(const db::testing::FakeBackend& fake) {
    std::vector<std::string> out;
    for (const auto& c : fake.calls()) out.push_back(c.sql);
    return out;
}

struct BodyFailed : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// What the tracing hooks saw, copied out of the events (their strings die with the call).
struct Seen {
    std::string sql;
    std::string host;
    std::string error;
    std::string sqlstate;
    db::QueryOutcome outcome = db::QueryOutcome::ok;
    std::uint64_t rows = 0;
    std::uint64_t affected_rows = 0;
    const void* trace = nullptr;
    std::string server;  // address, port, database and user, from a start event
};

struct Recorder {
    std::mutex mutex;
    std::vector<Seen> starts;
    std::vector<Seen> ends;
    std::vector<std::string> connect_errors;

    db::Hooks hooks() {
        db::Hooks h;
        h.on_query_start = [this](const db::QueryStartEvent& e) {
            std::lock_guard lock(mutex);
            Seen seen;
            seen.sql = e.sql;
            seen.host = e.host.label;
            seen.trace = e.trace_context;
            seen.server = fmt::format("{} {} {} {}", e.host.address, e.host.port, e.host.database,
                                      e.host.user);
            starts.push_back(std::move(seen));
        };
        h.on_query = [this](const db::QueryEvent& e) {
            std::lock_guard lock(mutex);
            ends.push_back({std::string(e.sql),
                            std::string(e.host.label),
                            std::string(e.error),
                            std::string(e.sqlstate),
                            e.outcome,
                            e.rows,
                            e.affected_rows,
                            e.trace_context,
                            {}});
        };
        h.on_connect = [this](const db::ConnectEvent& e) {
            std::lock_guard lock(mutex);
            if (!e.ok) connect_errors.emplace_back(e.error);
        };
        return h;
    }
    // The events carrying `trace`, in order (health checks run their own statements).
    std::vector<Seen> traced(const std::vector<Seen>& events, const void* trace) {
        std::lock_guard lock(mutex);
        std::vector<Seen> out;
        for (const auto& e : events) {
            if (e.trace == trace) out.push_back(e);
        }
        return out;
    }
};

}  // namespace

TEST_CASE("non-template service code runs on the fake pool through db::Client&", "[db][client]") {
    db::testing::FakeBackend fake;
    fake.on_prefix("UPDATE videos SET views").returns({"views"}, {{"8"}}).affects(1);
    fake.on("SELECT title FROM videos WHERE id = $1").returns({"title"}, {{"Intro"}});
    fake.on("SELECT views FROM videos WHERE id = $1").returns({"views"}, {{"8"}});
    FakePool pool(fake_config(), fake);
    db::Client& client = pool;

    SECTION("a transaction returning a value") {
        REQUIRE(add_view(client, 1) == 8);
        const auto sql = sql_of(fake);
        REQUIRE(sql.size() == 3);
        REQUIRE(sql[0].starts_with("BEGIN"));
        REQUIRE(sql[1] == "UPDATE videos SET views = views + 1 WHERE id = $1 RETURNING views");
        REQUIRE(fake.calls()[1].params == std::vector<std::optional<std::string>>{"1"});
        REQUIRE(sql[2] == "COMMIT");
    }
    SECTION("the pool itself converts: add_view(pool, id)") {
        REQUIRE(add_view(pool, 1) == 8);
        REQUIRE(fake.count("COMMIT") == 1);
    }
    SECTION("a transaction returning void") {
        sparc::example::rename_video(client, 3, "New");
        const auto calls = fake.calls();
        REQUIRE(calls.size() == 3);
        REQUIRE(calls[1].sql == "UPDATE videos SET title = $1 WHERE id = $2");
        REQUIRE(calls[1].params == std::vector<std::optional<std::string>>{"New", "3"});
        REQUIRE(calls[1].in_transaction);
        REQUIRE(calls[2].sql == "COMMIT");
    }
    SECTION("a transaction returning a string, with options") {
        REQUIRE(sparc::example::video_title(client, 1) == "Intro");
        REQUIRE_THAT(fake.calls().front().sql, Catch::Contains("READ ONLY"));
    }
    SECTION("a transaction returning a reference") {
        std::string kept = "kept";
        std::string& r = client.transaction([&](db::Tx&) -> std::string& { return kept; });
        REQUIRE(&r == &kept);
    }
    SECTION("the Tx reports its attempt and host") {
        int attempt = 0;
        std::string host;
        client.transaction([&](db::Tx& tx) {
            attempt = tx.attempt();
            host = std::string(tx.host().label);
        });
        REQUIRE(attempt == 1);
        REQUIRE(host == "primary:5432/app");
    }
    SECTION("an exception from the function propagates unchanged, after a rollback") {
        int runs = 0;
        REQUIRE_THROWS_AS(client.transaction([&](db::Tx& tx) -> int {
            ++runs;
            tx.query("UPDATE videos SET title = $1 WHERE id = $2", {"x", 1});
            throw BodyFailed("mine");
        }),
                          BodyFailed);
        REQUIRE(runs == 1);
        REQUIRE(fake.count("ROLLBACK") == 1);
        REQUIRE(fake.count("COMMIT") == 0);
    }
    SECTION("a db::Tx& function also runs through the pool's template API") {
        const auto n = pool.transaction([&](db::Tx& tx) {
            return tx
                .query("UPDATE videos SET views = views + 1 WHERE id = $1 RETURNING views", {1})
                .affected_rows();
        });
        REQUIRE(n == 1);
    }
    SECTION("query, current_position, health, stats, metrics_text and shutdown") {
        REQUIRE(client.query("SELECT title FROM videos WHERE id = $1", {1})
                    .front()[0]
                    .as<std::string>() == "Intro");
        fake.advance_wal(5);
        REQUIRE(client.current_position() == fake.wal_position());
        REQUIRE(client.health().healthy);
        REQUIRE(db::check_database_health(client));
        REQUIRE(client.stats().max == 4);
        REQUIRE_THAT(client.metrics_text(), Catch::Contains("sparc_db_"));
        REQUIRE_FALSE(client.closed());
        client.shutdown(std::chrono::milliseconds(100));
        REQUIRE(client.closed());
        REQUIRE_THROWS_AS(client.query("SELECT 1"), db::PoolClosed);
        REQUIRE_THROWS_AS(add_view(client, 1), db::PoolClosed);
    }
}

TEST_CASE("retries through db::Client are the pool's own", "[db][client]") {
    db::testing::FakeBackend fake;
    fake.on_prefix("UPDATE videos SET views").returns({"views"}, {{"8"}});
    FakePool pool(fake_config(), fake);
    db::Client& client = pool;

    SECTION("a serialization failure before COMMIT reruns the whole function") {
        fake.on_prefix("UPDATE videos SET views").once().fails("40001", "could not serialize");
        int runs = 0;
        std::vector<int> attempts;
        const auto views = client.transaction([&](db::Tx& tx) {
            ++runs;
            attempts.push_back(tx.attempt());
            return tx
                .query("UPDATE videos SET views = views + 1 WHERE id = $1 RETURNING views", {1})
                .front()[0]
                .as<std::int64_t>();
        });
        REQUIRE(views == 8);
        REQUIRE(runs == 2);
        REQUIRE(attempts == std::vector<int>{1, 2});
        REQUIRE(fake.count("COMMIT") == 1);
        REQUIRE(pool.pool_metrics()
                    .retries[static_cast<std::size_t>(db::RetryReason::serialization_failure)]
                    .value() == 1);
    }
    SECTION("a connection lost before COMMIT was sent reruns it") {
        fake.on_prefix("UPDATE videos SET views").once().drops_connection(false);
        REQUIRE(add_view(client, 1) == 8);
        REQUIRE(fake.count(std::regex("^UPDATE videos")) == 2);
        REQUIRE(fake.count("COMMIT") == 1);
    }
    SECTION("a COMMIT whose outcome is unknown never reruns it") {
        fake.fail_next_commit(CommitFailure::after_send);
        int runs = 0;
        REQUIRE_THROWS_AS(client.transaction([&](db::Tx& tx) {
            ++runs;
            tx.query("UPDATE videos SET views = views + 1 WHERE id = $1 RETURNING views", {1});
        }),
                          db::TransactionOutcomeUnknown);
        REQUIRE(runs == 1);
        REQUIRE(fake.count(std::regex("^UPDATE videos")) == 1);
    }
    SECTION("a COMMIT the server refuses is not rerun either") {
        fake.fail_next_commit("23505", "deferred unique violation");
        int runs = 0;
        REQUIRE_THROWS_AS(client.transaction([&](db::Tx&) { ++runs; }), db::SqlError);
        REQUIRE(runs == 1);
    }
    SECTION("the template path and the Client path send the same statements") {
        auto scenario = [&] {
            fake.clear_calls();
            fake.on_prefix("UPDATE videos SET views").once().fails("40P01", "deadlock detected");
        };
        scenario();
        const auto through_template = pool.transaction([&](auto& tx) {
            return tx
                .query("UPDATE videos SET views = views + 1 WHERE id = $1 RETURNING views", {1})
                .front()[0]
                .template as<std::int64_t>();
        });
        const auto template_sql = sql_of(fake);
        scenario();
        const auto through_client = add_view(client, 1);
        REQUIRE(through_client == through_template);
        REQUIRE(sql_of(fake) == template_sql);
        REQUIRE(template_sql.size() == 6);  // BEGIN, UPDATE, ROLLBACK, BEGIN, UPDATE, COMMIT
    }
}

TEST_CASE("Client::acquire returns a db::Session", "[db][client]") {
    db::testing::FakeBackend fake;
    fake.on("SELECT views FROM videos WHERE id = $1").returns({"views"}, {{"8"}});
    FakePool pool(fake_config(), fake);
    db::Client& client = pool;

    SECTION("its statements share one connection") {
        REQUIRE(sparc::example::views_on_session(client, 1) == 8);
        const auto calls = fake.calls();
        REQUIRE(calls.size() == 2);
        REQUIRE(calls[0].connection_id == calls[1].connection_id);
    }
    SECTION("it is move-only RAII: released, moved from, reused") {
        db::Session s = client.acquire();
        REQUIRE(s);
        REQUIRE(s.host().label == "primary:5432/app");
        s.query("BEGIN");
        db::Session moved = std::move(s);
        REQUIRE_FALSE(s);  // NOLINT(bugprone-use-after-move): moved-from state is specified
        REQUIRE_THROWS_AS(s.query("SELECT 1"), db::UsageError);
        REQUIRE(moved);
        const auto id = fake.calls().back().connection_id;
        moved.release();
        REQUIRE_FALSE(moved);
        // Released with a transaction open: rolled back and returned, not discarded.
        REQUIRE(fake.count("ROLLBACK") == 1);
        db::Session again = client.acquire();
        again.query("SELECT 1");
        REQUIRE(fake.calls().back().connection_id == id);
    }
    SECTION("discard closes the connection") {
        db::Session s = client.acquire();
        s.query("SELECT 1");
        const auto id = fake.calls().back().connection_id;
        s.discard();
        REQUIRE_FALSE(s);
        db::Session other = client.acquire();
        other.query("SELECT 1");
        REQUIRE(fake.calls().back().connection_id != id);
    }
}

TEST_CASE("tracing hooks see each statement's text, host, rows, error and trace context",
          "[db][client][hooks]") {
    db::testing::FakeBackend fake;
    fake.on("SELECT id FROM videos").returns({"id"}, {{"1"}, {"2"}});
    fake.on_prefix("UPDATE videos").affects(3);
    fake.on_prefix("INSERT INTO videos").fails("23505", "duplicate key value violates unique");
    Recorder rec;
    FakePool pool(fake_config(), fake, rec.hooks());
    db::Client& client = pool;
    const int span = 0;
    const int other_span = 0;

    SECTION("a query") {
        REQUIRE(client.query("SELECT id FROM videos", {}, {.trace_context = &span}).size() == 2);
        const auto starts = rec.traced(rec.starts, &span);
        const auto ends = rec.traced(rec.ends, &span);
        REQUIRE(starts.size() == 1);
        REQUIRE(starts[0].sql == "SELECT id FROM videos");
        REQUIRE(starts[0].host == "primary:5432/app");
        REQUIRE(starts[0].server == "primary 5432 app app");
        REQUIRE(ends.size() == 1);
        REQUIRE(ends[0].sql == "SELECT id FROM videos");
        REQUIRE(ends[0].outcome == db::QueryOutcome::ok);
        REQUIRE(ends[0].rows == 2);
        REQUIRE(ends[0].error.empty());
    }
    SECTION("a failed query") {
        REQUIRE_THROWS_AS(
            pool.query("INSERT INTO videos (id) VALUES ($1)", {1}, {.trace_context = &span}),
            db::SqlError);
        const auto ends = rec.traced(rec.ends, &span);
        REQUIRE(ends.size() == 1);
        REQUIRE(ends[0].outcome == db::QueryOutcome::sql_error);
        REQUIRE(ends[0].sqlstate == "23505");
        REQUIRE_THAT(ends[0].error, Catch::Contains("duplicate key value"));
        REQUIRE(ends[0].rows == 0);
    }
    SECTION("every statement of a transaction, BEGIN and COMMIT included") {
        client.transaction(
            [&](db::Tx& tx) {
                tx.query("UPDATE videos SET title = $1", {"t"});
                tx.query("SELECT id FROM videos", {}, {.trace_context = &other_span});
            },
            {.trace_context = &span});
        const auto starts = rec.traced(rec.starts, &span);
        const auto ends = rec.traced(rec.ends, &span);
        REQUIRE(starts.size() == 3);
        REQUIRE(starts[0].sql.starts_with("BEGIN"));
        REQUIRE(starts[1].sql == "UPDATE videos SET title = $1");
        REQUIRE(starts[2].sql == "COMMIT");
        REQUIRE(ends.size() == 3);
        REQUIRE(ends[1].affected_rows == 3);
        REQUIRE(ends[2].sql == "COMMIT");
        // A statement's own trace context wins over the transaction's.
        const auto own = rec.traced(rec.ends, &other_span);
        REQUIRE(own.size() == 1);
        REQUIRE(own[0].rows == 2);
    }
    SECTION("through the template API and a lease too") {
        pool.transaction([&](auto& tx) { tx.query("SELECT id FROM videos"); },
                         {.trace_context = &span});
        REQUIRE(rec.traced(rec.ends, &span).size() == 3);
        auto lease = pool.acquire();
        lease.query("SELECT id FROM videos", {}, {.trace_context = &other_span});
        REQUIRE(rec.traced(rec.starts, &other_span).size() == 1);
        REQUIRE(rec.traced(rec.ends, &other_span).size() == 1);
    }
    SECTION("each start is followed by its end, also on a lost connection") {
        fake.on("SELECT 2").once().drops_connection(true);
        REQUIRE_THROWS_AS(pool.query("SELECT 2", {}, {.trace_context = &span}),
                          db::ConnectionError);
        REQUIRE(rec.traced(rec.starts, &span).size() == 1);
        const auto ends = rec.traced(rec.ends, &span);
        REQUIRE(ends.size() == 1);
        REQUIRE(ends[0].outcome == db::QueryOutcome::connection_error);
        REQUIRE_FALSE(ends[0].error.empty());
    }
}

TEST_CASE("a throwing tracing hook is counted, never propagated", "[db][client][hooks]") {
    db::testing::FakeBackend fake;
    db::Hooks hooks;
    hooks.on_query_start = [](const db::QueryStartEvent&) { throw std::runtime_error("start"); };
    hooks.on_query = [](const db::QueryEvent&) { throw std::runtime_error("end"); };
    FakePool pool(fake_config(), fake, hooks);
    db::Client& client = pool;
    const auto before = pool.pool_metrics().hook_errors.value();
    REQUIRE_NOTHROW(client.query("SELECT 1"));
    REQUIRE(pool.pool_metrics().hook_errors.value() >= before + 2);
    REQUIRE_NOTHROW(client.transaction([](db::Tx& tx) { tx.query("SELECT 1"); }));
    REQUIRE(fake.count("COMMIT") == 1);
}

TEST_CASE("no password reaches a hook event", "[db][client][hooks]") {
    // The fake's errors never quote a password; these are scripted to quote the conninfo and
    // the URL, as libpq's messages may.
    const std::string conninfo_error =
        "connection to server failed: host=primary user=app password=unit-secret-pw dbname=app";
    const std::string url_error =
        "could not connect to postgresql://app:unit-secret-pw@primary/app: server closed";
    db::testing::FakeBackend fake;
    Recorder rec;
    FakePool pool(fake_config(), fake, rec.hooks());
    db::Client& client = pool;
    const int span = 0;
    auto check = [&](const std::string& message, bool sent) {
        fake.on("SELECT 1")
            .once()
            .responds([&message, sent](const db::testing::Call&) -> db::Result {
                throw db::ConnectionError(message, sent);
            });
        try {
            client.query("SELECT 1", {}, {.trace_context = &span});
        } catch (const db::Error&) {
        }
        const auto ends = rec.traced(rec.ends, &span);
        REQUIRE_FALSE(ends.empty());
        REQUIRE(ends.back().outcome == db::QueryOutcome::connection_error);
        REQUIRE_THAT(ends.back().error, Catch::Contains("****"));
        for (const auto& e : ends) REQUIRE(e.error.find("unit-secret-pw") == std::string::npos);
    };
    SECTION("a statement's connection error quoting the conninfo") { check(conninfo_error, true); }
    SECTION("a statement's connection error quoting the URL") { check(url_error, true); }
    SECTION("in a transaction") {
        fake.on_prefix("UPDATE").once().responds([&](const db::testing::Call&) -> db::Result {
            throw db::ConnectionError(conninfo_error, true);
        });
        REQUIRE_THROWS(client.transaction([](db::Tx& tx) { tx.query("UPDATE t SET a = 1"); },
                                          {.retries = 0, .trace_context = &span}));
        const auto ends = rec.traced(rec.ends, &span);
        REQUIRE(ends.size() == 2);  // BEGIN, UPDATE
        REQUIRE(ends[1].error.find("unit-secret-pw") == std::string::npos);
        REQUIRE_THAT(ends[1].error, Catch::Contains("****"));
    }
}

namespace {

// A backend whose connects fail with a message quoting the whole conninfo, password included,
// as a careless driver might.
struct ConninfoQuotingBackend {
    using Connection = db::testing::FakeBackend::Connection;
    std::unique_ptr<Connection> connect(const db::Endpoint& endpoint, const db::ConnectSettings&) {
        throw db::ConnectionError("could not connect with \"" + endpoint.conninfo() + "\"", false);
    }
};

}  // namespace

TEST_CASE("a connection failure quoting the conninfo reaches no hook with the password",
          "[db][client][hooks]") {
    Recorder rec;
    auto cfg = fake_config();
    cfg.connection_timeout = std::chrono::milliseconds(500);
    db::ConnectionPool<ConninfoQuotingBackend> pool(cfg, {}, rec.hooks());
    db::Client& client = pool;
    try {
        client.query("SELECT 1");
        FAIL("expected the connect to fail");
    } catch (const db::Error& e) {
        REQUIRE(std::string(e.what()).find("unit-secret-pw") == std::string::npos);
    }
    REQUIRE(db::test::eventually([&] {
        std::lock_guard lock(rec.mutex);
        return !rec.connect_errors.empty();
    }));
    std::lock_guard lock(rec.mutex);
    for (const auto& e : rec.connect_errors) {
        REQUIRE(e.find("unit-secret-pw") == std::string::npos);
        REQUIRE_THAT(e, Catch::Contains("password=****"));
    }
}
