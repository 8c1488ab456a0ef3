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
    if (after && (!s.position || *s.position < *after)) return false;
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
                            std::chrono::nanoseconds round_trip) {
    std::lock_guard lock(mutex_);
    auto& s = states_.at(replica);
    const bool was_down = !s.up;
    s.up = true;
    s.observed_role = observed_role;
    s.lag = lag;
    if (position && (!s.position || *s.position < *position || was_down)) s.position = position;
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
    if (!s.position || *s.position < position) s.position = position;
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
