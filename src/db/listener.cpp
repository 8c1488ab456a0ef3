#include <sparc/db/listener.hpp>

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>

#include <fmt/format.h>

#include <sparc/db/backend.hpp>
#include <sparc/db/connection_url.hpp>
#include <sparc/db/errors.hpp>
#include <sparc/db/retry.hpp>

#include "resolve.hpp"

namespace sparc::db {
namespace {

using namespace std::chrono_literals;

/// First wait after a failed reconnect (then doubling, jittered, up to reconnect_backoff_max),
/// as the pool waits for a host that refuses.
constexpr auto kReconnectBase = 100ms;

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

int poll_ms(Clock::time_point until) {
    if (until == Clock::time_point::max()) return -1;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now());
    return static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 60'000));
}

}  // namespace

/// Server messages that arrive while no statement runs (the FATAL goodbye of a terminated
/// backend): kept as the reason of the loss that follows; nothing is printed.
extern "C" void sparc_listener_notice_receiver(void* arg, const PGresult* result);

void check_channel_name(std::string_view channel) {
    if (channel.empty()) throw UsageError("channel name is empty");
    if (channel.find('\0') != std::string_view::npos) {
        throw UsageError("channel name contains a NUL byte");
    }
    if (channel.size() > kMaxChannelLength) {
        throw UsageError(fmt::format(
            "channel name is {} bytes long; PostgreSQL keeps at most {} bytes of a name",
            channel.size(), kMaxChannelLength));
    }
}

struct Listener::Impl {
    PoolConfig config;
    std::vector<Endpoint> hosts;  // the primary, host by host, with the pool's limits
    std::string label;            // for messages: no user, no password
    std::atomic<bool> closing{false};
    int wake_fd = -1;  // an eventfd: written to wake a wait() sleeping in poll()

    // Everything below is guarded by `mutex`. The connection is used only with the mutex held,
    // except that a waiter polls its socket without it (`polling`); whoever needs the
    // connection meanwhile counts itself in `others`, wakes the waiter and waits for it to step
    // aside.
    mutable std::mutex mutex;
    std::condition_variable cv;
    PGconn* conn = nullptr;
    bool polling = false;
    int others = 0;
    std::vector<std::string> channels;
    std::deque<Notification> queue;
    bool lost = false;  // a connection with channels was lost; its gap is not reported yet
    int failures = 0;   // failed reconnects in a row
    Clock::time_point next_attempt{};
    Clock::time_point last_heard{};  // the server last answered or sent something
    std::string last_error;
    std::string goodbye;  // the server's FATAL message on the current connection, if any
    std::size_t preferred = 0;
    std::mt19937_64 rng{std::random_device{}()};

    explicit Impl(PoolConfig c) : config(std::move(c)) {
        config.validate();
        const Endpoint primary = with_pool_limits(config, config.primary, ServerRole::primary);
        label = config.primary.label();
        try {
            hosts = split_hosts(primary);
        } catch (const ConfigError& e) {
            throw ConfigError(fmt::format("primary {}: {}", label, e.what()));
        }
        wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (wake_fd < 0) throw Error("could not create the listener's eventfd");
    }

    ~Impl() {
        disconnect();
        if (wake_fd >= 0) ::close(wake_fd);
    }

    std::string mask(std::string text) const {
        return mask_secrets(trim(std::move(text)), config.primary);
    }

    void wake() const noexcept {
        const std::uint64_t one = 1;
        [[maybe_unused]] const auto n = ::write(wake_fd, &one, sizeof one);
    }

    void drain_wake() const noexcept {
        std::uint64_t count;
        [[maybe_unused]] const auto n = ::read(wake_fd, &count, sizeof count);
    }

    // Waits for `events` on `fd` (none when fd < 0) or a wake-up, until `until`.
    // True when fd is ready.
    bool poll_fd(int fd, short events, Clock::time_point until) const {
        pollfd p[2] = {{wake_fd, POLLIN, 0}, {fd, events, 0}};
        const int n = ::poll(p, fd >= 0 ? 2 : 1, poll_ms(until));
        if (n > 0 && (p[0].revents & POLLIN) != 0) drain_wake();
        return n > 0 && fd >= 0 && p[1].revents != 0;
    }

    // Lets a waiter sleeping in poll() step aside: on return, the caller holds the connection.
    void take_over(std::unique_lock<std::mutex>& lock) {
        ++others;
        wake();
        cv.wait(lock, [&] { return !polling; });
        --others;
        cv.notify_all();
    }

    // Sleeps without the mutex until `fd` is readable, a wake-up, or `until`.
    void sleep_on(int fd, Clock::time_point until, std::unique_lock<std::mutex>& lock) {
        polling = true;
        lock.unlock();
        poll_fd(fd, POLLIN, until);
        lock.lock();
        polling = false;
        cv.notify_all();
    }

