#pragma once
/// @file alarms.hpp
/// CloudWatch metric alarms (input of cloudwatch PutMetricAlarm, API 2010-08-01).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sparc/cdn/json.hpp>

namespace sparc::cdn {

/// Statistic an alarm evaluates (`Statistic`).
enum class Statistic { sample_count, average, sum, minimum, maximum };

/// How the metric is compared with the threshold (`ComparisonOperator`).
enum class ComparisonOperator {
    greater_than_or_equal_to_threshold,
    greater_than_threshold,
    less_than_threshold,
    less_than_or_equal_to_threshold,
    less_than_lower_or_greater_than_upper_threshold,
    less_than_lower_threshold,
    greater_than_upper_threshold
};

/// How periods without data are treated (`TreatMissingData`).
enum class TreatMissingData { breaching, not_breaching, ignore, missing };

/// Unit of a metric (`StandardUnit`), the subset CloudFront metrics use.
enum class StandardUnit {
    none,
    percent,
    count,
    milliseconds,
    seconds,
    bytes,
    microseconds,
    kilobytes,
    megabytes,
    gigabytes,
    terabytes,
    bits,
    kilobits,
    megabits,
    gigabits,
    terabits,
    bytes_per_second,
    kilobytes_per_second,
    megabytes_per_second,
    gigabytes_per_second,
    terabytes_per_second,
    bits_per_second,
    kilobits_per_second,
    megabits_per_second,
    gigabits_per_second,
    terabits_per_second,
    count_per_second
};

/// A metric dimension (`Dimension`).
struct Dimension {
    std::string name;   ///< `Name`
    std::string value;  ///< `Value`
    bool operator==(const Dimension&) const = default;
};

/// An alarm tag (`Tag`).
struct AlarmTag {
    std::string key;    ///< `Key`
    std::string value;  ///< `Value`
    bool operator==(const AlarmTag&) const = default;
};

/// Namespace of CloudFront's metrics; they live in us-east-1 with dimension Region=Global.
inline constexpr std::string_view kCloudFrontMetricNamespace = "AWS/CloudFront";

/// A metric alarm (input of PutMetricAlarm).
struct MetricAlarm {
    std::string alarm_name;                              ///< `AlarmName`
    std::optional<std::string> alarm_description;        ///< `AlarmDescription`
    std::optional<bool> actions_enabled;                 ///< `ActionsEnabled`
    std::vector<std::string> ok_actions;                 ///< `OKActions`, e.g. SNS topic ARNs
    std::vector<std::string> alarm_actions;              ///< `AlarmActions`
    std::vector<std::string> insufficient_data_actions;  ///< `InsufficientDataActions`
    std::optional<std::string> metric_name;              ///< `MetricName`, e.g. "5xxErrorRate"
    std::optional<std::string> metric_namespace;         ///< `Namespace`, e.g. "AWS/CloudFront"
    std::optional<Statistic> statistic;                  ///< `Statistic`
    std::optional<std::string> extended_statistic;       ///< `ExtendedStatistic`, e.g. "p90"
    std::vector<Dimension> dimensions;                   ///< `Dimensions`
    std::optional<int> period;                           ///< `Period`, seconds
    std::optional<StandardUnit> unit;                    ///< `Unit`
    int evaluation_periods = 1;                          ///< `EvaluationPeriods`
    std::optional<int> datapoints_to_alarm;              ///< `DatapointsToAlarm`
    std::optional<double> threshold;                     ///< `Threshold`
    ComparisonOperator comparison_operator =
        ComparisonOperator::greater_than_threshold;      ///< `ComparisonOperator`
    std::optional<TreatMissingData> treat_missing_data;  ///< `TreatMissingData`
    std::vector<AlarmTag> tags;                          ///< `Tags`
    bool operator==(const MetricAlarm&) const = default;
};

/// @name JSON conversion (AWS member names)
///@{
SPARC_CDN_DECLARE_ENUM(Statistic)
SPARC_CDN_DECLARE_ENUM(ComparisonOperator)
SPARC_CDN_DECLARE_ENUM(TreatMissingData)
SPARC_CDN_DECLARE_ENUM(StandardUnit)
SPARC_CDN_DECLARE_JSON(Dimension)
SPARC_CDN_DECLARE_JSON(AlarmTag)
SPARC_CDN_DECLARE_JSON(MetricAlarm)
///@}

}  // namespace sparc::cdn
