// The video platform preset and its deployment.

#include <cstdint>
#include <map>
#include <random>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "support.hpp"

namespace cdn = sparc::cdn;
namespace presets = sparc::cdn::presets;
using nlohmann::json;
using sparc::cdn::test::describe;
using sparc::cdn::test::video_params;

namespace {

const cdn::CacheBehavior& behavior(const cdn::DistributionConfig& d, std::string_view pattern) {
    for (const auto& b : d.cache_behaviors) {
        if (b.path_pattern == pattern) {
            return b;
        }
    }
    FAIL("no behaviour " << pattern);
    throw std::logic_error("unreachable");
}

bool has_methods(const cdn::CacheBehavior& b, std::size_t count) {
    return b.allowed_methods && b.allowed_methods->items.size() == count;
}

}  // namespace

TEST_CASE("the video platform distribution is valid", "[cdn][presets]") {
    for (auto access :
         {presets::S3Access::origin_access_control, presets::S3Access::origin_access_identity}) {
        auto params = video_params();
        params.bucket_access = access;
        const auto stack = presets::video_platform(params);
        const auto problems = cdn::validate(stack.distribution);
        INFO(describe(problems));
        CHECK(problems.empty());
        CHECK(cdn::validate(stack.video_cache_policy).empty());
        CHECK(cdn::validate(stack.api_cache_policy).empty());
        CHECK(cdn::validate(stack.websocket_origin_request_policy).empty());
        CHECK(cdn::validate(stack.security_headers_policy).empty());
    }
}

TEST_CASE("the video platform has the design's origins", "[cdn][presets]") {
    const auto stack = presets::video_platform(video_params());
    const auto& d = stack.distribution;
    REQUIRE(d.origins.size() == 4);
    CHECK(d.origins[0].domain_name == "sparc-production-videos.s3.us-east-1.amazonaws.com");
    CHECK(d.origins[0].origin_access_control_id ==
          cdn::placeholder(presets::refs::kOriginAccessControlId));
    CHECK(d.origins[1].domain_name == "sparc-production-static-assets.s3.us-east-1.amazonaws.com");
    CHECK(d.origins[2].domain_name == "api.sparc.io");
    CHECK(d.origins[2].custom_origin_config->origin_protocol_policy ==
          cdn::OriginProtocolPolicy::https_only);
    CHECK(d.origins[3].domain_name == "video.sparc.io");
    REQUIRE(d.origins[3].origin_shield);
    CHECK(d.origins[3].origin_shield->enabled);
    CHECK(d.origins[3].origin_shield->origin_shield_region == "us-east-1");
    REQUIRE(d.origin_groups.size() == 1);
    CHECK(d.origin_groups[0].member_origin_ids ==
          std::vector<std::string>{"video-streaming", "video-s3"});
    CHECK(stack.origin_access_control);
    CHECK_FALSE(stack.origin_access_identity);

    auto params = video_params();
    params.bucket_access = presets::S3Access::origin_access_identity;
    const auto oai = presets::video_platform(params);
    CHECK(oai.origin_access_identity);
    CHECK_FALSE(oai.origin_access_control);
    CHECK(oai.distribution.origins[0].s3_origin_config->origin_access_identity ==
          "origin-access-identity/cloudfront/{{OriginAccessIdentityId}}");
    CHECK_FALSE(oai.distribution.origins[0].origin_access_control_id);
}

TEST_CASE("the video platform has the design's cache behaviours", "[cdn][presets]") {
    const auto stack = presets::video_platform(video_params());
    const auto& d = stack.distribution;
    REQUIRE(d.cache_behaviors.size() == 3);

    const auto& video = behavior(d, "/video/*");
    CHECK(video.smooth_streaming == true);
    CHECK(video.compress == false);
    CHECK(video.cache_policy_id == cdn::placeholder(presets::refs::kVideoCachePolicyId));
    CHECK(stack.video_cache_policy.default_ttl == 86400);
    CHECK(stack.video_cache_policy.max_ttl == 31536000);

    const auto& api = behavior(d, "/api/*");
    CHECK(api.cache_policy_id == cdn::placeholder(presets::refs::kApiCachePolicyId));
    CHECK(stack.api_cache_policy.max_ttl == 300);
    const auto& key = *stack.api_cache_policy.parameters_in_cache_key_and_forwarded_to_origin;
    CHECK(key.headers_config.headers == std::vector<std::string>{"Authorization"});
    CHECK(api.field_level_encryption_id ==
          cdn::placeholder(presets::refs::kFieldEncryptionConfigId));
    CHECK(has_methods(api, 7));

    const auto& ws = behavior(d, "/ws/*");
    CHECK(ws.cache_policy_id == std::string(cdn::managed_cache_policy::kCachingDisabled));
    CHECK(has_methods(ws, 7));
    const auto& ws_headers = stack.websocket_origin_request_policy.headers_config.headers;
    CHECK(std::find(ws_headers.begin(), ws_headers.end(), "Sec-WebSocket-Key") != ws_headers.end());

    const auto& def = d.default_cache_behavior;
    CHECK(def.target_origin_id == "static-s3");
    CHECK(def.compress == true);
    CHECK(def.cache_policy_id == cdn::placeholder(presets::refs::kStaticCachePolicyId));

    for (const auto* b : {&video, &api, &ws}) {
        REQUIRE(b->lambda_function_associations.size() == 1);
        CHECK(b->lambda_function_associations[0].event_type == cdn::EventType::viewer_request);
        CHECK(b->realtime_log_config_arn == cdn::placeholder(presets::refs::kRealtimeLogConfigArn));
    }
    CHECK(def.lambda_function_associations.empty());
}