    void disconnect() noexcept {
        if (conn != nullptr) PQfinish(conn);
        conn = nullptr;
    }

    // The connection is gone (or unusable): notifications already parsed are kept, and a gap
    // is owed when channels were listened to on it.
    void drop(std::string reason) {
        if (conn != nullptr) drain();
        if (!goodbye.empty()) reason = mask(goodbye);
        disconnect();
        goodbye.clear();
        if (!channels.empty()) lost = true;
        last_error = std::move(reason);
        next_attempt = Clock::now();
    }

    [[noreturn]] void throw_lost(std::string_view what) {
        std::string reason = mask(conn != nullptr ? PQerrorMessage(conn) : "");
        if (reason.empty()) reason = "server closed the connection";
        drop(reason);
        throw ConnectionError(
            mask(fmt::format("listener connection to {} lost {}: {}", label, what, last_error)),
            true);
    }

    void drain() {
        while (PGnotify* n = PQnotifies(conn)) {
            Notification out;
            out.channel = n->relname != nullptr ? n->relname : "";
            out.payload = n->extra != nullptr ? n->extra : "";
            out.backend_pid = n->be_pid;
            PQfreemem(n);
            queue.push_back(std::move(out));
        }
    }

    // Reads what the server sent; false (and the connection dropped) when it is gone: closed,
    // or about to be (the FATAL goodbye of a terminated backend may come before the close).
    bool pump() {
        const bool read = PQconsumeInput(conn) != 0;
        drain();  // parses what was read: notifications, and a goodbye for the receiver
        if (!read || PQstatus(conn) != CONNECTION_OK || !goodbye.empty()) {
            drop(mask(PQerrorMessage(conn)));
            return false;
        }
        return true;
    }

    // One host: its name looked up and a non-blocking connect to each of its addresses, all
    // ending at `until` or at close().
    PGconn* connect_host(const Endpoint& host, Clock::time_point until, std::string& error) {
        std::vector<Endpoint> attempts;
        try {
            attempts = detail::resolve_attempts(host, until, &closing, "the listener was closed");
        } catch (const ConnectionError& e) {
            if (closing.load()) throw PoolClosed("the listener was closed");
            error = e.what();
            return nullptr;
        }
        for (const auto& attempt : attempts) {
            if (PGconn* c = connect_address(attempt, until, error)) return c;
        }
        return nullptr;
    }

    // A non-blocking connect to one address that ends at `until` or at close().
    PGconn* connect_address(const Endpoint& host, Clock::time_point until, std::string& error) {
        PGconn* c = PQconnectStart(host.conninfo().c_str());
        if (c == nullptr) throw std::bad_alloc();
        PostgresPollingStatusType state = PGRES_POLLING_WRITING;
        while (state != PGRES_POLLING_OK && state != PGRES_POLLING_FAILED &&
               PQstatus(c) != CONNECTION_BAD) {
            if (closing.load()) {
                PQfinish(c);
                throw PoolClosed("the listener was closed");
            }
            if (Clock::now() >= until) {
                error = "timeout expired";
                PQfinish(c);
                return nullptr;
            }
            const short events = state == PGRES_POLLING_READING ? POLLIN : POLLOUT;
            if (poll_fd(PQsocket(c), events, until)) state = PQconnectPoll(c);
        }
        if (state != PGRES_POLLING_OK || PQstatus(c) != CONNECTION_OK) {
            error = mask(PQerrorMessage(c));
            PQfinish(c);
            return nullptr;
        }
        return c;
    }

    // Host by host (starting with the one that accepted last), each within its
    // connect_timeout, the whole within connection_timeout.
    PGconn* open() {
        const auto deadline = Clock::now() + config.connection_timeout;
        std::string failures_text;
        for (std::size_t k = 0; k < hosts.size(); ++k) {
            const std::size_t i = (preferred + k) % hosts.size();
            const auto now = Clock::now();
            auto until = deadline;
            if (const auto t = hosts[i].connect_timeout()) {
                until = std::min(until, now + *t);
            } else if (hosts.size() > 1) {
                until = now + (deadline - now) / static_cast<long>(hosts.size() - k);
            }
            std::string error;
            PGconn* c = now < deadline ? connect_host(hosts[i], until, error) : nullptr;
            if (c == nullptr && error.empty()) error = "timeout expired";
            if (c != nullptr) {
                preferred = i;
                PQsetNoticeReceiver(c, sparc_listener_notice_receiver, &goodbye);
                if (PQsetnonblocking(c, 1) != 0) {
                    PQfinish(c);
                    error = "could not configure the connection";
                } else {
                    return c;
                }
            }
            if (!failures_text.empty()) failures_text += "; ";
            failures_text +=
                hosts.size() > 1 ? fmt::format("{}: {}", hosts[i].label(), error) : error;
        }
        throw ConnectionError(
            mask(fmt::format("listener could not connect to {}: {}", label, failures_text)));
    }

