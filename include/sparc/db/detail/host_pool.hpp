#pragma once
/// @file host_pool.hpp
/// The connections of one host: sizing, FIFO waiters with direct hand-off, background opening,
/// idle reaping, lifetimes and leak detection. Internal to ConnectionPool.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <sparc/db/backend.hpp>
#include <sparc/db/errors.hpp>
#include <sparc/db/hooks.hpp>
#include <sparc/db/metrics.hpp>

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

/// Limits and timings of one host's connections.
struct HostLimits {
    std::size_t min = 0;
    std::size_t max = 1;
    std::chrono::milliseconds idle_timeout{0};
    std::chrono::milliseconds connection_timeout{0};
    std::chrono::milliseconds max_lifetime{0};
    std::chrono::milliseconds leak_threshold{0};
};

/// One pooled connection and its bookkeeping.
template <typename B>
struct Slot {
    std::unique_ptr<typename B::Connection> conn;
    Clock::time_point created{};
    Clock::time_point retire_at = Clock::time_point::max();
    Clock::time_point last_used{};
    Clock::time_point acquired_at{};
    SourceLocation acquired_from;
    bool in_use = false;
    bool leak_reported = false;
};

template <typename B>
class HostPool {
  public:
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
          rng_(std::random_device{}()) {
        opener_ = std::thread([this] { open_loop(); });
    }

    HostPool(const HostPool&) = delete;
    HostPool& operator=(const HostPool&) = delete;

    ~HostPool() { close_now(); }

    const std::string& label() const noexcept { return label_; }
    HostRole role() const noexcept { return role_; }
    HostRef ref() const noexcept { return {label_, role_}; }
    const Endpoint& endpoint() const noexcept { return endpoint_; }
    HostMetrics& metrics() noexcept { return metrics_; }
    const HostMetrics& metrics() const noexcept { return metrics_; }
    std::size_t max() const noexcept { return limits_.max; }

    /// Leases a connection, waiting until `deadline`.
    /// @throws PoolTimeout, PoolClosed, ConnectionError (the connection opened for this caller
    /// failed).
    SlotT* acquire(Clock::time_point deadline, const SourceLocation& where) {
        const auto start = Clock::now();
        std::vector<std::unique_ptr<typename B::Connection>> to_close;
        std::unique_lock lock(mutex_);
        while (true) {
            if (closed_) {
                throw PoolClosed(fmt::format("the pool for {} is shut down", label_));
            }
            if (idle_.empty()) break;
            SlotT* s = idle_.back();
            idle_.pop_back();
            if (start >= s->retire_at) {
                to_close.push_back(remove_locked(s));
                continue;
            }
            mark_leased_locked(s, where, start);
            lock.unlock();
            const bool alive = s->conn->is_alive();
            if (alive) {
                close_all(to_close);
                return stamp(s, start, start);
            }
            metrics_.connection_errors.add();
            lock.lock();
            --in_use_;
            to_close.push_back(remove_locked(s));
        }
        // No idle connection: queue up (FIFO) and let the opener add one if there is room.
        Waiter w;
        w.where = where;
        waiters_.push_back(&w);
        open_cv_.notify_one();
        if (!to_close.empty()) {
            lock.unlock();
            close_all(to_close);
            lock.lock();
        }
        while (!w.done) {
            if (w.cv.wait_until(lock, deadline) == std::cv_status::timeout && !w.done) {
                std::erase(waiters_, &w);
                const auto waited = Clock::now() - start;
                const std::size_t size = slots_.size() + opening_;
                const std::size_t waiting = waiters_.size() + 1;
                const std::string last_error = last_connect_error_;
                lock.unlock();
                metrics_.pool_timeouts.add();
                call_hook(hooks_.on_pool_timeout, PoolTimeoutEvent{ref(), waited, size, waiting},
                          pool_metrics_);
                const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(waited);
                throw PoolTimeout(
                    fmt::format("no connection to {} within {} ms ({} of {} connections open or "
                                "opening, {} callers waiting){}{}",
                                label_, ms.count(), size, limits_.max, waiting,
                                last_error.empty() ? "" : "; last connection error: ", last_error),
                    ms, size, waiting);
            }
        }
        if (w.error) std::rethrow_exception(w.error);
        lock.unlock();
        return stamp(w.slot, start);
    }

