// The video platform's parameters: checks, defaults, and reading them from JSON variables.

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <map>
#include <regex>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

#include <sparc/cdn/validate.hpp>

#include "detail/enums.hpp"
#include "detail/json_io.hpp"
#include "detail/preset_params.hpp"
#include "detail/regions.hpp"

namespace sparc::cdn::detail {

namespace {

using presets::S3Access;
using presets::VideoPlatformParams;

constexpr std::int64_t kMaxTtl = 3'153'600'000;  // 100 years, CloudFront's upper bound

[[noreturn]] void invalid(std::string_view name, std::string_view why) {
    throw std::invalid_argument(fmt::format("video_platform: {} {}", name, why));
}

void require(const std::string& value, std::string_view name) {
    if (value.empty()) {
        invalid(name, "is required");
    }
}

void check_hostname(const std::string& value, std::string_view name) {
    const auto label_ok = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.';
    };
    if (value.empty() || value.size() > 253 || !std::all_of(value.begin(), value.end(), label_ok) ||
        value.front() == '.' || value.back() == '.' || value.find("..") != std::string::npos) {
        invalid(name, fmt::format("\"{}\" is not a domain name", value));
    }
    std::size_t start = 0;
    while (start <= value.size()) {
        const auto end = std::min(value.find('.', start), value.size());
        const auto label = std::string_view(value).substr(start, end - start);
        if (label.size() > 63 || label.front() == '-' || label.back() == '-') {
            invalid(name, fmt::format("\"{}\" is not a domain name: label \"{}\" must be 1-63 "
                                      "characters, not starting or ending with -",
                                      value, label));
        }
        start = end + 1;
    }
    const auto last = std::string_view(value).substr(value.rfind('.') + 1);
    if (std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        invalid(name,
                fmt::format("\"{}\" is an IP address; CloudFront needs a domain name", value));
    }
}

void check_bucket(const std::string& value, std::string_view name) {
    const auto bucket_ok = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    };
    if (!value.empty() && (value.size() < 3 || value.size() > 63 ||
                           !std::all_of(value.begin(), value.end(), bucket_ok))) {
        invalid(name, fmt::format("\"{}\" is not an S3 bucket name (3-63 of a-z 0-9 . -)", value));
    }
    if (value.empty()) {
        return;
    }
    // S3's other naming rules.
    static const std::regex kIpAddress(R"(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})");
    const auto edge_ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!edge_ok(value.front()) || !edge_ok(value.back())) {
        invalid(name, fmt::format("\"{}\" is not an S3 bucket name: it must begin and end with a "
                                  "letter or digit",
                                  value));
    }
    if (value.find("..") != std::string::npos || value.find(".-") != std::string::npos ||
        value.find("-.") != std::string::npos) {
        invalid(name, fmt::format("\"{}\" is not an S3 bucket name: no two periods, or a period "
                                  "and a hyphen, may be adjacent",
                                  value));
    }
    if (std::regex_match(value, kIpAddress)) {
        invalid(name, fmt::format("\"{}\" is not an S3 bucket name: it must not look like an IP "
                                  "address",
                                  value));
    }
    if (value.starts_with("xn--") || value.starts_with("sthree-") || value.ends_with("-s3alias") ||
        value.ends_with("--ol-s3")) {
        invalid(name, fmt::format("\"{}\" is not an S3 bucket name: the prefixes xn-- and sthree- "
                                  "and the suffixes -s3alias and --ol-s3 are reserved",
                                  value));
    }
}

// Number of Unicode characters of UTF-8 text, or npos if it is not UTF-8.
std::size_t utf8_length(std::string_view text) {
    std::size_t count = 0;
    for (std::size_t i = 0; i < text.size(); ++count) {
        const auto c = static_cast<unsigned char>(text[i]);
        const std::size_t n = c < 0x80           ? 1
                              : (c >> 5) == 0x6  ? 2
                              : (c >> 4) == 0xe  ? 3
                              : (c >> 3) == 0x1e ? 4
                                                 : 0;
        if (n == 0 || i + n > text.size()) {
            return std::string_view::npos;
        }
        for (std::size_t k = 1; k < n; ++k) {
            if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) {
                return std::string_view::npos;
            }
        }
        i += n;
    }
    return count;
}

