// JSON conversion: AWS member names, Quantity/Items lists, strict reading, round trips.

#include <string>

#include <unistd.h>  // getpid

#include "support.hpp"

namespace cdn = sparc::cdn;
using nlohmann::json;
using sparc::cdn::test::dump;
using sparc::cdn::test::round_trip;

using sparc::cdn::test::rich_config;

TEST_CASE("DistributionConfig uses AWS member names and Quantity/Items lists", "[cdn][json]") {
    const json j = rich_config();
    CHECK(j.at("CallerReference") == "test-1");
    CHECK(j.at("Aliases") ==
          json{{"Quantity", 2}, {"Items", {"cdn.example.com", "*.media.example.com"}}});
    CHECK(j.at("Origins").at("Quantity") == 3);
    CHECK(j.at("Origins").at("Items").at(1).at("CustomOriginConfig").at("OriginSslProtocols") ==
          json{{"Quantity", 1}, {"Items", {"TLSv1.2"}}});
    CHECK(j.at("Origins").at("Items").at(1).at("OriginShield").at("OriginShieldRegion") ==
          "eu-west-1");
    CHECK(j.at("OriginGroups").at("Items").at(0).at("Members") ==
          json::parse(
              R"({"Quantity":2,"Items":[{"OriginId":"assets"},{"OriginId":"legacy-bucket"}]})"));
    CHECK(j.at("OriginGroups")
              .at("Items")
              .at(0)
              .at("FailoverCriteria")
              .at("StatusCodes")
              .at("Quantity") == 4);
    const auto& behavior = j.at("CacheBehaviors").at("Items").at(1);
    CHECK(behavior.at("PathPattern") == "images/*.jpg");
    CHECK(behavior.at("TrustedKeyGroups") ==
          json::parse(R"({"Enabled":true,"Quantity":1,"Items":["kg-1"]})"));
    CHECK(behavior.at("TrustedSigners") == json::parse(R"({"Enabled":false,"Quantity":0})"));
    CHECK(behavior.at("LambdaFunctionAssociations").at("Items").at(0).at("EventType") ==
          "origin-response");
    CHECK(behavior.at("ForwardedValues").at("Cookies").at("Forward") == "whitelist");
    CHECK(behavior.at("MinTTL") == 0);
    CHECK(j.at("Restrictions").at("GeoRestriction") ==
          json::parse(R"({"RestrictionType":"blacklist","Quantity":2,"Items":["KP","IR"]})"));
    CHECK(j.at("ViewerCertificate").at("MinimumProtocolVersion") == "TLSv1.2_2021");
    CHECK(j.at("PriceClass") == "PriceClass_200");
    CHECK(j.at("HttpVersion") == "http2and3");
    CHECK(j.at("IsIPV6Enabled") == true);
    CHECK(j.at("WebACLId").is_string());
}

TEST_CASE("unset members are omitted", "[cdn][json]") {
    const json j = sparc::cdn::test::minimal_config();
    for (const char* absent : {"Aliases", "DefaultRootObject", "OriginGroups",
                               "CustomErrorResponses", "Logging", "PriceClass", "ViewerCertificate",
                               "WebACLId", "HttpVersion", "IsIPV6Enabled", "Staging"}) {
        INFO(absent);
        CHECK_FALSE(j.contains(absent));
    }
    const auto& def = j.at("DefaultCacheBehavior");
    CHECK_FALSE(def.contains("MinTTL"));
    CHECK_FALSE(def.contains("ForwardedValues"));
    CHECK_FALSE(def.contains("LambdaFunctionAssociations"));
    CHECK_FALSE(def.contains("PathPattern"));
    // Required members are always written.
    CHECK(j.contains("Comment"));
    CHECK(j.contains("Enabled"));
    const auto& s3 = j.at("Origins").at("Items").at(0).at("S3OriginConfig");
    CHECK(s3.at("OriginAccessIdentity") == json(""));
}

