#include <sparc/db.hpp>
#include <sparc/db/prometheus.hpp>
#include <sparc/db/testing/fake_backend.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <prometheus/exposer.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <catch2/catch.hpp>

namespace db = sparc::db;
using namespace std::chrono_literals;

namespace {

// Samples of one exposition, keyed by name and sorted labels: label order may differ between
// writers, values may not.
struct Samples {
    std::map<std::string, double> values;
    std::map<std::string, std::string> types;

    explicit Samples(const std::string& text) {
        std::istringstream in(text);
        std::string line;
        while (std::getline(in, line)) {
            if (line.starts_with("# TYPE ")) {
                const auto rest = line.substr(7);
                types[rest.substr(0, rest.find(' '))] = rest.substr(rest.find(' ') + 1);
                continue;
            }
            if (line.empty() || line[0] == '#' || !line.starts_with("sparc_db_")) continue;
            const auto brace = line.find('{');
            const auto close = line.rfind('}');
            std::string name = line.substr(0, brace);
            std::vector<std::string> labels;
            if (brace != std::string::npos) {
                std::string inner = line.substr(brace + 1, close - brace - 1);
                std::string current;
                bool quoted = false;
                for (std::size_t i = 0; i < inner.size(); ++i) {
                    const char c = inner[i];
                    if (c == '\\' && i + 1 < inner.size()) {
                        current += c;
                        current += inner[++i];
                    } else if (c == '"') {
                        quoted = !quoted;
                        current += c;
                    } else if (c == ',' && !quoted) {
                        labels.push_back(current);
                        current.clear();
                    } else {
                        current += c;
                    }
                }
                if (!current.empty()) labels.push_back(current);
            }
            std::sort(labels.begin(), labels.end());
            std::string key = name + "{";
            for (const auto& l : labels) key += l + ",";
            key += "}";
            auto value = line.substr(line.rfind(' ') + 1);
            values[key] = value == "+Inf" ? 1e308 : std::stod(value);
        }
    }
};

db::PoolConfig config() {
    db::PoolConfig cfg;
    cfg.service_name = "videos";
    cfg.primary = db::Endpoint::parse("postgresql://app:hunter2@primary/app");
    cfg.replicas = {{db::Endpoint::parse("postgresql://app:hunter2@replica1/app"), 1}};
    cfg.min_connections = 0;
    cfg.statement_timeout = 100ms;
    cfg.query_timeout = 1s;
    cfg.health_check_period = 20ms;
    return cfg;
}

}  // namespace

