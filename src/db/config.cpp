#include <sparc/db/config.hpp>
#include <sparc/db/errors.hpp>

namespace sparc::db {
void PoolConfig::validate() const {
    if (max_connections == 0) throw ConfigError("max_connections must be at least 1");
    if (min_connections > max_connections) {
        throw ConfigError("min_connections must not exceed max_connections");
    }
}
}  // namespace sparc::db
