#pragma once
/// @file host_pool.hpp
/// The connections of one host: a lock-free fast path for acquire and release, FIFO waiters
/// with bounded barging and direct hand-off, background opening, idle reaping, lifetimes and
/// leak detection. Internal to ConnectionPool.
///
/// How it works
/// ------------
/// Connections live in a fixed array of cache-line-sized slots (one per possible connection,
/// `max` of them), each with an atomic state: empty (no connection), idle or leased.
///
/// - Acquire, fast path: scan the slots, starting at the one this thread used last, and take an
///   idle one with a compare-and-swap idle -> leased. No lock, no allocation, no clock.
/// - Release, fast path: store idle, then read `signal_` (waiters, shutdown, hand-off mode).
///   When it reads zero, that is all.
/// - Slow path (no idle connection): take the mutex and queue as a waiter (FIFO). Only the
///   queue's head looks for idle connections; the others sleep until they reach the head.
/// - Time-based bookkeeping (idle timeout, lifetime, leaks) is done by maintain() on the
///   housekeeper's tick, by observing each slot: a slot seen in the same state with the same
///   count of ended leases as on an earlier tick has been idle (or leased) since then. So the
///   fast path reads no clock, and these decisions are taken up to one tick later than a
///   timestamp would allow, never earlier. (The tick is a quarter of the shortest of
///   idle_timeout, the leak threshold and the health-check period, within 25 ms to 1 s.)
///
/// Fairness. While callers wait, a running thread may still take a connection released by
/// another ("barging"): that keeps throughput when threads outnumber connections, because a
/// released connection goes to a thread that is already running instead of one that must be
/// woken. Barging is bounded: once the head of the queue has waited kMaxBargeWait, the pool
/// switches to hand-off mode, in which the fast path is closed to newcomers (they queue behind)
/// and every release hands its connection directly to the head of the queue. Hand-off mode
/// ends when the queue empties or a waiter is served within kMaxBargeWait (the scheme of Go's
/// sync.Mutex "starvation mode"). So no waiter waits more than kMaxBargeWait plus the time the
/// waiters ahead of it are served in FIFO order.
///
/// No lost wake-up. The release fast path stores `idle` and then loads `signal_`; a waiter
/// increments the waiter count in `signal_` and then scans the slot states. All four accesses
/// are sequentially consistent, so (the store-load "Dekker" pattern) at least one side sees the
/// other: the waiter finds the idle connection, or the releaser sees a waiter and wakes the
/// head. The kWakePending bit limits that to one wake-up in flight: a releaser that finds it
/// already set skips the notify, which is safe because the head clears the bit (seq_cst)
/// before it rescans, so the rescan sees every connection released before the bit was read.
/// The mutex orders everything else (queueing, hand-off, opening, removal, maintenance), and a
/// notify made under it cannot be missed by a waiter that checks its condition under it.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/core.h>

#include <sparc/db/backend.hpp>
#include <sparc/db/detail/sql.hpp>
#include <sparc/db/endpoint.hpp>
#include <sparc/db/errors.hpp>
#include <sparc/db/hooks.hpp>
#include <sparc/db/metrics.hpp>
#include <sparc/db/retry.hpp>
#include <sparc/db/safety.hpp>

namespace sparc::db::detail {

/// Calls a hook, catching and counting anything it throws: telemetry never breaks the pool.
template <typename F, typename E>
void call_hook(const F& hook, const E& event, PoolMetrics& metrics) noexcept {
    if (!hook) return;
    try {
        hook(event);
    } catch (...) {
        metrics.hook_errors.add();
    }
}

/// Error text fit for hooks, logs and errors: `endpoint`'s password and sslpassword masked
/// wherever they appear, and anything that looks like a secret in a connection string the text
/// quotes (libpq's messages may echo the conninfo). Backends mask already; this is the pool's
/// own guarantee, on error paths only.
inline std::string redact_error_text(std::string_view text, const Endpoint& endpoint) {
    return redact_connection_string(mask_secrets(text, endpoint));
}

/// Limits and timings of one host's connections.
struct HostLimits {
    std::size_t min = 0;
    std::size_t max = 1;
    std::chrono::milliseconds idle_timeout{0};
    std::chrono::milliseconds connection_timeout{0};
    std::chrono::milliseconds max_lifetime{0};
    std::chrono::milliseconds leak_threshold{0};
    std::chrono::milliseconds reconnect_backoff_max{10'000};
};

/// How long the head of the wait queue lets running threads take released connections before
/// the pool hands every released connection to the queue in FIFO order.
inline constexpr std::chrono::microseconds kMaxBargeWait{1000};

/// The deadline and stop token a caller set on the call this thread is making
/// (QueryOptions, TransactionOptions, AcquireOptions), innermost first. The pool's waits and
/// statements read them from here, so they reach every connection wait and statement the call
/// makes without being handed down each path.
struct CallLimits {
    std::optional<Clock::time_point> deadline;  ///< The earliest along the chain.
    std::stop_token stop;
    const CallLimits* outer = nullptr;
};
inline thread_local const CallLimits* t_call_limits = nullptr;

/// The earliest caller deadline of the calls this thread is making, if any.
inline std::optional<Clock::time_point> call_deadline() noexcept {
    const CallLimits* l = t_call_limits;
    return l != nullptr ? l->deadline : std::nullopt;
}

/// Whether a stop was requested on any stop token of the calls this thread is making.
inline bool call_stop_requested() noexcept {
    for (const CallLimits* l = t_call_limits; l != nullptr; l = l->outer) {
        if (l->stop.stop_requested()) return true;
    }
    return false;
}

/// Makes a call's deadline and stop token the thread's for its scope; does nothing (touches no
/// thread-local) when the call set neither.
class ScopedCallLimits {
  public:
    ScopedCallLimits(std::optional<Clock::time_point> deadline, std::stop_token stop) noexcept {
        if (!deadline && !stop.stop_possible()) return;
        if (const CallLimits* t = t_call_limits;
            t != nullptr && t->stop == stop &&
            (!deadline || (t->deadline && *t->deadline <= *deadline))) {
            return;  // the same limits as the call around it (a pool's query() on its lease)
        }
        limits_.outer = t_call_limits;
        limits_.deadline = deadline;
        if (limits_.outer != nullptr && limits_.outer->deadline &&
            (!deadline || *limits_.outer->deadline < *deadline)) {
            limits_.deadline = limits_.outer->deadline;
        }
        limits_.stop = std::move(stop);
        t_call_limits = &limits_;
        active_ = true;
    }
    ~ScopedCallLimits() {
        if (active_) t_call_limits = limits_.outer;
    }
    ScopedCallLimits(const ScopedCallLimits&) = delete;
    ScopedCallLimits& operator=(const ScopedCallLimits&) = delete;

  private:
    CallLimits limits_;
    bool active_ = false;
};

/// Lifts the caller's limits for its scope: finding out what a COMMIT did is never cut short.
class SuspendCallLimits {
  public:
    SuspendCallLimits() noexcept : saved_(std::exchange(t_call_limits, nullptr)) {}
    ~SuspendCallLimits() { t_call_limits = saved_; }
    SuspendCallLimits(const SuspendCallLimits&) = delete;
    SuspendCallLimits& operator=(const SuspendCallLimits&) = delete;

  private:
    const CallLimits* saved_;
};

/// Runs `fire` when a stop is requested on the stop token of the call this thread is making or
/// of the call around it, while this object lives (`enabled`). A stop_callback on a token with
/// no stop state does nothing, so nothing here is optional.
template <typename Fire>
class OnCallStop {
  public:
    explicit OnCallStop(Fire fire, bool enabled = true)
        : inner_(token(enabled, false), fire), outer_(token(enabled, true), fire) {}

  private:
    static std::stop_token token(bool enabled, bool outer) noexcept {
        const CallLimits* l = enabled ? t_call_limits : nullptr;
        if (l == nullptr) return {};
        if (!outer) return l->stop;
        if (l->outer == nullptr || l->outer->stop == l->stop) return {};
        return l->outer->stop;
    }

    std::stop_callback<Fire> inner_;
    std::stop_callback<Fire> outer_;
};

/// When an acquire stops waiting: a fixed time, or a timeout that starts the first time the
/// pool has to wait, so that an acquire served at once never reads the clock. Not thread-safe.
class AcquireDeadline {
  public:
    /// `timeout` from the first call to get() (from the moment the caller starts waiting).
    explicit AcquireDeadline(std::chrono::milliseconds timeout) noexcept : timeout_(timeout) {}
    /// A fixed time.
    static AcquireDeadline at(Clock::time_point when) noexcept {
        AcquireDeadline d(std::chrono::milliseconds{0});
        d.at_ = when;
        d.fixed_ = true;
        return d;
    }
    /// The deadline, fixed on first use.
    Clock::time_point get() noexcept {
        if (!fixed_) {
            at_ = Clock::now() + timeout_;
            fixed_ = true;
        }
        return at_;
    }
    /// Whether the deadline has passed (fixing it if it was not).
    bool passed() noexcept { return Clock::now() >= get(); }

