#pragma once
// Shared by the fault-matrix and usage tests: marker tables (and a procedure that commits
// inside), pools that count what they do, a pool behind the fault proxy, and finding the
// server session that runs a statement.
//
// Everything that checks an outcome goes to the server through psql, never through the pool
// under test: that pool may be stalled, broken, or the very thing that is wrong.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <fmt/format.h>

#include <sparc_test/fault_proxy.hpp>

#include "pg_util.hpp"

namespace sparc::pgtest {

/// Pool events the matrix counts: statements run (one per attempt), connections opened,
/// replicas marked down, transaction retries.
struct Counters {
    std::atomic<int> statements{0};
    std::atomic<int> statement_errors{0};
    std::atomic<int> connects{0};
    std::atomic<int> hosts_down{0};
    std::atomic<int> retries{0};
    std::function<void(const db::QueryEvent&)> on_query{};  ///< Called after counting.

    /// Hooks that count into this object, which must outlive the pool.
    db::Hooks hooks() {
        db::Hooks h;
        h.on_query = [this](const db::QueryEvent& e) {
            ++statements;
            if (e.outcome != db::QueryOutcome::ok) ++statement_errors;
            if (on_query) on_query(e);
        };
        h.on_connect = [this](const db::ConnectEvent& e) {
            if (e.ok) ++connects;
        };
        h.on_host_state = [this](const db::HostStateEvent& e) {
            if (!e.up) ++hosts_down;
        };
        h.on_retry = [this](const db::RetryEvent&) { ++retries; };
        return h;
    }
};

/// A pool straight to the primary that counts its events. Background probes are rare, so the
/// statement under test is the one that meets a dead connection.
struct CountedPool {
    Counters counters;
    db::PoolConfig cfg;
    std::unique_ptr<db::Database> pool;

    explicit CountedPool(db::PoolConfig config) : cfg(std::move(config)) {
        pool = std::make_unique<db::Database>(cfg, db::PqxxBackend{}, counters.hooks());
    }
    db::Database* operator->() { return pool.get(); }
    db::Database& operator*() { return *pool; }
};

/// A configuration for one test of the matrix: its own application name, a small pool, a
/// health check too rare to find a dead connection before the statement does.
inline db::PoolConfig matrix_config(const std::string& application, std::size_t max = 1) {
    auto cfg = config(application);
    cfg.min_connections = 1;
    cfg.max_connections = max;
    // Row 1's checkout check, on a session that answered a moment ago (docs/fault-matrix.md).
    cfg.alive_bypass_window = std::chrono::milliseconds(0);
    cfg.health_check_period = std::chrono::hours(1);
    cfg.statement_timeout = std::chrono::seconds(20);
    cfg.query_timeout = std::chrono::seconds(30);
    cfg.connection_timeout = std::chrono::seconds(10);
    return cfg;
}

/// Sets the client's query_timeout, and the server's statement_timeout just below it (the pool
/// requires the server to give up first).
inline void set_query_timeout(db::PoolConfig& cfg, std::chrono::milliseconds timeout) {
    cfg.query_timeout = timeout;
    cfg.statement_timeout = timeout * 4 / 5;
}

/// A pool whose primary is reached through a fault-injecting proxy (in clear, so needles
/// match), counting its events. The proxy outlives the pool.
struct ProxiedMatrixPool {
    sparc::testing::FaultProxy proxy{"127.0.0.1", cluster().port(Node::primary)};
    Counters counters;
    db::PoolConfig cfg;
    std::unique_ptr<db::Database> pool;

    explicit ProxiedMatrixPool(db::PoolConfig config) : cfg(std::move(config)) {
        auto ep = db::Endpoint::parse(cluster().primary_url);
        ep.set_option("host", "127.0.0.1");
        ep.set_option("port", std::to_string(proxy.port()));
        ep.set_option("sslmode", "disable");
        cfg.primary = ep;
        pool = std::make_unique<db::Database>(cfg, db::PqxxBackend{}, counters.hooks());
    }
    ~ProxiedMatrixPool() {
        proxy.stall(false);  // let a blocked cancel or close finish before the pool goes
        pool.reset();
    }
    db::Database* operator->() { return pool.get(); }
    db::Database& operator*() { return *pool; }
};

/// Runs SQL on the primary as the superuser, outside every pool.
inline std::string admin(const std::string& sql) { return cluster().psql(Node::primary, sql); }

/// A fresh table of marker rows (no unique key, so a statement run twice shows as two rows)
/// and `<name>_call(marker, seconds)`: a procedure that inserts a marker row, COMMITs, then
/// sleeps.
class MarkerTable {
  public:
    explicit MarkerTable(std::string name) : name_(std::move(name)) {
        admin(fmt::format(
            "DROP TABLE IF EXISTS {0}; DROP PROCEDURE IF EXISTS {0}_call;"
            " CREATE TABLE {0} (marker text NOT NULL);"
            " CREATE PROCEDURE {0}_call(m text, seconds float8) LANGUAGE plpgsql AS $$"
            " BEGIN INSERT INTO {0} VALUES (m); COMMIT; PERFORM pg_sleep(seconds); END $$",
            name_));
    }
    const std::string& name() const noexcept { return name_; }

