// The video platform preset: the whole CDN stack of the design, from a few parameters.

#include <sparc/cdn/presets.hpp>

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "detail/enums.hpp"
#include "detail/fingerprint.hpp"
#include "detail/json_io.hpp"
#include "detail/preset_params.hpp"
#include "edge_auth_source.hpp"

namespace sparc::cdn::presets {

namespace {

std::string ref(std::string_view name) { return placeholder(name); }

CustomOriginConfig https_origin() {
    CustomOriginConfig c;
    c.http_port = 80;
    c.https_port = 443;
    c.origin_protocol_policy = OriginProtocolPolicy::https_only;
    c.origin_ssl_protocols = {SslProtocol::tlsv1_2};
    c.origin_read_timeout = kDefaultOriginReadTimeout;
    c.origin_keepalive_timeout = kDefaultOriginKeepaliveTimeout;
    return c;
}

Origin s3_origin(const VideoPlatformParams& p, std::string id, const std::string& bucket) {
    Origin o;
    o.id = std::move(id);
    o.domain_name = fmt::format("{}.s3.{}.amazonaws.com", bucket, p.bucket_region);
    o.connection_attempts = 3;
    o.connection_timeout = 10;
    if (p.bucket_access == S3Access::origin_access_control) {
        o.s3_origin_config = S3OriginConfig{""};
        o.origin_access_control_id = ref(refs::kOriginAccessControlId);
    } else {
        o.s3_origin_config =
            S3OriginConfig{origin_access_identity_path(ref(refs::kOriginAccessIdentityId))};
    }
    return o;
}

AllowedMethods read_only_methods(bool options) {
    AllowedMethods m;
    m.items = {Method::get, Method::head};
    if (options) {
        m.items.push_back(Method::options);
    }
    m.cached_methods = m.items;
    return m;
}

AllowedMethods all_methods() {
    AllowedMethods m;
    m.items = {Method::get,   Method::head, Method::options, Method::put,
               Method::patch, Method::post, Method::del};
    m.cached_methods = {Method::get, Method::head};
    return m;
}

constexpr std::int64_t kOneYear = 31536000;
constexpr std::int64_t kApiDefaultTtl = 60;
// Lambda@Edge supports it; nodejs18.x is past its end of support.
constexpr std::string_view kEdgeRuntime = "nodejs22.x";

// What a cross-origin request may use: the methods the API and WebSocket behaviours allow.
const std::vector<std::string> kCorsMethods{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"};
constexpr std::int64_t kCorsMaxAge = 600;  // seconds a browser may cache a preflight answer

std::string json_text(const nlohmann::json& value) { return value.dump(2) + "\n"; }

}  // namespace

VideoPlatformStack video_platform(const VideoPlatformParams& input) {
    VideoPlatformStack s;
    s.params = detail::complete_params(input, s.derived);
    const auto& p = s.params;
    const auto& env = p.environment;
    const auto prefix = fmt::format("sparc-{}", env);

    // Lambda@Edge: the JWT check. Configuration travels in the package (no environment
    // variables at the edge).
    s.edge_auth_function.function_name = prefix + "-edge-auth";
    s.edge_auth_function.role = p.edge_function_role_arn;
    s.edge_auth_function.code = {p.artifacts_bucket,
                                 fmt::format("edge-auth/{}-edge-auth.zip", prefix)};
    s.edge_auth_function.description = fmt::format("SPARC {} viewer JWT authentication", env);
    s.edge_auth_function.timeout = 5;
    s.edge_auth_function.memory_size = 128;
    s.edge_auth_function.runtime = std::string(kEdgeRuntime);
    nlohmann::json keys = nlohmann::json::object();
    for (const auto& [kid, pem] : p.jwt_public_keys) {
        keys[kid] = pem;
    }
    nlohmann::json edge_config{{"publicKeys", keys}, {"publicPaths", p.public_paths}};
    // CORS preflights are answered at the edge, never forwarded unauthenticated.
    edge_config["cors"] = {{"allowOrigins", p.cors_allowed_origins},
                           {"allowMethods", kCorsMethods},
                           {"allowHeaders", p.cors_allowed_headers},
                           {"maxAge", kCorsMaxAge}};
    if (!p.jwt_public_key.empty()) {
        edge_config["defaultPublicKey"] = p.jwt_public_key;
    }
    if (!p.jwt_issuer.empty()) {
        edge_config["issuer"] = p.jwt_issuer;
    }
    if (!p.jwt_audience.empty()) {
        edge_config["audience"] = p.jwt_audience;
    }
    s.edge_auth_bundle = {{"index.js", std::string(detail::kEdgeAuthIndexJs)},
                          {"config.json", json_text(edge_config)}};
    const auto edge_auth_arn =
        fmt::format("arn:aws:lambda:us-east-1:{}:function:{}:{}", p.aws_account_id,
                    s.edge_auth_function.function_name, ref(refs::kEdgeAuthVersion));

    // WAF: per-IP rate limit, then AWS's SQL injection rules.
    s.web_acl.name = prefix + "-cdn";
    s.web_acl.scope = waf::Scope::cloudfront;
    s.web_acl.default_action = waf::Action::allow;
    s.web_acl.description =
        fmt::format("SPARC {} CDN: rate limiting and SQL injection protection", env);
    waf::Rule rate;
    rate.name = "rate-limit-per-ip";
    rate.priority = 0;
    rate.statement.rate_based_statement =
        waf::RateBasedStatement{p.rate_limit, waf::AggregateKeyType::ip};
    rate.action = waf::Action::block;
    rate.visibility_config = {true, true, prefix + "-rate-limit"};
    waf::Rule sqli;
    sqli.name = "aws-managed-sqli";
    sqli.priority = 1;
    sqli.statement.managed_rule_group_statement =
        waf::ManagedRuleGroupStatement{"AWS", "AWSManagedRulesSQLiRuleSet", std::nullopt, {}, {}};
    sqli.override_action = waf::OverrideAction::none;
    sqli.visibility_config = {true, true, prefix + "-sqli"};
    s.web_acl.rules = {rate, sqli};
    s.web_acl.visibility_config = {true, true, prefix + "-cdn-waf"};
    for (const auto& [key, value] : p.tags) {
        s.web_acl.tags.push_back({key, value});
    }

    // Access to the private buckets.
    if (p.bucket_access == S3Access::origin_access_control) {
        OriginAccessControlConfig oac;
        oac.name = prefix + "-s3";
        oac.description = fmt::format("SPARC {} CDN access to its S3 buckets", env);
        s.origin_access_control = oac;
    } else {
        s.origin_access_identity =
            OriginAccessIdentityConfig{prefix + "-cdn-oai", fmt::format("SPARC {} CDN", env)};
    }

    // Field-level encryption of sensitive video metadata posted to the API.
    // A public key's name and key cannot change (UpdatePublicKey changes only the comment):
    // both names carry a fingerprint of the key, so a new key is a new public key.
    const auto key_tag =
        detail::Fingerprint().add(prefix).add(p.field_encryption_public_key).hex8();
    s.field_encryption_public_key.caller_reference = prefix + "-field-encryption-key-" + key_tag;
    s.field_encryption_public_key.name = prefix + "-field-encryption-" + key_tag;
    s.field_encryption_public_key.encoded_key = p.field_encryption_public_key;
    s.field_encryption_public_key.comment = "Encrypts sensitive video metadata fields at the edge";
    s.field_encryption_profile.name = prefix + "-video-metadata";
    s.field_encryption_profile.caller_reference = prefix + "-video-metadata-profile";
    s.field_encryption_profile.comment = "Sensitive video metadata fields";
    s.field_encryption_profile.encryption_entities = {
        EncryptionEntity{ref(refs::kPublicKeyId), prefix + "-video-metadata", p.encrypted_fields}};
    s.field_encryption_config.caller_reference = prefix + "-field-encryption-config";
    s.field_encryption_config.comment = "Encrypts video metadata form fields posted to /api/*";
    s.field_encryption_config.query_arg_profile_config = QueryArgProfileConfig{true, {}};
    s.field_encryption_config.content_type_profile_config =
        ContentTypeProfileConfig{true,
                                 {ContentTypeProfile{FieldLevelEncryptionFormat::url_encoded,
                                                     ref(refs::kFieldEncryptionProfileId),
                                                     "application/x-www-form-urlencoded"}}};

    // Cache policies.
    auto& video = s.video_cache_policy;
    video.name = prefix + "-video";
    video.comment = "Video segments, served uncompressed";
    video.min_ttl = 0;
    video.default_ttl = p.video_default_ttl;
    video.max_ttl = p.video_max_ttl;
    video.parameters_in_cache_key_and_forwarded_to_origin =
        CacheKeyParameters{false, false, {}, {}, {}};
    auto& api = s.api_cache_policy;
    api.name = prefix + "-api";
    api.comment = "API: short-lived, cached per Authorization header";
    api.min_ttl = 0;
    api.default_ttl = std::min(kApiDefaultTtl, p.api_max_ttl);
    api.max_ttl = p.api_max_ttl;
    api.parameters_in_cache_key_and_forwarded_to_origin =
        CacheKeyParameters{true,
                           true,
                           {CachePolicyHeaderBehavior::whitelist, {"Authorization"}},
                           {CachePolicyCookieBehavior::none, {}},
                           {CachePolicyQueryStringBehavior::all, {}}};

    // Static assets: what the managed CachingOptimized policy does, with our own default TTL.
    auto& statics = s.static_cache_policy;
    statics.name = prefix + "-static";
    statics.comment = "Static assets: compressed, nothing but the path in the cache key";
    statics.min_ttl = 1;
    statics.default_ttl = p.static_default_ttl;
    statics.max_ttl = kOneYear;
    statics.parameters_in_cache_key_and_forwarded_to_origin =
        CacheKeyParameters{true, true, {}, {}, {}};

    // WebSocket handshakes need their Sec-WebSocket-* headers at the origin.
    auto& ws = s.websocket_origin_request_policy;
    ws.name = prefix + "-websocket";
    ws.comment = "WebSocket handshake headers, cookies and query strings";
    ws.headers_config = {OriginRequestPolicyHeaderBehavior::whitelist,
                         {"Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Protocol",
                          "Sec-WebSocket-Extensions"}};
    ws.cookies_config = {OriginRequestPolicyCookieBehavior::all, {}};
    ws.query_strings_config = {OriginRequestPolicyQueryStringBehavior::all, {}};

    // Security headers on every response.
    auto& headers = s.security_headers_policy;
    headers.name = prefix + "-security-headers";
    headers.comment = "HSTS, CSP, X-Frame-Options, nosniff, Referrer-Policy, XSS protection";
    SecurityHeadersConfig security;
    security.xss_protection = XssProtection{true, true, true, std::nullopt};
    security.frame_options = FrameOptions{true, FrameOption::deny};
    security.referrer_policy =
        ReferrerPolicy{true, ReferrerPolicyValue::strict_origin_when_cross_origin};
    security.content_security_policy = ContentSecurityPolicy{
        true,
        "default-src 'self'; img-src 'self' data: https:; media-src 'self' blob: https:; "
        "connect-src 'self' https: wss:; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"};
    security.content_type_options = ContentTypeOptions{true};
    security.strict_transport_security = StrictTransportSecurity{true, true, true, 63072000};
    headers.security_headers_config = security;

    // Real-time logs.
    auto& rt = s.realtime_log_config;
    rt.name = prefix + "-cdn-realtime";
    rt.sampling_rate = p.realtime_log_sampling_rate;
    rt.end_points = {
        RealtimeLogEndPoint{"Kinesis", {p.realtime_logs_role_arn, p.kinesis_stream_arn}}};
    rt.fields = {"timestamp",          "c-ip",
                 "cs-method",          "cs-host",
                 "cs-uri-stem",        "sc-status",
                 "sc-bytes",           "time-taken",
                 "time-to-first-byte", "x-edge-location",
                 "x-edge-result-type", "x-edge-request-id",
                 "cs-protocol",        "ssl-protocol",
                 "cs-user-agent",      "c-country"};

    // The distribution.
    auto& d = s.distribution;
    d.caller_reference = prefix + "-cdn";
    d.aliases = {p.cdn_domain_name};
    d.default_root_object = "index.html";
    d.origins.push_back(s3_origin(p, "video-s3", p.video_bucket));
    d.origins.push_back(s3_origin(p, "static-s3", p.static_assets_bucket));
    Origin api_origin;
    api_origin.id = "api-gateway";
    api_origin.domain_name = p.api_gateway_domain;
    api_origin.custom_origin_config = https_origin();
    api_origin.connection_attempts = 3;
    api_origin.connection_timeout = 10;
    d.origins.push_back(api_origin);
    // WebSockets may be served by their own API (API Gateway WebSocket APIs have a domain of
    // their own); by default they share the HTTP API's origin.
    std::string ws_origin_id = api_origin.id;
    if (p.websocket_api_domain != p.api_gateway_domain) {
        Origin ws_origin = api_origin;
        ws_origin.id = "websocket-api";
        ws_origin.domain_name = p.websocket_api_domain;
        d.origins.push_back(ws_origin);
        ws_origin_id = ws_origin.id;
    }
    Origin streaming;
    streaming.id = "video-streaming";
    streaming.domain_name = p.video_streaming_domain;
    streaming.custom_origin_config = https_origin();
    streaming.connection_attempts = 3;
    streaming.connection_timeout = 10;
    streaming.origin_shield = OriginShield{true, p.origin_shield_region};
    d.origins.push_back(streaming);
    // Video comes from the streaming service (behind Origin Shield), falling back to the bucket.
    d.origin_groups.push_back(
        OriginGroup{"video", {500, 502, 503, 504}, {"video-streaming", "video-s3"}});

    const auto realtime_arn = ref(refs::kRealtimeLogConfigArn);
    const auto security_id = ref(refs::kSecurityHeadersPolicyId);
    const LambdaFunctionAssociation auth{edge_auth_arn, EventType::viewer_request, false};

    CacheBehavior video_behavior;
    video_behavior.path_pattern = "/video/*";
    video_behavior.target_origin_id = "video";
    video_behavior.viewer_protocol_policy = ViewerProtocolPolicy::redirect_to_https;
    video_behavior.allowed_methods = read_only_methods(true);
    video_behavior.smooth_streaming = true;
    video_behavior.compress = false;
    video_behavior.lambda_function_associations = {auth};
    video_behavior.realtime_log_config_arn = realtime_arn;
    video_behavior.cache_policy_id = ref(refs::kVideoCachePolicyId);
    video_behavior.origin_request_policy_id =
        std::string(managed_origin_request_policy::kCorsS3Origin);
    video_behavior.response_headers_policy_id = security_id;

    CacheBehavior api_behavior;
    api_behavior.path_pattern = "/api/*";
    api_behavior.target_origin_id = "api-gateway";
    api_behavior.viewer_protocol_policy = ViewerProtocolPolicy::https_only;
    api_behavior.allowed_methods = all_methods();
    api_behavior.smooth_streaming = false;
    api_behavior.compress = true;
    api_behavior.lambda_function_associations = {auth};
    api_behavior.field_level_encryption_id = ref(refs::kFieldEncryptionConfigId);
    api_behavior.realtime_log_config_arn = realtime_arn;
    api_behavior.cache_policy_id = ref(refs::kApiCachePolicyId);
    api_behavior.origin_request_policy_id =
        std::string(managed_origin_request_policy::kAllViewerExceptHostHeader);
    api_behavior.response_headers_policy_id = security_id;

    CacheBehavior ws_behavior;
    ws_behavior.path_pattern = "/ws/*";
    ws_behavior.target_origin_id = ws_origin_id;
    ws_behavior.viewer_protocol_policy = ViewerProtocolPolicy::https_only;
    ws_behavior.allowed_methods = all_methods();
    ws_behavior.smooth_streaming = false;
    ws_behavior.compress = false;
    ws_behavior.lambda_function_associations = {auth};
    ws_behavior.realtime_log_config_arn = realtime_arn;
    ws_behavior.cache_policy_id = std::string(managed_cache_policy::kCachingDisabled);
    ws_behavior.origin_request_policy_id = ref(refs::kWebSocketOriginRequestPolicyId);
    d.cache_behaviors = {video_behavior, api_behavior, ws_behavior};

    auto& def = d.default_cache_behavior;
    def.target_origin_id = "static-s3";
    def.viewer_protocol_policy = ViewerProtocolPolicy::redirect_to_https;
    def.allowed_methods = read_only_methods(false);
    def.smooth_streaming = false;
    def.compress = true;
    def.realtime_log_config_arn = realtime_arn;
    def.cache_policy_id = ref(refs::kStaticCachePolicyId);
    def.response_headers_policy_id = security_id;

    // Errors are cached briefly so a recovering origin is retried soon.
    for (int code : {500, 502, 503, 504}) {
        d.custom_error_responses.push_back(
            CustomErrorResponse{code, std::nullopt, std::nullopt, 10});
    }
    d.comment = fmt::format("SPARC {} video platform CDN", env);
    d.logging = LoggingConfig{true, false, p.logs_bucket + ".s3.amazonaws.com",
                              fmt::format("cloudfront/{}/", env)};
    d.price_class = p.price_class;
    d.enabled = true;
    ViewerCertificate cert;
    cert.acm_certificate_arn = p.certificate_arn;
    cert.ssl_support_method = SslSupportMethod::sni_only;
    cert.minimum_protocol_version = MinimumProtocolVersion::tlsv1_2_2021;
    d.viewer_certificate = cert;
    d.restrictions = Restrictions{GeoRestriction{GeoRestrictionType::none, {}}};
    d.web_acl_id = ref(refs::kWebAclArn);
    d.http_version = HttpVersion::http2and3;
    d.is_ipv6_enabled = true;

    s.monitoring_subscription.distribution_id = ref(refs::kDistributionId);

    // Alarms: CloudFront metrics are global, published in us-east-1 with Region=Global.
    const std::vector<Dimension> dims{{"DistributionId", ref(refs::kDistributionId)},
                                      {"Region", "Global"}};
    auto alarm = [&](std::string name, std::string description, std::string metric,
                     double threshold, StandardUnit unit) {
        MetricAlarm a;
        a.alarm_name = fmt::format("{}-cdn-{}", prefix, name);
        a.alarm_description = std::move(description);
        a.actions_enabled = true;
        a.ok_actions = {p.sns_alert_topic_arn};
        a.alarm_actions = {p.sns_alert_topic_arn};
        a.metric_name = std::move(metric);
        a.metric_namespace = std::string(kCloudFrontMetricNamespace);
        a.dimensions = dims;
        a.period = 300;
        a.unit = unit;
        a.evaluation_periods = 3;
        a.datapoints_to_alarm = 2;
        a.threshold = threshold;
        a.comparison_operator = ComparisonOperator::greater_than_threshold;
        a.treat_missing_data = TreatMissingData::not_breaching;
        for (const auto& [key, value] : p.tags) {
            a.tags.push_back({key, value});
        }
        return a;
    };
    auto e4 = alarm(
        "4xx-error-rate",
        fmt::format("More than {}% of requests get a 4xx response", p.error_rate_4xx_threshold),
        "4xxErrorRate", p.error_rate_4xx_threshold, StandardUnit::percent);
    e4.statistic = Statistic::average;
    auto e5 = alarm(
        "5xx-error-rate",
        fmt::format("More than {}% of requests get a 5xx response", p.error_rate_5xx_threshold),
        "5xxErrorRate", p.error_rate_5xx_threshold, StandardUnit::percent);
    e5.statistic = Statistic::average;
    auto latency =
        alarm("origin-latency",
              fmt::format("p90 origin latency above {} ms", p.origin_latency_threshold_ms),
              "OriginLatency", p.origin_latency_threshold_ms, StandardUnit::milliseconds);
    latency.extended_statistic = "p90";
    s.alarms = {e4, e5, latency};

    // The package must fit Lambda@Edge's limit for every event the function is triggered at.
    std::vector<EventType> events;
    const auto add_events = [&](const std::vector<LambdaFunctionAssociation>& associations) {
        for (const auto& a : associations) {
            if (a.lambda_function_arn == edge_auth_arn &&
                std::find(events.begin(), events.end(), a.event_type) == events.end()) {
                events.push_back(a.event_type);
            }
        }
    };
    add_events(s.distribution.default_cache_behavior.lambda_function_associations);
    for (const auto& b : s.distribution.cache_behaviors) {
        add_events(b.lambda_function_associations);
    }
    for (const auto event : events) {
        check_edge_package(s.edge_auth_function.function_name, s.edge_auth_bundle, event);
    }
    return s;
}

std::uint64_t edge_package_limit(EventType event) {
    constexpr std::uint64_t kMiB = 1024 * 1024;
    return event == EventType::viewer_request || event == EventType::viewer_response ? kMiB
                                                                                     : 50 * kMiB;
}

std::uint64_t zipped_size_bound(const std::vector<BundleFile>& files) {
    // Python's zipfile writes, for each file, a local header (30 bytes and the name) before
    // the data and a central directory entry (46 bytes and the name), no extra fields below
    // the zip64 sizes; then the end of central directory record (22 bytes).
    constexpr std::uint64_t kLocalHeader = 30;
    constexpr std::uint64_t kCentralHeader = 46;
    constexpr std::uint64_t kEndRecord = 22;
    std::uint64_t total = kEndRecord;
    for (const auto& f : files) {
        const std::uint64_t n = f.contents.size();
        // zlib's deflateBound() for raw deflate with the default window and memory level,
        // what zipfile uses (compressobj(Z_DEFAULT_COMPRESSION, DEFLATED, -15)).
        const std::uint64_t deflated = n + (n >> 12) + (n >> 14) + (n >> 25) + 7;
        total += kLocalHeader + kCentralHeader + 2 * f.name.size() + deflated;
    }
    return total;
}

void check_edge_package(std::string_view function_name, const std::vector<BundleFile>& files,
                        EventType event) {
    const auto size = zipped_size_bound(files);
    const auto limit = edge_package_limit(event);
    if (size <= limit) {
        return;
    }
    std::string contents;
    for (const auto& f : files) {
        contents +=
            fmt::format("{}{} {} bytes", contents.empty() ? "" : ", ", f.name, f.contents.size());
    }
    throw std::invalid_argument(fmt::format(
        "the package of the edge function {} ({}) zips to up to {} bytes, over Lambda@Edge's "
        "limit of {} bytes ({} MiB) for a {} function; its configuration (jwt_public_keys, "
        "jwt_public_key, jwt_issuer, jwt_audience, public_paths, cors_allowed_origins, "
        "cors_allowed_headers) must be smaller",
        function_name, contents, size, limit, limit / (1024 * 1024), to_string(event)));
}

}  // namespace sparc::cdn::presets
