// Connection options against the real test cluster: TLS options passed through to libpq, and
// pgbouncer_mode behind PgBouncer in transaction pooling mode. No message, health report or
// metric these tests produce may contain the password.

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <sparc/db.hpp>

#include "pg_util.hpp"
#include "sparc_test/cluster_env.hpp"

namespace db = sparc::db;
using sparc::pgtest::cluster;
using sparc::testing::ClusterEnv;
using namespace std::chrono_literals;

namespace {

std::string lowered(std::string_view text) {
    std::string s(text);
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

/// Fails the test if `text` (an error message, a health report, metrics) shows the password.
void check_no_password(std::string_view what, std::string_view text) {
    const auto& password = cluster().password;
    REQUIRE(!password.empty());
    INFO(what << ": " << text.substr(0, 2'000));
    CHECK_FALSE(contains(text, password));
}

/// Health JSON and metrics of a pool must not show the password.
template <typename Pool>
void check_pool_output(Pool& pool) {
    check_no_password("health JSON", pool.health({.timeout = 3s}).to_json());
    check_no_password("metrics_text()", pool.metrics_text());
}

db::PoolConfig config_for(db::Endpoint endpoint) {
    db::PoolConfig cfg;
    cfg.service_name = "config-pgtest";
    cfg.primary = std::move(endpoint);
    cfg.min_connections = 1;
    cfg.max_connections = 4;
    cfg.connection_timeout = 3s;
    return cfg;
}

struct SslInfo {
    bool ssl = false;
    std::string version;
};

SslInfo session_ssl(db::Database& pool) {
    const auto r = pool.query(
        "SELECT ssl, COALESCE(version, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
    REQUIRE(r.size() == 1);
    return {r.front()[0].as<bool>(), r.front()[1].as<std::string>()};
}

/// The primary with extra libpq options.
db::Endpoint primary_with(std::initializer_list<db::Endpoint::Option> options) {
    auto ep = db::Endpoint::parse(cluster().primary_url);
    for (const auto& [key, value] : options) ep.set_option(key, value);
    return ep;
}

}  // namespace

TEST_CASE("TLS: verify-full against the cluster's CA", "[tls]") {
    const auto& env = cluster();

    SECTION("URL with sslmode=verify-full and sslrootcert") {
        db::Database pool(config_for(db::Endpoint::parse(env.primary_ssl_url)));
        const auto info = session_ssl(pool);
        CHECK(info.ssl);
        CHECK(pool.health().healthy);
        check_pool_output(pool);
    }
    SECTION("libpq key=value string") {
        const auto base = db::Endpoint::parse(env.primary_url);
        const auto conninfo = fmt::format(
            "host=127.0.0.1 port={} dbname={} user={} password={} sslmode=verify-full "
            "sslrootcert={}",
            base.port(), base.dbname(), base.user(), env.password, env.ssl_ca.string());
        db::Database pool(config_for(db::Endpoint::parse(conninfo)));
        CHECK(session_ssl(pool).ssl);
        check_pool_output(pool);
    }
    SECTION("verify-ca") {
        db::Database pool(config_for(
            primary_with({{"sslmode", "verify-ca"}, {"sslrootcert", env.ssl_ca.string()}})));
        CHECK(session_ssl(pool).ssl);
    }
}

TEST_CASE("TLS: a server certificate from another CA is refused with a clear error", "[tls]") {
    const auto& env = cluster();
    const std::string mode = GENERATE("verify-full", "verify-ca");
    INFO("sslmode=" << mode);
    db::Database pool(
        config_for(primary_with({{"sslmode", mode}, {"sslrootcert", env.ssl_wrong_ca.string()}})));

    std::string message;
    bool connection_error = false;
    try {
        pool.query("SELECT 1");
    } catch (const db::ConnectionError& e) {
        connection_error = true;
        message = e.what();
    } catch (const std::exception& e) {
        message = std::string("unexpected exception: ") + e.what();
    }
    INFO("message: " << message);
    CHECK(connection_error);
    // libpq/OpenSSL say "certificate verify failed".
    CHECK(contains(lowered(message), "certificate"));
    CHECK(contains(lowered(message), "verif"));
    check_no_password("exception message", message);

    const auto health = pool.health({.timeout = 3s});
    CHECK_FALSE(health.healthy);
    const auto json = health.to_json();
    CHECK(contains(lowered(json), "certificate"));
    check_no_password("health JSON", json);
    check_no_password("metrics_text()", pool.metrics_text());
}

TEST_CASE("TLS: libpq's SSL options pass through", "[tls]") {
    const auto& env = cluster();

    SECTION("sslmode=require encrypts without verifying") {
        db::Database pool(config_for(primary_with({{"sslmode", "require"}})));
        CHECK(session_ssl(pool).ssl);
    }
    SECTION("sslmode=disable does not encrypt") {
        db::Database pool(config_for(primary_with({{"sslmode", "disable"}})));
        CHECK_FALSE(session_ssl(pool).ssl);
    }
    SECTION("ssl_min_protocol_version=TLSv1.3") {
        db::Database pool(config_for(primary_with({{"sslmode", "verify-full"},
                                                   {"sslrootcert", env.ssl_ca.string()},
                                                   {"ssl_min_protocol_version", "TLSv1.3"}})));
        const auto info = session_ssl(pool);
        CHECK(info.ssl);
        CHECK(info.version == "TLSv1.3");
    }
    SECTION("ssl_max_protocol_version=TLSv1.2 (the server would offer 1.3)") {
        db::Database pool(config_for(
            primary_with({{"sslmode", "require"}, {"ssl_max_protocol_version", "TLSv1.2"}})));
        const auto info = session_ssl(pool);
        CHECK(info.ssl);
        CHECK(info.version == "TLSv1.2");
    }
    SECTION("options given in the URL query") {
        const auto url =
            fmt::format("{}?sslmode=require&ssl_max_protocol_version=TLSv1.2", env.primary_url);
        db::Database pool(config_for(db::Endpoint::parse(url)));
        const auto info = session_ssl(pool);
        CHECK(info.ssl);
        CHECK(info.version == "TLSv1.2");
        check_pool_output(pool);
    }
}

namespace {

/// What a PgBouncer load run saw.
struct LoadResult {
    std::size_t operations = 0;
    std::size_t wrong = 0;  ///< Answers that were not what the statement computes.
    std::size_t errors = 0;
    std::vector<std::string> messages;  ///< Every distinct error message (at most 20).
};

/// 8 threads x 500 operations through `pool`: parameterised statements with 100 distinct SQL
/// texts, and transactions that insert and read back.
LoadResult pgbouncer_load(db::Database& pool, const std::string& table) {
    constexpr int kThreads = 8;
    constexpr int kOperations = 500;
    constexpr int kTexts = 100;
    std::atomic<std::size_t> operations{0};
    std::atomic<std::size_t> wrong{0};
    std::atomic<std::size_t> errors{0};
    std::mutex mutex;
    std::vector<std::string> messages;
    auto failed = [&](const std::string& what) {
        ++errors;
        std::lock_guard lock(mutex);
        if (messages.size() < 20 &&
            std::find(messages.begin(), messages.end(), what) == messages.end()) {
            messages.push_back(what);
        }
    };
    const std::string insert_sql =
        fmt::format("INSERT INTO {} (thread, n) VALUES ($1, $2) RETURNING id", table);
    const std::string read_sql = fmt::format("SELECT n FROM {} WHERE id = $1", table);

    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kOperations; ++i) {
                const int k = (t * kOperations + i) % kTexts;
                try {
                    if (i % 4 == 3) {
                        const int got = pool.transaction([&](auto& tx) {
                            const auto id =
                                tx.query(insert_sql, {t, i}).front()[0].template as<std::int64_t>();
                            return tx.query(read_sql, {id}).front()[0].template as<int>();
                        });
                        if (got != i) ++wrong;
                    } else {
                        const auto sql = fmt::format(
                            "SELECT $1::int + {} AS v, $2::text AS s /* text {} */", k, k);
                        const auto r = pool.query(sql, {i, fmt::format("thread {}", t)});
                        if (r.size() != 1 || r.front()["v"].as<int>() != i + k ||
                            r.front()["s"].as<std::string>() != fmt::format("thread {}", t)) {
                            ++wrong;
                        }
                    }
                    ++operations;
                } catch (const std::exception& e) {
                    failed(e.what());
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    return {operations.load(), wrong.load(), errors.load(), messages};
}

db::PoolConfig pgbouncer_config(bool pgbouncer_mode) {
    auto cfg = config_for(db::Endpoint::parse(cluster().pgbouncer_url));
    cfg.min_connections = 2;
    cfg.max_connections = 8;
    cfg.connection_timeout = 10s;
    cfg.pgbouncer_mode = pgbouncer_mode;
    return cfg;
}

}  // namespace

TEST_CASE("PgBouncer: pgbouncer_mode survives transaction pooling under load", "[pgbouncer]") {
    const std::string table = "sparc_it_pgbouncer";
    db::Database pool(pgbouncer_config(true));
    pool.query(fmt::format("DROP TABLE IF EXISTS {}", table));
    pool.query(fmt::format(
        "CREATE TABLE {} (id bigserial PRIMARY KEY, thread int NOT NULL, n int NOT NULL)", table));

    const auto result = pgbouncer_load(pool, table);
    INFO(result.operations << " operations, " << result.wrong << " wrong answers, " << result.errors
                           << " errors" << (result.messages.empty() ? "" : "; first error: ")
                           << (result.messages.empty() ? "" : result.messages.front()));
    CHECK(result.errors == 0);
    CHECK(result.wrong == 0);
    CHECK(result.operations == 8 * 500);
    const auto rows = pool.query(fmt::format("SELECT count(*) FROM {}", table));
    CHECK(rows.front()[0].as<std::int64_t>() == 8 * 125);
    CHECK(pool.health().healthy);
    check_pool_output(pool);
    pool.query(fmt::format("DROP TABLE IF EXISTS {}", table));
}

TEST_CASE("PgBouncer: without pgbouncer_mode the pool cannot work behind it", "[pgbouncer]") {
    // Outside pgbouncer_mode the pool sends statement_timeout in the startup packet's "options",
    // which PgBouncer refuses, so not even a connection opens. (Named prepared statements, the
    // other thing pgbouncer_mode turns off, are never reached.)
    auto cfg = pgbouncer_config(false);
    cfg.min_connections = 0;
    cfg.connection_timeout = 3s;
    db::Database pool(cfg);

    std::vector<std::string> messages;
    auto attempt = [&](auto&& fn) {
        try {
            fn();
            messages.emplace_back("(no error)");
        } catch (const db::ConnectionError& e) {
            messages.emplace_back(e.what());
        } catch (const std::exception& e) {
            messages.emplace_back(std::string("unexpected exception: ") + e.what());
        }
    };
    attempt([&] { pool.query("SELECT $1::int", {1}); });
    attempt([&] { pool.transaction([](auto& tx) { tx.query("SELECT 1"); }); });
    for (const auto& m : messages) {
        INFO("message: " << m);
        CHECK(contains(m, "unsupported startup parameter"));
        check_no_password("exception message", m);
    }
    check_pool_output(pool);
}

TEST_CASE("PgBouncer: the server enforces statement_timeout on an autocommit statement",
          "[pgbouncer]") {
    // Sessions behind PgBouncer carry no statement_timeout of their own: the statement goes out
    // as BEGIN; SET LOCAL statement_timeout; statement; COMMIT in one round trip.
    auto cfg = pgbouncer_config(true);
    cfg.statement_timeout = 300ms;
    cfg.query_timeout = 20s;
    db::Database pool(cfg);
    const auto started = std::chrono::steady_clock::now();
    try {
        pool.query("SELECT pg_sleep(10)");
        FAIL("pg_sleep(10) returned under a 300 ms statement_timeout");
    } catch (const db::QueryTimeout& e) {
        CHECK_FALSE(e.client_side());  // the server's 57014, not the client's deadline
    }
    // Far from the client's 20 s: the server cut it (no timing assertion beyond that).
    CHECK(std::chrono::steady_clock::now() - started < 10s);
    // A write commits; a failing one is rolled back and leaves its session usable.
    pool.query("DROP TABLE IF EXISTS sparc_it_pgbouncer_timeout");
    pool.query("CREATE TABLE sparc_it_pgbouncer_timeout (id int PRIMARY KEY)");
    const auto inserted =
        pool.query("INSERT INTO sparc_it_pgbouncer_timeout VALUES ($1) RETURNING id", {7});
    CHECK(inserted.front()[0].as<int>() == 7);
    CHECK_THROWS_AS(pool.query("INSERT INTO sparc_it_pgbouncer_timeout VALUES ($1)", {7}),
                    db::SqlError);
    // Every statement runs under the pool's timeout.
    CHECK(pool.query("SELECT current_setting('statement_timeout')").front()[0].as<std::string>() ==
          "300ms");
    db::Database direct(sparc::pgtest::config("pg-bouncer-check"));
    CHECK(direct.query("SELECT count(*) FROM sparc_it_pgbouncer_timeout").front()[0].as<int>() ==
          1);
    // What cannot run in a transaction block runs on its own.
    pool.query("VACUUM sparc_it_pgbouncer_timeout");
    pool.query(
        "CREATE INDEX CONCURRENTLY sparc_it_pgbouncer_timeout_i ON "
        "sparc_it_pgbouncer_timeout (id)");
    CHECK_THROWS_AS(pool.query("VACUUM no_such_table_here"), db::SqlError);
    // Inside a transaction the timeout is set with BEGIN, as before.
    CHECK_THROWS_AS(pool.transaction([](auto& tx) { tx.query("SELECT pg_sleep(10)"); }),
                    db::QueryTimeout);
    CHECK(pool.stats().in_use == 0);
    pool.query("DROP TABLE sparc_it_pgbouncer_timeout");
}

TEST_CASE("PgBouncer: a transaction the caller opens on a session stays one transaction",
          "[pgbouncer]") {
    // The autocommit wrap (BEGIN; SET LOCAL; statement; COMMIT) is for statements outside a
    // block: the caller's BEGIN, and what runs in the block it opens, go out as they are.
    auto cfg = pgbouncer_config(true);
    cfg.statement_timeout = 5s;
    db::Database pool(cfg);
    db::Database direct(sparc::pgtest::config("pg-bouncer-session-check"));
    pool.query("DROP TABLE IF EXISTS sparc_it_pgbouncer_block");
    pool.query("CREATE TABLE sparc_it_pgbouncer_block (id int PRIMARY KEY)");
    const auto rows = [&] {
        return direct.query("SELECT count(*) FROM sparc_it_pgbouncer_block").front()[0].as<int>();
    };
    db::Client& client = pool;
    SECTION("ROLLBACK undoes the block") {
        auto s = client.acquire();
        s.query("BEGIN");
        s.query("INSERT INTO sparc_it_pgbouncer_block VALUES (1)");
        s.query("ROLLBACK");
        CHECK(rows() == 0);
    }
    SECTION("after an error the block refuses statements, and ROLLBACK undoes it") {
        auto lease = pool.acquire();
        lease.query("begin");
        lease.query("INSERT INTO sparc_it_pgbouncer_block VALUES (2)");
        CHECK_THROWS_AS(lease.query("SELECT 1/0"), db::SqlError);
        try {
            lease.query("INSERT INTO sparc_it_pgbouncer_block VALUES (3)");
            FAIL("a statement ran in a failed transaction block");
        } catch (const db::SqlError& e) {
            CHECK(e.sqlstate() == "25P02");
        }
        lease.query("ROLLBACK");
        CHECK(rows() == 0);
    }
    SECTION("COMMIT keeps the block, once") {
        auto s = client.acquire();
        s.query("/* opened here */ START TRANSACTION");
        s.query("INSERT INTO sparc_it_pgbouncer_block VALUES (4)");
        CHECK(rows() == 0);  // not committed statement by statement
        s.query("COMMIT");
        CHECK(rows() == 1);
    }
    SECTION("a block left open is rolled back when the session is released") {
        {
            auto s = client.acquire();
            s.query("BEGIN");
            s.query("INSERT INTO sparc_it_pgbouncer_block VALUES (5)");
        }
        CHECK(rows() == 0);
    }
    SECTION("LOCK and DECLARE outside a block are refused, as without PgBouncer") {
        for (const char* sql :
             {"LOCK TABLE sparc_it_pgbouncer_block", "DECLARE c CURSOR FOR SELECT 1"}) {
            INFO(sql);
            try {
                pool.query(sql);
                FAIL("accepted outside a transaction block");
            } catch (const db::SqlError& e) {
                CHECK(e.sqlstate() == "25P01");
            }
        }
    }
    SECTION("a procedure that commits runs on its own") {
        pool.query(
            "CREATE OR REPLACE PROCEDURE sparc_it_pgbouncer_commits() LANGUAGE plpgsql AS "
            "$$ BEGIN INSERT INTO sparc_it_pgbouncer_block VALUES (6); COMMIT; END $$");
        pool.query("CALL sparc_it_pgbouncer_commits()");
        CHECK(rows() == 1);
        pool.query("DROP PROCEDURE sparc_it_pgbouncer_commits()");
    }
    CHECK(pool.stats().in_use == 0);
    pool.query("DROP TABLE sparc_it_pgbouncer_block");
}
