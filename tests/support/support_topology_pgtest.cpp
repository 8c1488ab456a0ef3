// Topology changes of the test cluster (promote, freeze/thaw, fence, synchronous replication,
// reset) as PostgreSQL and libpq see them, with psql as the client. Runs against the
// pg_topology fixture's cluster, never the shared pg_cluster.
#include "sparc_test/cluster_env.hpp"

#include "psql_client.hpp"

#include <chrono>
#include <cstdlib>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <catch2/catch.hpp>

using sparc::testing::ClusterEnv;
using sparc::testing::ClusterError;
using sparc::testing::ClusterNode;
using sparc::testing::CommandResult;
using sparc::testing::FrozenNode;
using sparc::testing::TopologyGuard;
using sparc::testing::psql_client::cluster;
using sparc::testing::psql_client::loopback_url;
using sparc::testing::psql_client::psql;
using Clock = std::chrono::steady_clock;

namespace {

/// psql to a URL (its query may hold connect_timeout etc.), with SQLSTATEs in error messages.
CommandResult psql_url(const std::string& url, const std::string& sql) {
    return psql(url, {sql}, true);
}

/// psql to one node, without SSL, giving up on connecting after two seconds.
CommandResult psql_node(ClusterNode node, const std::string& sql) {
    return psql_url(loopback_url(cluster().port(node), 2), sql);
}

/// Polls `condition` every 100 ms until it holds or `limit` has passed.
bool eventually(const std::function<bool()>& condition,
                std::chrono::seconds limit = std::chrono::seconds(30)) {
    const auto deadline = Clock::now() + limit;
    while (!condition()) {
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return true;
}

bool in_recovery(ClusterNode node) {
    return cluster().psql(node, "SELECT pg_is_in_recovery()") == "t";
}

/// The primary is writable and both replicas stream from it, by name.
void require_original_shape() {
    const auto& env = cluster();
    REQUIRE_FALSE(in_recovery(ClusterNode::primary));
    REQUIRE(env.psql(ClusterNode::primary, "SHOW default_transaction_read_only") == "off");
    CHECK(env.psql(ClusterNode::primary,
                   "SELECT string_agg(application_name || ':' || state || ':' || sync_state, ',' "
                   "ORDER BY application_name) FROM pg_stat_replication") ==
          "replica1:streaming:async,replica2:streaming:async");
    for (const auto node : {ClusterNode::replica1, ClusterNode::replica2}) {
        CHECK(in_recovery(node));
        CHECK(env.psql(node, "SELECT status FROM pg_stat_wal_receiver") == "streaming");
        CHECK(env.psql(node, "SHOW default_transaction_read_only") == "off");
    }
}

/// Whether `node` has replayed everything the primary had written when called.
bool caught_up(ClusterNode node) {
    const auto& env = cluster();
    // The insert position: with synchronous_commit off (the test cluster's), a commit's record
    // may not be written yet, and the write position would come before it.
    const auto lsn = env.psql(ClusterNode::primary, "SELECT pg_current_wal_insert_lsn()");
    return eventually([&] {
        return env.psql(node, fmt::format("SELECT pg_last_wal_replay_lsn() >= '{}'", lsn)) == "t";
    });
}

}  // namespace

TEST_CASE("promote makes a replica writable; reset makes it a replica again",
          "[support][topology]") {
    const auto& env = cluster();
    {
        TopologyGuard guard(env);
        REQUIRE(in_recovery(ClusterNode::replica1));
        env.promote(ClusterNode::replica1);
        CHECK_FALSE(in_recovery(ClusterNode::replica1));
        CHECK(psql_node(ClusterNode::replica1,
                        "CREATE TABLE topology_promoted (v int); "
                        "INSERT INTO topology_promoted VALUES (1)")
                  .exit_code == 0);
        CHECK_FALSE(in_recovery(ClusterNode::primary));  // split brain: both write
        CHECK_THROWS_AS(env.promote(ClusterNode::primary), ClusterError);
    }
    require_original_shape();
    // The rebuilt replica follows the primary again; what it wrote alone is gone.
    env.psql(
        ClusterNode::primary,
        "DROP TABLE IF EXISTS topology_after_reset; CREATE TABLE topology_after_reset (v int)");
    REQUIRE(caught_up(ClusterNode::replica1));
    CHECK(env.psql(ClusterNode::replica1,
                   "SELECT to_regclass('topology_after_reset') IS NOT NULL") == "t");
    CHECK(env.psql(ClusterNode::replica1, "SELECT to_regclass('topology_promoted') IS NULL") ==
          "t");
}

TEST_CASE("a frozen node accepts TCP connections but never answers; thaw resumes it",
          "[support][topology]") {
    const auto& env = cluster();
    TopologyGuard guard(env);
    {
        FrozenNode frozen(env, ClusterNode::replica2);
        const auto start = Clock::now();
        const auto r = psql_node(ClusterNode::replica2, "SELECT 1");
        const auto waited = Clock::now() - start;
        CHECK(r.exit_code != 0);
        CHECK_THAT(r.err, Catch::Contains("timeout expired"));
        CHECK(waited >= std::chrono::milliseconds(1900));
        CHECK(waited < std::chrono::seconds(15));
        CHECK(psql_node(ClusterNode::replica1, "SELECT 1").out == "1\n");

        frozen.thaw();
        CHECK(psql_node(ClusterNode::replica2, "SELECT 1").out == "1\n");
    }
    {
        // A failing test may stop a frozen node: it is thawed first, and starts again.
        FrozenNode frozen(env, ClusterNode::replica1);
        env.restart_node(ClusterNode::replica1, /*immediate=*/true);
        CHECK(env.psql(ClusterNode::replica1, "SELECT status FROM pg_stat_wal_receiver") ==
              "streaming");
    }
}

TEST_CASE(
    "a multi-host URL with target_session_attrs=read-write skips replicas and frozen "
    "hosts",
    "[support][topology]") {
    const auto& env = cluster();
    TopologyGuard guard(env);
    const auto url =
        env.multi_host_url({ClusterNode::replica1, ClusterNode::replica2, ClusterNode::primary},
                           "sslmode=disable&connect_timeout=2");
    CHECK(psql_url(url, "SELECT inet_server_port()").out ==
          fmt::format("{}\n", env.port(ClusterNode::primary)));

    FrozenNode frozen(env, ClusterNode::replica1);
    env.promote(ClusterNode::replica2);
    CHECK(psql_url(url, "SELECT inet_server_port()").out ==
          fmt::format("{}\n", env.port(ClusterNode::replica2)));
}

TEST_CASE("fence makes writes fail with 25006; unfence restores them", "[support][topology]") {
    const auto& env = cluster();
    TopologyGuard guard(env);
    env.psql(ClusterNode::primary,
             "DROP TABLE IF EXISTS topology_fenced; CREATE TABLE topology_fenced (v int)");

    env.fence(ClusterNode::primary, true);
    const auto refused = psql_node(ClusterNode::primary, "INSERT INTO topology_fenced VALUES (1)");
    CHECK(refused.exit_code != 0);
    CHECK_THAT(refused.err, Catch::Contains("25006"));
    CHECK(psql_node(ClusterNode::primary, "SELECT count(*) FROM topology_fenced").out == "0\n");

    env.fence(ClusterNode::primary, false);
    CHECK(psql_node(ClusterNode::primary, "INSERT INTO topology_fenced VALUES (1)").exit_code == 0);
    CHECK(env.psql(ClusterNode::primary, "SELECT count(*) FROM topology_fenced") == "1");

    // A replica may be fenced too (it already refuses writes; this is about the setting).
    env.fence(ClusterNode::replica2, true);
    CHECK(env.psql(ClusterNode::replica2, "SHOW default_transaction_read_only") == "on");
    CHECK_THROWS_AS(env.fence(ClusterNode::pgbouncer, true), ClusterError);
}

TEST_CASE("set_synchronous: a quorum standby, commits wait for one; none when off",
          "[support][topology]") {
    const auto& env = cluster();
    TopologyGuard guard(env);
    env.psql(ClusterNode::primary,
             "DROP TABLE IF EXISTS topology_sync; CREATE TABLE topology_sync (v int)");

    env.set_synchronous(true);
    const auto sync_standbys = [&] {
        return env.psql(ClusterNode::primary,
                        "SELECT count(*) FROM pg_stat_replication "
                        "WHERE sync_state IN ('sync', 'quorum')");
    };
    CHECK(sync_standbys() != "0");
    CHECK(env.psql(ClusterNode::primary, "SHOW synchronous_commit") == "on");
    CHECK(psql_node(ClusterNode::primary, "INSERT INTO topology_sync VALUES (1)").exit_code == 0);

    {
        // With both standbys hung, a commit waits for one of them; thawing one lets it finish.
        FrozenNode r1(env, ClusterNode::replica1);
        FrozenNode r2(env, ClusterNode::replica2);
        auto insert = std::async(std::launch::async, [] {
            return psql_node(ClusterNode::primary,
                             "SET application_name = 'topology_sync_waiter'; "
                             "INSERT INTO topology_sync VALUES (2)");
        });
        CHECK(eventually([&] {
            return env.psql(ClusterNode::primary,
                            "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                            "'topology_sync_waiter' AND wait_event = 'SyncRep'") == "1";
        }));
        CHECK(insert.wait_for(std::chrono::milliseconds(0)) == std::future_status::timeout);
        r2.thaw();
        CHECK(insert.get().exit_code == 0);
    }

    env.set_synchronous(false);
    CHECK(sync_standbys() == "0");
}
