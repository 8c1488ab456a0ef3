#include <sparc/db/errors.hpp>
#include <sparc/db/router.hpp>

#include <algorithm>
#include <thread>

#include <fmt/format.h>

namespace sparc::db {

namespace {

// Published::flags: what pick() needs of a replica in one word, its position's timeline in
// the high half.
constexpr std::uint64_t kServable = 1;  // up, in recovery, within max_lag
constexpr std::uint64_t kHasPosition = 2;
constexpr std::uint64_t kOffTimeline = 4;
constexpr unsigned kTimelineShift = 32;

// A thread's place in the smooth weighted rotation of one router: the running weights and,
// per replica, the mark_down() count it has seen (a replica marked down starts again at 0).
struct Rotation {
    std::uint64_t router = 0;
    std::vector<std::int64_t> current;
    std::vector<std::uint32_t> downs;
};

// The routers a thread has picked from lately, the last one first. A thread that picks from
// more forgets the oldest: it starts that rotation again.
constexpr std::size_t kRotationsPerThread = 8;
// Most steps a thread's rotation starts into the cycle.
constexpr std::uint64_t kMaxFirstStep = 1024;

thread_local std::vector<Rotation> t_rotations;

std::uint64_t next_router_id() noexcept {
    static std::atomic<std::uint64_t> next{0};
    return next.fetch_add(1, std::memory_order_relaxed) + 1;
}

// One step of the smooth weighted round-robin over the replicas in `eligible` (bit i =
// replica i): -1 when it is empty.
int rotate(std::vector<std::int64_t>& current, const std::vector<unsigned>& weights,
           std::uint64_t eligible) noexcept {
    std::int64_t total = 0;
    int best = -1;
    for (std::size_t i = 0; i < weights.size(); ++i) {
        if (((eligible >> i) & 1U) == 0) continue;
        current[i] += weights[i];
        total += weights[i];
        if (best < 0 || current[i] > current[static_cast<std::size_t>(best)]) {
            best = static_cast<int>(i);
        }
    }
    if (best >= 0) current[static_cast<std::size_t>(best)] -= total;
    return best;
}

}  // namespace

ReplicaRouter::ReplicaRouter(std::vector<unsigned> weights, std::chrono::milliseconds max_lag)
    : id_(next_router_id()),
      weights_(std::move(weights)),
      max_lag_(max_lag),
      published_(std::make_unique<Published[]>(  // NOLINT(modernize-avoid-c-arrays)
          weights_.size())),
      states_(weights_.size()) {
    if (weights_.size() > kMaxReplicas) {
        throw ConfigError(fmt::format("at most {} replicas are supported, {} were configured",
                                      kMaxReplicas, weights_.size()));
    }
    for (std::size_t i = 0; i < weights_.size(); ++i) {
        if (weights_[i] == 0) {
            throw ConfigError(fmt::format("replica {} has weight 0; weights must be positive", i));
        }
    }
    std::lock_guard lock(mutex_);
    publish_locked();
}

void ReplicaRouter::publish_locked() {
    const std::uint64_t v = version_.load(std::memory_order_relaxed);
    version_.store(v + 1, std::memory_order_relaxed);
    // Release stores: a pick() that reads any of them reads the odd version after it.
    published_timeline_.store(primary_timeline_, std::memory_order_release);
    for (std::size_t i = 0; i < states_.size(); ++i) {
        const auto& s = states_[i];
        std::uint64_t flags = 0;
        if (s.up && s.observed_role == HostRole::replica && s.lag <= max_lag_) flags |= kServable;
        if (s.off_timeline) flags |= kOffTimeline;
        std::uint64_t position = 0;
        if (s.position) {
            flags |= kHasPosition | (std::uint64_t{s.position->timeline} << kTimelineShift);
            position = s.position->lsn;
        }
        published_[i].flags.store(flags, std::memory_order_release);
        published_[i].position.store(position, std::memory_order_release);
    }
    version_.store(v + 2, std::memory_order_release);
}

bool ReplicaRouter::eligible(std::uint64_t flags, std::uint64_t position,
                             std::uint32_t primary_timeline,
                             const std::optional<CommitPosition>& after) const noexcept {
    // A "replica" that is not in recovery was promoted: in a split brain it serves another
    // history than the primary's, so it takes no reads at all until it is a standby again.
    if ((flags & kServable) == 0) return false;
    if (!after) return true;
    if ((flags & kHasPosition) == 0 || position < after->lsn) return false;
    if (after->timeline != 0 && primary_timeline != 0) {
        // A position of another timeline than the primary's: the failover may have lost it,
        // and a replica's LSN says nothing of it. Only the primary answers.
        if (after->timeline != primary_timeline) return false;
        if ((flags & kOffTimeline) != 0) return false;
        const auto timeline = static_cast<std::uint32_t>(flags >> kTimelineShift);
        if (timeline != 0 && timeline != after->timeline) return false;
    }
    return true;
}

int ReplicaRouter::pick(std::uint64_t exclude, std::optional<CommitPosition> after) {
    const std::size_t n = weights_.size();
    if (n == 0) return -1;
    // Which replicas may take the read, from one consistent publication.
    std::uint64_t eligible_now = 0;
    for (unsigned spins = 0;; ++spins) {
        const std::uint64_t v = version_.load(std::memory_order_acquire);
        if ((v & 1U) != 0) {
            // A writer is publishing: a few stores, unless it lost its CPU in between.
            if (spins >= 64) std::this_thread::yield();
            continue;
        }
        eligible_now = 0;
        const std::uint32_t timeline = published_timeline_.load(std::memory_order_acquire);
        for (std::size_t i = 0; i < n; ++i) {
            if ((exclude >> i) & 1U) continue;
            const auto flags = published_[i].flags.load(std::memory_order_acquire);
            const auto position = published_[i].position.load(std::memory_order_acquire);
            if (eligible(flags, position, timeline, after)) eligible_now |= std::uint64_t{1} << i;
        }
        // After the acquire loads above: a writer that began since shows here.
        if (version_.load(std::memory_order_relaxed) == v) break;
    }

    // This thread's rotation, the last one used first.
    auto& rotations = t_rotations;
    auto it = std::find_if(rotations.begin(), rotations.end(),
                           [&](const Rotation& r) { return r.router == id_; });
    if (it == rotations.end()) {
        Rotation r{.router = id_, .current = std::vector<std::int64_t>(n, 0), .downs = {}};
        r.downs.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            r.downs.push_back(published_[i].downs.load(std::memory_order_relaxed));
        }
        // Each thread starts one step further into the cycle than the one before it.
        std::uint64_t total = 0;
        for (auto w : weights_) total += w;
        const std::uint64_t steps =
            joins_.fetch_add(1, std::memory_order_relaxed) % std::min(total, kMaxFirstStep);
        const std::uint64_t all = n == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1;
        for (std::uint64_t k = 0; k < steps; ++k) rotate(r.current, weights_, all);
        if (rotations.size() == kRotationsPerThread) rotations.pop_back();
        rotations.insert(rotations.begin(), std::move(r));
        it = rotations.begin();
    } else if (it != rotations.begin()) {
        std::rotate(rotations.begin(), it, it + 1);
        it = rotations.begin();
    }
    Rotation& rotation = *it;
    for (std::size_t i = 0; i < n; ++i) {
        const auto downs = published_[i].downs.load(std::memory_order_relaxed);
        if (downs != rotation.downs[i]) {
            rotation.downs[i] = downs;
            rotation.current[i] = 0;
        }
    }
    return rotate(rotation.current, weights_, eligible_now);
}

