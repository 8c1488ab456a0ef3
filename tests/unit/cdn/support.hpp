#pragma once
// Fixtures shared by the sparc::cdn unit tests.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sparc/cdn.hpp>

#include "sample_params.hpp"

namespace sparc::cdn::test {

/// Writes `document` to $SPARC_CDN_JSON_DUMP_DIR/SERVICE.SHAPE.LABEL.json when that variable is
/// set, for tests/cdn/check_botocore.py to check against the AWS service models.
inline void dump(std::string_view service, std::string_view shape, std::string_view label,
                 const nlohmann::json& document) {
    const char* dir = std::getenv("SPARC_CDN_JSON_DUMP_DIR");
    if (dir == nullptr || *dir == '\0') {
        return;
    }
    const auto path =
        std::filesystem::path(dir) /
        (std::string(service) + "." + std::string(shape) + "." + std::string(label) + ".json");
    std::ofstream(path) << document.dump(2);
}

/// Round-trips `value` through JSON, checks equality, and dumps the JSON.
template <class T>
nlohmann::json round_trip(const T& value, std::string_view service, std::string_view shape,
                          std::string_view label) {
    const nlohmann::json j = value;
    const auto back = j.get<T>();
    CHECK(back == value);
    // A second pass must produce identical JSON.
    CHECK(nlohmann::json(back) == j);
    dump(service, shape, label, j);
    return j;
}

/// True if some problem has exactly `path` and a message containing `text`.
inline bool has_problem(const std::vector<Problem>& problems, std::string_view path,
                        std::string_view text = {}) {
    for (const auto& p : problems) {
        if (p.path == path && p.message.find(text) != std::string::npos) {
            return true;
        }
    }
    return false;
}

/// Renders problems for failure messages.
inline std::string describe(const std::vector<Problem>& problems) {
    std::string out;
    for (const auto& p : problems) {
        out += p.path + ": " + p.message + "\n";
    }
    return out;
}

/// A small valid distribution: an S3 origin with OAC, a custom origin, and one behaviour.
inline DistributionConfig minimal_config() {
    DistributionConfig d;
    d.caller_reference = "test-1";
    d.comment = "test distribution";
    Origin s3;
    s3.id = "assets";
    s3.domain_name = "assets.s3.us-east-1.amazonaws.com";
    s3.s3_origin_config = S3OriginConfig{""};
    s3.origin_access_control_id = "E1OAC";
    Origin api;
    api.id = "api";
    api.domain_name = "api.example.com";
    api.custom_origin_config = CustomOriginConfig{
        80, 443, OriginProtocolPolicy::https_only, {SslProtocol::tlsv1_2}, 30, 5};
    d.origins = {s3, api};
    d.default_cache_behavior.target_origin_id = "assets";
    d.default_cache_behavior.viewer_protocol_policy = ViewerProtocolPolicy::redirect_to_https;
    d.default_cache_behavior.cache_policy_id = std::string(managed_cache_policy::kCachingOptimized);
    CacheBehavior b;
    b.path_pattern = "/api/*";
    b.target_origin_id = "api";
    b.viewer_protocol_policy = ViewerProtocolPolicy::https_only;
    b.allowed_methods = AllowedMethods{{Method::get, Method::head, Method::options, Method::put,
                                        Method::patch, Method::post, Method::del},
                                       {Method::get, Method::head}};
    b.cache_policy_id = std::string(managed_cache_policy::kCachingDisabled);
    b.origin_request_policy_id =
        std::string(managed_origin_request_policy::kAllViewerExceptHostHeader);
    d.cache_behaviors = {b};
    return d;
}

// A distribution that sets every member the model has, so round trips cover all of them.
inline DistributionConfig rich_config() {
    auto d = minimal_config();
    d.aliases = {"cdn.example.com", "*.media.example.com"};
    d.default_root_object = "index.html";
    auto& api = d.origins[1];
    api.origin_path = "/prod";
    api.custom_headers = {{"X-Origin-Verify", "secret"}};
    api.connection_attempts = 2;
    api.connection_timeout = 5;
    api.origin_shield = OriginShield{true, "eu-west-1"};
    Origin legacy;
    legacy.id = "legacy-bucket";
    legacy.domain_name = "legacy.s3.amazonaws.com";
    legacy.s3_origin_config = S3OriginConfig{"origin-access-identity/cloudfront/E2OAI"};
    d.origins.push_back(legacy);
    d.origin_groups = {
        OriginGroup{"assets-failover", {500, 502, 503, 504}, {"assets", "legacy-bucket"}}};

    CacheBehavior old_style;
    old_style.path_pattern = "images/*.jpg";
    old_style.target_origin_id = "assets-failover";
    old_style.trusted_key_groups = TrustedList{true, {"kg-1"}};
    old_style.trusted_signers = TrustedList{false, {}};
    old_style.viewer_protocol_policy = ViewerProtocolPolicy::allow_all;
    old_style.allowed_methods = AllowedMethods{{Method::get, Method::head}, {}};
    old_style.smooth_streaming = false;
    old_style.compress = true;
    old_style.lambda_function_associations = {
        {"arn:aws:lambda:us-east-1:123456789012:function:resize:4", EventType::origin_response,
         std::nullopt}};
    old_style.function_associations = {
        {"arn:aws:cloudfront::123456789012:function/rewrite", EventType::viewer_request}};
    old_style.forwarded_values =
        ForwardedValues{true, {ItemSelection::whitelist, {"session"}}, {"Origin"}, {"size"}};
    old_style.min_ttl = 0;
    old_style.default_ttl = 3600;
    old_style.max_ttl = 86400;
    d.cache_behaviors.push_back(old_style);
    d.cache_behaviors[0].field_level_encryption_id = "FLE1";
    d.cache_behaviors[0].realtime_log_config_arn =
        "arn:aws:cloudfront::123456789012:realtime-log-config/rt";
    d.cache_behaviors[0].response_headers_policy_id =
        std::string(managed_response_headers_policy::kSecurityHeadersPolicy);

    d.custom_error_responses = {{404, "/errors/404.html", "404", 60},
                                {503, std::nullopt, std::nullopt, 5}};
    d.logging = LoggingConfig{true, false, "logs.s3.amazonaws.com", "cdn/"};
    d.price_class = PriceClass::price_class_200;
    d.viewer_certificate = ViewerCertificate{std::nullopt,
                                             std::nullopt,
                                             "arn:aws:acm:us-east-1:123456789012:certificate/abc",
                                             SslSupportMethod::sni_only,
                                             MinimumProtocolVersion::tlsv1_2_2021,
                                             std::nullopt,
                                             std::nullopt};
    d.restrictions = Restrictions{{GeoRestrictionType::blacklist, {"KP", "IR"}}};
    d.web_acl_id = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/acl/1234";
    d.http_version = HttpVersion::http2and3;
    d.is_ipv6_enabled = true;
    d.staging = false;
    return d;
}

/// The message presets::video_platform() throws for `p`, or "" if it accepts them.
inline std::string rejection(const presets::VideoPlatformParams& p) {
    try {
        (void)presets::video_platform(p);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}

}  // namespace sparc::cdn::test
