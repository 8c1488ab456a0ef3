// The fault matrix against the real primary, part 2: faults while the statement runs on the
// server — a cancel landing late, the session terminated (FATAL 57P01), the client deadline,
// a stalled network. Part 1 is fault_matrix_pgtest.cpp; docs/fault-matrix.md is the table.

#include <random>
#include <thread>

#include "matrix_util.hpp"

using namespace std::chrono_literals;
using namespace sparc::pgtest;

namespace {

// Does `action` once the statement of `application` sleeps on the server, on a thread of its
// own; join() before checking anything.
class WhenRunning {
  public:
    WhenRunning(std::string application, std::function<void(int pid)> action)
        : thread_([this, application = std::move(application), action = std::move(action)] {
              try {
                  pid_ = running_pid(application);
                  if (pid_ != 0) action(pid_);
              } catch (const std::exception& e) {
                  error_ = e.what();  // psql failed: reported by join()
              }
          }) {}
    ~WhenRunning() {
        if (thread_.joinable()) thread_.join();
    }
    WhenRunning(const WhenRunning&) = delete;
    WhenRunning& operator=(const WhenRunning&) = delete;
    /// The pid acted on, 0 if the statement was never seen running.
    int join() {
        if (thread_.joinable()) thread_.join();
        INFO(error_);
        REQUIRE(error_.empty());
        return pid_;
    }

  private:
    int pid_ = 0;
    std::string error_;
    std::thread thread_;
};

// Waits until no statement of `application` runs on the server any more, so that what it
// would still write is written before rows are counted.
void wait_quiet(const std::string& application) {
    REQUIRE(eventually(
        [&] {
            return admin(fmt::format("SELECT count(*) FROM pg_stat_activity WHERE "
                                     "application_name = '{}' AND state = 'active'",
                                     application)) == "0";
        },
        60s));
}

}  // namespace

// ---- Row 4: a cancel landing late. ----

TEST_CASE("matrix row 4: a late cancel never hits the next statement on the connection",
          "[matrix]") {
    const std::string app = "mx-late-cancel";
    MarkerTable table("mx_late_cancel");
    // One connection, so the follow-up runs where the cancel was aimed.
    CountedPool p(matrix_config(app));
    constexpr auto kDeadline = 100ms;
    constexpr int kRounds = 200;
    std::mt19937 rng(14);
    std::uniform_int_distribution<int> around(-40, 40);
    int timed_out = 0;
    int finished = 0;
    int followups_cancelled = 0;
    int followups_ok = 0;
    std::vector<std::string> other_errors;
    for (int round = 0; round < kRounds; ++round) {
        // A statement that finishes just around its client deadline: its result often arrives
        // while the cancel request is on its way.
        const double seconds = static_cast<double>(kDeadline.count() + around(rng)) / 1000.0;
        const auto main = outcome_of(
            [&] { p->query("SELECT pg_sleep($1::float8)", {seconds}, {.timeout = kDeadline}); });
        if (main.type == "QueryTimeout") {
            ++timed_out;
        } else if (main.returned()) {
            ++finished;
        } else {
            other_errors.push_back(main.describe());
        }
        // The next statement on that connection, with all the time it needs: a cancel that
        // reaches it was aimed at the statement before.
        const auto marker = table.marker();
        const auto next = outcome_of([&] {
            p->query("INSERT INTO mx_late_cancel SELECT $1::text FROM pg_sleep(0.03)", {marker},
                     {.timeout = 20s});
        });
        if (next.returned()) {
            ++followups_ok;
        } else if (next.sqlstate == "57014") {
            ++followups_cancelled;
        } else {
            other_errors.push_back("follow-up: " + next.describe());
        }
    }
    INFO("main statements: " << timed_out << " timed out, " << finished << " finished; "
                             << "follow-ups: " << followups_ok << " ok, " << followups_cancelled
                             << " cancelled; connections opened " << p.counters.connects.load());
    for (const auto& e : other_errors) UNSCOPED_INFO(e);
    REQUIRE(followups_cancelled == 0);
    REQUIRE(other_errors.empty());
    REQUIRE(table.rows() == followups_ok);
    // The test is only worth something if the deadline was really straddled; a machine too
    // slow (or too fast) for that is worth a warning, not a failure.
    if (timed_out == 0 || finished == 0) WARN("the client deadline was never straddled");
}

