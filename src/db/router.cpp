#include <sparc/db/errors.hpp>
#include <sparc/db/router.hpp>

#include <algorithm>

#include <fmt/format.h>

namespace sparc::db {

ReplicaRouter::ReplicaRouter(std::vector<unsigned> weights, std::chrono::milliseconds max_lag)
    : weights_(std::move(weights)),
      max_lag_(max_lag),
      states_(weights_.size()),
      current_(weights_.size(), 0) {
    if (weights_.size() > kMaxReplicas) {
        throw ConfigError(fmt::format("at most {} replicas are supported, {} were configured",
                                      kMaxReplicas, weights_.size()));
    }
    for (std::size_t i = 0; i < weights_.size(); ++i) {
        if (weights_[i] == 0) {
            throw ConfigError(fmt::format("replica {} has weight 0; weights must be positive", i));
        }
    }
}

bool ReplicaRouter::eligible_locked(std::size_t i,
                                    const std::optional<CommitPosition>& after) const {
    const auto& s = states_[i];
    // A "replica" that is not in recovery was promoted: in a split brain it serves another
    // history than the primary's, so it takes no reads at all until it is a standby again.
    if (!s.up || s.observed_role != HostRole::replica) return false;
    if (s.lag > max_lag_) return false;
    if (!after) return true;
    if (!s.position || s.position->lsn < after->lsn) return false;
    if (after->timeline != 0 && primary_timeline_ != 0) {
        // A position of another timeline than the primary's: the failover may have lost it,
        // and a replica's LSN says nothing of it. Only the primary answers.
        if (after->timeline != primary_timeline_) return false;
        if (s.off_timeline) return false;
        if (s.position->timeline != 0 && s.position->timeline != after->timeline) return false;
    }
    return true;
}

int ReplicaRouter::pick(std::uint64_t exclude, std::optional<CommitPosition> after) {
    std::lock_guard lock(mutex_);
    std::int64_t total = 0;
    int best = -1;
    for (std::size_t i = 0; i < weights_.size(); ++i) {
        if ((exclude >> i) & 1U) continue;
        if (!eligible_locked(i, after)) continue;
        current_[i] += weights_[i];
        total += weights_[i];
        if (best < 0 || current_[i] > current_[static_cast<std::size_t>(best)]) {
            best = static_cast<int>(i);
        }
    }
    if (best >= 0) current_[static_cast<std::size_t>(best)] -= total;
    return best;
}

bool ReplicaRouter::mark_down(std::size_t replica, std::string reason) {
    std::lock_guard lock(mutex_);
    auto& s = states_.at(replica);
    const bool was_up = s.up;
    s.up = false;
    s.last_error = std::move(reason);
    s.checked_at = Clock::now();
    ++s.failures;
    current_[replica] = 0;
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
    return was_down;
}

bool ReplicaRouter::mark_not_standby(std::size_t replica, std::string reason) {
    std::lock_guard lock(mutex_);
    auto& s = states_.at(replica);
    const bool was_standby = s.observed_role == HostRole::replica;
    s.observed_role = HostRole::primary;
    s.last_error = std::move(reason);
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
