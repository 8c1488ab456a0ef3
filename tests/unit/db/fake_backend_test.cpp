#include <sparc/db/testing/fake_backend.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

namespace db = sparc::db;
using db::testing::CommitFailure;
using db::testing::FakeBackend;
using namespace std::chrono_literals;

static_assert(db::Backend<FakeBackend>);

namespace {

const db::Endpoint& primary_ep() {
    static const auto ep = db::Endpoint::parse("postgresql://primary/app");
    return ep;
}
const db::Endpoint& replica_ep() {
    static const auto ep = db::Endpoint::parse("postgresql://replica1/app");
    return ep;
}

std::unique_ptr<FakeBackend::Connection> connect(FakeBackend& fake, const db::Endpoint& ep,
                                                 const db::ConnectSettings& settings = {}) {
    return fake.connect(ep, settings);
}

db::Result exec(FakeBackend::Connection& c, std::string_view sql, db::ParamsRef params = {},
                db::ExecSettings settings = {}) {
    return c.execute(sql, params, settings);
}

template <typename F>
std::string sqlstate_of(F&& f) {
    try {
        f();
    } catch (const db::SqlError& e) {
        return e.sqlstate();
    }
    return "none";
}

template <typename F>
std::optional<bool> connection_error_sent(F&& f) {
    try {
        f();
    } catch (const db::ConnectionError& e) {
        return e.statement_sent();
    }
    return std::nullopt;
}

db::Clock::time_point soon() { return db::Clock::now() + 20ms; }

db::TransactionOptions serializable() {
    db::TransactionOptions o;
    o.isolation = db::IsolationLevel::serializable;
    return o;
}
db::TransactionOptions read_only() {
    db::TransactionOptions o;
    o.read_only = true;
    return o;
}
db::ConnectSettings deadline_soon() {
    db::ConnectSettings s;
    s.deadline = soon();
    return s;
}
db::ConnectSettings statement_timeout(std::chrono::milliseconds t) {
    db::ConnectSettings s;
    s.statement_timeout = t;
    return s;
}

}  // namespace

TEST_CASE("connections get unique ids and unknown hosts start as primaries", "[db][fake]") {
    FakeBackend fake;
    auto a = connect(fake, primary_ep());
    auto b = connect(fake, primary_ep());
    auto r = connect(fake, replica_ep());
    CHECK(a->id() != b->id());
    CHECK(b->id() != r->id());
    CHECK(a->host() == "primary");
    CHECK(r->host() == "replica1");
    CHECK(fake.host("replica1").role() == db::HostRole::primary);
    CHECK(a->is_alive());
    CHECK(a->transaction_status() == db::TxStatus::idle);
    CHECK(fake.connections_opened() == 3);
    CHECK(fake.open_connections() == 3);
    CHECK(fake.host("primary").open_connections() == 2);

    a->close();
    a->close();  // idempotent
    CHECK_FALSE(a->is_alive());
    CHECK(a->transaction_status() == db::TxStatus::unknown);
    CHECK(connection_error_sent([&] { exec(*a, "SELECT 1"); }) == false);
    b.reset();
    CHECK(fake.open_connections() == 1);
    CHECK(fake.connections_opened() == 3);
}

TEST_CASE("host keys include non-default ports", "[db][fake]") {
    FakeBackend fake;
    auto ep = db::Endpoint::parse("postgresql://localhost:5433/app");
    CHECK(FakeBackend::host_key(ep) == "localhost:5433");
    CHECK(FakeBackend::host_key(primary_ep()) == "primary");
    auto c = connect(fake, ep);
    CHECK(c->host() == "localhost:5433");
}

TEST_CASE("copies share rules, hosts and recorded calls", "[db][fake]") {
    FakeBackend fake;
    FakeBackend copy = fake;  // NOLINT(performance-unnecessary-copy-initialization)
    copy.on("SELECT 42").returns({"n"}, {{"42"}});
    auto c = connect(fake, primary_ep());
    CHECK(exec(*c, "SELECT 42").front().at(0).as<int>() == 42);
    CHECK(copy.count("SELECT 42") == 1);
    CHECK(copy.connections_opened() == 1);
}

TEST_CASE("unmatched statements return an empty result unless strict", "[db][fake]") {
    FakeBackend fake;
    auto c = connect(fake, primary_ep());
    auto r = exec(*c, "SELECT * FROM nothing");
    CHECK(r.empty());
    CHECK(r.columns() == 0);
    CHECK(r.affected_rows() == 0);

    fake.strict();
    CHECK(sqlstate_of([&] { exec(*c, "SELECT * FROM nothing"); }) == "42601");
    CHECK(c->is_alive());
    // Transaction control, session statements and built-ins still answer.
    exec(*c, "SET application_name = 'x'");
    exec(*c, db::detail::kPingSql);
    c->begin({}, {});
    c->commit({});
    fake.strict(false);
    CHECK(exec(*c, "SELECT * FROM nothing").empty());
}

