#pragma once
/// @file safety.hpp
/// The write-safety rules, all in one place. Backends report facts only: the exception type,
/// whether any byte of the statement may have left the client (ConnectionError::
/// statement_sent()), the server's SQLSTATE and error routine, the connection's transaction
/// state and whether a cancel request is still outstanding. The functions here decide, from
/// those facts, whether a statement may run again, whether a transaction's outcome is
/// unknown, whether it may be retried, whether an error marks its host down, and whether a
/// connection is clean enough to reuse. The pool asks them and nothing else, so the real and
/// the fake backend cannot disagree on a rule.

#include <cstddef>
#include <string>
#include <string_view>

#include <sparc/db/backend.hpp>
#include <sparc/db/errors.hpp>
#include <sparc/db/options.hpp>
#include <sparc/db/params.hpp>

namespace sparc::db {

/// When in a transaction's life a failure happened.
enum class TransactionPhase {
    body,    ///< BEGIN and fn's statements: COMMIT not sent, the server rolls back on failure.
    commit,  ///< From the first byte of COMMIT written until its answer.
};

/// What to do about a failure inside transaction().
struct RetryDecision {
    enum class Action {
        retry,            ///< Run the whole function again on a fresh attempt.
        fail,             ///< Give up; TransactionOptions::retry_if may still ask for a retry.
        fail_final,       ///< Give up; retry_if is not consulted (commit phase, usage errors).
        outcome_unknown,  ///< COMMIT may have been applied: TransactionOutcomeUnknown.
    };
    Action action = Action::fail;
    RetryReason reason = RetryReason::connection_lost;
};

/// Libpq sends at most this many parameters in one statement (the protocol's Int16 count).
inline constexpr std::size_t kMaxParameters = 65'535;

namespace safety {

/// Whether a server error says a prepared statement the connection had cached went stale: the
/// server rejected it before executing it (the plan no longer matches the table after ALTER
/// TABLE, SQLSTATE 0A000 from RevalidateCachedQuery; or the statement is gone after DISCARD ALL,
/// 26000 from FetchPreparedStatement). Decided on the untranslated routine name, so that a
/// 0A000 raised while a statement runs (after it may have written) never qualifies.
inline bool stale_prepared_statement(const SqlError& e) noexcept {
    const std::string_view state = e.sqlstate();
    const std::string_view routine = e.routine();
    return (state == "0A000" && routine == "RevalidateCachedQuery") ||
           (state == "26000" && routine == "FetchPreparedStatement");
}

/// How a failed autocommit statement (ConnectionPool::query) may be run again.
enum class Rerun {
    no,                ///< Never: the server may have applied it, or it would fail again.
    fresh_connection,  ///< On another connection: the server never received it.
    same_host,  ///< Once more on the same host (a stale statement, now forgotten): on the same
                ///< connection too, unless a transaction block is open there.
};

/// May an autocommit statement that failed with `e` run again? (pgx's SafeToRetry rule.)
/// `rows_delivered`: how many of its rows a streamed statement (for_each) had already handed
/// to the caller's function; always 0 for query().
///
/// | failure                                         | rerun            | why                     |
/// |-------------------------------------------------|------------------|-------------------------|
/// | any, after a row was delivered (for_each)       | no               | the caller's function   |
/// |                                                 |                  | would see rows twice    |
/// | ConnectionError, statement_sent() false         | fresh_connection | no byte left the client |
/// | ConnectionError, statement_sent() true          | no               | it may have run, even   |
/// |                                                 |                  | committed (a CALL)      |
/// | SqlError, stale_prepared_statement()            | same_host        | rejected before running |
/// | QueryTimeout (server or client side)            | no               | it may have run         |
/// | UsageError, any other SqlError                  | no               | it would fail again     |
inline Rerun rerun_statement(const Error& e, std::size_t rows_delivered = 0) noexcept {
    if (rows_delivered > 0) return Rerun::no;
    if (const auto* c = dynamic_cast<const ConnectionError*>(&e)) {
        return c->statement_sent() ? Rerun::no : Rerun::fresh_connection;
    }
    if (dynamic_cast<const QueryTimeout*>(&e) != nullptr) return Rerun::no;
    if (const auto* s = dynamic_cast<const SqlError*>(&e)) {
        if (stale_prepared_statement(*s)) return Rerun::same_host;
    }
    return Rerun::no;
}

/// What transaction() does about `e`, thrown in `phase` (libpqxx perform()'s discipline).
/// `connection` is the transaction's own connection's state after the failure: an error that
/// left it clean came from elsewhere (fn's own code, or a pool.query() it made on another
/// connection, which may have written), so it is not grounds for running fn again.
///
/// | failure                                  | body                  | commit                 |
/// |------------------------------------------|-----------------------|------------------------|
/// | ConnectionError, statement_sent() false  | retry if the tx's     | retry (COMMIT never    |
/// |                                          | connection broke      | left the client)       |
/// | ConnectionError, statement_sent() true   | retry if the tx's     | outcome_unknown        |
/// |                                          | connection broke (the |                        |
/// |                                          | server rolls back)    |                        |
/// | QueryTimeout, client side                | fail                  | outcome_unknown (COMMIT|
/// |                                          |                       | may finish without us) |
/// | QueryTimeout, server side (57014 answer) | fail                  | fail_final             |
/// | SqlError 40001, 40P01                    | retry if the tx's     | retry (the server      |
/// |                                          | connection failed     | rolled back)           |
/// | SqlError 40003                           | outcome_unknown       | outcome_unknown        |
/// | SqlError, stale_prepared_statement()     | retry if the tx's     | fail_final             |
/// |                                          | connection failed     |                        |
/// | other SqlError                           | fail                  | fail_final (the answer |
/// |                                          |                       | proves the rollback)   |
/// | UsageError                               | fail_final            | fail_final             |
/// | anything else (fn's own errors)          | fail                  | fail_final             |
///
/// `fail` lets TransactionOptions::retry_if ask for a retry; in the commit phase it is never
/// consulted, since running the function again could apply it twice.
inline RetryDecision classify(const Error& e, TransactionPhase phase,
                              TxStatus connection = TxStatus::unknown) noexcept {
    using Action = RetryDecision::Action;
    const bool commit = phase == TransactionPhase::commit;
    const Action otherwise = commit ? Action::fail_final : Action::fail;
    const bool broke = connection == TxStatus::unknown;
    const bool failed = broke || connection == TxStatus::in_error;
    if (dynamic_cast<const UsageError*>(&e) != nullptr) return {Action::fail_final};
    if (const auto* c = dynamic_cast<const ConnectionError*>(&e)) {
        if (commit) {
            return {c->statement_sent() ? Action::outcome_unknown : Action::retry,
                    RetryReason::connection_lost};
        }
        return {broke ? Action::retry : Action::fail, RetryReason::connection_lost};
    }
    if (const auto* t = dynamic_cast<const QueryTimeout*>(&e)) {
        if (commit && t->client_side()) return {Action::outcome_unknown};
        return {otherwise};
    }
    if (const auto* s = dynamic_cast<const SqlError*>(&e)) {
        const std::string_view state = s->sqlstate();
        const bool ours = commit || failed;
        if (state == "40001" && ours) return {Action::retry, RetryReason::serialization_failure};
        if (state == "40P01" && ours) return {Action::retry, RetryReason::deadlock};
        if (state == "40003") return {Action::outcome_unknown, RetryReason::connection_lost};
        if (!commit && failed && stale_prepared_statement(*s)) {
            return {Action::retry, RetryReason::stale_statement};
        }
    }
    return {otherwise};
}

/// May a replica read that failed with `e` go to another host (another replica, then the
/// primary)? Only when the replica certainly did not apply it: the pool cannot tell a read
/// from a write, and a host listed as a replica may have been promoted and take writes.
///
/// `rows_delivered` as for rerun_statement(): a streamed read that handed a row to the caller's
/// function goes nowhere else, or the function would see rows twice.
///
/// | failure                                  | another host | why                               |
/// |------------------------------------------|--------------|-----------------------------------|
/// | any, after a row was delivered (for_each)| no           | the function would see rows twice |
/// | ConnectionError, statement_sent() false  | yes          | it never reached the replica      |
/// | ConnectionError, statement_sent() true,  | yes          | the server had reported the       |
/// | read_only_session()                      |              | session read-only: no write ran   |
/// | ConnectionError, statement_sent() true   | no           | it may have run there             |
/// | SqlError 25006, 40001, 57P04 (what a hot | yes          | the standby refused or cancelled  |
/// | standby raises for what it cannot run)   |              | it; a standby applies no write    |
/// | anything else                            | no           | an answer, or it may have run     |
inline bool try_another_host(const Error& e, std::size_t rows_delivered = 0) noexcept {
    if (rows_delivered > 0) return false;
    if (const auto* c = dynamic_cast<const ConnectionError*>(&e)) {
        return !c->statement_sent() || c->read_only_session();
    }
    if (dynamic_cast<const QueryTimeout*>(&e) != nullptr) return false;
    if (const auto* s = dynamic_cast<const SqlError*>(&e)) {
        const std::string_view state = s->sqlstate();
        return state == "25006" || state == "40001" || state == "57P04";
    }
    return false;
}

/// Is this error PgBouncer's own, sent when it had no server connection to give the statement
/// (the database behind it refuses or is down, or none freed up in time)? It holds the
/// statement until it has a server, so such a statement never reached PostgreSQL: not sent.
/// PgBouncer tells these apart only by their text (all are 08P01), given here as the primary
/// message.
inline bool pooler_never_forwarded(std::string_view sqlstate,
                                   std::string_view primary_message) noexcept {
    if (sqlstate != "08P01") return false;
    for (const std::string_view prefix :
         {"server login has been failing", "pgbouncer cannot connect to server",
          "query_wait_timeout", "no more connections allowed"}) {
        if (primary_message.substr(0, prefix.size()) == prefix) return true;
    }
    return false;
}

/// Does a connection error say that the pooler in front of the database cannot reach it
/// (PgBouncer's "server login has been failing" or "pgbouncer cannot connect to server", 08P01
/// anywhere in `text`)? Logins to the pooler still succeed then, and each session ends at its
/// first statement: the pool counts it as a failed connect and backs off.
inline bool pooler_lost_database(std::string_view sqlstate, std::string_view text) noexcept {
    if (sqlstate != "08P01") return false;
    for (const std::string_view what :
         {"server login has been failing", "pgbouncer cannot connect to server"}) {
        if (text.find(what) != std::string_view::npos) return true;
    }
    return false;
}

/// Did a server refuse a new session only because it is up but cannot take one now? 53300
/// (too many connections), 53400 (a role's or database's connection limit) and 57P03 (starting
/// up): a connection released elsewhere, or a moment, may be all it takes.
inline bool server_busy(std::string_view sqlstate) noexcept {
    return sqlstate == "53300" || sqlstate == "53400" || sqlstate == "57P03";
}

/// Does `e`, from a statement or a connection attempt, say the host is unreachable?
///
/// | failure                              | host down | why                                 |
/// |--------------------------------------|-----------|-------------------------------------|
/// | ConnectionError, server_busy() state | no        | the server answered: up, but full   |
/// | ConnectionError otherwise            | yes       | the session broke or never opened   |
/// | UsageError, SqlError, QueryTimeout   | no        | the server answered: it is up       |
inline bool marks_host_down(const Error& e) noexcept {
    const auto* c = dynamic_cast<const ConnectionError*>(&e);
    return c != nullptr && !server_busy(c->sqlstate());
}

/// Did a host refuse a statement because it takes no writes (SQLSTATE 25006)? On a replica the
/// statement is a write meant for the primary: it goes straight there, trying no other replica
/// and marking none down. On the primary the host is no longer the primary (fenced, demoted):
/// its connections are dropped and new ones look for the writable host the URL names.
inline bool read_only_refusal(const Error& e) noexcept {
    const auto* s = dynamic_cast<const SqlError*>(&e);
    return s != nullptr && s->sqlstate() == "25006";
}

/// What to do with a connection when its lease ends.
enum class Reuse {
    keep,             ///< Idle, no cancel outstanding: back to the pool.
    roll_back_first,  ///< A transaction is open: ROLLBACK, then ask again.
    discard,          ///< Broken, mid-statement, or a cancel may still land on it.
};

/// Is a connection clean enough to serve the next caller?
///
/// | transaction state       | cancel outstanding | reuse           |
/// |-------------------------|--------------------|-----------------|
/// | any                     | yes                | discard (a late |
/// |                         |                    | cancel would    |
/// |                         |                    | hit the next    |
/// |                         |                    | caller)         |
/// | idle                    | no                 | keep            |
/// | in_transaction/in_error | no                 | roll_back_first |
/// | active, unknown         | no                 | discard         |
inline Reuse reuse(TxStatus status, bool cancel_outstanding) noexcept {
    if (cancel_outstanding) return Reuse::discard;
    switch (status) {
        case TxStatus::idle:
            return Reuse::keep;
        case TxStatus::in_transaction:
        case TxStatus::in_error:
            return Reuse::roll_back_first;
        default:
            return Reuse::discard;
    }
}

/// Whether a server error is a caller's mistake that the server found: a parameter count
/// that does not match the statement is answered with an ERROR of SQLSTATE 08P01 (protocol
/// violation) on a session that stays usable. A FATAL 08P01 breaks the session and arrives
/// as a ConnectionError instead.
inline bool usage_error(const SqlError& e) noexcept { return e.sqlstate() == "08P01"; }

/// Checks what the caller passes before anything is sent: SQL text and text parameters
/// travel NUL-terminated through libpq, so a NUL byte would silently cut them short; libpq
/// sends at most kMaxParameters parameters; a binary (bytea) parameter may hold NUL but not
/// more than PostgreSQL's 1 GB per value. @throws UsageError naming the mistake.
void check_statement(std::string_view sql, ParamsRef params);

/// The transaction-control command `sql` starts with (BEGIN, START, COMMIT, END, ROLLBACK,
/// ABORT, SAVEPOINT, RELEASE, PREPARE TRANSACTION), upper-cased; empty for any other
/// statement. Leading blanks and comments are skipped.
std::string transaction_control(std::string_view sql);

/// Whether an autocommit statement may be sent inside a block of its own (BEGIN ... COMMIT):
/// not transaction control (transaction_control()), which would end or nest that block, and
/// not a statement PostgreSQL refuses outside a block (LOCK, DECLARE for a cursor without
/// HOLD), which the block would let through with its lock or cursor gone at once.
bool may_wrap_in_block(std::string_view sql);

/// Refuses a statement that cannot be part of a batch: transaction control (BEGIN, START,
/// COMMIT, END, ROLLBACK, ABORT, SAVEPOINT, RELEASE, PREPARE TRANSACTION), which would split
/// the batch's one transaction. Leading blanks and comments are skipped.
/// @throws UsageError naming the command.
void check_batch_statement(std::string_view sql);

/// Refuses a statement that would end or restart the transaction transaction() manages
/// (BEGIN, START, COMMIT, END, ROLLBACK, ABORT, PREPARE TRANSACTION): a COMMIT sent by the
/// function would keep its work even when transaction() then reports a rollback. Savepoints
/// (SAVEPOINT, RELEASE, ROLLBACK TO) are allowed. @throws UsageError naming the command.
void check_transaction_statement(std::string_view sql);

}  // namespace safety

/// The transaction rule (safety::classify), under the name retry.hpp has always offered.
inline RetryDecision classify(const Error& e, TransactionPhase phase,
                              TxStatus connection = TxStatus::unknown) noexcept {
    return safety::classify(e, phase, connection);
}

}  // namespace sparc::db
