// Must not compile: a field read as an enum. See unsupported_param.cpp.
#include <sparc/db/result.hpp>

enum class Colour { red };

void read(const sparc::db::Field& field) {
#ifdef SPARC_EXPECT_OK
    (void)field.as<int>();
#else
    (void)field.as<Colour>();
#endif
}
