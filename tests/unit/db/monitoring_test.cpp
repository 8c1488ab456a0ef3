#include <sparc/db/metrics.hpp>
#include <sparc/db/monitoring.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace db = sparc::db;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::set<std::string> exported() {
    const auto names = db::exported_metric_names();
    return {names.begin(), names.end()};
}

// Every PromQL expression of a dashboard: panel targets and variable queries.
std::vector<std::string> dashboard_queries(const json& dashboard) {
    std::vector<std::string> out;
    for (const auto& panel : dashboard.at("panels")) {
        if (!panel.contains("targets")) continue;
        for (const auto& t : panel.at("targets")) out.push_back(t.at("expr").get<std::string>());
    }
    for (const auto& v : dashboard.at("templating").at("list")) {
        if (v.at("type") == "query") out.push_back(v.at("definition").get<std::string>());
    }
    return out;
}

// The `expr:` lines of a rules file, JSON-quoted by the generator.
std::vector<std::string> rule_exprs(const std::string& yaml) {
    std::vector<std::string> out;
    std::istringstream in(yaml);
    std::string line;
    while (std::getline(in, line)) {
        const auto at = line.find("expr: ");
        if (at != std::string::npos) out.push_back(json::parse(line.substr(at + 6)));
    }
    return out;
}

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

}  // namespace

TEST_CASE("the exported metric names cover every family with histogram series",
          "[db][metrics][monitoring]") {
    const auto names = exported();
    for (const auto& f : db::kMetricFamilies) {
        INFO(f.name);
        if (f.type == db::MetricType::histogram) {
            CHECK(names.contains(std::string(f.name) + "_bucket"));
            CHECK(names.contains(std::string(f.name) + "_sum"));
            CHECK(names.contains(std::string(f.name) + "_count"));
            CHECK_FALSE(names.contains(std::string(f.name)));
        } else {
            CHECK(names.contains(std::string(f.name)));
        }
        CHECK(f.name.starts_with("sparc_db_"));
        CHECK_FALSE(f.help.empty());
        CHECK(std::string(f.labels).starts_with("service"));
    }
}

TEST_CASE("every metric the dashboard and alert rules use is exported",
          "[db][metrics][monitoring]") {
    const auto names = exported();
    const auto dashboard = db::grafana_dashboard();
    const auto rules = db::prometheus_alert_rules();
    const auto used_by_dashboard = db::referenced_metrics(dashboard);
    const auto used_by_rules = db::referenced_metrics(rules);
    REQUIRE(used_by_dashboard.size() >= 10);
    REQUIRE(used_by_rules.size() >= 6);
    for (const auto& name : used_by_dashboard) {
        INFO("dashboard uses " << name);
        CHECK(names.contains(name));
    }
    for (const auto& name : used_by_rules) {
        INFO("rules use " << name);
        CHECK(names.contains(name));
    }
    CHECK(db::referenced_metrics("rate(sparc_db_x_total[5m]) / sparc_db_x_total") ==
          std::vector<std::string>{"sparc_db_x_total"});
}

TEST_CASE("the dashboard is templated by service and shows the pool's signals",
          "[db][monitoring]") {
    const auto dashboard = json::parse(db::grafana_dashboard());
    CHECK(dashboard.at("uid") == "sparc-db-pools");
    const auto& vars = dashboard.at("templating").at("list");
    REQUIRE(vars.size() == 2);
    CHECK(vars[0].at("name") == "datasource");
    CHECK(vars[1].at("name") == "service");
    CHECK(vars[1].at("multi") == true);

    std::set<int> ids;
    std::string titles;
    for (const auto& panel : dashboard.at("panels")) {
        CHECK(ids.insert(panel.at("id").get<int>()).second);
        titles += panel.at("title").get<std::string>() + "\n";
        const auto& grid = panel.at("gridPos");
        CHECK(grid.at("x").get<int>() + grid.at("w").get<int>() <= 24);
        if (panel.at("type") == "row") continue;
        CHECK(panel.at("datasource").at("uid") == "${datasource}");
        for (const auto& t : panel.at("targets")) {
            const auto expr = t.at("expr").get<std::string>();
            INFO(expr);
            CHECK(expr.find("service=~\"$service\"") != std::string::npos);
        }
    }
    for (const char* title : {"Pool utilisation", "Connections by state", "Waiting callers",
                              "Acquire wait", "Query latency", "Errors by SQLSTATE class",
                              "Host status", "Replication lag", "Retries by reason"}) {
        INFO(title);
        CHECK(titles.find(title) != std::string::npos);
    }
    std::string all;
    for (const auto& q : dashboard_queries(dashboard)) all += q + "\n";
    CHECK(count(all, "histogram_quantile(0.95") >= 3);
    CHECK(all.find("sparc_db_acquire_wait_seconds_bucket") != std::string::npos);
    CHECK(all.find("sparc_db_query_duration_seconds_bucket") != std::string::npos);
}