  private:
    std::chrono::milliseconds timeout_;
    Clock::time_point at_{};
    bool fixed_ = false;
};

/// Where the current lease of a slot was acquired, for leak reports. Written by the lease's
/// owner without a lock while maintain() may read it, so the fields are relaxed atomics under a
/// sequence counter (a seqlock): a reader that sees the counter odd or changed discards what it
/// read. Release stores and acquire loads on the fields order them against the counter without
/// fences (which ThreadSanitizer does not model); on x86 they are plain moves.
struct LeaseSite {
    std::atomic<std::uint32_t> version{0};   // odd while being written
    std::atomic<const char*> file{nullptr};  // nullptr: no lease recorded
    std::atomic<const char*> function{""};
    std::atomic<unsigned> line{0};

    /// Records a lease; only the slot's owner calls this.
    void write(const SourceLocation& where) noexcept {
        const auto v = version.load(std::memory_order_relaxed);
        version.store(v + 1, std::memory_order_relaxed);
        file.store(where.file_name(), std::memory_order_release);
        function.store(where.function_name(), std::memory_order_release);
        line.store(where.line(), std::memory_order_release);
        version.store(v + 2, std::memory_order_release);
    }

    /// Forgets the lease, before the slot is published as idle: until the next lease is
    /// recorded, a reader finds none rather than the previous one.
    void clear() noexcept { file.store(nullptr, std::memory_order_relaxed); }

    /// A consistent copy of the current lease's site, or false when there is none or a write
    /// overlapped the read.
    bool read(SourceLocation& where) const noexcept {
        const auto v = version.load(std::memory_order_acquire);
        if ((v & 1U) != 0) return false;
        const char* f = file.load(std::memory_order_acquire);
        const char* fn = function.load(std::memory_order_acquire);
        const unsigned l = line.load(std::memory_order_acquire);
        if (f == nullptr || version.load(std::memory_order_relaxed) != v) return false;
        where = SourceLocation::current(f, fn, l);
        return true;
    }
};

/// One place for a pooled connection, and its bookkeeping. A slot is never freed while the
/// pool lives, so a Lease may hold a pointer to it; its cache line is its own, so that threads
/// using different connections do not contend.
template <typename B>
struct alignas(64) Slot {
    static constexpr std::uint32_t kEmpty = 0;   ///< No connection; changed under the mutex.
    static constexpr std::uint32_t kIdle = 1;    ///< Open and free: anyone may CAS it to leased.
    static constexpr std::uint32_t kLeased = 2;  ///< Owned by one caller (or being checked).

    std::atomic<std::uint32_t> state{kEmpty};
    // Set by maintain() when the connection is past its lifetime while leased: the owner
    // closes it on release. Cleared when the slot is filled.
    std::atomic<bool> retire{false};
    // Set by shutdown when the lease outlived the grace period: the owner may only release it.
    // Cleared when the slot is filled.
    std::atomic<bool> revoked{false};
    // Set when the slot is filled (under the mutex, while empty) and cleared by whoever empties
    // it (under the mutex); read by the slot's owner in between.
    std::unique_ptr<typename B::Connection> conn;
    Clock::time_point retire_at = Clock::time_point::max();
    Clock::time_point leased_at{};  // kept only for an on_release hook
    // Written only by the slot's owner (whoever holds it leased), so a plain load and store
    // suffice: no locked instruction, and the cache line is already the owner's.
    // - ended: leases ended on this slot; tells maintain() one lease or idle spell from the next.
    // - served: acquires served on the fast path, folded into HostMetrics when read.
    std::atomic<std::uint64_t> ended{0};
    std::atomic<std::uint64_t> served{0};
    // Leases ended with the session reusable: its server answered. Owner-only, like `ended`;
    // reset when the slot is filled. Tells a server that still answers from one that hangs
    // (HostPool::confirm_move_locked()).
    std::atomic<std::uint64_t> answers{0};
    // Releases begun (by the owner, before the slot is published) and finished (the last thing
    // a release does, after its hook, so an RMW: by then the next owner may be releasing too).
    // Equal and the slot not leased: no release is still touching the pool (wait_quiescent()).
    std::atomic<std::uint64_t> releases_begun{0};
    std::atomic<std::uint64_t> releases_done{0};
    LeaseSite site;  // leak reports
    // Whether the connection has been released reusable once (it served its lease): the first
    // such release ends the host's failed connects in a row (HostPool::answered()). Owner-only,
    // like `ended`; reset when the slot is filled.
    bool proven = false;
    // maintain() only, under the mutex: what it saw on the last tick, and since when.
    std::uint32_t seen_state = kEmpty;
    std::uint64_t seen_ended = 0;
    Clock::time_point seen_since{};
    bool leak_reported = false;
};

/// Adds one to a counter only the caller writes (see Slot): a load and a store, no RMW.
inline void bump(std::atomic<std::uint64_t>& counter) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

template <typename B>
class HostPool {
  public:
    /// Which history a writable server continues: its cluster's system identifier and its
    /// timeline (kHistorySql).
    struct History {
        std::string system;
        std::uint32_t timeline = 0;
    };

    using SlotT = Slot<B>;

    HostPool(B backend, Endpoint endpoint, HostRole role, HostLimits limits,
             ConnectSettings settings, const Hooks& hooks, PoolMetrics& pool_metrics)
        : backend_(std::move(backend)),
          endpoint_(std::move(endpoint)),
          label_(endpoint_.label()),
          role_(role),
          limits_(limits),
          settings_(std::move(settings)),
          hooks_(hooks),
          pool_metrics_(pool_metrics),
          slots_(std::make_unique<SlotT[]>(limits_.max)),  // NOLINT(modernize-avoid-c-arrays)
          track_idle_(limits_.idle_timeout.count() > 0),
          track_leaks_(limits_.leak_threshold.count() > 0),
          time_acquire_(static_cast<bool>(hooks.on_acquire)),
          time_lease_(static_cast<bool>(hooks.on_release)),
          rng_(std::random_device{}()) {
        settings_.abandon = &abandon_connects_;
        follow_moves_ = follows_writable_host(endpoint_, role_);
        // For hook events; passed through the redactor as everything displayed is.
        address_ = redact_connection_string(endpoint_.display_value(endpoint_.host()));
        port_ = redact_connection_string(endpoint_.display_value(endpoint_.port()));
        database_ = redact_connection_string(endpoint_.display_value(endpoint_.dbname()));
        user_ = redact_connection_string(endpoint_.display_value(endpoint_.user()));
        opener_ = std::thread([this] { open_loop(); });
    }

    HostPool(const HostPool&) = delete;
    HostPool& operator=(const HostPool&) = delete;

    ~HostPool() { close_now(); }

    const std::string& label() const noexcept { return label_; }
    HostRole role() const noexcept { return role_; }
    HostRef ref() const noexcept {
        return {.label = label_,
                .role = role_,
                .address = address_,
                .port = port_,
                .database = database_,
                .user = user_};
    }
    const Endpoint& endpoint() const noexcept { return endpoint_; }
    HostMetrics& metrics() noexcept { return metrics_; }
    const HostMetrics& metrics() const noexcept { return metrics_; }
    std::size_t max() const noexcept { return limits_.max; }

    /// Adds the acquires served on the fast path since the last call to the metrics (`acquires`
    /// and a zero wait in `acquire_wait`: they take nanoseconds, and the histogram's first
    /// bucket is 0.5 ms). Call before reading metrics().
    void fold_fast_path_metrics() {
        std::lock_guard lock(mutex_);
        std::uint64_t served = 0;
        const std::uint32_t n = high_.load(std::memory_order_acquire);
        for (std::uint32_t i = 0; i < n; ++i) {
            served += slots_[i].served.load(std::memory_order_relaxed);
        }
        // Each slot's count only grows, and this runs under the mutex: never negative.
        const std::uint64_t delta = served - folded_;
        folded_ = served;
        if (delta == 0) return;
        metrics_.acquires.add(delta);
        metrics_.acquire_wait.observe(std::chrono::nanoseconds::zero(), delta);
    }

    /// Leases a connection, waiting until `deadline` (fixed only if the caller has to wait).
    /// @throws PoolTimeout, PoolClosed, ConnectionError (the connection opened for this caller
    /// failed).
    SlotT* acquire(AcquireDeadline& deadline, const SourceLocation& where) {
        const Clock::time_point hook_start = time_acquire_ ? Clock::now() : Clock::time_point{};
        // Newcomers may take an idle connection unless the pool is closed or in hand-off
        // mode (then they queue); a stale read here only lets one more caller barge.
        if ((signal_.load(std::memory_order_relaxed) & (kClosed | kHandoff)) == 0) {
            while (SlotT* s = take_idle()) {
                if (checkout(s, where)) {
                    bump(s->served);
                    if (time_acquire_) record_hook(hook_start);
                    return s;
                }
            }
        }
        return acquire_slow(deadline, where, hook_start);
    }

