#pragma once
/// @file listener.hpp
/// LISTEN/NOTIFY: db::Listener receives notifications on a connection of its own.
///
/// ```cpp
/// db::Listener listener(cfg);              // the PoolConfig the pool takes; connects lazily
/// listener.listen("video_events");         // LISTEN is in effect when this returns
/// while (running) {
///     std::optional<db::Notification> n = listener.wait(1s);
///     if (!n) continue;                    // timeout (or close())
///     if (n->gap()) { resync(); continue; } // reconnected: notifications may have been missed
///     handle(n->channel, n->payload);
/// }
/// pool.notify("video_events", payload);    // from any pool or db::Client
/// ```
/// See docs/listen-notify.md.

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sparc/db/config.hpp>

namespace sparc::db {

/// The longest channel name PostgreSQL keeps (NAMEDATALEN - 1 bytes): a longer name would be
/// cut short by LISTEN and refused by pg_notify(), so it is refused here.
inline constexpr std::size_t kMaxChannelLength = 63;

/// Checks a channel name for listen(), unlisten() and notify(): not empty, no NUL byte, at
/// most kMaxChannelLength bytes. Any other character is allowed; names are case-sensitive
/// (they are always sent quoted, never folded to lower case).
/// @throws UsageError naming the problem.
void check_channel_name(std::string_view channel);

/// What Listener::wait() returns: a notification, or the report that the listener lost its
/// connection and listens again on a new one, so that notifications sent in between may have
/// been missed.
struct Notification {
    enum class Kind {
        /// A NOTIFY: channel, payload and the sender's backend pid are set.
        message,
        /// The connection was lost and a new one now listens on every channel again:
        /// notifications sent while it was down are lost. Channel and payload are empty;
        /// backend_pid is the new session's (the listener's own) pid. Re-read whatever state
        /// the notifications were about.
        gap,
    };

    Kind kind = Kind::message;
    std::string channel;  ///< The channel, exactly as the sender named it.
    std::string payload;  ///< The payload ("" when the sender gave none).
    int backend_pid = 0;  ///< The sending session's pid (for a gap: the listener's new one).

    /// Whether this is a gap report rather than a notification.
    bool gap() const noexcept { return kind == Kind::gap; }

    friend bool operator==(const Notification&, const Notification&) = default;
};

/// Listens for PostgreSQL notifications (LISTEN/NOTIFY) on one dedicated connection to the
/// primary, built from the same PoolConfig as a pool: the primary endpoint with its TLS and
/// other libpq options, the pool's connect_timeout, application_name and
/// target_session_attrs=read-write (as connection_url() gives), tried host by host for a host
/// list, each host name looked up within the connect's deadline as the pool does (a name server
/// that does not answer costs connection_timeout, not the lookup's own time). The connection
/// opens at the first listen(), not in the constructor. Messages never show the password, nor a
/// host, port or database name that contains it (see Endpoint::label()).
///
/// Connection loss (the backend terminated, a server restart, a failover, a network cut) is
/// found by wait(), which then reconnects, with the pool's backoff between failed attempts
/// (50-100 ms doubling up to reconnect_backoff_max), listens again on every channel and returns
/// a Notification of Kind::gap before anything received on the new connection. Notifications
/// already received before the loss are returned first. A gap is reported once per loss, and
/// only when at least one channel was listened to. A connection that stays silent for
/// health_check_period while wait() runs is checked with an empty statement (answered within
/// query_timeout), so that a frozen host or a dropped network path is found too.
///
/// Thread safety: one thread at a time calls wait(). listen(), unlisten(), channels(),
/// connected(), backend_pid() and close() may be called from other threads meanwhile; listen()
/// and unlisten() make a waiting wait() step aside for them, and close() wakes it at once.
/// Not copyable or movable.
class Listener {
  public:
    /// Keeps the configuration; opens no connection yet.
    /// @throws ConfigError when `config` is invalid (PoolConfig::validate()).
    explicit Listener(PoolConfig config);
    ~Listener();
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;

    /// Listens on `channel`: when this returns, the server delivers every notification sent to
    /// it from then on (connecting first, within connection_timeout, when not connected).
    /// Listening again on a channel already listened to is harmless.
    /// @throws UsageError for a bad name (check_channel_name()), PoolClosed after close(),
    /// ConnectionError when no connection could be made or it broke meanwhile (the channel is
    /// then not listened to: call listen() again), SqlError when the server refused (e.g. a
    /// standby: 25006).
    void listen(std::string_view channel);

    /// Stops listening on `channel`. Notifications of that channel already received are still
    /// returned by wait(). When not connected, or when the connection turns out to be lost
    /// (before or while UNLISTEN runs), only forgets the channel: a lost session listens on
    /// nothing, and the next one does not listen on it. The loss is then handled as always:
    /// wait() reconnects and reports the gap, when other channels remain.
    /// @throws UsageError for a bad name, PoolClosed after close(), SqlError when the server
    /// refused.
    void unlisten(std::string_view channel);

    /// Waits up to `timeout` for the next notification; never spins (it sleeps in poll() on the
    /// connection's socket).
    /// @returns the next Notification (Kind::message or Kind::gap, see there); nullopt when
    /// `timeout` passed with nothing received, or the listener was closed (then immediately).
    /// @throws ConnectionError when the connection is lost and no new one could be made before
    /// `timeout` passed: the message gives the last error (never the password). The next
    /// wait() keeps trying (with backoff) and reports the gap once it is connected again. A
    /// reconnect attempt that has begun runs to its end (at most connection_timeout, plus
    /// query_timeout for the LISTENs), so wait() may then return that much later than `timeout`.
    std::optional<Notification> wait(std::chrono::milliseconds timeout);

    /// Closes the connection and wakes a waiting wait(), which returns nullopt; later calls of
    /// wait() return nullopt at once, listen() and unlisten() throw PoolClosed. Idempotent;
    /// any thread. The destructor closes too.
    void close() noexcept;

    /// Whether close() was called.
    bool closed() const noexcept;
    /// Whether the listener holds a connection it believes to be up (false before the first
    /// listen(), and after a loss until wait() has reconnected).
    bool connected() const;
    /// The channels listened to (also while disconnected: those listened to again on
    /// reconnect), in the order first listened.
    std::vector<std::string> channels() const;
    /// The server process id of the listener's session (0 when not connected): for logs, and
    /// for pg_terminate_backend in tests.
    int backend_pid() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace sparc::db