TEST_CASE("every CloudFront type round-trips", "[cdn][json]") {
    const auto rich = rich_config();
    round_trip(rich, "cloudfront", "DistributionConfig", "rich");
    round_trip(sparc::cdn::test::minimal_config(), "cloudfront", "DistributionConfig", "minimal");
    for (std::size_t i = 0; i < rich.origins.size(); ++i) {
        round_trip(rich.origins[i], "cloudfront", "Origin", "origin" + std::to_string(i));
    }
    round_trip(rich.origin_groups[0], "cloudfront", "OriginGroup", "group");
    round_trip(rich.default_cache_behavior, "cloudfront", "DefaultCacheBehavior", "default");
    for (std::size_t i = 0; i < rich.cache_behaviors.size(); ++i) {
        round_trip(rich.cache_behaviors[i], "cloudfront", "CacheBehavior",
                   "behavior" + std::to_string(i));
    }
    round_trip(*rich.cache_behaviors[1].forwarded_values, "cloudfront", "ForwardedValues", "fv");
    round_trip(rich.cache_behaviors[1].forwarded_values->cookies, "cloudfront", "CookiePreference",
               "cookies");
    round_trip(*rich.cache_behaviors[0].allowed_methods, "cloudfront", "AllowedMethods", "all");
    round_trip(*rich.cache_behaviors[1].trusted_key_groups, "cloudfront", "TrustedKeyGroups", "kg");
    round_trip(rich.cache_behaviors[1].lambda_function_associations[0], "cloudfront",
               "LambdaFunctionAssociation", "lambda");
    round_trip(rich.cache_behaviors[1].function_associations[0], "cloudfront",
               "FunctionAssociation", "fn");
    round_trip(rich.custom_error_responses[0], "cloudfront", "CustomErrorResponse", "404");
    round_trip(*rich.logging, "cloudfront", "LoggingConfig", "logging");
    round_trip(*rich.viewer_certificate, "cloudfront", "ViewerCertificate", "acm");
    round_trip(*rich.restrictions, "cloudfront", "Restrictions", "geo");
    round_trip(rich.restrictions->geo_restriction, "cloudfront", "GeoRestriction", "geo");
    round_trip(rich.origins[1].custom_headers[0], "cloudfront", "OriginCustomHeader", "header");
    round_trip(*rich.origins[1].custom_origin_config, "cloudfront", "CustomOriginConfig", "custom");
    round_trip(*rich.origins[1].origin_shield, "cloudfront", "OriginShield", "shield");
    round_trip(*rich.origins[2].s3_origin_config, "cloudfront", "S3OriginConfig", "oai");

    cdn::ViewerCertificate legacy_cert;
    legacy_cert.cloudfront_default_certificate = true;
    legacy_cert.iam_certificate_id = "ASCAEXAMPLE";
    legacy_cert.certificate = "ASCAEXAMPLE";
    legacy_cert.certificate_source = cdn::CertificateSource::iam;
    round_trip(legacy_cert, "cloudfront", "ViewerCertificate", "legacy");
}