// Tag keys and values AWS accepts: letters, digits, whitespace and _ . : / = + - @
// (`[\p{L}\p{Z}\p{N}_.:/=+\-@]*`). Characters beyond ASCII are taken to be letters.
void check_tag_text(std::string_view text, std::size_t max, std::string_view what,
                    std::string_view key) {
    const auto length = utf8_length(text);
    if (length == std::string_view::npos) {
        invalid("tags", fmt::format("{} of \"{}\" is not UTF-8", what, key));
    }
    if (length > max) {
        invalid("tags", fmt::format("{} of \"{}\" is longer than {} characters", what, key, max));
    }
    static constexpr std::string_view kPunctuation = "_.:/=+-@ ";
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c >= 0x80 || std::isalnum(c) != 0 || kPunctuation.find(ch) != std::string_view::npos) {
            continue;
        }
        invalid("tags", fmt::format("{} of \"{}\" has the character '{}'; AWS accepts only "
                                    "letters, digits, spaces and _ . : / = + - @",
                                    what, key,
                                    std::isprint(c) != 0 ? std::string(1, ch)
                                                         : fmt::format("\\x{:02x}", c)));
    }
}

// An IAM role ARN (the account may be the {{AccountId}} placeholder).
void check_role_arn(const std::string& value, std::string_view name) {
    static const std::regex kRole(
        R"(arn:aws:iam::(\d{12}|\{\{AccountId\}\}):role/([\w+=,.@-]+/)*[\w+=,.@-]{1,64})");
    if (!value.empty() && !std::regex_match(value, kRole)) {
        invalid(name, fmt::format("\"{}\" is not an IAM role ARN "
                                  "(arn:aws:iam::ACCOUNT:role/NAME, ACCOUNT 12 digits)",
                                  value));
    }
}

void check_range(std::int64_t value, std::int64_t low, std::int64_t high, std::string_view name,
                 std::string_view unit = "") {
    if (value < low || value > high) {
        invalid(name, fmt::format("is {}; it must be {}-{}{}", value, low, high, unit));
    }
}

