// JSON mapping of the WAFv2, CloudWatch and Lambda inputs.

#include <sparc/cdn/alarms.hpp>
#include <sparc/cdn/edge_function.hpp>
#include <sparc/cdn/waf.hpp>

#include "detail/enums.hpp"
#include "detail/json_io.hpp"

namespace sparc::cdn {

using detail::Presence;

namespace waf {

namespace {

// WAF actions are objects with one empty member named after the action: {"Block": {}}.
template <class Io, class E>
void action_member(Io& io, const char* name, std::optional<E>& value) {
    if constexpr (Io::kReading) {
        std::optional<nlohmann::json> raw;
        io.optional(name, raw);
        value.reset();
        if (!raw) {
            return;
        }
        const auto path = detail::pointer_append(io.path(), name);
        if (!raw->is_object() || raw->size() != 1) {
            throw JsonError(path, fmt::format("expected an object with exactly one of: {}",
                                              detail::enum_choices<E>()));
        }
        // Not `*raw->items().begin()`: that dereferences a temporary iterator proxy.
        const auto first = raw->cbegin();
        const std::string key = first.key();
        const nlohmann::json& inner = first.value();
        auto parsed = detail::enum_parse<E>(key);
        if (!parsed) {
            throw JsonError(detail::pointer_append(path, key),
                            fmt::format("unknown action \"{}\"; expected one of: {}", key,
                                        detail::enum_choices<E>()));
        }
        if (!inner.is_object() || !inner.empty()) {
            throw JsonError(detail::pointer_append(path, key),
                            "custom request handling and custom responses are not supported; "
                            "expected {}");
        }
        value = *parsed;
    } else {
        if (!value) {
            return;
        }
        io.object(name, [&](auto& inner) {
            inner.marker(std::string(detail::enum_name(*value)).c_str());
        });
    }
}

}  // namespace

SPARC_CDN_DESCRIBE(VisibilityConfig) {
    io.required("SampledRequestsEnabled", v.sampled_requests_enabled);
    io.required("CloudWatchMetricsEnabled", v.cloudwatch_metrics_enabled);
    io.required("MetricName", v.metric_name);
}
SPARC_CDN_DESCRIBE(RateBasedStatement) {
    io.required("Limit", v.limit);
    io.required("AggregateKeyType", v.aggregate_key_type);
}
SPARC_CDN_DESCRIBE(ExcludedRule) { io.required("Name", v.name); }
SPARC_CDN_DESCRIBE(RuleActionOverride) {
    io.required("Name", v.name);
    std::optional<Action> action = v.action_to_use;
    action_member(io, "ActionToUse", action);
    if constexpr (Io::kReading) {
        if (!action) {
            io.missing("ActionToUse");
        }
        v.action_to_use = *action;
    }
}
SPARC_CDN_DESCRIBE(ManagedRuleGroupStatement) {
    io.required("VendorName", v.vendor_name);
    io.required("Name", v.name);
    io.optional("Version", v.version);
    io.array("ExcludedRules", v.excluded_rules, Presence::optional);
    io.array("RuleActionOverrides", v.rule_action_overrides, Presence::optional);
}
SPARC_CDN_DESCRIBE(Statement) {
    io.optional("RateBasedStatement", v.rate_based_statement);
    io.optional("ManagedRuleGroupStatement", v.managed_rule_group_statement);
}
SPARC_CDN_DESCRIBE(Rule) {
    io.required("Name", v.name);
    io.required("Priority", v.priority);
    io.required("Statement", v.statement);
    if constexpr (Io::kReading) {
        action_member(io, "Action", v.action);
        action_member(io, "OverrideAction", v.override_action);
    } else {
        auto action = v.action;
        auto override_action = v.override_action;
        action_member(io, "Action", action);
        action_member(io, "OverrideAction", override_action);
    }
    io.required("VisibilityConfig", v.visibility_config);
}
SPARC_CDN_DESCRIBE(Tag) {
    io.required("Key", v.key);
    io.required("Value", v.value);
}
SPARC_CDN_DESCRIBE(WebAcl) {
    io.required("Name", v.name);
    io.required("Scope", v.scope);
    std::optional<Action> default_action = v.default_action;
    action_member(io, "DefaultAction", default_action);
    if constexpr (Io::kReading) {
        if (!default_action) {
            io.missing("DefaultAction");
        }
        v.default_action = *default_action;
    }
    io.optional("Description", v.description);
    io.array("Rules", v.rules, Presence::optional);
    io.required("VisibilityConfig", v.visibility_config);
    io.array("Tags", v.tags, Presence::optional);
}

SPARC_CDN_DEFINE_ENUM(Scope)
SPARC_CDN_DEFINE_ENUM(Action)
SPARC_CDN_DEFINE_ENUM(OverrideAction)
SPARC_CDN_DEFINE_ENUM(AggregateKeyType)
SPARC_CDN_DEFINE_JSON(VisibilityConfig)
SPARC_CDN_DEFINE_JSON(RateBasedStatement)
SPARC_CDN_DEFINE_JSON(ExcludedRule)
SPARC_CDN_DEFINE_JSON(RuleActionOverride)
SPARC_CDN_DEFINE_JSON(ManagedRuleGroupStatement)
SPARC_CDN_DEFINE_JSON(Statement)
SPARC_CDN_DEFINE_JSON(Rule)
SPARC_CDN_DEFINE_JSON(Tag)
SPARC_CDN_DEFINE_JSON(WebAcl)

}  // namespace waf

SPARC_CDN_DESCRIBE(Dimension) {
    io.required("Name", v.name);
    io.required("Value", v.value);
}
SPARC_CDN_DESCRIBE(AlarmTag) {
    io.required("Key", v.key);
    io.required("Value", v.value);
}
SPARC_CDN_DESCRIBE(MetricAlarm) {
    io.required("AlarmName", v.alarm_name);
    io.optional("AlarmDescription", v.alarm_description);
    io.optional("ActionsEnabled", v.actions_enabled);
    io.array("OKActions", v.ok_actions, Presence::optional);
    io.array("AlarmActions", v.alarm_actions, Presence::optional);
    io.array("InsufficientDataActions", v.insufficient_data_actions, Presence::optional);
    io.optional("MetricName", v.metric_name);
    io.optional("Namespace", v.metric_namespace);
    io.optional("Statistic", v.statistic);
    io.optional("ExtendedStatistic", v.extended_statistic);
    io.array("Dimensions", v.dimensions, Presence::optional);
    io.optional("Period", v.period);
    io.optional("Unit", v.unit);
    io.required("EvaluationPeriods", v.evaluation_periods);
    io.optional("DatapointsToAlarm", v.datapoints_to_alarm);
    io.optional("Threshold", v.threshold);
    io.required("ComparisonOperator", v.comparison_operator);
    io.optional("TreatMissingData", v.treat_missing_data);
    io.array("Tags", v.tags, Presence::optional);
}

SPARC_CDN_DESCRIBE(FunctionCode) {
    io.required("S3Bucket", v.s3_bucket);
    io.required("S3Key", v.s3_key);
}
SPARC_CDN_DESCRIBE(EdgeFunction) {
    io.required("FunctionName", v.function_name);
    io.required("Runtime", v.runtime);
    io.required("Role", v.role);
    io.required("Handler", v.handler);
    io.required("Code", v.code);
    io.optional("Description", v.description);
    io.optional("Timeout", v.timeout);
    io.optional("MemorySize", v.memory_size);
    io.required("Publish", v.publish);
}

SPARC_CDN_DEFINE_ENUM(Statistic)
SPARC_CDN_DEFINE_ENUM(ComparisonOperator)
SPARC_CDN_DEFINE_ENUM(TreatMissingData)
SPARC_CDN_DEFINE_ENUM(StandardUnit)
SPARC_CDN_DEFINE_JSON(Dimension)
SPARC_CDN_DEFINE_JSON(AlarmTag)
SPARC_CDN_DEFINE_JSON(MetricAlarm)
SPARC_CDN_DEFINE_JSON(FunctionCode)
SPARC_CDN_DEFINE_JSON(EdgeFunction)

}  // namespace sparc::cdn
