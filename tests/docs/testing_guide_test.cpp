// What docs/testing.md says about scripting FakeBackend, one test per claim, through the
// pool as a service's unit test uses it. The section names follow the guide's headings.

#include <sparc/db.hpp>
#include <sparc/db/testing/fake_backend.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

namespace db = sparc::db;
using db::testing::FakeBackend;
using namespace std::chrono_literals;

namespace {

using FakePool = db::ConnectionPool<FakeBackend>;

db::PoolConfig guide_config(std::initializer_list<const char*> replicas = {}) {
    db::PoolConfig cfg;
    cfg.service_name = "guide";
    cfg.primary = db::Endpoint::parse("postgresql://app@primary/videos");
    for (const char* r : replicas) {
        cfg.replicas.push_back(
            {db::Endpoint::parse(std::string("postgresql://app@") + r + "/videos"), 1});
    }
    cfg.min_connections = 0;
    cfg.health_check_period = 50ms;
    cfg.reconnect_backoff_max = 200ms;
    return cfg;
}

template <typename F>
bool eventually(F condition) {
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

std::string first_value(const db::Result& r) { return r.front()[0].as<std::string>(); }

template <typename F>
std::string sqlstate_of(F&& f) {
    try {
        f();
    } catch (const db::SqlError& e) {
        return e.sqlstate();
    }
    return "none";
}

const db::HostHealth& host_health(const db::HealthReport& report, std::string_view name) {
    for (const auto& h : report.hosts) {
        if (h.host.starts_with(name)) return h;
    }
    throw std::runtime_error("no such host in the report");
}

}  // namespace

// ---- Rules ----

TEST_CASE("rules match exactly, by prefix or by pattern, unmatched statements get no rows",
          "[docs][testing]") {
    FakeBackend fake;
    fake.on("SELECT title FROM videos WHERE id = $1").returns({"title"}, {{"Intro"}});
    fake.on_prefix("SELECT count(*)").returns({"count"}, {{"3"}});
    fake.on_match(std::regex("FROM tags")).returns({"tag"}, {{"news"}, {std::nullopt}});
    FakePool pool(guide_config(), fake);

    CHECK(first_value(pool.query("SELECT title FROM videos WHERE id = $1", {1})) == "Intro");
    CHECK(first_value(pool.query("SELECT count(*) FROM videos")) == "3");
    const auto tags = pool.query("SELECT tag FROM tags ORDER BY 1");
    REQUIRE(tags.size() == 2);
    CHECK(tags[1][0].is_null());
    CHECK(pool.query("SELECT title FROM videos WHERE id = 1").empty());  // not the exact text

    fake.strict();
    CHECK(sqlstate_of([&] { pool.query("SELECT nothing"); }) == "42601");
    pool.transaction([](db::Tx&) {});  // BEGIN and COMMIT still answer in strict mode
}

TEST_CASE("the newest matching rule wins, whatever its kind, used-up rules step aside",
          "[docs][testing]") {
    FakeBackend fake;
    fake.on("SELECT v").returns({"v"}, {{"exact"}});
    auto prefix = fake.on_prefix("SELECT v").returns({"v"}, {{"prefix"}});
    FakePool pool(guide_config(), fake);
    CHECK(first_value(pool.query("SELECT v")) == "prefix");  // newer, though less specific

    auto twice = fake.on("SELECT v").times(2).returns({"v"}, {{"twice"}});
    CHECK(first_value(pool.query("SELECT v")) == "twice");
    CHECK(first_value(pool.query("SELECT v")) == "twice");
    CHECK(twice.exhausted());
    CHECK(first_value(pool.query("SELECT v")) == "prefix");
    CHECK(prefix.uses() == 2);

    fake.clear_rules();
    CHECK(pool.query("SELECT v").empty());
}

TEST_CASE("a rule that only delays hides older rules, chain delays() with the answer",
          "[docs][testing]") {
    FakeBackend fake;
    fake.on("SELECT v").returns({"v"}, {{"1"}});
    fake.on("SELECT v").delays(1ms);
    FakePool pool(guide_config(), fake);
    CHECK(pool.query("SELECT v").empty());

    fake.on("SELECT v").delays(1ms).returns({"v"}, {{"2"}});
    CHECK(first_value(pool.query("SELECT v")) == "2");
}

TEST_CASE("on_host and with_params narrow a rule", "[docs][testing]") {
    FakeBackend fake;
    fake.replica("replica1");
    const auto sql = "SELECT title FROM videos WHERE id = $1";
    fake.on(sql).returns({"title"}, {{"any"}});
    fake.on(sql).with_params({7}).returns({"title"}, {{"seven"}});
    fake.on(sql).on_host("replica1").returns({"title"}, {{"from the replica"}});
    FakePool pool(guide_config({"replica1"}), fake);

    CHECK(first_value(pool.query(sql, {7})) == "seven");
    CHECK(first_value(pool.query(sql, {8})) == "any");
    CHECK(first_value(pool.query(sql, {7}, {.use_read_replica = true})) == "from the replica");
}

TEST_CASE("on_any, on_begin and on_commit match the pool's transaction control",
          "[docs][testing]") {
    FakeBackend fake;
    fake.on_begin().once().fails("53200", "out of memory");
    // on_any() also answers the pool's health probes: checks once at start, then not for an
    // hour, so that the once() rule below meets the transaction's BEGIN, not a probe.
    fake.record_internal();
    auto cfg = guide_config();
    cfg.health_check_period = std::chrono::hours(1);
    FakePool pool(cfg, fake);
    REQUIRE(eventually([&] {
        for (const auto& call : fake.calls()) {
            if (call.sql.find("pg_is_in_recovery") != std::string::npos) return true;
        }
        return false;
    }));
    int runs = 0;
    CHECK(sqlstate_of([&] { pool.transaction([&](db::Tx&) { ++runs; }); }) == "53200");
    CHECK(runs == 0);

    fake.on_any().once().fails("XX000", "internal error");
    CHECK(sqlstate_of([&] { pool.transaction([&](db::Tx&) { ++runs; }); }) == "XX000");
    CHECK(runs == 0);
}

TEST_CASE("a write on a replica or in a read-only transaction fails with 25006 before any rule",
          "[docs][testing]") {
    FakeBackend fake;
    fake.replica("replica1");
    FakeBackend::Host replica = fake.host("replica1");
    fake.on("UPDATE videos SET views = views + 1").affects(1);
    FakePool pool(guide_config({"replica1"}), fake);
    CHECK(sqlstate_of([&] {
              pool.transaction([](db::Tx& tx) { tx.query("UPDATE videos SET views = views + 1"); },
                               {.read_only = true});
          }) == "25006");
    CHECK(replica.role() == db::HostRole::replica);

    fake.enforce_read_only(false);
    pool.transaction([](db::Tx& tx) { tx.query("UPDATE videos SET views = views + 1"); },
                     {.read_only = true});
}

TEST_CASE("broad rules also answer the pool's own statements", "[docs][testing]") {
    FakeBackend fake;
    fake.replica("replica1");
    FakePool pool(guide_config({"replica1"}), fake);
    REQUIRE(eventually([&] { return host_health(pool.health(), "replica1").reachable; }));
    auto broad = fake.on_prefix("SELECT").on_host("replica1").fails("XX000", "scripted");
    REQUIRE(eventually([&] { return !host_health(pool.health(), "replica1").reachable; }));
    CHECK(broad.uses() > 0);
    CHECK(fake.count_on("replica1", db::detail::kProbeSql) == 0);  // not recorded by default
    CHECK(pool.health().status == db::HealthStatus::degraded);
}

// ---- Errors ----

TEST_CASE("fails() throws SqlError with the SQLSTATE, 57014 is a QueryTimeout", "[docs][testing]") {
    FakeBackend fake;
    fake.on_prefix("INSERT INTO videos").fails("23505", "duplicate key value");
    fake.on("SELECT slow()").fails("57014", "canceling statement due to statement timeout");
    FakePool pool(guide_config(), fake);

    try {
        pool.query("INSERT INTO videos (title) VALUES ('x')");
        FAIL("no exception");
    } catch (const db::SqlError& e) {
        CHECK(e.sqlstate() == "23505");
        CHECK(std::string(e.what()) == "duplicate key value");
    }
    try {
        pool.query("SELECT slow()");
        FAIL("no exception");
    } catch (const db::QueryTimeout& e) {
        CHECK_FALSE(e.client_side());
        CHECK(e.cancelled());
    }
    CHECK(fake.count_on("primary", "SELECT slow()") == 1);  // never run again
}

TEST_CASE("an error thrown from responds() reaches the caller with its fields", "[docs][testing]") {
    FakeBackend fake;
    fake.on_prefix("INSERT INTO videos").responds([](const db::testing::Call&) -> db::Result {
        db::SqlErrorFields fields;
        fields.table = "videos";
        fields.constraint = "videos_tenant_id_title_key";
        throw db::SqlError("duplicate key value", "23505", fields);
    });
    FakePool pool(guide_config(), fake);
    try {
        pool.transaction([](db::Tx& tx) { tx.query("INSERT INTO videos (title) VALUES ('x')"); });
        FAIL("no exception");
    } catch (const db::SqlError& e) {
        CHECK(e.sqlstate() == "23505");
        CHECK(e.constraint() == "videos_tenant_id_title_key");
        CHECK(e.table() == "videos");
    }
    CHECK(fake.count("ROLLBACK") == 1);
}

TEST_CASE("transaction() runs the function again after 40001 and 40P01, not after 23505",
          "[docs][testing]") {
    FakeBackend fake;
    fake.on_prefix("UPDATE").affects(1);
    fake.on_prefix("UPDATE").once().fails("40P01", "deadlock detected");
    fake.on_prefix("UPDATE").once().fails("40001", "could not serialize access");
    FakePool pool(guide_config(), fake);
    int runs = 0;
    pool.transaction([&](db::Tx& tx) {
        ++runs;
        tx.query("UPDATE videos SET views = 0");
    });
    CHECK(runs == 3);
    CHECK(fake.count("COMMIT") == 1);

    fake.on_prefix("UPDATE").once().fails("23505", "duplicate key value");
    runs = 0;
    CHECK(sqlstate_of([&] {
              pool.transaction([&](db::Tx& tx) {
                  ++runs;
                  tx.query("UPDATE videos SET views = 0");
              });
          }) == "23505");
    CHECK(runs == 1);
}

TEST_CASE("a statement the server never saw runs again, one it may have run is reported",
          "[docs][testing]") {
    FakeBackend fake;
    fake.on("SELECT v").returns({"v"}, {{"1"}});
    fake.on("SELECT v").once().drops_connection(false);
    FakePool pool(guide_config(), fake);
    CHECK(first_value(pool.query("SELECT v")) == "1");
    CHECK(fake.count("SELECT v") == 2);

    fake.on("UPDATE videos SET views = 0").once().drops_connection(true);
    try {
        pool.query("UPDATE videos SET views = 0");
        FAIL("no exception");
    } catch (const db::ConnectionError& e) {
        CHECK(e.statement_sent());
    }
    CHECK(fake.count("UPDATE videos SET views = 0") == 1);
}

TEST_CASE("a lost COMMIT: retried before it was sent, unknown after, resolved on request",
          "[docs][testing]") {
    FakeBackend fake;
    FakePool pool(guide_config(), fake);
    auto write = [](db::Tx& tx) { tx.query("INSERT INTO videos (title) VALUES ('x')"); };

    fake.fail_next_commit(db::testing::CommitFailure::before_send);
    pool.transaction(write);
    CHECK(fake.count("COMMIT") == 2);

    fake.clear_calls();
    fake.fail_next_commit(db::testing::CommitFailure::after_send);
    CHECK_THROWS_AS(pool.transaction(write), db::TransactionOutcomeUnknown);
    CHECK(fake.count("COMMIT") == 1);

    fake.clear_calls();
    fake.fail_next_commit(db::testing::CommitFailure::after_send);
    pool.transaction(write, {.resolve_unknown_outcome = true});  // txid_status(): committed
    CHECK(fake.count("COMMIT") == 1);

    fake.clear_calls();
    fake.fail_next_commit("40001", "could not serialize access");
    pool.transaction(write);
    CHECK(fake.count("COMMIT") == 2);
}

// ---- Hosts and replicas ----

TEST_CASE("reads go to replicas by weight, writes to the primary", "[docs][testing]") {
    FakeBackend fake;
    fake.replica("replica1");
    fake.replica("replica2");
    auto cfg = guide_config({"replica1", "replica2"});
    cfg.replicas[0].weight = 3;
    FakePool pool(cfg, fake);
    for (int i = 0; i < 8; ++i) pool.query("SELECT v", {}, {.use_read_replica = true});
    pool.query("UPDATE v SET x = 1");
    CHECK(fake.count_on("replica1", "SELECT v") == 6);
    CHECK(fake.count_on("replica2", "SELECT v") == 2);
    CHECK(fake.count_on("primary", "UPDATE v SET x = 1") == 1);
    const auto calls = fake.calls_on("replica1");
    CHECK(calls.front().role == db::HostRole::replica);
}

TEST_CASE("a host key is the host name, with :port unless it is 5432", "[docs][testing]") {
    CHECK(FakeBackend::host_key(db::Endpoint::parse("postgresql://app@db1/videos")) == "db1");
    CHECK(FakeBackend::host_key(db::Endpoint::parse("postgresql://app@db1:6432/videos")) ==
          "db1:6432");
}

TEST_CASE("a replica lagging past max_replica_lag takes no reads until it catches up",
          "[docs][testing]") {
    FakeBackend fake;
    fake.replica("replica1").lag(30s);
    auto cfg = guide_config({"replica1"});
    cfg.max_replica_lag = 5s;
    FakePool pool(cfg, fake);
    REQUIRE(eventually([&] { return host_health(pool.health(), "replica1").lagging; }));
    pool.query("SELECT v", {}, {.use_read_replica = true});
    CHECK(fake.count_on("primary", "SELECT v") == 1);
    CHECK(pool.health().status == db::HealthStatus::degraded);

    fake.host("replica1").lag(0ms);
    REQUIRE(eventually([&] { return !host_health(pool.health(), "replica1").lagging; }));
    pool.query("SELECT v", {}, {.use_read_replica = true});
    CHECK(fake.count_on("replica1", "SELECT v") == 1);
}

TEST_CASE("read your writes: a paused or pinned replica serves no read after a newer position",
          "[docs][testing]") {
    FakeBackend fake;
    fake.replica("replica1");
    FakePool pool(guide_config({"replica1"}), fake);
    const auto start = fake.wal_position();
    fake.host("replica1").replay_position(start);
    pool.query("INSERT INTO videos (title) VALUES ('x')");
    const auto written = pool.current_position();
    CHECK(written > start);
    CHECK(written == fake.wal_position());
    pool.query("SELECT v", {}, {.use_read_replica = true, .after = written});
    CHECK(fake.count_on("primary", "SELECT v") == 1);

    fake.host("replica1").resume_replay();
    REQUIRE(eventually([&] {
        pool.query("SELECT v", {}, {.use_read_replica = true, .after = written});
        return fake.count_on("replica1", "SELECT v") == 1;
    }));
}

// ---- Down hosts ----

TEST_CASE("a replica down: reads elsewhere, health degraded, the primary down: unhealthy",
          "[docs][testing]") {
    FakeBackend fake;
    fake.replica("replica1");
    FakePool pool(guide_config({"replica1"}), fake);
    REQUIRE(eventually([&] { return pool.health().status == db::HealthStatus::healthy; }));

    fake.host("replica1").down();
    pool.query("SELECT v", {}, {.use_read_replica = true});
    CHECK(fake.count_on("primary", "SELECT v") == 1);
    REQUIRE(eventually([&] { return pool.health().status == db::HealthStatus::degraded; }));

    fake.host("primary").down();
    CHECK_THROWS_AS(pool.query("UPDATE v SET x = 1"), db::ConnectionError);
    CHECK(pool.health({.timeout = 200ms}).status == db::HealthStatus::unhealthy);

    fake.host("primary").up();
    fake.host("replica1").up();
    REQUIRE(eventually([&] { return pool.health().status == db::HealthStatus::healthy; }));
    CHECK(fake.host("primary").connection_attempts() > fake.host("primary").connections_opened());
}

TEST_CASE("terminate_connections breaks open sessions, the host stays up", "[docs][testing]") {
    FakeBackend fake;
    fake.on("SELECT v").returns({"v"}, {{"1"}});
    FakePool pool(guide_config(), fake);
    pool.query("SELECT v");
    const auto opened = fake.connections_opened();
    fake.host("primary").terminate_connections();
    CHECK(first_value(pool.query("SELECT v")) == "1");  // on a new connection
    CHECK(fake.connections_opened() > opened);
    CHECK_FALSE(fake.host("primary").is_down());
}

TEST_CASE("a fenced primary refuses writes with 25006", "[docs][testing]") {
    FakeBackend fake;
    fake.host("primary").fence();
    FakePool pool(guide_config(), fake);
    CHECK(sqlstate_of([&] { pool.query("UPDATE v SET x = 1"); }) == "25006");
    fake.host("primary").fence(false);
    pool.query("UPDATE v SET x = 1");
}

TEST_CASE("a replica promoted to primary leaves the read rotation", "[docs][testing]") {
    FakeBackend fake;
    fake.replica("replica1");
    FakePool pool(guide_config({"replica1"}), fake);
    REQUIRE(eventually([&] { return pool.health().status == db::HealthStatus::healthy; }));
    fake.host("replica1").role(db::HostRole::primary);  // a new timeline, as pg_promote()
    REQUIRE(eventually([&] { return pool.health().status == db::HealthStatus::degraded; }));
    fake.clear_calls();
    pool.query("SELECT v", {}, {.use_read_replica = true});
    CHECK(fake.count_on("replica1", "SELECT v") == 0);
    CHECK(fake.count_on("primary", "SELECT v") == 1);
}

// ---- Timeouts and concurrency ----

TEST_CASE("a delay past the query timeout is a client-side QueryTimeout", "[docs][testing]") {
    FakeBackend fake;
    fake.on("SELECT pg_sleep(60)").delays(60s);
    auto cfg = guide_config();
    cfg.statement_timeout = 100ms;
    cfg.query_timeout = 200ms;
    FakePool pool(cfg, fake);
    try {
        pool.query("SELECT pg_sleep(60)");
        FAIL("no exception");
    } catch (const db::QueryTimeout& e) {
        CHECK_FALSE(e.client_side());  // the server's statement_timeout came first
        CHECK(e.cancelled());
    }
    try {
        pool.query("SELECT pg_sleep(60)", {}, {.timeout = 50ms});
        FAIL("no exception");
    } catch (const db::QueryTimeout& e) {
        CHECK(e.client_side());
        CHECK(e.cancelled());  // the fake answered the cancel request, as PostgreSQL does
        CHECK(e.sqlstate() == "57014");
    }
    CHECK(fake.open_connections() == fake.connections_opened());  // kept
}

TEST_CASE("a deadline cancels a delayed statement and the connection is kept", "[docs][testing]") {
    FakeBackend fake;
    fake.on("SELECT pg_sleep(60)").delays(60s);
    FakePool pool(guide_config(), fake);
    try {
        pool.query("SELECT pg_sleep(60)", {}, {.deadline = db::Clock::now() + 50ms});
        FAIL("no exception");
    } catch (const db::Cancelled& e) {
        CHECK_FALSE(e.statement_may_have_run());
    }
    CHECK(fake.calls().back().sqlstate == "57014");
    CHECK(fake.open_connections() == fake.connections_opened());
}

TEST_CASE("a host that ignores cancel requests makes a deadline discard the connection",
          "[docs][testing]") {
    FakeBackend fake;
    fake.on("SELECT pg_sleep(60)").delays(60s);
    fake.on("SELECT pg_sleep(1)").delays(50ms).returns({"v"}, {{"slept"}});
    fake.host("primary").ignore_cancel();
    FakePool pool(guide_config(), fake);
    try {
        pool.query("SELECT pg_sleep(60)", {}, {.deadline = db::Clock::now() + 50ms});
        FAIL("no exception");
    } catch (const db::Cancelled& e) {
        CHECK(e.statement_may_have_run());
    }
    CHECK(eventually([&] { return fake.connections_opened() - fake.open_connections() == 1; }));
    try {
        pool.query("SELECT pg_sleep(60)", {}, {.timeout = 50ms});
        FAIL("no exception");
    } catch (const db::QueryTimeout& e) {
        CHECK(e.client_side());
        CHECK_FALSE(e.cancelled());
    }
    // Within the grace the statement still answers.
    CHECK(first_value(pool.query("SELECT pg_sleep(1)", {}, {.timeout = 10ms})) == "slept");
}

TEST_CASE("wait_for_running holds a test until statements are inside their delay",
          "[docs][testing]") {
    FakeBackend fake;
    fake.on("SELECT slow()").delays(300ms).returns({"v"}, {{"done"}});
    FakePool pool(guide_config(), fake);
    auto a =
        std::async(std::launch::async, [&] { return first_value(pool.query("SELECT slow()")); });
    auto b =
        std::async(std::launch::async, [&] { return first_value(pool.query("SELECT slow()")); });
    REQUIRE(fake.wait_for_running(2, 5s));
    CHECK(fake.host("primary").open_connections() >= 2);
    CHECK(a.get() == "done");
    CHECK(b.get() == "done");
    CHECK(fake.running_statements() == 0);
}

// ---- Assertions ----

TEST_CASE("calls record host, role, parameters as text and the transaction", "[docs][testing]") {
    FakeBackend fake;
    FakePool pool(guide_config(), fake);
    pool.transaction([](db::Tx& tx) {
        tx.query("UPDATE videos SET title = $1 WHERE id = $2", {"Intro", std::int64_t{7}});
        tx.query("UPDATE videos SET title = $1 WHERE id = $2", {std::nullopt, 8});
    });
    const auto calls = fake.calls();
    REQUIRE(calls.size() == 4);
    CHECK(calls[0].sql.starts_with("BEGIN"));
    CHECK(calls[1].host == "primary");
    CHECK(calls[1].role == db::HostRole::primary);
    CHECK(calls[1].params == std::vector<std::optional<std::string>>{"Intro", "7"});
    CHECK(calls[2].params == std::vector<std::optional<std::string>>{std::nullopt, "8"});
    CHECK(calls[1].in_transaction);
    CHECK(calls[1].txid == calls[2].txid);
    CHECK(calls[1].connection_id == calls[3].connection_id);
    CHECK(calls[3].sql == "COMMIT");
    CHECK(calls[1].outcome == db::QueryOutcome::ok);
    CHECK(fake.txid_status(*calls[1].txid) == "committed");
    CHECK(fake.count(std::regex("^UPDATE videos")) == 2);

    CHECK(fake.count(db::detail::kPingSql) + fake.count(db::detail::kProbeSql) == 0);
    fake.record_internal();
    pool.health();
    CHECK(fake.count(db::detail::kProbeSql) + fake.count(db::detail::kPingSql) > 0);
}