TEST_CASE("rules answer by exact text, prefix and pattern", "[db][fake]") {
    FakeBackend fake;
    fake.on("SELECT id, title FROM videos WHERE tenant_id = $1")
        .returns({"id", "title"}, {{"1", "Intro"}, {"2", std::nullopt}});
    fake.on_prefix("INSERT INTO logs").affects(1);
    fake.on_match(std::regex("^UPDATE users")).affects(3);
    fake.on_prefix("INSERT INTO items").returns({"id"}, {{"7"}}).affects(1);

    auto c = connect(fake, primary_ep());
    auto r = exec(*c, "SELECT id, title FROM videos WHERE tenant_id = $1", {42});
    REQUIRE(r.size() == 2);
    CHECK(r.columns() == 2);
    CHECK(r[0]["id"].as<std::int64_t>() == 1);
    CHECK(r[0]["title"].as<std::string>() == "Intro");
    CHECK(r[1]["title"].is_null());
    CHECK(r.affected_rows() == 0);

    CHECK(exec(*c, "INSERT INTO logs (action) VALUES ($1)", {"login"}).affected_rows() == 1);
    CHECK(exec(*c, "UPDATE users SET x = 1").affected_rows() == 3);
    CHECK(exec(*c, "update users SET x = 1").affected_rows() == 0);  // case-sensitive
    auto ins = exec(*c, "INSERT INTO items DEFAULT VALUES RETURNING id");
    CHECK(ins.affected_rows() == 1);
    CHECK(ins.front().at(0).as<int>() == 7);
    // Exact rules need the exact text.
    CHECK(exec(*c, "SELECT id, title FROM videos WHERE tenant_id = $1 ").empty());
}

TEST_CASE("results carry column names even without rows", "[db][fake]") {
    FakeBackend fake;
    fake.on("SELECT id, name FROM empty").returns({"id", "name"}, {});
    auto c = connect(fake, primary_ep());
    auto r = exec(*c, "SELECT id, name FROM empty");
    CHECK(r.empty());
    REQUIRE(r.columns() == 2);
    CHECK(r.column_name(0) == "id");
    CHECK(r.column_name(1) == "name");
}

TEST_CASE("responds runs outside the fake's lock", "[db][fake]") {
    FakeBackend fake;
    fake.on("SELECT calls()").responds([&fake](const db::testing::Call&) {
        fake.on("SELECT later()").returns({"x"}, {{"scripted from a responder"}});
        return db::Result(std::make_shared<const db::detail::TextResultData>(
            std::vector<std::string>{"n"},
            std::vector<std::vector<std::optional<std::string>>>{
                {std::to_string(fake.calls().size())}},
            0));
    });
    auto c = connect(fake, primary_ep());
    CHECK(exec(*c, "SELECT calls()").front().at(0).as<int>() == 1);
    CHECK(exec(*c, "SELECT later()").front().at(0).as<std::string>() ==
          "scripted from a responder");
}

TEST_CASE("the newest matching rule wins and exhausted rules step aside", "[db][fake]") {
    FakeBackend fake;
    auto general = fake.on_prefix("SELECT").returns({"v"}, {{"old"}});
    fake.on("SELECT v").returns({"v"}, {{"new"}});
    auto once = fake.on("SELECT v").once().fails("40001", "could not serialize access");

    auto c = connect(fake, primary_ep());
    CHECK(sqlstate_of([&] { exec(*c, "SELECT v"); }) == "40001");
    CHECK(once.exhausted());
    CHECK(once.uses() == 1);
    CHECK(exec(*c, "SELECT v").front().at(0).as<std::string>() == "new");
    CHECK(exec(*c, "SELECT v").front().at(0).as<std::string>() == "new");
    CHECK(exec(*c, "SELECT w").front().at(0).as<std::string>() == "old");
    CHECK(general.uses() == 1);

    fake.on("SELECT v").times(2).returns({"v"}, {{"twice"}});
    CHECK(exec(*c, "SELECT v").front().at(0).as<std::string>() == "twice");
    CHECK(exec(*c, "SELECT v").front().at(0).as<std::string>() == "twice");
    CHECK(exec(*c, "SELECT v").front().at(0).as<std::string>() == "new");

    fake.clear_rules();
    CHECK(exec(*c, "SELECT v").empty());
}

TEST_CASE("rules can be limited to a host and to parameters", "[db][fake]") {
    FakeBackend fake;
    fake.replica("replica1");
    fake.on("SELECT name FROM t WHERE id = $1").returns({"name"}, {{"any"}});
    fake.on("SELECT name FROM t WHERE id = $1").with_params({7}).returns({"name"}, {{"seven"}});
    fake.on("SELECT name FROM t WHERE id = $1")
        .with_params({std::nullopt})
        .returns({"name"}, {{"null"}});
    fake.on("SELECT name FROM t WHERE id = $1").on_host("replica1").fails("57P03", "starting");

    auto p = connect(fake, primary_ep());
    auto r = connect(fake, replica_ep());
    const std::string sql = "SELECT name FROM t WHERE id = $1";
    CHECK(exec(*p, sql, {7}).front().at(0).as<std::string>() == "seven");
    CHECK(exec(*p, sql, {8}).front().at(0).as<std::string>() == "any");
    CHECK(exec(*p, sql, {std::nullopt}).front().at(0).as<std::string>() == "null");
    CHECK(sqlstate_of([&] { exec(*r, sql, {7}); }) == "57P03");
}