TEST_CASE("the video platform's security and monitoring", "[cdn][presets]") {
    const auto stack = presets::video_platform(video_params());
    CHECK(stack.distribution.web_acl_id == cdn::placeholder(presets::refs::kWebAclArn));
    CHECK(stack.web_acl.scope == cdn::waf::Scope::cloudfront);
    REQUIRE(stack.web_acl.rules.size() == 2);
    CHECK(stack.web_acl.rules[0].statement.rate_based_statement);
    CHECK(stack.web_acl.rules[1].statement.managed_rule_group_statement->name ==
          "AWSManagedRulesSQLiRuleSet");

    const auto& sec = *stack.security_headers_policy.security_headers_config;
    CHECK(sec.strict_transport_security);
    CHECK(sec.content_security_policy);
    CHECK(sec.frame_options->frame_option == cdn::FrameOption::deny);
    CHECK(sec.content_type_options);
    CHECK(sec.referrer_policy);
    CHECK(sec.xss_protection);

    // The JWT key reaches the edge function through its package.
    const auto config = std::find_if(stack.edge_auth_bundle.begin(), stack.edge_auth_bundle.end(),
                                     [](const auto& f) { return f.name == "config.json"; });
    REQUIRE(config != stack.edge_auth_bundle.end());
    CHECK(json::parse(config->contents).at("defaultPublicKey") == video_params().jwt_public_key);
    CHECK(stack.field_encryption_public_key.encoded_key ==
          video_params().field_encryption_public_key);

    REQUIRE(stack.alarms.size() == 3);
    std::set<std::string> metrics;
    for (const auto& a : stack.alarms) {
        metrics.insert(a.metric_name.value_or(""));
        CHECK(a.alarm_actions == std::vector<std::string>{video_params().sns_alert_topic_arn});
        CHECK(std::find(a.dimensions.begin(), a.dimensions.end(),
                        cdn::Dimension{"Region", "Global"}) != a.dimensions.end());
    }
    CHECK(metrics == std::set<std::string>{"4xxErrorRate", "5xxErrorRate", "OriginLatency"});
    CHECK(stack.realtime_log_config.end_points.at(0).stream_type == "Kinesis");
    CHECK(stack.distribution.logging->enabled);
    CHECK(stack.monitoring_subscription.distribution_id ==
          cdn::placeholder(presets::refs::kDistributionId));
}

