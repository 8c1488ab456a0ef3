#pragma once
// Shared by the support library's own cluster tests: the fixture's cluster, and psql as the
// client (so no sparc code is involved in what they check).
#include "sparc_test/cluster_env.hpp"

#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace sparc::testing::psql_client {

/// The fixture's cluster, loaded once; psql takes its password from the environment, never
/// from a command line.
inline const ClusterEnv& cluster() {
    static const ClusterEnv env = [] {
        auto e = ClusterEnv::load();
        ::setenv("PGPASSWORD", e.password.c_str(), 1);
        return e;
    }();
    return env;
}

/// A URL to `port` on loopback as the cluster's user, without SSL.
inline std::string loopback_url(int port, int connect_timeout_s) {
    const auto& env = cluster();
    return fmt::format("postgresql://{}@127.0.0.1:{}/{}?sslmode=disable&connect_timeout={}",
                       env.user, port, env.database, connect_timeout_s);
}

/// psql to `url`, each statement sent as its own protocol message, stopping at the first
/// error; `verbose` puts SQLSTATEs in error messages.
inline CommandResult psql(const std::string& url, const std::vector<std::string>& statements,
                          bool verbose = false) {
    std::vector<std::string> argv{"psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"};
    if (verbose) {
        argv.emplace_back("-v");
        argv.emplace_back("VERBOSITY=verbose");
    }
    argv.push_back(url);
    for (const auto& s : statements) {
        argv.emplace_back("-c");
        argv.push_back(s);
    }
    return run_command(argv);
}

}  // namespace sparc::testing::psql_client