TEST_CASE("scripted failures throw the matching exception types", "[db][fake]") {
    FakeBackend fake;
    fake.on("INSERT INTO u VALUES (1)").fails("23505", "duplicate key value");
    fake.on("SELECT slow()").fails("57014", "canceling statement due to statement timeout");
    fake.on("SELECT deadlock()").fails("40P01");

    auto c = connect(fake, primary_ep());
    try {
        exec(*c, "INSERT INTO u VALUES (1)");
        FAIL("no exception");
    } catch (const db::SqlError& e) {
        CHECK(e.sqlstate() == "23505");
        CHECK(std::string(e.what()) == "duplicate key value");
    }
    try {
        exec(*c, "SELECT slow()");
        FAIL("no exception");
    } catch (const db::QueryTimeout& e) {
        CHECK_FALSE(e.client_side());
        CHECK(e.sqlstate() == "57014");
    }
    CHECK(sqlstate_of([&] { exec(*c, "SELECT deadlock()"); }) == "40P01");
    CHECK(c->is_alive());
    CHECK(c->transaction_status() == db::TxStatus::idle);
}

TEST_CASE("dropped connections break the session", "[db][fake]") {
    FakeBackend fake;
    fake.on("SELECT before()").drops_connection(false);
    fake.on("INSERT INTO t VALUES (1)").drops_connection(true);

    auto c = connect(fake, primary_ep());
    CHECK(connection_error_sent([&] { exec(*c, "SELECT before()"); }) == false);
    CHECK_FALSE(c->is_alive());
    CHECK(c->transaction_status() == db::TxStatus::unknown);
    CHECK(connection_error_sent([&] { exec(*c, "SELECT 1"); }) == false);

    // After send: an autocommit write reached the server and was applied.
    auto d = connect(fake, primary_ep());
    const auto before = fake.wal_position();
    CHECK(connection_error_sent([&] { exec(*d, "INSERT INTO t VALUES (1)"); }) == true);
    CHECK(fake.wal_position().lsn == before.lsn + 1);
    CHECK_FALSE(d->is_alive());
    CHECK(fake.calls().back().outcome == db::QueryOutcome::connection_error);
    CHECK(fake.open_connections() == 2);  // broken but not yet closed
}

TEST_CASE("responds gets the call and may throw", "[db][fake]") {
    FakeBackend fake;
    fake.on_prefix("SELECT echo").responds([](const db::testing::Call& call) {
        return db::Result(std::make_shared<const db::detail::TextResultData>(
            std::vector<std::string>{"host", "param"},
            std::vector<std::vector<std::optional<std::string>>>{{call.host, call.params.at(0)}},
            0));
    });
    fake.on("SELECT boom()").responds([](const db::testing::Call&) -> db::Result {
        throw db::SqlError("boom", "XX000");
    });
    fake.on("SELECT gone()").responds([](const db::testing::Call&) -> db::Result {
        throw db::ConnectionError("gone", true);
    });

    auto c = connect(fake, primary_ep());
    auto r = exec(*c, "SELECT echo($1)", {"hi"});
    CHECK(r[0]["host"].as<std::string>() == "primary");
    CHECK(r[0]["param"].as<std::string>() == "hi");

    c->begin({}, {});
    CHECK(sqlstate_of([&] { exec(*c, "SELECT boom()"); }) == "XX000");
    CHECK(c->transaction_status() == db::TxStatus::in_error);
    c->rollback({});
    CHECK(connection_error_sent([&] { exec(*c, "SELECT gone()"); }) == true);
    CHECK_FALSE(c->is_alive());
}

TEST_CASE("calls are recorded with host, connection, parameters and transaction", "[db][fake]") {
    FakeBackend fake;
    fake.replica("replica1");
    fake.on("SELECT fail()").fails("22012", "division by zero");
    auto p = connect(fake, primary_ep());
    auto r = connect(fake, replica_ep());

    exec(*r, "SELECT * FROM v WHERE id = $1", {5, std::nullopt, "x"});
    exec(*p, db::detail::kProbeSql);  // the pool's own: not recorded by default
    exec(*p, db::detail::kPingSql);
    p->begin(serializable(), {});
    exec(*p, "INSERT INTO t VALUES ($1)", {1});
    CHECK_THROWS_AS(exec(*p, "SELECT fail()"), db::SqlError);
    p->rollback({});

    const auto calls = fake.calls();
    REQUIRE(calls.size() == 5);
    CHECK(calls[0].host == "replica1");
    CHECK(calls[0].role == db::HostRole::replica);
    CHECK(calls[0].connection_id == r->id());
    CHECK(calls[0].params ==
          std::vector<std::optional<std::string>>{"5", std::nullopt, std::string("x")});
    CHECK_FALSE(calls[0].in_transaction);
    CHECK_FALSE(calls[0].txid);

    CHECK(calls[1].sql == "BEGIN ISOLATION LEVEL SERIALIZABLE");
    CHECK(calls[1].sql == db::begin_statement(serializable()));
    CHECK_FALSE(calls[1].in_transaction);
    CHECK(calls[2].sql == "INSERT INTO t VALUES ($1)");
    CHECK(calls[2].in_transaction);
    REQUIRE(calls[2].txid);
    CHECK(calls[2].connection_id == p->id());
    CHECK(calls[2].outcome == db::QueryOutcome::ok);
    CHECK(calls[3].outcome == db::QueryOutcome::sql_error);
    CHECK(calls[3].sqlstate == "22012");
    CHECK(calls[3].txid == calls[2].txid);
    CHECK(calls[4].sql == "ROLLBACK");

    CHECK(fake.calls_on("replica1").size() == 1);
    CHECK(fake.calls_on("primary").size() == 4);
    CHECK(fake.count("ROLLBACK") == 1);
    CHECK(fake.count(std::regex("^(BEGIN|ROLLBACK)")) == 2);
    CHECK(fake.count_on("replica1", "ROLLBACK") == 0);
    CHECK(fake.count(db::detail::kProbeSql) == 0);
    CHECK(fake.host("primary").statements_run() == 6);

    fake.record_internal();
    exec(*p, db::detail::kPingSql);
    CHECK(fake.count(db::detail::kPingSql) == 1);

    fake.clear_calls();
    CHECK(fake.calls().empty());
    exec(*p, "SELECT 2");
    CHECK(fake.calls().size() == 1);
}