    /// A marker no other statement of the run sends: also the proxy's needle, since it
    /// crosses the wire in the Bind message of the statement that carries it.
    std::string marker() { return fmt::format("mk:{}:{}", name_, ++markers_); }

    /// Committed rows with this marker.
    int rows(const std::string& marker) const {
        return std::stoi(
            admin(fmt::format("SELECT count(*) FROM {} WHERE marker = '{}'", name_, marker)));
    }
    int rows() const { return std::stoi(admin(fmt::format("SELECT count(*) FROM {}", name_))); }

    /// The statement kinds of the matrix, each carrying `$1` = marker.
    std::string read_sql() const { return "SELECT $1::text AS marker"; }
    std::string write_sql() const { return fmt::format("INSERT INTO {} VALUES ($1)", name_); }
    /// The write, with a sleep of `$2` seconds before the row is inserted.
    std::string slow_write_sql() const {
        return fmt::format("INSERT INTO {} SELECT $1::text FROM pg_sleep($2::float8)", name_);
    }
    /// The write, with the row inserted before a sleep of `$2` seconds.
    std::string write_then_sleep_sql() const {
        return fmt::format(
            "WITH ins AS (INSERT INTO {} VALUES ($1) RETURNING 1) SELECT pg_sleep($2::float8)"
            " FROM ins",
            name_);
    }
    std::string call_sql() const { return fmt::format("CALL {}_call($1, $2::float8)", name_); }

