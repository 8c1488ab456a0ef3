#pragma once
/// @file router.hpp
/// Replica selection: smooth weighted round-robin over the replicas that are up, not lagging
/// and (for read-your-writes) caught up.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <sparc/db/backend.hpp>
#include <sparc/db/hooks.hpp>
#include <sparc/db/options.hpp>

namespace sparc::db {

/// What the router knows about one replica.
/// What a standby shows the pool's role of its WAL receiver (pg_stat_wal_receiver).
struct ReceiverView {
    bool connected = false;        ///< A receiver is connected to an upstream server.
    bool details_visible = false;  ///< The role may read its details (pg_read_all_stats).
};

struct ReplicaState {
    bool up = true;
    HostRole observed_role = HostRole::replica;
    std::chrono::milliseconds lag{0};
    std::optional<CommitPosition> position;  ///< Replayed WAL position at the last check.
    std::chrono::nanoseconds round_trip{0};
    std::string last_error;  ///< Why it is down (redacted).
    Clock::time_point checked_at{};
    int failures = 0;  ///< Consecutive failed checks.
    /// The primary's timeline changed (a failover) and this replica has not been seen to
    /// follow the new one since: its timeline is another (when visible), or its replayed
    /// position has not moved since the change. It serves no read-your-writes reads, and its
    /// lag counts from the change.
    bool off_timeline = false;
    std::optional<CommitPosition> position_at_switch;  ///< The first position seen since.
    Clock::time_point switched_at{};                   ///< When the change was seen.
    /// Back on the timeline by replay progress alone (its receiver's timeline hidden): it
    /// counts against the standbys the new primary shows streaming from it.
    bool follows_by_progress = false;
    /// Off the timeline although its replay moves with a receiver connected: the new primary
    /// streams to no more standbys than already follow it, so this one may follow another
    /// server (the old primary, in a split brain).
    bool progress_unconfirmed = false;
    /// Its WAL receiver at the last check, when the server said.
    std::optional<ReceiverView> receiver;
};

/// Weighted choice among replicas. Thread-safe. pick() takes no lock and writes nothing another
/// thread reads: it reads the replicas' state as the writers (checks, mark_down() and the
/// like, which share a mutex) last published it, and keeps its place in the rotation per
/// thread.
class ReplicaRouter {
  public:
    /// Most replicas a router handles (exclusion masks are 64-bit).
    static constexpr std::size_t kMaxReplicas = 64;

    /// @param weights one positive weight per replica.
    /// @param max_lag replicas lagging more take no reads.
    ReplicaRouter(std::vector<unsigned> weights, std::chrono::milliseconds max_lag);

    /// Number of replicas.
    std::size_t size() const noexcept { return weights_.size(); }

    /// Picks a replica that is up, observed in recovery (a promoted one takes no reads),
    /// within max_lag, has replayed `after` when given, and is not in `exclude` (bit i =
    /// replica i). Smooth weighted round-robin, per thread: over any window of one thread's
    /// picks they follow the weights with the least possible clustering. Each thread starts
    /// one step further into the rotation than the thread before it, so threads that pick
    /// only a few times each still spread their picks by weight. Returns -1 when none fits.
    /// Takes no lock; reads again only while a writer publishes a change (a few stores).
    int pick(std::uint64_t exclude = 0, std::optional<CommitPosition> after = std::nullopt);

    /// Marks a replica down at once (a failed connect, check or read). True if it was up.
    bool mark_down(std::size_t replica, std::string reason);
    /// Records a successful check. True if the replica was down before.
    bool mark_up(std::size_t replica, HostRole observed_role, std::chrono::milliseconds lag,
                 std::optional<CommitPosition> position, std::chrono::nanoseconds round_trip,
                 std::optional<ReceiverView> receiver = std::nullopt);
    /// Takes a replica out of rotation at once because a read found it is no longer a standby
    /// (promoted: a split brain, or a failover the pool was not told of). The next check that
    /// finds it in recovery again brings it back. True if it was taken out now.
    bool mark_not_standby(std::size_t replica, std::string reason);
    /// Raises the known replayed position (a read found the replica further along).
    void advance_position(std::size_t replica, CommitPosition position);
    /// Records the primary's timeline (0: unknown, ignored). A change (a failover) puts every
    /// replica off the timeline until it is seen to follow the new one. True on a change.
    bool primary_timeline(std::uint32_t timeline);
    /// The primary's timeline as last recorded (0: unknown).
    std::uint32_t primary_timeline() const;
    /// Records how many standbys the primary shows streaming WAL from it (physical WAL
    /// senders, visible to any role) on `timeline`. After a failover, a replica whose
    /// receiver's timeline is hidden is taken back on replay progress only while the new
    /// primary streams to more standbys than were taken back so: a standby still streaming
    /// from the old primary (a split brain) replays too, but the new primary does not count it.
    void primary_standbys(std::uint32_t timeline, std::uint32_t count);
    /// A copy of a replica's state.
    ReplicaState state(std::size_t replica) const;
    /// When the next check of a replica is due: the health period while up, a backoff that
    /// starts at 100 ms and doubles up to the period while down.
    Clock::time_point next_check(std::size_t replica, std::chrono::milliseconds period) const;

  private:
    // One replica's state as pick() reads it (see publish_locked()).
    struct Published {
        std::atomic<std::uint64_t> position{0};  // replayed LSN
        std::atomic<std::uint64_t> flags{0};     // kServable, kHasPosition, ... and timeline
        std::atomic<std::uint32_t> downs{0};     // times marked down: restarts its rotation
    };

    // Copies what pick() reads out of states_, between two writes of version_. Call after
    // every change, with the mutex held.
    void publish_locked();
    // Whether the thread running pick() may send a read to a replica with this published
    // state: up, a standby, within max_lag, and past `after` when given.
    bool eligible(std::uint64_t flags, std::uint64_t position, std::uint32_t primary_timeline,
                  const std::optional<CommitPosition>& after) const noexcept;
    // Whether the replica now follows the primary's timeline, from a position it reported.
    void follow_timeline_locked(ReplicaState& s, const CommitPosition& position) const;

    // Fixed at construction.
    const std::uint64_t id_;  // tells the routers apart in the threads' rotations
    std::vector<unsigned> weights_;
    std::chrono::milliseconds max_lag_;

    // What pick() reads, written by the writers only. A sequence lock: version_ is odd while a
    // writer publishes; pick() reads again if it changed while it read.
    alignas(64) std::atomic<std::uint64_t> version_{0};
    std::atomic<std::uint32_t> published_timeline_{0};
    std::unique_ptr<Published[]> published_;  // NOLINT(modernize-avoid-c-arrays)

    // Written by the writers under the mutex, and once per thread by its first pick().
    alignas(64) mutable std::mutex mutex_;
    std::atomic<std::uint64_t> joins_{0};  // threads that have picked: each one's first step
    std::vector<ReplicaState> states_;
    std::uint32_t primary_timeline_ = 0;
    // The primary's WAL senders as last reported, and the timeline it reported them on.
    std::optional<std::uint32_t> standbys_;
    std::uint32_t standbys_timeline_ = 0;
};

}  // namespace sparc::db
