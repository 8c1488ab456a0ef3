// The test support library against the real cluster: ClusterEnv node control and FaultProxy
// faults as PostgreSQL sees them (psql is the client, so no sparc code is involved).
#include "sparc_test/cluster_env.hpp"
#include "sparc_test/fault_proxy.hpp"

#include "psql_client.hpp"

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <catch2/catch.hpp>

using sparc::testing::ClusterEnv;
using sparc::testing::ClusterError;
using sparc::testing::ClusterNode;
using sparc::testing::CommandResult;
using sparc::testing::FaultProxy;
using sparc::testing::psql_client::cluster;
using sparc::testing::psql_client::loopback_url;
using sparc::testing::psql_client::psql;

namespace {

/// psql through the proxy.
CommandResult psql_via(const FaultProxy& proxy, const std::vector<std::string>& statements) {
    return psql(loopback_url(proxy.port(), 10), statements);
}

std::string count_rows(const std::string& table) {
    return cluster().psql(ClusterNode::primary, "SELECT count(*) FROM " + table);
}

}  // namespace

TEST_CASE("ClusterEnv sees a primary, two replicas and PgBouncer", "[support][cluster]") {
    const auto& env = cluster();
    CHECK(env.psql(ClusterNode::primary, "SELECT pg_is_in_recovery()") == "f");
    CHECK(env.psql(ClusterNode::replica1, "SELECT pg_is_in_recovery()") == "t");
    CHECK(env.psql(ClusterNode::replica2, "SELECT pg_is_in_recovery()") == "t");
    CHECK(env.psql(ClusterNode::pgbouncer, "SELECT 1") == "1");
    CHECK_THROWS_AS(env.psql(ClusterNode::primary, "SELECT 1/0"), ClusterError);
}

TEST_CASE("FaultProxy cut_after_client_sends: the server commits, the client never hears",
          "[support][cluster][fault_proxy]") {
    const auto& env = cluster();
    env.psql(ClusterNode::primary,
             "DROP TABLE IF EXISTS support_cut_after; CREATE TABLE support_cut_after (v int)");
    FaultProxy proxy("127.0.0.1", env.port(ClusterNode::primary));
    REQUIRE(psql_via(proxy, {"SELECT 1"}).out == "1\n");

    proxy.cut_after_client_sends("COMMIT");
    const auto r = psql_via(proxy, {"BEGIN", "INSERT INTO support_cut_after VALUES (1)", "COMMIT"});
    CHECK(r.exit_code != 0);
    CHECK(proxy.triggers_fired() == 1);
    CHECK(count_rows("support_cut_after") == "1");
}

TEST_CASE("FaultProxy cut_before_client_sends: the transaction never commits",
          "[support][cluster][fault_proxy]") {
    const auto& env = cluster();
    env.psql(ClusterNode::primary,
             "DROP TABLE IF EXISTS support_cut_before; CREATE TABLE support_cut_before (v int)");
    FaultProxy proxy("127.0.0.1", env.port(ClusterNode::primary));
    proxy.cut_before_client_sends("COMMIT");
    const auto r =
        psql_via(proxy, {"BEGIN", "INSERT INTO support_cut_before VALUES (1)", "COMMIT"});
    CHECK(r.exit_code != 0);
    CHECK(proxy.triggers_fired() == 1);
    CHECK(count_rows("support_cut_before") == "0");
}

TEST_CASE("FaultProxy refuse_new and cut_all against PostgreSQL",
          "[support][cluster][fault_proxy]") {
    const auto& env = cluster();
    FaultProxy proxy("127.0.0.1", env.port(ClusterNode::primary));
    proxy.refuse_new(true);
    const auto refused = psql_via(proxy, {"SELECT 1"});
    CHECK(refused.exit_code != 0);
    CHECK_THAT(refused.err, Catch::Contains("refused"));
    CHECK(refused.err.find(env.password) == std::string::npos);
    proxy.refuse_new(false);
    CHECK(psql_via(proxy, {"SELECT 1"}).out == "1\n");
    // psql has exited; the proxy closes both sides once the server closes its own.
    for (int i = 0; i < 500 && proxy.connections() != 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(proxy.connections() == 0);
    proxy.cut_all();  // with nothing open, a no-op
    CHECK(psql_via(proxy, {"SELECT 2"}).out == "2\n");
}

TEST_CASE("StoppedNode stops a replica for a scope", "[support][cluster]") {
    const auto& env = cluster();
    {
        sparc::testing::StoppedNode down(env, ClusterNode::replica2, /*immediate=*/true);
        CHECK_THROWS_AS(env.psql(ClusterNode::replica2, "SELECT 1"), ClusterError);
        CHECK(env.psql(ClusterNode::replica1, "SELECT 1") == "1");
    }
    CHECK(env.psql(ClusterNode::replica2, "SELECT status FROM pg_stat_wal_receiver") ==
          "streaming");
}
