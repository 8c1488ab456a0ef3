#pragma once
/// @file monitoring.hpp
/// Real-time logs to Kinesis and CloudFront's additional metrics subscription.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <sparc/cdn/json.hpp>

namespace sparc::cdn {

/// The Kinesis data stream and the role CloudFront writes with (`KinesisStreamConfig`).
struct KinesisStreamConfig {
    std::string role_arn;    ///< `RoleARN`
    std::string stream_arn;  ///< `StreamARN`
    bool operator==(const KinesisStreamConfig&) const = default;
};

/// Where real-time log records go (`EndPoint`).
struct RealtimeLogEndPoint {
    std::string stream_type = "Kinesis";        ///< `StreamType`; CloudFront supports "Kinesis"
    KinesisStreamConfig kinesis_stream_config;  ///< `KinesisStreamConfig`
    bool operator==(const RealtimeLogEndPoint&) const = default;
};

/// A real-time log configuration (input of CreateRealtimeLogConfig). Its ARN goes in a cache
/// behaviour's `RealtimeLogConfigArn`.
struct RealtimeLogConfig {
    std::vector<RealtimeLogEndPoint> end_points;  ///< `EndPoints`
    std::vector<std::string> fields;              ///< `Fields`, e.g. "timestamp", "c-ip"
    std::string name;                             ///< `Name`
    std::int64_t sampling_rate = 100;             ///< `SamplingRate`, percent (1-100)
    bool operator==(const RealtimeLogConfig&) const = default;
};

/// Whether CloudFront's additional metrics are on (`RealtimeMetricsSubscriptionStatus`).
enum class RealtimeMetricsSubscriptionStatus { enabled, disabled };

/// Additional CloudFront metrics, such as OriginLatency, for one distribution (input of
/// CreateMonitoringSubscription).
struct MonitoringSubscription {
    std::string distribution_id;  ///< `DistributionId`
    RealtimeMetricsSubscriptionStatus realtime_metrics_subscription_status =
        RealtimeMetricsSubscriptionStatus::
            enabled;  ///< `MonitoringSubscription.RealtimeMetricsSubscriptionConfig.RealtimeMetricsSubscriptionStatus`
    bool operator==(const MonitoringSubscription&) const = default;
};

/// The real-time log fields CloudFront offers, in its documented order.
const std::vector<std::string_view>& realtime_log_fields();

/// @name JSON conversion (AWS member names)
///@{
SPARC_CDN_DECLARE_ENUM(RealtimeMetricsSubscriptionStatus)
SPARC_CDN_DECLARE_JSON(KinesisStreamConfig)
SPARC_CDN_DECLARE_JSON(RealtimeLogEndPoint)
SPARC_CDN_DECLARE_JSON(RealtimeLogConfig)
SPARC_CDN_DECLARE_JSON(MonitoringSubscription)
///@}

}  // namespace sparc::cdn
