#pragma once
/// @file fake_backend.hpp
/// A scriptable in-memory Backend for unit tests: script results and failures by SQL, simulate
/// a primary and replicas going down, coming back and lagging, and assert on every statement
/// with the host it ran on.
///
/// ```cpp
/// #include <sparc/db/testing/fake_backend.hpp>
/// namespace db = sparc::db;
/// using namespace std::chrono_literals;
///
/// db::testing::FakeBackend fake;                       // copies share state
/// fake.replica("replica1").lag(200ms);                 // "primary" is created on first use
/// fake.on("SELECT id, title FROM videos WHERE tenant_id = $1")
///     .returns({"id", "title"}, {{"1", "Intro"}, {"2", std::nullopt}});
/// fake.on_prefix("UPDATE users").affects(1);
/// fake.on_prefix("UPDATE users").once().fails("40001", "could not serialize access");
///
/// db::ConnectionPool<db::testing::FakeBackend> pool(cfg, fake);
/// pool.transaction([](auto& tx) { return tx.query("UPDATE users SET n = 1").affected_rows(); });
///
/// REQUIRE(fake.count(std::regex("^UPDATE users")) == 2);  // retried once after 40001
/// REQUIRE(fake.count("COMMIT") == 1);
/// for (const auto& call : fake.calls_on("replica1")) REQUIRE(call.sql.starts_with("SELECT"));
///
/// fake.fail_next_commit(db::testing::CommitFailure::after_send);  // committed, reply lost
/// fake.host("replica1").down();                        // refuses and breaks connections
/// ```
///
/// How a statement is answered, in order:
/// 1. A connection that is closed or broken throws ConnectionError(statement_sent = false).
/// 2. Inside a failed transaction, everything but COMMIT / ROLLBACK / ROLLBACK TO throws
///    SqlError 25P02, as PostgreSQL does.
/// 3. A write (INSERT, UPDATE, DELETE, MERGE, CREATE, DROP, ALTER, TRUNCATE, ...) on a replica
///    or inside a READ ONLY transaction throws SqlError 25006 (see enforce_read_only()).
/// 4. The most recently added matching rule that is not exhausted applies (newer rules override
///    older ones, as in gMock). Its delay runs first; then it answers, fails, drops the
///    connection, or, when it only delays, lets the next step answer.
/// 5. Built-in answers: BEGIN / COMMIT / ROLLBACK change the transaction state, and the pool's
///    own statements in detail/sql.hpp (probe, ping, txid_current, txid_status, current WAL
///    position) are answered from the simulated hosts.
/// 6. Anything else returns an empty Result, or throws SqlError 42601 in strict() mode.
///
/// Built-in answers use PostgreSQL's column names: the probe returns `pg_is_in_recovery` ("t" on
/// replicas), `pg_current_wal_lsn` (replayed position on replicas, as "X/Y") and `coalesce`
/// (Host::lag() in ms); the current WAL position fails with 55000 on a replica, as in PostgreSQL.
///
/// The simulated cluster has one WAL position: each committed transaction (or autocommit
/// statement) that wrote on a primary advances it by one. A replica has replayed everything
/// unless its replay is paused or pinned. Transaction ids are assigned at BEGIN.
///
/// A statement inside a delay ends early when:
/// - the client deadline (ExecSettings::deadline) passes: the client's cancel request is
///   answered, as PostgreSQL answers it: QueryTimeout(client_side, cancelled, 57014), the
///   connection stays usable and an open transaction fails. On a host that ignore_cancel()s,
///   or with no cancel_grace, the client gives up after cancel_grace: QueryTimeout
///   (client_side, not cancelled) and the connection is broken. A COMMIT is never cancelled:
///   at the deadline the connection is broken and the COMMIT still commits;
/// - the server's statement_timeout (ConnectSettings) passes, or cancel() is called:
///   QueryTimeout (57014, server side), the connection stays usable and an open transaction
///   fails. A delayed COMMIT stands for a WAL flush or a synchronous-replication wait, which
///   PostgreSQL's statement_timeout does not interrupt and a cancel does not undo: it ignores
///   the statement_timeout, and a cancel() makes it complete, committed;
/// - its host goes down or terminates its connections: ConnectionError(statement_sent,
///   SQLSTATE 57P01).
///
/// The fake simulates a server and nothing more: which failures the pool runs again, which
/// outcomes are unknown and which connections it keeps are decided by safety.hpp alone, for
/// the fake and the real backend alike.

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <sparc/db/backend.hpp>
#include <sparc/db/detail/sql.hpp>
#include <sparc/db/endpoint.hpp>
#include <sparc/db/errors.hpp>
#include <sparc/db/hooks.hpp>
#include <sparc/db/options.hpp>
#include <sparc/db/params.hpp>
#include <sparc/db/pool.hpp>
#include <sparc/db/result.hpp>

namespace sparc::db::testing {

/// One statement the fake received, in the order received.
struct Call {
    std::string host;  ///< Host key: the endpoint's host, plus ":port" unless the port is 5432.
    HostRole role = HostRole::primary;  ///< The host's role when the statement ran.
    std::string sql;                    ///< Exact text ("BEGIN ...", "COMMIT" included).
    /// Bound parameters as text (nullopt is NULL; a db::Bytes parameter, sent in binary, as
    /// the bytea hex text `\x00ff` the server would print).
    std::vector<std::optional<std::string>> params;
    std::uint64_t connection_id = 0;          ///< Unique across the fake.
    bool in_transaction = false;              ///< Whether a transaction block was open.
    std::optional<std::int64_t> txid;         ///< The open transaction's id, if any.
    QueryOutcome outcome = QueryOutcome::ok;  ///< How it ended (ok while still running).
    std::string sqlstate;  ///< The server's SQLSTATE, when it sent one (57P01 for a terminate).
    /// For a COPY ... FROM STDIN (copy_in()): the rows the server received, each value as the
    /// text the server parses (nullopt is NULL; db::Bytes as bytea hex `\x00ff`), in order.
    /// Filled once all the data arrived; empty when the COPY failed or was aborted before.
    std::vector<std::vector<std::optional<std::string>>> copy_rows;
};

/// A notification sent through the fake with pg_notify() (as Client::notify() sends it).
struct SentNotification {
    std::string channel;
    std::string payload;

    friend bool operator==(const SentNotification&, const SentNotification&) = default;
};

/// How fail_next_commit() breaks the next COMMIT.
enum class CommitFailure {
    before_send,  ///< Connection lost before COMMIT reached the server: the tx is rolled back.
    after_send,   ///< Connection lost after the server committed: the outcome is unknown.
};

namespace detail {

/// What a rule does once its delay has passed.
enum class RuleAction { fall_through, answer, fail, drop, respond };

/// Which statements a rule matches.
enum class RuleMatch { exact, prefix, regex, any, begin, commit, rollback };

/// The statement classes the fake treats differently.
enum class StatementKind { begin, commit, rollback, rollback_to, session, other };

/// A scripted rule: what it matches, how often, and what it does.
struct RuleData {
    RuleMatch match = RuleMatch::any;
    std::string text;
    std::regex pattern;
    std::optional<std::string> host;
    std::optional<std::vector<std::optional<std::string>>> params;
    std::optional<std::size_t> times;
    std::size_t uses = 0;
    std::optional<bool> writes;
    std::chrono::milliseconds delay{0};
    RuleAction action = RuleAction::fall_through;
    std::vector<std::string> columns;
    std::vector<std::vector<std::optional<std::string>>> rows;
    std::uint64_t affected = 0;
    std::string sqlstate;
    std::string message;
    bool statement_sent = false;
    std::function<Result(const Call&)> respond;
    // A failure after this many rows of the answer (fails_after, drops_connection_after).
    std::optional<std::size_t> rows_before_failure;
    bool failure_drops = false;
    std::string failure_sqlstate;
    std::string failure_message;