TEST_CASE("policies and the resources around a distribution round-trip", "[cdn][json]") {
    cdn::CachePolicyConfig cache;
    cache.comment = "api";
    cache.name = "api";
    cache.default_ttl = 60;
    cache.max_ttl = 300;
    cache.min_ttl = 1;
    cache.parameters_in_cache_key_and_forwarded_to_origin =
        cdn::CacheKeyParameters{true,
                                true,
                                {cdn::CachePolicyHeaderBehavior::whitelist, {"Authorization"}},
                                {cdn::CachePolicyCookieBehavior::all_except, {"tracking"}},
                                {cdn::CachePolicyQueryStringBehavior::all, {}}};
    const auto cj = round_trip(cache, "cloudfront", "CachePolicyConfig", "api");
    CHECK(cj.at("ParametersInCacheKeyAndForwardedToOrigin")
              .at("CookiesConfig")
              .at("CookieBehavior") == "allExcept");

    cdn::OriginRequestPolicyConfig orp;
    orp.name = "ws";
    orp.headers_config = {
        cdn::OriginRequestPolicyHeaderBehavior::all_viewer_and_whitelist_cloudfront,
        {"CloudFront-Viewer-Country"}};
    orp.cookies_config = {cdn::OriginRequestPolicyCookieBehavior::all, {}};
    orp.query_strings_config = {cdn::OriginRequestPolicyQueryStringBehavior::whitelist, {"v"}};
    round_trip(orp, "cloudfront", "OriginRequestPolicyConfig", "ws");

    cdn::ResponseHeadersPolicyConfig rh;
    rh.name = "headers";
    rh.comment = "all of them";
    rh.cors_config = cdn::CorsConfig{{"https://example.com"},
                                     {"*"},
                                     {cdn::CorsMethod::get, cdn::CorsMethod::all},
                                     false,
                                     {"X-Request-Id"},
                                     600,
                                     true};
    cdn::SecurityHeadersConfig sec;
    sec.xss_protection = cdn::XssProtection{true, true, std::nullopt, "https://example.com/report"};
    sec.frame_options = cdn::FrameOptions{true, cdn::FrameOption::sameorigin};
    sec.referrer_policy = cdn::ReferrerPolicy{true, cdn::ReferrerPolicyValue::no_referrer};
    sec.content_security_policy = cdn::ContentSecurityPolicy{true, "default-src 'self'"};
    sec.content_type_options = cdn::ContentTypeOptions{true};
    sec.strict_transport_security = cdn::StrictTransportSecurity{true, true, false, 31536000};
    rh.security_headers_config = sec;
    rh.server_timing_headers_config = cdn::ServerTimingHeadersConfig{true, 12.5};
    rh.custom_headers = {{"X-Service", "sparc", false}};
    const auto rj = round_trip(rh, "cloudfront", "ResponseHeadersPolicyConfig", "all");
    CHECK(rj.at("SecurityHeadersConfig").at("XSSProtection").at("ReportUri") ==
          "https://example.com/report");
    CHECK(rj.at("CustomHeadersConfig").at("Quantity") == 1);

    round_trip(cdn::OriginAccessIdentityConfig{"ref", "comment"}, "cloudfront",
               "CloudFrontOriginAccessIdentityConfig", "oai");
    round_trip(cdn::OriginAccessControlConfig{"oac", "desc", cdn::SigningProtocol::sigv4,
                                              cdn::SigningBehavior::no_override,
                                              cdn::OriginAccessControlOriginType::s3},
               "cloudfront", "OriginAccessControlConfig", "oac");
    round_trip(cdn::PublicKeyConfig{"ref", "key", "-----BEGIN PUBLIC KEY-----", "c"}, "cloudfront",
               "PublicKeyConfig", "key");
    round_trip(
        cdn::FieldLevelEncryptionProfileConfig{
            "p", "ref", "c", {{"K1", "prov", {"email", "card_*"}}}},
        "cloudfront", "FieldLevelEncryptionProfileConfig", "profile");
    round_trip(
        cdn::FieldLevelEncryptionConfig{
            "ref", "c", cdn::QueryArgProfileConfig{false, {{"profile", "P1"}}},
            cdn::ContentTypeProfileConfig{true,
                                          {{cdn::FieldLevelEncryptionFormat::url_encoded, "P1",
                                            "application/x-www-form-urlencoded"}}}},
        "cloudfront", "FieldLevelEncryptionConfig", "config");
    cdn::RealtimeLogConfig rt;
    rt.name = "rt";
    rt.sampling_rate = 50;
    rt.fields = {"timestamp", "c-ip"};
    rt.end_points = {
        {"Kinesis",
         {"arn:aws:iam::123456789012:role/r", "arn:aws:kinesis:us-east-1:123456789012:stream/s"}}};
    round_trip(rt, "cloudfront", "CreateRealtimeLogConfigRequest", "rt");
    const auto mj = round_trip(
        cdn::MonitoringSubscription{"E123", cdn::RealtimeMetricsSubscriptionStatus::enabled},
        "cloudfront", "CreateMonitoringSubscriptionRequest", "ms");
    CHECK(mj.at("MonitoringSubscription")
              .at("RealtimeMetricsSubscriptionConfig")
              .at("RealtimeMetricsSubscriptionStatus") == "Enabled");
}