    /// Leases a connection for a health check of a host whose connections are all busy: at
    /// the head of the wait queue, so it is served by the next release, and never opening one
    /// beyond max_connections. nullptr at `until` (no release came: every connection has been
    /// busy that long); counts in no caller-facing metric. @throws PoolClosed.
    SlotT* acquire_for_check(Clock::time_point until) {
        AcquireDeadline deadline = AcquireDeadline::at(until);
        return acquire_slow(deadline, SourceLocation::current(), Clock::time_point{}, true);
    }

    /// Returns a leased connection; `reusable` false discards it.
    void release(SlotT* s, bool reusable) noexcept {
        const Clock::duration held =
            time_lease_ ? Clock::now() - s->leased_at : Clock::duration::zero();
        // All three before the slot is published (the store that publishes it releases them).
        bump(s->releases_begun);
        bump(s->ended);
        if (follow_moves_ && reusable) bump(s->answers);  // only a host list reads it
        if (track_leaks_) s->site.clear();
        if (reusable && !s->proven) [[unlikely]] {
            s->proven = true;
            answered();
        }
        bool reused = reusable && !s->retire.load(std::memory_order_relaxed);
        if (reused) {
            if ((signal_.load(std::memory_order_relaxed) & (kClosed | kHandoff)) == 0) {
                // Publish, then look for waiters or a shutdown: the releasing half of the
                // store-load pattern described at the top of the file.
                s->state.store(SlotT::kIdle, std::memory_order_seq_cst);
                const std::uint64_t sig = signal_.load(std::memory_order_seq_cst);
                if (sig != 0) reused = after_publish(s, sig);
            } else {
                reused = release_locked(s);
            }
        } else {
            discard(s);
        }
        if (time_lease_) {
            call_hook(hooks_.on_release, ReleaseEvent{ref(), held, reused}, pool_metrics_);
        }
        // The release's last touch of the pool (see wait_quiescent()).
        s->releases_done.fetch_add(1, std::memory_order_release);
    }

    /// Waits until no slot is leased, every release has finished, and no caller is inside the
    /// wait queue's code: then nothing touches this host any more. Call after stop_accepting()
    /// (so no new lease or waiter can start) when the pool is about to be freed.
    void wait_quiescent() {
        std::unique_lock lock(mutex_);
        // Releases on the fast path publish without the mutex: poll rather than rely on a
        // notification.
        while (!quiescent_locked()) drain_cv_.wait_for(lock, std::chrono::milliseconds(2));
    }

    /// Closes idle connections idle longer than idle_timeout (above the minimum) or past their
    /// lifetime, marks leased ones past their lifetime to be closed on release, reports leaks,
    /// and tops the pool up to its minimum. Called on the housekeeper's tick: how long a slot
    /// has been idle or leased is how long maintain() has seen it so (see the top of the file).
    void maintain(Clock::time_point now) {
        std::vector<std::unique_ptr<typename B::Connection>> to_close;
        std::vector<LeakEvent> leaks;
        {
            std::lock_guard lock(mutex_);
            if (closed_locked()) return;
            for (auto& conn : doomed_) to_close.push_back(std::move(conn));
            doomed_.clear();
            if (follow_moves_) confirm_move_locked(now, to_close);
            std::vector<std::pair<Clock::time_point, SlotT*>> too_idle;
            const std::uint32_t n = high_.load(std::memory_order_relaxed);
            for (std::uint32_t i = 0; i < n; ++i) {
                SlotT& s = slots_[i];
                // A release bumps `ended` before publishing, so reading it on both sides of
                // the state tells whether the slot changed hands meanwhile.
                const std::uint64_t ended = s.ended.load(std::memory_order_acquire);
                const std::uint32_t state = s.state.load(std::memory_order_acquire);
                if (s.ended.load(std::memory_order_acquire) != ended) {
                    s.seen_state = SlotT::kEmpty;  // in flux: start over next tick
                    continue;
                }
                if (state != s.seen_state || ended != s.seen_ended) {
                    s.seen_state = state;
                    s.seen_ended = ended;
                    s.seen_since = now;
                    s.leak_reported = false;
                }
                const auto spell = now - s.seen_since;  // idle or leased at least this long
                if (state == SlotT::kIdle) {
                    if (now >= s.retire_at) {
                        take_for_removal_locked(s, to_close);
                    } else if (track_idle_ && spell >= limits_.idle_timeout) {
                        too_idle.emplace_back(s.seen_since, &s);
                    }
                } else if (state == SlotT::kLeased) {
                    if (now >= s.retire_at) s.retire.store(true, std::memory_order_relaxed);
                    SourceLocation where;
                    if (track_leaks_ && !s.leak_reported && spell >= limits_.leak_threshold &&
                        s.site.read(where)) {
                        s.leak_reported = true;
                        leaks.push_back(LeakEvent{ref(), spell, where});
                    }
                }
            }
            // Longest idle first, down to the minimum.
            std::sort(too_idle.begin(), too_idle.end(),
                      [](const auto& a, const auto& b) { return a.first < b.first; });
            for (const auto& [since, s] : too_idle) {
                if (open_ <= limits_.min) break;
                take_for_removal_locked(*s, to_close);
            }
            if (open_ + opening_ < limits_.min) open_cv_.notify_one();
        }
        close_all(to_close);
        for (const auto& leak : leaks) {
            metrics_.leaks.add();
            call_hook(hooks_.on_leak, leak, pool_metrics_);
        }
    }

    /// Discards every idle connection (the host went away; they are all dead).
    void discard_idle() {
        std::vector<std::unique_ptr<typename B::Connection>> to_close;
        {
            std::lock_guard lock(mutex_);
            remove_idle_locked(to_close);
            open_cv_.notify_one();
        }
        close_all(to_close);
    }

    /// Drops every connection: idle ones now, leased ones when released (a host list's are cut
    /// now). For a host that is no longer what it was (a fenced or demoted primary, a hung
    /// one): with a host list, new connections look for the right host again.
    void evict_all() {
        std::vector<std::unique_ptr<typename B::Connection>> to_close;
        {
            std::lock_guard lock(mutex_);
            // A host list's primary that stopped taking writes (fenced, demoted): a transaction
            // open there could still commit on a server that is no longer the primary, and be
            // lost once the new one takes over. Its leased sessions are cut now: a COMMIT not
            // yet sent fails unsent (transaction() retries on the writable host), one in flight
            // ends unknown.
            const std::string reason = follow_moves_
                                           ? fmt::format(
                                                 "the writable primary of {} ({}) stopped taking "
                                                 "writes (fenced or demoted)",
                                                 label_, server_)
                                           : std::string();
            const std::uint32_t n = high_.load(std::memory_order_relaxed);
            for (std::uint32_t i = 0; i < n; ++i) {
                SlotT& s = slots_[i];
                if (!take_for_removal_locked(s, to_close) &&
                    s.state.load(std::memory_order_acquire) == SlotT::kLeased) {
                    s.retire.store(true, std::memory_order_relaxed);
                    if constexpr (ServerAwareBackend<B>) {
                        if (follow_moves_) s.conn->interrupt(reason);
                    }
                }
            }
            open_cv_.notify_one();
        }
        close_all(to_close);
    }

    /// The host served a statement: failed connects in a row end there, and an opener backing
    /// off tries again at once.
    void answered() noexcept {
        std::lock_guard lock(mutex_);
        if (connect_failures_ == 0) return;
        connect_failures_ = 0;
        retry_at_ = {};
        open_cv_.notify_all();
    }

    /// A statement failed with `e`, ending its session. When `e` is the pooler saying it cannot
    /// reach the database (safety::pooler_lost_database(): PgBouncer logs clients in while the
    /// database behind it is down, then ends each session at its first statement), that counts
    /// as a failed connect: the opener backs off, and callers that nothing can serve before
    /// their deadline fail at once with `e`'s text, instead of each statement opening session
    /// after session. Returns whether it counted. The caller still discards the connection.
    bool session_failed(const ConnectionError& e) {
        if (!safety::pooler_lost_database(e.sqlstate(), e.what())) return false;
        metrics_.connection_errors.add();
        std::lock_guard lock(mutex_);
        // The failed session still counts in open_ until the caller discards it.
        connect_failed_locked(redact_error_text(e.what(), endpoint_), e.sqlstate(), open_ <= 1);
        return true;
    }

