#pragma once
/// @file document.hpp
/// Checking any document `sparc-cdn render` writes, or AWS returns, whatever its kind.

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include <sparc/cdn/validate.hpp>

namespace sparc::cdn {

/// What check_document() found.
struct DocumentReport {
    /// The kind recognised: "DistributionConfig", "CachePolicyConfig", "WebACL",
    /// "MetricAlarm", "CloudFormation template", ...
    std::string kind;
    /// What CloudFront (or WAF, CloudWatch, Lambda) would reject.
    std::vector<Problem> problems;
    /// Members and enumeration values this library does not know, which newer AWS API releases
    /// may have added (for example `GrpcConfig`); they were ignored while checking the rest.
    std::vector<Problem> newer;
    /// What was not checked: in a CloudFormation template, resources of a type this library
    /// does not model (`AWS::S3::Bucket`, ...), or whose properties are not plain values.
    std::vector<Problem> notes;
};

/// Recognises `document` (a `--cli-input-json` document of any call `render` writes, bare or
/// wrapped configurations such as `{"CachePolicyConfig": ...}`, `get-*-config` output with an
/// `ETag`, or a CloudFormation template) and checks it with the validator of its kind.
/// In a template, every resource of a kind with a validator (distribution, cache, origin
/// request and response headers policies, real-time log configuration, public key, origin
/// access control, field-level encryption profile and configuration, web ACL, alarm, Lambda
/// function) is checked at `/Resources/ID/Properties/...`, after converting CloudFormation's
/// property shapes back to the API's; `Ref`/`Fn::*` values stand for any value. References,
/// DependsOn (unknown targets, a resource depending on itself, cycles through DependsOn and
/// references) and resource types (malformed: a problem; well-formed but not modelled: a
/// note) are checked too.
/// Unknown members and values are reported in `newer` instead of stopping the check; with
/// `strict` they are problems. Pointers are relative to `document`.
/// @throws JsonError if the document is of no known kind or not of its kind's shape.
DocumentReport check_document(const nlohmann::json& document, bool strict = false);

/// Reads a DistributionConfig, bare or as `get-distribution-config` output (with `ETag`),
/// tolerating what newer API releases added: members and enumeration values this library does
/// not know (`IpAddressType`, ...) are skipped and listed in `ignored`.
/// @throws JsonError if the document is not a DistributionConfig.
DistributionConfig read_distribution_config(const nlohmann::json& document,
                                            std::vector<Problem>& ignored);

}  // namespace sparc::cdn