TEST_CASE("WAF, alarm and edge function inputs round-trip", "[cdn][json]") {
    namespace waf = cdn::waf;
    waf::WebAcl acl;
    acl.name = "acl";
    acl.default_action = waf::Action::block;
    acl.description = "test acl";
    waf::Rule rate{"rate", 0, {}, waf::Action::count, std::nullopt, {true, false, "rate"}};
    rate.statement.rate_based_statement =
        waf::RateBasedStatement{500, waf::AggregateKeyType::forwarded_ip};
    waf::Rule managed{
        "sqli", 1, {}, std::nullopt, waf::OverrideAction::count, {false, true, "sqli"}};
    managed.statement.managed_rule_group_statement =
        waf::ManagedRuleGroupStatement{"AWS",
                                       "AWSManagedRulesSQLiRuleSet",
                                       "Version_1.0",
                                       {},
                                       {{"SQLi_BODY", waf::Action::count}}};
    acl.rules = {rate, managed};
    acl.visibility_config = {true, true, "acl"};
    acl.tags = {{"team", "video"}};
    const auto wj = round_trip(acl, "wafv2", "CreateWebACLRequest", "acl");
    CHECK(wj.at("DefaultAction") == json::parse(R"({"Block":{}})"));
    CHECK(wj.at("Rules").at(1).at("OverrideAction") == json::parse(R"({"Count":{}})"));
    CHECK(wj.at("Scope") == "CLOUDFRONT");
    CHECK(
        wj.at("/Rules/1/Statement/ManagedRuleGroupStatement/RuleActionOverrides/0"_json_pointer) ==
        json::parse(R"({"Name":"SQLi_BODY","ActionToUse":{"Count":{}}})"));
    auto legacy = acl;
    legacy.rules[1].statement.managed_rule_group_statement->excluded_rules = {{"SQLi_QUERY"}};
    round_trip(legacy, "wafv2", "CreateWebACLRequest", "acl-excluded-rules");

    cdn::MetricAlarm alarm;
    alarm.alarm_name = "5xx";
    alarm.alarm_description = "too many errors";
    alarm.actions_enabled = true;
    alarm.ok_actions = {"arn:aws:sns:us-east-1:123456789012:t"};
    alarm.alarm_actions = alarm.ok_actions;
    alarm.insufficient_data_actions = alarm.ok_actions;
    alarm.metric_name = "5xxErrorRate";
    alarm.metric_namespace = std::string(cdn::kCloudFrontMetricNamespace);
    alarm.statistic = cdn::Statistic::average;
    alarm.dimensions = {{"DistributionId", "E123"}, {"Region", "Global"}};
    alarm.period = 60;
    alarm.unit = cdn::StandardUnit::percent;
    alarm.evaluation_periods = 5;
    alarm.datapoints_to_alarm = 3;
    alarm.threshold = 2.5;
    alarm.comparison_operator = cdn::ComparisonOperator::greater_than_or_equal_to_threshold;
    alarm.treat_missing_data = cdn::TreatMissingData::not_breaching;
    alarm.tags = {{"env", "test"}};
    const auto aj = round_trip(alarm, "cloudwatch", "PutMetricAlarmInput", "5xx");
    CHECK(aj.at("Namespace") == "AWS/CloudFront");
    CHECK(aj.at("TreatMissingData") == "notBreaching");
    CHECK(aj.at("Threshold") == 2.5);

    cdn::EdgeFunction fn;
    fn.function_name = "auth";
    fn.role = "arn:aws:iam::123456789012:role/edge";
    fn.code = {"bucket", "auth.zip"};
    fn.description = "auth";
    fn.timeout = 5;
    fn.memory_size = 128;
    round_trip(fn, "lambda", "CreateFunctionRequest", "auth");
}

