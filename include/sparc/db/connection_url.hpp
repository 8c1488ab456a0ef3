#pragma once
/// @file connection_url.hpp
/// Connection URLs that carry a pool's limits as libpq parameters, for tools and libraries
/// that take a URL rather than a PoolConfig (migration tools, psql, ORMs built on libpq).

#include <string>

#include <sparc/db/config.hpp>
#include <sparc/db/endpoint.hpp>

namespace sparc::db {

/// Which kind of server a connection URL is for.
enum class ServerRole {
    primary,  ///< Adds target_session_attrs=read-write: never write to a standby by mistake.
    replica,  ///< Read-only traffic; no target_session_attrs is added.
};

/// `server` with the pool's limits added as libpq options, each only when `server` does not set
/// it already:
/// - `connect_timeout`: connection_timeout in whole seconds, rounded up (libpq treats 1 as 2);
/// - `application_name`: config.application_name, else config.service_name;
/// - `options=-c statement_timeout=N` (milliseconds), appended to any `options` given, unless
///   they set statement_timeout already or config.pgbouncer_mode is on (PgBouncer refuses the
///   `options` startup parameter);
/// - `target_session_attrs=read-write` for ServerRole::primary.
Endpoint with_pool_limits(const PoolConfig& config, const Endpoint& server,
                          ServerRole role = ServerRole::primary);

/// The primary's URL with the pool's limits (see with_pool_limits()). Contains the password:
/// hand it to a client, never display it.
std::string connection_url(const PoolConfig& config);

/// connection_url() with every secret masked: for logs and messages.
std::string redacted_connection_url(const PoolConfig& config);

}  // namespace sparc::db
