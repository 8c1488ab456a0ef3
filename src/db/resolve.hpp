#pragma once
// Host name lookups bounded by a deadline, for the pool's connects and the listener's.

#include <atomic>
#include <string>
#include <vector>

#include <sparc/db/backend.hpp>
#include <sparc/db/endpoint.hpp>

namespace sparc::db::detail {

/// The connect attempts for one host of an endpoint (split_hosts()): a host name is looked up
/// here, within `deadline`, and each of its addresses becomes an attempt of its own (the name
/// kept in `host` and the address set in `hostaddr`, as libpq tries them). A numeric address, a
/// socket directory, a set hostaddr or no host at all gives `{host}` unchanged. libpq resolves
/// inside PQconnectStart, which no deadline bounds: this lookup runs on a thread of its own, and
/// one still running at the deadline finishes in the background and is forgotten.
/// @throws ConnectionError naming the host when the name does not resolve (in time), or when
/// `*abandon` turned true meanwhile (`abandoned` is then the message).
std::vector<Endpoint> resolve_attempts(
    const Endpoint& host, Clock::time_point deadline, const std::atomic<bool>* abandon,
    const char* abandoned = "abandoned: the pool is shutting down");

}  // namespace sparc::db::detail