TEST_CASE("the alert rules define each alert with for, severity and annotations",
          "[db][monitoring]") {
    const auto rules = db::prometheus_alert_rules();
    CHECK(rules.starts_with("# "));
    CHECK(count(rules, "      - alert: ") == db::kAlertNames.size());
    for (const auto name : db::kAlertNames) {
        INFO(name);
        CHECK(count(rules, "- alert: " + std::string(name) + "\n") == 1);
    }
    CHECK(count(rules, "        for: ") == db::kAlertNames.size());
    CHECK(count(rules, "          severity: critical\n") +
              count(rules, "          severity: warning\n") ==
          db::kAlertNames.size());
    CHECK(count(rules, "          summary: \"") == db::kAlertNames.size());
    CHECK(count(rules, "          description: \"") == db::kAlertNames.size());
    CHECK(rules.find("runbook_url") == std::string::npos);

    const auto exprs = rule_exprs(rules);
    REQUIRE(exprs.size() == db::kAlertNames.size());
    // The design's targets: p95 under 50 ms, utilisation warning at 80%.
    CHECK(exprs[3].find("histogram_quantile(0.95") != std::string::npos);
    CHECK(exprs[3].ends_with("> 0.05"));
    CHECK(exprs[1].ends_with("> 0.8"));
    CHECK(exprs[0].find("sparc_db_pool_timeouts_total") != std::string::npos);
    CHECK(exprs[0].find("sparc_db_waiting_requests") != std::string::npos);
}