// ---- Row 5: the session terminated (FATAL 57P01) while the statement runs. ----

TEST_CASE("matrix row 5: session terminated while the statement runs: never re-run", "[matrix]") {
    const std::string app = "mx-fatal";
    MarkerTable table("mx_fatal");
    for (const Kind kind : kAllKinds) {
        DYNAMIC_SECTION(to_string(kind)) {
            CountedPool p(matrix_config(app));
            const auto marker = table.marker();
            // The row is inserted (and, for the CALL, committed) before the sleep.
            WhenRunning terminator(app, [](int pid) { terminate_pid(pid); });
            const auto cell = run_cell(kind, *p, p.counters, table, marker, {.sleep = 6});
            const int pid = terminator.join();
            REQUIRE(pid != 0);
            wait_quiet(app);
            INFO(to_string(kind) << ": " << cell.describe() << "; terminated pid " << pid
                                 << "; rows " << table.rows(marker));
            switch (kind) {
                case Kind::read:
                case Kind::write:
                case Kind::call:
                    REQUIRE(cell.outcome.type == "ConnectionError");
                    REQUIRE(cell.outcome.sqlstate == "57P01");
                    REQUIRE(cell.outcome.statement_sent);
                    REQUIRE(cell.statements == 1);
                    // The write's transaction was aborted; the CALL had committed its row.
                    if (kind == Kind::write) REQUIRE(table.rows(marker) <= 1);
                    if (kind == Kind::call) REQUIRE(table.rows(marker) == 1);
                    break;
                case Kind::tx:
                case Kind::tx_resolve:
                    REQUIRE(cell.outcome.returned());
                    REQUIRE(cell.runs == 2);
                    REQUIRE(table.rows(marker) == 1);
                    break;
            }
            REQUIRE(p->query("SELECT 1").front()[0].as<int>() == 1);
        }
    }
}

// ---- Row 6: the client deadline passes while the statement runs on the server. ----

TEST_CASE("matrix row 6: client deadline while the statement runs", "[matrix]") {
    const std::string app = "mx-deadline";
    MarkerTable table("mx_deadline");
    for (const Kind kind : kAllKinds) {
        DYNAMIC_SECTION(to_string(kind)) {
            CountedPool p(matrix_config(app));
            const auto marker = table.marker();
            // The CALL's deadline leaves time for its insert and COMMIT; the write sleeps first.
            const Shape shape{
                .sleep = 5, .sleep_first = true, .timeout = kind == Kind::call ? 2000ms : 500ms};
            const auto cell = run_cell(kind, *p, p.counters, table, marker, shape);
            wait_quiet(app);  // a statement the server did not cancel would still write
            INFO(to_string(kind) << ": " << cell.describe() << "; connections opened "
                                 << p.counters.connects.load() << "; rows " << table.rows(marker));
            REQUIRE(cell.outcome.type == "QueryTimeout");
            REQUIRE(cell.outcome.client_side);
            switch (kind) {
                case Kind::read:
                    break;
                case Kind::write:
                    REQUIRE(cell.statements == 1);
                    REQUIRE(table.rows(marker) == 0);
                    break;
                case Kind::call:
                    REQUIRE(cell.statements == 1);
                    REQUIRE(table.rows(marker) <= 1);
                    break;
                case Kind::tx:
                case Kind::tx_resolve:
                    REQUIRE(cell.runs == 1);  // no retry_if: never run again
                    REQUIRE(table.rows(marker) == 0);
                    break;
            }
            // Reused if the server confirmed the cancel, else replaced: the pool of one works.
            REQUIRE(p->query("SELECT 1").front()[0].as<int>() == 1);
        }
    }
}

