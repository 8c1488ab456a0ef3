// The fault matrix against the real primary, part 1: faults before the statement is sent,
// after it is sent (the answer lost), and while COMMIT is in flight. Part 2 (a cancel landing
// late, FATAL while running, the client deadline, a stalled network) is in
// fault_matrix_running_pgtest.cpp; docs/fault-matrix.md is the table both check.
//
// The promise: the pool never runs a statement twice once any byte of it may have reached the
// server, never reports a possibly committed transaction as a plain failure, and gives each
// failure one precise error type. Each cell counts the marker rows on the server (through
// psql, never through the pool under test) and the statements the pool ran.

#include "matrix_util.hpp"

using namespace std::chrono_literals;
using namespace sparc::pgtest;

namespace {

// Waits until the pool holds its one connection, idle, so a fault can hit it.
void wait_one_idle(db::Database& pool) {
    REQUIRE(eventually([&] {
        const auto s = pool.stats();
        return s.total == 1 && s.idle == 1;
    }));
}

// Row 1, after the fault: the statement runs once, on a fresh connection, and succeeds.
void require_rerun_on_fresh_connection(Kind kind, const Cell& cell, const MarkerTable& table,
                                       const std::string& marker, const Counters& counters,
                                       int connects_before) {
    INFO(to_string(kind) << ": " << cell.describe());
    REQUIRE(cell.outcome.returned());
    if (kind != Kind::read) REQUIRE(table.rows(marker) == 1);
    if (kind == Kind::tx || kind == Kind::tx_resolve) REQUIRE(cell.runs == 1);
    // The dead connection was met and replaced: the fault was really in the statement's way.
    REQUIRE(counters.connects.load() > connects_before);
}

}  // namespace

// ---- Row 1: before send. The connection died while idle; checkout finds out. ----

TEST_CASE("matrix row 1: session terminated while idle: re-run on a fresh connection", "[matrix]") {
    const std::string app = "mx-before-terminate";
    MarkerTable table("mx_before_terminate");
    for (const Kind kind : kAllKinds) {
        DYNAMIC_SECTION(to_string(kind)) {
            CountedPool p(matrix_config(app));
            wait_one_idle(*p);
            const int connects = p.counters.connects.load();
            REQUIRE(terminate_sessions(app) >= 1);
            REQUIRE(eventually([&] { return sessions(app) == 0; }));
            const auto marker = table.marker();
            const auto cell = run_cell(kind, *p, p.counters, table, marker);
            require_rerun_on_fresh_connection(kind, cell, table, marker, p.counters, connects);
        }
    }
}

TEST_CASE("matrix row 1: connection reset while idle: re-run on a fresh connection", "[matrix]") {
    const std::string app = "mx-before-reset";
    MarkerTable table("mx_before_reset");
    for (const Kind kind : kAllKinds) {
        DYNAMIC_SECTION(to_string(kind)) {
            ProxiedMatrixPool p(matrix_config(app));
            wait_one_idle(*p);
            const int connects = p.counters.connects.load();
            p.proxy.cut_all();
            const auto marker = table.marker();
            const auto cell = run_cell(kind, *p, p.counters, table, marker);
            require_rerun_on_fresh_connection(kind, cell, table, marker, p.counters, connects);
        }
    }
}

// ---- Row 2: after send. The server ran the statement; its answer was dropped. ----

TEST_CASE("matrix row 2: answer lost after the statement was sent: never re-run", "[matrix]") {
    const std::string app = "mx-after-send";
    MarkerTable table("mx_after_send");
    for (const Kind kind : kAllKinds) {
        DYNAMIC_SECTION(to_string(kind)) {
            ProxiedMatrixPool p(matrix_config(app));
            const auto marker = table.marker();
            // The marker crosses the wire in the Bind message of the statement that carries
            // it: the server executes that statement, then the connection is cut.
            p.proxy.cut_after_client_sends(marker);
            const auto cell = run_cell(kind, *p, p.counters, table, marker);
            REQUIRE(p.proxy.wait_for_triggers(1, 10s));
            INFO(to_string(kind) << ": " << cell.describe() << "; rows " << table.rows(marker));
            switch (kind) {
                case Kind::read:
                case Kind::write:
                case Kind::call:
                    REQUIRE(cell.outcome.type == "ConnectionError");
                    REQUIRE(cell.outcome.statement_sent);
                    REQUIRE(cell.statements == 1);
                    // The write and the CALL happened exactly once: the server did it.
                    if (kind != Kind::read) REQUIRE(table.rows(marker) == 1);
                    break;
                case Kind::tx:
                case Kind::tx_resolve:
                    // The body's statement was lost before COMMIT: the server rolled back, and
                    // the whole function ran again.
                    REQUIRE(cell.outcome.returned());
                    REQUIRE(cell.runs == 2);
                    REQUIRE(table.rows(marker) == 1);
                    break;
            }
            // The pool serves again.
            REQUIRE(p->query("SELECT 1").front()[0].as<int>() == 1);
        }
    }
}

// ---- Row 3: COMMIT in flight. ----

