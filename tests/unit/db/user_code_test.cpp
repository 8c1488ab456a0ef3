// The service function of tests/shared/user_code.hpp on the fake backend; the integration
// tests run the very same function on PostgreSQL.

#include <catch2/catch.hpp>

#include "shared/user_code.hpp"
#include "test_util.hpp"

namespace db = sparc::db;
using db::test::fake_config;
using db::test::FakePool;

TEST_CASE("user code written against ConnectionPool<B>& runs on the fake backend",
          "[db][fake][user_code]") {
    db::testing::FakeBackend fake;
    fake.on_prefix("INSERT INTO view_log").affects(1);
    fake.on("SELECT views FROM view_counts WHERE id = $1").returns({"views"}, {{"8"}});
    FakePool pool(fake_config(), fake);
    SECTION("a new view is counted in one transaction on the primary") {
        REQUIRE(sparc::example::record_view(pool, 1, 10, 100) == 8);
        const auto calls = fake.calls();
        REQUIRE(calls.size() == 5);  // BEGIN, INSERT, UPDATE, SELECT, COMMIT
        for (const auto& c : calls) REQUIRE(c.host == "primary");
        REQUIRE(calls[1].params == std::vector<std::optional<std::string>>{"100", "1", "10"});
        REQUIRE(calls[2].sql == "UPDATE view_counts SET views = views + 1 WHERE id = $1");
        REQUIRE(calls[4].sql == "COMMIT");
    }
    SECTION("a serialization failure reruns it, and the view is still counted once") {
        fake.on_prefix("UPDATE view_counts").times(1).fails("40001", "could not serialize access");
        REQUIRE(sparc::example::record_view(pool, 1, 10, 100) == 8);
        REQUIRE(fake.count("COMMIT") == 1);
        REQUIRE(fake.count("ROLLBACK") == 1);
    }
}