    /// Opens a connection that is not the pool's (a health check's own). Counts the attempt.
    /// @throws ConnectionError.
    std::unique_ptr<typename B::Connection> open_unpooled(
        Clock::time_point deadline, std::optional<History>* history = nullptr) {
        metrics_.connect_attempts.add();
        ConnectSettings s = settings_;
        s.deadline = deadline;
        try {
            // The opener's backoff ends when a statement is served on it (answered()).
            auto conn = backend_.connect(endpoint_, s);
            if (history != nullptr && needs_history(*conn)) {
                *history = read_history(*conn, deadline);
            }
            return conn;
        } catch (const ConnectionError& e) {
            metrics_.connection_errors.add();
            // Its text reaches health reports and host-state hooks: no password in it.
            throw ConnectionError(redact_error_text(e.what(), endpoint_), e.statement_sent(),
                                  e.sqlstate(), e.read_only_session());
        } catch (...) {
            metrics_.connection_errors.add();
            throw;
        }
    }

    /// Whether this host follows the writable server of a host list (see
    /// follows_writable_host()).
    bool follows_moves() const noexcept { return follow_moves_; }

    /// Records the history that `server` showed a health check (kProbeSql): the sessions'
    /// server, before any move, is compared with a new one by it (follow_move_locked()).
    void note_history(std::string_view server, History history) {
        if (!follow_moves_ || history.timeline == 0 || history.system.empty()) return;
        std::lock_guard lock(mutex_);
        if (server != server_) return;
        if (!server_history_ || server_history_->system != history.system ||
            history.timeline > server_history_->timeline) {
            server_history_ = std::move(history);
        }
    }

    /// For a host list whose every session is busy (a check found none free): when no lease
    /// has ended since the previous such check either, the sessions may all be stuck on a
    /// server that hangs. Opens a session of its own then, to see where the host list leads
    /// now (follow_move_locked()); a look that finds nothing new doubles the checks until the
    /// next one (up to 64), so a pool busy with long statements opens few extra sessions.
    /// Called by the health check only (one thread).
    void look_for_move(Clock::time_point deadline) {
        if (!follow_moves_) return;
        std::uint64_t ended = 0;
        const std::uint32_t n = high_.load(std::memory_order_acquire);
        for (std::uint32_t i = 0; i < n; ++i) {
            ended += slots_[i].ended.load(std::memory_order_relaxed);
        }
        const bool progress = ended != ended_at_last_look_;
        ended_at_last_look_ = ended;
        if (progress) {
            looks_skipped_ = 0;
            look_every_ = 1;
            return;
        }
        if (++looks_skipped_ < look_every_) return;
        looks_skipped_ = 0;
        {
            std::lock_guard lock(mutex_);
            if (open_ == 0 || pending_move_) return;  // nothing to cut, or already suspected
        }
        std::unique_ptr<typename B::Connection> conn;
        std::optional<History> history;
        try {
            conn = open_unpooled(deadline, &history);
        } catch (const Error&) {
            return;  // no writable server now: nothing moved yet
        }
        bool suspected = false;
        {
            std::lock_guard lock(mutex_);
            const auto moves = metrics_.primary_moves.value();
            follow_move_locked(*conn, history);
            suspected = pending_move_.has_value() || metrics_.primary_moves.value() != moves;
        }
        conn->close();  // never counted as one of the pool's
        look_every_ = suspected ? 1 : std::min(look_every_ * 2, 64);
    }

    /// Refuses new acquires and fails current waiters with PoolClosed; connects in progress
    /// give up (a host that hangs does not hold up the shutdown).
    void stop_accepting() {
        abandon_connects_.store(true);
        std::lock_guard lock(mutex_);
        signal_.fetch_or(kClosed, std::memory_order_seq_cst);
        fail_waiters_locked([&] {
            return std::make_exception_ptr(
                PoolClosed(fmt::format("the pool for {} is shutting down", label_)));
        });
        open_cv_.notify_all();
    }

    /// Waits until no connection is leased or `deadline` passes; true when drained. Call after
    /// stop_accepting(): releases signal the drain only once the pool is closed.
    bool wait_drained(Clock::time_point deadline) {
        std::unique_lock lock(mutex_);
        return drain_cv_.wait_until(lock, deadline, [&] { return leased_locked() == 0; });
    }

    /// Revokes the leases still held (shutdown past its grace period): their statements are
    /// cancelled and their owners may only release them.
    void revoke_in_use() {
        std::lock_guard lock(mutex_);
        const std::uint32_t n = high_.load(std::memory_order_relaxed);
        for (std::uint32_t i = 0; i < n; ++i) {
            // A leased slot's connection is only removed under the mutex: safe to use here.
            SlotT& s = slots_[i];
            if (s.state.load(std::memory_order_acquire) == SlotT::kLeased && s.conn) {
                s.revoked.store(true, std::memory_order_release);
                s.conn->cancel();
            }
        }
    }

    /// Stops the opener and closes idle connections; leased ones close when released.
    void close_now() noexcept {
        abandon_connects_.store(true);
        std::vector<std::unique_ptr<typename B::Connection>> to_close;
        {
            std::lock_guard lock(mutex_);
            signal_.fetch_or(kClosed, std::memory_order_seq_cst);
            stopping_ = true;
            fail_waiters_locked(
                [] { return std::make_exception_ptr(PoolClosed("the pool is shut down")); });
            remove_idle_locked(to_close);
            open_cv_.notify_all();
        }
        if (opener_.joinable()) opener_.join();
        close_all(to_close);
    }

    /// Current counts.
    struct Counts {
        std::size_t total = 0, idle = 0, in_use = 0, waiting = 0, opening = 0;
    };
    /// A snapshot: total, waiting and opening are exact; idle and in_use are read slot by slot
    /// while connections come and go, and always add up to total.
    Counts counts() const {
        std::lock_guard lock(mutex_);
        // Slots become empty or non-empty only under the mutex, so open_ is exact here.
        const std::size_t in_use = leased_locked();
        return {open_, open_ - in_use, in_use, callers_waiting_locked(), opening_};
    }

    /// Text of the last failed connection attempt (redacted), empty if the last one worked.
    std::string last_connect_error() const {
        std::lock_guard lock(mutex_);
        return last_connect_error_;
    }

    /// Takes an idle connection without waiting (health probes); nullptr when none is idle, or
    /// when callers are waiting (a host whose connections are all in demand is evidently up).
    SlotT* try_acquire() {
        if (signal_.load(std::memory_order_acquire) != 0) return nullptr;
        SlotT* s = take_idle();
        if (s != nullptr) stamp_lease(*s, SourceLocation::current());
        return s;
    }

    /// Reserves room for a connection opened outside the opener (health probes), only when the
    /// host has no connection at all: false otherwise, or when closed. Pair with adopt().
    bool reserve_if_empty() {
        std::lock_guard lock(mutex_);
        if (closed_locked() || open_ > 0 || opening_ > 0 || limits_.max == 0) return false;
        ++opening_;
        return true;
    }

    /// Opens a connection for a reserve()d place. @throws ConnectionError.
    std::unique_ptr<typename B::Connection> open_reserved(Clock::time_point deadline) {
        std::optional<History> history;
        auto conn = open_unpooled(deadline, follow_moves_ ? &history : nullptr);
        std::lock_guard lock(mutex_);
        reserved_history_ = std::move(history);
        return conn;
    }

    /// Ends a reserve(): adds `conn` to the pool as an idle (or handed-off) connection, or
    /// just releases the place when `conn` is null.
    void adopt(std::unique_ptr<typename B::Connection> conn) {
        std::unique_lock lock(mutex_);
        --opening_;
        if (!conn) {
            open_cv_.notify_one();
            return;
        }
        if (closed_locked()) {
            lock.unlock();
            conn->close();
            return;
        }
        metrics_.connections_opened.add();
        if (!add_connection_locked(std::move(conn), std::exchange(reserved_history_, {}))) {
            open_cv_.notify_one();
        }
    }

  private:
    // signal_: the waiter count in the low 32 bits, and flags. The waiter count changes only
    // under the mutex; kWakePending is also set by releasers outside it (atomic RMWs only).
    static constexpr std::uint64_t kWaiterMask = 0xffff'ffffULL;
    static constexpr std::uint64_t kClosed = 1ULL << 32;       // stop_accepting() or close_now()
    static constexpr std::uint64_t kHandoff = 1ULL << 33;      // FIFO hand-off mode
    static constexpr std::uint64_t kWakePending = 1ULL << 34;  // the head has been signalled

    struct Waiter {
        std::condition_variable cv;
        SourceLocation where;
        Clock::time_point since;
        Clock::time_point until = Clock::time_point::max();  // the caller's deadline
        SlotT* slot = nullptr;
        std::exception_ptr error;
        bool done = false;
        bool stopped = false;  // the caller's stop token was stopped (under mutex_)
    };