TEST_CASE("enumerations convert to their AWS spelling", "[cdn][json]") {
    CHECK(cdn::to_string(cdn::ViewerProtocolPolicy::redirect_to_https) == "redirect-to-https");
    CHECK(cdn::to_string(cdn::Method::del) == "DELETE");
    CHECK(cdn::to_string(cdn::SslProtocol::tlsv1_1) == "TLSv1.1");
    CHECK(cdn::to_string(cdn::PriceClass::price_class_all) == "PriceClass_All");
    CHECK(cdn::to_string(cdn::HttpVersion::http1_1) == "http1.1");
    CHECK(cdn::waf::to_string(cdn::waf::Scope::cloudfront) == "CLOUDFRONT");
    CHECK(json(cdn::EventType::origin_request) == "origin-request");
    CHECK(json("sni-only").get<cdn::SslSupportMethod>() == cdn::SslSupportMethod::sni_only);
}

TEST_CASE("get-distribution-config output is read", "[cdn][json]") {
    // As `aws cloudfront get-distribution-config` prints it: empty lists as {"Quantity": 0}.
    const auto document = json::parse(R"({
      "ETag": "E2QWRUHEXAMPLE",
      "DistributionConfig": {
        "CallerReference": "cli-example",
        "Aliases": {"Quantity": 0},
        "DefaultRootObject": "index.html",
        "Origins": {"Quantity": 1, "Items": [{
          "Id": "awsexamplebucket.s3.amazonaws.com-cli-example",
          "DomainName": "awsexamplebucket.s3.amazonaws.com",
          "OriginPath": "",
          "CustomHeaders": {"Quantity": 0},
          "S3OriginConfig": {"OriginAccessIdentity": ""},
          "ConnectionAttempts": 3,
          "ConnectionTimeout": 10,
          "OriginShield": {"Enabled": false},
          "OriginAccessControlId": ""
        }]},
        "OriginGroups": {"Quantity": 0},
        "DefaultCacheBehavior": {
          "TargetOriginId": "awsexamplebucket.s3.amazonaws.com-cli-example",
          "TrustedSigners": {"Enabled": false, "Quantity": 0},
          "TrustedKeyGroups": {"Enabled": false, "Quantity": 0},
          "ViewerProtocolPolicy": "allow-all",
          "AllowedMethods": {"Quantity": 2, "Items": ["HEAD", "GET"],
                             "CachedMethods": {"Quantity": 2, "Items": ["HEAD", "GET"]}},
          "SmoothStreaming": false,
          "Compress": false,
          "LambdaFunctionAssociations": {"Quantity": 0},
          "FunctionAssociations": {"Quantity": 0},
          "FieldLevelEncryptionId": "",
          "ForwardedValues": {"QueryString": false, "Cookies": {"Forward": "none"},
                              "Headers": {"Quantity": 0}, "QueryStringCacheKeys": {"Quantity": 0}},
          "MinTTL": 0, "DefaultTTL": 86400, "MaxTTL": 31536000
        },
        "CacheBehaviors": {"Quantity": 0},
        "CustomErrorResponses": {"Quantity": 0},
        "Comment": "",
        "Logging": {"Enabled": false, "IncludeCookies": false, "Bucket": "", "Prefix": ""},
        "PriceClass": "PriceClass_All",
        "Enabled": true,
        "ViewerCertificate": {"CloudFrontDefaultCertificate": true, "SSLSupportMethod": "vip",
                              "MinimumProtocolVersion": "TLSv1", "CertificateSource": "cloudfront"},
        "Restrictions": {"GeoRestriction": {"RestrictionType": "none", "Quantity": 0}},
        "WebACLId": "",
        "HttpVersion": "http2",
        "IsIPV6Enabled": true,
        "ContinuousDeploymentPolicyId": "",
        "Staging": false
      }
    })");
    const auto config = cdn::distribution_config_from_document(document);
    CHECK(config.caller_reference == "cli-example");
    CHECK(config.aliases.empty());
    REQUIRE(config.origins.size() == 1);
    CHECK(config.origins[0].connection_attempts == 3);
    CHECK(config.default_cache_behavior.forwarded_values->cookies.forward ==
          cdn::ItemSelection::none);
    CHECK(config.default_cache_behavior.max_ttl == 31536000);
    CHECK(config.viewer_certificate->certificate_source == cdn::CertificateSource::cloudfront);
    CHECK(config.http_version == cdn::HttpVersion::http2);
    // The bare form reads the same.
    CHECK(cdn::distribution_config_from_document(document.at("DistributionConfig")) == config);
    round_trip(config, "cloudfront", "DistributionConfig", "cli-example");
}