    /// Whether this rule applies to the statement (and is not used up).
    bool matches(const Call& call, StatementKind kind) const;
};

/// A simulated server's configuration and counters.
struct HostData {
    HostRole role = HostRole::primary;
    bool down = false;
    bool fenced = false;         // default_transaction_read_only on: writes fail with 25006
    bool ignore_cancel = false;  // cancel requests go unanswered (a frozen host)
    std::uint64_t runs = 1;      // Server runs: down() ends one (pg_postmaster_start_time changes).
    bool refuse = false;
    std::size_t refuse_next = 0;
    std::size_t max_connections = 0;
    std::chrono::milliseconds connect_latency{0};
    std::chrono::milliseconds lag{0};
    std::optional<std::uint64_t> replayed;  // Pinned or paused replay position.
    std::uint32_t timeline = 1;             // A primary's; a promotion starts a new one.
    bool diverged = false;  // Replayed WAL a new timeline never had: its position stands.
    // A primary's WAL senders as its probe reports them; unset: its replicas that are up and
    // have not diverged.
    std::optional<std::size_t> wal_senders;
    std::size_t connection_attempts = 0;
    std::size_t connections_opened = 0;
    std::size_t statements_run = 0;
    std::optional<ConnectSettings> last_settings;
};

/// What txid_status() reports.
enum class TxState { in_progress, committed, aborted };

/// One session's server-side state, guarded by State::mutex. The flags that
/// Connection::is_alive() and transaction_status() read are atomics, written under the mutex
/// and read without it: the pool calls those two on every acquire and release, and a shared
/// mutex there would make the fake, not the pool, the bottleneck of a multi-threaded test.
struct ConnData {
    std::uint64_t id = 0;
    std::string host;
    ConnectSettings settings;
    std::atomic<bool> closed{false};
    std::atomic<bool> broken{false};
    std::atomic<bool> running{false};
    bool cancel_requested = false;
    std::string cut;  // why interrupt() cut the session; guarded by State::mutex
    std::atomic<bool> in_tx{false};
    std::atomic<bool> failed{false};
    bool read_only = false;
    bool writes = false;
    std::int64_t txid = 0;
};

/// The simulated cluster's system identifier: every host shares it.
inline constexpr const char* kFakeSystemIdentifier = "7300000000000000001";

/// Where the simulated WAL and transaction ids start.
inline constexpr std::uint64_t kInitialWal = 0x1000000;
inline constexpr std::int64_t kInitialTxid = 1000;

/// Everything the copies of one FakeBackend share, guarded by `mutex`.
struct State {
    mutable std::mutex mutex;
    std::condition_variable wake;  // Delays, cancel(), down(), terminate_connections().
    std::map<std::string, HostData, std::less<>> hosts;
    std::map<std::uint64_t, std::shared_ptr<ConnData>> connections;  // Open ones only.
    std::vector<std::shared_ptr<RuleData>> rules;
    std::deque<Call> calls;
    std::uint64_t first_call_seq = 0;  // Sequence number of calls.front().
    std::uint64_t next_call_seq = 0;
    std::uint64_t next_connection_id = 1;
    std::int64_t next_txid = kInitialTxid;
    std::map<std::int64_t, TxState> txids;
    std::uint64_t wal = kInitialWal;
    std::uint32_t timelines = 1;  // The highest timeline so far.
    std::size_t running = 0;
    bool strict = false;
    bool record_internal = false;
    bool enforce_read_only = true;

    HostData& host(std::string_view name) {
        auto it = hosts.find(name);
        if (it == hosts.end()) {
            it = hosts.emplace(std::string(name), HostData{}).first;
        }
        return it->second;
    }

    std::size_t open_on(std::string_view name) const {
        return static_cast<std::size_t>(
            std::count_if(connections.begin(), connections.end(),
                          [&](const auto& kv) { return kv.second->host == name; }));
    }

    std::uint64_t replayed(const HostData& h) const {
        if (h.role == HostRole::primary) {
            return wal;
        }
        if (h.diverged) return *h.replayed;
        return h.replayed ? std::min(*h.replayed, wal) : wal;
    }

    // Ends the connection's transaction (if any) with the given outcome.
    void end_tx(ConnData& c, bool commit) {
        if (!c.in_tx) {
            return;
        }
        txids[c.txid] = commit ? TxState::committed : TxState::aborted;
        if (commit && c.writes) {
            ++wal;
        }
        c.in_tx = c.failed = c.read_only = c.writes = false;
        c.txid = 0;
    }

    // The server side of a lost connection: its open transaction is rolled back.
    void break_connection(ConnData& c) {
        end_tx(c, false);
        c.broken = true;
    }

    void break_host(std::string_view name) {
        for (auto& [id, c] : connections) {
            if (c->host == name) {
                break_connection(*c);
            }
        }
        wake.notify_all();
    }

    Call* recorded(std::optional<std::uint64_t> seq) {
        if (!seq || *seq < first_call_seq || *seq >= next_call_seq) {
            return nullptr;
        }
        return &calls[static_cast<std::size_t>(*seq - first_call_seq)];
    }
};

inline std::string upper_word(std::string_view& sql) {
    std::size_t i = 0;
    while (i < sql.size() && (std::isspace(static_cast<unsigned char>(sql[i])) != 0 ||
                              sql[i] == '(' || sql[i] == ';')) {
        ++i;
    }
    std::size_t j = i;
    while (j < sql.size() && std::isalpha(static_cast<unsigned char>(sql[j])) != 0) {
        ++j;
    }
    std::string word(sql.substr(i, j - i));
    for (auto& ch : word) {
        ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    }
    sql.remove_prefix(j);
    return word;
}

inline StatementKind classify(std::string_view sql) {
    const auto first = upper_word(sql);
    if (first == "BEGIN" || first == "START") {
        return StatementKind::begin;
    }
    auto second = upper_word(sql);
    if (second == "WORK" || second == "TRANSACTION") {
        second = upper_word(sql);
    }
    if (first == "COMMIT" || first == "END") {
        return second == "PREPARED" ? StatementKind::other : StatementKind::commit;
    }
    if (first == "ROLLBACK" || first == "ABORT") {
        if (second == "TO") {
            return StatementKind::rollback_to;
        }
        return second == "PREPARED" ? StatementKind::other : StatementKind::rollback;
    }
    if (first == "SET" || first == "RESET" || first == "DISCARD" || first == "DEALLOCATE" ||
        first == "SAVEPOINT" || first == "RELEASE") {
        return StatementKind::session;
    }
    return StatementKind::other;
}

inline bool is_write(std::string_view sql) {
    static constexpr std::array<std::string_view, 15> kWrites = {
        "INSERT", "UPDATE", "DELETE",  "MERGE",   "CREATE",  "DROP",   "ALTER",  "TRUNCATE",
        "GRANT",  "REVOKE", "COMMENT", "REINDEX", "CLUSTER", "VACUUM", "REFRESH"};
    const auto first = upper_word(sql);
    return std::find(kWrites.begin(), kWrites.end(), first) != kWrites.end();
}

inline bool is_read_only_begin(std::string_view sql) {
    std::string text(sql);
    for (auto& ch : text) {
        ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    }
    return text.find("READ ONLY") != std::string::npos;
}

inline Clock::time_point add_saturating(Clock::time_point t, std::chrono::milliseconds d) {
    if (d.count() <= 0) {
        return t;
    }
    if (d >= std::chrono::duration_cast<std::chrono::milliseconds>(Clock::time_point::max() - t)) {
        return Clock::time_point::max();
    }
    return t + d;
}

inline Result text_result(std::vector<std::string> columns,
                          std::vector<std::vector<std::optional<std::string>>> rows,
                          std::uint64_t affected = 0) {
    return Result(std::make_shared<const ::sparc::db::detail::TextResultData>(
        std::move(columns), std::move(rows), affected));
}

/// A parameter as Call::params records it.
inline std::optional<std::string> param_text(const Param& p) {
    if (p.is_null()) return std::nullopt;
    if (p.is_binary()) return ::sparc::db::detail::bytea_hex(p.text());
    return p.text();
}

inline std::string lsn_text(std::uint64_t lsn) { return CommitPosition{lsn}.to_string(); }

/// pg_postmaster_start_time() of a simulated host: one value per server run.
inline std::string start_time_text(const HostData& h) {
    return "2026-01-01 00:00:00+00 run " + std::to_string(h.runs);
}

}  // namespace detail

/// A scriptable in-memory database driver satisfying the Backend concept, for unit tests of code
/// that uses ConnectionPool. Copies share state; every member is thread-safe.
class FakeBackend {
  public:
    class Connection;
    class Rule;
    class Host;

    /// An empty cluster: no rules, no hosts (hosts appear on first use, as primaries).
    FakeBackend() : state_(std::make_shared<detail::State>()) {}

    /// Opens a session on the endpoint's host (see Host for what can make this fail).
    /// @throws ConnectionError when the host is down, refusing, full, or slower than
    /// `settings.deadline`.
    ///
    /// A host list (`h1,h2:5433`) is tried in order, as libpq does, each host by its own key;
    /// with `target_session_attrs=read-write` (or `primary`) a replica, and for read-write a
    /// fenced host, is passed over. Connection::server() tells which host accepted.
    std::unique_ptr<Connection> connect(const Endpoint& endpoint, const ConnectSettings& settings);

    /// The simulated host with this key (created as a primary if unknown).
    Host host(std::string name);
    /// host(name) set to be a replica.
    Host replica(std::string name);
    /// host(name) set to be a primary.
    Host primary(std::string name);
    /// The key the fake uses for an endpoint's host: host name, plus ":port" unless 5432.
    static std::string host_key(const Endpoint& endpoint);
    /// The keys of an endpoint's hosts, one per host of a host list.
    static std::vector<std::string> host_keys(const Endpoint& endpoint);

    /// A rule for statements whose text equals `sql` exactly.
    Rule on(std::string sql);
    /// A rule for statements whose text starts with `prefix`.
    Rule on_prefix(std::string prefix);
    /// A rule for statements in which `pattern` finds a match (std::regex_search; anchor it with
    /// ^ and $ for a whole-text match).
    Rule on_match(std::regex pattern);
    /// A rule for every statement, the pool's own and transaction control included.
    Rule on_any();
    /// A rule for transaction starts: begin() and BEGIN / START TRANSACTION statements.
    Rule on_begin();
    /// A rule for commits: commit() and COMMIT / END statements.
    Rule on_commit();
    /// A rule for rollbacks: rollback() and ROLLBACK / ABORT statements.
    Rule on_rollback();
    /// Makes the next COMMIT lose its connection, before or after the server committed.
    void fail_next_commit(CommitFailure failure);
    /// Makes the next COMMIT fail with this SQLSTATE; the transaction is rolled back.
    void fail_next_commit(std::string sqlstate, std::string message = "scripted commit failure");
    /// Removes every rule.
    void clear_rules();