    // The slot this thread used last in this pool type, and a per-thread starting point for
    // pools it has not used yet, so that threads spread over the slots instead of all
    // competing for the first.
    struct ThreadHint {
        const void* pool = nullptr;
        std::uint32_t index = 0;
        std::uint32_t seed = 0;
    };
    static ThreadHint& thread_hint() noexcept {
        thread_local ThreadHint hint;
        return hint;
    }

    bool closed_locked() const noexcept {
        return (signal_.load(std::memory_order_relaxed) & kClosed) != 0;
    }

    // Finds an idle slot and leases it (idle -> leased), or returns nullptr. The loads are
    // seq_cst because a waiter's scan must not be reordered before its registration (see the
    // top of the file); on x86 that costs nothing over acquire.
    SlotT* take_idle() noexcept {
        const std::uint32_t n = high_.load(std::memory_order_acquire);
        if (n == 0) return nullptr;
        ThreadHint& hint = thread_hint();
        std::uint32_t i = 0;
        if (hint.pool == this) {
            i = hint.index;
        } else {
            if (hint.seed == 0) hint.seed = next_thread_seed();
            i = hint.seed;
        }
        if (i >= n) i %= n;
        for (std::uint32_t k = 0; k < n; ++k) {
            auto& state = slots_[i].state;
            std::uint32_t expected = SlotT::kIdle;
            // Test before the CAS: a failed CAS still takes the cache line exclusively.
            if (state.load(std::memory_order_seq_cst) == SlotT::kIdle &&
                state.compare_exchange_strong(expected, SlotT::kLeased, std::memory_order_acquire,
                                              std::memory_order_relaxed)) {
                hint.pool = this;
                hint.index = i;
                return &slots_[i];
            }
            if (++i == n) i = 0;
        }
        return nullptr;
    }

    static std::uint32_t next_thread_seed() noexcept {
        static std::atomic<std::uint32_t> next{0};
        return next.fetch_add(1, std::memory_order_relaxed) + 1;
    }

    bool any_idle_locked() const noexcept {
        const std::uint32_t n = high_.load(std::memory_order_relaxed);
        for (std::uint32_t i = 0; i < n; ++i) {
            if (slots_[i].state.load(std::memory_order_seq_cst) == SlotT::kIdle) return true;
        }
        return false;
    }

    bool quiescent_locked() const noexcept {
        if (inside_slow_ != 0) return false;
        const std::uint32_t n = high_.load(std::memory_order_acquire);
        for (std::uint32_t i = 0; i < n; ++i) {
            const SlotT& s = slots_[i];
            // The state first: a slot seen published has its `begun` count visible.
            if (s.state.load(std::memory_order_seq_cst) == SlotT::kLeased) return false;
            if (s.releases_done.load(std::memory_order_acquire) !=
                s.releases_begun.load(std::memory_order_acquire)) {
                return false;
            }
        }
        return true;
    }

    std::size_t leased_locked() const noexcept {
        std::size_t leased = 0;
        const std::uint32_t n = high_.load(std::memory_order_relaxed);
        for (std::uint32_t i = 0; i < n; ++i) {
            if (slots_[i].state.load(std::memory_order_seq_cst) == SlotT::kLeased) ++leased;
        }
        return leased;
    }

    // Checks a slot just taken from the idle set: dead ones are removed (false).
    bool checkout(SlotT* s, const SourceLocation& where) {
        bool alive = false;
        try {
            alive = s->conn->is_alive();
        } catch (...) {
        }
        if (!alive) {
            metrics_.connection_errors.add();
            discard(s);
            return false;
        }
        stamp_lease(*s, where);
        return true;
    }

    // Bookkeeping of a new lease, by the slot's owner (or, for a hand-off, by the releaser on
    // the waiter's behalf).
    void stamp_lease(SlotT& s, const SourceLocation& where) noexcept {
        if (track_leaks_) s.site.write(where);
        if (time_lease_) s.leased_at = Clock::now();
    }

    // An acquire that waited (the slow path). Those served at once are counted per slot.
    void record_acquire(Clock::duration waited, Clock::time_point hook_start) noexcept {
        metrics_.acquires.add();
        metrics_.acquire_wait.observe(waited);
        if (time_acquire_) record_hook(hook_start);
    }

    void record_hook(Clock::time_point hook_start) noexcept {
        call_hook(hooks_.on_acquire, AcquireEvent{ref(), Clock::now() - hook_start}, pool_metrics_);
    }

    [[gnu::noinline]] SlotT* acquire_slow(AcquireDeadline& deadline, const SourceLocation& where,
                                          Clock::time_point hook_start, bool check = false) {
        const auto start = Clock::now();
        auto until = deadline.get();
        // The caller's own deadline and stop token (QueryOptions::deadline, ::stop) end the
        // wait with Cancelled.
        bool caller_deadline = false;
        if (!check) {
            if (const auto d = call_deadline(); d && *d <= until) {
                until = *d;
                caller_deadline = true;
            }
            if (call_stop_requested()) {
                throw Cancelled(fmt::format("the call was stopped before a connection to {} was "
                                            "leased",
                                            label_),
                                CancelReason::stop);
            }
        }
        Waiter w;
        struct Wake {
            HostPool* host;
            Waiter* w;
            void operator()() const noexcept {
                std::lock_guard l(host->mutex_);
                w->stopped = true;
                w->cv.notify_one();
            }
        };
        // Before `lock`, so destroyed after it is released: a callback running on the stopping
        // thread takes the mutex, and destroying it waits for that callback to finish.
        OnCallStop<Wake> on_stop(Wake{this, &w}, !check && t_call_limits != nullptr);
        // Counts this caller as inside until its very last touch of the pool (the unlock in the
        // guard's destructor, which runs after `lock`'s): see wait_quiescent().
        struct Inside {
            HostPool& host;
            explicit Inside(HostPool& h) : host(h) {
                std::lock_guard l(host.mutex_);
                ++host.inside_slow_;
            }
            ~Inside() {
                std::lock_guard l(host.mutex_);
                --host.inside_slow_;
            }
            Inside(const Inside&) = delete;
            Inside& operator=(const Inside&) = delete;
        } inside(*this);
        std::unique_lock lock(mutex_);
        if (closed_locked()) {
            throw PoolClosed(fmt::format("the pool for {} is shut down", label_));
        }
        if (!check) fail_fast_locked(until);
        w.where = where;
        w.since = start;
        w.until = until;
        // A health check waits only for a release: it is no caller, and no reason to open.
        struct Checking {
            std::atomic<std::size_t>& n;
            bool on;
            ~Checking() {
                if (on) n.fetch_sub(1, std::memory_order_relaxed);
            }
        } checking{checks_waiting_, check};
        if (check) checks_waiting_.fetch_add(1, std::memory_order_relaxed);
        enqueue_locked(w, check);
        open_cv_.notify_one();  // there may be room for another connection
        while (!w.done) {
            if (w.stopped) {
                dequeue_locked(w, start, false);
                const auto waited =
                    std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
                lock.unlock();
                throw Cancelled(fmt::format("the call was stopped after waiting {} ms for a "
                                            "connection to {}",
                                            waited.count(), label_),
                                CancelReason::stop);
            }
            const bool head = waiters_.front() == &w;
            if (head) {
                // Clear the pending wake-up before scanning (see the top of the file).
                signal_.fetch_and(~kWakePending, std::memory_order_seq_cst);
                if (SlotT* s = take_idle()) {
                    dequeue_locked(w, start);
                    lock.unlock();
                    // is_alive() may be a system call: not under the mutex.
                    if (checkout(s, where)) {
                        if (!check) record_acquire(Clock::now() - start, hook_start);
                        return s;
                    }
                    lock.lock();
                    if (closed_locked()) {
                        throw PoolClosed(fmt::format("the pool for {} is shut down", label_));
                    }
                    enqueue_locked(w, true);  // back to the head of the queue
                    continue;
                }
                if ((signal_.load(std::memory_order_relaxed) & kHandoff) == 0 &&
                    Clock::now() - w.since >= kMaxBargeWait) {
                    signal_.fetch_or(kHandoff, std::memory_order_seq_cst);
                }
            }
            // The head wakes up when it has waited kMaxBargeWait, to switch to hand-off mode.
            auto wake_at = until;
            if (head && (signal_.load(std::memory_order_relaxed) & kHandoff) == 0) {
                wake_at = std::min(until, w.since + kMaxBargeWait);
            }
            w.cv.wait_until(lock, wake_at);
            if (!w.done && !w.stopped && Clock::now() >= until) {
                dequeue_locked(w, start, false);
                if (check) return nullptr;
                const auto waited = Clock::now() - start;
                const std::size_t size = open_ + opening_;
                const std::size_t waiting = callers_waiting_locked() + 1;
                const std::string last_error = last_connect_error_;
                const std::string last_sqlstate = last_connect_sqlstate_;
                lock.unlock();
                const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(waited);
                if (caller_deadline) {
                    throw Cancelled(
                        fmt::format(
                            "the call's deadline passed after waiting {} ms for a "
                            "connection to {} ({} of {} connections open or opening, {} "
                            "callers waiting){}{}",
                            ms.count(), label_, size, limits_.max, waiting,
                            last_error.empty() ? "" : "; last connection error: ", last_error),
                        CancelReason::deadline);
                }
                metrics_.pool_timeouts.add();
                call_hook(hooks_.on_pool_timeout, PoolTimeoutEvent{ref(), waited, size, waiting},
                          pool_metrics_);
                if (!last_error.empty()) {
                    // The last attempt to open a connection failed: that is the cause.
                    throw ConnectionError(
                        fmt::format("no connection to {} within {} ms ({} of {} connections "
                                    "open or opening, {} callers waiting); last connection "
                                    "error: {}",
                                    label_, ms.count(), size, limits_.max, waiting, last_error),
                        false, last_sqlstate);
                }
                throw PoolTimeout(
                    fmt::format("no connection to {} within {} ms ({} of {} connections open or "
                                "opening, {} callers waiting){}{}",
                                label_, ms.count(), size, limits_.max, waiting,
                                last_error.empty() ? "" : "; last connection error: ", last_error),
                    ms, size, waiting);
            }
        }
        if (w.error) {
            if (check) return nullptr;  // the connection opened for it failed: the probe says so
            std::rethrow_exception(w.error);
        }
        lock.unlock();
        if (!check) record_acquire(Clock::now() - start, hook_start);
        return w.slot;
    }

