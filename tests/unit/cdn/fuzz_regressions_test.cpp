// Inputs the fuzz targets (tests/fuzz/) found mishandled, kept as regression tests. Each input
// is also in the fuzzer's seed corpus, tests/fuzz/corpus/<fuzzer>/.

#include "support.hpp"

namespace cdn = sparc::cdn;

// fuzz_cdn_json: nlohmann reports a number too large for a double as out_of_range (406), not
// parse_error, and parse_json let it escape instead of throwing JsonError.
TEST_CASE("parse_json reports an overflowing number as JsonError", "[cdn][json][fuzz]") {
    CHECK_THROWS_AS(cdn::parse_json("1e400"), cdn::JsonError);
    CHECK_THROWS_WITH(cdn::parse_json(R"({"CacheBehaviors": {"Items": [{"ConnectionTimeout": )"
                                      R"(8738e2966}], "Quantity": 1}})"),
                      Catch::Contains("not valid JSON") && Catch::Contains("8738e2966"));
    CHECK_THROWS_AS(cdn::parse_json(R"({"Threshold": -1e309})"), cdn::JsonError);
    // The largest finite doubles still parse.
    CHECK(cdn::parse_json("1.7976931348623157e308").get<double>() > 1e308);
}