void check_params(const VideoPlatformParams& p) {
    require(p.environment, "environment");
    require(p.api_gateway_domain, "api_gateway_domain");
    require(p.video_streaming_domain, "video_streaming_domain");
    require(p.cdn_domain_name, "cdn_domain_name");
    if (p.jwt_public_key.empty() && p.jwt_public_keys.empty()) {
        invalid("jwt_public_key", "is required (or jwt_public_keys)");
    }
    require(p.field_encryption_public_key, "field_encryption_public_key");
    require(p.sns_alert_topic_arn, "sns_alert_topic_arn");
    // The environment is part of bucket, policy and alarm names, which accept little else.
    const auto env_ok = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    };
    if (!std::all_of(p.environment.begin(), p.environment.end(), env_ok) ||
        p.environment.size() > 20) {
        invalid("environment",
                fmt::format("\"{}\" must be 1-20 characters of a-z, 0-9 and -", p.environment));
    }
    check_hostname(p.api_gateway_domain, "api_gateway_domain");
    check_hostname(p.video_streaming_domain, "video_streaming_domain");
    check_hostname(p.cdn_domain_name, "cdn_domain_name");
    if (std::any_of(p.cdn_domain_name.begin(), p.cdn_domain_name.end(),
                    [](char c) { return c >= 'A' && c <= 'Z'; })) {
        // CloudFront and ACM take aliases in lower case (CloudFormation's schema too).
        invalid("cdn_domain_name",
                fmt::format("\"{}\" must be written in lower case", p.cdn_domain_name));
    }
    if (!p.websocket_api_domain.empty()) {
        check_hostname(p.websocket_api_domain, "websocket_api_domain");
    }
    check_bucket(p.video_bucket, "video_bucket");
    check_bucket(p.static_assets_bucket, "static_assets_bucket");
    check_bucket(p.logs_bucket, "logs_bucket");
    check_bucket(p.artifacts_bucket, "artifacts_bucket");

    // Keys: RS256 wants RSA keys of 2048 bits or more; field-level encryption exactly 2048.
    if (!p.jwt_public_key.empty()) {
        check_rsa_public_key_pem(p.jwt_public_key, "jwt_public_key", 2048);
    }
    for (const auto& [kid, pem] : p.jwt_public_keys) {
        if (kid.empty() || kid.size() > 256) {
            invalid("jwt_public_keys", "key ids must be 1-256 characters");
        }
        check_rsa_public_key_pem(pem, fmt::format("jwt_public_keys[\"{}\"]", kid), 2048);
    }
    check_rsa_public_key_pem(p.field_encryption_public_key, "field_encryption_public_key", 2048,
                             true);

    // Alarms live in us-east-1 (CloudFront's metrics are there), and an alarm can only notify
    // a topic of its own region.
    static const std::regex kTopic(
        R"(arn:aws:sns:us-east-1:(\d{12}|\{\{AccountId\}\}):[A-Za-z0-9_-]{1,256})");
    if (!std::regex_match(p.sns_alert_topic_arn, kTopic)) {
        invalid("sns_alert_topic_arn",
                fmt::format("\"{}\" is not an SNS topic ARN in us-east-1 "
                            "(arn:aws:sns:us-east-1:ACCOUNT:NAME); CloudFront alarms are "
                            "created in us-east-1 and can only notify topics there",
                            p.sns_alert_topic_arn));
    }
    static const std::regex kAccount(R"(\d{12})");
    if (!p.aws_account_id.empty() && !std::regex_match(p.aws_account_id, kAccount)) {
        invalid("aws_account_id",
                fmt::format("\"{}\" is not an AWS account id (12 digits)", p.aws_account_id));
    }
    check_role_arn(p.realtime_logs_role_arn, "realtime_logs_role_arn");
    check_role_arn(p.edge_function_role_arn, "edge_function_role_arn");
    static const std::regex kStream(
        R"(arn:aws:kinesis:[a-z]{2}(-gov)?-[a-z]+-\d{1,2}:(\d{12}|\{\{AccountId\}\}):stream/[\w.-]{1,128})");
    if (!p.kinesis_stream_arn.empty() && !std::regex_match(p.kinesis_stream_arn, kStream)) {
        invalid("kinesis_stream_arn", fmt::format("\"{}\" is not a Kinesis stream ARN "
                                                  "(arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)",
                                                  p.kinesis_stream_arn));
    }
    static const std::regex kCertificate(
        R"(arn:aws:acm:us-east-1:(\d{12}|\{\{AccountId\}\}):certificate/[0-9a-f-]{1,64})");
    if (!p.certificate_arn.empty() && !std::regex_match(p.certificate_arn, kCertificate)) {
        invalid("certificate_arn",
                fmt::format("\"{}\" is not an ACM certificate ARN in us-east-1 "
                            "(arn:aws:acm:us-east-1:ACCOUNT:certificate/ID); CloudFront uses "
                            "certificates from us-east-1 only",
                            p.certificate_arn));
    }
    // Region names: us-east-1, eu-central-2, us-gov-west-1, ap-southeast-7, ...
    static const std::regex kRegion(
        R"([a-z]{2}(-gov)?-(north|south|east|west|central|northeast|northwest|southeast|southwest)-\d{1,2})");
    if (!std::regex_match(p.bucket_region, kRegion)) {
        invalid("bucket_region",
                fmt::format("\"{}\" is not an AWS region (e.g. us-east-1)", p.bucket_region));
    }
    if (std::find(kOriginShieldRegions.begin(), kOriginShieldRegions.end(),
                  p.origin_shield_region) == kOriginShieldRegions.end()) {
        std::string regions;
        for (auto r : kOriginShieldRegions) {
            regions += fmt::format("{}{}", regions.empty() ? "" : ", ", r);
        }
        invalid("origin_shield_region",
                fmt::format("\"{}\" is not an Origin Shield region; use one of {}",
                            p.origin_shield_region, regions));
    }
    check_range(p.rate_limit, waf::kMinRateLimit, waf::kMaxRateLimit, "waf_rate_limit",
                " requests per 5 minutes");
    check_range(p.realtime_log_sampling_rate, 1, 100, "realtime_log_sampling_rate", " percent");

    if (p.encrypted_fields.empty()) {
        invalid("encrypted_fields", "must name at least one field");
    }
    if (p.encrypted_fields.size() > 10) {
        invalid("encrypted_fields", "may name at most 10 fields (CloudFront's quota)");
    }
    for (const auto& field : p.encrypted_fields) {
        if (field.empty() || field.size() > 128) {
            invalid("encrypted_fields", "entries must be 1-128 characters");
        }
    }
    // Duplicates, overlapping patterns, characters: the profile's own rules.
    if (const auto problems = validate_field_patterns(p.encrypted_fields); !problems.empty()) {
        const auto& first = problems.front();
        invalid("encrypted_fields",
                first.path.empty()
                    ? first.message
                    : fmt::format("item {}: {}", first.path.substr(1), first.message));
    }
    // The edge function matches every request against every pattern, in time proportional to
    // the path's length times the patterns'.
    std::size_t public_path_chars = 0;
    for (const auto& path : p.public_paths) {
        if (path.empty() || path.front() != '/') {
            invalid("public_paths", fmt::format("\"{}\" must start with /", path));
        }
        public_path_chars += path.size();
    }
    if (public_path_chars > 4096) {
        invalid("public_paths", fmt::format("hold {} characters in all; at most 4096 are allowed",
                                            public_path_chars));
    }

    // Origins as browsers send them: scheme://host[:port], no path; or * for any.
    static const std::regex kOrigin(
        R"(\*|https?://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?)");
    for (const auto& origin : p.cors_allowed_origins) {
        if (!std::regex_match(origin, kOrigin)) {
            invalid("cors_allowed_origins",
                    fmt::format("\"{}\" is not an origin (https://host or https://host:port, "
                                "no path; or *)",
                                origin));
        }
    }
    // HTTP header names (RFC 9110 tokens).
    static const std::regex kHeaderName(R"([A-Za-z0-9!#$%&'*+.^_`|~-]{1,256})");
    for (const auto& header : p.cors_allowed_headers) {
        if (!std::regex_match(header, kHeaderName)) {
            invalid("cors_allowed_headers",
                    fmt::format("\"{}\" is not an HTTP header name", header));
        }
    }

    check_range(p.video_default_ttl, 0, kMaxTtl, "video_default_ttl", " seconds");
    check_range(p.video_max_ttl, 0, kMaxTtl, "video_max_ttl", " seconds");
    check_range(p.api_max_ttl, 0, kMaxTtl, "api_max_ttl", " seconds");
    check_range(p.static_default_ttl, 1, kMaxTtl, "static_default_ttl", " seconds");
    if (p.video_default_ttl > p.video_max_ttl) {
        invalid("video_default_ttl", fmt::format("({}) must not exceed video_max_ttl ({})",
                                                 p.video_default_ttl, p.video_max_ttl));
    }
    // The API policy keys the cache on Authorization and compresses, which needs caching.
    if (p.api_max_ttl < 1) {
        invalid("api_max_ttl",
                fmt::format("is {}; it must be at least 1 second: the API cache policy keys on "
                            "the Authorization header and compresses, which CloudFront allows "
                            "only when responses may be cached",
                            p.api_max_ttl));
    }
    if (p.static_default_ttl > 31536000) {
        invalid("static_default_ttl",
                fmt::format("({}) must not exceed the static assets' maximum TTL (31536000)",
                            p.static_default_ttl));
    }

    if (p.tags.size() > 50) {
        invalid("tags", "may hold at most 50 tags");
    }
    for (const auto& [key, value] : p.tags) {
        if (key.empty() || key.rfind("aws:", 0) == 0) {
            invalid("tags", fmt::format("key \"{}\" must be 1-128 characters, not starting with "
                                        "aws:",
                                        key));
        }
        check_tag_text(key, 128, "key", key);
        // AWS allows values of 256 characters, but CloudFormation's AWS::Kinesis::Stream only 255.
        check_tag_text(value, 255, "value", key);
        if (value.empty()) {
            // CloudFormation's schemas of several resources here require 1 character.
            invalid("tags", fmt::format("value of \"{}\" is empty; give it a value", key));
        }
    }
    if (!std::isfinite(p.error_rate_4xx_threshold) || p.error_rate_4xx_threshold <= 0 ||
        p.error_rate_4xx_threshold > 100) {
        invalid("error_rate_4xx_threshold", "must be a percentage above 0 and at most 100");
    }
    if (!std::isfinite(p.error_rate_5xx_threshold) || p.error_rate_5xx_threshold <= 0 ||
        p.error_rate_5xx_threshold > 100) {
        invalid("error_rate_5xx_threshold", "must be a percentage above 0 and at most 100");
    }
    if (!std::isfinite(p.origin_latency_threshold_ms) || p.origin_latency_threshold_ms <= 0) {
        invalid("origin_latency_threshold_ms", "must be a positive number of milliseconds");
    }
}

}  // namespace