    // Runs `sql` (simple protocol) within query_timeout. Notifications that arrive meanwhile
    // are queued. @throws ConnectionError (connection dropped), SqlError, PoolClosed.
    void run(const std::string& sql) {
        const auto until = Clock::now() + config.query_timeout;
        if (PQsendQuery(conn, sql.c_str()) == 0) throw_lost("before the statement was sent");
        while (true) {
            const int f = PQflush(conn);
            if (f == 0) break;
            if (f < 0) throw_lost("while sending the statement");
            if (closing.load()) {
                drop("the listener was closed");
                throw PoolClosed("the listener was closed");
            }
            if (Clock::now() >= until) throw_lost("(timeout expired while sending)");
            poll_fd(PQsocket(conn), POLLIN | POLLOUT, until);
            if (PQconsumeInput(conn) == 0) throw_lost("while sending the statement");
        }
        std::string error;
        std::string sqlstate;
        while (true) {
            while (PQisBusy(conn) != 0) {
                if (closing.load()) {
                    drop("the listener was closed");
                    throw PoolClosed("the listener was closed");
                }
                if (Clock::now() >= until) throw_lost("(timeout expired waiting for the result)");
                poll_fd(PQsocket(conn), POLLIN, until);
                if (PQconsumeInput(conn) == 0) throw_lost("while waiting for the result");
            }
            PGresult* r = PQgetResult(conn);
            if (r == nullptr) break;
            if (PQresultStatus(r) == PGRES_FATAL_ERROR && error.empty()) {
                const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
                sqlstate = state != nullptr ? state : "";
                error = mask(PQresultErrorMessage(r));
            }
            PQclear(r);
        }
        drain();
        if (PQstatus(conn) != CONNECTION_OK) throw_lost("while running the statement");
        last_heard = Clock::now();
        if (!error.empty()) throw SqlError(error, sqlstate);
    }

    std::string listen_sql(const std::vector<std::string>& names) {
        std::string sql;
        for (const auto& name : names) {
            char* quoted = PQescapeIdentifier(conn, name.data(), name.size());
            if (quoted == nullptr) {
                throw UsageError(
                    fmt::format("channel name cannot be quoted: {}", mask(PQerrorMessage(conn))));
            }
            sql += fmt::format("LISTEN {};", quoted);
            PQfreemem(quoted);
        }
        return sql;
    }

    // Opens a connection and listens on every channel again; owes the caller the gap report.
    void reconnect() {
        conn = open();
        goodbye.clear();
        if (!channels.empty()) {
            try {
                run(listen_sql(channels));
            } catch (const SqlError& e) {
                // A host that cannot listen (a standby): try again later, maybe elsewhere.
                drop(e.what());
                throw ConnectionError(
                    mask(fmt::format("listener could not listen on {}: {}", label, e.what())),
                    false, e.sqlstate());
            }
        }
        failures = 0;
        last_error.clear();
        last_heard = Clock::now();
        if (lost) {
            Notification gap;
            gap.kind = Notification::Kind::gap;
            gap.backend_pid = PQbackendPID(conn);
            queue.push_back(std::move(gap));
            lost = false;
        }
    }

    void ensure_usable(std::unique_lock<std::mutex>& lock) {
        if (closing.load()) throw PoolClosed("the listener was closed");
        take_over(lock);
        if (closing.load()) throw PoolClosed("the listener was closed");
        // A connection found dead is replaced at once (its gap is then owed to the waiter).
        if (conn != nullptr) pump();
        if (conn == nullptr) reconnect();
    }
};

extern "C" void sparc_listener_notice_receiver(void* arg, const PGresult* result) {
    const char* severity = PQresultErrorField(result, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity == nullptr) return;
    const std::string_view s(severity);
    if (s != "FATAL" && s != "PANIC") return;
    const char* message = PQresultErrorMessage(result);
    try {
        *static_cast<std::string*>(arg) = trim(message != nullptr ? message : "");
    } catch (...) {
    }
}

