#pragma once
/// @file sql.hpp
/// The statements the pool itself sends. Backends (the fake one included) may recognise them.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include <sparc/db/options.hpp>
#include <sparc/db/result.hpp>
#include <sparc/db/router.hpp>

namespace sparc::db::detail {

/// Host probe: role, WAL position (replayed on a replica, written on a primary) and replay lag
/// in milliseconds: 0 when the replica has replayed everything it received (after a restart a
/// standby re-receives from a segment start, so "received" may trail "replayed"), else the age
/// of the last replayed commit; and whether new transactions are read-only by default on the
/// server (a fenced primary: it takes no writes). A `SET default_transaction_read_only` of the
/// session's own (or its connection options) is the caller's and does not count. Last, the
/// timeline: a primary's, or the one a standby's WAL receiver streams (NULL unless the role may
/// read pg_stat_wal_receiver's details and the receiver runs). Sixth, on a standby, what it
/// shows of its WAL receiver: bit 1 set when a receiver is connected to an upstream, bit 2 when
/// the role may read its details (then a NULL timeline means no receiver streams). Seventh, on
/// a primary, how many standbys stream from it: physical WAL senders (any role sees them in
/// pg_stat_replication; physical ones connect to no database), but for the WAL archivers and
/// base backups that say what they are (pg_receivewal, pg_basebackup).
/// Eighth, on a primary, the cluster's system identifier (see kHistorySql).
inline constexpr const char* kProbeSql =
    "SELECT pg_is_in_recovery(),"
    " (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()"
    " ELSE pg_current_wal_lsn() END)::text,"
    " (CASE WHEN NOT pg_is_in_recovery()"
    " OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0"
    " ELSE COALESCE((EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) * 1000)::bigint,"
    " 0) END),"
    " (SELECT setting = 'on' AND source NOT IN ('session', 'client')"
    " FROM pg_settings WHERE name = 'default_transaction_read_only'),"
    " (CASE WHEN pg_is_in_recovery() THEN (SELECT received_tli FROM pg_stat_wal_receiver)"
    " ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END),"
    " (CASE WHEN pg_is_in_recovery() THEN"
    " (CASE WHEN pg_has_role('pg_read_all_stats', 'USAGE') THEN 2 ELSE 0 END)"
    " + (CASE WHEN EXISTS (SELECT 1 FROM pg_stat_wal_receiver) THEN 1 ELSE 0 END) END),"
    " (CASE WHEN NOT pg_is_in_recovery() THEN (SELECT count(*) FROM pg_stat_replication r"
    " JOIN pg_stat_activity a ON a.pid = r.pid WHERE a.datid IS NULL"
    " AND r.application_name NOT IN ('pg_receivewal', 'pg_basebackup')) END),"
    " (CASE WHEN NOT pg_is_in_recovery() THEN"
    " (SELECT system_identifier FROM pg_control_system())::text END)";

/// What a host said of itself in answer to kProbeSql.
struct ProbeAnswer {
    bool in_recovery = false;                ///< A standby.
    std::optional<CommitPosition> position;  ///< Replayed (standby) or written (primary).
    std::chrono::milliseconds lag{0};        ///< Replay lag; 0 on a primary.
    bool read_only = false;                  ///< default_transaction_read_only: fenced.
    /// A primary's timeline; a standby's WAL receiver's (visible only to superusers and
    /// members of pg_read_all_stats, and only while it streams). Also in `position`.
    std::optional<std::uint32_t> timeline;
    /// A standby's WAL receiver as the role sees it; unset when the server did not say.
    std::optional<ReceiverView> receiver;
    /// A primary's physical WAL senders; unset when the server did not say.
    std::optional<std::uint32_t> standbys;
    /// A primary's cluster system identifier; empty when the server did not say.
    std::string system;

    /// Whether new transactions there may write.
    bool takes_writes() const noexcept { return !in_recovery && !read_only; }
    /// Reads the first row; a missing read-only column (an older probe) reads as false.
    static ProbeAnswer parse(const Result& r);
};

/// Liveness round trip.
inline constexpr const char* kPingSql = "SELECT 1 AS sparc_ping";

/// The current transaction's id and the server's start time, recorded before COMMIT when
/// outcomes are to be resolved. The start time tells whether the server restarted in between:
/// PostgreSQL makes a transaction id durable only through the WAL records that carry it, so after
/// a crash it may hand the id of a transaction that never reached the disk to a new one.
inline constexpr const char* kTxidCurrentSql =
    "SELECT txid_current(), pg_postmaster_start_time()::text";

/// Whether a transaction committed ('committed', 'aborted', 'in progress' or NULL), and the
/// server's start time.
inline constexpr const char* kTxidStatusSql =
    "SELECT txid_status($1), pg_postmaster_start_time()::text";

/// The primary's current WAL insert position, returned as a CommitPosition. The insert position,
/// not the write position: with synchronous_commit off, COMMIT returns before its WAL record is
/// written, and only the insert position is sure to be past it.
/// The second column is the WAL file name, whose first 8 hex digits are the timeline.
inline constexpr const char* kCurrentLsnSql =
    "SELECT pg_current_wal_insert_lsn()::text, pg_walfile_name(pg_current_wal_insert_lsn())";

/// Which history a writable server continues, asked on each new session of a host list's
/// primary: the cluster's system identifier (the same on a primary and every standby made from
/// it) and the WAL file name of the current position, whose first 8 hex digits are the
/// timeline. A promotion starts a new timeline, so of two writable servers of one cluster the
/// one on the higher timeline is the newer primary, and two entries leading to one server show
/// the same. Any role may run it; a standby refuses it (recovery is in progress).
inline constexpr const char* kHistorySql =
    "SELECT (SELECT system_identifier FROM pg_control_system())::text,"
    " pg_walfile_name(pg_current_wal_lsn())";

/// The timeline in a WAL file name (its first 8 hex digits); 0 when `name` is not one.
std::uint32_t timeline_of_walfile(std::string_view name) noexcept;

/// A replica's replayed position, asked on the connection about to serve a read-your-writes
/// read when the last health check's figure is older than the position asked for. NULL on a
/// server that is not in recovery.
inline constexpr const char* kReplayLsnSql = "SELECT pg_last_wal_replay_lsn()::text";

}  // namespace sparc::db::detail
