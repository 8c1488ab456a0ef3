#include <sparc/db.hpp>
#include <sparc/db/testing/fake_backend.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

namespace db = sparc::db;
using namespace std::chrono_literals;
using Pool = db::ConnectionPool<db::testing::FakeBackend>;

namespace {

constexpr const char* kPrimary = R"(service="videos",role="primary",host="primary:5432/app")";
constexpr const char* kReplica = R"(service="videos",role="replica",host="replica1:5432/app")";

db::PoolConfig config(std::size_t max = 4, bool replica = false) {
    db::PoolConfig cfg;
    cfg.service_name = "videos";
    cfg.primary = db::Endpoint::parse("postgresql://app:hunter2-secret@primary:5432/app");
    if (replica) {
        cfg.replicas = {
            {db::Endpoint::parse("postgresql://app:hunter2-secret@replica1:5432/app"), 1}};
    }
    cfg.min_connections = 0;
    cfg.max_connections = max;
    cfg.connection_timeout = 1s;
    cfg.statement_timeout = 100ms;
    cfg.query_timeout = 1s;
    cfg.health_check_period = 20ms;
    return cfg;
}

// One exposition parsed: "name{labels}" -> value, plus the families' HELP and TYPE lines.
struct Exposition {
    std::map<std::string, double> samples;
    std::map<std::string, std::string> types;
    std::set<std::string> helps;
    std::vector<std::string> order;  // sample keys in output order

    explicit Exposition(const std::string& text) {
        std::istringstream in(text);
        std::string line;
        while (std::getline(in, line)) {
            if (line.starts_with("# HELP ")) {
                helps.insert(line.substr(7, line.find(' ', 7) - 7));
            } else if (line.starts_with("# TYPE ")) {
                const auto rest = line.substr(7);
                const auto space = rest.find(' ');
                types[rest.substr(0, space)] = rest.substr(space + 1);
            } else if (!line.empty()) {
                const auto space = line.rfind(' ');
                const auto key = line.substr(0, space);
                const auto value = line.substr(space + 1);
                samples[key] = value == "+Inf" ? 1e300 : std::stod(value);
                order.push_back(key);
            }
        }
    }