    // Queues a waiter (at the back, or at the front when it returns after finding a dead
    // connection). The count is incremented after the push and before the caller scans.
    void enqueue_locked(Waiter& w, bool front) {
        if (waiters_.empty()) {
            // A new queue starts in normal mode with no wake-up pending.
            signal_.fetch_and(~(kHandoff | kWakePending), std::memory_order_seq_cst);
        }
        if (front) {
            waiters_.push_front(&w);
        } else {
            waiters_.push_back(&w);
        }
        signal_.fetch_add(1, std::memory_order_seq_cst);
    }

    // Takes a waiter out of the queue. `served`: it leaves with a connection, and ends hand-off
    // mode if it waited less than kMaxBargeWait (the contention has eased).
    void dequeue_locked(Waiter& w, Clock::time_point since, bool served = true) {
        const bool head = !waiters_.empty() && waiters_.front() == &w;
        if (head) {
            waiters_.pop_front();
        } else {
            std::erase(waiters_, &w);
        }
        signal_.fetch_sub(1, std::memory_order_seq_cst);
        if (served && Clock::now() - since < kMaxBargeWait) {
            signal_.fetch_and(~kHandoff, std::memory_order_seq_cst);
        }
        if (head) head_changed_locked();
    }

    // The head left the queue. The new head must look at idle connections if the old one was
    // signalled about one it did not take (the wake-up pending) or some are idle now.
    void head_changed_locked() {
        if (waiters_.empty()) {
            signal_.fetch_and(~(kHandoff | kWakePending), std::memory_order_seq_cst);
            return;
        }
        if ((signal_.load(std::memory_order_seq_cst) & kWakePending) != 0 || any_idle_locked()) {
            signal_.fetch_or(kWakePending, std::memory_order_seq_cst);
            waiters_.front()->cv.notify_one();
        }
    }

    // Gives a leased slot to the head of the queue (it stays leased).
    void hand_off_locked(SlotT* s) {
        Waiter* w = waiters_.front();
        stamp_lease(*s, w->where);
        w->slot = s;
        w->done = true;
        w->cv.notify_one();
        dequeue_locked(*w, w->since);
    }

    // Fails every waiter (shutdown).
    template <typename MakeError>
    void fail_waiters_locked(MakeError make_error) {
        for (Waiter* w : waiters_) {
            w->error = make_error();
            w->done = true;
            w->cv.notify_one();
        }
        signal_.fetch_sub(waiters_.size(), std::memory_order_seq_cst);
        signal_.fetch_and(~(kHandoff | kWakePending), std::memory_order_seq_cst);
        waiters_.clear();
    }

    // Release after the fast path published the slot and saw `sig` non-zero. Returns whether
    // the connection stays in the pool.
    [[gnu::noinline]] bool after_publish(SlotT* s, std::uint64_t sig) noexcept {
        if ((sig & kClosed) != 0) {
            // Shutting down: close the connection unless someone took it already, and tell
            // wait_drained().
            std::unique_ptr<typename B::Connection> conn;
            {
                std::lock_guard lock(mutex_);
                std::uint32_t expected = SlotT::kIdle;
                if (s->state.compare_exchange_strong(expected, SlotT::kLeased,
                                                     std::memory_order_acquire)) {
                    conn = remove_locked(s);
                }
                drain_cv_.notify_all();
            }
            if (!conn) return true;
            close_one(conn);
            return false;
        }
        if ((sig & kWaiterMask) != 0 && (sig & kWakePending) == 0) wake_head();
        return true;
    }

    // Signals the head of the queue to rescan, unless a signal is already pending.
    [[gnu::noinline]] void wake_head() noexcept {
        if ((signal_.fetch_or(kWakePending, std::memory_order_seq_cst) & kWakePending) != 0) {
            return;
        }
        std::lock_guard lock(mutex_);
        if (waiters_.empty()) {
            // Everyone left meanwhile; whoever queues next scans on its own.
            signal_.fetch_and(~kWakePending, std::memory_order_seq_cst);
        } else {
            waiters_.front()->cv.notify_one();
        }
    }

    // Release in hand-off mode or while closing. Returns whether the connection stays.
    [[gnu::noinline]] bool release_locked(SlotT* s) noexcept {
        std::unique_ptr<typename B::Connection> conn;
        bool retired = false;
        {
            std::lock_guard lock(mutex_);
            if (closed_locked()) {
                conn = remove_locked(s);
                drain_cv_.notify_all();
            } else if (s->retire.load(std::memory_order_relaxed)) {
                // Retired after the owner looked (a session cut by confirm_move_locked()): a
                // waiter must not be handed it.
                retired = true;
            } else if (!waiters_.empty()) {
                hand_off_locked(s);
            } else {
                // No waiter can be registering: that happens under the mutex.
                s->state.store(SlotT::kIdle, std::memory_order_seq_cst);
                signal_.fetch_and(~kHandoff, std::memory_order_seq_cst);
            }
        }
        if (retired) {
            discard(s);
            return false;
        }
        if (!conn) return true;
        close_one(conn);
        return false;
    }

    // Closes a leased connection (not reusable, retired, or found dead).
    [[gnu::noinline]] void discard(SlotT* s) noexcept {
        std::unique_ptr<typename B::Connection> conn;
        {
            std::lock_guard lock(mutex_);
            conn = remove_locked(s);
            open_cv_.notify_one();
            if (closed_locked()) drain_cv_.notify_all();
        }
        close_one(conn);
    }

    // Empties a slot its caller holds (leased).
    std::unique_ptr<typename B::Connection> remove_locked(SlotT* s) noexcept {
        bump(s->ended);
        std::unique_ptr<typename B::Connection> conn = std::move(s->conn);
        s->state.store(SlotT::kEmpty, std::memory_order_release);
        --open_;
        return conn;
    }

    // Takes an idle slot out of service (maintenance); false when someone leased it first.
    bool take_for_removal_locked(SlotT& s,
                                 std::vector<std::unique_ptr<typename B::Connection>>& out) {
        std::uint32_t expected = SlotT::kIdle;
        if (!s.state.compare_exchange_strong(expected, SlotT::kLeased, std::memory_order_acquire)) {
            return false;
        }
        out.push_back(remove_locked(&s));
        return true;
    }

    void remove_idle_locked(std::vector<std::unique_ptr<typename B::Connection>>& out) {
        const std::uint32_t n = high_.load(std::memory_order_relaxed);
        for (std::uint32_t i = 0; i < n; ++i) take_for_removal_locked(slots_[i], out);
    }

    void close_one(std::unique_ptr<typename B::Connection>& conn) noexcept {
        if (!conn) return;
        conn->close();
        metrics_.connections_closed.add();
        conn.reset();
    }

    void close_all(std::vector<std::unique_ptr<typename B::Connection>>& conns) noexcept {
        for (auto& c : conns) close_one(c);
        conns.clear();
    }

    // Waiters that are callers (health checks waiting for a release are not).
    std::size_t callers_waiting_locked() const noexcept {
        const std::size_t checks = checks_waiting_.load(std::memory_order_relaxed);
        return waiters_.size() > checks ? waiters_.size() - checks : 0;
    }