    /// In strict mode an unmatched statement throws SqlError 42601 instead of returning an
    /// empty result (transaction control, SET/RESET/DISCARD and the built-ins still answer).
    FakeBackend& strict(bool on = true);
    /// Whether calls() also records the pool's probe and ping statements (off by default, as
    /// health checks run on timers).
    FakeBackend& record_internal(bool on = true);
    /// Whether writes fail with 25006 on replicas and in READ ONLY transactions (on by default).
    FakeBackend& enforce_read_only(bool on = true);

    /// Every statement recorded so far, oldest first.
    std::vector<Call> calls() const;
    /// The statements recorded on one host.
    std::vector<Call> calls_on(std::string_view host) const;
    /// Forgets the recorded statements.
    void clear_calls();
    /// How many recorded statements have exactly this text.
    std::size_t count(std::string_view sql) const;
    /// How many recorded statements `pattern` finds a match in.
    std::size_t count(const std::regex& pattern) const;
    /// How many recorded statements on `host` have exactly this text.
    std::size_t count_on(std::string_view host, std::string_view sql) const;

    /// The notifications sent so far, oldest first: every `SELECT pg_notify($1, $2)` (what
    /// notify() sends) that succeeded outside a transaction, or inside one that committed, as
    /// PostgreSQL would deliver them (one rolled back, or still open, sends nothing; a rolled
    /// back savepoint is not taken into account). Read from the recorded calls: clear_calls()
    /// forgets them too. The fake records them only; it delivers them to no listener.
    std::vector<SentNotification> notifications() const;

    /// The primary's current WAL position.
    CommitPosition wal_position() const;
    /// Advances the WAL position as a write from outside the code under test would.
    void advance_wal(std::uint64_t by = 1);
    /// What txid_status() answers for a transaction id: "committed", "aborted",
    /// "in progress", or nullopt when unknown.
    std::optional<std::string> txid_status(std::int64_t txid) const;

    /// Connections opened successfully, over all hosts.
    std::size_t connections_opened() const;
    /// Connections opened and not yet closed (broken ones included), over all hosts.
    std::size_t open_connections() const;
    /// Statements currently inside a scripted delay.
    std::size_t running_statements() const;
    /// Waits until at least `n` statements are inside a scripted delay; false on timeout.
    bool wait_for_running(std::size_t n, std::chrono::milliseconds timeout) const;

  private:
    std::unique_ptr<Connection> connect_host(const std::string& key,
                                             const ConnectSettings& settings);
    Rule add_rule(detail::RuleMatch match, std::string text, std::regex pattern = {});
    template <typename Pred>
    std::vector<Call> calls_if(Pred pred) const;

    std::shared_ptr<detail::State> state_;
};

/// One server session. The pool uses it from one thread at a time; cancel() may be called from
/// any thread while a statement runs.
class FakeBackend::Connection {
  public:
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    /// Closes the session (rolling back an open transaction).
    ~Connection() { close(); }

    /// Runs a statement as described in the file comment.
    /// @throws ConnectionError, SqlError, QueryTimeout.
    Result execute(std::string_view sql, ParamsRef params, const ExecSettings& exec) {
        return run(sql, params, exec);
    }
    /// Runs begin_statement(options).
    void begin(const TransactionOptions& options, const ExecSettings& exec) {
        run(begin_statement(options), {}, exec);
    }
    /// Runs a statement as execute() does, then hands its rows to `sink` one at a time, outside
    /// the fake's lock; returns how many it handed over. A rule's fails_after() or
    /// drops_connection_after() fails the statement after that many rows. Past the client
    /// deadline (exec.deadline) no more rows are handed over: QueryTimeout (client side,
    /// cancelled, as when the server confirms the cancel; the connection stays usable). A host
    /// that goes down meanwhile breaks the stream with ConnectionError(statement_sent, 57P01).
    /// What `sink` throws propagates unchanged; the connection stays idle, the statement done.
    std::size_t stream(std::string_view sql, ParamsRef params, const ExecSettings& exec,
                       ::sparc::db::detail::RowSink sink);
    /// Runs a COPY ... FROM STDIN: the statement is answered as execute() answers it (rules
    /// match its text, `COPY "t" ("a", "b") FROM STDIN`: fails(), drops_connection(), delays
    /// apply before any data is read), then every chunk of `source` is read and the rows are
    /// recorded in Call::copy_rows. Returns the number of rows, or the rule's affects() count
    /// when it sets one. What `source` throws propagates unchanged, the COPY aborted as a
    /// server does (the call's outcome is 57014; an open transaction fails); a host that went
    /// down meanwhile throws ConnectionError(statement_sent, 57P01), and past the client
    /// deadline QueryTimeout (client side, cancelled; the connection stays usable).
    std::size_t copy_in(std::string_view sql, ::sparc::db::detail::CopySource source,
                        const ExecSettings& exec);
    /// Runs a batch (see BatchingBackend): each statement as execute() runs it, in order, each
    /// recorded as a call. The first that fails ends the batch: the later ones are not run, and
    /// its SqlError says which statement it was (batch_index()). A connection lost after the
    /// first statement counts as sent, as the real batch was sent whole.
    std::vector<Result> batch(std::span<const Statement> statements, const ExecSettings& exec);
    /// Runs "COMMIT". A failed transaction is rolled back and SqlError 25P02 thrown.
    void commit(const ExecSettings& exec) { run("COMMIT", {}, exec); }
    /// Runs "ROLLBACK".
    void rollback(const ExecSettings& exec) { run("ROLLBACK", {}, exec); }
    /// Interrupts a statement inside a scripted delay: it throws QueryTimeout (server side,
    /// 57014) and the connection stays usable; a delayed COMMIT completes instead (committed),
    /// as a cancelled synchronous-replication wait does. Does nothing when no statement is
    /// running, as a server ignores a cancel that reaches an idle session. On a host that
    /// ignore_cancel()s, the statement goes on and the client gives up after cancel_grace:
    /// QueryTimeout (client side, not cancelled), the connection broken.
    void cancel() noexcept;
    /// Always false: the simulated cancel lands at once, so none is ever left in flight.
    bool cancel_outstanding() const noexcept { return false; }
    /// Whether the session is open and not broken.
    bool is_alive() const;
    /// Whether the host is a standby now (its role; in_hot_standby on a real server).
    std::optional<bool> in_recovery() const;
    /// idle, in_transaction, in_error, or unknown once closed or broken.
    TxStatus transaction_status() const;
    /// Closes the session; idempotent.
    void close() noexcept;

    /// Unique id, as recorded in Call::connection_id.
    std::uint64_t id() const noexcept { return conn_->id; }
    /// The key of the host this session is on.
    const std::string& host() const noexcept { return conn_->host; }
    /// The same key: the server the session reached (see ServerAwareBackend).
    std::string_view server() const noexcept { return conn_->host; }
    /// Cuts the session from any thread, as the pool does to the sessions left on an old
    /// primary: a statement in a scripted delay (a COMMIT too) ends at once with
    /// ConnectionError (statement_sent) whose message is `reason`, and the session is broken.
    void interrupt(std::string_view reason) noexcept;

  private:
    friend class FakeBackend;
    Connection(std::shared_ptr<detail::State> state, std::shared_ptr<detail::ConnData> conn)
        : state_(std::move(state)), conn_(std::move(conn)) {}

    struct Failure {
        enum Kind { sql, client_timeout, dropped } kind = sql;
        std::string sqlstate;
        std::string message;
        bool statement_sent = false;
        bool read_only_session = false;  // the session was opened read-only
        bool client_side = false;        // a 57014 answering the client deadline's cancel
    };

    // A failure scripted to come after some rows, applied once they have been streamed.
    struct PendingFailure {
        std::optional<Failure> failure;
        detail::StatementKind kind = detail::StatementKind::other;
        bool write = false;
        std::optional<std::uint64_t> seq;
    };

    Result run(std::string_view sql, ParamsRef params, const ExecSettings& exec,
               PendingFailure* streaming = nullptr,
               std::optional<std::uint64_t>* recorded_seq = nullptr);
    std::shared_ptr<detail::RuleData> find_rule(const Call& call, detail::StatementKind kind) const;
    Failure wait(std::unique_lock<std::mutex>& lock, std::chrono::milliseconds delay,
                 const ExecSettings& exec, detail::StatementKind kind, bool& interrupted);
    void apply_failure(const Failure& failure, detail::StatementKind kind, bool write,
                       std::optional<std::uint64_t> seq);
    [[noreturn]] static void throw_failure(const Failure& failure);
    std::optional<Result> builtin(std::string_view sql, ParamsRef params);
    void succeed(detail::StatementKind kind, bool write, std::string_view sql);

