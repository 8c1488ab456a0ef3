#pragma once
/// @file waf.hpp
/// AWS WAFv2 web ACLs for CloudFront (input of wafv2 CreateWebACL, API 2019-07-29).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sparc/cdn/json.hpp>

namespace sparc::cdn::waf {

/// Smallest `Limit` of a rate-based rule (requests per evaluation window); AWS lowered it from
/// 100 to 10 in 2024.
inline constexpr std::int64_t kMinRateLimit = 10;
/// Largest `Limit` of a rate-based rule.
inline constexpr std::int64_t kMaxRateLimit = 2'000'000'000;

/// Where a web ACL applies (`Scope`); CloudFront needs `cloudfront`, created in us-east-1.
enum class Scope { cloudfront, regional };

/// What a rule or the default action does with a request (`RuleAction`, `DefaultAction`).
enum class Action { allow, block, count, captcha, challenge };

/// What happens to the actions of a rule group's rules (`OverrideAction`).
enum class OverrideAction { none, count };

/// How a rate-based rule groups requests (`RateBasedStatementAggregateKeyType`).
enum class AggregateKeyType { ip, forwarded_ip };

/// Metrics and sampling of a rule or web ACL (`VisibilityConfig`).
struct VisibilityConfig {
    bool sampled_requests_enabled = true;    ///< `SampledRequestsEnabled`
    bool cloudwatch_metrics_enabled = true;  ///< `CloudWatchMetricsEnabled`
    std::string metric_name;                 ///< `MetricName`
    bool operator==(const VisibilityConfig&) const = default;
};

/// Blocks a client that sends more than `limit` requests in five minutes (`RateBasedStatement`).
struct RateBasedStatement {
    std::int64_t limit = 2000;  ///< `Limit` (kMinRateLimit - kMaxRateLimit)
    AggregateKeyType aggregate_key_type = AggregateKeyType::ip;  ///< `AggregateKeyType`
    bool operator==(const RateBasedStatement&) const = default;
};

/// A rule of a managed rule group whose action is replaced (`RuleActionOverride`); AWS's
/// replacement for ExcludedRules (exclude a rule: override it with Count).
struct RuleActionOverride {
    std::string name;                      ///< `Name` of a rule in the group
    Action action_to_use = Action::count;  ///< `ActionToUse`
    bool operator==(const RuleActionOverride&) const = default;
};

/// A rule of a managed rule group left out of evaluation (`ExcludedRule`). Deprecated by AWS:
/// validate() asks for RuleActionOverrides instead.
struct ExcludedRule {
    std::string name;  ///< `Name`
    bool operator==(const ExcludedRule&) const = default;
};

/// A rule group maintained by AWS or a Marketplace seller (`ManagedRuleGroupStatement`).
struct ManagedRuleGroupStatement {
    std::string vendor_name = "AWS";           ///< `VendorName`
    std::string name;                          ///< `Name`, e.g. "AWSManagedRulesSQLiRuleSet"
    std::optional<std::string> version;        ///< `Version`
    std::vector<ExcludedRule> excluded_rules;  ///< `ExcludedRules` (deprecated by AWS)
    std::vector<RuleActionOverride> rule_action_overrides{};  ///< `RuleActionOverrides`
    bool operator==(const ManagedRuleGroupStatement&) const = default;
};

/// The condition of a rule (`Statement`): set exactly one member.
struct Statement {
    std::optional<RateBasedStatement> rate_based_statement;  ///< `RateBasedStatement`
    std::optional<ManagedRuleGroupStatement>
        managed_rule_group_statement;  ///< `ManagedRuleGroupStatement`
    bool operator==(const Statement&) const = default;
};

/// One rule of a web ACL (`Rule`). Set `action` for plain statements and `override_action`
/// for rule group statements.
struct Rule {
    std::string name;              ///< `Name`
    int priority = 0;              ///< `Priority`: lower runs first; unique within the web ACL
    Statement statement;           ///< `Statement`
    std::optional<Action> action;  ///< `Action`
    std::optional<OverrideAction> override_action;  ///< `OverrideAction`
    VisibilityConfig visibility_config;             ///< `VisibilityConfig`
    bool operator==(const Rule&) const = default;
};

/// A resource tag (`Tag`).
struct Tag {
    std::string key;    ///< `Key`
    std::string value;  ///< `Value`
    bool operator==(const Tag&) const = default;
};

/// A web ACL (input of CreateWebACL). Its ARN goes in DistributionConfig::web_acl_id.
struct WebAcl {
    std::string name;                        ///< `Name`
    Scope scope = Scope::cloudfront;         ///< `Scope`
    Action default_action = Action::allow;   ///< `DefaultAction` (allow or block)
    std::optional<std::string> description;  ///< `Description`
    std::vector<Rule> rules;                 ///< `Rules`
    VisibilityConfig visibility_config;      ///< `VisibilityConfig`
    std::vector<Tag> tags;                   ///< `Tags`
    bool operator==(const WebAcl&) const = default;
};

/// @name JSON conversion (AWS member names)
///@{
SPARC_CDN_DECLARE_ENUM(Scope)
SPARC_CDN_DECLARE_ENUM(Action)
SPARC_CDN_DECLARE_ENUM(OverrideAction)
SPARC_CDN_DECLARE_ENUM(AggregateKeyType)
SPARC_CDN_DECLARE_JSON(VisibilityConfig)
SPARC_CDN_DECLARE_JSON(RateBasedStatement)
SPARC_CDN_DECLARE_JSON(ExcludedRule)
SPARC_CDN_DECLARE_JSON(RuleActionOverride)
SPARC_CDN_DECLARE_JSON(ManagedRuleGroupStatement)
SPARC_CDN_DECLARE_JSON(Statement)
SPARC_CDN_DECLARE_JSON(Rule)
SPARC_CDN_DECLARE_JSON(Tag)
SPARC_CDN_DECLARE_JSON(WebAcl)
///@}

}  // namespace sparc::cdn::waf