TEST_CASE("the probe reports role, WAL position and lag", "[db][fake]") {
    FakeBackend fake;
    fake.replica("replica1").lag(250ms);
    fake.replica("replica2");
    auto p = connect(fake, primary_ep());
    auto r1 = connect(fake, replica_ep());
    auto r2 = connect(fake, db::Endpoint::parse("postgresql://replica2/app"));

    struct Probe {
        bool in_recovery;
        db::CommitPosition lsn;
        std::int64_t lag_ms;
        bool read_only;
    };
    auto probe = [](FakeBackend::Connection& c) {
        const auto r = exec(c, db::detail::kProbeSql);
        REQUIRE(r.size() == 1);
        REQUIRE(r.columns() == 8);
        return Probe{r.front().at(0).as<bool>(),
                     db::CommitPosition::parse(r.front().at(1).as<std::string>()),
                     r.front().at(2).as<std::int64_t>(), r.front().at(3).as<bool>()};
    };

    CHECK_FALSE(probe(*p).in_recovery);
    CHECK(probe(*p).lag_ms == 0);
    CHECK_FALSE(probe(*p).read_only);
    CHECK(probe(*r1).in_recovery);
    CHECK(probe(*r1).lag_ms == 250);
    CHECK(probe(*r1).read_only);
    CHECK(p->in_recovery() == false);
    CHECK(r1->in_recovery() == true);

    // The standbys streaming from the primary: its replicas that are up, unless set.
    auto standbys = [](FakeBackend::Connection& c) {
        return db::detail::ProbeAnswer::parse(exec(c, db::detail::kProbeSql)).standbys;
    };
    CHECK(standbys(*p) == 2U);
    CHECK_FALSE(standbys(*r1).has_value());
    fake.replica("replica3");
    CHECK(standbys(*p) == 3U);
    fake.host("replica3").down();
    CHECK(standbys(*p) == 2U);
    fake.host("primary").wal_senders(0);
    CHECK(standbys(*p) == 0U);

    // Fenced: still a primary, but it takes no writes.
    fake.host("primary").fence();
    CHECK(probe(*p).read_only);
    CHECK_FALSE(probe(*p).in_recovery);
    CHECK(sqlstate_of([&] { exec(*p, "INSERT INTO t VALUES (0)"); }) == "25006");
    fake.host("primary").fence(false);
    CHECK_FALSE(probe(*p).read_only);
    CHECK(probe(*p).lsn.to_string() == "0/1000000");
    CHECK(probe(*r1).lsn == fake.wal_position());

    exec(*p, "INSERT INTO t VALUES (1)");
    CHECK(probe(*p).lsn.lsn == 0x1000001);
    CHECK(probe(*r1).lsn == probe(*p).lsn);

    fake.host("replica1").pause_replay();
    exec(*p, "UPDATE t SET x = 2");
    exec(*p, "DELETE FROM t");
    CHECK(probe(*r1).lsn.lsn == 0x1000001);
    CHECK(probe(*r2).lsn.lsn == 0x1000003);
    CHECK(fake.host("replica1").replay_position().lsn == 0x1000001);
    fake.host("replica1").resume_replay();
    CHECK(probe(*r1).lsn.lsn == 0x1000003);

    fake.host("replica2").replay_position(db::CommitPosition{0x1000002});
    CHECK(probe(*r2).lsn.lsn == 0x1000002);
    fake.advance_wal(0x10);
    CHECK(exec(*p, db::detail::kCurrentLsnSql).front().at(0).as<std::string>() == "0/1000013");
    CHECK(sqlstate_of([&] { exec(*r1, db::detail::kCurrentLsnSql); }) == "55000");
    CHECK(exec(*r1, db::detail::kPingSql).front().at(0).as<int>() == 1);

    // Failover: promote the replica.
    fake.host("primary").down();
    fake.host("replica1").role(db::HostRole::primary).lag(0ms);
    CHECK_FALSE(probe(*r1).in_recovery);
    CHECK(probe(*r1).lsn == fake.wal_position());
}

TEST_CASE("rules override the built-in answers", "[db][fake]") {
    FakeBackend fake;
    fake.on(db::detail::kPingSql).once().drops_connection(false);
    fake.on(db::detail::kProbeSql).returns({"a", "b", "c"}, {{"t", "0/5", "9"}});
    auto c = connect(fake, primary_ep());
    CHECK(connection_error_sent([&] { exec(*c, db::detail::kPingSql); }) == false);
    auto d = connect(fake, primary_ep());
    CHECK(exec(*d, db::detail::kPingSql).front().at(0).as<int>() == 1);
    CHECK(exec(*d, db::detail::kProbeSql)[0][1].as<std::string>() == "0/5");
}