    double get(const std::string& name, const std::string& labels) const {
        const auto it = samples.find(name + "{" + labels + "}");
        if (it == samples.end()) FAIL("no sample " << name << "{" << labels << "}");
        return it->second;
    }
    bool has(const std::string& name, const std::string& labels) const {
        return samples.contains(name + "{" + labels + "}");
    }
    std::set<std::string> names() const {
        std::set<std::string> out;
        for (const auto& [key, value] : samples) out.insert(key.substr(0, key.find('{')));
        return out;
    }
};

std::string with(const char* host, const std::string& extra) {
    return std::string(host) + "," + extra;
}

template <typename Pred>
bool eventually_30s(Pred pred, std::chrono::milliseconds limit = 30s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
        if (pred()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return pred();
}

}  // namespace

TEST_CASE("metrics_text counts statements by outcome and errors by SQLSTATE class",
          "[db][metrics]") {
    db::testing::FakeBackend fake;
    fake.on_prefix("INSERT INTO dup").fails("23505", "duplicate key value");
    fake.on_prefix("SELECT * FROM missing").fails("42P01", "relation does not exist");
    fake.on_prefix("SELECT pg_sleep").delays(5s);
    Pool pool(config(), fake);

    const Exposition before(pool.metrics_text());
    for (int i = 0; i < 3; ++i) pool.query("SELECT 1");
    CHECK_THROWS_AS(pool.query("INSERT INTO dup VALUES (1)"), db::SqlError);
    CHECK_THROWS_AS(pool.query("INSERT INTO dup VALUES (2)"), db::SqlError);
    CHECK_THROWS_AS(pool.query("SELECT * FROM missing"), db::SqlError);
    CHECK_THROWS_AS(pool.query("SELECT pg_sleep(5)"), db::QueryTimeout);
    const Exposition after(pool.metrics_text());

    const auto delta = [&](const std::string& name, const std::string& labels) {
        const double was = before.has(name, labels) ? before.get(name, labels) : 0.0;
        return after.get(name, labels) - was;
    };
    CHECK(delta("sparc_db_queries_total", with(kPrimary, R"(outcome="ok")")) == 3);
    CHECK(delta("sparc_db_queries_total", with(kPrimary, R"(outcome="sql_error")")) == 3);
    CHECK(delta("sparc_db_queries_total", with(kPrimary, R"(outcome="timeout")")) == 1);
    CHECK(delta("sparc_db_queries_total", with(kPrimary, R"(outcome="connection_error")")) == 0);
    CHECK(after.get("sparc_db_query_errors_total", with(kPrimary, R"(sqlstate_class="23")")) == 2);
    CHECK(after.get("sparc_db_query_errors_total", with(kPrimary, R"(sqlstate_class="42")")) == 1);
    CHECK(after.get("sparc_db_query_errors_total", with(kPrimary, R"(sqlstate_class="57")")) == 1);
    CHECK(delta("sparc_db_query_duration_seconds_count", kPrimary) == 7);
    CHECK(after.get("sparc_db_query_duration_seconds_sum", kPrimary) >= 0.1);
    CHECK(after.get("sparc_db_connections_opened_total", kPrimary) >= 1);
}

TEST_CASE("metrics_text shows leased connections, waiters, utilisation and pool timeouts",
          "[db][metrics]") {
    db::testing::FakeBackend fake;
    Pool pool(config(2), fake);
    {
        auto a = pool.acquire();
        auto b = pool.acquire();
        const Exposition full(pool.metrics_text());
        CHECK(full.get("sparc_db_connections", with(kPrimary, R"(state="in_use")")) == 2);
        CHECK(full.get("sparc_db_connections", with(kPrimary, R"(state="idle")")) == 0);
        CHECK(full.get("sparc_db_connections_max", kPrimary) == 2);
        CHECK(full.get("sparc_db_pool_utilization_ratio", kPrimary) == 1.0);

        // Catch2 assertions are not thread-safe: the waiter only records what it got.
        std::atomic<bool> waiter_closed{false};
        std::thread waiter([&] {
            try {
                pool.acquire({.timeout = 10s});
            } catch (const db::PoolClosed&) {
                waiter_closed = true;
            }
        });
        REQUIRE(eventually_30s([&] { return pool.stats().waiting == 1; }));
        CHECK(Exposition(pool.metrics_text()).get("sparc_db_waiting_requests", kPrimary) == 1);
        CHECK_THROWS_AS(pool.acquire({.timeout = 20ms}), db::PoolTimeout);
        pool.shutdown(0ms);  // fails the waiter with PoolClosed
        waiter.join();
        CHECK(waiter_closed);
    }
    const Exposition after(pool.metrics_text());
    CHECK(after.get("sparc_db_pool_timeouts_total", kPrimary) == 1);
    CHECK(after.get("sparc_db_waiting_requests", kPrimary) == 0);
    CHECK(after.get("sparc_db_acquire_wait_seconds_count", kPrimary) == 2);
}

TEST_CASE("metrics_text counts transaction outcomes and retries by reason", "[db][metrics]") {
    db::testing::FakeBackend fake;
    fake.on_prefix("UPDATE counters").affects(1);
    fake.on_prefix("UPDATE counters").times(2).fails("40001", "could not serialize access");
    fake.on_prefix("UPDATE broken").fails("40P01", "deadlock detected");
    Pool pool(config(), fake);

    pool.transaction([](auto& tx) { tx.query("UPDATE counters SET n = n + 1"); });
    CHECK_THROWS_AS(pool.transaction([](auto& tx) { tx.query("UPDATE broken SET n = 1"); },
                                     {.retries = 1, .backoff_base = 1ms}),
                    db::SqlError);
    CHECK_THROWS_AS(pool.transaction([](auto&) -> int { throw std::runtime_error("app bug"); }),
                    std::runtime_error);
    fake.fail_next_commit(db::testing::CommitFailure::after_send);
    CHECK_THROWS_AS(pool.transaction([](auto& tx) { tx.query("UPDATE counters SET n = 2"); }),
                    db::TransactionOutcomeUnknown);

    const Exposition e(pool.metrics_text());
    const std::string svc = R"(service="videos")";
    CHECK(e.get("sparc_db_transactions_total", svc + R"(,outcome="committed")") == 1);
    CHECK(e.get("sparc_db_transactions_total", svc + R"(,outcome="failed")") == 1);
    CHECK(e.get("sparc_db_transactions_total", svc + R"(,outcome="rolled_back")") == 1);
    CHECK(e.get("sparc_db_transactions_total", svc + R"(,outcome="unknown")") == 1);
    CHECK(e.get("sparc_db_transaction_retries_total", svc + R"(,reason="serialization_failure")") ==
          2);
    CHECK(e.get("sparc_db_transaction_retries_total", svc + R"(,reason="deadlock")") == 1);
    CHECK(e.get("sparc_db_transaction_retries_total", svc + R"(,reason="connection_lost")") == 0);
    CHECK(e.get("sparc_db_transaction_duration_seconds_count", svc) == 4);
    CHECK(e.get("sparc_db_queries_total", with(kPrimary, R"(outcome="connection_error")")) == 1);
}

TEST_CASE("metrics_text reports replica state, lag and host_up", "[db][metrics]") {
    db::testing::FakeBackend fake;
    fake.primary("primary");
    fake.replica("replica1").lag(250ms);
    Pool pool(config(4, true), fake);

    REQUIRE(eventually_30s([&] {
        return Exposition(pool.metrics_text()).get("sparc_db_replication_lag_seconds", kReplica) ==
               0.25;
    }));
    const Exposition up(pool.metrics_text());
    CHECK(up.get("sparc_db_host_up", kReplica) == 1);
    CHECK(up.get("sparc_db_host_up", kPrimary) == 1);
    CHECK(up.get("sparc_db_host_in_recovery", kReplica) == 1);
    CHECK(up.get("sparc_db_host_in_recovery", kPrimary) == 0);
    CHECK_FALSE(up.has("sparc_db_replication_lag_seconds", kPrimary));

    pool.query("SELECT 1", {}, {.use_read_replica = true});
    CHECK(Exposition(pool.metrics_text())
              .get("sparc_db_queries_total", with(kReplica, R"(outcome="ok")")) == 1);

    fake.host("replica1").down();
    REQUIRE(eventually_30s(
        [&] { return Exposition(pool.metrics_text()).get("sparc_db_host_up", kReplica) == 0; }));
    fake.host("replica1").up();
    REQUIRE(eventually_30s(
        [&] { return Exposition(pool.metrics_text()).get("sparc_db_host_up", kReplica) == 1; }));
}

TEST_CASE("metrics_text histograms are cumulative and end in +Inf equal to _count",
          "[db][metrics]") {
    db::testing::FakeBackend fake;
    fake.on_prefix("SELECT slow").delays(30ms);
    Pool pool(config(), fake);
    // The pool times a statement inside the call, so a call the test saw end within 25 ms was
    // observed within 25 ms (a stalled machine can make a fast one slower, never a slow one
    // faster).
    int fast_within_bound = 0;
    for (int i = 0; i < 5; ++i) {
        const auto start = std::chrono::steady_clock::now();
        pool.query("SELECT 1");
        if (std::chrono::steady_clock::now() - start <= 25ms) ++fast_within_bound;
    }
    for (int i = 0; i < 2; ++i) pool.query("SELECT slow");

    const auto text = pool.metrics_text();
    const Exposition e(text);
    for (const auto& [family, labels] :
         {std::pair{std::string("sparc_db_query_duration_seconds"), std::string(kPrimary)},
          std::pair{std::string("sparc_db_acquire_wait_seconds"), std::string(kPrimary)}}) {
        std::vector<double> counts;
        std::vector<double> bounds;
        std::string prefix = family;
        prefix += "_bucket{" + labels + ",le=\"";
        for (const auto& key : e.order) {
            if (!key.starts_with(prefix)) continue;
            const auto le = key.substr(prefix.size(), key.size() - prefix.size() - 2);
            bounds.push_back(le == "+Inf" ? 1e300 : std::stod(le));
            counts.push_back(e.samples.at(key));
        }
        REQUIRE(counts.size() == db::Histogram::kBounds.size() + 1);
        CHECK(std::is_sorted(bounds.begin(), bounds.end()));
        CHECK(std::is_sorted(counts.begin(), counts.end()));
        CHECK(counts.back() == e.get(family + "_count", labels));
    }
    CHECK(e.get("sparc_db_query_duration_seconds_count", kPrimary) == 7);
    // The two slow statements sit above the 25 ms bound, the fast ones below it (all five of
    // them unless the machine stalled one).
    INFO(fast_within_bound << " of 5 fast statements returned within 25 ms");
    CHECK(e.get("sparc_db_query_duration_seconds_bucket", with(kPrimary, R"(le="0.025")")) <= 5);
    CHECK(e.get("sparc_db_query_duration_seconds_bucket", with(kPrimary, R"(le="0.025")")) >=
          fast_within_bound);
    CHECK(e.get("sparc_db_query_duration_seconds_bucket", with(kPrimary, R"(le="+Inf")")) == 7);
    CHECK(e.get("sparc_db_query_duration_seconds_sum", kPrimary) >= 0.06);
}

TEST_CASE("metrics_text has HELP and TYPE for every exported family and nothing else",
          "[db][metrics]") {
    db::testing::FakeBackend fake;
    fake.on_prefix("INSERT INTO dup").fails("23505");
    Pool pool(config(4, true), fake);
    pool.query("SELECT 1");
    CHECK_THROWS(pool.query("INSERT INTO dup VALUES (1)"));
    REQUIRE(eventually_30s([&] {
        return Exposition(pool.metrics_text()).has("sparc_db_replication_lag_seconds", kReplica);
    }));

    const Exposition e(pool.metrics_text());
    for (const auto& f : db::kMetricFamilies) {
        INFO(f.name);
        CHECK(e.helps.contains(std::string(f.name)));
        CHECK(e.types.at(std::string(f.name)) == db::to_string(f.type));
        if (f.type == db::MetricType::counter) CHECK(f.name.ends_with("_total"));
        if (f.type == db::MetricType::histogram) CHECK(f.name.ends_with("_seconds"));
    }
    CHECK(e.types.size() == db::kMetricFamilies.size());
    const auto exported = db::exported_metric_names();
    CHECK(e.names() == std::set<std::string>(exported.begin(), exported.end()));
}

TEST_CASE("metrics_text never contains a password and escapes label values", "[db][metrics]") {
    db::testing::FakeBackend fake;
    fake.host("primary").refuse_connections();
    auto cfg = config(4, true);
    cfg.connection_timeout = 50ms;
    Pool pool(cfg, fake);
    CHECK_THROWS(pool.query("SELECT 1"));
    const auto text = pool.metrics_text();
    CHECK(text.find("hunter2") == std::string::npos);
    CHECK(text.find("primary:5432/app") != std::string::npos);
    CHECK(Exposition(text).get("sparc_db_connection_errors_total", kPrimary) >= 1);

    db::PoolMetrics pool_metrics;
    db::HostMetrics host_metrics;
    db::HostSnapshot snap;
    snap.label = "db\"1\\x\ny:5432/app";
    snap.metrics = &host_metrics;
    const auto escaped = db::render_prometheus("svc\"a", {snap}, pool_metrics);
    CHECK(escaped.find(R"(service="svc\"a")") != std::string::npos);
    CHECK(escaped.find(R"(host="db\"1\\x\ny:5432/app")") != std::string::npos);
}

TEST_CASE("Histogram buckets observations by upper bound", "[db][metrics]") {
    db::Histogram h;
    h.observe(200us);  // <= 0.0005
    h.observe(40ms);   // <= 0.05
    h.observe(50ms);   // <= 0.05 (bounds are inclusive)
    h.observe(20s);    // +Inf
    const auto b = h.buckets();
    CHECK(b[0] == 1);
    CHECK(b[6] == 2);
    CHECK(b.back() == 1);
    CHECK(h.count() == 4);
    CHECK(h.sum_seconds() == Approx(20.0902));
    CHECK(h.quantile(0.5) <= 0.05);
    CHECK(h.quantile(0.5) > 0.025);
}

TEST_CASE("Counter and Histogram lose no count when threads record at once", "[db][metrics]") {
    // Threads beyond the number of shards share them: gather threads on this thread's shard
    // (threads take shards in turn) and let them record at once, 24 threads in all.
    constexpr int kSharing = 8;
    const int threads = static_cast<int>(db::detail::kMetricShards) + 8;
    constexpr int kRecords = 300'000;
    const std::size_t shard = db::detail::metric_shard();
    db::Counter counter;
    db::Histogram histogram;
    // How many threads to start at most, and how many of those recording are on this thread's
    // shard and elsewhere.
    const int most = 64 * static_cast<int>(db::detail::kMetricShards);
    int sharing = 0;
    int others = 0;
    std::vector<char> chosen(static_cast<std::size_t>(most));
    std::atomic<int> decided{0};
    std::atomic<bool> go{false};
    auto record = [&](int t) {
        // Each thread its own bucket (up to the last), and three observations in it per loop.
        const auto took = std::chrono::microseconds(400) * (1 << std::min(t, 15));
        for (int i = 0; i < kRecords; ++i) {
            counter.add();
            histogram.observe(took);
            histogram.observe(took, 2);
            counter.add(3);
        }
    };
    std::vector<std::thread> workers;
    std::vector<int> recorders;  // the threads that record, by index
    for (int t = 0; t < most && static_cast<int>(recorders.size()) < threads; ++t) {
        workers.emplace_back([&, t] {
            // One thread decides at a time. On this shard: one of the sharing threads while
            // they are too few; elsewhere, one of the others while they are too few.
            bool mine = false;
            if (db::detail::metric_shard() == shard) {
                mine = sharing < kSharing;
                if (mine) ++sharing;
            } else {
                mine = others < threads - kSharing;
                if (mine) ++others;
            }
            chosen[static_cast<std::size_t>(t)] = mine ? 1 : 0;
            ++decided;
            decided.notify_one();
            if (!mine) return;
            while (!go) std::this_thread::yield();
            record(t);
        });
        while (decided.load() < t + 1) decided.wait(t);
        if (chosen[static_cast<std::size_t>(t)] != 0) recorders.push_back(t);
    }
    REQUIRE(sharing == kSharing);
    REQUIRE(static_cast<int>(recorders.size()) == threads);
    go = true;
    for (auto& w : workers) w.join();

    CHECK(counter.value() == std::uint64_t{4} * threads * kRecords);
    CHECK(histogram.count() == std::uint64_t{3} * threads * kRecords);
    std::array<std::uint64_t, db::Histogram::kBounds.size() + 1> expected{};
    std::uint64_t sum_ns = 0;
    for (int t : recorders) {
        const auto took = std::chrono::microseconds(400) * (1 << std::min(t, 15));
        const double s = std::chrono::duration<double>(took).count();
        std::size_t i = 0;
        while (i < db::Histogram::kBounds.size() && s > db::Histogram::kBounds[i]) ++i;
        expected[i] += std::uint64_t{3} * kRecords;
        sum_ns += static_cast<std::uint64_t>(std::chrono::nanoseconds(took).count()) * 3 * kRecords;
    }
    CHECK(histogram.buckets() == expected);
    CHECK(histogram.sum_seconds() == static_cast<double>(sum_ns) * 1e-9);
}

TEST_CASE("metrics_text can be scraped while the pool is busy and loses no count",
          "[db][metrics]") {
    db::testing::FakeBackend fake;
    Pool pool(config(3), fake);
    constexpr int kThreads = 4;
    constexpr int kQueries = 200;
    std::atomic<bool> done{false};
    std::atomic<int> scrapes{0};
    std::atomic<int> bad_scrapes{0};
    std::thread scraper([&] {
        // Counters never go backwards between scrapes, nor past what was run.
        double last = 0;
        while (!done) {
            const Exposition e(pool.metrics_text());
            const auto ok = e.samples.at(std::string("sparc_db_queries_total{") + kPrimary +
                                         R"(,outcome="ok"})");
            if (ok < last || ok > kThreads * kQueries) ++bad_scrapes;
            last = ok;
            ++scrapes;
        }
    });
    std::vector<std::thread> workers;
    for (int t = 0; t < kThreads; ++t) {
        workers.emplace_back([&] {
            for (int i = 0; i < kQueries; ++i) pool.query("SELECT 1");
        });
    }
    for (auto& w : workers) w.join();
    done = true;
    scraper.join();
    CHECK(scrapes > 0);
    CHECK(bad_scrapes == 0);
    const Exposition e(pool.metrics_text());
    CHECK(e.get("sparc_db_queries_total", with(kPrimary, R"(outcome="ok")")) ==
          kThreads * kQueries);
    CHECK(e.get("sparc_db_query_duration_seconds_count", kPrimary) == kThreads * kQueries);
    CHECK(e.get("sparc_db_acquire_wait_seconds_count", kPrimary) == kThreads * kQueries);
    // Every lease was returned (a health check may hold a connection for a moment).
    CHECK(eventually_30s([&] {
        return Exposition(pool.metrics_text())
                   .get("sparc_db_connections", with(kPrimary, R"(state="in_use")")) == 0;
    }));
}