    std::shared_ptr<detail::State> state_;
    std::shared_ptr<detail::ConnData> conn_;
};

/// A rule being scripted. Setters return the rule for chaining; copies refer to the same rule,
/// so a test may keep one to ask uses() later. Thread-safe.
class FakeBackend::Rule {
  public:
    /// Answers with these columns and rows (std::nullopt is NULL).
    Rule& returns(std::vector<std::string> columns,
                  std::vector<std::vector<std::optional<std::string>>> rows) {
        return set([&](detail::RuleData& r) {
            r.action = detail::RuleAction::answer;
            r.columns = std::move(columns);
            r.rows = std::move(rows);
        });
    }
    /// Answers with this affected-row count (combines with returns() for RETURNING).
    Rule& affects(std::uint64_t rows) {
        return set([&](detail::RuleData& r) {
            r.action = detail::RuleAction::answer;
            r.affected = rows;
        });
    }
    /// Fails with SqlError carrying `sqlstate` (QueryTimeout for 57014). In a transaction the
    /// transaction becomes failed; at COMMIT it is rolled back.
    Rule& fails(std::string sqlstate, std::string message = "scripted failure") {
        return set([&](detail::RuleData& r) {
            r.action = detail::RuleAction::fail;
            r.sqlstate = std::move(sqlstate);
            r.message = std::move(message);
        });
    }
    /// Fails with SqlError `sqlstate` after the first `rows` rows of returns(): for_each
    /// (FakeBackend::Connection::stream) hands those rows over, then throws; query() gets the
    /// error alone, as libpq's whole-result mode drops a failed statement's rows. Scripts a
    /// server error mid-stream (a division by zero at row 1000).
    Rule& fails_after(std::size_t rows, std::string sqlstate,
                      std::string message = "scripted failure") {
        return set([&](detail::RuleData& r) {
            if (r.action == detail::RuleAction::fall_through) r.action = detail::RuleAction::answer;
            r.rows_before_failure = rows;
            r.failure_drops = false;
            r.failure_sqlstate = std::move(sqlstate);
            r.failure_message = std::move(message);
        });
    }
    /// Breaks the connection after the first `rows` rows of returns() (the statement was
    /// sent): for_each hands those rows over, then throws ConnectionError; query() gets the
    /// ConnectionError alone.
    Rule& drops_connection_after(std::size_t rows) {
        return set([&](detail::RuleData& r) {
            if (r.action == detail::RuleAction::fall_through) r.action = detail::RuleAction::answer;
            r.rows_before_failure = rows;
            r.failure_drops = true;
        });
    }
    /// Breaks the connection and throws ConnectionError. With `statement_sent` the server ran
    /// the statement first (a COMMIT commits); without it the server never saw it.
    Rule& drops_connection(bool statement_sent) {
        return set([&](detail::RuleData& r) {
            r.action = detail::RuleAction::drop;
            r.statement_sent = statement_sent;
        });
    }
    /// Answers by calling `fn` outside the fake's lock (possibly from several threads at once).
    /// Exceptions it throws propagate; SqlError and ConnectionError also act as fails() and
    /// drops_connection() would. To use the fake inside `fn`, capture it by reference: a
    /// captured copy would keep the shared state alive forever.
    Rule& responds(std::function<Result(const Call&)> fn) {
        return set([&](detail::RuleData& r) {
            r.action = detail::RuleAction::respond;
            r.respond = std::move(fn);
        });
    }
    /// Takes this long before answering; interrupted by the client deadline, the server's
    /// statement_timeout, cancel(), and the host going down. Alone, it only delays the answer
    /// the statement would otherwise get.
    Rule& delays(std::chrono::milliseconds delay) {
        return set([&](detail::RuleData& r) { r.delay = delay; });
    }
    /// Applies only on this host.
    Rule& on_host(std::string host) {
        return set([&](detail::RuleData& r) { r.host = std::move(host); });
    }
    /// Applies only when the bound parameters equal these (compared as Call::params records
    /// them: text, NULL, bytea as hex text).
    Rule& with_params(const Params& params) {
        std::vector<std::optional<std::string>> texts;
        for (const auto& p : params) texts.push_back(detail::param_text(p));
        return set([&](detail::RuleData& r) { r.params = std::move(texts); });
    }
    /// Applies `n` times, then is exhausted and older rules apply again.
    Rule& times(std::size_t n) {
        return set([&](detail::RuleData& r) { r.times = n; });
    }
    /// times(1).
    Rule& once() { return times(1); }
    /// Overrides whether matched statements count as writes (read-only checks, WAL position).
    Rule& writes(bool is_write = true) {
        return set([&](detail::RuleData& r) { r.writes = is_write; });
    }

    /// How many statements this rule has applied to.
    std::size_t uses() const {
        std::lock_guard lock(state_->mutex);
        return data_->uses;
    }
    /// Whether times() is used up.
    bool exhausted() const {
        std::lock_guard lock(state_->mutex);
        return data_->times && data_->uses >= *data_->times;
    }

  private:
    friend class FakeBackend;
    Rule(std::shared_ptr<detail::State> state, std::shared_ptr<detail::RuleData> data)
        : state_(std::move(state)), data_(std::move(data)) {}

    template <typename F>
    Rule& set(F&& f) {
        std::lock_guard lock(state_->mutex);
        f(*data_);
        return *this;
    }

    std::shared_ptr<detail::State> state_;
    std::shared_ptr<detail::RuleData> data_;
};

/// A simulated server, identified by its host key. Setters return the handle for chaining.
/// Thread-safe.
class FakeBackend::Host {
  public:
    /// The host key.
    const std::string& name() const noexcept { return name_; }

    /// Makes the host a primary or a replica (promotion and demotion included).
    /// Promoting a replica starts a new timeline, as pg_promote() does.
    Host& role(HostRole role) {
        std::lock_guard lock(state_->mutex);
        auto& h = state_->host(name_);
        if (h.role == HostRole::replica && role == HostRole::primary) {
            h.timeline = ++state_->timelines;
        }
        h.role = role;
        return *this;
    }
    /// The host's role.
    HostRole role() const {
        return get([](const detail::HostData& h) { return h.role; });
    }
    /// Takes the host down: new connections are refused, open ones break (their running
    /// statements throw ConnectionError with statement_sent, later ones without). It ends the
    /// server run: pg_postmaster_start_time() differs once the host is back up.
    Host& down() {
        std::lock_guard lock(state_->mutex);
        auto& h = state_->host(name_);
        if (!h.down) ++h.runs;
        h.down = true;
        state_->break_host(name_);
        return *this;
    }
    /// Brings the host back up (refuse_connections() stays as set).
    Host& up() {
        return set([](detail::HostData& h) { h.down = false; });
    }
    /// Whether down() is in effect.
    bool is_down() const {
        return get([](const detail::HostData& h) { return h.down; });
    }
    /// Fences the host (as `ALTER SYSTEM SET default_transaction_read_only = on` and a reload
    /// would): every write fails with SqlError 25006 and the probe reports it read-only; it
    /// stays a primary (not in recovery).
    Host& fence(bool fenced = true) {
        return set([&](detail::HostData& h) { h.fenced = fenced; });
    }
    /// Makes the host leave cancel requests unanswered, as a frozen host (or one whose cancel
    /// requests are lost on the way) does. A statement in a scripted delay then goes on past
    /// the client deadline and past cancel(): the client waits ExecSettings::cancel_grace for
    /// an answer, then gives up: QueryTimeout (client side, not cancelled: the statement may
    /// have completed) and the session is broken, as the real backend breaks it off. The
    /// server's own statement_timeout still ends it. By default a host answers them at once.
    Host& ignore_cancel(bool ignore = true) {
        return set([&](detail::HostData& h) { h.ignore_cancel = ignore; });
    }
    /// Refuses new connections while leaving open ones working.
    Host& refuse_connections(bool refuse = true) {
        return set([&](detail::HostData& h) { h.refuse = refuse; });
    }
    /// Refuses the next `n` connection attempts, then accepts again.
    Host& refuse_next_connections(std::size_t n) {
        return set([&](detail::HostData& h) { h.refuse_next = n; });
    }
    /// Refuses connections beyond `n` open ones, as max_connections does ("too many clients");
    /// 0 is unlimited.
    Host& max_connections(std::size_t n) {
        return set([&](detail::HostData& h) { h.max_connections = n; });
    }
    /// Time a successful connect takes; past ConnectSettings::deadline it fails at the deadline.
    Host& connect_latency(std::chrono::milliseconds latency) {
        return set([&](detail::HostData& h) { h.connect_latency = latency; });
    }
    /// Replay lag the probe reports for this replica.
    Host& lag(std::chrono::milliseconds lag) {
        return set([&](detail::HostData& h) { h.lag = lag; });
    }
    /// Pins this replica's replayed position (capped at the primary's position).
    Host& replay_position(CommitPosition position) {
        return set([&](detail::HostData& h) { h.replayed = position.lsn; });
    }
    /// The position the probe reports: replayed on a replica, written on a primary.
    CommitPosition replay_position() const {
        std::lock_guard lock(state_->mutex);
        return CommitPosition{state_->replayed(state_->host(name_))};
    }
    /// Freezes this replica's replayed position where it is now.
    Host& pause_replay() {
        std::lock_guard lock(state_->mutex);
        auto& h = state_->host(name_);
        if (!h.replayed) {
            h.replayed = state_->wal;
        }
        return *this;
    }
    /// Lets this replica catch up with the primary again (after a new_timeline(), as a standby
    /// rebuilt from the new primary would).
    Host& resume_replay() {
        return set([](detail::HostData& h) {
            h.replayed.reset();
            h.diverged = false;
        });
    }
    /// Makes this primary start a new timeline, as a standby promoted in a failover does: its
    /// WAL continues from `from`, what that standby had replayed (default: the current
    /// position). Replicas whose replay is paused or pinned past `from` keep their position:
    /// they replayed WAL of the old primary that the new timeline never had.
    Host& new_timeline(std::optional<CommitPosition> from = std::nullopt) {
        std::lock_guard lock(state_->mutex);
        auto& st = *state_;
        st.host(name_).timeline = ++st.timelines;
        if (from) {
            for (auto& [name, h] : st.hosts) {
                if (h.role == HostRole::replica && h.replayed && *h.replayed > from->lsn) {
                    h.diverged = true;
                }
            }
            st.wal = from->lsn;
        }
        return *this;
    }
    /// How many standbys this primary's probe shows streaming from it (pg_stat_replication),
    /// instead of the replicas that are up and have not diverged: 0 makes a replica whose
    /// replay moves after a new_timeline() look like one still following the old primary.
    Host& wal_senders(std::size_t n) {
        return set([&](detail::HostData& h) { h.wal_senders = n; });
    }
    /// Breaks every open connection, as pg_terminate_backend would; the host stays up.
    Host& terminate_connections() {
        std::lock_guard lock(state_->mutex);
        state_->break_host(name_);
        return *this;
    }

