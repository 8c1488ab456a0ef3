#pragma once
/// @file validate.hpp
/// Checks documents against the AWS schema and the rules CloudFront enforces at deploy time.

#include <string>
#include <vector>

#include <sparc/cdn/alarms.hpp>
#include <sparc/cdn/distribution.hpp>
#include <sparc/cdn/edge_function.hpp>
#include <sparc/cdn/field_level_encryption.hpp>
#include <sparc/cdn/monitoring.hpp>
#include <sparc/cdn/origin_access.hpp>
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

/// Problems with the field name patterns of one field-level encryption profile (all its
/// entities together), at paths relative to the list: none, more than 10 (CloudFront's quota),
/// empty or over 128 characters, characters other than letters, digits and `-_.`, a `*`
/// other than the last character, duplicates, and patterns that overlap (`uploader*` and
/// `uploader_email`: CloudFront refuses a field two patterns match).
std::vector<Problem> validate_field_patterns(const std::vector<std::string>& patterns);

/// Problems with a field-level encryption profile: name and provider ids (1-128 letters,
/// digits, `-` and `_`), comment length, at least one entity with a public key id, and the
/// field patterns of validate_field_patterns() (paths name the entity and item).
std::vector<Problem> validate(const FieldLevelEncryptionProfileConfig& profile);

/// Problems with a field-level encryption configuration: comment length, at most 10 query
/// argument and content type profiles, no query argument or content type twice.
std::vector<Problem> validate(const FieldLevelEncryptionConfig& config);

/// Problems with a public key: name (1-128 letters, digits, `-` and `_`), comment length, and
/// an encoded key that is an RSA 2048 public key in PEM (not a private key).
std::vector<Problem> validate(const PublicKeyConfig& key);

/// Problems with an origin access control: name of 1-64 characters, description length.
std::vector<Problem> validate(const OriginAccessControlConfig& oac);

/// Problems with a real-time log configuration: name, SamplingRate 1-100, one Kinesis end
/// point, at least one field and no field twice.
std::vector<Problem> validate(const RealtimeLogConfig& config);

/// Problems with a Lambda function's limits: name length, Timeout 1-900, MemorySize
/// 128-10240, description length.
std::vector<Problem> validate(const EdgeFunction& function);

}  // namespace sparc::cdn
