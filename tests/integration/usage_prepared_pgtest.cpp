// Stale prepared statements against the real primary: the statement cache (on by default)
// must survive what other sessions and the caller do to the server's prepared statements —
// ALTER TABLE from another session ("cached plan must not change result type", 0A000) and
// DISCARD ALL on a lease (the server forgets every prepared statement, 26000).

#include <thread>
#include <vector>

#include "matrix_util.hpp"

using namespace std::chrono_literals;
using namespace sparc::pgtest;

TEST_CASE("SELECT * keeps working on every pooled connection after ALTER TABLE elsewhere",
          "[usage]") {
    admin(
        "DROP TABLE IF EXISTS usage_alter; CREATE TABLE usage_alter (id int);"
        " INSERT INTO usage_alter VALUES (1)");
    const std::string app = "pg-usage-alter";
    auto cfg = config(app);
    cfg.min_connections = 3;
    cfg.max_connections = 3;
    CountedPool p(cfg);
    const std::string sql = "SELECT * FROM usage_alter";
    {
        // The statement cached on each of the three connections.
        std::vector<db::Lease<db::PqxxBackend>> leases;
        for (int i = 0; i < 3; ++i) leases.push_back(p->acquire());
        for (auto& lease : leases) REQUIRE(lease.query(sql).columns() == 1);
    }
    // Another session changes the table's shape and holds its lock until three pool.query()
    // calls wait for it: each on its own connection, each with the stale cached statement.
    db::Database other(config("pg-usage-alter-other"));
    constexpr std::size_t kCallers = 3;
    std::vector<Outcome> outcomes(kCallers);
    std::vector<std::size_t> columns(kCallers, 0);
    std::vector<std::thread> callers;
    bool all_waited = false;
    other.transaction([&](auto& tx) {
        tx.query("ALTER TABLE usage_alter ADD COLUMN note text DEFAULT 'x'");
        for (std::size_t i = 0; i < kCallers; ++i) {
            callers.emplace_back([&, i] {
                outcomes[i] = outcome_of([&] { columns[i] = p->query(sql).columns(); });
            });
        }
        all_waited = eventually([&] {
            return admin(fmt::format("SELECT count(*) FROM pg_stat_activity WHERE "
                                     "application_name = '{}' AND wait_event_type = 'Lock'",
                                     app)) == std::to_string(kCallers);
        });
    });
    for (auto& t : callers) t.join();
    REQUIRE(all_waited);
    for (std::size_t i = 0; i < kCallers; ++i) {
        INFO("caller " << i << ": " << outcomes[i].describe());
        REQUIRE(outcomes[i].returned());
        REQUIRE(columns[i] == 2);
    }
    // And afterwards, whichever connection serves.
    for (int i = 0; i < 9; ++i) {
        const auto o = outcome_of([&] { p->query(sql); });
        INFO("query " << i << ": " << o.describe());
        REQUIRE(o.returned());
    }
    REQUIRE(p.counters.hosts_down == 0);
}

TEST_CASE("DISCARD ALL on a lease does not break the next cached statement", "[usage]") {
    auto cfg = config("pg-usage-discard");
    cfg.min_connections = 1;
    cfg.max_connections = 1;
    CountedPool p(cfg);
    const std::string sql = "SELECT $1::int + 1 AS next";
    {
        auto lease = p->acquire();
        REQUIRE(lease.query(sql, {1}).front()[0].as<int>() == 2);
        auto o = outcome_of([&] { lease.query("DISCARD ALL"); });
        INFO("DISCARD ALL: " << o.describe());
        REQUIRE(o.returned());
        int next = 0;
        o = outcome_of([&] { next = lease.query(sql, {2}).front()[0].as<int>(); });
        INFO("the cached statement after DISCARD ALL: " << o.describe());
        REQUIRE(o.returned());
        REQUIRE(next == 3);
    }
    // The same connection, back in the pool.
    int next = 0;
    const auto o = outcome_of([&] { next = p->query(sql, {3}).front()[0].as<int>(); });
    INFO("through the pool: " << o.describe());
    REQUIRE(o.returned());
    REQUIRE(next == 4);
}

TEST_CASE("a stale cached statement inside transaction() retries the whole transaction",
          "[usage]") {
    MarkerTable table("usage_stale_tx");
    auto cfg = config("pg-usage-stale-tx");
    cfg.min_connections = 1;
    cfg.max_connections = 1;  // the transaction gets the connection whose cache is stale
    CountedPool p(cfg);
    const std::string select = fmt::format("SELECT * FROM {}", table.name());
    for (const bool discard : {false, true}) {
        DYNAMIC_SECTION((discard ? "after DISCARD ALL on a lease" : "after ALTER TABLE")) {
            REQUIRE(p->query(select).columns() == 1);  // cached on the only connection
            if (discard) {
                auto lease = p->acquire();
                const auto o = outcome_of([&] { lease.query("DISCARD ALL"); });
                INFO("DISCARD ALL: " << o.describe());
                REQUIRE(o.returned());
            } else {
                admin(fmt::format("ALTER TABLE {} ADD COLUMN note text", table.name()));
            }
            const auto marker = table.marker();
            int runs = 0;
            const auto o = outcome_of([&] {
                p->transaction(
                    [&](auto& tx) {
                        ++runs;
                        tx.query(select);
                        tx.query(table.write_sql(), {marker});
                    },
                    {.retries = 3, .backoff_base = 1ms, .backoff_max = 5ms});
            });
            INFO(o.describe() << "; fn runs " << runs);
            REQUIRE(o.returned());
            REQUIRE(runs <= 2);
            REQUIRE(table.rows(marker) == 1);
        }
    }
}
