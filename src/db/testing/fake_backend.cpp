// The pool over the fake backend, compiled once: the explicit instantiations that
// fake_backend.hpp declares extern.
#include <sparc/db/testing/fake_backend.hpp>

namespace sparc::db {

template class ConnectionPool<testing::FakeBackend>;
template class Lease<testing::FakeBackend>;
template class Transaction<testing::FakeBackend>;
template class detail::LeaseSession<testing::FakeBackend>;
template class detail::PoolCore<testing::FakeBackend>;
template class detail::HostPool<testing::FakeBackend>;

}  // namespace sparc::db