    bool should_open_locked() const {
        if (closed_locked()) return false;
        const std::size_t total = open_ + opening_;
        if (total >= limits_.max) return false;
        return total < limits_.min || callers_waiting_locked() > opening_;
    }

    // Whether the sessions of this host follow the writable server of a host list: the primary,
    // named by several hosts with target_session_attrs=read-write or primary, on a backend
    // whose sessions say which server they reached.
    static bool follows_writable_host(const Endpoint& endpoint, HostRole role) {
        if constexpr (ServerAwareBackend<B>) {
            const auto attrs = endpoint.option("target_session_attrs");
            return role == HostRole::primary && endpoint.host().find(',') != std::string::npos &&
                   (attrs == "read-write" || attrs == "primary");
        } else {
            return false;
        }
    }

    // Whether a new session's history is worth a round trip: only for one that reached another
    // server than the sessions before it (follow_move_locked()), a rare event. The first
    // server's history comes from the health check (note_history()).
    bool needs_history(const typename B::Connection& conn) {
        if constexpr (ServerAwareBackend<B>) {
            std::lock_guard lock(mutex_);
            return !server_.empty() && server_ != conn.server();
        } else {
            (void)conn;
            return false;
        }
    }

    // Which history the writable server a session reached continues (kHistorySql), read
    // right after the connect; nullopt when it could not be read (the move is then judged by
    // answers alone, see follow_move_locked()).
    std::optional<History> read_history(typename B::Connection& conn,
                                        Clock::time_point deadline) noexcept {
        try {
            ExecSettings x;
            x.deadline = std::min(deadline, Clock::now() + std::chrono::seconds(2));
            x.prepare = false;
            x.cancel_grace = std::chrono::milliseconds(0);
            const Result r = conn.execute(kHistorySql, {}, x);
            if (r.empty() || r.front()[0].is_null() || r.front()[1].is_null()) return std::nullopt;
            History h{std::string(r.front()[0].template as<std::string_view>()),
                      timeline_of_walfile(r.front()[1].template as<std::string_view>())};
            if (h.timeline == 0) return std::nullopt;
            return h;
        } catch (...) {
            return std::nullopt;
        }
    }

    // A new session of a host list reached `conn.server()`, continuing `history` there. When
    // the sessions before it reached another server, the writable primary may have moved (a
    // failover). The two servers' histories decide when both are known and belong to one
    // cluster:
    // - a newer timeline: the new server was promoted after the old one's sessions began. The
    //   old server is the old primary, hung, fenced or, worse, still writable (a split brain):
    //   its sessions go now (cut_server_locked());
    // - the same timeline: the same server reached by another entry (two proxies, a name and
    //   its address): nothing moved, nothing is cut;
    // - an older timeline: the new session reached a stale primary, a server that a failover
    //   left behind. The session is refused (false): a write there would be lost.
    // Otherwise (not known) the move is only suspected here, and confirm_move_locked()
    // decides after connection_timeout by whether the old server still answers.
    bool follow_move_locked(const typename B::Connection& conn,
                            const std::optional<History>& history) {
        if constexpr (ServerAwareBackend<B>) {
            const std::string_view now = conn.server();
            if (server_.empty() || server_ == now) {
                server_ = now;
                if (history && (!server_history_ || server_history_->system != history->system ||
                                history->timeline > server_history_->timeline)) {
                    server_history_ = history;
                }
                return true;
            }
            if (history && server_history_ && history->system == server_history_->system) {
                if (history->timeline == server_history_->timeline) return true;
                if (history->timeline < server_history_->timeline) {
                    stale_error_ = fmt::format(
                        "{} refused: its writable server {} is on timeline {}, behind timeline "
                        "{} of {}: a primary that a failover left behind (a split brain); it "
                        "is not used",
                        label_, now, history->timeline, server_history_->timeline, server_);
                    return false;
                }
                pending_move_.reset();
                const std::string from = std::exchange(server_, std::string(now));
                const auto old_timeline = server_history_->timeline;
                server_history_ = history;
                cut_server_locked(
                    from,
                    fmt::format("the writable primary of {} moved from {} "
                                "(timeline {}) to {} (timeline {}), a failover; "
                                "this session was on the old primary {}",
                                label_, from, old_timeline, server_, history->timeline, from),
                    doomed_);
                return true;
            }
            PendingMove move;
            move.from = std::exchange(server_, std::string(now));
            move.to = server_;
            server_history_ = history;
            move.due = Clock::now() + limits_.connection_timeout;
            const std::uint32_t n = high_.load(std::memory_order_relaxed);
            for (std::uint32_t i = 0; i < n; ++i) {
                // A slot's connection is only set or removed under the mutex: safe to read.
                const SlotT& s = slots_[i];
                if (s.conn && s.conn->server() == move.from) {
                    move.answers.emplace_back(i, s.answers.load(std::memory_order_relaxed));
                }
            }
            pending_move_ = std::move(move);
            return true;
        } else {
            (void)conn;
            (void)history;
            return true;
        }
    }

    // A suspected move (follow_move_locked()) whose time has come. When a session on the old
    // server ended a lease reusable meanwhile, that server still answers: no move (a second
    // path to the same server, or a session that joined late), and nothing is cut. Otherwise
    // the old server neither answered its sessions for connection_timeout nor kept the host
    // list's new sessions: its sessions go (cut_server_locked()), so that a caller waiting on a
    // server that hangs instead of dying learns it now instead of at its query_timeout.
    void confirm_move_locked(Clock::time_point now,
                             std::vector<std::unique_ptr<typename B::Connection>>& to_close) {
        if constexpr (ServerAwareBackend<B>) {
            if (!pending_move_ || now < pending_move_->due) return;
            const PendingMove move = std::move(*pending_move_);
            pending_move_.reset();
            for (const auto& [i, answers] : move.answers) {
                const SlotT& s = slots_[i];
                if (s.conn && s.conn->server() == move.from &&
                    s.answers.load(std::memory_order_relaxed) != answers) {
                    return;  // the old server still answers
                }
            }
            cut_server_locked(move.from,
                              fmt::format("the writable primary of {} moved from {} to {}, and "
                                          "this session was on {}, which stopped answering",
                                          label_, move.from, move.to, move.from),
                              to_close);
        } else {
            (void)now;
            (void)to_close;
        }
    }

    // The writable primary moved away from `from`: its idle sessions go (into `to_close`, never
    // handed out again) and its leased ones are cut (interrupt(reason)), so that no statement
    // runs there any more and a caller waiting there learns it now.
    void cut_server_locked(const std::string& from, const std::string& reason,
                           std::vector<std::unique_ptr<typename B::Connection>>& to_close) {
        if constexpr (ServerAwareBackend<B>) {
            bool cut = false;
            const std::uint32_t n = high_.load(std::memory_order_relaxed);
            for (std::uint32_t i = 0; i < n; ++i) {
                SlotT& s = slots_[i];
                if (!s.conn || s.conn->server() != from) continue;
                if (take_for_removal_locked(s, to_close)) continue;
                if (s.state.load(std::memory_order_acquire) == SlotT::kLeased) {
                    s.retire.store(true, std::memory_order_relaxed);
                    s.conn->interrupt(reason);
                    cut = true;
                }
            }
            metrics_.primary_moves.add();
            if (cut || !to_close.empty()) open_cv_.notify_one();
        } else {
            (void)from;
            (void)reason;
            (void)to_close;
        }
    }

    // Puts a new connection in an empty slot: handed to the head of the queue, or idle. False
    // when it reached a stale primary (follow_move_locked()): it is closed on the next tick.
    bool add_connection_locked(std::unique_ptr<typename B::Connection> conn,
                               std::optional<History> history = std::nullopt) {
        if (follow_moves_ && !follow_move_locked(*conn, history)) {
            doomed_.push_back(std::move(conn));
            open_cv_.notify_one();
            return false;
        }
        // open_ + opening_ <= max, so there is an empty slot.
        std::uint32_t i = 0;
        while (slots_[i].state.load(std::memory_order_relaxed) != SlotT::kEmpty) ++i;
        SlotT& s = slots_[i];
        s.conn = std::move(conn);
        s.proven = false;
        s.answers.store(0, std::memory_order_relaxed);
        s.retire.store(false, std::memory_order_relaxed);
        s.revoked.store(false, std::memory_order_relaxed);
        const auto now = Clock::now();
        const auto life = lifetime_with_jitter();
        s.retire_at =
            life == std::chrono::milliseconds::max() ? Clock::time_point::max() : now + life;
        ++open_;
        if (i + 1 > high_.load(std::memory_order_relaxed)) {
            high_.store(i + 1, std::memory_order_release);
        }
        if (!waiters_.empty()) {
            s.state.store(SlotT::kLeased, std::memory_order_relaxed);
            hand_off_locked(&s);
        } else {
            s.state.store(SlotT::kIdle, std::memory_order_seq_cst);
        }
        return true;
    }

