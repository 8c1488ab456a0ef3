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
};

/// Recognises `document` (a `--cli-input-json` document of any call `render` writes, bare or
/// wrapped configurations such as `{"CachePolicyConfig": ...}`, `get-*-config` output with an
/// `ETag`, or a CloudFormation template) and checks it with the validator of its kind.
/// Unknown members and values are reported in `newer` instead of stopping the check; with
/// `strict` they are problems. Pointers are relative to `document`.
/// @throws JsonError if the document is of no known kind or not of its kind's shape.
DocumentReport check_document(const nlohmann::json& document, bool strict = false);

}  // namespace sparc::cdn