    /// Connection attempts, refused ones included.
    std::size_t connection_attempts() const {
        return get([](const detail::HostData& h) { return h.connection_attempts; });
    }
    /// Connections opened successfully.
    std::size_t connections_opened() const {
        return get([](const detail::HostData& h) { return h.connections_opened; });
    }
    /// Connections opened and not yet closed (broken ones included).
    std::size_t open_connections() const {
        std::lock_guard lock(state_->mutex);
        return state_->open_on(name_);
    }
    /// Statements that reached this host, the pool's own included.
    std::size_t statements_run() const {
        return get([](const detail::HostData& h) { return h.statements_run; });
    }
    /// The settings of the latest connection attempt, if any.
    std::optional<ConnectSettings> last_connect_settings() const {
        return get([](const detail::HostData& h) { return h.last_settings; });
    }

  private:
    friend class FakeBackend;
    Host(std::shared_ptr<detail::State> state, std::string name)
        : state_(std::move(state)), name_(std::move(name)) {}

    template <typename F>
    Host& set(F&& f) {
        std::lock_guard lock(state_->mutex);
        f(state_->host(name_));
        return *this;
    }
    template <typename F>
    std::invoke_result_t<F, const detail::HostData&> get(F&& f) const {
        std::lock_guard lock(state_->mutex);
        return f(state_->host(name_));
    }

    std::shared_ptr<detail::State> state_;
    std::string name_;
};

// ---- FakeBackend ---------------------------------------------------------------------------

inline std::string FakeBackend::host_key(const Endpoint& endpoint) {
    auto key = endpoint.host();
    if (auto port = endpoint.port(); port != "5432") {
        key += ":" + port;
    }
    return key;
}

inline std::vector<std::string> FakeBackend::host_keys(const Endpoint& endpoint) {
    auto split = [](const std::string& list) {
        std::vector<std::string> parts;
        std::size_t from = 0;
        while (true) {
            const auto comma = list.find(',', from);
            parts.push_back(list.substr(from, comma - from));
            if (comma == std::string::npos) return parts;
            from = comma + 1;
        }
    };
    const auto hosts = split(endpoint.host());
    const auto ports = split(endpoint.port());
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < hosts.size(); ++i) {
        const auto& port = ports.size() == hosts.size() ? ports[i] : ports.front();
        keys.push_back(port.empty() || port == "5432" ? hosts[i] : hosts[i] + ":" + port);
    }
    return keys;
}

inline std::unique_ptr<FakeBackend::Connection> FakeBackend::connect(
    const Endpoint& endpoint, const ConnectSettings& settings) {
    const auto keys = host_keys(endpoint);
    if (keys.size() == 1) return connect_host(keys.front(), settings);
    const auto attrs = endpoint.option("target_session_attrs").value_or("any");
    const bool writable = attrs == "read-write" || attrs == "primary";
    std::string errors;
    for (const auto& key : keys) {
        try {
            auto conn = connect_host(key, settings);
            if (writable) {
                bool passed_over = false;
                {
                    std::lock_guard lock(state_->mutex);
                    const auto& h = state_->host(key);
                    passed_over =
                        h.role == HostRole::replica || (attrs == "read-write" && h.fenced);
                }
                if (passed_over) {
                    conn->close();
                    errors += (errors.empty() ? "" : "; ") + key +
                              ": session is read-only (target_session_attrs=" + attrs + ")";
                    continue;
                }
            }
            return conn;
        } catch (const ConnectionError& e) {
            errors += (errors.empty() ? "" : "; ") + key + ": " + e.what();
        }
    }
    throw ConnectionError("could not connect to any of " + endpoint.host() + ": " + errors);
}

inline std::unique_ptr<FakeBackend::Connection> FakeBackend::connect_host(
    const std::string& key, const ConnectSettings& settings) {
    std::unique_lock lock(state_->mutex);
    auto refused = [&] {
        return ConnectionError("connection to server at \"" + key +
                               "\" failed: Connection refused");
    };
    auto usable = [&](detail::HostData& h) {
        if (h.down || h.refuse) {
            throw refused();
        }
        if (h.max_connections != 0 && state_->open_on(key) >= h.max_connections) {
            throw ConnectionError("connection to server at \"" + key +
                                      "\" failed: FATAL:  sorry, too many clients already",
                                  false, "53300");
        }
    };
    {
        auto& h = state_->host(key);
        ++h.connection_attempts;
        h.last_settings = settings;
        if (h.refuse_next > 0) {
            --h.refuse_next;
            throw refused();
        }
        usable(h);
    }
    const auto latency = state_->host(key).connect_latency;
    if (latency.count() > 0) {
        const auto ready = detail::add_saturating(Clock::now(), latency);
        const auto until = std::min(ready, settings.deadline);
        while (Clock::now() < until) {
            if (settings.abandon != nullptr && settings.abandon->load()) {
                throw ConnectionError("connection to server at \"" + key +
                                      "\" abandoned: the pool is shutting down");
            }
            state_->wake.wait_until(lock,
                                    std::min(until, Clock::now() + std::chrono::milliseconds(20)));
        }
        if (ready > settings.deadline) {
            throw ConnectionError("connection to server at \"" + key +
                                  "\" failed: timeout expired");
        }
        usable(state_->host(key));  // It may have gone down meanwhile.
    }
    auto& h = state_->host(key);
    ++h.connections_opened;
    auto conn = std::make_shared<detail::ConnData>();
    conn->id = state_->next_connection_id++;
    conn->host = key;
    conn->settings = settings;
    state_->connections.emplace(conn->id, conn);
    return std::unique_ptr<Connection>(new Connection(state_, std::move(conn)));
}

inline FakeBackend::Host FakeBackend::host(std::string name) {
    {
        std::lock_guard lock(state_->mutex);
        state_->host(name);
    }
    return {state_, std::move(name)};
}

inline FakeBackend::Host FakeBackend::replica(std::string name) {
    auto h = host(std::move(name));
    h.role(HostRole::replica);
    return h;
}

inline FakeBackend::Host FakeBackend::primary(std::string name) {
    auto h = host(std::move(name));
    h.role(HostRole::primary);
    return h;
}

inline FakeBackend::Rule FakeBackend::add_rule(detail::RuleMatch match, std::string text,
                                               std::regex pattern) {
    auto data = std::make_shared<detail::RuleData>();
    data->match = match;
    data->text = std::move(text);
    data->pattern = std::move(pattern);
    std::lock_guard lock(state_->mutex);
    state_->rules.push_back(data);
    return {state_, std::move(data)};
}

inline FakeBackend::Rule FakeBackend::on(std::string sql) {
    return add_rule(detail::RuleMatch::exact, std::move(sql));
}
inline FakeBackend::Rule FakeBackend::on_prefix(std::string prefix) {
    return add_rule(detail::RuleMatch::prefix, std::move(prefix));
}
inline FakeBackend::Rule FakeBackend::on_match(std::regex pattern) {
    return add_rule(detail::RuleMatch::regex, {}, std::move(pattern));
}
inline FakeBackend::Rule FakeBackend::on_any() { return add_rule(detail::RuleMatch::any, {}); }
inline FakeBackend::Rule FakeBackend::on_begin() { return add_rule(detail::RuleMatch::begin, {}); }
inline FakeBackend::Rule FakeBackend::on_commit() {
    return add_rule(detail::RuleMatch::commit, {});
}
inline FakeBackend::Rule FakeBackend::on_rollback() {
    return add_rule(detail::RuleMatch::rollback, {});
}

inline void FakeBackend::fail_next_commit(CommitFailure failure) {
    on_commit().once().drops_connection(failure == CommitFailure::after_send);
}

inline void FakeBackend::fail_next_commit(std::string sqlstate, std::string message) {
    on_commit().once().fails(std::move(sqlstate), std::move(message));
}

inline void FakeBackend::clear_rules() {
    std::lock_guard lock(state_->mutex);
    state_->rules.clear();
}

inline FakeBackend& FakeBackend::strict(bool on) {
    std::lock_guard lock(state_->mutex);
    state_->strict = on;
    return *this;
}

inline FakeBackend& FakeBackend::record_internal(bool on) {
    std::lock_guard lock(state_->mutex);
    state_->record_internal = on;
    return *this;
}

inline FakeBackend& FakeBackend::enforce_read_only(bool on) {
    std::lock_guard lock(state_->mutex);
    state_->enforce_read_only = on;
    return *this;
}

template <typename Pred>
std::vector<Call> FakeBackend::calls_if(Pred pred) const {
    std::lock_guard lock(state_->mutex);
    std::vector<Call> out;
    for (const auto& call : state_->calls) {
        if (pred(call)) {
            out.push_back(call);
        }
    }
    return out;
}

