// Must not compile: an enum passed as a statement parameter. Built by expect_error.cmake, which
// checks for one error, the static_assert's list of accepted types, and the type's name; with
// SPARC_EXPECT_OK the same call with a supported type must compile.
#include <sparc/db/params.hpp>

enum class Colour { red };

void run(sparc::db::ParamsRef params);

void caller() {
#ifdef SPARC_EXPECT_OK
    run({1, static_cast<int>(Colour::red), "x"});
#else
    run({1, Colour::red, "x"});
#endif
}
