#pragma once
/// @file db.hpp
/// Umbrella header for sparc::db: the connection pool, its configuration and its backends.
/// db::Database's code is compiled in the library; a pool over another backend also includes
/// <sparc/db/pool.hpp> (the fake backend's header does). The dashboard and alert-rule generators
/// are in <sparc/db/monitoring.hpp>, left out here for the <filesystem> they bring.

#include <sparc/db/backend.hpp>
#include <sparc/db/client.hpp>
#include <sparc/db/config.hpp>
#include <sparc/db/connection_pool.hpp>
#include <sparc/db/connection_url.hpp>
#include <sparc/db/copy.hpp>
#include <sparc/db/database.hpp>
#include <sparc/db/endpoint.hpp>
#include <sparc/db/errors.hpp>
#include <sparc/db/health.hpp>
#include <sparc/db/hooks.hpp>
#include <sparc/db/listener.hpp>
#include <sparc/db/metrics.hpp>
#include <sparc/db/options.hpp>
#include <sparc/db/params.hpp>
#include <sparc/db/pqxx_backend.hpp>
#include <sparc/db/registry.hpp>
#include <sparc/db/result.hpp>
#include <sparc/db/retry.hpp>
#include <sparc/db/router.hpp>
#include <sparc/db/safety.hpp>
#include <sparc/db/stats.hpp>
#include <sparc/db/traits.hpp>
#include <sparc/db/types.hpp>
#include <sparc/db/uuid.hpp>