inline std::vector<Call> FakeBackend::calls() const {
    return calls_if([](const Call&) { return true; });
}

inline std::vector<Call> FakeBackend::calls_on(std::string_view host) const {
    return calls_if([&](const Call& c) { return c.host == host; });
}

inline void FakeBackend::clear_calls() {
    std::lock_guard lock(state_->mutex);
    state_->first_call_seq = state_->next_call_seq;
    state_->calls.clear();
}

inline std::size_t FakeBackend::count(std::string_view sql) const {
    return calls_if([&](const Call& c) { return c.sql == sql; }).size();
}

inline std::size_t FakeBackend::count(const std::regex& pattern) const {
    return calls_if([&](const Call& c) { return std::regex_search(c.sql, pattern); }).size();
}

inline std::size_t FakeBackend::count_on(std::string_view host, std::string_view sql) const {
    return calls_if([&](const Call& c) { return c.host == host && c.sql == sql; }).size();
}

inline std::vector<SentNotification> FakeBackend::notifications() const {
    std::lock_guard lock(state_->mutex);
    std::vector<SentNotification> out;
    for (const auto& call : state_->calls) {
        if (call.sql != "SELECT pg_notify($1, $2)" || call.outcome != QueryOutcome::ok ||
            call.params.size() != 2 || !call.params[0]) {
            continue;
        }
        if (call.txid) {
            const auto it = state_->txids.find(*call.txid);
            if (it == state_->txids.end() || it->second != detail::TxState::committed) continue;
        }
        out.push_back({*call.params[0], call.params[1].value_or("")});
    }
    return out;
}

inline CommitPosition FakeBackend::wal_position() const {
    std::lock_guard lock(state_->mutex);
    return CommitPosition{state_->wal};
}

inline void FakeBackend::advance_wal(std::uint64_t by) {
    std::lock_guard lock(state_->mutex);
    state_->wal += by;
}

inline std::optional<std::string> FakeBackend::txid_status(std::int64_t txid) const {
    std::lock_guard lock(state_->mutex);
    const auto it = state_->txids.find(txid);
    if (it == state_->txids.end()) {
        return std::nullopt;
    }
    switch (it->second) {
        case detail::TxState::in_progress:
            return "in progress";
        case detail::TxState::committed:
            return "committed";
        case detail::TxState::aborted:
            return "aborted";
    }
    return std::nullopt;
}

inline std::size_t FakeBackend::connections_opened() const {
    std::lock_guard lock(state_->mutex);
    std::size_t n = 0;
    for (const auto& [name, h] : state_->hosts) {
        n += h.connections_opened;
    }
    return n;
}

inline std::size_t FakeBackend::open_connections() const {
    std::lock_guard lock(state_->mutex);
    return state_->connections.size();
}

inline std::size_t FakeBackend::running_statements() const {
    std::lock_guard lock(state_->mutex);
    return state_->running;
}

inline bool FakeBackend::wait_for_running(std::size_t n, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(state_->mutex);
    return state_->wake.wait_until(lock, detail::add_saturating(Clock::now(), timeout),
                                   [&] { return state_->running >= n; });
}

// ---- Connection ----------------------------------------------------------------------------

inline void FakeBackend::Connection::interrupt(std::string_view reason) noexcept {
    std::lock_guard lock(state_->mutex);
    auto& c = *conn_;
    if (c.closed.load() || c.broken.load()) return;
    try {
        c.cut.assign(reason);
    } catch (...) {
        c.cut = "connection cut by the pool";
    }
    c.broken.store(true, std::memory_order_release);
    state_->wake.notify_all();
}

inline void FakeBackend::Connection::cancel() noexcept {
    std::lock_guard lock(state_->mutex);
    if (conn_->running) {
        conn_->cancel_requested = true;
        state_->wake.notify_all();
    }
}

// Lock-free reads (see ConnData). A change made meanwhile by another thread (a host going
// down) is seen now or on the next call, as with a real socket.
inline bool FakeBackend::Connection::is_alive() const {
    const auto& c = *conn_;
    return !c.closed.load(std::memory_order_acquire) && !c.broken.load(std::memory_order_acquire);
}

inline std::optional<bool> FakeBackend::Connection::in_recovery() const {
    std::lock_guard lock(state_->mutex);
    return state_->host(conn_->host).role == HostRole::replica;
}

inline TxStatus FakeBackend::Connection::transaction_status() const {
    const auto& c = *conn_;
    if (c.closed.load(std::memory_order_acquire) || c.broken.load(std::memory_order_acquire)) {
        return TxStatus::unknown;
    }
    if (c.running.load(std::memory_order_acquire)) {
        return TxStatus::active;
    }
    if (!c.in_tx.load(std::memory_order_acquire)) {
        return TxStatus::idle;
    }
    return c.failed.load(std::memory_order_acquire) ? TxStatus::in_error : TxStatus::in_transaction;
}

inline void FakeBackend::Connection::close() noexcept {
    std::lock_guard lock(state_->mutex);
    if (conn_->closed) {
        return;
    }
    state_->end_tx(*conn_, false);
    conn_->closed = true;
    state_->connections.erase(conn_->id);
    state_->wake.notify_all();
}

inline bool detail::RuleData::matches(const Call& call, StatementKind kind) const {
    if ((times && uses >= *times) || (host && *host != call.host) ||
        (params && *params != call.params)) {
        return false;
    }
    switch (match) {
        case RuleMatch::exact:
            return call.sql == text;
        case RuleMatch::prefix:
            return call.sql.starts_with(text);
        case RuleMatch::regex:
            return std::regex_search(call.sql, pattern);
        case RuleMatch::any:
            return true;
        case RuleMatch::begin:
            return kind == StatementKind::begin;
        case RuleMatch::commit:
            return kind == StatementKind::commit;
        case RuleMatch::rollback:
            return kind == StatementKind::rollback;
    }
    return false;
}

inline std::shared_ptr<detail::RuleData> FakeBackend::Connection::find_rule(
    const Call& call, detail::StatementKind kind) const {
    const auto& rules = state_->rules;
    // Newest first: a later rule overrides an earlier one.
    const auto it = std::find_if(rules.rbegin(), rules.rend(),
                                 [&](const auto& rule) { return rule->matches(call, kind); });
    return it == rules.rend() ? nullptr : *it;
}

inline FakeBackend::Connection::Failure FakeBackend::Connection::wait(
    std::unique_lock<std::mutex>& lock, std::chrono::milliseconds delay, const ExecSettings& exec,
    detail::StatementKind kind, bool& interrupted) {
    const auto now = Clock::now();
    const auto done = detail::add_saturating(now, delay);
    // A delayed COMMIT models a WAL flush or a synchronous-replication wait: PostgreSQL's
    // statement_timeout does not interrupt them, and a cancel during the replication wait
    // leaves the transaction committed (with a warning).
    const bool commit = kind == detail::StatementKind::commit;
    const auto server_timeout = conn_->settings.statement_timeout.count() > 0 && !commit
                                    ? detail::add_saturating(now, conn_->settings.statement_timeout)
                                    : Clock::time_point::max();
    auto& c = *conn_;
    // The client deadline sends a cancel request (except during COMMIT, which the client waits
    // for until the deadline and then abandons), as does cancel(). A host answers it at once,
    // unless it ignores cancel requests: the client then waits cancel_grace for an answer and
    // gives up. With no grace (the pool's health checks) the client gives up at the deadline.
    enum class End { lost, cancelled, finished, timed_out, deadline, gave_up };
    auto stop_give_up = Clock::time_point::max();  // of a cancel() request left unanswered
    End end = End::finished;
    while (true) {
        if (c.broken || c.closed) {
            end = End::lost;
            break;
        }
        const bool deaf = state_->host(c.host).ignore_cancel;
        if (c.cancel_requested && !deaf) {
            end = End::cancelled;
            break;
        }
        if (c.cancel_requested && !commit && stop_give_up == Clock::time_point::max()) {
            stop_give_up = detail::add_saturating(Clock::now(), exec.cancel_grace);
        }
        const bool answers = !commit && !deaf && exec.cancel_grace.count() > 0;
        const auto deadline = answers ? exec.deadline : Clock::time_point::max();
        // Unanswered, the deadline's cancel request is given up on after cancel_grace.
        const auto deadline_give_up =
            answers  ? Clock::time_point::max()
            : commit ? exec.deadline
                     : detail::add_saturating(exec.deadline, exec.cancel_grace);
        const auto give_up = std::min(stop_give_up, deadline_give_up);
        const auto first = std::min({done, server_timeout, deadline, give_up});
        if (Clock::now() >= first) {
            end = first == done             ? End::finished
                  : first == server_timeout ? End::timed_out
                  : first == deadline       ? End::deadline
                                            : End::gave_up;
            break;
        }
        if (first == Clock::time_point::max()) {
            state_->wake.wait(lock);
        } else {
            state_->wake.wait_until(lock, first);
        }
    }
    interrupted = true;
    switch (end) {
        case End::lost:
            if (c.broken && !c.cut.empty()) {
                return {Failure::dropped, "",
                        "connection cut while waiting for the result: " + c.cut +
                            "; the statement had been sent and may have run",
                        true};
            }
            return {Failure::dropped, "57P01",
                    "terminating connection due to administrator command", true};
        case End::cancelled:
            if (commit) break;
            return {Failure::sql, "57014", "canceling statement due to user request", false};
        case End::finished:
            break;
        case End::timed_out:
            return {Failure::sql, "57014", "canceling statement due to statement timeout", false};
        case End::deadline: {
            Failure answered{Failure::sql, "57014",
                             "the client-side deadline passed and the server cancelled the "
                             "statement: canceling statement due to user request",
                             false};
            answered.client_side = true;
            return answered;
        }
        case End::gave_up:
            if (commit) {
                return {Failure::client_timeout, "",
                        "statement exceeded its client-side deadline; the connection was "
                        "closed: the statement may have completed",
                        true};
            }
            return {Failure::client_timeout, "",
                    "statement exceeded the client query timeout; the server did not answer the "
                    "cancel request and the connection was closed: the statement may have "
                    "completed",
                    true};
    }
    interrupted = false;
    return {};
}

