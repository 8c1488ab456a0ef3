#pragma once
/// @file database.hpp
/// db::Database, the production pool: ConnectionPool over PqxxBackend, compiled once in the
/// sparc::db library. A file that includes this header and uses db::Database compiles none
/// of the pool's logic: the explicit instantiations below are in src/db/database.cpp.

#include <sparc/db/connection_pool.hpp>
#include <sparc/db/pqxx_backend.hpp>

namespace sparc::db {

/// The production pool: PostgreSQL through libpqxx.
using Database = ConnectionPool<PqxxBackend>;

extern template class ConnectionPool<PqxxBackend>;
extern template class Lease<PqxxBackend>;
extern template class Transaction<PqxxBackend>;

}  // namespace sparc::db