    /// Returns a leased connection; `reusable` false discards it.
    void release(SlotT* s, bool reusable) noexcept {
        const auto now = Clock::now();
        const auto held = now - s->acquired_at;
        std::unique_ptr<typename B::Connection> to_close;
        {
            std::lock_guard lock(mutex_);
            s->in_use = false;
            --in_use_;
            if (!reusable || closed_ || now >= s->retire_at) {
                to_close = remove_locked(s);
                open_cv_.notify_one();
            } else {
                s->last_used = now;
                if (!waiters_.empty()) {
                    hand_off_locked(s);
                } else {
                    idle_.push_back(s);
                }
            }
            if (slots_.empty() || in_use_ == 0) drain_cv_.notify_all();
        }
        if (to_close) {
            to_close->close();
            metrics_.connections_closed.add();
        }
        call_hook(hooks_.on_release, ReleaseEvent{ref(), held, reusable && !to_close},
                  pool_metrics_);
    }

    /// Closes idle connections idle longer than idle_timeout (above the minimum) or past their
    /// lifetime, reports leaks, and tops the pool up to its minimum.
    void maintain(Clock::time_point now) {
        std::vector<std::unique_ptr<typename B::Connection>> to_close;
        std::vector<LeakEvent> leaks;
        {
            std::lock_guard lock(mutex_);
            if (closed_) return;
            // Oldest idle first (the front of the deque is the least recently used).
            for (auto it = idle_.begin(); it != idle_.end();) {
                SlotT* s = *it;
                const bool expired = now >= s->retire_at;
                const bool too_idle = limits_.idle_timeout.count() > 0 &&
                                      now - s->last_used >= limits_.idle_timeout &&
                                      slots_.size() > limits_.min;
                if (expired || too_idle) {
                    it = idle_.erase(it);
                    to_close.push_back(remove_locked(s));
                } else {
                    ++it;
                }
            }
            if (limits_.leak_threshold.count() > 0) {
                for (auto& s : slots_) {
                    if (s->in_use && !s->leak_reported &&
                        now - s->acquired_at >= limits_.leak_threshold) {
                        s->leak_reported = true;
                        leaks.push_back(LeakEvent{ref(), now - s->acquired_at, s->acquired_from});
                    }
                }
            }
            if (slots_.size() + opening_ < limits_.min) open_cv_.notify_one();
        }
        for (auto& c : to_close) {
            c->close();
            metrics_.connections_closed.add();
        }
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
            while (!idle_.empty()) {
                SlotT* s = idle_.back();
                idle_.pop_back();
                to_close.push_back(remove_locked(s));
            }
            open_cv_.notify_one();
        }
        close_all(to_close);
    }

    /// Refuses new acquires and fails current waiters with PoolClosed.
    void stop_accepting() {
        std::lock_guard lock(mutex_);
        closed_ = true;
        for (Waiter* w : waiters_) {
            w->error = std::make_exception_ptr(
                PoolClosed(fmt::format("the pool for {} is shutting down", label_)));
            w->done = true;
            w->cv.notify_one();
        }
        waiters_.clear();
        open_cv_.notify_all();
    }

    /// Waits until no connection is leased or `deadline` passes; true when drained.
    bool wait_drained(Clock::time_point deadline) {
        std::unique_lock lock(mutex_);
        return drain_cv_.wait_until(lock, deadline, [&] { return in_use_ == 0; });
    }

    /// Cancels statements running on leased connections (shutdown past its grace period).
    void cancel_in_use() {
        std::lock_guard lock(mutex_);
        for (auto& s : slots_) {
            if (s->in_use) s->conn->cancel();
        }
    }

    /// Stops the opener and closes idle connections; leased ones close when released.
    void close_now() noexcept {
        std::vector<std::unique_ptr<typename B::Connection>> to_close;
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
            stopping_ = true;
            for (Waiter* w : waiters_) {
                w->error = std::make_exception_ptr(PoolClosed("the pool is shut down"));
                w->done = true;
                w->cv.notify_one();
            }
            waiters_.clear();
            while (!idle_.empty()) {
                SlotT* s = idle_.back();
                idle_.pop_back();
                to_close.push_back(remove_locked(s));
            }
            open_cv_.notify_all();
        }
        if (opener_.joinable()) opener_.join();
        close_all(to_close);
    }

    /// Current counts.
    struct Counts {
        std::size_t total = 0, idle = 0, in_use = 0, waiting = 0, opening = 0;
    };
    Counts counts() const {
        std::lock_guard lock(mutex_);
        return {slots_.size(), idle_.size(), in_use_, waiters_.size(), opening_};
    }

    /// Text of the last failed connection attempt (redacted), empty if the last one worked.
    std::string last_connect_error() const {
        std::lock_guard lock(mutex_);
        return last_connect_error_;
    }

    /// Takes an idle connection without waiting (health probes); nullptr when none is idle.
    SlotT* try_acquire() {
        std::unique_lock lock(mutex_);
        if (closed_ || idle_.empty()) return nullptr;
        SlotT* s = idle_.back();
        idle_.pop_back();
        mark_leased_locked(s, SourceLocation::current());
        return s;
    }

    /// Reserves room for a connection opened outside the opener (health probes), only when the
    /// host has no connection at all: false otherwise, or when closed. Pair with adopt().
    bool reserve_if_empty() {
        std::lock_guard lock(mutex_);
        if (closed_ || !slots_.empty() || opening_ > 0 || limits_.max == 0) return false;
        ++opening_;
        return true;
    }

    /// Opens a connection for a reserve()d place. @throws ConnectionError.
    std::unique_ptr<typename B::Connection> open_reserved(Clock::time_point deadline) {
        ConnectSettings s = settings_;
        s.deadline = deadline;
        return backend_.connect(endpoint_, s);
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
        if (closed_) {
            lock.unlock();
            conn->close();
            return;
        }
        metrics_.connections_opened.add();
        SlotT* s = add_slot_locked(std::move(conn));
        if (!waiters_.empty()) {
            hand_off_locked(s);
        } else {
            idle_.push_back(s);
        }
    }

  private:
    struct Waiter {
        std::condition_variable cv;
        SourceLocation where;
        SlotT* slot = nullptr;
        std::exception_ptr error;
        bool done = false;
    };

    // Leak-detection bookkeeping is written under the lock, where maintain() reads it.
    void mark_leased_locked(SlotT* s, const SourceLocation& where,
                            Clock::time_point now = Clock::now()) {
        s->in_use = true;
        ++in_use_;
        s->acquired_at = now;
        s->acquired_from = where;
        s->leak_reported = false;
    }

    // `now` is passed when the caller already has it: clock reads are a large share of an
    // uncontended acquire.
    SlotT* stamp(SlotT* s, Clock::time_point start, Clock::time_point now = Clock::now()) {
        metrics_.acquires.add();
        metrics_.acquire_wait.observe(now - start);
        call_hook(hooks_.on_acquire, AcquireEvent{ref(), now - start}, pool_metrics_);
        return s;
    }

    void hand_off_locked(SlotT* s) {
        Waiter* w = waiters_.front();
        waiters_.pop_front();
        mark_leased_locked(s, w->where);
        w->slot = s;
        w->done = true;
        w->cv.notify_one();
    }

    std::unique_ptr<typename B::Connection> remove_locked(SlotT* s) {
        std::unique_ptr<typename B::Connection> conn = std::move(s->conn);
        std::erase(idle_, s);
        std::erase_if(slots_, [s](const std::unique_ptr<SlotT>& p) { return p.get() == s; });
        return conn;
    }

    void close_all(std::vector<std::unique_ptr<typename B::Connection>>& conns) noexcept {
        for (auto& c : conns) {
            if (c) {
                c->close();
                metrics_.connections_closed.add();
            }
        }
        conns.clear();
    }

    bool should_open_locked() const {
        if (closed_) return false;
        const std::size_t total = slots_.size() + opening_;
        if (total >= limits_.max) return false;
        return total < limits_.min || waiters_.size() > opening_;
    }

    SlotT* add_slot_locked(std::unique_ptr<typename B::Connection> conn) {
        auto slot = std::make_unique<SlotT>();
        slot->conn = std::move(conn);
        slot->created = Clock::now();
        slot->last_used = slot->created;
        const auto life = lifetime_with_jitter();
        slot->retire_at = life == std::chrono::milliseconds::max() ? Clock::time_point::max()
                                                                   : slot->created + life;
        SlotT* s = slot.get();
        slots_.push_back(std::move(slot));
        return s;
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
        int failures = 0;
        Clock::time_point retry_at{};
        while (!stopping_) {
            if (!should_open_locked()) {
                open_cv_.wait(lock);
                continue;
            }
            if (Clock::now() < retry_at) {
                open_cv_.wait_until(lock, retry_at);
                continue;
            }
            ++opening_;
            lock.unlock();
            const auto started = Clock::now();
            std::unique_ptr<typename B::Connection> conn;
            std::string error;
            try {
                ConnectSettings s = settings_;
                s.deadline = started + limits_.connection_timeout;
                conn = backend_.connect(endpoint_, s);
            } catch (const std::exception& e) {
                error = e.what();
            }
            const auto took = Clock::now() - started;
            call_hook(hooks_.on_connect, ConnectEvent{ref(), took, conn != nullptr, error},
                      pool_metrics_);
            lock.lock();
            --opening_;
            if (!conn) {
                metrics_.connection_errors.add();
                last_connect_error_ = error;
                ++failures;
                // Back off (10 ms doubling to 1 s) so a dead host is not hammered.
                retry_at = Clock::now() +
                           std::chrono::milliseconds(std::min(1000, 10 << std::min(failures, 7)));
                if (!waiters_.empty()) {
                    // The caller this connection was for learns at once why there is none.
                    Waiter* w = waiters_.front();
                    waiters_.pop_front();
                    w->error = std::make_exception_ptr(ConnectionError(error));
                    w->done = true;
                    w->cv.notify_one();
                }
                continue;
            }
            failures = 0;
            last_connect_error_.clear();
            if (closed_) {
                lock.unlock();
                conn->close();
                lock.lock();
                continue;
            }
            metrics_.connections_opened.add();
            SlotT* s = add_slot_locked(std::move(conn));
            if (!waiters_.empty()) {
                hand_off_locked(s);
            } else {
                idle_.push_back(s);
            }
        }
    }

    B backend_;
    Endpoint endpoint_;
    std::string label_;
    HostRole role_;
    HostLimits limits_;
    ConnectSettings settings_;
    const Hooks& hooks_;
    PoolMetrics& pool_metrics_;
    HostMetrics metrics_;

    mutable std::mutex mutex_;
    std::condition_variable open_cv_;
    std::condition_variable drain_cv_;
    std::vector<std::unique_ptr<SlotT>> slots_;
    std::deque<SlotT*> idle_;  // most recently used at the back
    std::deque<Waiter*> waiters_;
    std::size_t in_use_ = 0;
    std::size_t opening_ = 0;
    bool closed_ = false;
    bool stopping_ = false;
    std::string last_connect_error_;
    std::mt19937_64 rng_;
    std::thread opener_;
};

}  // namespace sparc::db::detail