VideoPlatformParams complete_params(VideoPlatformParams p,
                                    presets::VideoPlatformStack::Derived& derived) {
    check_params(p);
    const auto& env = p.environment;
    const std::string account =
        p.aws_account_id.empty() ? placeholder(presets::refs::kAccountId) : p.aws_account_id;
    p.aws_account_id = account;
    auto fill = [](std::string& value, std::string fallback) {
        if (value.empty()) {
            value = std::move(fallback);
            return true;
        }
        return false;
    };
    fill(p.video_bucket, fmt::format("sparc-{}-videos", env));
    fill(p.static_assets_bucket, fmt::format("sparc-{}-static-assets", env));
    fill(p.logs_bucket, fmt::format("sparc-{}-cdn-logs", env));
    fill(p.artifacts_bucket, fmt::format("sparc-{}-deploy-artifacts", env));
    fill(p.certificate_arn, placeholder(presets::refs::kCertificateArn));
    fill(p.websocket_api_domain, p.api_gateway_domain);
    derived.kinesis_stream =
        fill(p.kinesis_stream_arn,
             fmt::format("arn:aws:kinesis:us-east-1:{}:stream/sparc-{}-cdn-realtime-logs", account,
                         env));
    derived.realtime_logs_role =
        fill(p.realtime_logs_role_arn,
             fmt::format("arn:aws:iam::{}:role/sparc-{}-cdn-realtime-logs", account, env));
    derived.edge_function_role =
        fill(p.edge_function_role_arn,
             fmt::format("arn:aws:iam::{}:role/sparc-{}-edge-auth", account, env));
    if (p.tags.empty()) {
        p.tags = {{"Environment", env}, {"Service", "sparc-cdn"}};
    }
    return p;
}

}  // namespace sparc::cdn::detail

