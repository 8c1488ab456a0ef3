// db::Database's code, compiled once: the explicit instantiations that database.hpp declares
// extern, with the pool's logic from pool.hpp.
#include <sparc/db/database.hpp>
#include <sparc/db/pool.hpp>

namespace sparc::db {

template class ConnectionPool<PqxxBackend>;
template class Lease<PqxxBackend>;
template class Transaction<PqxxBackend>;
template class detail::LeaseSession<PqxxBackend>;
template class detail::PoolCore<PqxxBackend>;
template class detail::HostPool<PqxxBackend>;

}  // namespace sparc::db