TEST_CASE("transactions move through their states", "[db][fake]") {
    FakeBackend fake;
    auto c = connect(fake, primary_ep());
    const auto start = fake.wal_position();

    SECTION("commit with writes advances the WAL once") {
        c->begin({}, {});
        CHECK(c->transaction_status() == db::TxStatus::in_transaction);
        const auto txid = exec(*c, db::detail::kTxidCurrentSql).front().at(0).as<std::int64_t>();
        CHECK(fake.txid_status(txid) == "in progress");
        exec(*c, "INSERT INTO t VALUES (1)");
        exec(*c, "INSERT INTO t VALUES (2)");
        CHECK(fake.wal_position() == start);
        c->commit({});
        CHECK(c->transaction_status() == db::TxStatus::idle);
        CHECK(fake.wal_position().lsn == start.lsn + 1);
        CHECK(fake.txid_status(txid) == "committed");
        auto status = exec(*c, db::detail::kTxidStatusSql, {txid});
        CHECK(status.front().at(0).as<std::string>() == "committed");
        CHECK(fake.calls()[1].txid == txid);
    }
    SECTION("read-only transactions leave the WAL alone") {
        c->begin({}, {});
        exec(*c, "SELECT 1 FROM t");
        c->commit({});
        CHECK(fake.wal_position() == start);
    }
    SECTION("rollback aborts") {
        c->begin({}, {});
        const auto txid = exec(*c, db::detail::kTxidCurrentSql).front().at(0).as<std::int64_t>();
        exec(*c, "INSERT INTO t VALUES (1)");
        c->rollback({});
        CHECK(fake.wal_position() == start);
        CHECK(fake.txid_status(txid) == "aborted");
        CHECK(exec(*c, db::detail::kTxidStatusSql, {txid}).front().at(0).as<std::string>() ==
              "aborted");
    }
    SECTION("an error makes the transaction failed until it ends") {
        fake.on("SELECT bad()").fails("22012");
        c->begin({}, {});
        const auto txid = exec(*c, db::detail::kTxidCurrentSql).front().at(0).as<std::int64_t>();
        CHECK_THROWS_AS(exec(*c, "SELECT bad()"), db::SqlError);
        CHECK(c->transaction_status() == db::TxStatus::in_error);
        CHECK(sqlstate_of([&] { exec(*c, "SELECT 1 FROM t"); }) == "25P02");
        CHECK(sqlstate_of([&] { c->commit({}); }) == "25P02");
        CHECK(c->transaction_status() == db::TxStatus::idle);
        CHECK(fake.txid_status(txid) == "aborted");
        CHECK(c->is_alive());
    }
    SECTION("rollback to savepoint clears the failure") {
        fake.on("SELECT bad()").fails("22012");
        c->begin({}, {});
        exec(*c, "SAVEPOINT s");
        CHECK_THROWS_AS(exec(*c, "SELECT bad()"), db::SqlError);
        exec(*c, "ROLLBACK TO SAVEPOINT s");
        CHECK(c->transaction_status() == db::TxStatus::in_transaction);
        c->commit({});
    }
    SECTION("transaction control also works as plain statements") {
        exec(*c, "BEGIN");
        CHECK(c->transaction_status() == db::TxStatus::in_transaction);
        exec(*c, "UPDATE t SET x = 1");
        exec(*c, "COMMIT");
        CHECK(c->transaction_status() == db::TxStatus::idle);
        CHECK(fake.wal_position().lsn == start.lsn + 1);
    }
    SECTION("txid_current outside a transaction commits a transaction of its own") {
        const auto txid = exec(*c, db::detail::kTxidCurrentSql).front().at(0).as<std::int64_t>();
        CHECK(fake.txid_status(txid) == "committed");
    }
    SECTION("txid_status: unknown ids are NULL, future ones an error") {
        CHECK(exec(*c, db::detail::kTxidStatusSql, {1}).front().at(0).is_null());
        CHECK(sqlstate_of([&] { exec(*c, db::detail::kTxidStatusSql, {1'000'000'000}); }) ==
              "22023");
    }
    SECTION("closing a connection rolls back its transaction") {
        c->begin({}, {});
        const auto txid = exec(*c, db::detail::kTxidCurrentSql).front().at(0).as<std::int64_t>();
        c->close();
        CHECK(fake.txid_status(txid) == "aborted");
    }
}

TEST_CASE("commit failures", "[db][fake]") {
    FakeBackend fake;
    auto c = connect(fake, primary_ep());
    const auto start = fake.wal_position();
    c->begin({}, {});
    const auto txid = exec(*c, db::detail::kTxidCurrentSql).front().at(0).as<std::int64_t>();
    exec(*c, "INSERT INTO t VALUES (1)");

    SECTION("lost before send: rolled back") {
        fake.fail_next_commit(CommitFailure::before_send);
        CHECK(connection_error_sent([&] { c->commit({}); }) == false);
        CHECK(fake.txid_status(txid) == "aborted");
        CHECK(fake.wal_position() == start);
    }
    SECTION("lost after send: committed") {
        fake.fail_next_commit(CommitFailure::after_send);
        CHECK(connection_error_sent([&] { c->commit({}); }) == true);
        CHECK(fake.txid_status(txid) == "committed");
        CHECK(fake.wal_position().lsn == start.lsn + 1);
        // The pool resolves the outcome on a new connection.
        auto d = connect(fake, primary_ep());
        CHECK(exec(*d, db::detail::kTxidStatusSql, {txid}).front().at(0).as<std::string>() ==
              "committed");
    }
    SECTION("serialization failure at commit: rolled back, connection usable") {
        fake.fail_next_commit("40001", "could not serialize access");
        CHECK(sqlstate_of([&] { c->commit({}); }) == "40001");
        CHECK(fake.txid_status(txid) == "aborted");
        CHECK(c->is_alive());
        CHECK(c->transaction_status() == db::TxStatus::idle);
        // Only the next commit fails.
        c->begin({}, {});
        c->commit({});
    }
    SECTION("on_commit rules see execute(\"COMMIT\") too") {
        auto rule = fake.on_commit().drops_connection(true);
        CHECK(connection_error_sent([&] { exec(*c, "COMMIT"); }) == true);
        CHECK(rule.uses() == 1);
        CHECK(fake.txid_status(txid) == "committed");
        CHECK(fake.count("COMMIT") == 1);
    }
}

TEST_CASE("begin and rollback rules", "[db][fake]") {
    FakeBackend fake;
    fake.on_begin().once().fails("53300", "too many connections");
    auto c = connect(fake, primary_ep());
    CHECK(sqlstate_of([&] { c->begin({}, {}); }) == "53300");
    CHECK(c->transaction_status() == db::TxStatus::idle);
    c->begin(read_only(), {});
    CHECK(fake.calls().back().sql == "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY");
    fake.on_rollback().drops_connection(false);
    CHECK(connection_error_sent([&] { c->rollback({}); }) == false);
    CHECK_FALSE(c->is_alive());
}

TEST_CASE("writes are refused on replicas and in read-only transactions", "[db][fake]") {
    FakeBackend fake;
    fake.replica("replica1");
    auto r = connect(fake, replica_ep());
    auto p = connect(fake, primary_ep());

    CHECK(sqlstate_of([&] { exec(*r, "INSERT INTO t VALUES (1)"); }) == "25006");
    CHECK(sqlstate_of([&] { exec(*r, "  delete from t"); }) == "25006");
    CHECK(exec(*r, "SELECT * FROM t").empty());
    CHECK(fake.calls().front().outcome == db::QueryOutcome::sql_error);

    // Scripted writes are refused too: a misrouted write fails the test.
    fake.on_prefix("UPDATE t").affects(1);
    CHECK(sqlstate_of([&] { exec(*r, "UPDATE t SET x = 1"); }) == "25006");
    CHECK(exec(*p, "UPDATE t SET x = 1").affected_rows() == 1);

    p->begin(read_only(), {});
    CHECK(sqlstate_of([&] { exec(*p, "UPDATE t SET x = 1"); }) == "25006");
    p->rollback({});

    fake.on("SELECT write_something()").writes().affects(1);
    CHECK(sqlstate_of([&] { exec(*r, "SELECT write_something()"); }) == "25006");
    const auto before = fake.wal_position();
    exec(*p, "SELECT write_something()");
    CHECK(fake.wal_position().lsn == before.lsn + 1);

    fake.enforce_read_only(false);
    CHECK(exec(*r, "UPDATE t SET x = 1").affected_rows() == 1);
}

TEST_CASE("hosts go down, refuse, come back and terminate sessions", "[db][fake]") {
    FakeBackend fake;
    auto host = fake.host("primary");
    auto c = connect(fake, primary_ep());

    SECTION("down refuses new connections and breaks open ones") {
        host.down();
        CHECK(host.is_down());
        CHECK_FALSE(c->is_alive());
        CHECK(connection_error_sent([&] { exec(*c, "SELECT 1"); }) == false);
        CHECK_THROWS_WITH(connect(fake, primary_ep()), Catch::Contains("Connection refused"));
        host.up();
        auto d = connect(fake, primary_ep());
        CHECK(d->is_alive());
        CHECK_FALSE(c->is_alive());  // broken sessions stay broken
        CHECK(host.connection_attempts() == 3);
        CHECK(host.connections_opened() == 2);
    }
    SECTION("refuse_connections keeps open sessions working") {
        host.refuse_connections();
        CHECK_THROWS_AS(connect(fake, primary_ep()), db::ConnectionError);
        CHECK(c->is_alive());
        exec(*c, "SELECT 1");
        host.refuse_connections(false);
        CHECK(connect(fake, primary_ep())->is_alive());
    }
    SECTION("refuse_next_connections refuses a number of attempts") {
        host.refuse_next_connections(2);
        CHECK_THROWS_AS(connect(fake, primary_ep()), db::ConnectionError);
        CHECK_THROWS_AS(connect(fake, primary_ep()), db::ConnectionError);
        CHECK(connect(fake, primary_ep())->is_alive());
    }
    SECTION("max_connections") {
        host.max_connections(2);
        auto d = connect(fake, primary_ep());
        CHECK_THROWS_WITH(connect(fake, primary_ep()), Catch::Contains("too many clients"));
        d.reset();
        CHECK(connect(fake, primary_ep())->is_alive());
    }
    SECTION("terminate_connections breaks sessions, the host stays up") {
        c->begin({}, {});
        const auto txid = exec(*c, db::detail::kTxidCurrentSql).front().at(0).as<std::int64_t>();
        host.terminate_connections();
        CHECK_FALSE(c->is_alive());
        CHECK(c->transaction_status() == db::TxStatus::unknown);
        CHECK(fake.txid_status(txid) == "aborted");
        CHECK(connect(fake, primary_ep())->is_alive());
    }
    SECTION("connect latency past the deadline times out") {
        host.connect_latency(10s);
        CHECK_THROWS_WITH(connect(fake, primary_ep(), deadline_soon()),
                          Catch::Contains("timeout expired"));
        host.connect_latency(1ms);
        CHECK(connect(fake, primary_ep())->is_alive());
    }
    SECTION("connect settings are recorded") {
        auto settings_in = statement_timeout(1500ms);
        settings_in.pgbouncer_mode = true;
        CHECK(connect(fake, primary_ep(), settings_in)->is_alive());
        const auto settings = host.last_connect_settings();
        REQUIRE(settings);
        CHECK(settings->statement_timeout == 1500ms);
        CHECK(settings->pgbouncer_mode);
    }
}

TEST_CASE("delays, deadlines, statement_timeout and cancel", "[db][fake]") {
    FakeBackend fake;
    fake.on("SELECT pg_sleep(10)").delays(10s).returns({"x"}, {{"done"}});
    fake.on("SELECT quick()").delays(1ms).returns({"x"}, {{"done"}});

    SECTION("a short delay answers normally") {
        auto c = connect(fake, primary_ep());
        CHECK(exec(*c, "SELECT quick()").front().at(0).as<std::string>() == "done");
    }
    SECTION("a client deadline's cancel is answered: a client-side timeout, the session kept") {
        auto c = connect(fake, primary_ep());
        c->begin({}, {});
        try {
            exec(*c, "SELECT pg_sleep(10)", {}, {.deadline = soon()});
            FAIL("no exception");
        } catch (const db::QueryTimeout& e) {
            CHECK(e.client_side());
            // The server cancelled it, as PostgreSQL answers the cancel request.
            CHECK(e.cancelled());
            CHECK(e.sqlstate() == "57014");
        }
        CHECK(c->is_alive());
        CHECK(c->transaction_status() == db::TxStatus::in_error);
        CHECK(fake.calls().back().outcome == db::QueryOutcome::timeout);
        CHECK(fake.calls().back().sqlstate == "57014");
        c->rollback({});
        CHECK(exec(*c, "SELECT quick()").size() == 1);
    }
    SECTION("on a host that ignores cancel requests a client deadline breaks the session") {
        fake.host("primary").ignore_cancel();
        auto c = connect(fake, primary_ep());
        try {
            exec(*c, "SELECT pg_sleep(10)", {}, {.deadline = soon(), .cancel_grace = 10ms});
            FAIL("no exception");
        } catch (const db::QueryTimeout& e) {
            CHECK(e.client_side());
            // The server never said it cancelled it: it may have completed.
            CHECK_FALSE(e.cancelled());
            CHECK(e.sqlstate().empty());
            CHECK_THAT(e.what(), Catch::Contains("did not answer the cancel request"));
        }
        CHECK_FALSE(c->is_alive());
        CHECK(fake.calls().back().outcome == db::QueryOutcome::timeout);
    }
    SECTION("on a host that ignores cancel requests the statement may still finish in the grace") {
        fake.on("SELECT finishes()").delays(30ms).returns({"x"}, {{"done"}});
        fake.host("primary").ignore_cancel();
        auto c = connect(fake, primary_ep());
        const auto rows = exec(*c, "SELECT finishes()", {},
                               {.deadline = db::Clock::now() + 1ms, .cancel_grace = 60s});
        CHECK(rows.front().at(0).as<std::string>() == "done");
        CHECK(c->is_alive());
    }
    SECTION("statement_timeout throws a server-side timeout and keeps the session") {
        auto c = connect(fake, primary_ep(), statement_timeout(20ms));
        c->begin({}, {});
        try {
            exec(*c, "SELECT pg_sleep(10)");
            FAIL("no exception");
        } catch (const db::QueryTimeout& e) {
            CHECK_FALSE(e.client_side());
            CHECK(e.cancelled());
            CHECK(e.sqlstate() == "57014");
        }
        CHECK(c->is_alive());
        CHECK(c->transaction_status() == db::TxStatus::in_error);
        c->rollback({});
        CHECK(exec(*c, "SELECT quick()").size() == 1);
    }
    SECTION("cancel from another thread") {
        auto c = connect(fake, primary_ep());
        std::atomic<bool> saw_running{false};
        std::thread canceller([&] {
            saw_running = fake.wait_for_running(1, 10s);
            c->cancel();
        });
        try {
            exec(*c, "SELECT pg_sleep(10)");
            FAIL("no exception");
        } catch (const db::QueryTimeout& e) {
            CHECK_FALSE(e.client_side());
            CHECK(std::string(e.what()).find("user request") != std::string::npos);
        }
        canceller.join();
        CHECK(saw_running);
        CHECK(c->is_alive());
        CHECK(fake.running_statements() == 0);
        c->cancel();  // nothing running: no effect
        CHECK(exec(*c, "SELECT quick()").size() == 1);
    }
    SECTION("cancel on a host that ignores cancel requests breaks the session after the grace") {
        fake.host("primary").ignore_cancel();
        auto c = connect(fake, primary_ep());
        std::thread canceller([&] {
            if (fake.wait_for_running(1, 10s)) c->cancel();
        });
        try {
            exec(*c, "SELECT pg_sleep(10)", {}, {.cancel_grace = 10ms});
            FAIL("no exception");
        } catch (const db::QueryTimeout& e) {
            CHECK_FALSE(e.cancelled());
            CHECK_THAT(e.what(), Catch::Contains("did not answer the cancel request"));
        }
        canceller.join();
        CHECK_FALSE(c->is_alive());
    }
    SECTION("the host going down interrupts a running statement") {
        auto c = connect(fake, primary_ep());
        std::atomic<bool> saw_running{false};
        std::thread killer([&] {
            saw_running = fake.wait_for_running(1, 10s);
            fake.host("primary").down();
        });
        CHECK(connection_error_sent([&] { exec(*c, "SELECT pg_sleep(10)"); }) == true);
        killer.join();
        CHECK(saw_running);
        CHECK_FALSE(c->is_alive());
    }
    SECTION("a delayed COMMIT past the client deadline still commits") {
        fake.on_commit().delays(10s);
        auto c = connect(fake, primary_ep());
        c->begin({}, {});
        const auto txid = exec(*c, db::detail::kTxidCurrentSql).front().at(0).as<std::int64_t>();
        CHECK_THROWS_AS(c->commit({.deadline = soon()}), db::QueryTimeout);
        CHECK(fake.txid_status(txid) == "committed");
        CHECK_FALSE(c->is_alive());
    }
    SECTION("a slow host: every statement there is delayed") {
        fake.on_any().on_host("replica1").delays(10s);
        auto p = connect(fake, primary_ep());
        auto r = connect(fake, replica_ep());
        // The primary answers at once; its deadline is generous, not a race with the clock.
        CHECK(exec(*p, db::detail::kPingSql, {}, {.deadline = db::Clock::now() + 30s}).size() == 1);
        CHECK_THROWS_AS(exec(*r, db::detail::kPingSql, {}, {.deadline = soon()}), db::QueryTimeout);
    }
    SECTION("a delay-only rule keeps the built-in answer") {
        fake.on(db::detail::kPingSql).delays(1ms);
        auto c = connect(fake, primary_ep());
        CHECK(exec(*c, db::detail::kPingSql).front().at(0).as<int>() == 1);
    }
}

TEST_CASE("many threads share one fake", "[db][fake]") {
    FakeBackend fake;
    fake.replica("replica1");
    fake.on_prefix("SELECT name").returns({"name"}, {{"n"}});
    fake.on_prefix("INSERT").affects(1);
    fake.on_prefix("SELECT slow").delays(5ms);
    auto serialization = fake.on_prefix("INSERT").times(5).fails("40001");

    constexpr int kThreads = 8;
    constexpr int kIterations = 50;
    // Catch2 assertions are not thread-safe: workers count, the main thread asserts.
    std::atomic<int> committed{0};
    std::atomic<int> failed{0};
    std::atomic<int> unexpected{0};
    std::atomic<bool> stop{false};
    const auto start = fake.wal_position();

    std::vector<std::thread> workers;
    for (int t = 0; t < kThreads; ++t) {
        workers.emplace_back([&, t] {
            auto p = connect(fake, primary_ep());
            auto r = connect(fake, replica_ep());
            for (int i = 0; i < kIterations; ++i) {
                if (exec(*r, "SELECT name FROM t WHERE id = $1", {i}).size() != 1) {
                    ++unexpected;
                }
                p->begin({}, {});
                try {
                    exec(*p, "INSERT INTO t VALUES ($1, $2)", {t, i});
                    p->commit({});
                    ++committed;
                } catch (const db::SqlError& e) {
                    if (e.sqlstate() != "40001") {
                        ++unexpected;
                    }
                    p->rollback({});
                    ++failed;
                }
                if (i % 10 == 0) {
                    exec(*p, "SELECT slow()");
                }
            }
        });
    }
    // Probes from the side while the workers run.
    std::thread prober([&] {
        auto c = connect(fake, replica_ep());
        while (!stop) {
            exec(*c, db::detail::kProbeSql);
        }
    });
    for (auto& w : workers) {
        w.join();
    }
    stop = true;
    prober.join();

    CHECK(unexpected == 0);
    CHECK(failed == 5);
    CHECK(serialization.uses() == 5);
    CHECK(committed == kThreads * kIterations - 5);
    CHECK(fake.wal_position().lsn == start.lsn + static_cast<std::uint64_t>(committed.load()));
    CHECK(fake.count("COMMIT") == static_cast<std::size_t>(committed.load()));
    CHECK(fake.count("ROLLBACK") == 5);
    CHECK(fake.calls_on("replica1").size() == static_cast<std::size_t>(kThreads * kIterations));
    CHECK(fake.count(db::detail::kProbeSql) == 0);
    CHECK(fake.open_connections() == 0);
    CHECK(fake.connections_opened() == static_cast<std::size_t>(2 * kThreads + 1));
}

TEST_CASE("cancel races with statements without harm", "[db][fake]") {
    FakeBackend fake;
    fake.on("SELECT wait()").delays(10s);
    constexpr int kRounds = 20;
    auto c = connect(fake, primary_ep());
    std::atomic<bool> done{false};
    std::thread canceller([&] {
        while (!done) {
            if (fake.wait_for_running(1, 1ms)) {
                c->cancel();
            }
        }
    });
    int cancelled = 0;
    for (int i = 0; i < kRounds; ++i) {
        try {
            exec(*c, "SELECT wait()");
        } catch (const db::QueryTimeout& e) {
            CHECK_FALSE(e.client_side());
            ++cancelled;
        }
        exec(*c, "SELECT 1");
    }
    done = true;
    canceller.join();
    CHECK(cancelled == kRounds);
    CHECK(c->is_alive());
}