// ---- parameters from JSON ------------------------------------------------------------------

namespace sparc::cdn::presets {

namespace {

using Setter = std::function<void(VideoPlatformParams&, const nlohmann::json&, const std::string&)>;

template <class T>
Setter field(T VideoPlatformParams::*member) {
    return [member](VideoPlatformParams& p, const nlohmann::json& j, const std::string& path) {
        detail::read_value(j, path, p.*member);
    };
}

Setter string_map(std::map<std::string, std::string> VideoPlatformParams::*member) {
    return [member](VideoPlatformParams& p, const nlohmann::json& j, const std::string& path) {
        if (!j.is_object()) {
            detail::throw_type_error(path, "an object of strings", j);
        }
        auto& out = p.*member;
        out.clear();
        for (const auto& [key, value] : j.items()) {
            if (!value.is_string()) {
                detail::throw_type_error(detail::pointer_append(path, key), "a string", value);
            }
            out[key] = value.get<std::string>();
        }
    };
}

const std::map<std::string, Setter, std::less<>>& setters() {
    static const std::map<std::string, Setter, std::less<>> table{
        {"environment", field(&VideoPlatformParams::environment)},
        {"api_gateway_domain", field(&VideoPlatformParams::api_gateway_domain)},
        {"video_streaming_domain", field(&VideoPlatformParams::video_streaming_domain)},
        {"cdn_domain_name", field(&VideoPlatformParams::cdn_domain_name)},
        {"jwt_public_key", field(&VideoPlatformParams::jwt_public_key)},
        {"jwt_public_keys", string_map(&VideoPlatformParams::jwt_public_keys)},
        {"field_encryption_public_key", field(&VideoPlatformParams::field_encryption_public_key)},
        {"sns_alert_topic_arn", field(&VideoPlatformParams::sns_alert_topic_arn)},
        {"aws_account_id", field(&VideoPlatformParams::aws_account_id)},
        {"video_bucket", field(&VideoPlatformParams::video_bucket)},
        {"static_assets_bucket", field(&VideoPlatformParams::static_assets_bucket)},
        {"logs_bucket", field(&VideoPlatformParams::logs_bucket)},
        {"artifacts_bucket", field(&VideoPlatformParams::artifacts_bucket)},
        {"bucket_region", field(&VideoPlatformParams::bucket_region)},
        {"bucket_access",
         [](VideoPlatformParams& p, const nlohmann::json& j, const std::string& path) {
             if (j == "origin-access-control") {
                 p.bucket_access = S3Access::origin_access_control;
             } else if (j == "origin-access-identity") {
                 p.bucket_access = S3Access::origin_access_identity;
             } else {
                 throw JsonError(path,
                                 "expected \"origin-access-control\" or "
                                 "\"origin-access-identity\"");
             }
         }},
        {"certificate_arn", field(&VideoPlatformParams::certificate_arn)},
        {"origin_shield_region", field(&VideoPlatformParams::origin_shield_region)},
        {"kinesis_stream_arn", field(&VideoPlatformParams::kinesis_stream_arn)},
        {"realtime_logs_role_arn", field(&VideoPlatformParams::realtime_logs_role_arn)},
        {"edge_function_role_arn", field(&VideoPlatformParams::edge_function_role_arn)},
        {"price_class", field(&VideoPlatformParams::price_class)},
        {"waf_rate_limit", field(&VideoPlatformParams::rate_limit)},
        {"rate_limit", field(&VideoPlatformParams::rate_limit)},
        {"encrypted_fields", field(&VideoPlatformParams::encrypted_fields)},
        {"public_paths", field(&VideoPlatformParams::public_paths)},
        {"cors_allowed_origins", field(&VideoPlatformParams::cors_allowed_origins)},
        {"cors_allowed_headers", field(&VideoPlatformParams::cors_allowed_headers)},
        {"jwt_issuer", field(&VideoPlatformParams::jwt_issuer)},
        {"jwt_audience", field(&VideoPlatformParams::jwt_audience)},
        {"websocket_api_domain", field(&VideoPlatformParams::websocket_api_domain)},
        {"video_default_ttl", field(&VideoPlatformParams::video_default_ttl)},
        {"video_max_ttl", field(&VideoPlatformParams::video_max_ttl)},
        {"api_max_ttl", field(&VideoPlatformParams::api_max_ttl)},
        {"static_default_ttl", field(&VideoPlatformParams::static_default_ttl)},
        {"tags", string_map(&VideoPlatformParams::tags)},
        {"realtime_log_sampling_rate", field(&VideoPlatformParams::realtime_log_sampling_rate)},
        {"error_rate_4xx_threshold", field(&VideoPlatformParams::error_rate_4xx_threshold)},
        {"error_rate_5xx_threshold", field(&VideoPlatformParams::error_rate_5xx_threshold)},
        {"origin_latency_threshold_ms", field(&VideoPlatformParams::origin_latency_threshold_ms)},
    };
    return table;
}

}  // namespace

VideoPlatformParams video_platform_params_from_json(const nlohmann::json& vars) {
    if (!vars.is_object()) {
        detail::throw_type_error("", "an object of variables", vars);
    }
    if (vars.contains("rate_limit") && vars.contains("waf_rate_limit")) {
        throw JsonError("/rate_limit",
                        "give waf_rate_limit or its older name rate_limit, not both");
    }
    VideoPlatformParams params;
    const auto& table = setters();
    for (const auto& [key, value] : vars.items()) {
        const auto path = detail::pointer_append("", key);
        auto it = table.find(key);
        if (it == table.end()) {
            std::string known;
            for (const auto& [name, setter] : table) {
                known += (known.empty() ? "" : ", ") + name;
            }
            throw JsonError(
                path, fmt::format("unknown variable \"{}\"; known variables: {}", key, known));
        }
        it->second(params, value, path);
    }
    for (const char* name :
         {"environment", "api_gateway_domain", "video_streaming_domain", "cdn_domain_name",
          "field_encryption_public_key", "sns_alert_topic_arn"}) {
        const auto it = vars.find(name);
        if (it == vars.end()) {
            throw JsonError(detail::pointer_append("", name),
                            fmt::format("required variable \"{}\" is missing", name));
        }
        if (it->get_ref<const std::string&>().empty()) {
            throw JsonError(detail::pointer_append("", name),
                            fmt::format("required variable \"{}\" is empty", name));
        }
    }
    if (params.jwt_public_key.empty() && params.jwt_public_keys.empty()) {
        throw JsonError("/jwt_public_key",
                        "required variable \"jwt_public_key\" is missing (or give "
                        "jwt_public_keys)");
    }
    return params;
}

}  // namespace sparc::cdn::presets
