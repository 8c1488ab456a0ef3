#pragma once
/// @file validate.hpp
/// Checks documents against the AWS schema and the rules CloudFront enforces at deploy time.

#include <string>
#include <vector>

#include <sparc/cdn/alarms.hpp>
#include <sparc/cdn/distribution.hpp>
#include <sparc/cdn/policies.hpp>
#include <sparc/cdn/waf.hpp>

namespace sparc::cdn {

/// One thing wrong with a document.
struct Problem {
    std::string path;     ///< JSON pointer of the offending value, e.g. "/Origins/Items/0/Id"
    std::string message;  ///< What is wrong and what to do about it
    bool operator==(const Problem&) const = default;
};

/// Every problem CloudFront would reject `config` for, or that would break it at run time:
/// required members, enumerations, lengths and quotas of the AWS schema, plus the service's
/// own rules (TTL order, references between behaviours and origins, method sets, edge
/// function placement, field-level encryption, certificates, timeouts and ports).
/// Paths are relative to the DistributionConfig object. An empty result means no problem found.
std::vector<Problem> validate(const DistributionConfig& config);

/// Problems with a cache policy: name, TTL order (min <= default <= max), header/cookie/query
/// string lists against their behaviours.
std::vector<Problem> validate(const CachePolicyConfig& policy);

/// Problems with an origin request policy: name, lists against their behaviours.
std::vector<Problem> validate(const OriginRequestPolicyConfig& policy);

/// Problems with a response headers policy: name, HSTS max age, CSP length, CORS lists.
std::vector<Problem> validate(const ResponseHeadersPolicyConfig& policy);

/// Problems with a web ACL: scope, names, unique rule names and priorities, one statement per
/// rule, Action for plain statements and OverrideAction for rule groups, rate limit range.
std::vector<Problem> validate(const waf::WebAcl& acl);

/// Problems with a metric alarm: names, at most 5 actions per state, datapoints within the
/// evaluation periods, one of Statistic and ExtendedStatistic, a period CloudWatch accepts,
/// and for CloudFront metrics the dimension Region=Global.
std::vector<Problem> validate(const MetricAlarm& alarm);

}  // namespace sparc::cdn
