#include <sparc/db/pqxx_backend.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>
#include <pqxx/basic_connection>
#include <pqxx/connectionpolicy>
#include <pqxx/except>
#include <pqxx/version>

#include <sparc/db/errors.hpp>
#include <sparc/db/safety.hpp>

#include "resolve.hpp"

namespace sparc::db {
namespace {

using namespace std::chrono_literals;

/// How long a cancelled statement may take to come back before the connection is broken off.
constexpr auto kCancelGrace = 500ms;

struct CancelFree {
    void operator()(PGcancel* c) const noexcept { PQfreeCancel(c); }
};
using CancelHandle = std::shared_ptr<PGcancel>;

struct ResultFree {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultFree>;

/// A libpq result exposed to db::Result without copying its rows.
class PgResultData final : public detail::ResultData {
  public:
    explicit PgResultData(ResultPtr result) : result_(std::move(result)) {
        // The command tag's count, for a write only: a SELECT's (or FETCH's, MOVE's) counts
        // rows returned, not rows changed.
        const char* tag = PQcmdStatus(result_.get());
        const std::string_view status = tag != nullptr ? tag : "";
        const bool write = status.starts_with("INSERT ") || status.starts_with("UPDATE ") ||
                           status.starts_with("DELETE ") || status.starts_with("MERGE ");
        const char* tuples = write ? PQcmdTuples(result_.get()) : nullptr;
        if (tuples != nullptr && *tuples != '\0') {
            const std::string_view t(tuples);
            std::from_chars(t.data(), t.data() + t.size(), affected_);
        }
    }
    std::size_t rows() const noexcept override {
        return static_cast<std::size_t>(PQntuples(result_.get()));
    }
    std::size_t columns() const noexcept override {
        return static_cast<std::size_t>(PQnfields(result_.get()));
    }
    std::string_view column_name(std::size_t c) const noexcept override {
        const char* name = PQfname(result_.get(), static_cast<int>(c));
        return name != nullptr ? std::string_view(name) : std::string_view{};
    }
    bool is_null(std::size_t r, std::size_t c) const noexcept override {
        return PQgetisnull(result_.get(), static_cast<int>(r), static_cast<int>(c)) != 0;
    }
    std::string_view value(std::size_t r, std::size_t c) const noexcept override {
        const int row = static_cast<int>(r);
        const int col = static_cast<int>(c);
        return {PQgetvalue(result_.get(), row, col),
                static_cast<std::size_t>(PQgetlength(result_.get(), row, col))};
    }
    std::uint64_t affected_rows() const noexcept override { return affected_; }
    std::uint32_t column_type(std::size_t c) const noexcept override {
        return static_cast<std::uint32_t>(PQftype(result_.get(), static_cast<int>(c)));
    }

  private:
    ResultPtr result_;
    std::uint64_t affected_ = 0;
};

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

// The server refused a text of several statements. Every statement goes out with the extended
// query protocol (bound parameters), prepared or not, which takes one statement per text; the
// server's words for it ("... into a prepared statement") would mislead where nothing is
// prepared, as in pgbouncer_mode.
constexpr std::string_view kSeveralStatementsHint =
    "send the statements one at a time, or as one batch()";

bool several_statements(const PGresult* r) {
    const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char* primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    return state != nullptr && primary != nullptr && std::string_view(state) == "42601" &&
           std::string_view(primary) == "cannot insert multiple commands into a prepared statement";
}

// "primary message (DETAIL: ...) (HINT: ...) [SQLSTATE xxxxx]", or libpq's own text when the
// server sent no fields (a broken connection).
std::string describe(const PGresult* r) {
    const char* primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    if (primary == nullptr) return trim(PQresultErrorMessage(r));
    if (several_statements(r)) {
        return fmt::format(
            "the SQL text holds more than one statement, and a statement sent with bound "
            "parameters (as every statement is) must be one: {} [SQLSTATE 42601]",
            kSeveralStatementsHint);
    }
    std::string out = primary;
    if (const char* d = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL))
        out += fmt::format(" DETAIL: {}", d);
    if (const char* h = PQresultErrorField(r, PG_DIAG_MESSAGE_HINT))
        out += fmt::format(" HINT: {}", h);
    if (const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE))
        out += fmt::format(" [SQLSTATE {}]", s);
    return out;
}

// The server's error fields beyond the message and SQLSTATE.
SqlErrorFields fields_of(const PGresult* r) {
    auto field = [&](int code) {
        const char* v = PQresultErrorField(r, code);
        return v != nullptr ? std::string(v) : std::string();
    };
    SqlErrorFields f;
    f.detail = field(PG_DIAG_MESSAGE_DETAIL);
    f.hint = field(PG_DIAG_MESSAGE_HINT);
    f.schema = field(PG_DIAG_SCHEMA_NAME);
    f.table = field(PG_DIAG_TABLE_NAME);
    f.column = field(PG_DIAG_COLUMN_NAME);
    f.constraint = field(PG_DIAG_CONSTRAINT_NAME);
    f.routine = field(PG_DIAG_SOURCE_FUNCTION);
    if (several_statements(r)) f.hint = kSeveralStatementsHint;
    return f;
}

// FATAL and PANIC end the session; ERROR ends only the statement.
bool ends_session(const PGresult* r) {
    const char* severity = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity == nullptr) return false;
    const std::string_view s(severity);
    return s == "FATAL" || s == "PANIC";
}

/// Where a connection being opened on this thread reports its libpq handle, and until when it
/// may try. libpqxx 6 builds its connection policy from the options string alone, so the
/// policy finds its deadline here.
struct ConnectContext {
    Clock::time_point deadline = Clock::time_point::max();
    const std::atomic<bool>* abandon = nullptr;  // the pool is shutting down
    bool abandoned = false;
    PGconn* raw = nullptr;
    bool timed_out = false;
    std::string error;
    std::string sqlstate;  // of the server's refusal (53300, 28P01, 57P03...), if it sent one
};

bool is_sqlstate(std::string_view s) {
    return s.size() == 5 && std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
           });
}

/// A connect failure as libpq reports it with verbose errors, turned back into the default
/// form: the server's "FATAL:  53300: sorry, ..." loses its code (returned through `sqlstate`)
/// and the "LOCATION:" line naming the server's source file goes.
std::string plain_connect_error(std::string_view verbose, std::string& sqlstate) {
    std::string out;
    while (!verbose.empty()) {
        const auto nl = verbose.find('\n');
        std::string_view line = verbose.substr(0, nl);
        verbose.remove_prefix(nl == std::string_view::npos ? verbose.size() : nl + 1);
        if (line.starts_with("LOCATION:")) continue;
        for (const std::string_view severity : {"FATAL:  ", "ERROR:  ", "PANIC:  "}) {
            const auto at = line.find(severity);
            if (at == std::string_view::npos) continue;
            const auto code = line.substr(at + severity.size(), 5);
            if (is_sqlstate(code) && line.substr(at + severity.size() + 5).starts_with(": ")) {
                if (sqlstate.empty()) sqlstate = std::string(code);
                out += line.substr(0, at + severity.size());
                line.remove_prefix(at + severity.size() + 7);
            }
            break;
        }
        out += line;
        out += '\n';
    }
    return out;
}
thread_local ConnectContext* t_connect_context = nullptr;

/// A libpqxx connection policy that connects with libpq's non-blocking calls, so the attempt
/// ends at the pool's deadline (libpq's connect_timeout counts whole seconds, per address).
class DeadlineConnect : public pqxx::connectionpolicy {
  public:
    explicit DeadlineConnect(const std::string& options) : pqxx::connectionpolicy(options) {}