  private:
    std::string name_;
    int markers_ = 0;
};

/// The pid of a session of `application` that is running a statement (other than psql's own),
/// once one sleeps in pg_sleep; 0 if none did within `limit`.
inline int running_pid(const std::string& application,
                       std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    int pid = 0;
    eventually(
        [&] {
            const auto out = admin(fmt::format(
                "SELECT coalesce(min(pid), 0) FROM pg_stat_activity WHERE application_name = '{}'"
                " AND state = 'active' AND wait_event = 'PgSleep' AND pid <> pg_backend_pid()",
                application));
            pid = std::stoi(out);
            return pid != 0;
        },
        limit);
    return pid;
}

/// Terminates one server session (pg_terminate_backend: FATAL 57P01 to the client).
inline bool terminate_pid(int pid) {
    return admin(fmt::format("SELECT pg_terminate_backend({})", pid)) == "t";
}

/// Server sessions of `application`.
inline int sessions(const std::string& application) {
    return std::stoi(admin(fmt::format(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{}'", application)));
}

/// What a call ended with, for assertions and for the report of a failing cell.
struct Outcome {
    std::string type = "returned";  ///< "returned" or the db:: error class
    std::string what;
    std::string sqlstate;
    bool statement_sent = false;
    bool client_side = false;
    std::chrono::milliseconds took{0};

    bool returned() const { return type == "returned"; }
    std::string describe() const {
        return fmt::format("{} after {} ms (sqlstate '{}', statement_sent {}, client_side {}): {}",
                           type, took.count(), sqlstate, statement_sent, client_side, what);
    }
};

/// Runs `f` and records how it ended; any db::Error is caught and classified (most derived
/// class first).
template <typename F>
Outcome outcome_of(F&& f) {
    Outcome o;
    const auto start = std::chrono::steady_clock::now();
    try {
        f();
    } catch (const db::TransactionOutcomeUnknown& e) {
        o.type = "TransactionOutcomeUnknown";
        o.what = e.what();
    } catch (const db::QueryTimeout& e) {
        o.type = "QueryTimeout";
        o.what = e.what();
        o.sqlstate = e.sqlstate();
        o.client_side = e.client_side();
    } catch (const db::SqlError& e) {
        o.type = "SqlError";
        o.what = e.what();
        o.sqlstate = e.sqlstate();
    } catch (const db::ConnectionError& e) {
        o.type = "ConnectionError";
        o.what = e.what();
        o.sqlstate = e.sqlstate();
        o.statement_sent = e.statement_sent();
    } catch (const db::UsageError& e) {
        o.type = "UsageError";
        o.what = e.what();
        o.sqlstate = e.sqlstate();
    } catch (const db::PoolTimeout& e) {
        o.type = "PoolTimeout";
        o.what = e.what();
    } catch (const db::Error& e) {
        o.type = "Error";
        o.what = e.what();
    }
    o.took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    return o;
}

/// The statement kinds of the matrix (its columns).
enum class Kind { read, write, call, tx, tx_resolve };
inline constexpr Kind kAutocommitKinds[] = {Kind::read, Kind::write, Kind::call};
inline constexpr Kind kTransactionKinds[] = {Kind::tx, Kind::tx_resolve};
inline constexpr Kind kAllKinds[] = {Kind::read, Kind::write, Kind::call, Kind::tx,
                                     Kind::tx_resolve};

inline const char* to_string(Kind kind) {
    switch (kind) {
        case Kind::read:
            return "autocommit read";
        case Kind::write:
            return "autocommit write";
        case Kind::call:
            return "CALL (commits inside)";
        case Kind::tx:
            return "transaction()";
        case Kind::tx_resolve:
            return "transaction(resolve_unknown_outcome)";
    }
    return "?";
}

/// How one cell runs its statement.
struct Shape {
    /// Seconds the server sleeps in the statement (autocommit kinds: in the statement itself;
    /// transactions: in a statement after the insert, on the first attempt only).
    double sleep = 0;
    /// Autocommit write: sleep before inserting (else the row is inserted, then the sleep).
    bool sleep_first = false;
    /// Client query timeout of the statement that sleeps (0: the pool's query_timeout).
    std::chrono::milliseconds timeout{0};
    /// Transactions: the whole call's timeout.
    std::chrono::milliseconds tx_timeout{std::chrono::seconds(30)};
    /// Transactions: called at the end of fn on the first attempt (COMMIT comes next).
    std::function<void()> before_commit{};
    /// Transactions: TransactionOptions::retry_if.
    std::function<bool(const db::Error&)> retry_if{};
};

/// What one cell observed.
struct Cell {
    Outcome outcome;
    int runs = 0;        ///< transactions: times fn ran
    int statements = 0;  ///< statements the pool ran (attempts included), from on_query
    std::string describe() const {
        return fmt::format("{}; fn runs {}, statements run {}", outcome.describe(), runs,
                           statements);
    }
};

/// Runs `kind`'s statement carrying `marker` on `pool` (counted by `counters`), shaped by
/// `shape`; never throws a db::Error.
inline Cell run_cell(Kind kind, db::Database& pool, Counters& counters, const MarkerTable& table,
                     const std::string& marker, const Shape& shape = {}) {
    Cell cell;
    const int before = counters.statements.load();
    const db::QueryOptions options{.timeout = shape.timeout};
    cell.outcome = outcome_of([&] {
        switch (kind) {
            case Kind::read:
                if (shape.sleep > 0) {
                    pool.query("SELECT $1::text AS marker, pg_sleep($2::float8)",
                               {marker, shape.sleep}, options);
                } else {
                    pool.query(table.read_sql(), {marker}, options);
                }
                return;
            case Kind::write:
                if (shape.sleep > 0) {
                    pool.query(
                        shape.sleep_first ? table.slow_write_sql() : table.write_then_sleep_sql(),
                        {marker, shape.sleep}, options);
                } else {
                    pool.query(table.write_sql(), {marker}, options);
                }
                return;
            case Kind::call:
                pool.query(table.call_sql(), {marker, shape.sleep}, options);
                return;
            case Kind::tx:
            case Kind::tx_resolve:
                pool.transaction(
                    [&](auto& tx) {
                        ++cell.runs;
                        tx.query(table.write_sql(), {marker});
                        if (cell.runs > 1) return;
                        if (shape.sleep > 0) {
                            tx.query("SELECT pg_sleep($1::float8)", {shape.sleep}, options);
                        }
                        if (shape.before_commit) shape.before_commit();
                    },
                    {.timeout = shape.tx_timeout,
                     .retries = 3,
                     .resolve_unknown_outcome = kind == Kind::tx_resolve,
                     .retry_if = shape.retry_if,
                     .backoff_base = std::chrono::milliseconds(1),
                     .backoff_max = std::chrono::milliseconds(20)});
                return;
        }
    });
    cell.statements = counters.statements.load() - before;
    return cell;
}

}  // namespace sparc::pgtest