bool ReplicaRouter::mark_down(std::size_t replica, std::string reason) {
    std::lock_guard lock(mutex_);
    auto& s = states_.at(replica);
    const bool was_up = s.up;
    s.up = false;
    s.last_error = std::move(reason);
    s.checked_at = Clock::now();
    ++s.failures;
    published_[replica].downs.fetch_add(1, std::memory_order_relaxed);
    publish_locked();
    return was_up;
}

bool ReplicaRouter::mark_up(std::size_t replica, HostRole observed_role,
                            std::chrono::milliseconds lag, std::optional<CommitPosition> position,
                            std::chrono::nanoseconds round_trip,
                            std::optional<ReceiverView> receiver) {
    std::lock_guard lock(mutex_);
    auto& s = states_.at(replica);
    const bool was_down = !s.up;
    s.up = true;
    s.observed_role = observed_role;
    if (receiver) s.receiver = receiver;
    if (position && (!s.position || s.position->lsn < position->lsn || was_down)) {
        s.position = position;
    }
    if (position) follow_timeline_locked(s, *position);
    // Off the timeline, it has replayed nothing of the new primary's that is known: as far
    // as anyone can tell, it is behind by the time since the change.
    if (s.off_timeline) {
        lag = std::max(lag, std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() -
                                                                                  s.switched_at));
    }
    s.lag = lag;
    s.round_trip = round_trip;
    s.last_error.clear();
    s.checked_at = Clock::now();
    s.failures = 0;
    publish_locked();
    return was_down;
}

