#pragma once
/// @file stats.hpp
/// PoolStats: a pool's connection counts.

#include <cstddef>
#include <string>
#include <vector>

#include <sparc/db/hooks.hpp>

namespace sparc::db {

/// Connection counts, summed over the pool's hosts.
struct PoolStats {
    std::size_t total = 0;    ///< Open connections.
    std::size_t idle = 0;     ///< Open and not leased.
    std::size_t in_use = 0;   ///< Leased.
    std::size_t waiting = 0;  ///< Callers waiting for a connection.
    std::size_t max = 0;      ///< Most connections the pool may open.
    /// Counts for one host.
    struct Host {
        std::string host;
        HostRole role = HostRole::primary;
        std::size_t total = 0, idle = 0, in_use = 0, waiting = 0, max = 0;
    };
    std::vector<Host> hosts;  ///< Primary first, then replicas in configuration order.
};

}  // namespace sparc::db