TEST_CASE("the prometheus-cpp collector serves the pool's metrics over a real Exposer",
          "[db][metrics][prometheus]") {
    db::testing::FakeBackend fake;
    fake.replica("replica1");
    fake.on_prefix("INSERT INTO dup").fails("23505");
    db::ConnectionPool<db::testing::FakeBackend> pool(config(), fake);
    for (int i = 0; i < 5; ++i) pool.query("SELECT 1");
    pool.query("SELECT 2", {}, {.use_read_replica = true});
    CHECK_THROWS_AS(pool.query("INSERT INTO dup VALUES (1)"), db::SqlError);
    pool.transaction([](auto& tx) { tx.query("SELECT 3"); });

    prometheus::Exposer exposer{"127.0.0.1:0"};
    auto collector = db::prometheus::make_collector(pool);
    exposer.RegisterCollectable(collector);
    const auto ports = exposer.GetListeningPorts();
    REQUIRE(ports.size() == 1);

    httplib::Client client("127.0.0.1", ports.front());
    client.set_read_timeout(5, 0);
    // Compare with metrics_text() taken right after the scrape: nothing of the test runs on the
    // pool meanwhile, and the background health checks count no statements, but one may hold a
    // connection for a moment. A pair taken while no connection was leased on either side is
    // compared.
    std::string body;
    std::string text;
    for (int attempt = 0; attempt < 200; ++attempt) {
        if (pool.stats().in_use != 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            continue;
        }
        const auto response = client.Get("/metrics");
        REQUIRE(response);
        REQUIRE(response->status == 200);
        body = response->body;
        text = pool.metrics_text();
        if (pool.stats().in_use == 0) break;
    }
    CHECK(body.find("hunter2") == std::string::npos);
    const Samples scraped(body);
    const Samples direct(text);
    REQUIRE(direct.values.size() > 50);
    for (const auto& [type_name, type] : direct.types) {
        INFO(type_name);
        CHECK(scraped.types.count(type_name) == 1);
        if (scraped.types.count(type_name) == 1) CHECK(scraped.types.at(type_name) == type);
    }
    for (const auto& [key, value] : direct.values) {
        INFO(key);
        if (key.starts_with("sparc_db_connections{") || key.find("_seconds") != std::string::npos) {
            continue;  // gauges that move and latency sums: compared below by presence only
        }
        REQUIRE(scraped.values.count(key) == 1);
        CHECK(scraped.values.at(key) == value);
    }
    for (const auto& [key, value] : direct.values) {
        INFO(key);
        CHECK(scraped.values.count(key) == 1);
    }
    CHECK(scraped.values.size() == direct.values.size());
#ifdef SPARC_PROMTOOL
    // promtool judges what prometheus-cpp serves, too.
    const auto path = std::filesystem::temp_directory_path() /
                      ("sparc-exposer-" + std::to_string(::getpid()) + ".txt");
    std::ofstream(path) << body;
    const auto command = std::string(SPARC_PROMTOOL) + " check metrics < " + path.string();
    CHECK(std::system(command.c_str()) == 0);
    std::filesystem::remove(path);
#endif
    CHECK(
        scraped.values.at(
            R"(sparc_db_queries_total{host="primary:5432/app",outcome="ok",role="primary",service="videos",})") >=
        6);
}

TEST_CASE("to_metric_families builds cumulative histograms and unescapes labels",
          "[db][metrics][prometheus]") {
    const auto families = db::prometheus::to_metric_families(
        "# HELP x_seconds A histogram.\n"
        "# TYPE x_seconds histogram\n"
        "x_seconds_bucket{service=\"a\\\"b\",le=\"0.1\"} 2\n"
        "x_seconds_bucket{service=\"a\\\"b\",le=\"+Inf\"} 3\n"
        "x_seconds_sum{service=\"a\\\"b\"} 0.25\n"
        "x_seconds_count{service=\"a\\\"b\"} 3\n"
        "# HELP y_total A counter.\n"
        "# TYPE y_total counter\n"
        "y_total{service=\"a\"} 7\n");
    REQUIRE(families.size() == 2);
    const auto& h = families[0];
    CHECK(h.name == "x_seconds");
    CHECK(h.help == "A histogram.");
    CHECK(h.type == prometheus::MetricType::Histogram);
    REQUIRE(h.metric.size() == 1);
    REQUIRE(h.metric[0].label.size() == 1);
    CHECK(h.metric[0].label[0].value == "a\"b");
    REQUIRE(h.metric[0].histogram.bucket.size() == 2);
    CHECK(h.metric[0].histogram.bucket[0].cumulative_count == 2);
    CHECK(h.metric[0].histogram.bucket[0].upper_bound == 0.1);
    CHECK(h.metric[0].histogram.bucket[1].cumulative_count == 3);
    CHECK(h.metric[0].histogram.sample_count == 3);
    CHECK(h.metric[0].histogram.sample_sum == 0.25);
    CHECK(families[1].type == prometheus::MetricType::Counter);
    CHECK(families[1].metric.at(0).counter.value == 7);

    // prometheus-cpp's own serializer writes it back with the same names.
    const auto text = prometheus::TextSerializer().Serialize(families);
    CHECK(text.find("x_seconds_bucket{service=\"a\\\"b\",le=\"+Inf\"} 3") != std::string::npos);
    CHECK(text.find("y_total{service=\"a\"} 7") != std::string::npos);
}