    // A connection attempt failed, or the pooler ended a session for want of the database
    // (session_failed()): the opener backs off, and callers that nothing can serve learn why.
    // `none_open`: no other connection is open that could be released to a waiting caller.
    void connect_failed_locked(const std::string& error, const std::string& sqlstate,
                               bool none_open) {
        last_connect_error_ = error;
        last_connect_sqlstate_ = sqlstate;
        ++connect_failures_;
        auto delay = connect_backoff(connect_failures_);
        // A server that is up but full (53300) or starting (57P03) may take a session any
        // moment, and a caller is waiting for one: try again soon, not after a backoff grown
        // for a server that is down.
        if (safety::server_busy(sqlstate) && !waiters_.empty()) {
            delay = std::min<Clock::duration>(delay, kBusyRetryMax);
        }
        const auto retry_at = Clock::now() + delay;
        retry_at_ = retry_at;
        // With no connection open, nothing will be released to the caller this connection was
        // for: it learns at once why there is none, and so does every caller whose deadline
        // comes before the next attempt. A server that is up but full (53300) or starting
        // (57P03), or a host with connections in use, may free one before the caller's
        // deadline: the caller waits for it.
        if (!waiters_.empty() && none_open && !safety::server_busy(sqlstate)) {
            const auto fail = [&](Waiter* w) {
                w->error = std::make_exception_ptr(ConnectionError(error, false, sqlstate));
                w->done = true;
                w->cv.notify_one();
                dequeue_locked(*w, w->since, false);
            };
            fail(waiters_.front());
            std::vector<Waiter*> hopeless;
            for (Waiter* w : waiters_) {
                if (w->until < retry_at) hopeless.push_back(w);
            }
            for (Waiter* w : hopeless) fail(w);
        }
    }

    // A caller that nothing could serve before `until`: no connection is open or opening, the
    // last attempt failed for a reason other than a full server, and the opener's next attempt
    // comes after the deadline. It fails now with the last connect error instead of waiting.
    void fail_fast_locked(Clock::time_point until) const {
        if (open_ != 0 || opening_ != 0 || last_connect_error_.empty() ||
            safety::server_busy(last_connect_sqlstate_) || retry_at_ <= until) {
            return;
        }
        const auto next = std::chrono::ceil<std::chrono::milliseconds>(retry_at_ - Clock::now());
        throw ConnectionError(fmt::format("{} (no connection to {} is open, and the next attempt "
                                          "is in {} ms, after this call's deadline)",
                                          last_connect_error_, label_, next.count()),
                              false, last_connect_sqlstate_);
    }

    // How long the opener waits after `failures` failed connects in a row: 50 ms doubling to
    // reconnect_backoff_max (retry.hpp).
    Clock::duration connect_backoff(int failures) {
        return reconnect_delay(failures, std::chrono::milliseconds{50},
                               limits_.reconnect_backoff_max, rng_);
    }

    std::chrono::milliseconds lifetime_with_jitter() {
        if (limits_.max_lifetime.count() <= 0) return std::chrono::milliseconds::max();
        // Retire each connection somewhere in the last 10% of its lifetime, so connections
        // opened together do not all reconnect together.
        const auto span = limits_.max_lifetime.count() / 10;
        std::uniform_int_distribution<std::int64_t> dist(0, span > 0 ? span : 0);
        return limits_.max_lifetime - std::chrono::milliseconds(dist(rng_));
    }

    void open_loop() {
        std::unique_lock lock(mutex_);
        while (!stopping_) {
            if (!should_open_locked()) {
                open_cv_.wait(lock);
                continue;
            }
            if (Clock::now() < retry_at_) {
                open_cv_.wait_until(lock, retry_at_);
                continue;
            }
            ++opening_;
            lock.unlock();
            const auto started = Clock::now();
            std::unique_ptr<typename B::Connection> conn;
            std::string error;
            std::string sqlstate;
            metrics_.connect_attempts.add();
            std::optional<History> history;
            try {
                ConnectSettings s = settings_;
                s.deadline = started + limits_.connection_timeout;
                conn = backend_.connect(endpoint_, s);
                if (follow_moves_ && needs_history(*conn)) {
                    history = read_history(*conn, s.deadline);
                }
            } catch (const ConnectionError& e) {
                error = redact_error_text(e.what(), endpoint_);
                sqlstate = e.sqlstate();
            } catch (const std::exception& e) {
                error = redact_error_text(e.what(), endpoint_);
            }
            const auto took = Clock::now() - started;
            call_hook(hooks_.on_connect, ConnectEvent{ref(), took, conn != nullptr, error},
                      pool_metrics_);
            lock.lock();
            --opening_;
            if (!conn) {
                metrics_.connection_errors.add();
                connect_failed_locked(error, sqlstate, open_ == 0);
                continue;
            }
            // The failures in a row end when a session serves a statement (answered()), not
            // here: behind PgBouncer every login succeeds while the database is down, and the
            // session dies at its first statement (session_failed()).
            retry_at_ = {};
            last_connect_error_.clear();
            last_connect_sqlstate_.clear();
            if (closed_locked()) {
                lock.unlock();
                conn->close();
                lock.lock();
                continue;
            }
            metrics_.connections_opened.add();
            if (!add_connection_locked(std::move(conn), std::move(history))) {
                metrics_.connection_errors.add();
                connect_failed_locked(stale_error_, "", open_ == 0);
            }
        }
    }

    // The longest wait between two connects to a full server while a caller waits.
    static constexpr std::chrono::milliseconds kBusyRetryMax{500};

    B backend_;
    Endpoint endpoint_;
    std::string address_, port_, database_, user_;  // for HostRef; set once, then read-only
    std::string label_;
    HostRole role_;
    HostLimits limits_;
    ConnectSettings settings_;
    const Hooks& hooks_;
    PoolMetrics& pool_metrics_;
    HostMetrics metrics_;

    // What the fast path reads, on cache lines of their own (the metrics above are written by
    // every query). Fixed at construction; the hooks cannot change after it.
    // A fixed array, never resized: leases point into it.
    alignas(64) std::unique_ptr<SlotT[]> slots_;  // NOLINT(modernize-avoid-c-arrays)
    const bool track_idle_;
    const bool track_leaks_;
    const bool time_acquire_;
    const bool time_lease_;
    // Written by the slow path only.
    alignas(64) std::atomic<std::uint64_t> signal_{0};
    std::atomic<std::uint32_t> high_{0};  // slots [0, high_) have ever held a connection

    // Everything below is guarded by the mutex.
    alignas(64) mutable std::mutex mutex_;
    std::condition_variable open_cv_;
    std::condition_variable drain_cv_;
    std::deque<Waiter*> waiters_;
    std::size_t open_ = 0;      // non-empty slots
    std::uint64_t folded_ = 0;  // fast-path acquires already in metrics_
    std::size_t opening_ = 0;
    bool stopping_ = false;
    std::size_t inside_slow_ = 0;                 // callers inside acquire_slow()
    std::atomic<std::size_t> checks_waiting_{0};  // health checks among the waiters
    std::atomic<bool> abandon_connects_{false};   // shutting down: connects in progress end
    std::string last_connect_error_;
    std::string last_connect_sqlstate_;
    int connect_failures_ = 0;      // the opener's failed attempts in a row
    Clock::time_point retry_at_{};  // the opener's next attempt after a failed one
    bool follow_moves_ = false;     // see follows_writable_host(); set once
    std::string server_;            // the server the newest session reached (follow_moves_)
    // The history server_ continues, when known (follow_move_locked()).
    std::optional<History> server_history_;
    std::optional<History> reserved_history_;  // of the session open_reserved() opened
    std::string stale_error_;  // why the last session to a stale primary was refused
    // Sessions taken out under the mutex (a move, a stale primary), closed on the next tick.
    std::vector<std::unique_ptr<typename B::Connection>> doomed_;
    // A move follow_move_locked() suspects: from and to which server, when to decide, and the
    // answers counted then on each slot whose session was on the old server.
    struct PendingMove {
        std::string from, to;
        Clock::time_point due;
        std::vector<std::pair<std::uint32_t, std::uint64_t>> answers;
    };
    std::optional<PendingMove> pending_move_;
    // look_for_move()'s state (the health check's thread only): leases ended on all slots at
    // the last look (~0: the first look only takes the count), and its backoff.
    std::uint64_t ended_at_last_look_ = ~std::uint64_t{0};
    int looks_skipped_ = 0;
    int look_every_ = 1;
    std::mt19937_64 rng_;
    std::thread opener_;
};

}  // namespace sparc::db::detail