TEST_CASE("preset parameters", "[cdn][presets]") {
    SECTION("required values") {
        auto p = video_params();
        p.sns_alert_topic_arn.clear();
        CHECK_THROWS_WITH(presets::video_platform(p), Catch::Contains("sns_alert_topic_arn"));
    }
    SECTION("environment is usable in names") {
        auto p = video_params();
        p.environment = "Prod Env";
        CHECK_THROWS_WITH(presets::video_platform(p), Catch::Contains("environment"));
    }
    SECTION("domains are domain names") {
        auto p = video_params();
        p.cdn_domain_name = "cdn.sparc.io'; rm -rf /";
        CHECK_THROWS_WITH(presets::video_platform(p), Catch::Contains("cdn_domain_name"));
    }
    SECTION("explicit values replace derived defaults") {
        auto p = video_params();
        p.aws_account_id = "123456789012";
        p.certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/abc";
        p.video_bucket = "my-videos";
        const auto stack = presets::video_platform(p);
        CHECK(stack.distribution.viewer_certificate->acm_certificate_arn == p.certificate_arn);
        CHECK(stack.distribution.origins[0].domain_name == "my-videos.s3.us-east-1.amazonaws.com");
        CHECK(stack.realtime_log_config.end_points[0].kinesis_stream_config.role_arn ==
              "arn:aws:iam::123456789012:role/sparc-production-cdn-realtime-logs");
    }
    SECTION("from JSON") {
        json vars{{"environment", "staging"},
                  {"api_gateway_domain", "api.example.com"},
                  {"video_streaming_domain", "video.example.com"},
                  {"cdn_domain_name", "cdn.example.com"},
                  {"jwt_public_key", "k1"},
                  {"field_encryption_public_key", "k2"},
                  {"sns_alert_topic_arn", "arn:aws:sns:us-east-1:123456789012:a"},
                  {"price_class", "PriceClass_100"},
                  {"rate_limit", 500},
                  {"bucket_access", "origin-access-identity"}};
        const auto p = presets::video_platform_params_from_json(vars);
        CHECK(p.environment == "staging");
        CHECK(p.price_class == cdn::PriceClass::price_class_100);
        CHECK(p.rate_limit == 500);
        CHECK(p.bucket_access == presets::S3Access::origin_access_identity);

        auto missing = vars;
        missing.erase("jwt_public_key");
        CHECK_THROWS_WITH(presets::video_platform_params_from_json(missing),
                          Catch::Contains("jwt_public_key"));
        auto unknown = vars;
        unknown["cdn_domain"] = "x";
        CHECK_THROWS_WITH(presets::video_platform_params_from_json(unknown),
                          Catch::Contains("unknown variable \"cdn_domain\""));
        auto mistyped = vars;
        mistyped["rate_limit"] = "2000";
        CHECK_THROWS_WITH(presets::video_platform_params_from_json(mistyped),
                          Catch::Contains("/rate_limit"));
        auto bad_enum = vars;
        bad_enum["price_class"] = "all";
        CHECK_THROWS_WITH(presets::video_platform_params_from_json(bad_enum),
                          Catch::Contains("PriceClass_All"));
    }
}

TEST_CASE("deployment calls create every reference before using it", "[cdn][presets][deploy]") {
    static const std::map<std::string, std::string> shapes{
        {"create-function", "CreateFunctionRequest"},
        {"create-web-acl", "CreateWebACLRequest"},
        {"create-origin-access-control", "CreateOriginAccessControlRequest"},
        {"create-cloud-front-origin-access-identity",
         "CreateCloudFrontOriginAccessIdentityRequest"},
        {"create-public-key", "CreatePublicKeyRequest"},
        {"create-field-level-encryption-profile", "CreateFieldLevelEncryptionProfileRequest"},
        {"create-field-level-encryption-config", "CreateFieldLevelEncryptionConfigRequest"},
        {"create-cache-policy", "CreateCachePolicyRequest"},
        {"create-origin-request-policy", "CreateOriginRequestPolicyRequest"},
        {"create-response-headers-policy", "CreateResponseHeadersPolicyRequest"},
        {"create-realtime-log-config", "CreateRealtimeLogConfigRequest"},
        {"create-distribution", "CreateDistributionRequest"},
        {"create-monitoring-subscription", "CreateMonitoringSubscriptionRequest"},
        {"put-metric-alarm", "PutMetricAlarmInput"},
    };
    for (auto access :
         {presets::S3Access::origin_access_control, presets::S3Access::origin_access_identity}) {
        auto params = video_params();
        params.bucket_access = access;
        const auto stack = presets::video_platform(params);
        const auto calls = cdn::deployment_calls(stack);
        std::set<std::string> defined{std::string(presets::refs::kAccountId),
                                      std::string(presets::refs::kCertificateArn)};
        const std::regex token(R"(\{\{(\w+)\}\})");
        for (std::size_t i = 0; i < calls.size(); ++i) {
            const auto& call = calls[i];
            INFO(cdn::call_file_name(i, call));
            for (std::sregex_iterator it(call.input.begin(), call.input.end(), token), end;
                 it != end; ++it) {
                CHECK(defined.count((*it)[1].str()) == 1);
            }
            if (call.output_name) {
                defined.insert(*call.output_name);
            }
            CHECK(call.region == "us-east-1");
            REQUIRE(shapes.count(call.operation) == 1);
            sparc::cdn::test::dump(
                call.service, shapes.at(call.operation),
                std::to_string(static_cast<int>(access)) + "-" + std::to_string(i),
                json::parse(call.input));
        }
        CHECK(cdn::call_file_name(0, calls[0]) == "01-lambda-create-function.json");
        CHECK(cdn::call_file_name(1, calls[1]) == "02-wafv2-create-web-acl.json");
        CHECK(calls.back().operation == "put-metric-alarm");
    }
}

