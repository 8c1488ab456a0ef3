#include <sparc/db/registry.hpp>
// Implemented by the configuration work.
