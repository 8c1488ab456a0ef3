// Caller mistakes against the real cluster: NUL bytes, too many parameters, a parameter count
// that does not match the statement, and a lease held while the same thread asks for another.
// Each is a db::UsageError (or, for a statement the server rejects at parse time, its SqlError):
// never retried, never a reason to mark a host down or to drop a good connection. Stale
// prepared statements are in usage_prepared_pgtest.cpp.

#include <cctype>

#include "matrix_util.hpp"

using namespace std::chrono_literals;
using namespace sparc::pgtest;

namespace {

const std::string kNul(1, '\0');

struct Mistake {
    const char* name;
    std::string sql;
    db::Params params;
    bool parse_time_sqlerror_ok;  // the server may reject it at Parse with 42P18
};

std::vector<Mistake> mistakes() {
    std::string many_sql = "SELECT cardinality(ARRAY[";
    db::Params many;
    for (int i = 1; i <= 65'536; ++i) {
        many_sql += fmt::format("{}${}::int", i > 1 ? "," : "", i);
        many.emplace_back(i);
    }
    many_sql += "])";
    return {
        {"NUL in a text parameter", "SELECT $1::text", {"a" + kNul + "b"}, false},
        {"NUL in the SQL text", "SELECT 1" + kNul + " + 1", {}, false},
        {"65,536 parameters", many_sql, many, false},
        {"$1 and $2, one parameter given", "SELECT $1::int + $2::int", {1}, true},
        {"$1 only, two parameters given", "SELECT $1::int", {1, 2}, true},
        {"$2 only, one parameter given", "SELECT $2::int", {1}, true},
    };
}

enum class Route { primary, primary_unprepared, replica, lease, transaction };
constexpr Route kRoutes[] = {Route::primary, Route::primary_unprepared, Route::replica,
                             Route::lease, Route::transaction};

const char* to_string(Route r) {
    switch (r) {
        case Route::primary:
            return "pool.query";
        case Route::primary_unprepared:
            return "pool.query(prepare = false)";
        case Route::replica:
            return "pool.query(use_read_replica)";
        case Route::lease:
            return "lease.query";
        case Route::transaction:
            return "tx.query in transaction()";
    }
    return "?";
}

bool acceptable(const Outcome& o, const Mistake& m) {
    if (o.type == "UsageError") return true;
    return m.parse_time_sqlerror_ok && o.type == "SqlError" && o.sqlstate == "42P18";
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

TEST_CASE("a caller's mistake is a UsageError: nothing retried, no host down, connection kept",
          "[usage]") {
    const std::string app = "pg-usage-mistakes";
    for (const auto& m : mistakes()) {
        for (const Route route : kRoutes) {
            DYNAMIC_SECTION(m.name << " via " << to_string(route)) {
                auto cfg = config(app, /*with_replicas=*/true);
                cfg.min_connections = 1;
                cfg.max_connections = 1;       // one connection per host: the one the mistake meets
                cfg.health_check_period = 1h;  // the state seen is what the mistake left
                CountedPool p(cfg);
                REQUIRE(eventually([&] {
                    const auto s = p->stats();
                    return s.total == 3 && s.idle == 3;
                }));
                const int connects = p.counters.connects;
                int runs = 0;
                const auto o = outcome_of([&] {
                    switch (route) {
                        case Route::primary:
                            p->query(m.sql, m.params);
                            return;
                        case Route::primary_unprepared:
                            p->query(m.sql, m.params, {.prepare = false});
                            return;
                        case Route::replica:
                            p->query(m.sql, m.params, {.use_read_replica = true});
                            return;
                        case Route::lease: {
                            auto lease = p->acquire();
                            lease.query(m.sql, m.params);
                            return;
                        }
                        case Route::transaction:
                            p->transaction(
                                [&](auto& tx) {
                                    ++runs;
                                    tx.query(m.sql, m.params);
                                },
                                {.retries = 3, .backoff_base = 1ms, .backoff_max = 5ms});
                            return;
                    }
                });
                INFO("fn runs " << runs << "; hosts marked down " << p.counters.hosts_down
                                << "; connections opened since " << p.counters.connects - connects
                                << "; statements run " << p.counters.statements << "; "
                                << o.describe().substr(0, 600));
                REQUIRE(acceptable(o, m));
                REQUIRE(p.counters.hosts_down == 0);
                for (std::size_t i = 0; i < p->router().size(); ++i) {
                    REQUIRE(p->router().state(i).up);
                }
                for (const auto& host : p->health().hosts) {
                    INFO(host.host << ": " << host.error);
                    REQUIRE(host.reachable);
                }
                if (route == Route::transaction) REQUIRE(runs == 1);
                REQUIRE(p.counters.retries == 0);
                // The connection is kept: none closed, none opened.
                REQUIRE(p.counters.connects == connects);
                REQUIRE(p->stats().total == 3);
                REQUIRE(p->query("SELECT 1", {}, {.use_read_replica = route == Route::replica})
                            .front()[0]
                            .as<int>() == 1);
                REQUIRE(p.counters.connects == connects);
            }
        }
    }
}

TEST_CASE("a NUL byte in a text parameter never reaches the server", "[usage]") {
    const std::string app = "pg-usage-nul-param";
    admin(
        "DROP TABLE IF EXISTS usage_nul; CREATE TABLE usage_nul (v text NOT NULL);"
        " INSERT INTO usage_nul VALUES ('ab')");
    CountedPool p(config(app));
    const auto table = [] { return admin("SELECT string_agg(v, ',' ORDER BY v) FROM usage_nul"); };
    const std::string ab_nul = "ab" + kNul + "zz";

    // Cut at the NUL, the parameter would be 'ab': the wrong row.
    std::optional<int> matched;
    auto o = outcome_of([&] {
        matched =
            p->query("SELECT count(*) FROM usage_nul WHERE v = $1", {ab_nul}).front()[0].as<int>();
    });
    {
        INFO("equality predicate: " << o.describe() << "; matched " << matched.value_or(-1));
        if (matched) CHECK(*matched == 0);  // never the wrong row
        CHECK(o.type == "UsageError");
    }
    // Each statement below would change the table if it ran with its parameter cut short.
    struct Case {
        const char* name;
        const char* sql;
        std::string param;
    };
    for (const auto& c :
         {Case{"delete", "DELETE FROM usage_nul WHERE v = $1", ab_nul},
          Case{"insert", "INSERT INTO usage_nul VALUES ($1)", "cd" + kNul + "ef"},
          Case{"update", "UPDATE usage_nul SET v = 'changed' WHERE v = $1", ab_nul}}) {
        o = outcome_of([&] { p->query(c.sql, {c.param}); });
        const auto after = table();
        INFO(c.name << ": " << o.describe() << "; table now '" << after << "'");
        CHECK(o.type == "UsageError");
        CHECK(after == "ab");
        admin("TRUNCATE usage_nul; INSERT INTO usage_nul VALUES ('ab')");
    }
    // A string_view parameter is no different.
    const std::string_view view(ab_nul);
    o = outcome_of([&] { p->query("DELETE FROM usage_nul WHERE v = $1", {view}); });
    INFO("string_view delete: " << o.describe() << "; table now '" << table() << "'");
    CHECK(o.type == "UsageError");
    CHECK(table() == "ab");
    REQUIRE(p.counters.hosts_down == 0);
}

TEST_CASE("SQL text with a NUL byte is refused, not cut short", "[usage]") {
    admin("DROP TABLE IF EXISTS usage_nul_sql; CREATE TABLE usage_nul_sql (v text NOT NULL)");
    const auto reset = [] {
        admin("TRUNCATE usage_nul_sql; INSERT INTO usage_nul_sql VALUES ('keep')");
    };
    const auto rows = [] { return std::stoi(admin("SELECT count(*) FROM usage_nul_sql")); };
    CountedPool p(config("pg-usage-nul-sql"));
    // Cut at the NUL, this deletes every row.
    const std::string sql = "DELETE FROM usage_nul_sql" + kNul + " WHERE v = 'nothing'";
    for (const bool prepare : {true, false}) {
        reset();
        const auto o = outcome_of([&] { p->query(sql, {}, {.prepare = prepare}); });
        const int left = rows();
        INFO("prepare " << prepare << ": " << o.describe() << "; rows left " << left);
        CHECK(o.type == "UsageError");
        CHECK(left == 1);
    }
    reset();
    int runs = 0;
    const auto o = outcome_of([&] {
        p->transaction([&](auto& tx) {
            ++runs;
            tx.query(sql);
        });
    });
    const int left = rows();
    INFO("transaction: " << o.describe() << "; fn runs " << runs << "; rows left " << left);
    CHECK(o.type == "UsageError");
    CHECK(runs == 1);
    CHECK(left == 1);
}

TEST_CASE("a query inside transaction() on a pool of one says the lease may be the cause",
          "[usage]") {
    auto cfg = config("pg-usage-self-deadlock");
    cfg.min_connections = 1;
    cfg.max_connections = 1;
    cfg.connection_timeout = 10s;
    db::Database pool(cfg);
    int runs = 0;
    const auto o = outcome_of([&] {
        pool.transaction(
            [&](auto& tx) {
                ++runs;
                tx.query("SELECT 1");
                pool.query("SELECT 2");  // the only connection is this transaction's
            },
            {.timeout = 1s});
    });
    INFO(o.describe());
    REQUIRE(o.type == "PoolTimeout");
    // Well before connection_timeout: the transaction's own deadline bounds the wait (a
    // generous bound for a loaded machine, not a performance claim).
    REQUIRE(o.took < 8s);
    const auto what = lower(o.what);
    REQUIRE_THAT(what, Catch::Contains("thread"));
    REQUIRE_THAT(what, Catch::Contains("lease"));
    REQUIRE(runs == 1);
    REQUIRE(pool.query("SELECT 3").front()[0].as<int>() == 3);
}

TEST_CASE("several statements in one string: the error says so, with or without PgBouncer",
          "[usage][pgbouncer]") {
    auto direct = config("pg-usage-multi");
    auto bounced = direct;
    bounced.service_name = "pg-usage-multi-pgbouncer";
    bounced.primary = db::Endpoint::parse(cluster().pgbouncer_url);
    bounced.pgbouncer_mode = true;
    for (const auto* cfg : {&direct, &bounced}) {
        db::Database pool(*cfg);
        const auto check = [](const std::function<void()>& call) {
            try {
                call();
                FAIL("no error");
            } catch (const db::SqlError& e) {
                CHECK(e.sqlstate() == "42601");
                // Prepared or not, behind PgBouncer or not: the text holds two statements.
                CHECK_THAT(e.what(), Catch::Contains("more than one statement") &&
                                         Catch::Contains("batch()") &&
                                         !Catch::Contains("prepared statement"));
                CHECK_THAT(e.hint(), Catch::Contains("batch()"));
            }
        };
        DYNAMIC_SECTION((cfg->pgbouncer_mode ? "pgbouncer_mode" : "direct")) {
            check([&] { pool.query("SELECT 1; SELECT 2"); });
            check([&] { pool.query("SELECT 1; SELECT 2", {}, {.prepare = false}); });
            check([&] { pool.transaction([](auto& tx) { tx.query("SELECT 1; SELECT 2"); }); });
            check([&] { pool.batch({{"SELECT 1", {}}, {"SELECT 1; SELECT 2", {}}}); });
            CHECK(pool.query("SELECT 3").front()[0].as<int>() == 3);
        }
    }
}