Listener::Listener(PoolConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

Listener::~Listener() { close(); }

void Listener::listen(std::string_view channel) {
    check_channel_name(channel);
    Impl& m = *impl_;
    std::unique_lock lock(m.mutex);
    m.ensure_usable(lock);
    const std::string name(channel);
    try {
        m.run(m.listen_sql({name}));
    } catch (const ConnectionError&) {
        // LISTEN may be sent twice: once more on a new connection (a session that broke while
        // idle is often found only by the statement).
        m.reconnect();
        m.run(m.listen_sql({name}));
    }
    if (std::find(m.channels.begin(), m.channels.end(), name) == m.channels.end()) {
        m.channels.push_back(name);
    }
    // Anything queued meanwhile is for the waiter to see.
    if (!m.queue.empty()) m.wake();
}

void Listener::unlisten(std::string_view channel) {
    check_channel_name(channel);
    Impl& m = *impl_;
    std::unique_lock lock(m.mutex);
    if (m.closing.load()) throw PoolClosed("the listener was closed");
    m.take_over(lock);
    const std::string name(channel);
    std::erase(m.channels, name);
    // A session found dead listens on nothing: the channel, forgotten, is not listened to again
    // on the next one (which wait() opens, reporting the gap when channels remain).
    if (m.conn != nullptr) m.pump();
    if (m.conn == nullptr) {
        if (!m.queue.empty()) m.wake();
        return;
    }
    char* quoted = PQescapeIdentifier(m.conn, name.data(), name.size());
    if (quoted == nullptr) {
        throw UsageError(
            fmt::format("channel name cannot be quoted: {}", m.mask(PQerrorMessage(m.conn))));
    }
    const std::string sql = fmt::format("UNLISTEN {}", quoted);
    PQfreemem(quoted);
    try {
        m.run(sql);
    } catch (const ConnectionError&) {
        // Lost while it ran (the connection is dropped): the same as above.
    }
    if (!m.queue.empty()) m.wake();
}

std::optional<Notification> Listener::wait(std::chrono::milliseconds timeout) {
    Impl& m = *impl_;
    const auto deadline = Clock::now() + std::max(timeout, std::chrono::milliseconds{0});
    std::unique_lock lock(m.mutex);
    while (true) {
        if (m.closing.load()) return std::nullopt;
        if (m.others > 0) {
            m.cv.wait(lock, [&] { return m.others == 0 || m.closing.load(); });
            continue;
        }
        if (!m.queue.empty()) {
            Notification n = std::move(m.queue.front());
            m.queue.pop_front();
            return n;
        }
        const auto now = Clock::now();
        if (m.conn != nullptr) {
            if (!m.pump()) continue;  // lost: reconnect below, on the next round
            if (!m.queue.empty()) {
                m.last_heard = now;
                continue;
            }
            // A connection cut without a word (a frozen host, a dropped network path) leaves
            // the socket silent: an empty statement after health_check_period of silence
            // finds out, within query_timeout.
            const auto ping_at = m.last_heard + m.config.health_check_period;
            if (now >= ping_at && now < deadline) {
                try {
                    m.run("");
                } catch (const PoolClosed&) {
                    return std::nullopt;
                } catch (const ConnectionError&) {
                }
                m.last_heard = Clock::now();
                continue;
            }
            if (now >= deadline) return std::nullopt;
            m.sleep_on(PQsocket(m.conn), std::min(deadline, ping_at), lock);
            continue;
        }
        if (m.channels.empty() && !m.lost) {
            // Nothing to listen to: there is nothing to reconnect for either.
            if (now >= deadline) return std::nullopt;
            m.sleep_on(-1, deadline, lock);
            continue;
        }
        if (now >= m.next_attempt) {
            try {
                m.reconnect();
                continue;
            } catch (const PoolClosed&) {
                return std::nullopt;
            } catch (const Error& e) {
                ++m.failures;
                m.last_error = e.what();
                m.next_attempt =
                    Clock::now() + reconnect_delay(m.failures, kReconnectBase,
                                                   m.config.reconnect_backoff_max, m.rng);
            }
        }
        if (Clock::now() >= deadline) {
            throw ConnectionError(
                m.mask(fmt::format("listener is not connected to {}: {}", m.label, m.last_error)));
        }
        m.sleep_on(-1, std::min(deadline, m.next_attempt), lock);
    }
}

void Listener::close() noexcept {
    if (!impl_) return;
    Impl& m = *impl_;
    m.closing.store(true);
    m.wake();
    try {
        std::unique_lock lock(m.mutex);
        m.take_over(lock);
        m.disconnect();
        m.queue.clear();
    } catch (...) {
    }
    m.cv.notify_all();
}

bool Listener::closed() const noexcept { return impl_->closing.load(); }

bool Listener::connected() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->conn != nullptr;
}

std::vector<std::string> Listener::channels() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->channels;
}

int Listener::backend_pid() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->conn != nullptr ? PQbackendPID(impl_->conn) : 0;
}

}  // namespace sparc::db