TEST_CASE("matrix row 6: client deadline in a transaction body: retry_if may run fn again",
          "[matrix]") {
    const std::string app = "mx-deadline-retry-if";
    MarkerTable table("mx_deadline_retry_if");
    CountedPool p(matrix_config(app));
    const auto marker = table.marker();
    Shape shape{.sleep = 5, .timeout = 500ms};
    int asked = 0;
    shape.retry_if = [&](const db::Error& e) {
        ++asked;
        return dynamic_cast<const db::QueryTimeout*>(&e) != nullptr;
    };
    const auto cell = run_cell(Kind::tx, *p, p.counters, table, marker, shape);
    INFO(cell.describe());
    REQUIRE(cell.outcome.returned());
    REQUIRE(asked == 1);
    REQUIRE(cell.runs == 2);
    REQUIRE(table.rows(marker) == 1);
}

// ---- Row 7: the network stalls while the statement runs. ----

TEST_CASE("matrix row 7: stalled network while the statement runs", "[matrix]") {
    const std::string app = "mx-stall";
    MarkerTable table("mx_stall");
    for (const Kind kind : kAllKinds) {
        DYNAMIC_SECTION(to_string(kind)) {
            auto cfg = matrix_config(app);
            set_query_timeout(cfg, 8s);
            cfg.connection_timeout = 3s;
            ProxiedMatrixPool p(cfg);
            const auto marker = table.marker();
            // The server finishes the statement (a sleep shorter than the client deadline), but
            // its answer is held. The sleep is long enough for the staller, which polls the
            // server with psql, to see it running on a loaded machine.
            WhenRunning staller(app, [&](int) { p.proxy.stall(true); });
            const auto cell =
                run_cell(kind, *p, p.counters, table, marker, {.sleep = 4, .tx_timeout = 20s});
            const int pid = staller.join();
            p.proxy.stall(false);
            wait_quiet(app);
            INFO(to_string(kind) << ": " << cell.describe() << "; stalled at pid " << pid
                                 << "; rows " << table.rows(marker));
            REQUIRE(pid != 0);
            // Generous: the call must end at all, not hang with the network.
            REQUIRE(cell.outcome.took < 30s);
            REQUIRE(cell.outcome.type == "QueryTimeout");
            REQUIRE(cell.outcome.client_side);
            if (kind == Kind::read) {
                REQUIRE(cell.statements == 1);
            } else if (kind == Kind::write || kind == Kind::call) {
                REQUIRE(cell.statements == 1);
                REQUIRE(table.rows(marker) <= 1);
            } else {
                REQUIRE(cell.runs == 1);
                REQUIRE(table.rows(marker) == 0);  // never committed
            }
            // After the stall the pool serves again (the stalled connection was discarded).
            REQUIRE(p->query("SELECT 1").front()[0].as<int>() == 1);
        }
    }
}

TEST_CASE("matrix row 7: stalled network while COMMIT is in flight", "[matrix]") {
    const std::string app = "mx-stall-commit";
    MarkerTable table("mx_stall_commit");
    for (const Kind kind : kTransactionKinds) {
        DYNAMIC_SECTION(to_string(kind)) {
            auto cfg = matrix_config(app);
            set_query_timeout(cfg, 2s);
            cfg.connection_timeout = 3s;
            ProxiedMatrixPool p(cfg);
            const auto marker = table.marker();
            // The network stays stalled until the call ends: resolve_unknown_outcome cannot
            // reach the server either.
            Shape shape{.tx_timeout = 10s};
            shape.before_commit = [&] { p.proxy.stall(true); };
            const auto cell = run_cell(kind, *p, p.counters, table, marker, shape);
            p.proxy.stall(false);
            REQUIRE(eventually([&] { return sessions(app) <= 1; }));
            INFO(to_string(kind) << ": " << cell.describe() << "; rows " << table.rows(marker));
            REQUIRE(cell.outcome.took < 30s);
            REQUIRE(cell.outcome.type == "TransactionOutcomeUnknown");
            REQUIRE(cell.runs == 1);
            REQUIRE(table.rows(marker) <= 1);
            REQUIRE(p->query("SELECT 1").front()[0].as<int>() == 1);
        }
    }
}
