// db::Database's code, compiled once: the explicit instantiations that database.hpp declares
// extern.
#include <sparc/db/database.hpp>

namespace sparc::db {

template class ConnectionPool<PqxxBackend>;
template class Lease<PqxxBackend>;
template class Transaction<PqxxBackend>;
template class detail::LeaseSession<PqxxBackend>;
template class detail::PoolCore<PqxxBackend>;
template class detail::HostPool<PqxxBackend>;

}  // namespace sparc::db
