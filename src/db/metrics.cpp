#include <sparc/db/metrics.hpp>

#include <fmt/format.h>

namespace sparc::db {

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

namespace {

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

class Writer {
  public:
    explicit Writer(std::string_view service) : service_(escape(service)) {}

    void family(std::string_view name, std::string_view type, std::string_view help) {
        out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    }
    std::string host_labels(const HostSnapshot& h) const {
        return fmt::format("service=\"{}\",role=\"{}\",host=\"{}\"", service_, to_string(h.role),
                           escape(h.label));
    }
    std::string pool_labels() const { return fmt::format("service=\"{}\"", service_); }

    void sample(std::string_view name, const std::string& labels, double value) {
        out_ += fmt::format("{}{{{}}} {}\n", name, labels, value);
    }
    void sample(std::string_view name, const std::string& labels, std::uint64_t value) {
        out_ += fmt::format("{}{{{}}} {}\n", name, labels, value);
    }
    void histogram(std::string_view name, const std::string& labels, const Histogram& h) {
        const auto b = h.buckets();
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < Histogram::kBounds.size(); ++i) {
            cumulative += b[i];
            out_ += fmt::format("{}_bucket{{{},le=\"{}\"}} {}\n", name, labels,
                                Histogram::kBounds[i], cumulative);
        }
        cumulative += b.back();
        out_ += fmt::format("{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels, cumulative);
        out_ += fmt::format("{}_sum{{{}}} {}\n", name, labels, h.sum_seconds());
        out_ += fmt::format("{}_count{{{}}} {}\n", name, labels, cumulative);
    }
    std::string take() { return std::move(out_); }

  private:
    std::string service_;
    std::string out_;
};

}  // namespace

std::string render_prometheus(std::string_view service, const std::vector<HostSnapshot>& hosts,
                              const PoolMetrics& pool) {
    Writer w(service);
    w.family("sparc_db_connections", "gauge", "Open connections by state.");
    for (const auto& h : hosts) {
        w.sample("sparc_db_connections", w.host_labels(h) + ",state=\"idle\"",
                 std::uint64_t{h.idle});
        w.sample("sparc_db_connections", w.host_labels(h) + ",state=\"in_use\"",
                 std::uint64_t{h.in_use});
    }
    w.family("sparc_db_connections_max", "gauge", "Most connections the pool may open.");
    for (const auto& h : hosts)
        w.sample("sparc_db_connections_max", w.host_labels(h), std::uint64_t{h.max});
    w.family("sparc_db_waiting_requests", "gauge", "Callers waiting for a connection.");
    for (const auto& h : hosts) {
        w.sample("sparc_db_waiting_requests", w.host_labels(h), std::uint64_t{h.waiting});
    }
    w.family("sparc_db_pool_utilization_ratio", "gauge",
             "Connections in use divided by the maximum.");
    for (const auto& h : hosts) {
        const double u =
            h.max == 0 ? 0.0 : static_cast<double>(h.in_use) / static_cast<double>(h.max);
        w.sample("sparc_db_pool_utilization_ratio", w.host_labels(h), u);
    }
    w.family("sparc_db_host_up", "gauge", "1 when the host answers its health checks.");
    for (const auto& h : hosts)
        w.sample("sparc_db_host_up", w.host_labels(h), std::uint64_t{h.up ? 1U : 0U});
    w.family("sparc_db_replication_lag_seconds", "gauge", "Replay lag of a replica.");
    for (const auto& h : hosts) {
        if (h.role == HostRole::replica) {
            w.sample("sparc_db_replication_lag_seconds", w.host_labels(h),
                     std::chrono::duration<double>(h.replication_lag).count());
        }
    }

    auto counter = [&](std::string_view name, std::string_view help, auto get) {
        w.family(name, "counter", help);
        for (const auto& h : hosts) w.sample(name, w.host_labels(h), get(*h.metrics));
    };
    counter("sparc_db_connections_opened_total", "Connections opened.",
            [](const HostMetrics& m) { return m.connections_opened.value(); });
    counter("sparc_db_connections_closed_total", "Connections closed.",
            [](const HostMetrics& m) { return m.connections_closed.value(); });
    counter("sparc_db_connection_errors_total", "Failed connection attempts and broken sessions.",
            [](const HostMetrics& m) { return m.connection_errors.value(); });
    counter("sparc_db_pool_timeouts_total", "Acquires that gave up after connection_timeout.",
            [](const HostMetrics& m) { return m.pool_timeouts.value(); });
    counter("sparc_db_leaks_total", "Leases held longer than the leak detection threshold.",
            [](const HostMetrics& m) { return m.leaks.value(); });

    w.family("sparc_db_queries_total", "counter", "Statements run, by outcome.");
    for (const auto& h : hosts) {
        for (std::size_t i = 0; i < h.metrics->queries.size(); ++i) {
            w.sample("sparc_db_queries_total",
                     w.host_labels(h) +
                         fmt::format(",outcome=\"{}\"", to_string(static_cast<QueryOutcome>(i))),
                     h.metrics->queries[i].value());
        }
    }
    w.family("sparc_db_query_errors_total", "counter", "Server errors by SQLSTATE class.");
    for (const auto& h : hosts) {
        for (const auto& [cls, n] : h.metrics->error_classes()) {
            w.sample("sparc_db_query_errors_total",
                     w.host_labels(h) + fmt::format(",sqlstate_class=\"{}\"", escape(cls)), n);
        }
    }
    w.family("sparc_db_acquire_wait_seconds", "histogram", "Time to lease a connection.");
    for (const auto& h : hosts) {
        w.histogram("sparc_db_acquire_wait_seconds", w.host_labels(h), h.metrics->acquire_wait);
    }
    w.family("sparc_db_query_duration_seconds", "histogram", "Statement duration.");
    for (const auto& h : hosts) {
        w.histogram("sparc_db_query_duration_seconds", w.host_labels(h), h.metrics->query_duration);
    }

    w.family("sparc_db_transaction_retries_total", "counter", "Transaction retries by reason.");
    for (std::size_t i = 0; i < pool.retries.size(); ++i) {
        w.sample(
            "sparc_db_transaction_retries_total",
            w.pool_labels() + fmt::format(",reason=\"{}\"", to_string(static_cast<RetryReason>(i))),
            pool.retries[i].value());
    }
    w.family("sparc_db_transactions_total", "counter", "Transactions by outcome.");
    for (std::size_t i = 0; i < pool.transactions.size(); ++i) {
        w.sample("sparc_db_transactions_total",
                 w.pool_labels() +
                     fmt::format(",outcome=\"{}\"", to_string(static_cast<TransactionOutcome>(i))),
                 pool.transactions[i].value());
    }
    w.family("sparc_db_transaction_duration_seconds", "histogram",
             "Duration of transaction() calls, retries included.");
    w.histogram("sparc_db_transaction_duration_seconds", w.pool_labels(),
                pool.transaction_duration);
    w.family("sparc_db_hook_errors_total", "counter", "Exceptions thrown by user hooks.");
    w.sample("sparc_db_hook_errors_total", w.pool_labels(), pool.hook_errors.value());
    return w.take();
}

}  // namespace sparc::db