TEST_CASE("write_deployment writes every document and deploy.sh", "[cdn][presets][deploy]") {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("sparc-cdn-test-" + std::to_string(std::random_device{}()));
    const auto stack = presets::video_platform(video_params());
    cdn::write_deployment(stack, dir);
    const auto calls = cdn::deployment_calls(stack);
    for (std::size_t i = 0; i < calls.size(); ++i) {
        const auto path = dir / cdn::call_file_name(i, calls[i]);
        REQUIRE(std::filesystem::exists(path));
        CHECK(cdn::read_json_file(path.string()) == json::parse(calls[i].input));
    }
    CHECK(std::filesystem::exists(dir / "edge-auth" / "index.js"));
    const auto perms = std::filesystem::status(dir / "deploy.sh").permissions();
    CHECK((perms & std::filesystem::perms::owner_exec) != std::filesystem::perms::none);
    // The distribution document round-trips to the stack's distribution.
    const auto distribution = cdn::distribution_config_from_document(
        cdn::read_json_file((dir / "13-cloudfront-create-distribution.json").string()));
    CHECK(distribution == stack.distribution);
    std::filesystem::remove_all(dir);
}

TEST_CASE("the edge function's package is bounded by Lambda@Edge's limit for its trigger",
          "[cdn][presets]") {
    CHECK(presets::edge_package_limit(cdn::EventType::viewer_request) == 1048576);
    CHECK(presets::edge_package_limit(cdn::EventType::viewer_response) == 1048576);
    CHECK(presets::edge_package_limit(cdn::EventType::origin_request) == 52428800);
    CHECK(presets::edge_package_limit(cdn::EventType::origin_response) == 52428800);
    // Headers: 30 + 46 + 2 * 8 ("index.js") and 22 at the end; deflate's worst case for
    // 100000 bytes: 100000 + 24 + 6 + 0 + 7.
    const std::vector<presets::BundleFile> one{{"index.js", std::string(100000, 'x')}};
    CHECK(presets::zipped_size_bound(one) == 22 + 30 + 46 + 16 + 100037);
    CHECK(presets::zipped_size_bound({}) == 22);
    // Over the limit by one byte at the viewer, far under it at the origin.
    const auto limit = presets::edge_package_limit(cdn::EventType::viewer_request);
    std::vector<presets::BundleFile> files{{"config.json", ""}};
    const std::uint64_t overhead = presets::zipped_size_bound(files);
    auto n = limit - overhead;
    n -= (n >> 12) + (n >> 14);
    files[0].contents.assign(n, 'k');
    while (presets::zipped_size_bound(files) <= limit) {
        files[0].contents += 'k';
    }
    CHECK_NOTHROW(presets::check_edge_package("f", {{"config.json", files[0].contents.substr(1)}},
                                              cdn::EventType::viewer_request));
    CHECK_THROWS_WITH(
        presets::check_edge_package("sparc-test-edge-auth", files, cdn::EventType::viewer_request),
        Catch::Contains("sparc-test-edge-auth") && Catch::Contains("viewer-request") &&
            Catch::Contains(std::to_string(presets::zipped_size_bound(files)) + " bytes") &&
            Catch::Contains("1048576 bytes"));
    CHECK_NOTHROW(presets::check_edge_package("f", files, cdn::EventType::origin_request));
}

TEST_CASE("render refuses an edge package over the viewer-request limit", "[cdn][presets]") {
    using sparc::cdn::test::rejection;
    // 3000 rotated keys: about 1.4 MB of configuration.
    auto p = video_params();
    for (int i = 0; i < 3000; ++i) {
        p.jwt_public_keys[fmt::format("key-{:04}", i)] =
            std::string(sparc::cdn::test::kTestPublicKey);
    }
    auto message = rejection(p);
    CHECK_THAT(message, Catch::Contains("edge function sparc-production-edge-auth") &&
                            Catch::Contains("viewer-request") &&
                            Catch::Contains("limit of 1048576 bytes"));
    // An audience of 1.5 MB, which zips to more than 1 MB.
    p = video_params();
    std::string audience;
    std::uint32_t x = 12345;
    while (audience.size() < 1500000) {
        x = x * 1103515245 + 12345;
        audience += "abcdefghijklmnopqrstuvwxyz0123456789"[(x >> 16) % 36];
    }
    p.jwt_audience = audience;
    message = rejection(p);
    CHECK_THAT(message, Catch::Contains("config.json 15") && Catch::Contains("viewer-request"));
    // 1000 keys fit.
    p = video_params();
    for (int i = 0; i < 1000; ++i) {
        p.jwt_public_keys[fmt::format("key-{:04}", i)] =
            std::string(sparc::cdn::test::kTestPublicKey);
    }
    CHECK(rejection(p).empty());
}