TEST_CASE("monitoring options change thresholds and selectors", "[db][monitoring]") {
    db::MonitoringOptions o;
    o.selector = R"(env="prod")";
    o.query_p95_target = 120ms;
    o.utilization_warning = 0.7;
    o.replica_lag_threshold = 30s;
    o.runbook_url = "https://runbooks.example/sparc-db";
    const auto rules = db::prometheus_alert_rules(o);
    for (const auto& expr : rule_exprs(rules)) {
        INFO(expr);
        CHECK(expr.find(R"(env="prod")") != std::string::npos);
    }
    CHECK(rules.find("> 0.12\"") != std::string::npos);
    CHECK(rules.find("> 0.7\"") != std::string::npos);
    CHECK(rules.find("> 30\"") != std::string::npos);
    CHECK(rules.find("above 120 ms") != std::string::npos);
    CHECK(rules.find(R"(runbook_url: "https://runbooks.example/sparc-db#SparcDbSlowQueries")") !=
          std::string::npos);

    const auto dashboard = json::parse(db::grafana_dashboard(o));
    for (const auto& q : dashboard_queries(dashboard)) {
        INFO(q);
        CHECK(q.find(R"(env="prod")") != std::string::npos);
    }
}

TEST_CASE("a selector is checked as PromQL label matchers", "[db][monitoring][selector]") {
    const std::vector<std::pair<std::string, std::string>> valid = {
        {"", ""},
        {"  ", ""},
        {R"(env="prod")", R"(env="prod")"},
        {R"( env = "prod" , region=~'eu-.*', )", R"(env = "prod" , region=~'eu-.*')"},
        {R"(a!="x",b!~`raw\d`,_c9="q\"uote\n\x41\u00e9\101")",
         R"(a!="x",b!~`raw\d`,_c9="q\"uote\n\x41\u00e9\101")"},
        {R"(a='it\'s')", R"(a='it\'s')"},
    };
    for (const auto& [in, out] : valid) {
        INFO(in);
        CHECK(db::normalize_selector(in) == out);
    }
    // Each with the character promtool's lexer stops at and what it says, in our words.
    const std::vector<std::tuple<std::string, int, std::string>> invalid = {
        {R"({env="prod"})", 1, "braces are not part of the selector"},
        {R"(env="prod"})", 11, "expected ',' between matchers"},
        {R"(env=prod)", 5, "expected a value in double quotes"},
        {R"(env=="prod")", 5, "expected a value in double quotes"},
        {R"(env)", 4, "expected =, !=, =~ or !~ after the label name \"env\", found the end"},
        {R"(env~"x")", 4, "expected =, !=, =~ or !~"},
        {R"(1env="x")", 1, "expected a label name"},
        {R"(env-x="x")", 4, "expected =, !=, =~ or !~"},
        {R"(env="prod" region="eu")", 12, "expected ',' between matchers"},
        {R"(env="prod",,a="b")", 12, "expected a label name"},
        {R"(,env="prod")", 1, "expected a label name"},
        {R"(env="prod)", 5, "unterminated quoted value"},
        {"env=\"pr\nod\"", 5, "unterminated quoted value"},
        {R"(env="\q")", 6, R"(unknown escape sequence '\q')"},
        {R"(env="\'")", 6, "unknown escape sequence"},
        {R"(env="\x4")", 6, "escape sequence needs 2 hexadecimal digits"},
        {R"(env="\400")", 6, "octal escape value above"},
        {R"(env="\ud800")", 6, "not a valid Unicode code point"},
        {R"(env="\U00110000")", 6, "not a valid Unicode code point"},
        {R"(env=)", 5, "expected a quoted value, found the end"},
    };
    for (const auto& [in, at, what] : invalid) {
        INFO(in);
        try {
            (void)db::normalize_selector(in);
            FAIL("accepted");
        } catch (const std::invalid_argument& e) {
            const std::string message = e.what();
            INFO(message);
            CHECK(message.starts_with(fmt::format("invalid selector at character {}: ", at)));
            CHECK(message.find(what) != std::string::npos);
        }
    }
}

TEST_CASE("the generators refuse an invalid selector and drop a trailing comma",
          "[db][monitoring][selector]") {
    db::MonitoringOptions o;
    o.selector = R"(env="prod" region="eu")";
    CHECK_THROWS_AS(db::prometheus_alert_rules(o), std::invalid_argument);
    CHECK_THROWS_AS(db::grafana_dashboard(o), std::invalid_argument);
    o.selector = R"(env="prod",)";
    const auto rules = db::prometheus_alert_rules(o);
    CHECK(rules.find(R"(env=\"prod\")") != std::string::npos);
    for (const auto& text : {rules, db::grafana_dashboard(o)}) {
        CHECK(text.find(",,") == std::string::npos);
        CHECK(text.find(",}") == std::string::npos);
    }
}

TEST_CASE("write_monitoring_files writes the dashboard and the rules", "[db][monitoring]") {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("sparc-monitoring-test-" + std::to_string(::getpid())) / "out";
    const auto written = db::write_monitoring_files(dir);
    REQUIRE(written.size() == 2);
    CHECK(written[0] == dir / "grafana-dashboard.json");
    CHECK(written[1] == dir / "alert-rules.yml");
    std::ifstream dashboard(written[0]);
    const std::string text((std::istreambuf_iterator<char>(dashboard)), {});
    CHECK(text == db::grafana_dashboard());
    std::ifstream rules(written[1]);
    const std::string rules_text((std::istreambuf_iterator<char>(rules)), {});
    CHECK(rules_text == db::prometheus_alert_rules());
    std::filesystem::remove_all(dir.parent_path());
}