TEST_CASE("strict reading names the JSON pointer at fault", "[cdn][json]") {
    json j = sparc::cdn::test::minimal_config();
    auto expect_error = [](const json& doc, const std::string& pointer, const std::string& text) {
        try {
            (void)doc.get<cdn::DistributionConfig>();
            FAIL("no error for " << pointer);
        } catch (const cdn::JsonError& e) {
            CHECK(e.pointer() == pointer);
            CHECK_THAT(e.what(), Catch::Contains(text));
            CHECK_THAT(e.what(), Catch::Contains(pointer));
        }
    };
    SECTION("unknown member") {
        j["Origins"]["Items"][1]["CustomOriginConfig"]["OriginReadTimeOut"] = 30;
        expect_error(j, "/Origins/Items/1/CustomOriginConfig/OriginReadTimeOut",
                     "OriginReadTimeout");
    }
    SECTION("PathPattern on the default behaviour") {
        j["DefaultCacheBehavior"]["PathPattern"] = "*";
        expect_error(j, "/DefaultCacheBehavior/PathPattern", "unknown member");
    }
    SECTION("missing required member") {
        j["Origins"]["Items"][0].erase("DomainName");
        expect_error(j, "/Origins/Items/0/DomainName", "required");
    }
    SECTION("unknown enumerator") {
        j["DefaultCacheBehavior"]["ViewerProtocolPolicy"] = "https";
        expect_error(j, "/DefaultCacheBehavior/ViewerProtocolPolicy", "redirect-to-https");
    }
    SECTION("wrong type") {
        j["Enabled"] = "true";
        expect_error(j, "/Enabled", "expected true or false");
    }
    SECTION("integer out of range") {
        j["Origins"]["Items"][1]["CustomOriginConfig"]["HTTPPort"] = 4294967296LL;
        expect_error(j, "/Origins/Items/1/CustomOriginConfig/HTTPPort", "out of range");
    }
    SECTION("Quantity disagrees with Items") {
        j["CacheBehaviors"]["Quantity"] = 2;
        expect_error(j, "/CacheBehaviors/Quantity", "Items has 1");
    }
    SECTION("Items missing where required") {
        j["Origins"].erase("Items");
        expect_error(j, "/Origins/Items", "required");
    }
    SECTION("member names with / and ~ are escaped") {
        j["Origins"]["Items"][0]["a/b~c"] = 1;
        expect_error(j, "/Origins/Items/0/a~1b~0c", "unknown member");
    }
    SECTION("not an object") { expect_error(json::array(), "", "expected an object"); }
}

TEST_CASE("parse_json bounds depth and size", "[cdn][json]") {
    CHECK(cdn::parse_json(R"({"a": [1, 2, {"b": null}]})").at("a").size() == 3);
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    CHECK_THROWS_WITH(cdn::parse_json(deep), Catch::Contains("nested more than 64"));
    CHECK_THROWS_AS(cdn::parse_json("{\"a\":"), cdn::JsonError);
    CHECK_THROWS_WITH(cdn::parse_json("[1]", {.max_bytes = 2, .max_depth = 64}),
                      Catch::Contains("limit"));
    CHECK_NOTHROW(cdn::parse_json("[[[1]]]", {.max_bytes = 100, .max_depth = 3}));
    CHECK_THROWS(cdn::parse_json("[[[[1]]]]", {.max_bytes = 100, .max_depth = 3}));
    CHECK_THROWS_WITH(cdn::read_json_file("/nonexistent/file.json"),
                      Catch::Contains("cannot open"));
}