inline void FakeBackend::Connection::apply_failure(const Failure& failure,
                                                   detail::StatementKind kind, bool write,
                                                   std::optional<std::uint64_t> seq) {
    using detail::StatementKind;
    auto& st = *state_;
    auto& c = *conn_;
    if (auto* call = st.recorded(seq)) {
        call->outcome = failure.kind == Failure::dropped ? QueryOutcome::connection_error
                        : failure.kind == Failure::client_timeout || failure.sqlstate == "57014"
                            ? QueryOutcome::timeout
                            : QueryOutcome::sql_error;
        call->sqlstate = failure.sqlstate;
    }
    if (c.broken || c.closed) {
        return;  // Already lost: nothing more to undo.
    }
    const bool sent = failure.kind == Failure::client_timeout ||
                      (failure.kind == Failure::dropped && failure.statement_sent);
    if (failure.kind == Failure::sql) {
        if (kind == StatementKind::commit || kind == StatementKind::rollback) {
            st.end_tx(c, false);
        } else if (c.in_tx && kind != StatementKind::begin) {
            c.failed = true;
        }
        return;
    }
    // The connection is lost. A COMMIT that reached the server commits; an autocommit write
    // that reached it is applied; anything else in an open transaction is rolled back.
    if (kind == StatementKind::commit && sent) {
        st.end_tx(c, true);
    } else if (!c.in_tx && write && failure.kind == Failure::dropped && sent &&
               st.host(c.host).role == HostRole::primary) {
        ++st.wal;
    }
    st.break_connection(c);
}

inline void FakeBackend::Connection::throw_failure(const Failure& failure) {
    switch (failure.kind) {
        case Failure::sql:
            if (failure.sqlstate == "57014") {
                throw QueryTimeout(failure.message, failure.client_side);
            }
            throw SqlError(failure.message, failure.sqlstate);
        case Failure::client_timeout:
            throw QueryTimeout(failure.message, true, false);
        case Failure::dropped:
            throw ConnectionError(failure.message, failure.statement_sent, failure.sqlstate,
                                  failure.statement_sent && failure.read_only_session);
    }
    throw ConnectionError(failure.message, failure.statement_sent, failure.sqlstate,
                          failure.statement_sent && failure.read_only_session);
}

inline std::optional<Result> FakeBackend::Connection::builtin(std::string_view sql,
                                                              ParamsRef params) {
    namespace sql_text = ::sparc::db::detail;
    auto& st = *state_;
    auto& c = *conn_;
    const auto& h = st.host(c.host);
    if (sql == sql_text::kProbeSql) {
        const bool replica = h.role == HostRole::replica;
        const auto lag = replica ? h.lag.count() : 0;
        // A session opened read-only is the caller's, not the server's setting.
        const bool read_only = replica || h.fenced;
        // A standby's timeline is hidden, as from a role without pg_read_all_stats, and so
        // is what its receiver does.
        std::size_t senders = 0;
        if (h.wal_senders) {
            senders = *h.wal_senders;
        } else {
            for (const auto& [name, other] : st.hosts) {
                if (other.role == HostRole::replica && !other.down && !other.diverged) ++senders;
            }
        }
        auto primary_only = [&](std::string text) {
            return replica ? std::nullopt : std::optional<std::string>(std::move(text));
        };
        return detail::text_result(
            {"pg_is_in_recovery", "pg_current_wal_lsn", "coalesce", "read_only", "timeline",
             "receiver", "standbys", "system_identifier"},
            {{replica ? "t" : "f", detail::lsn_text(st.replayed(h)), std::to_string(lag),
              read_only ? "t" : "f", primary_only(std::to_string(h.timeline)), std::nullopt,
              primary_only(std::to_string(senders)), primary_only(detail::kFakeSystemIdentifier)}});
    }
    if (sql == sql_text::kPingSql) {
        return detail::text_result({"?column?"}, {{"1"}});
    }
    if (sql == sql_text::kReplayLsnSql) {
        if (h.role != HostRole::replica) {
            return detail::text_result({"pg_last_wal_replay_lsn"}, {{std::nullopt}});
        }
        return detail::text_result({"pg_last_wal_replay_lsn"},
                                   {{detail::lsn_text(st.replayed(h))}});
    }
    if (sql == sql_text::kHistorySql) {
        if (h.role == HostRole::replica) {
            throw Failure{Failure::sql, "55000", "recovery is in progress", false};
        }
        // One cluster: every host shares the system identifier.
        return detail::text_result({"system_identifier", "pg_walfile_name"},
                                   {{detail::kFakeSystemIdentifier,
                                     fmt::format("{:08X}{:08X}{:08X}", h.timeline, st.wal >> 32U,
                                                 (st.wal & 0xFFFFFFFFU) >> 24U)}});
    }
    if (sql == sql_text::kCurrentLsnSql) {
        if (h.role == HostRole::replica) {
            throw Failure{Failure::sql, "55000", "recovery is in progress", false};
        }
        return detail::text_result(
            {"pg_current_wal_insert_lsn", "pg_walfile_name"},
            {{detail::lsn_text(st.wal), fmt::format("{:08X}{:08X}{:08X}", h.timeline, st.wal >> 32U,
                                                    (st.wal & 0xFFFFFFFFU) >> 24U)}});
    }
    if (sql == sql_text::kTxidCurrentSql) {
        std::int64_t txid = c.txid;
        if (!c.in_tx) {
            txid = st.next_txid++;
            st.txids[txid] = detail::TxState::committed;
        }
        return detail::text_result({"txid_current", "pg_postmaster_start_time"},
                                   {{std::to_string(txid), detail::start_time_text(h)}});
    }
    if (sql == sql_text::kTxidStatusSql) {
        if (params.size() != 1 || params[0].is_null()) {
            return detail::text_result({"txid_status", "pg_postmaster_start_time"},
                                       {{std::nullopt, detail::start_time_text(h)}});
        }
        const auto& text = params[0].text();
        std::int64_t txid = 0;
        const auto* end = text.data() + text.size();
        if (const auto r = std::from_chars(text.data(), end, txid);
            r.ec != std::errc{} || r.ptr != end) {
            throw Failure{Failure::sql, "22P02",
                          "invalid input syntax for type bigint: \"" + text + "\"", false};
        }
        if (txid >= st.next_txid) {
            throw Failure{Failure::sql, "22023", "transaction ID " + text + " is in the future",
                          false};
        }
        const auto it = st.txids.find(txid);
        std::optional<std::string> status;
        if (it != st.txids.end()) {
            status = it->second == detail::TxState::committed ? "committed"
                     : it->second == detail::TxState::aborted ? "aborted"
                                                              : "in progress";
        }
        return detail::text_result({"txid_status", "pg_postmaster_start_time"},
                                   {{status, detail::start_time_text(h)}});
    }
    return std::nullopt;
}

inline void FakeBackend::Connection::succeed(detail::StatementKind kind, bool write,
                                             std::string_view sql) {
    using detail::StatementKind;
    auto& st = *state_;
    auto& c = *conn_;
    switch (kind) {
        case StatementKind::begin:
            if (!c.in_tx) {  // PostgreSQL only warns about a nested BEGIN.
                c.in_tx = true;
                c.failed = false;
                c.writes = false;
                c.read_only = detail::is_read_only_begin(sql);
                c.txid = st.next_txid++;
                st.txids[c.txid] = detail::TxState::in_progress;
            }
            break;
        case StatementKind::commit:
            if (c.in_tx && c.failed) {
                st.end_tx(c, false);
                throw Failure{Failure::sql, "25P02",
                              "current transaction is aborted; COMMIT rolled it back", false};
            }
            st.end_tx(c, true);
            break;
        case StatementKind::rollback:
            st.end_tx(c, false);
            break;
        case StatementKind::rollback_to:
            c.failed = false;
            break;
        case StatementKind::session:
        case StatementKind::other:
            if (write && st.host(c.host).role == HostRole::primary) {
                if (c.in_tx) {
                    c.writes = true;
                } else {
                    ++st.wal;
                }
            }
            break;
    }
}