TEST_CASE("matrix row 3: connection cut after COMMIT was sent", "[matrix]") {
    const std::string app = "mx-commit-cut";
    MarkerTable table("mx_commit_cut");
    for (const Kind kind : kTransactionKinds) {
        DYNAMIC_SECTION(to_string(kind)) {
            ProxiedMatrixPool p(matrix_config(app));
            const auto marker = table.marker();
            p.proxy.cut_after_client_sends(kCommitOnWire);
            const auto cell = run_cell(kind, *p, p.counters, table, marker);
            REQUIRE(p.proxy.wait_for_triggers(1, 10s));
            INFO(to_string(kind) << ": " << cell.describe() << "; rows " << table.rows(marker));
            REQUIRE(cell.runs == 1);
            REQUIRE(table.rows(marker) == 1);  // the server committed
            if (kind == Kind::tx) {
                REQUIRE(cell.outcome.type == "TransactionOutcomeUnknown");
            } else {
                REQUIRE(cell.outcome.returned());  // txid_status said committed
            }
        }
    }
}

TEST_CASE("matrix row 3: client deadline passes while COMMIT is in flight", "[matrix]") {
    const std::string app = "mx-commit-deadline";
    MarkerTable table("mx_commit_deadline");
    for (const Kind kind : kTransactionKinds) {
        DYNAMIC_SECTION(to_string(kind)) {
            auto cfg = matrix_config(app);
            set_query_timeout(cfg, 1s);  // COMMIT's client deadline
            ProxiedMatrixPool p(cfg);
            // The network stalls as fn returns: COMMIT leaves the client but no answer comes
            // back. Once the client gives up, the network heals, so that any further attempt
            // (which must not happen) would succeed and show as a second row.
            std::atomic<bool> stalled{false};
            p.counters.on_query = [&](const db::QueryEvent& e) {
                if (e.outcome != db::QueryOutcome::ok && stalled.exchange(false)) {
                    p.proxy.stall(false);
                }
            };
            Shape shape{.tx_timeout = 10s};
            shape.before_commit = [&] {
                stalled = true;
                p.proxy.stall(true);
            };
            int asked = 0;
            shape.retry_if = [&](const db::Error&) { return ++asked > 0; };  // retry anything
            const auto marker = table.marker();
            const auto cell = run_cell(kind, *p, p.counters, table, marker, shape);
            p.proxy.stall(false);
            // Whatever the server does with the stalled COMMIT, it has done it once the
            // session is gone.
            REQUIRE(eventually([&] { return sessions(app) <= 1; }));
            INFO(to_string(kind) << ": " << cell.describe() << "; retry_if asked " << asked
                                 << "; rows " << table.rows(marker));
            // Never a second row, whatever happened.
            REQUIRE(table.rows(marker) <= 1);
            if (kind == Kind::tx_resolve && cell.outcome.returned()) {
                // The pool asked the server (txid_status) once the network healed: committed,
                // or aborted and then run again. Either way the row is there once.
                REQUIRE(table.rows(marker) == 1);
            } else {
                // The client cannot tell whether COMMIT reached the server; retry_if, which
                // says yes to everything, must not make fn run again.
                REQUIRE(cell.outcome.type == "TransactionOutcomeUnknown");
                REQUIRE(cell.runs == 1);
            }
        }
    }
}

TEST_CASE("matrix row 3: a deferred constraint violated at COMMIT is a SqlError, rolled back",
          "[matrix]") {
    const std::string app = "mx-commit-deferred";
    admin(
        "DROP TABLE IF EXISTS mx_deferred_unique, mx_deferred_child, mx_deferred_parent;"
        " CREATE TABLE mx_deferred_unique (id int, marker text,"
        "   CONSTRAINT mx_deferred_unique_id UNIQUE (id) DEFERRABLE INITIALLY DEFERRED);"
        " INSERT INTO mx_deferred_unique VALUES (1, 'seed');"
        " CREATE TABLE mx_deferred_parent (id int PRIMARY KEY);"
        " CREATE TABLE mx_deferred_child (parent int, marker text,"
        "   CONSTRAINT mx_deferred_child_parent FOREIGN KEY (parent)"
        "   REFERENCES mx_deferred_parent DEFERRABLE INITIALLY DEFERRED)");
    struct Case {
        const char* table;
        const char* sqlstate;
    };
    for (const Case c : {Case{"mx_deferred_unique", "23505"}, Case{"mx_deferred_child", "23503"}}) {
        for (const Kind kind : kTransactionKinds) {
            DYNAMIC_SECTION(c.table << ", " << to_string(kind)) {
                CountedPool p(matrix_config(app));
                const std::string marker = fmt::format("mk:{}:{}", c.table, to_string(kind));
                int runs = 0;
                int asked = 0;
                const auto outcome = outcome_of([&] {
                    p->transaction(
                        [&](auto& tx) {
                            ++runs;
                            // Accepted now; the constraint is checked at COMMIT.
                            tx.query(fmt::format("INSERT INTO {} VALUES (1, $1)", c.table),
                                     {marker});
                        },
                        {.retries = 3,
                         .resolve_unknown_outcome = kind == Kind::tx_resolve,
                         .retry_if = [&](const db::Error&) {
                             ++asked;
                             return false;
                         }});
                });
                INFO(outcome.describe() << "; runs " << runs);
                REQUIRE(outcome.type == "SqlError");
                REQUIRE(outcome.sqlstate == c.sqlstate);
                REQUIRE(runs == 1);
                // The server answered COMMIT with an error: it proved the rollback.
                REQUIRE(admin(fmt::format("SELECT count(*) FROM {} WHERE marker = '{}'", c.table,
                                          marker)) == "0");
                REQUIRE(p->query("SELECT 1").front()[0].as<int>() == 1);
            }
        }
    }
}