TEST_CASE("placeholders mark deploy-time references", "[cdn][json]") {
    CHECK(cdn::placeholder("DistributionId") == "{{DistributionId}}");
    CHECK(cdn::has_placeholder("arn:aws:lambda:us-east-1:{{AccountId}}:function:f:1"));
    CHECK_FALSE(cdn::has_placeholder("plain"));
    CHECK_FALSE(cdn::has_placeholder("{{unterminated"));
    CHECK(cdn::origin_access_identity_path("E2ABC") == "origin-access-identity/cloudfront/E2ABC");
}

TEMPLATE_TEST_CASE("every enumerator round-trips through its AWS spelling", "[cdn][json]",
                   cdn::OriginProtocolPolicy, cdn::SslProtocol, cdn::Method,
                   cdn::ViewerProtocolPolicy, cdn::EventType, cdn::ItemSelection, cdn::PriceClass,
                   cdn::HttpVersion, cdn::SslSupportMethod, cdn::MinimumProtocolVersion,
                   cdn::CertificateSource, cdn::GeoRestrictionType, cdn::CachePolicyHeaderBehavior,
                   cdn::CachePolicyCookieBehavior, cdn::CachePolicyQueryStringBehavior,
                   cdn::OriginRequestPolicyHeaderBehavior, cdn::OriginRequestPolicyCookieBehavior,
                   cdn::OriginRequestPolicyQueryStringBehavior, cdn::CorsMethod, cdn::FrameOption,
                   cdn::ReferrerPolicyValue, cdn::SigningProtocol, cdn::SigningBehavior,
                   cdn::OriginAccessControlOriginType, cdn::FieldLevelEncryptionFormat,
                   cdn::RealtimeMetricsSubscriptionStatus, cdn::waf::Scope, cdn::waf::Action,
                   cdn::waf::OverrideAction, cdn::waf::AggregateKeyType, cdn::Statistic,
                   cdn::ComparisonOperator, cdn::TreatMissingData, cdn::StandardUnit) {
    // Enumerators are consecutive from 0; the first value without a name ends the list.
    int count = 0;
    for (int i = 0; i < 64; ++i) {
        const auto value = static_cast<TestType>(i);
        const auto name = to_string(value);
        if (name == "?") {
            break;
        }
        ++count;
        CHECK(json(value) == std::string(name));
        CHECK(json(std::string(name)).get<TestType>() == value);
    }
    CHECK(count > 0);
    CHECK_THROWS_AS(json("no-such-value").get<TestType>(), cdn::JsonError);
}

TEST_CASE("reading a file is bounded whatever the file is", "[cdn][json]") {
    CHECK_THROWS_WITH(cdn::read_json_file("/dev/zero", {.max_bytes = 1024, .max_depth = 64}),
                      Catch::Contains("larger than the limit of 1024 bytes"));
    CHECK_THROWS_WITH(cdn::read_json_file("/", {.max_bytes = 1024, .max_depth = 64}),
                      Catch::Contains("is a directory"));
    const auto path = std::filesystem::temp_directory_path() /
                      ("sparc-cdn-limit-" + std::to_string(::getpid()) + ".json");
    std::ofstream(path) << "[1, 2]";
    CHECK(cdn::read_json_file(path.string(), {.max_bytes = 6, .max_depth = 64}).size() == 2);
    CHECK_THROWS(cdn::read_json_file(path.string(), {.max_bytes = 5, .max_depth = 64}));
    std::filesystem::remove(path);
}

TEST_CASE("a key given twice in an object is refused with its path", "[cdn][json]") {
    CHECK_THROWS_WITH(cdn::parse_json(R"({"a": {"b": 1, "b": 2}})"),
                      Catch::Contains("/a/b") && Catch::Contains("twice"));
    CHECK_THROWS_WITH(cdn::parse_json(R"({"l": [{"x": 1}, {"y": 1, "y": 2}]})"),
                      Catch::Contains("/l/1/y"));
    CHECK_NOTHROW(cdn::parse_json(R"({"a": {"b": 1}, "c": {"b": 2}, "l": [{"b": 1}, {"b": 1}]})"));
}

