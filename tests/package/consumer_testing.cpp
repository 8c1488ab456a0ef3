// Tests service code the way a user does: the fake backend from sparc::db_testing.
#include <sparc/db.hpp>
#include <sparc/db/testing/fake_backend.hpp>

#include <cstdint>
#include <cstdio>

namespace db = sparc::db;

int main() {
    db::testing::FakeBackend fake;
    fake.on("SELECT count(*) FROM videos WHERE tenant_id = $1").returns({"count"}, {{"3"}});
    db::PoolConfig cfg;
    cfg.primary = db::Endpoint::parse("postgresql://u@primary/db");
    db::ConnectionPool<db::testing::FakeBackend> pool(cfg, fake);
    const auto n = pool.transaction([](auto& tx) {
        return tx.query("SELECT count(*) FROM videos WHERE tenant_id = $1", {std::int64_t{7}})[0][0]
            .template as<std::int64_t>();
    });
    if (n != 3 || fake.count("SELECT count(*) FROM videos WHERE tenant_id = $1") != 1) {
        std::fprintf(stderr, "unexpected count from the fake backend: %lld\n",
                     static_cast<long long>(n));
        return 1;
    }
    std::printf("sparc testing consumer: %lld videos\n", static_cast<long long>(n));
    return 0;
}
