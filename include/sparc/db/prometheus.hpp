#pragma once
/// @file prometheus.hpp
/// prometheus-cpp adapter (target sparc::db_prometheus): serves a pool's metrics through a
/// service's existing prometheus::Exposer or Registry, under the same names, types, labels and
/// help texts as metrics_text().
///
/// ```cpp
/// prometheus::Exposer exposer{"0.0.0.0:9464"};
/// auto collector = sparc::db::prometheus::make_collector(pool);  // keep it while serving
/// exposer.RegisterCollectable(collector);
/// ```

#include <concepts>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace sparc::db::prometheus {

/// Converts Prometheus text exposition (as metrics_text() writes it) into prometheus-cpp
/// metric families: counters, gauges and histograms (buckets cumulative, +Inf included).
/// Lines it does not understand are skipped.
std::vector<::prometheus::MetricFamily> to_metric_families(std::string_view exposition);

/// A prometheus::Collectable that reads a pool's metrics at each scrape. Thread-safe: Collect()
/// may run on the exposer's threads while the pool is in use. The source (usually the pool)
/// must outlive the collector's registration.
class PoolCollector : public ::prometheus::Collectable {
  public:
    /// Collects whatever `exposition` returns at each scrape.
    explicit PoolCollector(std::function<std::string()> exposition)
        : exposition_(std::move(exposition)) {}

    /// The pool's metric families, read now.
    std::vector<::prometheus::MetricFamily> Collect() const override;

  private:
    std::function<std::string()> exposition_;
};

/// Anything with a metrics_text() member, such as db::ConnectionPool.
template <typename P>
concept MetricsSource = requires(const P& p) {
    { p.metrics_text() } -> std::convertible_to<std::string>;
};

/// A collector for `pool`, to register with prometheus::Exposer or prometheus::Registry
/// (which hold it weakly: keep the returned pointer alive, and the pool alive while it is
/// registered).
template <MetricsSource P>
std::shared_ptr<PoolCollector> make_collector(const P& pool) {
    return std::make_shared<PoolCollector>([&pool] { return pool.metrics_text(); });
}

}  // namespace sparc::db::prometheus