    handle do_startconnect(handle orig) override {
        if (orig != nullptr) return orig;
        ConnectContext* ctx = t_connect_context;
        PGconn* conn = PQconnectStart(options().c_str());
        if (conn == nullptr) throw std::bad_alloc();
        // Verbose errors carry the server's SQLSTATE of a refusal (53300 "too many clients");
        // plain_connect_error() gives the message its usual form back.
        PQsetErrorVerbosity(conn, PQERRORS_VERBOSE);
        PostgresPollingStatusType state = PGRES_POLLING_WRITING;
        while (state != PGRES_POLLING_OK && state != PGRES_POLLING_FAILED) {
            if (PQstatus(conn) == CONNECTION_BAD) break;
            pollfd p{PQsocket(conn),
                     static_cast<short>(state == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
            int timeout_ms = -1;
            if (ctx != nullptr && ctx->deadline != Clock::time_point::max()) {
                const auto left =
                    std::chrono::ceil<std::chrono::milliseconds>(ctx->deadline - Clock::now());
                if (left.count() <= 0) {
                    ctx->timed_out = true;
                    break;
                }
                timeout_ms = static_cast<int>(std::min<std::int64_t>(left.count(), 60'000));
            }
            if (ctx != nullptr && ctx->abandon != nullptr) {
                if (ctx->abandon->load()) {
                    ctx->abandoned = true;
                    break;
                }
                timeout_ms = timeout_ms < 0 ? 50 : std::min(timeout_ms, 50);
            }
            const int n = ::poll(&p, 1, timeout_ms);
            if (n < 0 && errno != EINTR) break;
            if (n == 0) continue;
            state = PQconnectPoll(conn);
        }
        if (state != PGRES_POLLING_OK || PQstatus(conn) != CONNECTION_OK) {
            // Report the failure through the context and hand libpqxx no handle, so that it
            // neither retries nor has to free a half-open connection.
            if (ctx != nullptr) {
                ctx->error = ctx->abandoned ? "abandoned: the pool is shutting down"
                             : ctx->timed_out
                                 ? "timeout expired"
                                 : trim(plain_connect_error(PQerrorMessage(conn), ctx->sqlstate));
            }
            PQfinish(conn);
            return nullptr;
        }
        PQsetErrorVerbosity(conn, PQERRORS_DEFAULT);
        if (ctx != nullptr) ctx->raw = conn;
        return conn;
    }
};

using PqxxConnection = pqxx::basic_connection_base<DeadlineConnect>;

}  // namespace

/// Receives server notices. Outside a statement, a FATAL or PANIC "notice" is the server ending
/// the session; everything else is dropped (a library does not write to stderr).
extern "C" void sparc_pqxx_notice_receiver(void* arg, const PGresult* result);

/// One connection's cancel requests: how many were queued and how many the canceller has
/// delivered (PQcancel returned: the server has signalled the session). Shared with queued
/// jobs, so it outlives the connection if a request is still on its way.
struct CancelTicket {
    std::mutex mutex;
    std::condition_variable cv;
    std::atomic<std::uint32_t> queued{0};
    std::uint32_t delivered = 0;  // guarded by mutex

    void mark_delivered() {
        {
            std::lock_guard lock(mutex);
            ++delivered;
        }
        cv.notify_all();
    }
    /// Waits until the first `count` requests are delivered, or `deadline`; whether they were.
    bool wait_delivered(std::uint32_t count, Clock::time_point deadline) {
        std::unique_lock lock(mutex);
        return cv.wait_until(lock, deadline, [&] { return delivered >= count; });
    }
};

struct CancelJob {
    CancelHandle handle;
    std::shared_ptr<CancelTicket> ticket;
};

/// The canceller's state. The thread co-owns it, so a thread left behind by ~Shared (a cancel
/// request stuck on a stalled network) only ever touches memory that is still alive.
struct CancelCore {
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<CancelJob> queue;
    bool stopping = false;
    bool busy = false;

    void run() {
        std::unique_lock lock(mutex);
        while (true) {
            cv.wait(lock, [&] { return stopping || !queue.empty(); });
            if (stopping) return;
            CancelJob job = std::move(queue.front());
            queue.pop_front();
            busy = true;
            lock.unlock();
            char err[256];
            PQcancel(job.handle.get(), err, sizeof err);
            job.ticket->mark_delivered();
            job = {};
            lock.lock();
            busy = false;
            cv.notify_all();
        }
    }
};

/// State shared by a backend and its connections: one canceller thread per server, and which
/// host of each multi-host endpoint accepted last. PQcancel blocks until the server closes the
/// cancel connection, so it runs on a canceller, never on a caller's thread; one thread per
/// server, so a cancel stuck on a frozen host holds up no cancel to another.
struct PqxxBackend::Shared {
    struct Canceller {
        std::shared_ptr<CancelCore> core = std::make_shared<CancelCore>();
        std::thread thread;  // started on first use
    };
    std::mutex mutex;
    std::map<std::string, Canceller, std::less<>> cancellers;   // by "host:port"
    std::map<std::string, std::size_t, std::less<>> preferred;  // by endpoint label
    // Sessions found lost (closed by the server, broken): after each, every session checks its
    // socket once before its next statement, alive-bypass window or not, since a restart or a
    // mass termination ends the others too.
    std::atomic<std::uint64_t> sessions_lost{0};

    void cancel(std::string_view server, CancelJob job) {
        std::lock_guard lock(mutex);
        auto it = cancellers.find(server);
        if (it == cancellers.end()) it = cancellers.emplace(std::string(server), Canceller{}).first;
        Canceller& c = it->second;
        std::lock_guard core_lock(c.core->mutex);
        if (c.core->stopping) return;
        c.core->queue.push_back(std::move(job));
        if (!c.thread.joinable()) {
            c.thread = std::thread([core = c.core] { core->run(); });
        }
        c.core->cv.notify_one();
    }

    std::size_t preferred_host(std::string_view endpoint) {
        std::lock_guard lock(mutex);
        const auto it = preferred.find(endpoint);
        return it == preferred.end() ? 0 : it->second;
    }

    void accepted(std::string_view endpoint, std::size_t host) {
        std::lock_guard lock(mutex);
        const auto it = preferred.find(endpoint);
        if (it == preferred.end()) {
            preferred.emplace(std::string(endpoint), host);
        } else {
            it->second = host;
        }
    }

    ~Shared() {
        // A cancel request to a server behind a stalled network can block indefinitely; give
        // them all a moment, then let such a thread finish on its own (it co-owns what it
        // touches).
        const auto until = Clock::now() + 2s;
        for (auto& entry : cancellers) {
            Canceller& c = entry.second;  // a structured binding cannot be captured (C++17)
            std::unique_lock lock(c.core->mutex);
            c.core->stopping = true;
            c.core->cv.notify_all();
            const bool idle = c.core->cv.wait_until(lock, until, [&] { return !c.core->busy; });
            lock.unlock();
            if (!c.thread.joinable()) continue;
            if (idle) {
                c.thread.join();
            } else {
                c.thread.detach();
            }
        }
    }
};

struct PqxxBackend::Connection::Impl {
    std::shared_ptr<PqxxBackend::Shared> shared;
    std::unique_ptr<PqxxConnection> conn;
    PGconn* raw = nullptr;
    CancelHandle cancel_handle;
    // Cancel requests sent for this session (by the client deadline, or cancel() from another
    // thread), and how many of them are known to have landed harmlessly: a request the server
    // answered with 57014 and that the canceller has delivered. Any other request may still
    // interrupt a later statement, so the session is not clean (safety::reuse).
    std::shared_ptr<CancelTicket> cancels = std::make_shared<CancelTicket>();
    std::uint32_t cancels_settled = 0;
    std::string password;  // only for masking server messages
    std::string server;    // "host:port" the session reached, for its canceller
    bool broken = false;
    bool server_closing = false;     // a FATAL message arrived while idle: the session is ending
    bool committing = false;         // the statement in flight is COMMIT
    bool read_only_at_send = false;  // the server reported the session read-only at the send
    bool pgbouncer_mode = false;
    std::size_t cache_capacity = 0;
    // The session answered (or passed a liveness check) at `last_seen`: until `alive_bypass`
    // after it, check_idle_socket() trusts it without a system call (HikariCP's alive-bypass
    // window).
    std::chrono::milliseconds alive_bypass{0};
    Clock::time_point last_seen{};
    std::uint64_t lost_seen = 0;  // Shared::sessions_lost at the last check of the socket
    std::chrono::milliseconds cancel_grace = kCancelGrace;  // of the statement in flight
    // cancel() from another thread (a caller's stop request, a shutdown) wakes the owner's wait
    // for the result through this eventfd, so a statement cancelled that way ends within
    // cancel_grace even when the server never answers (a frozen host). -1 when eventfd failed:
    // the statement then ends at its own deadline.
    int wake_fd = -1;
    // interrupt() from another thread shuts the socket down through `socket_fd`, a duplicate
    // of libpq's descriptor: libpq may close its own at any time (a read that meets the end of
    // the connection), and the number could then name another socket; the duplicate is only
    // closed under fd_mutex. `cut` (written before `interrupted` is set) says why, for the
    // error the owner then throws.
    std::mutex fd_mutex;
    int socket_fd = -1;
    std::atomic<bool> interrupted{false};
    std::string cut;
    std::atomic<std::uint64_t> awaiting{0};  // the statement whose result the owner awaits, or 0
    std::atomic<std::uint64_t> woken{0};     // the statement a cancel() asked to end
    std::uint64_t awaited = 0;               // statements awaited so far (owner only)

    Impl() = default;
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    ~Impl() {
        if (wake_fd >= 0) ::close(wake_fd);
        if (socket_fd >= 0) ::close(socket_fd);
    }

    // Prepared statements, least recently used at the front.
    struct Prepared {
        std::string name;
        std::list<std::string>::iterator lru;
    };
    std::list<std::string> lru;
    // Looked up by string_view: a cached statement costs no allocation per query.
    struct TextHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view v) const noexcept {
            return std::hash<std::string_view>{}(v);
        }
    };
    std::unordered_map<std::string, Prepared, TextHash, std::equal_to<>> prepared;
    std::uint64_t next_statement = 0;
    // Statements the server still holds but the cache no longer does (evicted, or gone stale
    // after a schema change): deallocated in the pipeline of the next statement that uses the
    // cache outside a transaction block (queue_deallocations).
    std::vector<std::string> stale_names;
    std::vector<std::string> deallocate_sql;  // their DEALLOCATE statements, in a pipeline
    std::vector<const char*> values;  // Parameter arrays for libpq, reused statement to statement.
    std::vector<int> lengths;
    std::vector<int> formats;

    // May run on another thread than the session's owner (shutdown): reads nothing the owner
    // writes. A cancel for a session that has meanwhile broken is harmless (the server finds no
    // running statement with that key).
    void request_cancel() {
        if (!cancel_handle) return;
        cancels->queued.fetch_add(1, std::memory_order_acq_rel);
        shared->cancel(server, CancelJob{cancel_handle, cancels});
    }

    // cancel() from another thread: the request, then a wake-up for the owner if it is waiting
    // for a result.
    void cancel_and_wake() {
        request_cancel();
        const std::uint64_t statement = awaiting.load(std::memory_order_acquire);
        if (statement != 0 && wake_fd >= 0) {
            woken.store(statement, std::memory_order_release);
            (void)::eventfd_write(wake_fd, 1);
        }
    }

    bool cancel_outstanding() const noexcept {
        return cancels->queued.load(std::memory_order_acquire) != cancels_settled;
    }

    // The server answered a statement with 57014: the cancel requests sent so far have taken
    // effect once the canceller has delivered them (the server ignores a cancel that reaches
    // an idle session). Waits briefly for that; requests still undelivered stay outstanding.
    void settle_cancels() {
        const std::uint32_t queued = cancels->queued.load(std::memory_order_acquire);
        if (queued == cancels_settled) return;
        if (cancels->wait_delivered(queued, Clock::now() + kCancelGrace)) cancels_settled = queued;
    }

    std::string mask(std::string text) const {
        return mask_password(trim(std::move(text)), password);
    }

    void mark_broken() noexcept {
        broken = true;
        pending = false;
        std::lock_guard lock(fd_mutex);
        if (socket_fd >= 0) ::close(std::exchange(socket_fd, -1));
        if (conn) {
            try {
                conn->disconnect();
            } catch (...) {
            }
        }
        raw = nullptr;
    }

    // Reads whatever the server sent while the session was idle. False when the session is
    // gone: the server closed it (terminated backend, restart) or libpq saw an error. Within
    // alive_bypass of the session's last answer only what is known without a system call is
    // checked, unless `always` or a session was lost since this one's last check.
    bool check_idle_socket(bool always = false) {
        if (!open_in_memory()) return false;
        const auto now = Clock::now();
        const std::uint64_t lost =
            shared ? shared->sessions_lost.load(std::memory_order_relaxed) : 0;
        if (!always && now - last_seen < alive_bypass && lost == lost_seen) return true;
        if (!poll_idle_socket()) {
            note_lost();
            return false;
        }
        last_seen = now;
        lost_seen = lost;
        return true;
    }

    // This session was lost: the others check their sockets before their next statements.
    void note_lost() noexcept {
        if (shared) shared->sessions_lost.fetch_add(1, std::memory_order_relaxed);
    }

    // What is known of the session without a system call.
    bool open_in_memory() const noexcept {
        return !broken && raw != nullptr && !server_closing && PQstatus(raw) == CONNECTION_OK;
    }

    // The session's end of an exchange: one that left it unbroken was answered by the server.
    struct Answered {
        Impl& impl;
        ~Answered() {
            if (!impl.broken) impl.last_seen = Clock::now();
        }
    };

    bool poll_idle_socket() {
        const int fd = PQsocket(raw);
        if (fd < 0) return false;
        for (int i = 0; i < 4; ++i) {
            pollfd p{fd, POLLIN, 0};
            const int n = ::poll(&p, 1, 0);
            if (n == 0) return true;
            if (n < 0) return errno == EINTR;
            if ((p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) return false;
            char byte;
            const auto peeked = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
            if (peeked == 0) return false;  // orderly shutdown by the server
            if (PQconsumeInput(raw) == 0 || PQstatus(raw) != CONNECTION_OK) return false;
            while (PGnotify* n2 = PQnotifies(raw)) PQfreemem(n2);
            // The server says goodbye (pg_terminate_backend, shutdown) with a FATAL message
            // that libpq hands to the notice receiver while idle, before the socket closes.
            if (server_closing) return false;
        }
        return PQstatus(raw) == CONNECTION_OK;
    }

    // poll()'s timeout until `deadline`: at most a minute at a time, -1 without a deadline,
    // nullopt once it has passed.
    static std::optional<int> poll_timeout(Clock::time_point deadline) {
        if (deadline == Clock::time_point::max()) return -1;
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return std::nullopt;
        return static_cast<int>(std::min<std::int64_t>(left.count(), 60'000));
    }

    // Waits for the socket until `deadline`; false on timeout.
    bool wait_socket(short events, Clock::time_point deadline) const {
        const int fd = PQsocket(raw);
        while (true) {
            const auto timeout_ms = poll_timeout(deadline);
            if (!timeout_ms) return false;
            pollfd p{fd, events, 0};
            const int n = ::poll(&p, 1, *timeout_ms);
            if (n > 0) return true;
            if (n < 0 && errno != EINTR) return true;  // let libpq report the error
        }
    }

    enum class Wait { ready, timeout, woken };

    // Waits for the result's bytes until `deadline`, or for cancel() to wake statement
    // `statement` (a wake-up left over from an earlier statement is drained and ignored).
    Wait wait_result(Clock::time_point deadline, std::uint64_t statement, short events = POLLIN) {
        if (wake_fd < 0) return wait_socket(events, deadline) ? Wait::ready : Wait::timeout;
        const int fd = PQsocket(raw);
        while (true) {
            const auto timeout_ms = poll_timeout(deadline);
            if (!timeout_ms) return Wait::timeout;
            pollfd p[2] = {{fd, events, 0}, {wake_fd, POLLIN, 0}};
            const int n = ::poll(p, 2, *timeout_ms);
            if (n < 0 && errno != EINTR) return Wait::ready;  // let libpq report the error
            if (n <= 0) continue;
            if (p[1].revents != 0) {
                eventfd_t value = 0;
                (void)::eventfd_read(wake_fd, &value);
                if (woken.load(std::memory_order_acquire) == statement) return Wait::woken;
            }
            if (p[0].revents != 0) return Wait::ready;
        }
    }

    void interrupt(std::string_view reason) noexcept {
        std::lock_guard lock(fd_mutex);
        if (socket_fd < 0 || interrupted.load(std::memory_order_relaxed)) return;
        try {
            cut.assign(reason);
        } catch (...) {
            cut.clear();
        }
        interrupted.store(true, std::memory_order_release);
        // Every wait on the socket ends at once and libpq reads end-of-file: no byte more is
        // sent or received on this session.
        (void)::shutdown(socket_fd, SHUT_RDWR);
    }

    // The error for a session interrupt() cut: `what` says at which step.
    [[noreturn]] void throw_cut(bool sent, std::string_view what) {
        std::string reason = cut.empty() ? std::string("cut by the pool") : cut;
        mark_broken();
        throw ConnectionError(
            fmt::format("connection cut {}: {}{}", what, reason,
                        sent ? "; the statement had been sent and may have run" : ""),
            sent, {}, sent && read_only_at_send);
    }

    [[noreturn]] void throw_broken(bool sent, const std::string& what) {
        if (interrupted.load(std::memory_order_acquire)) throw_cut(sent, what);
        note_lost();
        std::string msg = raw != nullptr ? mask(PQerrorMessage(raw)) : std::string();
        mark_broken();
        throw ConnectionError(fmt::format("connection lost {}: {}", what,
                                          msg.empty() ? "server closed the connection" : msg),
                              sent, {}, sent && read_only_at_send);
    }

    // The statement's error as the exception that reports it. `cancelled`: the client deadline
    // had sent a cancel request.
    [[noreturn]] void throw_error(const PGresult* error, bool cancelled) {
        const char* state = PQresultErrorField(error, PG_DIAG_SQLSTATE);
        std::string sqlstate = state != nullptr ? state : "";
        std::string message = mask(describe(error));
        if (PQstatus(raw) != CONNECTION_OK || ends_session(error)) {
            // The server ended the session (terminated, shut down) while the statement was
            // on its way or running: the statement may have done its work (a CALL may
            // have committed inside), so it counts as sent. Unless PgBouncer ended it
            // because it had no server for the statement, which then never reached one.
            const char* primary = PQresultErrorField(error, PG_DIAG_MESSAGE_PRIMARY);
            const bool sent =
                !safety::pooler_never_forwarded(sqlstate, primary != nullptr ? primary : "");
            if (interrupted.load(std::memory_order_acquire)) {
                throw_cut(sent, "while waiting for the result");
            }
            note_lost();
            mark_broken();
            throw ConnectionError(fmt::format("connection lost: {}", message), sent,
                                  std::move(sqlstate), sent && read_only_at_send);
        }
        if (sqlstate == "57014") {
            settle_cancels();
            throw QueryTimeout(cancelled ? "the client-side deadline passed and the server "
                                           "cancelled the statement: " +
                                               message
                                         : message,
                               cancelled);
        }
        auto fields = fields_of(error);
        for (auto* f : {&fields.detail, &fields.hint}) *f = mask(std::move(*f));
        throw SqlError(message, std::move(sqlstate), std::move(fields));
    }

    // Waits once for the answer to statement `id`: true when the socket has something to read.
    // cancel() from another thread (which has sent the request) or the deadline (which sends it
    // now) gives the server cancel_grace to answer, except during COMMIT, which is never cut
    // short; when that runs out too, the session is broken off and QueryTimeout(`timeout`)
    // thrown. False: wait again.
    bool await_ready(std::uint64_t id, bool& cancelled, Clock::time_point& hard_deadline,
                     const char* timeout) {
        const Wait w = wait_result(hard_deadline, id);
        if (w == Wait::ready) return true;
        if (!cancelled && !committing) {
            cancelled = true;
            if (w == Wait::woken) {
                hard_deadline = std::min(hard_deadline, Clock::now() + cancel_grace);
            } else {
                request_cancel();
                hard_deadline = Clock::now() + cancel_grace;
            }
            return false;
        }
        if (w == Wait::woken) return false;
        mark_broken();
        throw QueryTimeout(timeout, true, false);
    }

    // Collects the statement's results; handles the client-side deadline. The deadline cancels
    // a statement, except COMMIT: a cancel cannot undo a commit record already written (and
    // during a synchronous-replication wait only turns the answer into a warning), so a late
    // COMMIT is abandoned and its outcome is left for the caller to resolve.
    // `copy_started`, when given, is set when the server accepted a COPY FROM STDIN (its data is
    // then awaited: nothing more to collect), and the call returns no result.
    ResultPtr await_result(Clock::time_point deadline, bool* copy_started = nullptr) {
        bool cancelled = false;
        Clock::time_point hard_deadline = deadline;
        const std::uint64_t statement = ++awaited;
        awaiting.store(statement, std::memory_order_release);
        struct Done {
            std::atomic<std::uint64_t>& awaiting;
            ~Done() { awaiting.store(0, std::memory_order_release); }
        } done{awaiting};
        // Send, poll, receive: nothing is read before the socket says the answer is there.
        while (PQisBusy(raw) != 0) {
            if (!await_ready(statement, cancelled, hard_deadline,
                             committing
                                 ? "COMMIT was not answered within the client deadline; the "
                                   "connection was closed and the outcome is not known"
                                 : "statement exceeded the client query timeout; the server did "
                                   "not answer the cancel request and the connection was closed: "
                                   "the statement may have completed")) {
                continue;
            }
            if (PQconsumeInput(raw) == 0) throw_broken(true, "while waiting for the result");
        }
        ResultPtr last;
        ResultPtr error;
        while (PGresult* r = PQgetResult(raw)) {
            ResultPtr res(r);
            const auto status = PQresultStatus(r);
            if (status == PGRES_COPY_IN && copy_started != nullptr && !error) {
                *copy_started = true;
                return nullptr;
            }
            if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH) {
                // A COPY through execute(): libpq would hand this result out forever, and the
                // session waits for data: it is closed.
                mark_broken();
                throw UsageError(
                    "COPY FROM STDIN / TO STDOUT cannot run through query(): use copy_in()");
            }
            if (status == PGRES_FATAL_ERROR || status == PGRES_NONFATAL_ERROR ||
                status == PGRES_BAD_RESPONSE) {
                if (!error) error = std::move(res);
            } else {
                last = std::move(res);
            }
            bool lost = false;
            // More results are coming; wait for them within the same deadline.
            while (PQisBusy(raw) != 0) {
                if (!wait_socket(POLLIN, hard_deadline) || PQconsumeInput(raw) == 0) {
                    // After an error (a FATAL goodbye), the error says what happened.
                    if (!error) throw_broken(true, "while reading the result");
                    lost = true;
                    break;
                }
            }
            if (lost) break;
        }
        if (error) throw_error(error.get(), cancelled);
        // A result that arrived after a cancel was sent leaves the request outstanding: it may
        // still reach the session later (safety::reuse discards such a connection).
        return last;
    }

    void flush(Clock::time_point deadline) {
        while (true) {
            const int r = PQflush(raw);
            if (r == 0) return;
            if (r < 0) throw_broken(true, "while sending the statement");
            if (!wait_socket(POLLOUT | POLLIN, deadline)) {
                mark_broken();
                throw QueryTimeout(
                    "statement could not be sent within the client query timeout; the "
                    "connection was closed: the part sent may have reached the server",
                    true, false);
            }
            if (PQconsumeInput(raw) == 0) throw_broken(true, "while sending the statement");
        }
    }

    // Whether a statement may go through the prepared-statement cache.
    bool cache_allowed(const ExecSettings& settings) const noexcept {
        return settings.prepare && !pgbouncer_mode && cache_capacity > 0;
    }

    // The name `sql` is prepared under on this session (now the most recently used), or
    // nullptr when it is not in the cache.
    const std::string* cached_name(std::string_view sql) {
        auto it = prepared.find(sql);
        if (it == prepared.end()) return nullptr;
        lru.splice(lru.end(), lru, it->second.lru);
        return &it->second.name;
    }

    // Whether a statement not in the cache may be prepared now. Evicted statements are
    // deallocated only outside a transaction block (queue_deallocations): inside one, once as
    // many wait as the cache holds, a statement runs unnamed instead, so that the server never
    // holds more than twice the cache.
    bool may_prepare() const noexcept {
        return PQtransactionStatus(raw) == PQTRANS_IDLE || stale_names.size() < cache_capacity;
    }

    // The server prepared `text` as `name`: the cache takes it, and evicts its least recently
    // used statement when full. The evicted name waits in stale_names for a DEALLOCATE that goes
    // out with a later statement: an eviction costs no round trip of its own.
    const std::string* remember_prepared(std::string text, std::string name) {
        lru.push_back(text);
        auto [pos, inserted] =
            prepared.emplace(std::move(text), Prepared{std::move(name), std::prev(lru.end())});
        if (!inserted) {
            // Not reached (only a statement not in the cache is prepared), but an entry must
            // not be left without its place in the LRU order.
            lru.pop_back();
            return &pos->second.name;
        }
        if (prepared.size() > cache_capacity) {
            const auto oldest = prepared.find(lru.front());
            stale_names.push_back(std::move(oldest->second.name));
            prepared.erase(oldest);
            lru.pop_front();
        }
        return &pos->second.name;
    }

    void run_simple(const std::string& sql, Clock::time_point deadline) {
        Answered answered{*this};
        if (PQsendQuery(raw, sql.c_str()) == 0)
            throw_broken(false, "before the statement was sent");
        flush(deadline);
        await_result(deadline);
    }

    void execute_simple(const std::string& sql, Clock::time_point deadline) {
        if (!check_idle_socket()) {
            mark_broken();
            if (interrupted.load(std::memory_order_acquire)) {
                throw_cut(false, "before the statement was sent");
            }
            throw ConnectionError("connection was closed before the statement was sent", false);
        }
        run_simple(sql, deadline);
    }

    Result execute(std::string_view sql, ParamsRef params, const ExecSettings& settings) {
        cancel_grace = settings.cancel_grace;
        ResultPtr result;
        if (pending) {
            result = execute_pipelined(sql, params, settings, false);
        } else if (pgbouncer_mode && settings.local_statement_timeout.count() > 0 &&
                   raw != nullptr && PQtransactionStatus(raw) == PQTRANS_IDLE &&
                   safety::may_wrap_in_block(sql)) {
            // An autocommit statement; the caller's own BEGIN (and what follows it, in the
            // block it opens) is sent as it is, and so is LOCK or DECLARE, which the server
            // then refuses (25P01) as it would without PgBouncer: in the wrap it would succeed
            // and its lock or cursor end at once.
            result = execute_pipelined(sql, params, settings, true);
        } else if (!cache_allowed(settings)) {
            result = execute_raw(sql, params, settings);
        } else if (const std::string* name = cached_name(sql);
                   name != nullptr &&
                   (stale_names.empty() || PQtransactionStatus(raw) != PQTRANS_IDLE)) {
            result = execute_raw(sql, params, settings, name);
        } else {
            // Not prepared yet, or evicted statements to deallocate: in a pipeline with them.
            result = execute_pipelined(sql, params, settings, false);
        }
        if (!result) return Result{};
        return Result(std::make_shared<const PgResultData>(std::move(result)));
    }

    // Before a statement is sent: a connection found closed throws ConnectionError (not sent),
    // and read_only_at_send is noted, a fact for safety::try_another_host(): the server reports
    // the session's default (PostgreSQL 14 and later), so a statement sent now runs in a
    // read-only transaction. Inside a transaction block the socket is not checked: a session
    // lost there fails the statement, and the transaction is lost either way (transaction()
    // runs it again from BEGIN). Before COMMIT it always is, alive-bypass window or not: a
    // COMMIT that never left the client is retried, one sent into a closed session is unknown.
    void ready_to_send() {
        if (interrupted.load(std::memory_order_acquire)) {
            throw_cut(false, "before the statement was sent");
        }
        const bool in_block = raw != nullptr && !committing &&
                              (PQtransactionStatus(raw) == PQTRANS_INTRANS ||
                               PQtransactionStatus(raw) == PQTRANS_INERROR);
        if (!(in_block ? open_in_memory() : check_idle_socket(committing))) {
            std::string msg = raw != nullptr ? mask(PQerrorMessage(raw)) : std::string();
            mark_broken();
            throw ConnectionError(
                fmt::format("connection was closed before the statement was sent{}{}",
                            msg.empty() ? "" : ": ", msg),
                false);
        }
        const char* read_only = PQparameterStatus(raw, "default_transaction_read_only");
        read_only_at_send = read_only != nullptr && std::string_view(read_only) == "on";
    }

    // Sends a statement with its parameters bound: the prepared statement `name` when given,
    // else the text unnamed; in single-row mode when asked. `in_pipeline`: only queues it, in a
    // pipeline the caller sends. The caller has called ready_to_send().
    void send_statement(std::string_view sql, ParamsRef params, const std::string* name,
                        const ExecSettings& settings, bool single_row, bool in_pipeline = false) {
        values.clear();
        bool any_binary = false;
        for (const auto& p : params) {
            values.push_back(p.c_str());
            any_binary = any_binary || p.is_binary();
        }
        // Lengths and formats only when a bytea goes in binary: text needs neither.
        lengths.clear();
        formats.clear();
        if (any_binary) {
            for (const auto& p : params) {
                lengths.push_back(static_cast<int>(p.size()));  // at most 1 GB: check_statement
                formats.push_back(p.is_binary() ? 1 : 0);
            }
        }
        const int* param_lengths = any_binary ? lengths.data() : nullptr;
        const int* param_formats = any_binary ? formats.data() : nullptr;
        const int n = static_cast<int>(values.size());
        int sent;
        if (name != nullptr) {
            sent = PQsendQueryPrepared(raw, name->c_str(), n, values.data(), param_lengths,
                                       param_formats, 0);
        } else {
            const std::string text(sql);
            sent = PQsendQueryParams(raw, text.c_str(), n, nullptr, values.data(), param_lengths,
                                     param_formats, 0);
        }
        if (sent == 0) {
            if (PQstatus(raw) != CONNECTION_OK)
                throw_broken(false, "before the statement was sent");
            // libpq refused the call itself (too many parameters, ...): nothing was sent, but
            // a pipeline's session is left mid-pipeline.
            const std::string why = mask(PQerrorMessage(raw));
            if (in_pipeline) mark_broken();
            throw UsageError(why);
        }
        if (in_pipeline) return;
        // libpq takes single-row mode only right after the send, before any result is read.
        if (single_row && PQsetSingleRowMode(raw) == 0) {
            throw_broken(true, "while switching to single-row mode");
        }
        flush(settings.deadline);
    }

    // A streamed statement's first use: its Prepare, the statement and a Sync in one pipeline,
    // one round trip. Reads the Prepare's answer, then puts the statement in single-row mode
    // (libpq takes it for each statement of a pipeline once the one before it is read); the
    // caller reads the rows, then ends the pipeline (end_pipeline). A failing Prepare throws
    // its error, leaves nothing in the cache and the session out of pipeline mode.
    const std::string* send_with_prepare(std::string_view sql, ParamsRef params,
                                         const ExecSettings& settings) {
        std::string name = fmt::format("sparc_{}", next_statement++);
        std::string text(sql);
        if (PQenterPipelineMode(raw) == 0) {
            throw UsageError(fmt::format("statement: libpq could not enter pipeline mode: {}",
                                         mask(PQerrorMessage(raw))));
        }
        if (PQsendPrepare(raw, name.c_str(), text.c_str(), static_cast<int>(params.size()),
                          nullptr) == 0) {
            if (PQstatus(raw) != CONNECTION_OK) {
                throw_broken(false, "before the statement was sent");
            }
            const std::string why = mask(PQerrorMessage(raw));
            mark_broken();
            throw UsageError(why);
        }
        send_statement(sql, params, &name, settings, true, true);
        if (PQpipelineSync(raw) == 0) throw_broken(true, "while sending the statement");
        flush(settings.deadline);
        try {
            await_result(settings.deadline);
        } catch (const Error&) {
            if (!broken) end_pipeline(Clock::now() + cancel_grace);
            throw;
        }
        const std::string* cached = remember_prepared(std::move(text), std::move(name));
        if (PQsetSingleRowMode(raw) == 0) {
            throw_broken(true, "while switching to single-row mode");
        }
        return cached;
    }

    // Reads what is left of a pipeline up to its Sync and leaves pipeline mode. A session that
    // does not get there by `deadline` is broken off.
    void end_pipeline(Clock::time_point deadline) {
        int nulls = 0;  // consecutive null results: more than two, and nothing else is queued
        while (true) {
            while (PQisBusy(raw) == 0) {
                ResultPtr r(PQgetResult(raw));
                if (!r) {
                    if (++nulls > 2) break;
                    continue;
                }
                nulls = 0;
                if (PQresultStatus(r.get()) != PGRES_PIPELINE_SYNC) continue;
                if (PQexitPipelineMode(raw) != 0) return;
                const std::string why = mask(PQerrorMessage(raw));
                mark_broken();
                throw ConnectionError(
                    fmt::format("statement: libpq could not leave pipeline mode: {}", why), true);
            }
            if (nulls > 2 || !wait_socket(POLLIN, deadline) || PQconsumeInput(raw) == 0) {
                if (interrupted.load(std::memory_order_acquire)) {
                    throw_cut(true, "while reading the end of the statement");
                }
                mark_broken();
                throw ConnectionError(
                    "connection closed: the end of the statement's pipeline did not arrive", true);
            }
        }
    }

    // A statement on its own: unnamed, or the prepared statement `name` (from the cache).
    ResultPtr execute_raw(std::string_view sql, ParamsRef params, const ExecSettings& settings,
                          const std::string* name = nullptr) {
        Answered answered{*this};
        ready_to_send();
        send_statement(sql, params, name, settings, false);
        ResultPtr result;
        try {
            result = await_result(settings.deadline);
        } catch (const SqlError& e) {
            if (name != nullptr && safety::stale_prepared_statement(e)) forget_prepared(sql, e);
            throw;
        }
        if (result) forget_all_if_discarded(PQcmdStatus(result.get()));
        return result;
    }

    // One step of a pipeline: a statement (its text), the execution of a prepared statement
    // (`sql` is its name), or the Prepare of `sql` as `name` (with as many parameters as
    // `params` holds).
    struct Entry {
        enum Kind { statement, prepared, prepare };
        const char* sql;
        ParamsRef params;
        Kind kind = statement;
        const char* name = nullptr;
    };

    // What a pipeline brought back: each entry's last result, and the first error and the index
    // of its entry (entries.size() when none failed). Errors of the entries before `reported`
    // (run_pipeline's argument), the housekeeping that precedes the caller's statement, go to
    // `housekeeping_error` instead.
    struct PipelineResults {
        std::vector<ResultPtr> got;
        ResultPtr error;
        std::size_t failed_at = 0;
        ResultPtr housekeeping_error;
        std::size_t housekeeping_failed_at = 0;
        bool cancelled = false;
    };

    std::vector<Entry> pipeline;  // reused pipeline to pipeline
    // begin() was called: BEGIN (and SET LOCAL statement_timeout = pending_timeout, when not 0)
    // goes out with the first statement.
    bool pending = false;
    std::string pending_begin;
    std::chrono::milliseconds pending_timeout{0};

    // Sends `entries` in libpq's pipeline mode, all of them and one Sync in one go, then reads
    // every result: one round trip. After a failing entry the server skips the rest up to the
    // Sync. An entry's error is kept until the Sync is read, so the session leaves pipeline mode
    // usable; a lost session, a timeout or a cut breaks it off. `batch`: the pipeline is a
    // caller's batch (what the messages call it). Entries before `reported` are housekeeping:
    // their errors are not the caller's (PipelineResults). The caller has called
    // ready_to_send().
    PipelineResults run_pipeline(std::span<const Entry> entries, const ExecSettings& settings,
                                 bool batch, std::size_t reported = 0) {
        const char* what = batch ? "batch" : "statement";
        if (PQenterPipelineMode(raw) == 0) {
            throw UsageError(fmt::format("{}: libpq could not enter pipeline mode: {}", what,
                                         mask(PQerrorMessage(raw))));
        }
        // libpq writes a pipeline's statements out once its buffer fills: after the first one
        // is queued, some of it may have left the client.
        bool sent = false;
        for (const auto& entry : entries) {
            values.clear();
            lengths.clear();
            formats.clear();
            for (const auto& p : entry.params) {
                values.push_back(p.c_str());
                lengths.push_back(static_cast<int>(p.size()));
                formats.push_back(p.is_binary() ? 1 : 0);
            }
            const int n = static_cast<int>(values.size());
            int ok = 0;
            switch (entry.kind) {
                case Entry::prepared:
                    ok = PQsendQueryPrepared(raw, entry.sql, n, values.data(), lengths.data(),
                                             formats.data(), 0);
                    break;
                case Entry::prepare:
                    ok = PQsendPrepare(raw, entry.name, entry.sql, n, nullptr);
                    break;
                default:
                    ok = PQsendQueryParams(raw, entry.sql, n, nullptr, values.data(),
                                           lengths.data(), formats.data(), 0);
                    break;
            }
            if (ok == 0) {
                if (PQstatus(raw) != CONNECTION_OK) {
                    throw_broken(sent, fmt::format("before the whole {} was sent", what));
                }
                // libpq refused the call itself: the session is left mid-pipeline.
                const std::string why = mask(PQerrorMessage(raw));
                mark_broken();
                throw UsageError(fmt::format("{}: {}", what, why));
            }
            sent = true;
        }
        if (PQpipelineSync(raw) == 0) throw_broken(sent, fmt::format("while sending the {}", what));
        flush(settings.deadline);

        PipelineResults out;
        out.got.resize(entries.size());
        out.failed_at = entries.size();
        std::size_t index = 0;
        bool synced = false;
        Clock::time_point hard_deadline = settings.deadline;
        const std::uint64_t waiting_for = ++awaited;
        awaiting.store(waiting_for, std::memory_order_release);
        struct Done {
            std::atomic<std::uint64_t>& awaiting;
            ~Done() { awaiting.store(0, std::memory_order_release); }
        } done{awaiting};
        while (!synced) {
            while (!synced && PQisBusy(raw) == 0) {
                PGresult* r = PQgetResult(raw);
                if (r == nullptr) {
                    ++index;  // the end of one entry's results
                    continue;
                }
                ResultPtr res(r);
                switch (PQresultStatus(r)) {
                    case PGRES_PIPELINE_SYNC:
                        synced = true;
                        break;
                    case PGRES_PIPELINE_ABORTED:
                        break;  // skipped after an earlier entry failed
                    case PGRES_FATAL_ERROR:
                    case PGRES_NONFATAL_ERROR:
                    case PGRES_BAD_RESPONSE:
                        if (index < reported) {
                            if (!out.housekeeping_error) {
                                out.housekeeping_error = std::move(res);
                                out.housekeeping_failed_at = index;
                            }
                        } else if (!out.error) {
                            out.error = std::move(res);
                            out.failed_at = index;
                        }
                        break;
                    case PGRES_COPY_IN:
                    case PGRES_COPY_OUT:
                    case PGRES_COPY_BOTH:
                        mark_broken();
                        throw UsageError(
                            batch ? "COPY cannot run in a batch (pipeline mode): use copy_in()"
                                  : "COPY FROM STDIN / TO STDOUT cannot run through query(): use "
                                    "copy_in()");
                    default:
                        if (index < out.got.size()) out.got[index] = std::move(res);
                        break;
                }
            }
            if (synced) break;
            if (!await_ready(
                    waiting_for, out.cancelled, hard_deadline,
                    batch ? "batch exceeded the client query timeout; the server did not answer "
                            "the cancel request and the connection was closed: the batch may "
                            "have committed"
                          : "statement exceeded the client query timeout; the server did not "
                            "answer the cancel request and the connection was closed: the "
                            "statement may have completed")) {
                continue;
            }
            if (PQconsumeInput(raw) == 0) {
                if (out.error) throw_error(out.error.get(), out.cancelled);  // a FATAL goodbye
                throw_broken(true, fmt::format("while waiting for the {}'s results", what));
            }
        }
        if (PQexitPipelineMode(raw) == 0) {
            const std::string why = mask(PQerrorMessage(raw));
            mark_broken();
            throw ConnectionError(
                fmt::format("{}: libpq could not leave pipeline mode: {}", what, why), true);
        }
        return out;
    }

    // Runs `statements` in one pipeline (run_pipeline): the batch costs one round trip. A
    // failing statement aborts the transaction, and the ones after it are skipped. Nothing is
    // prepared: the statements are sent unnamed.
    std::vector<Result> batch(std::span<const Statement> statements, const ExecSettings& settings) {
        Answered answered{*this};
        cancel_grace = settings.cancel_grace;
        send_pending_begin(settings.deadline);
        ready_to_send();
        if (statements.empty()) return {};
        // Outside a transaction block the batch goes between BEGIN and COMMIT, in the same
        // pipeline: in the implicit transaction a procedure that commits (CALL, DO) would
        // commit the statements before it; in a block it fails (2D000) and nothing is kept.
        const bool wrap = PQtransactionStatus(raw) == PQTRANS_IDLE;
        const std::size_t first = wrap ? 1 : 0;
        pipeline.clear();
        if (wrap) pipeline.push_back(Entry{"BEGIN", {}});
        for (const auto& statement : statements) {
            pipeline.push_back(Entry{statement.sql.c_str(), statement.params});
        }
        if (wrap) pipeline.push_back(Entry{"COMMIT", {}});
        auto out = run_pipeline(pipeline, settings, true);
        if (out.error) {
            if (wrap && PQtransactionStatus(raw) == PQTRANS_INERROR) {
                roll_back_own_block(settings.deadline);
            }
            // The statement at fault; a COMMIT that fails (a deferred constraint) counts as the
            // last one's.
            const std::size_t at =
                std::min(out.failed_at > first ? out.failed_at - first : 0, statements.size() - 1);
            try {
                throw_error(out.error.get(), out.cancelled);
            } catch (const QueryTimeout& e) {
                // A timeout (57014 after the client's cancel, or statement_timeout) stays a
                // QueryTimeout: caught as SqlError below it would lose its type, and callers
                // (and under_caller_limits, which turns a caller's deadline into Cancelled)
                // would see a plain SqlError.
                throw detail::batch_timeout(e, at, statements.size());
            } catch (const SqlError& e) {
                throw detail::batch_failure(e, at, statements.size());
            }
        }
        std::vector<Result> results;
        results.reserve(statements.size());
        for (std::size_t i = first; i < first + statements.size(); ++i) {
            auto& r = out.got[i];
            if (r) forget_all_if_discarded(PQcmdStatus(r.get()));
            results.push_back(r ? Result(std::make_shared<const PgResultData>(std::move(r)))
                                : Result{});
        }
        return results;
    }

    // A statement sent with what must precede it in one round trip: the transaction's deferred
    // BEGIN (and its SET LOCAL statement_timeout), or, for an autocommit statement behind
    // PgBouncer, BEGIN, SET LOCAL statement_timeout and a COMMIT after it, so that the server
    // enforces the timeout on a pooled session; with the cache, the statement's Prepare when it
    // is not prepared yet, and outside a transaction block the DEALLOCATE of evicted statements
    // (queue_deallocations). A failure of any part but the DEALLOCATEs throws its error; a
    // wrapped statement's failed transaction is rolled back before.
    ResultPtr execute_pipelined(std::string_view sql, ParamsRef params,
                                const ExecSettings& settings, bool wrap) {
        Answered answered{*this};
        ready_to_send();
        const bool was_pending = pending;
        const bool begins = wrap || pending;
        const auto timeout = wrap ? settings.local_statement_timeout
                                  : (pending ? pending_timeout : std::chrono::milliseconds(0));
        const std::string set_timeout =
            timeout.count() > 0 ? fmt::format("SET LOCAL statement_timeout = {}", timeout.count())
                                : std::string();
        const bool use_cache = cache_allowed(settings);
        std::string text(sql);
        PipelineResults out;
        std::size_t at = 0;
        for (bool housekeeping = use_cache;; housekeeping = false) {
            pipeline.clear();
            const std::size_t deallocating = housekeeping ? queue_deallocations() : 0;
            const std::size_t first = pipeline.size();
            if (begins) pipeline.push_back(Entry{wrap ? "BEGIN" : pending_begin.c_str(), {}});
            if (!set_timeout.empty()) pipeline.push_back(Entry{set_timeout.c_str(), {}});
            const std::string* name = use_cache ? cached_name(sql) : nullptr;
            std::string new_name;
            std::size_t prepare_at = 0;
            if (use_cache && name == nullptr && may_prepare()) {
                new_name = fmt::format("sparc_{}", next_statement++);
                name = &new_name;
                prepare_at = pipeline.size();
                pipeline.push_back(Entry{text.c_str(), params, Entry::prepare, new_name.c_str()});
            }
            at = pipeline.size();
            pipeline.push_back(name != nullptr ? Entry{name->c_str(), params, Entry::prepared}
                                               : Entry{text.c_str(), params});
            if (wrap) pipeline.push_back(Entry{"COMMIT", {}});
            pending = false;
            out = run_pipeline(pipeline, settings, false, first);
            if (deallocating > 0) settle_deallocations(out, deallocating);
            // A Prepare that succeeded holds whatever became of the statement (prepared
            // statements outlive a rolled-back transaction); one that failed or was skipped
            // left nothing.
            if (!new_name.empty() && out.got[prepare_at]) {
                remember_prepared(std::move(text), std::move(new_name));
                text.assign(sql);
            }
            if (!out.housekeeping_error) break;
            // A DEALLOCATE failed: the rest was skipped, the caller's statement did not run.
            // The housekeeping block is rolled back and the statement sent again without it;
            // when a cancel or a timeout stopped the DEALLOCATE, the statement's deadline has
            // passed and QueryTimeout says that it did not run.
            if (PQtransactionStatus(raw) == PQTRANS_INERROR) roll_back_own_block(settings.deadline);
            pending = was_pending;
            if (broken) {
                throw ConnectionError(
                    "connection lost before the statement was sent: the connection could not "
                    "end the block that deallocates evicted prepared statements",
                    false);
            }
            const char* state = PQresultErrorField(out.housekeeping_error.get(), PG_DIAG_SQLSTATE);
            if (state != nullptr && std::string_view(state) == "57014") {
                throw_error(out.housekeeping_error.get(), out.cancelled);
            }
            ready_to_send();
        }
        if (out.error) {
            if (wrap && PQtransactionStatus(raw) == PQTRANS_INERROR) {
                roll_back_own_block(settings.deadline);
                // A statement that cannot run in a transaction block (VACUUM, CREATE INDEX
                // CONCURRENTLY, CREATE DATABASE, ...: 25001, refused before it ran), or a
                // procedure that ends the transaction itself (CALL, DO with COMMIT: 2D000,
                // whose work was rolled back with the block), runs on its own, under the
                // session's statement_timeout.
                const char* state = PQresultErrorField(out.error.get(), PG_DIAG_SQLSTATE);
                const std::string_view code = state != nullptr ? state : "";
                if (!broken && out.failed_at == at && (code == "25001" || code == "2D000") &&
                    PQtransactionStatus(raw) == PQTRANS_IDLE) {
                    return execute_raw(sql, params, settings);
                }
            }
            try {
                throw_error(out.error.get(), out.cancelled);
            } catch (const SqlError& e) {
                if (use_cache && out.failed_at == at && safety::stale_prepared_statement(e)) {
                    forget_prepared(sql, e);
                }
                throw;
            }
        }
        ResultPtr result = std::move(out.got[at]);
        if (result) forget_all_if_discarded(PQcmdStatus(result.get()));
        return result;
    }

    // The DEALLOCATE statements of evicted cached statements (stale_names), queued at the front
    // of `pipeline` between BEGIN and COMMIT, when the session is outside a transaction block:
    // the caller's statement then starts a transaction of its own, exactly as it would without
    // them (a VACUUM is not refused, a LOCK TABLE not accepted). One that fails skips the rest
    // of the pipeline, so the statement does not run (execute_pipelined sends it again). Inside
    // a block they wait: one failing there would abort the caller's transaction. Returns how
    // many were queued.
    std::size_t queue_deallocations() {
        if (stale_names.empty() || PQtransactionStatus(raw) != PQTRANS_IDLE) return 0;
        deallocate_sql.clear();
        for (const auto& n : stale_names) deallocate_sql.push_back("DEALLOCATE " + n);
        pipeline.push_back(Entry{"BEGIN", {}});
        for (const auto& d : deallocate_sql) pipeline.push_back(Entry{d.c_str(), {}});
        pipeline.push_back(Entry{"COMMIT", {}});
        return deallocate_sql.size();
    }

    // After a pipeline that began with `count` DEALLOCATEs (queue_deallocations): the names
    // deallocated leave stale_names, and so does the one whose DEALLOCATE failed (already gone,
    // 26000, or not to be tried forever), unless a cancel or a timeout stopped it; the names
    // skipped after it wait for the next statement.
    void settle_deallocations(const PipelineResults& out, std::size_t count) {
        count = std::min(count, stale_names.size());
        std::size_t kept = 0;
        for (std::size_t i = 0; i < count; ++i) {
            const std::size_t entry = i + 1;  // after the BEGIN
            bool gone = static_cast<bool>(out.got[entry]);
            if (!gone && out.housekeeping_error && out.housekeeping_failed_at == entry) {
                const char* state =
                    PQresultErrorField(out.housekeeping_error.get(), PG_DIAG_SQLSTATE);
                gone = state == nullptr || std::string_view(state) != "57014";
            }
            if (!gone) stale_names[kept++] = std::move(stale_names[i]);
        }
        stale_names.erase(stale_names.begin() + static_cast<std::ptrdiff_t>(kept),
                          stale_names.begin() + static_cast<std::ptrdiff_t>(count));
    }

    // Ends the failed transaction block a pipeline of its own opened (a wrapped batch or
    // statement), so the session goes back idle; a session that cannot is broken off.
    void roll_back_own_block(Clock::time_point deadline) {
        try {
            run_simple("ROLLBACK", std::max(deadline, Clock::now() + cancel_grace));
        } catch (const Error&) {
            mark_broken();
        }
    }

    // A transaction's BEGIN waits for its first statement (execute_pipelined); the other calls
    // send it on its own first.
    void send_pending_begin(Clock::time_point deadline) {
        if (!pending) return;
        std::string sql = std::move(pending_begin);
        pending = false;
        if (pending_timeout.count() > 0) {
            // Two statements in one simple-protocol message: one round trip.
            sql += fmt::format("; SET LOCAL statement_timeout = {}", pending_timeout.count());
        }
        execute_simple(sql, deadline);
    }

    // Runs a statement in libpq's single-row mode, handing each row to `sink` as it arrives:
    // libpq holds one row at a time (plus what one read of the socket brought in), so memory
    // stays bounded whatever the row count. The deadline covers the whole stream, the sink's
    // time included. When it passes, or when the sink throws, the statement is cancelled and
    // what the server still sends is read and dropped for up to cancel_grace: a session whose
    // cancel the server confirmed (57014) stays clean, one whose statement finished first keeps
    // the request outstanding (safety::reuse discards it), one that does not answer is broken
    // off. No row of the statement can reach a later one.
    std::size_t stream(std::string_view sql, ParamsRef params, const ExecSettings& settings,
                       detail::RowSink sink) {
        Answered answered{*this};
        send_pending_begin(settings.deadline);
        cancel_grace = settings.cancel_grace;
        ready_to_send();
        const std::string* name = cache_allowed(settings) ? cached_name(sql) : nullptr;
        const bool piped = cache_allowed(settings) && name == nullptr && may_prepare();
        const std::uint32_t cancels_before = cancels->queued.load(std::memory_order_acquire);
        if (piped) {
            name = send_with_prepare(sql, params, settings);
        } else {
            send_statement(sql, params, name, settings, true);
        }
        const bool has_deadline = settings.deadline != Clock::time_point::max();
        std::size_t rows = 0;
        std::exception_ptr abandoned;  // what the sink threw
        bool timed_out = false;        // the deadline passed: no row is delivered after it
        Clock::time_point hard_deadline = settings.deadline;
        if (cancels->queued.load(std::memory_order_acquire) != cancels_before && has_deadline &&
            Clock::now() >= settings.deadline) {
            // The deadline passed while the Prepare's answer was awaited, which cancelled the
            // statement behind it.
            timed_out = true;
            hard_deadline = Clock::now() + cancel_grace;
        }
        ResultPtr error;
        auto stop = [&] {
            request_cancel();
            hard_deadline = Clock::now() + cancel_grace;
        };
        // The server did not end the statement within cancel_grace of the cancel request.
        auto give_up = [&] {
            mark_broken();
            if (abandoned) std::rethrow_exception(abandoned);
            throw QueryTimeout(
                "streamed statement exceeded the client query timeout; the server did not "
                "answer the cancel request and the connection was closed: the statement may "
                "have completed",
                true, false);
        };
        bool done = false;
        while (!done) {
            while (PQisBusy(raw) == 0) {
                ResultPtr res(PQgetResult(raw));
                if (!res) {
                    done = true;
                    break;
                }
                const auto status = PQresultStatus(res.get());
                if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT ||
                    status == PGRES_COPY_BOTH) {
                    // libpq would hand this result out forever, and the session waits for
                    // COPY data: it is closed.
                    mark_broken();
                    throw UsageError(
                        "COPY FROM STDIN / TO STDOUT cannot run through for_each(): use "
                        "copy_in()");
                }
                if (status == PGRES_SINGLE_TUPLE) {
                    if (abandoned || timed_out) {
                        // Rows still coming past the grace: the cancel did not take.
                        if (Clock::now() < hard_deadline) continue;
                        give_up();
                    }
                    if (has_deadline && Clock::now() >= settings.deadline) {
                        timed_out = true;
                        stop();
                        continue;
                    }
                    ++rows;
                    try {
                        sink(Row(std::make_shared<const PgResultData>(std::move(res)), 0));
                    } catch (...) {
                        abandoned = std::current_exception();
                        stop();
                    }
                } else if (status == PGRES_FATAL_ERROR || status == PGRES_NONFATAL_ERROR ||
                           status == PGRES_BAD_RESPONSE) {
                    if (!error) error = std::move(res);
                }
            }
            if (done) break;
            if (!wait_socket(POLLIN, hard_deadline)) {
                if (!abandoned && !timed_out) {
                    timed_out = true;
                    stop();
                    continue;
                }
                give_up();
            }
            if (PQconsumeInput(raw) == 0) {
                if (error) break;  // a FATAL goodbye, then the close: the error says what happened
                if (abandoned) {
                    mark_broken();
                    std::rethrow_exception(abandoned);
                }
                throw_broken(true, "while reading the rows");
            }
        }
        if (piped && !broken) {
            // The statement has answered; the Sync's answer follows it at once. The deadline
            // (or a cancel's grace) may have run out while the last rows were read: the wait
            // gets a grace of its own.
            try {
                end_pipeline(std::max(hard_deadline, Clock::now() + cancel_grace));
            } catch (const Error&) {
                // The sink's exception, or the statement's error, says more.
                if (!abandoned && !error) throw;
            }
        }
        if (abandoned) {
            // The server's answer to the cancel settles the session's state (a confirmed
            // cancel, a goodbye); the caller gets its own exception back, unchanged.
            if (error) {
                try {
                    throw_error(error.get(), true);
                } catch (const Error&) {
                }
            }
            std::rethrow_exception(abandoned);
        }
        if (error) {
            try {
                throw_error(error.get(), timed_out);
            } catch (const SqlError& e) {
                if (name != nullptr && safety::stale_prepared_statement(e)) {
                    forget_prepared(sql, e);
                }
                throw;
            }
        }
        if (timed_out) {
            // It finished while the cancel was on its way: the request stays outstanding.
            throw QueryTimeout(
                "streamed statement exceeded the client query timeout; it completed before the "
                "cancel request took effect, but the rows after the timeout were not delivered",
                true, false);
        }
        return rows;
    }

    // Sends what libpq has queued, waiting for the socket within `deadline` and reading what
    // the server sends meanwhile. Not `ready` when the deadline passed or cancel() woke the
    // statement first.
    Wait flush_copy(Clock::time_point deadline, std::uint64_t statement) {
        while (true) {
            const int r = PQflush(raw);
            if (r == 0) return Wait::ready;
            if (r < 0) throw_broken(true, "while sending COPY data");
            const Wait w = wait_result(deadline, statement, POLLOUT | POLLIN);
            if (w != Wait::ready) return w;
            if (PQconsumeInput(raw) == 0) throw_broken(true, "while sending COPY data");
        }
    }

    // Queues the end of the COPY data (`reason`: abort it, CopyFail) and sends it within
    // `deadline`. False when it could not be sent in time (the session is then broken off).
    bool end_copy(const char* reason, Clock::time_point deadline) {
        while (true) {
            const int r = PQputCopyEnd(raw, reason);
            if (r == 1) break;
            if (r < 0) throw_broken(true, "while ending the COPY");
            if (!wait_socket(POLLOUT | POLLIN, deadline) || PQconsumeInput(raw) == 0) {
                mark_broken();
                return false;
            }
        }
        while (true) {
            const int r = PQflush(raw);
            if (r == 0) return true;
            if (r < 0) throw_broken(true, "while ending the COPY");
            if (!wait_socket(POLLOUT | POLLIN, deadline) || PQconsumeInput(raw) == 0) {
                mark_broken();
                return false;
            }
        }
    }

    // COPY ... FROM STDIN: sends the statement; once the server accepted it (CopyInResponse),
    // the data from `source`, about 64 KiB a chunk, each chunk sent before the next is made
    // (bounded memory), then the end of the data and the server's count. The deadline covers
    // the whole COPY. When the source throws, the deadline passes, or cancel() wakes the call,
    // the COPY is aborted with CopyFail (PQputCopyEnd with a reason): the server loads none of
    // it and answers 57014, which leaves the session clean (in a transaction: failed); a
    // server that does not answer within cancel_grace has its session broken off. A server
    // error (a constraint) arrives after the data and is thrown as SqlError: nothing loaded.
    std::size_t copy_in(std::string_view sql, detail::CopySource source,
                        const ExecSettings& settings) {
        Answered answered{*this};
        send_pending_begin(settings.deadline);
        cancel_grace = settings.cancel_grace;
        ready_to_send();
        const std::string text(sql);
        if (PQsendQuery(raw, text.c_str()) == 0) {
            if (PQstatus(raw) != CONNECTION_OK)
                throw_broken(false, "before the statement was sent");
            throw UsageError(mask(PQerrorMessage(raw)));
        }
        flush(settings.deadline);
        bool started = false;
        ResultPtr answer = await_result(settings.deadline, &started);
        if (!started) {
            // Not a COPY FROM STDIN after all: its result is what the server answered.
            return answer ? count_of(answer.get()) : 0;
        }

        std::exception_ptr failed;  // what the source threw
        std::string reason;
        Wait stopped = Wait::ready;  // timeout: the deadline passed; woken: cancel()
        {
            const std::uint64_t statement = ++awaited;
            awaiting.store(statement, std::memory_order_release);
            struct Done {
                std::atomic<std::uint64_t>& awaiting;
                ~Done() { awaiting.store(0, std::memory_order_release); }
            } done{awaiting};
            const bool has_deadline = settings.deadline != Clock::time_point::max();
            std::string chunk;
            chunk.reserve(kCopyChunkBytes + kCopyChunkBytes / 4);
            bool more = true;
            while (more) {
                if (has_deadline && Clock::now() >= settings.deadline) {
                    stopped = Wait::timeout;
                    break;
                }
                if (woken.load(std::memory_order_acquire) == statement) {
                    stopped = Wait::woken;
                    break;
                }
                chunk.clear();
                try {
                    more = source(chunk);
                } catch (const std::exception& e) {
                    failed = std::current_exception();
                    reason = e.what();
                    break;
                } catch (...) {
                    failed = std::current_exception();
                    reason = "the row source threw";
                    break;
                }
                if (chunk.empty()) continue;
                // At most 64 KiB plus one row: a row longer than 2 GiB cannot be sent.
                if (chunk.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
                    failed = std::make_exception_ptr(
                        UsageError("copy_in: a row is larger than libpq can send (2 GiB)"));
                    reason = "row too large";
                    break;
                }
                // 0: libpq could not queue it without blocking; send what it holds, then again.
                int r = 0;
                while ((r = PQputCopyData(raw, chunk.data(), static_cast<int>(chunk.size()))) ==
                       0) {
                    stopped = flush_copy(settings.deadline, statement);
                    if (stopped != Wait::ready) break;
                }
                if (stopped != Wait::ready) break;
                if (r < 0) throw_broken(true, "while sending COPY data");
                // Sent before the next chunk is made: one chunk in memory at a time.
                stopped = flush_copy(settings.deadline, statement);
                if (stopped != Wait::ready) break;
            }
        }

        if (!failed && stopped == Wait::ready) {
            if (!end_copy(nullptr, settings.deadline)) {
                // The server never got the end of the data: it cannot have loaded any of it.
                throw QueryTimeout(
                    "the end of the COPY data could not be sent within the client query "
                    "timeout; the connection was closed and the server loads none of it",
                    true, true);
            }
            ResultPtr result = await_result(settings.deadline);
            return result ? count_of(result.get()) : 0;
        }

        // Abort: CopyFail makes the server discard the COPY and answer 57014 at once.
        if (reason.empty()) {
            reason = stopped == Wait::timeout ? "the client deadline passed"
                                              : "the client cancelled the COPY";
        }
        for (auto& ch : reason) {
            if (ch == '\0') ch = ' ';
        }
        const auto grace = std::max(cancel_grace, std::chrono::milliseconds(1));
        bool confirmed = false;
        try {
            if (end_copy(reason.c_str(), Clock::now() + grace)) {
                await_result(Clock::now() + grace);
            }
        } catch (const QueryTimeout& e) {
            confirmed = e.cancelled() && !broken;  // 57014: the COPY was rolled back
        } catch (const Error&) {
            // An error the server had already sent (a constraint), or a lost session: either
            // way nothing was loaded; the session's state says whether it can be reused.
            confirmed = !broken;
        }
        if (failed) std::rethrow_exception(failed);
        if (confirmed) {
            throw QueryTimeout(fmt::format("COPY exceeded the client query timeout and was aborted "
                                           "({}): nothing was loaded",
                                           reason),
                               true, true);
        }
        // Without the end of the data the server cannot have loaded any of it; the session, whose
        // state is unknown, is closed.
        if (!broken) mark_broken();
        throw QueryTimeout(
            "COPY exceeded the client query timeout; the server did not confirm the abort in "
            "time and the connection was closed: nothing was loaded",
            true, true);
    }

    // The row count of a command's result (PQcmdTuples: "COPY 3").
    static std::size_t count_of(PGresult* result) {
        const char* n = PQcmdTuples(result);
        std::size_t count = 0;
        if (n != nullptr) std::from_chars(n, n + std::strlen(n), count);
        return count;
    }

    // The server no longer runs a cached statement as prepared (its plan went stale after a
    // schema change, or the statement is gone): forget it, so the next call prepares it anew.
    void forget_prepared(std::string_view sql, const SqlError& e) {
        const auto it = prepared.find(sql);
        if (it == prepared.end()) return;
        // A stale plan's statement still exists on the server; a missing one does not.
        if (e.sqlstate() != "26000") stale_names.push_back(it->second.name);
        lru.erase(it->second.lru);
        prepared.erase(it);
    }

    // The caller ran DISCARD ALL or DEALLOCATE ALL: every prepared statement is gone.
    void forget_all_if_discarded(const char* command) {
        if (command == nullptr || command[0] != 'D') return;
        const std::string_view c(command);
        if (c != "DISCARD ALL" && c != "DEALLOCATE ALL") return;
        prepared.clear();
        lru.clear();
        stale_names.clear();
    }
};

extern "C" void sparc_pqxx_notice_receiver(void* arg, const PGresult* result) {
    const char* severity = PQresultErrorField(result, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity == nullptr) return;
    const std::string_view s(severity);
    if (s == "FATAL" || s == "PANIC") *static_cast<bool*>(arg) = true;
}

PqxxBackend::PqxxBackend() : shared_(std::make_shared<Shared>()) {}

namespace {

bool mentions_datestyle(std::string_view options) {
    std::string lower(options);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower.find("datestyle") != std::string::npos;
}

}  // namespace

std::unique_ptr<PqxxBackend::Connection> PqxxBackend::open_host(const Endpoint& ep,
                                                                Clock::time_point deadline,
                                                                const ConnectSettings& settings) {
    const std::string password = ep.option("password").value_or("");
    auto impl = std::make_unique<Connection::Impl>();
    impl->shared = shared_;
    impl->password = password;
    impl->pgbouncer_mode = settings.pgbouncer_mode;
    impl->cache_capacity = settings.statement_cache_size;
    impl->alive_bypass = settings.alive_bypass;
    ConnectContext ctx;
    ctx.deadline = deadline;
    ctx.abandon = settings.abandon;
    t_connect_context = &ctx;
    try {
        impl->conn = std::make_unique<PqxxConnection>(ep.conninfo());
        t_connect_context = nullptr;
    } catch (const std::exception& e) {
        t_connect_context = nullptr;
        throw ConnectionError(mask_password(trim(e.what()), password), false, ctx.sqlstate);
    }
#if PQXX_VERSION_MAJOR < 7
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    // A pool must see a broken connection, not have libpqxx silently open a new session.
    impl->conn->inhibit_reactivation(true);
#pragma GCC diagnostic pop
#endif
    impl->raw = ctx.raw;
    if (impl->raw == nullptr || PQstatus(impl->raw) != CONNECTION_OK) {
        impl->raw = nullptr;
        throw ConnectionError(mask_password(ctx.error, password), false, ctx.sqlstate);
    }
    if (PQsetnonblocking(impl->raw, 1) != 0) {
        throw ConnectionError("could not configure the connection");
    }
    const char* host = PQhost(impl->raw);
    const char* port = PQport(impl->raw);
    impl->server = fmt::format("{}:{}", host != nullptr ? host : "", port != nullptr ? port : "");
    impl->socket_fd = ::fcntl(PQsocket(impl->raw), F_DUPFD_CLOEXEC, 0);  // -1: cannot be cut
    impl->last_seen = Clock::now();  // the server has just answered the startup
    impl->lost_seen = impl->shared->sessions_lost.load(std::memory_order_relaxed);
    impl->cancel_handle = CancelHandle(PQgetCancel(impl->raw), CancelFree{});
    impl->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    PQsetNoticeReceiver(impl->raw, sparc_pqxx_notice_receiver, &impl->server_closing);
    // Field::as<time_point> reads the ISO DateStyle, the only one that prints a numeric UTC
    // offset. The server reports the session's DateStyle at startup: when a server, database or
    // role default chose another style, set the style alone (SET keeps the day/month order in
    // effect). Left alone when the endpoint's options choose a DateStyle, and in pgbouncer_mode,
    // where a SET would reach other clients' sessions.
    const char* style = PQparameterStatus(impl->raw, "DateStyle");
    if (!settings.pgbouncer_mode && style != nullptr &&
        !std::string_view(style).starts_with("ISO") &&
        !mentions_datestyle(ep.option("options").value_or(""))) {
        try {
            impl->execute_simple("SET DateStyle = ISO", deadline);
        } catch (const Error& e) {
            throw ConnectionError(fmt::format("could not set DateStyle to ISO: {}",
                                              mask_password(e.what(), password)),
                                  false);
        }
    }
    return std::make_unique<Connection>(std::move(impl));
}

// Connects host by host (and address by address), each attempt ending at the endpoint's
// connect_timeout or the caller's deadline, whichever comes first: libpq moves on to the next
// host after connect_timeout only in its blocking connect, and a non-blocking connect to a
// host that hangs would otherwise use up the whole deadline on it. Without connect_timeout
// each host gets an equal share of what is left. The host that accepted last is tried first
// next time, so after a failover new connections go straight to the new primary.
std::unique_ptr<PqxxBackend::Connection> PqxxBackend::connect(const Endpoint& endpoint,
                                                              const ConnectSettings& settings) {
    Endpoint ep = endpoint;
    if (!ep.option("application_name") && !settings.application_name.empty()) {
        ep.set_option("application_name", settings.application_name);
    }
    if (!settings.pgbouncer_mode &&
        (settings.statement_timeout.count() > 0 || settings.read_only)) {
        std::string options = ep.option("options").value_or("");
        auto add = [&](const std::string& o) {
            if (!options.empty()) options += ' ';
            options += o;
        };
        if (settings.statement_timeout.count() > 0) {
            add(fmt::format("-c statement_timeout={}", settings.statement_timeout.count()));
        }
        if (settings.read_only) add("-c default_transaction_read_only=on");
        ep.set_option("options", options);
    }
    const auto timeout = ep.connect_timeout();
    ep.erase_option("connect_timeout");  // enforced here, per attempt
    std::vector<Endpoint> hosts;
    try {
        hosts = split_hosts(ep);
    } catch (const ConfigError& e) {
        throw ConnectionError(
            fmt::format("could not connect to {}: {}", endpoint.label(), e.what()));
    }
    // libpq's prefer-standby tries every host for a standby, then every host for anything.
    std::vector<std::string> passes{""};
    if (hosts.size() > 1 && ep.option("target_session_attrs") == "prefer-standby") {
        passes = {"standby", "any"};
    }
    const std::string key = endpoint.label();
    const std::size_t first = hosts.size() > 1 ? shared_->preferred_host(key) % hosts.size() : 0;
    const std::string password = ep.option("password").value_or("");
    std::string failures;
    std::string sqlstate;
    auto failed = [&](const Endpoint& host, std::string_view why, const std::string& code) {
        if (!failures.empty()) failures += "; ";
        failures += hosts.size() > 1 ? fmt::format("{}: {}", host.label(), why) : std::string(why);
        if (!code.empty()) sqlstate = code;
    };
    for (const auto& attrs : passes) {
        for (std::size_t k = 0; k < hosts.size(); ++k) {
            const std::size_t i = (first + k) % hosts.size();
            Endpoint host = hosts[i];
            if (!attrs.empty()) host.set_option("target_session_attrs", attrs);
            const auto now = Clock::now();
            if (now >= settings.deadline) {
                failed(host, "timeout expired", {});
                break;
            }
            if (settings.abandon != nullptr && settings.abandon->load()) {
                failed(host, "abandoned: the pool is shutting down", {});
                break;
            }
            auto until = settings.deadline;
            if (timeout) {
                until = std::min(until, now + *timeout);
            } else if (hosts.size() > 1 && settings.deadline != Clock::time_point::max()) {
                until = now + (settings.deadline - now) / static_cast<long>(hosts.size() - k);
            }
            // A host name is looked up here, within the attempt's time; each of its addresses
            // is an attempt of its own, as libpq makes it.
            std::vector<Endpoint> attempts;
            try {
                attempts = detail::resolve_attempts(host, until, settings.abandon);
            } catch (const ConnectionError& e) {
                failed(host, e.what(), {});
                continue;
            }
            for (const auto& attempt : attempts) {
                try {
                    auto conn = open_host(
                        attempt,
                        timeout ? std::min(settings.deadline, Clock::now() + *timeout) : until,
                        settings);
                    if (hosts.size() > 1) shared_->accepted(key, i);
                    return conn;
                } catch (const ConnectionError& e) {
                    failed(host, e.what(), e.sqlstate());
                }
            }
        }
    }
    throw ConnectionError(fmt::format("could not connect to {}: {}", endpoint.label(),
                                      mask_password(failures, password)),
                          false, sqlstate);
}

PqxxBackend::Connection::Connection(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}

PqxxBackend::Connection::~Connection() { close(); }

Result PqxxBackend::Connection::execute(std::string_view sql, ParamsRef params,
                                        const ExecSettings& settings) {
    return impl_->execute(sql, params, settings);
}

std::size_t PqxxBackend::Connection::copy_in(std::string_view sql, detail::CopySource source,
                                             const ExecSettings& settings) {
    return impl_->copy_in(sql, source, settings);
}

std::vector<Result> PqxxBackend::Connection::batch(std::span<const Statement> statements,
                                                   const ExecSettings& settings) {
    return impl_->batch(statements, settings);
}

std::size_t PqxxBackend::Connection::stream(std::string_view sql, ParamsRef params,
                                            const ExecSettings& settings, detail::RowSink sink) {
    return impl_->stream(sql, params, settings, sink);
}

// BEGIN goes out with the transaction's first statement, in one round trip (a transaction
// that runs none sends nothing). A session already lost is reported now, as when BEGIN is sent.
void PqxxBackend::Connection::begin(const TransactionOptions& options,
                                    const ExecSettings& settings) {
    Impl& impl = *impl_;
    impl.cancel_grace = settings.cancel_grace;
    if (impl.interrupted.load(std::memory_order_acquire)) {
        impl.throw_cut(false, "before the statement was sent");
    }
    if (!impl.open_in_memory()) {
        impl.mark_broken();
        throw ConnectionError("connection was closed before the statement was sent", false);
    }
    impl.send_pending_begin(settings.deadline);  // begin() twice: the first one goes now
    impl.pending_begin = begin_statement(options);
    impl.pending_timeout = settings.local_statement_timeout;
    impl.pending = true;
    // Inside a block already: sent now, for the server to answer as it does.
    if (PQtransactionStatus(impl.raw) != PQTRANS_IDLE) impl.send_pending_begin(settings.deadline);
}

void PqxxBackend::Connection::commit(const ExecSettings& settings) {
    ExecSettings s = settings;
    s.prepare = false;
    impl_->cancel_grace = settings.cancel_grace;
    if (impl_->pending) {
        impl_->pending = false;  // nothing ran: nothing to commit
        return;
    }
    impl_->committing = true;
    ResultPtr r;
    try {
        r = impl_->execute_raw("COMMIT", {}, s);
    } catch (...) {
        impl_->committing = false;
        throw;
    }
    impl_->committing = false;
    // PostgreSQL answers COMMIT of a failed transaction with ROLLBACK instead of an error.
    if (r && std::string_view(PQcmdStatus(r.get())) == "ROLLBACK") {
        throw SqlError("COMMIT was answered with ROLLBACK: the transaction had already failed",
                       "25P02");
    }
}

void PqxxBackend::Connection::rollback(const ExecSettings& settings) {
    if (impl_->pending) {
        impl_->pending = false;  // nothing ran: nothing to roll back
        return;
    }
    ExecSettings s = settings;
    s.prepare = false;
    impl_->execute("ROLLBACK", {}, s);
}

void PqxxBackend::Connection::cancel() noexcept {
    try {
        impl_->cancel_and_wake();
    } catch (...) {
    }
}

bool PqxxBackend::Connection::cancel_outstanding() const noexcept {
    return impl_->cancel_outstanding();
}

std::optional<bool> PqxxBackend::Connection::in_recovery() const noexcept {
    if (impl_->raw == nullptr) return std::nullopt;
    const char* v = PQparameterStatus(impl_->raw, "in_hot_standby");
    if (v == nullptr) return std::nullopt;
    return std::string_view(v) == "on";
}

bool PqxxBackend::Connection::is_alive() {
    if (impl_->check_idle_socket()) return true;
    impl_->mark_broken();
    return false;
}

TxStatus PqxxBackend::Connection::transaction_status() const noexcept {
    if (impl_->broken || impl_->raw == nullptr) return TxStatus::unknown;
    if (impl_->pending) return TxStatus::in_transaction;  // BEGIN waits for the first statement
    switch (PQtransactionStatus(impl_->raw)) {
        case PQTRANS_IDLE:
            return TxStatus::idle;
        case PQTRANS_INTRANS:
            return TxStatus::in_transaction;
        case PQTRANS_INERROR:
            return TxStatus::in_error;
        case PQTRANS_ACTIVE:
            return TxStatus::active;
        default:
            return TxStatus::unknown;
    }
}

std::string_view PqxxBackend::Connection::server() const noexcept { return impl_->server; }

void PqxxBackend::Connection::interrupt(std::string_view reason) noexcept {
    impl_->interrupt(reason);
}

int PqxxBackend::Connection::backend_pid() const noexcept {
    return impl_->raw != nullptr ? PQbackendPID(impl_->raw) : 0;
}

void PqxxBackend::Connection::close() noexcept {
    if (impl_) impl_->mark_broken();
}

}  // namespace sparc::db
