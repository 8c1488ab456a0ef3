// dump_metrics: runs traffic (successes, errors, timeouts, retries, an unknown commit outcome,
// a pool timeout) through a pool over the fake backend and writes metrics_text() to the file
// named by its argument (or stdout), for `promtool check metrics` and the name checks.

#include <sparc/db.hpp>
#include <sparc/db/testing/fake_backend.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

namespace db = sparc::db;
using namespace std::chrono_literals;

namespace {

template <typename F>
void expect_failure(F&& f) {
    try {
        f();
    } catch (const db::Error&) {
        return;
    }
    throw std::runtime_error("expected a db::Error");
}

}  // namespace

int main(int argc, char** argv) try {
    db::testing::FakeBackend fake;
    fake.replica("replica1");
    fake.on("SELECT title FROM videos WHERE tenant_id = $1").returns({"title"}, {{"Intro"}});
    fake.on_prefix("INSERT INTO videos").affects(1);
    fake.on_prefix("INSERT INTO duplicates").fails("23505", "duplicate key value");
    fake.on_prefix("SELECT pg_sleep").delays(5s);
    fake.on_prefix("UPDATE counters").affects(1);
    // Newer rules win: the first UPDATE fails with a serialization failure, the retry succeeds.
    fake.on_prefix("UPDATE counters").once().fails("40001", "could not serialize access");

    db::PoolConfig cfg;
    cfg.service_name = "video-management";
    cfg.primary = db::Endpoint::parse("postgresql://app:s3cret-pw@primary:5432/videos");
    cfg.replicas = {{db::Endpoint::parse("postgresql://app:s3cret-pw@replica1:5432/videos"), 1}};
    cfg.min_connections = 0;
    cfg.max_connections = 2;
    cfg.connection_timeout = 200ms;
    cfg.statement_timeout = 100ms;
    cfg.query_timeout = 150ms;
    cfg.health_check_period = 50ms;
    db::ConnectionPool<db::testing::FakeBackend> pool(cfg, fake);

    for (int i = 0; i < 20; ++i) {
        pool.query("SELECT title FROM videos WHERE tenant_id = $1", {i},
                   {.use_read_replica = true});
        pool.query("INSERT INTO videos (tenant_id, title) VALUES ($1, $2)", {i, "t"});
    }
    expect_failure([&] { pool.query("INSERT INTO duplicates VALUES (1)"); });
    expect_failure([&] { pool.query("SELECT pg_sleep(5)"); });
    pool.transaction([](auto& tx) { tx.query("UPDATE counters SET n = n + 1"); });
    fake.fail_next_commit(db::testing::CommitFailure::after_send);
    expect_failure(
        [&] { pool.transaction([](auto& tx) { tx.query("INSERT INTO videos VALUES (1)"); }); });
    {
        // Both primary connections leased: the next acquire times out.
        auto a = pool.acquire();
        auto b = pool.acquire();
        expect_failure([&] { pool.acquire({.timeout = 20ms}); });
    }

    const auto text = pool.metrics_text();
    if (argc > 1) {
        std::ofstream out(argv[1], std::ios::binary | std::ios::trunc);
        out << text;
        if (!out) throw std::runtime_error(std::string("cannot write ") + argv[1]);
    } else {
        std::cout << text;
    }
    pool.shutdown(1s);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "dump_metrics: %s\n", e.what());
    return 1;
}
