#include <sparc/db/prometheus.hpp>

#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <utility>

namespace sparc::db::prometheus {

namespace {

namespace pm = ::prometheus;
using Labels = std::vector<pm::ClientMetric::Label>;

struct Sample {
    std::string name;
    Labels labels;
    double value = 0.0;
};

double parse_value(std::string_view text) {
    if (text == "+Inf" || text == "Inf") return std::numeric_limits<double>::infinity();
    if (text == "-Inf") return -std::numeric_limits<double>::infinity();
    if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
    const std::string s(text);
    return std::strtod(s.c_str(), nullptr);
}

// One sample line: name{label="value",...} value. Label values unescaped.
std::optional<Sample> parse_sample(std::string_view line) {
    Sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = std::string(line.substr(0, i));
    if (s.name.empty()) return std::nullopt;
    if (i < line.size() && line[i] == '{') {
        ++i;
        while (i < line.size() && line[i] != '}') {
            const auto eq = line.find('=', i);
            if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
                return std::nullopt;
            }
            pm::ClientMetric::Label label;
            label.name = std::string(line.substr(i, eq - i));
            i = eq + 2;
            while (i < line.size() && line[i] != '"') {
                if (line[i] == '\\' && i + 1 < line.size()) {
                    ++i;
                    label.value += line[i] == 'n' ? '\n' : line[i];
                } else {
                    label.value += line[i];
                }
                ++i;
            }
            if (i >= line.size()) return std::nullopt;
            ++i;  // closing quote
            if (i < line.size() && line[i] == ',') ++i;
            s.labels.push_back(std::move(label));
        }
        if (i >= line.size()) return std::nullopt;
        ++i;  // closing brace
    }
    while (i < line.size() && line[i] == ' ') ++i;
    auto value = line.substr(i);
    value = value.substr(0, value.find(' '));  // an optional timestamp follows
    if (value.empty()) return std::nullopt;
    s.value = parse_value(value);
    return s;
}

pm::MetricType metric_type(std::string_view type) {
    if (type == "counter") return pm::MetricType::Counter;
    if (type == "gauge") return pm::MetricType::Gauge;
    if (type == "histogram") return pm::MetricType::Histogram;
    if (type == "summary") return pm::MetricType::Summary;
    return pm::MetricType::Untyped;
}

std::string key_of(const Labels& labels) {
    std::string key;
    for (const auto& l : labels) {
        key += l.name;
        key += '\x1f';
        key += l.value;
        key += '\x1e';
    }
    return key;
}

}  // namespace

std::vector<pm::MetricFamily> to_metric_families(std::string_view text) {
    std::vector<pm::MetricFamily> families;
    std::map<std::string, std::size_t, std::less<>> by_name;
    // Histogram series: (family, labels without le) -> index of its ClientMetric.
    std::map<std::pair<std::size_t, std::string>, std::size_t> series;

    auto family = [&](std::string_view name) -> pm::MetricFamily& {
        auto it = by_name.find(name);
        if (it == by_name.end()) {
            it = by_name.emplace(std::string(name), families.size()).first;
            families.push_back({});
            families.back().name = std::string(name);
        }
        return families[it->second];
    };

    while (!text.empty()) {
        const auto end = text.find('\n');
        const auto line = text.substr(0, end);
        text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
        if (line.empty()) continue;
        if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
            const auto rest = line.substr(7);
            const auto space = rest.find(' ');
            if (space == std::string_view::npos) continue;
            auto& f = family(rest.substr(0, space));
            if (line[2] == 'H') {
                f.help = std::string(rest.substr(space + 1));
            } else {
                f.type = metric_type(rest.substr(space + 1));
            }
            continue;
        }
        if (line.starts_with("#")) continue;
        auto sample = parse_sample(line);
        if (!sample) continue;

        if (const auto it = by_name.find(sample->name); it != by_name.end()) {
            auto& f = families[it->second];
            pm::ClientMetric m;
            m.label = std::move(sample->labels);
            switch (f.type) {
                case pm::MetricType::Counter:
                    m.counter.value = sample->value;
                    break;
                case pm::MetricType::Gauge:
                    m.gauge.value = sample->value;
                    break;
                default:
                    m.untyped.value = sample->value;
                    break;
            }
            f.metric.push_back(std::move(m));
            continue;
        }
        // A histogram's _bucket, _sum or _count sample.
        for (const std::string_view suffix : {"_bucket", "_sum", "_count"}) {
            const std::string_view name = sample->name;
            if (!name.ends_with(suffix)) continue;
            const auto it = by_name.find(name.substr(0, name.size() - suffix.size()));
            if (it == by_name.end() || families[it->second].type != pm::MetricType::Histogram) {
                break;
            }
            auto& f = families[it->second];
            std::optional<double> le;
            Labels labels;
            for (auto& l : sample->labels) {
                if (l.name == "le") {
                    le = parse_value(l.value);
                } else {
                    labels.push_back(std::move(l));
                }
            }
            const auto key = std::pair{it->second, key_of(labels)};
            auto at = series.find(key);
            if (at == series.end()) {
                at = series.emplace(key, f.metric.size()).first;
                f.metric.push_back({});
                f.metric.back().label = std::move(labels);
            }
            auto& h = f.metric[at->second].histogram;
            const auto count = static_cast<std::uint64_t>(sample->value < 0 ? 0 : sample->value);
            if (suffix == "_bucket" && le) {
                h.bucket.push_back({count, *le});
            } else if (suffix == "_sum") {
                h.sample_sum = sample->value;
            } else if (suffix == "_count") {
                h.sample_count = count;
            }
            break;
        }
    }
    return families;
}

std::vector<pm::MetricFamily> PoolCollector::Collect() const {
    return to_metric_families(exposition_());
}

}  // namespace sparc::db::prometheus
