#include <sparc/db/metrics.hpp>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <stdexcept>

#include <fmt/format.h>

namespace sparc::db {

std::size_t detail::next_metric_shard() noexcept {
    static std::atomic<std::size_t> next{0};
    return next.fetch_add(1, std::memory_order_relaxed) % kMetricShards;
}

double Histogram::quantile(double q) const noexcept {
    const auto b = buckets();
    std::uint64_t total = 0;
    for (auto n : b) total += n;
    if (total == 0) return 0.0;
    const double rank = q * static_cast<double>(total);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < b.size(); ++i) {
        if (static_cast<double>(seen + b[i]) >= rank && b[i] > 0) {
            if (i == kBounds.size()) return kBounds.back();
            const double lo = i == 0 ? 0.0 : kBounds[i - 1];
            const double hi = kBounds[i];
            const double within = (rank - static_cast<double>(seen)) / static_cast<double>(b[i]);
            return lo + (hi - lo) * within;
        }
        seen += b[i];
    }
    return kBounds.back();
}

void HostMetrics::count_error_class(std::string_view sqlstate) {
    const std::string cls = sqlstate.size() >= 2 ? std::string(sqlstate.substr(0, 2)) : "XX";
    std::lock_guard lock(errors_mutex_);
    ++error_classes_[cls];
}

std::map<std::string, std::uint64_t> HostMetrics::error_classes() const {
    std::lock_guard lock(errors_mutex_);
    return error_classes_;
}

const char* to_string(MetricType type) noexcept {
    switch (type) {
        case MetricType::counter:
            return "counter";
        case MetricType::gauge:
            return "gauge";
        case MetricType::histogram:
            return "histogram";
    }
    return "untyped";
}

std::vector<std::string> exported_metric_names() {
    std::vector<std::string> names;
    for (const auto& f : kMetricFamilies) {
        if (f.type == MetricType::histogram) {
            for (const char* suffix : {"_bucket", "_sum", "_count"}) {
                names.push_back(std::string(f.name) + suffix);
            }
        } else {
            names.emplace_back(f.name);
        }
    }
    std::sort(names.begin(), names.end());
    return names;
}

namespace {

namespace names = metric_names;

// Label values escaped as the exposition format requires.
std::string escape(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

// Sample values as Prometheus spells them (Go's ParseFloat reads fmt's shortest form).
std::string number(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", v);
}

constexpr const MetricFamily& family_of(std::string_view name) {
    for (const auto& f : kMetricFamilies) {
        if (f.name == name) return f;
    }
    throw std::logic_error("unknown metric family");
}

class Writer {
  public:
    explicit Writer(std::string_view service) : service_(escape(service)) {
        out_.reserve(std::size_t{16} * 1024);
    }

    // Starts a family: its HELP and TYPE lines, from kMetricFamilies.
    void family(std::string_view name) {
        const auto& f = family_of(name);
        fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", f.name, f.help,
                       f.name, to_string(f.type));
    }
    std::string host_labels(const HostSnapshot& h) const {
        return fmt::format(R"(service="{}",role="{}",host="{}")", service_, to_string(h.role),
                           escape(h.label));
    }
    std::string pool_labels() const { return fmt::format("service=\"{}\"", service_); }

    void sample(std::string_view name, const std::string& labels, double value) {
        fmt::format_to(std::back_inserter(out_), "{}{{{}}} {}\n", name, labels, number(value));
    }
    void sample(std::string_view name, const std::string& labels, std::uint64_t value) {
        fmt::format_to(std::back_inserter(out_), "{}{{{}}} {}\n", name, labels, value);
    }
    void histogram(std::string_view name, const std::string& labels, const Histogram& h) {
        const auto b = h.buckets();
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < Histogram::kBounds.size(); ++i) {
            cumulative += b[i];
            fmt::format_to(std::back_inserter(out_), "{}_bucket{{{},le=\"{}\"}} {}\n", name, labels,
                           number(Histogram::kBounds[i]), cumulative);
        }
        cumulative += b.back();
        fmt::format_to(std::back_inserter(out_), "{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels,
                       cumulative);
        fmt::format_to(std::back_inserter(out_), "{}_sum{{{}}} {}\n", name, labels,
                       number(h.sum_seconds()));
        fmt::format_to(std::back_inserter(out_), "{}_count{{{}}} {}\n", name, labels, cumulative);
    }
    std::string take() { return std::move(out_); }

  private:
    std::string service_;
    std::string out_;
};

std::uint64_t count(std::size_t n) { return static_cast<std::uint64_t>(n); }
std::uint64_t flag(bool b) { return b ? 1U : 0U; }

}  // namespace