namespace {

// The message of the JsonError `read` throws ("" if none).
template <class F>
std::string json_error(F&& read) {
    try {
        read();
    } catch (const cdn::JsonError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("text that is not UTF-8 is refused with the offset of the first bad byte",
          "[cdn][json]") {
    // A lone byte of a two-byte character at offset 17 (line 2, column 9).
    auto message = json_error([] { return cdn::parse_json("{\"a\": 1,\n \"b\": \"x\xC3y\"}"); });
    CHECK(message ==
          "not UTF-8: byte offset 17 (line 2, column 9) is 0xC3, which does not begin or "
          "continue a UTF-8 character; JSON text must be UTF-8");
    // A stray byte outside a string, an overlong encoding, a surrogate, a truncated character.
    CHECK_THAT(json_error([] { return cdn::parse_json("[1, \xFF]"); }),
               Catch::Contains("byte offset 4 (line 1, column 5) is 0xFF"));
    CHECK_THAT(json_error([] { return cdn::parse_json("\"\xC0\xAF\""); }),
               Catch::Contains("byte offset 1 ") && Catch::Contains("0xC0"));
    CHECK_THAT(json_error([] { return cdn::parse_json("\"\xED\xA0\x80\""); }),
               Catch::Contains("byte offset 1 ") && Catch::Contains("0xED"));
    CHECK_THAT(json_error([] { return cdn::parse_json("\"\xE2\x82"); }),
               Catch::Contains("byte offset 1 ") && Catch::Contains("0xE2"));
    // UTF-8 of every length, and a byte order mark, are fine.
    CHECK(cdn::parse_json("\xEF\xBB\xBF\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x8E\xA5\"") ==
          "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x8E\xA5");
    // A syntax error gives its offset too, without nlohmann's exception tag.
    message = json_error([] { return cdn::parse_json("{\"a\": }"); });
    CHECK_THAT(message, Catch::StartsWith("not valid JSON: byte offset 6 (line 1, column 7): "));
    CHECK_THAT(message, !Catch::Contains("json.exception"));
}

TEST_CASE("every error of read_json_file names the file", "[cdn][json]") {
    const auto dir =
        std::filesystem::temp_directory_path() / ("sparc-cdn-names-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto file = [&](const std::string& name, const std::string& text) {
        const auto path = (dir / name).string();
        std::ofstream(path, std::ios::binary) << text;
        return path;
    };
    const auto bad_utf8 = file("utf8.json", "{\"a\": \"\xC3\"}");
    CHECK(json_error([&] { return cdn::read_json_file(bad_utf8); }) ==
          bad_utf8 +
              ": not UTF-8: byte offset 7 (line 1, column 8) is 0xC3, which does not begin or "
              "continue a UTF-8 character; JSON text must be UTF-8");
    const auto deep = file("deep.json", std::string(100, '[') + std::string(100, ']'));
    CHECK(json_error([&] { return cdn::read_json_file(deep); }) ==
          deep + ": document is nested more than 64 levels deep");
    const auto twice = file("twice.json", R"({"a": {"b": 1, "b": 2}})");
    try {
        (void)cdn::read_json_file(twice);
        FAIL("a key given twice was accepted");
    } catch (const cdn::JsonError& e) {
        CHECK(std::string(e.what()) == twice +
                                           ": /a/b: this key is given twice in its object; "
                                           "give it once");
        CHECK(e.pointer() == "/a/b");
    }
    const auto syntax = file("syntax.json", "[1,");
    CHECK_THAT(json_error([&] { return cdn::read_json_file(syntax); }),
               Catch::StartsWith(syntax + ": not valid JSON: byte offset"));
    const auto missing = (dir / "missing.json").string();
    CHECK(json_error([&] { return cdn::read_json_file(missing); }) ==
          missing + ": cannot open: No such file or directory");
    CHECK(json_error([&] { return cdn::read_json_file(dir.string()); }) ==
          dir.string() + ": is a directory, not a JSON file");
    CHECK(json_error([&] {
              return cdn::read_json_file("/dev/zero", {.max_bytes = 1024, .max_depth = 64});
          }) == "/dev/zero: larger than the limit of 1024 bytes");
    std::filesystem::remove_all(dir);
}
