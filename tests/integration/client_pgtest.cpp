// The non-template service code of tests/shared/client_code.cpp, which the unit tests run on the
// fake backend, on PostgreSQL through db::Client&; and the tracing hooks on a real server.

#include <mutex>
#include <string>
#include <vector>

#include "pg_util.hpp"
#include "shared/client_code.hpp"

using namespace sparc::pgtest;
using namespace std::chrono_literals;

namespace {

// A configuration whose sessions find `videos` in a schema of this test's own: the example
// service's test may use a `videos` table of the same cluster meanwhile.
db::PoolConfig videos_config(const std::string& application) {
    {
        db::Database setup(config(application + "-setup"));
        setup.query("CREATE SCHEMA IF NOT EXISTS sparc_client_test");
    }
    auto cfg = config(application);
    cfg.primary.set_option("options", "-c search_path=sparc_client_test");
    return cfg;
}

void create_videos(db::Client& db) {
    db.query("DROP TABLE IF EXISTS videos");
    db.query("CREATE TABLE videos (id bigint PRIMARY KEY, title text, views bigint NOT NULL)");
    db.query("INSERT INTO videos (id, title, views) VALUES (1, 'Intro', 0)");
}

}  // namespace

TEST_CASE("non-template service code runs on db::Database through db::Client&", "[client]") {
    db::Database pool(videos_config("pg-client"));
    db::Client& client = pool;
    create_videos(client);

    REQUIRE(sparc::example::add_view(client, 1) == 1);
    REQUIRE(sparc::example::add_view(pool, 1) == 2);
    sparc::example::rename_video(client, 1, "Renamed");
    REQUIRE(sparc::example::video_title(client, 1) == "Renamed");
    REQUIRE(sparc::example::views_on_session(client, 1) == 2);
    REQUIRE(db::check_database_health(client));
    REQUIRE(client.stats().max == 8);
    REQUIRE_THAT(client.metrics_text(), Catch::Contains("sparc_db_"));

    SECTION("a connection lost before COMMIT reruns the function, and it commits once") {
        int runs = 0;
        const auto views = client.transaction([&](db::Tx& tx) {
            ++runs;
            const auto v = tx.query(
                                 "UPDATE videos SET views = views + 1 WHERE id = 1 "
                                 "RETURNING views")
                               .front()[0]
                               .as<std::int64_t>();
            // The server ends this session (as a restart or an operator would): the update
            // is rolled back, and the pool runs the function again on a new connection.
            if (tx.attempt() == 1) tx.query("SELECT pg_terminate_backend(pg_backend_pid())");
            return v;
        });
        REQUIRE(runs == 2);
        REQUIRE(views == 3);
        REQUIRE(client.query("SELECT views FROM videos WHERE id = 1").front()[0].as<int>() == 3);
    }
    SECTION("a function's own exception rolls back and propagates unchanged") {
        struct Refused {};
        REQUIRE_THROWS_AS(client.transaction([&](db::Tx& tx) {
            tx.query("UPDATE videos SET views = 100 WHERE id = 1");
            throw Refused{};
        }),
                          Refused);
        REQUIRE(client.query("SELECT views FROM videos WHERE id = 1").front()[0].as<int>() == 2);
    }
    SECTION("shutdown through the Client") {
        client.shutdown(1s);
        REQUIRE(client.closed());
        REQUIRE_THROWS_AS(sparc::example::add_view(client, 1), db::PoolClosed);
    }
}

TEST_CASE("tracing hooks on PostgreSQL: statements, rows, errors, trace context", "[client]") {
    struct Seen {
        std::string sql, error, sqlstate;
        std::uint64_t rows = 0;
        const void* trace = nullptr;
        bool start = false;
    };
    std::mutex mutex;
    std::vector<Seen> seen;
    std::vector<std::string> texts;  // every string any hook received
    db::Hooks hooks;
    hooks.on_query_start = [&](const db::QueryStartEvent& e) {
        std::lock_guard lock(mutex);
        seen.push_back({std::string(e.sql), {}, {}, 0, e.trace_context, true});
        texts.emplace_back(e.sql);
        texts.emplace_back(e.host.label);
    };
    hooks.on_query = [&](const db::QueryEvent& e) {
        std::lock_guard lock(mutex);
        seen.push_back({std::string(e.sql), std::string(e.error), std::string(e.sqlstate), e.rows,
                        e.trace_context, false});
        texts.emplace_back(e.error);
        texts.emplace_back(e.host.label);
    };
    hooks.on_connect = [&](const db::ConnectEvent& e) {
        std::lock_guard lock(mutex);
        texts.emplace_back(e.error);
    };
    hooks.on_host_state = [&](const db::HostStateEvent& e) {
        std::lock_guard lock(mutex);
        texts.emplace_back(e.reason);
    };
    auto traced = [&](const void* trace) {
        std::lock_guard lock(mutex);
        std::vector<Seen> out;
        for (const auto& s : seen) {
            if (s.trace == trace) out.push_back(s);
        }
        return out;
    };
    const int span = 0;

    SECTION("a query and a transaction") {
        db::Database pool(config("pg-client-trace"), {}, hooks);
        db::Client& client = pool;
        REQUIRE(client.query("SELECT generate_series(1, 3)", {}, {.trace_context = &span}).size() ==
                3);
        auto events = traced(&span);
        REQUIRE(events.size() == 2);
        REQUIRE(events[0].start);
        REQUIRE(events[1].sql == "SELECT generate_series(1, 3)");
        REQUIRE(events[1].rows == 3);
        REQUIRE(events[1].error.empty());

        const int tx_span = 0;
        REQUIRE_THROWS_AS(client.transaction(
                              [](db::Tx& tx) {
                                  tx.query("SELECT 1");
                                  tx.query("SELECT * FROM no_such_table_here");
                              },
                              {.retries = 0, .trace_context = &tx_span}),
                          db::SqlError);
        events = traced(&tx_span);
        // BEGIN, SELECT 1, the failing SELECT: a start and an end each.
        REQUIRE(events.size() == 6);
        REQUIRE(events[0].sql.starts_with("BEGIN"));
        REQUIRE(events[5].sqlstate == "42P01");
        REQUIRE_THAT(events[5].error, Catch::Contains("no_such_table_here"));
    }
    SECTION("a wrong password reaches no hook") {
        auto bad = config("pg-client-bad-password");
        auto ep = db::Endpoint::parse(cluster().primary_url);
        const std::string wrong = "wrong-" + cluster().password;
        ep.set_option("password", wrong);
        bad.primary = ep;
        bad.min_connections = 0;
        bad.connection_timeout = 2s;
        {
            db::Database pool(bad, {}, hooks);
            REQUIRE_THROWS_AS(pool.query("SELECT 1"), db::ConnectionError);
            (void)pool.health({.timeout = 500ms});
        }
        std::lock_guard lock(mutex);
        REQUIRE_FALSE(texts.empty());
        for (const auto& t : texts) {
            REQUIRE(t.find(wrong) == std::string::npos);
            REQUIRE(no_password(t));
        }
    }
}