bool ReplicaRouter::mark_not_standby(std::size_t replica, std::string reason) {
    std::lock_guard lock(mutex_);
    auto& s = states_.at(replica);
    const bool was_standby = s.observed_role == HostRole::replica;
    s.observed_role = HostRole::primary;
    s.last_error = std::move(reason);
    publish_locked();
    return was_standby;
}

void ReplicaRouter::advance_position(std::size_t replica, CommitPosition position) {
    std::lock_guard lock(mutex_);
    auto& s = states_.at(replica);
    if (!s.position || s.position->lsn < position.lsn) {
        if (s.position && position.timeline == 0) position.timeline = s.position->timeline;
        s.position = position;
    }
    follow_timeline_locked(s, position);
    publish_locked();
}

void ReplicaRouter::follow_timeline_locked(ReplicaState& s, const CommitPosition& position) const {
    if (!s.off_timeline) {
        // A visible timeline other than the primary's puts it off at once.
        if (position.timeline != 0 && primary_timeline_ != 0 &&
            position.timeline != primary_timeline_) {
            s.off_timeline = true;
            s.position_at_switch.reset();
            s.switched_at = Clock::now();
        }
        return;
    }
    if (position.timeline != 0) {
        // Its WAL receiver says which timeline it streams.
        s.off_timeline = position.timeline != primary_timeline_;
        s.progress_unconfirmed = false;
    } else if (s.receiver && (s.receiver->details_visible || !s.receiver->connected)) {
        // No timeline although the role could see it: no receiver streams. Or no receiver is
        // connected at all. Either way a replay position that moves is WAL received earlier,
        // perhaps the old primary's past the fork: it proves nothing. It stays off.
        return;
    } else if (!s.position_at_switch) {
        // The first position seen since the change is the baseline: it may include WAL of the
        // old primary's received just before the change.
        s.position_at_switch = position;
    } else if (position.lsn > s.position_at_switch->lsn) {
        // It replays WAL written since then, with a receiver connected (or nothing known of
        // its receiver): it follows a live primary. A standby that still follows the old
        // primary in a split brain would too, but the new primary does not stream to it: it
        // is taken back only while the new primary streams to more standbys than were taken
        // back this way (when the primary said; a count from before the change says nothing).
        if (standbys_) {
            std::uint32_t taken = 0;
            for (const auto& other : states_) taken += other.follows_by_progress ? 1U : 0U;
            if (standbys_timeline_ != primary_timeline_ || *standbys_ <= taken) {
                s.progress_unconfirmed = true;
                return;
            }
        }
        s.off_timeline = false;
        s.follows_by_progress = true;
        s.progress_unconfirmed = false;
    }
}

bool ReplicaRouter::primary_timeline(std::uint32_t timeline) {
    if (timeline == 0) return false;
    std::lock_guard lock(mutex_);
    if (timeline == primary_timeline_) return false;
    const bool changed = primary_timeline_ != 0;
    primary_timeline_ = timeline;
    if (changed) {
        const auto now = Clock::now();
        for (auto& s : states_) {
            if (!s.off_timeline) s.switched_at = now;  // else: counting from an earlier change
            s.off_timeline = true;
            s.position_at_switch.reset();
            s.follows_by_progress = false;
            s.progress_unconfirmed = false;
        }
    }
    publish_locked();
    return changed;
}

std::uint32_t ReplicaRouter::primary_timeline() const {
    std::lock_guard lock(mutex_);
    return primary_timeline_;
}

void ReplicaRouter::primary_standbys(std::uint32_t timeline, std::uint32_t count) {
    std::lock_guard lock(mutex_);
    standbys_ = count;
    standbys_timeline_ = timeline;
}

ReplicaState ReplicaRouter::state(std::size_t replica) const {
    std::lock_guard lock(mutex_);
    return states_.at(replica);
}

Clock::time_point ReplicaRouter::next_check(std::size_t replica,
                                            std::chrono::milliseconds period) const {
    std::lock_guard lock(mutex_);
    const auto& s = states_.at(replica);
    if (s.up) return s.checked_at + period;
    const auto backoff = std::chrono::milliseconds(100) * (1LL << std::min(s.failures - 1, 10));
    return s.checked_at + std::min<std::chrono::milliseconds>(backoff, period);
}

}  // namespace sparc::db