std::string render_prometheus(std::string_view service, const std::vector<HostSnapshot>& hosts,
                              const PoolMetrics& pool) {
    Writer w(service);
    std::vector<std::string> labels;
    labels.reserve(hosts.size());
    for (const auto& h : hosts) labels.push_back(w.host_labels(h));

    // Gauges: the state at scrape time.
    w.family(names::kConnections);
    for (std::size_t i = 0; i < hosts.size(); ++i) {
        w.sample(names::kConnections, labels[i] + ",state=\"idle\"", count(hosts[i].idle));
        w.sample(names::kConnections, labels[i] + ",state=\"in_use\"", count(hosts[i].in_use));
    }
    auto gauge = [&](std::string_view name, auto get) {
        w.family(name);
        for (std::size_t i = 0; i < hosts.size(); ++i) w.sample(name, labels[i], get(hosts[i]));
    };
    gauge(names::kConnectionsMax, [](const HostSnapshot& h) { return count(h.max); });
    gauge(names::kWaitingRequests, [](const HostSnapshot& h) { return count(h.waiting); });
    gauge(names::kPoolUtilization, [](const HostSnapshot& h) {
        return h.max == 0
                   ? 0.0
                   : std::min(1.0, static_cast<double>(h.in_use) / static_cast<double>(h.max));
    });
    gauge(names::kHostUp, [](const HostSnapshot& h) { return flag(h.up); });
    gauge(names::kHostInRecovery,
          [](const HostSnapshot& h) { return flag(h.observed_role == HostRole::replica); });
    w.family(names::kReplicationLag);
    for (std::size_t i = 0; i < hosts.size(); ++i) {
        if (hosts[i].role == HostRole::replica) {
            w.sample(names::kReplicationLag, labels[i],
                     std::chrono::duration<double>(hosts[i].replication_lag).count());
        }
    }

    // Per-host counters and histograms.
    auto counter = [&](std::string_view name, auto get) {
        w.family(name);
        for (std::size_t i = 0; i < hosts.size(); ++i) {
            if (hosts[i].metrics != nullptr) w.sample(name, labels[i], get(*hosts[i].metrics));
        }
    };
    counter(names::kConnectionsOpened,
            [](const HostMetrics& m) { return m.connections_opened.value(); });
    counter(names::kConnectionsClosed,
            [](const HostMetrics& m) { return m.connections_closed.value(); });
    counter(names::kConnectionErrors,
            [](const HostMetrics& m) { return m.connection_errors.value(); });
    counter(names::kConnectAttempts,
            [](const HostMetrics& m) { return m.connect_attempts.value(); });
    counter(names::kPoolTimeouts, [](const HostMetrics& m) { return m.pool_timeouts.value(); });
    counter(names::kLeakedLeases, [](const HostMetrics& m) { return m.leaks.value(); });
    counter(names::kPrimaryMoves, [](const HostMetrics& m) { return m.primary_moves.value(); });

    w.family(names::kQueries);
    for (std::size_t i = 0; i < hosts.size(); ++i) {
        if (hosts[i].metrics == nullptr) continue;
        const auto& queries = hosts[i].metrics->queries;
        for (std::size_t k = 0; k < queries.size(); ++k) {
            w.sample(
                names::kQueries,
                labels[i] + fmt::format(",outcome=\"{}\"", to_string(static_cast<QueryOutcome>(k))),
                queries[k].value());
        }
    }
    w.family(names::kQueryErrors);
    for (std::size_t i = 0; i < hosts.size(); ++i) {
        if (hosts[i].metrics == nullptr) continue;
        for (const auto& [cls, n] : hosts[i].metrics->error_classes()) {
            w.sample(names::kQueryErrors,
                     labels[i] + fmt::format(",sqlstate_class=\"{}\"", escape(cls)), n);
        }
    }
    w.family(names::kAcquireWait);
    for (std::size_t i = 0; i < hosts.size(); ++i) {
        if (hosts[i].metrics != nullptr) {
            w.histogram(names::kAcquireWait, labels[i], hosts[i].metrics->acquire_wait);
        }
    }
    w.family(names::kQueryDuration);
    for (std::size_t i = 0; i < hosts.size(); ++i) {
        if (hosts[i].metrics != nullptr) {
            w.histogram(names::kQueryDuration, labels[i], hosts[i].metrics->query_duration);
        }
    }

    // Pool-wide.
    const auto pool_labels = w.pool_labels();
    w.family(names::kTransactionRetries);
    for (std::size_t i = 0; i < pool.retries.size(); ++i) {
        w.sample(
            names::kTransactionRetries,
            pool_labels + fmt::format(",reason=\"{}\"", to_string(static_cast<RetryReason>(i))),
            pool.retries[i].value());
    }
    w.family(names::kTransactions);
    for (std::size_t i = 0; i < pool.transactions.size(); ++i) {
        w.sample(names::kTransactions,
                 pool_labels +
                     fmt::format(",outcome=\"{}\"", to_string(static_cast<TransactionOutcome>(i))),
                 pool.transactions[i].value());
    }
    w.family(names::kTransactionDuration);
    w.histogram(names::kTransactionDuration, pool_labels, pool.transaction_duration);
    w.family(names::kHookErrors);
    w.sample(names::kHookErrors, pool_labels, pool.hook_errors.value());
    return w.take();
}

}  // namespace sparc::db