inline Result FakeBackend::Connection::run(std::string_view sql, ParamsRef params,
                                           const ExecSettings& exec, PendingFailure* streaming,
                                           std::optional<std::uint64_t>* recorded_seq) {
    using detail::StatementKind;
    namespace sql_text = ::sparc::db::detail;
    auto& st = *state_;
    auto& c = *conn_;
    std::unique_lock lock(st.mutex);
    if (c.closed) {
        throw ConnectionError("connection is closed", false);
    }
    if (c.broken && !c.cut.empty()) {
        throw ConnectionError("connection cut before the statement was sent: " + c.cut, false);
    }
    if (c.broken) {
        throw ConnectionError("server closed the connection unexpectedly", false);
    }

    auto& h = st.host(c.host);
    ++h.statements_run;
    const auto kind = detail::classify(sql);
    Call call;
    call.host = c.host;
    call.role = h.role;
    call.sql = std::string(sql);
    for (const auto& p : params) call.params.push_back(detail::param_text(p));
    call.connection_id = c.id;
    call.in_transaction = c.in_tx;
    if (c.in_tx) {
        call.txid = c.txid;
    }
    std::optional<std::uint64_t> seq;
    if (st.record_internal ||
        (sql != sql_text::kProbeSql && sql != sql_text::kPingSql && sql != sql_text::kHistorySql)) {
        seq = st.next_call_seq++;
        st.calls.push_back(call);
    }
    if (recorded_seq != nullptr) *recorded_seq = seq;

    const auto rule = find_rule(call, kind);
    const bool write = rule && rule->writes ? *rule->writes : detail::is_write(sql);
    auto fail = [&](Failure failure) {
        apply_failure(failure, kind, write, seq);
        failure.read_only_session = c.settings.read_only;
        throw_failure(failure);
    };

    if (c.in_tx && c.failed && kind != StatementKind::commit && kind != StatementKind::rollback &&
        kind != StatementKind::rollback_to) {
        fail({Failure::sql, "25P02",
              "current transaction is aborted, commands ignored until end of transaction block",
              false});
    }
    if (st.enforce_read_only && write && kind == StatementKind::other &&
        (h.role == HostRole::replica || h.fenced || (c.in_tx && c.read_only) ||
         c.settings.read_only)) {
        auto verb = std::string_view(call.sql);
        fail({Failure::sql, "25006",
              "cannot execute " + detail::upper_word(verb) + " in a read-only transaction", false});
    }

    // Take what the rule says while locked: the test may change the rule concurrently.
    detail::RuleData plan;
    if (rule) {
        ++rule->uses;
        plan = *rule;
    }
    if (plan.delay.count() > 0) {
        c.running = true;
        c.cancel_requested = false;
        ++st.running;
        st.wake.notify_all();
        bool interrupted = false;
        auto failure = wait(lock, plan.delay, exec, kind, interrupted);
        c.running = false;
        c.cancel_requested = false;
        --st.running;
        if (interrupted) {
            fail(failure);
        }
    }

    Result result;
    bool answered = false;
    switch (plan.action) {
        case detail::RuleAction::fall_through:
            break;
        case detail::RuleAction::answer:
            if (plan.rows_before_failure) {
                Failure mid =
                    plan.failure_drops
                        ? Failure{Failure::dropped,
                                  {},
                                  "server closed the connection unexpectedly",
                                  true}
                        : Failure{Failure::sql, plan.failure_sqlstate, plan.failure_message, false};
                if (streaming == nullptr) fail(mid);  // the whole-result mode: the error alone
                auto rows = plan.rows;
                rows.resize(std::min(rows.size(), *plan.rows_before_failure));
                result = detail::text_result(plan.columns, std::move(rows), 0);
                *streaming = PendingFailure{std::move(mid), kind, write, seq};
                return result;
            }
            result = detail::text_result(plan.columns, plan.rows, plan.affected);
            answered = true;
            break;
        case detail::RuleAction::fail:
            fail({Failure::sql, plan.sqlstate, plan.message, false});
            break;
        case detail::RuleAction::drop:
            fail({Failure::dropped,
                  {},
                  "server closed the connection unexpectedly",
                  plan.statement_sent});
            break;
        case detail::RuleAction::respond: {
            lock.unlock();
            try {
                result = plan.respond(call);
            } catch (const QueryTimeout& e) {
                lock.lock();
                apply_failure({Failure::sql, "57014", e.what(), false}, kind, write, seq);
                throw;
            } catch (const SqlError& e) {
                lock.lock();
                apply_failure({Failure::sql, e.sqlstate(), e.what(), false}, kind, write, seq);
                throw;
            } catch (const ConnectionError& e) {
                lock.lock();
                apply_failure({Failure::dropped, {}, e.what(), e.statement_sent()}, kind, write,
                              seq);
                throw;
            }
            lock.lock();
            if (c.broken || c.closed) {
                fail({Failure::dropped, "57P01",
                      "terminating connection due to administrator command", true});
            }
            answered = true;
            break;
        }
    }

    try {
        if (!answered && kind == StatementKind::other) {
            if (auto r = builtin(sql, params)) {
                result = std::move(*r);
            } else if (st.strict) {
                throw Failure{Failure::sql, "42601", "no rule for statement: " + call.sql, false};
            }
        }
        succeed(kind, write, sql);
    } catch (const Failure& failure) {
        fail(failure);
    }
    return result;
}

inline std::size_t FakeBackend::Connection::stream(std::string_view sql, ParamsRef params,
                                                   const ExecSettings& exec,
                                                   ::sparc::db::detail::RowSink sink) {
    PendingFailure pending;
    const Result result = run(sql, params, exec, &pending);
    auto& c = *conn_;
    std::size_t rows = 0;
    for (const auto& row : result) {
        if (c.broken || c.closed) {
            throw ConnectionError("terminating connection due to administrator command", true,
                                  "57P01", c.settings.read_only);
        }
        if (exec.deadline != Clock::time_point::max() && Clock::now() >= exec.deadline) {
            throw QueryTimeout(
                "statement exceeded the client query timeout and was cancelled: canceling "
                "statement due to user request",
                true);
        }
        ++rows;
        sink(row);
    }
    if (pending.failure) {
        std::unique_lock lock(state_->mutex);
        apply_failure(*pending.failure, pending.kind, pending.write, pending.seq);
        auto failure = *pending.failure;
        failure.read_only_session = c.settings.read_only;
        throw_failure(failure);
    }
    return rows;
}

inline std::size_t FakeBackend::Connection::copy_in(std::string_view sql,
                                                    ::sparc::db::detail::CopySource source,
                                                    const ExecSettings& exec) {
    std::optional<std::uint64_t> seq;
    const Result answer = run(sql, {}, exec, nullptr, &seq);
    auto& c = *conn_;
    std::string data;
    bool lost = false;
    bool timed_out = false;
    try {
        std::string chunk;
        bool more = true;
        while (more && !lost) {
            if (exec.deadline != Clock::time_point::max() && Clock::now() >= exec.deadline) {
                timed_out = true;
                break;
            }
            chunk.clear();
            more = source(chunk);
            data += chunk;
            std::lock_guard lock(state_->mutex);
            lost = c.broken || c.closed;
        }
    } catch (...) {
        // The client aborted the COPY (CopyFail): the server answers 57014 and loads nothing.
        std::unique_lock lock(state_->mutex);
        apply_failure({Failure::sql, "57014", "COPY from stdin failed", false},
                      detail::StatementKind::other, false, seq);
        throw;
    }
    if (lost) {
        std::unique_lock lock(state_->mutex);
        apply_failure({Failure::dropped, "57P01", "", true}, detail::StatementKind::other, false,
                      seq);
        throw ConnectionError("terminating connection due to administrator command", true, "57P01",
                              c.settings.read_only);
    }
    if (timed_out || (exec.deadline != Clock::time_point::max() && Clock::now() >= exec.deadline)) {
        std::unique_lock lock(state_->mutex);
        apply_failure({Failure::sql, "57014", "canceling statement due to user request", false},
                      detail::StatementKind::other, false, seq);
        throw QueryTimeout(
            "COPY exceeded the client query timeout and was aborted: canceling statement due "
            "to user request",
            true);
    }
    auto rows = ::sparc::db::detail::parse_copy_text(data);
    const std::size_t n = rows.size();
    std::lock_guard lock(state_->mutex);
    if (auto* call = state_->recorded(seq)) call->copy_rows = std::move(rows);
    return answer.affected_rows() > 0 ? static_cast<std::size_t>(answer.affected_rows()) : n;
}

inline std::vector<Result> FakeBackend::Connection::batch(std::span<const Statement> statements,
                                                          const ExecSettings& exec) {
    std::vector<Result> results;
    results.reserve(statements.size());
    for (std::size_t i = 0; i < statements.size(); ++i) {
        try {
            results.push_back(run(statements[i].sql, statements[i].params, exec));
        } catch (const QueryTimeout& e) {  // kept a QueryTimeout, as the real backend does
            throw ::sparc::db::detail::batch_timeout(e, i, statements.size());
        } catch (const SqlError& e) {
            throw ::sparc::db::detail::batch_failure(e, i, statements.size());
        } catch (const ConnectionError& e) {
            if (i == 0 || e.statement_sent()) throw;
            throw ConnectionError(e.what(), true, e.sqlstate(), e.read_only_session());
        }
    }
    return results;
}

static_assert(StreamingBackend<FakeBackend>);
static_assert(CopyingBackend<FakeBackend>);
static_assert(BatchingBackend<FakeBackend>);
static_assert(ServerAwareBackend<FakeBackend>);

}  // namespace sparc::db::testing

// The pool over the fake is compiled once, in sparc::db_testing (src/db/testing), which a test
// using the fake links.
namespace sparc::db {
extern template class ConnectionPool<testing::FakeBackend>;
extern template class Lease<testing::FakeBackend>;
extern template class Transaction<testing::FakeBackend>;
extern template class detail::LeaseSession<testing::FakeBackend>;
extern template class detail::PoolCore<testing::FakeBackend>;
extern template class detail::HostPool<testing::FakeBackend>;
}  // namespace sparc::db
