// validate(): each AWS schema requirement and CloudFront service rule, failing and passing.

#include "support.hpp"

namespace cdn = sparc::cdn;
using sparc::cdn::test::describe;
using sparc::cdn::test::has_problem;
using sparc::cdn::test::minimal_config;

namespace {

// Checks that `config` has a problem at `path` whose message contains `text`.
void rejects(const cdn::DistributionConfig& config, const std::string& path,
             const std::string& text) {
    const auto problems = cdn::validate(config);
    INFO(describe(problems));
    CHECK(has_problem(problems, path, text));
}

// Checks that `config` has no problem at all.
void accepts(const cdn::DistributionConfig& config) {
    const auto problems = cdn::validate(config);
    INFO(describe(problems));
    CHECK(problems.empty());
}

cdn::CacheBehavior& api(cdn::DistributionConfig& d) { return d.cache_behaviors[0]; }
cdn::CustomOriginConfig& custom(cdn::DistributionConfig& d) {
    return *d.origins[1].custom_origin_config;
}

const std::string kEdgeArn = "arn:aws:lambda:us-east-1:123456789012:function:auth:3";

}  // namespace

TEST_CASE("the baseline configuration is valid", "[cdn][validate]") { accepts(minimal_config()); }

TEST_CASE("required members", "[cdn][validate]") {
    auto d = minimal_config();
    SECTION("CallerReference") {
        d.caller_reference.clear();
        rejects(d, "/CallerReference", "non-empty");
    }
    SECTION("at least one origin") {
        d.origins.clear();
        rejects(d, "/Origins", "at least one origin");
    }
    SECTION("origin Id and DomainName") {
        d.origins[1].id.clear();
        d.origins[1].domain_name.clear();
        rejects(d, "/Origins/Items/1/Id", "must not be empty");
        rejects(d, "/Origins/Items/1/DomainName", "DomainName");
    }
    SECTION("origin type") {
        d.origins[1].custom_origin_config.reset();
        rejects(d, "/Origins/Items/1", "exactly one of S3OriginConfig");
        d.origins[1].custom_origin_config = cdn::CustomOriginConfig{};
        d.origins[1].s3_origin_config = cdn::S3OriginConfig{};
        rejects(d, "/Origins/Items/1", "exactly one of S3OriginConfig");
    }
}

TEST_CASE("comment length", "[cdn][validate]") {
    auto d = minimal_config();
    d.comment = std::string(cdn::kMaxCommentLength, 'c');
    accepts(d);
    d.comment += 'c';
    rejects(d, "/Comment", "at most 128");
}

TEST_CASE("TTL order in behaviours", "[cdn][validate]") {
    auto d = minimal_config();
    auto& b = api(d);
    b.cache_policy_id.reset();
    b.origin_request_policy_id.reset();
    b.forwarded_values = cdn::ForwardedValues{};
    b.min_ttl = 0;
    b.default_ttl = 60;
    b.max_ttl = 60;
    accepts(d);
    SECTION("default above max") {
        b.default_ttl = 61;
        rejects(d, "/CacheBehaviors/Items/0/MaxTTL", "below DefaultTTL");
    }
    SECTION("min above default") {
        b.min_ttl = 61;
        rejects(d, "/CacheBehaviors/Items/0/DefaultTTL", "below MinTTL");
    }
    SECTION("negative") {
        b.min_ttl = -1;
        rejects(d, "/CacheBehaviors/Items/0/MinTTL", "negative");
    }
    SECTION("MinTTL required with ForwardedValues") {
        b.min_ttl.reset();
        rejects(d, "/CacheBehaviors/Items/0/MinTTL", "required with ForwardedValues");
    }
}

TEST_CASE("cache policy or forwarded values, exactly one", "[cdn][validate]") {
    auto d = minimal_config();
    SECTION("neither") {
        d.default_cache_behavior.cache_policy_id.reset();
        rejects(d, "/DefaultCacheBehavior", "exactly one of CachePolicyId");
    }
    SECTION("both") {
        d.default_cache_behavior.forwarded_values = cdn::ForwardedValues{};
        d.default_cache_behavior.min_ttl = 0;
        rejects(d, "/DefaultCacheBehavior", "exactly one of CachePolicyId");
    }
    SECTION("legacy TTLs with a cache policy") {
        d.default_cache_behavior.max_ttl = 10;
        rejects(d, "/DefaultCacheBehavior/MaxTTL", "cache policy");
    }
    SECTION("origin request policy with forwarded values") {
        auto& b = api(d);
        b.cache_policy_id.reset();
        b.forwarded_values = cdn::ForwardedValues{};
        b.min_ttl = 0;
        rejects(d, "/CacheBehaviors/Items/0/OriginRequestPolicyId", "needs a cache policy");
        b.origin_request_policy_id.reset();
        accepts(d);
    }
    SECTION("cookie whitelist needs names") {
        auto& b = d.default_cache_behavior;
        b.cache_policy_id.reset();
        b.forwarded_values =
            cdn::ForwardedValues{false, {cdn::ItemSelection::whitelist, {}}, {}, {}};
        b.min_ttl = 0;
        rejects(d, "/DefaultCacheBehavior/ForwardedValues/Cookies/WhitelistedNames",
                "list the cookies");
        b.forwarded_values->cookies.whitelisted_names = {"session"};
        accepts(d);
    }
}

TEST_CASE("target origins and origin groups exist", "[cdn][validate]") {
    auto d = minimal_config();
    SECTION("unknown target") {
        api(d).target_origin_id = "nowhere";
        rejects(d, "/CacheBehaviors/Items/0/TargetOriginId", "\"nowhere\" is not the Id");
    }
    SECTION("origin group members exist") {
        d.origin_groups = {cdn::OriginGroup{"group", {503}, {"assets", "missing"}}};
        rejects(d, "/OriginGroups/Items/0/Members/Items/1/OriginId", "\"missing\"");
        d.origin_groups[0].member_origin_ids[1] = "api";
        d.default_cache_behavior.target_origin_id = "group";
        accepts(d);
    }
    SECTION("origin groups have two members") {
        d.origin_groups = {cdn::OriginGroup{"group", {503}, {"assets"}}};
        rejects(d, "/OriginGroups/Items/0/Members", "exactly two");
    }
    SECTION("failover status codes") {
        d.origin_groups = {cdn::OriginGroup{"group", {503, 501}, {"assets", "api"}}};
        rejects(d, "/OriginGroups/Items/0/FailoverCriteria/StatusCodes/Items/1",
                "501 cannot trigger");
        d.origin_groups[0].failover_status_codes.clear();
        rejects(d, "/OriginGroups/Items/0/FailoverCriteria/StatusCodes", "at least one");
    }
    SECTION("origin groups serve only read methods") {
        d.origin_groups = {cdn::OriginGroup{"group", {503}, {"assets", "api"}}};
        api(d).target_origin_id = "group";
        rejects(d, "/CacheBehaviors/Items/0/AllowedMethods",
                "fails over only GET, HEAD and OPTIONS");
    }
}

TEST_CASE("unique ids and path patterns", "[cdn][validate]") {
    auto d = minimal_config();
    SECTION("origin ids") {
        d.origins[1].id = "assets";
        rejects(d, "/Origins/Items/1/Id", "used twice");
    }
    SECTION("origin group ids share the namespace") {
        d.origin_groups = {cdn::OriginGroup{"api", {503}, {"assets", "api"}}};
        rejects(d, "/OriginGroups/Items/0/Id", "already used");
    }
    SECTION("path patterns, with or without the leading slash") {
        auto copy = api(d);
        copy.path_pattern = "api/*";
        d.cache_behaviors.push_back(copy);
        rejects(d, "/CacheBehaviors/Items/1/PathPattern", "never matches");
        d.cache_behaviors[1].path_pattern = "/api/v2/*";
        accepts(d);
    }
}

TEST_CASE("path pattern characters and length", "[cdn][validate]") {
    auto d = minimal_config();
    SECTION("allowed characters") {
        api(d).path_pattern = "/a-z_0.9/*$~\"'@:+&?.jpg";
        accepts(d);
    }
    SECTION("bracket") {
        api(d).path_pattern = "/img/[ab]*";
        rejects(d, "/CacheBehaviors/Items/0/PathPattern", "contains '['");
    }
    SECTION("backslash") {
        api(d).path_pattern = "/img\\*";
        rejects(d, "/CacheBehaviors/Items/0/PathPattern", "contains '\\'");
    }
    SECTION("space") {
        api(d).path_pattern = "/my files/*";
        rejects(d, "/CacheBehaviors/Items/0/PathPattern", "contains ' '");
    }
    SECTION("a character beyond ASCII is named whole, never by one byte of it") {
        api(d).path_pattern = "/vid\xC3\xA9o/*";  // é
        rejects(d, "/CacheBehaviors/Items/0/PathPattern", "contains '\xC3\xA9' (U+00E9);");
        api(d).path_pattern = "/a\tb/*";
        rejects(d, "/CacheBehaviors/Items/0/PathPattern", "contains U+0009;");
        api(d).path_pattern = "/vid\xC3o/*";  // not UTF-8 (only an API caller can pass it)
        rejects(d, "/CacheBehaviors/Items/0/PathPattern",
                "contains the byte 0xC3, which is not UTF-8;");
    }
    SECTION("length") {
        api(d).path_pattern = "/" + std::string(254, 'a');
        accepts(d);
        api(d).path_pattern += "a";
        rejects(d, "/CacheBehaviors/Items/0/PathPattern", "the limit is 255");
    }
    SECTION("empty") {
        api(d).path_pattern.clear();
        rejects(d, "/CacheBehaviors/Items/0/PathPattern", "must not be empty");
    }
    SECTION("catch-all belongs to the default") {
        api(d).path_pattern = "*";
        rejects(d, "/CacheBehaviors/Items/0/PathPattern", "default cache behaviour");
    }
}

TEST_CASE("allowed and cached method sets", "[cdn][validate]") {
    using M = cdn::Method;
    auto d = minimal_config();
    auto& methods = *api(d).allowed_methods;
    api(d).field_level_encryption_id.reset();
    SECTION("the three allowed sets pass") {
        methods = {{M::head, M::get}, {M::get, M::head}};
        accepts(d);
        methods = {{M::get, M::head, M::options}, {M::get, M::head, M::options}};
        accepts(d);
    }
    SECTION("other allowed sets fail") {
        methods = {{M::get, M::head, M::post}, {}};
        rejects(d, "/CacheBehaviors/Items/0/AllowedMethods/Items", "not GET,HEAD,POST");
    }
    SECTION("duplicates fail") {
        methods = {{M::get, M::head, M::get}, {}};
        rejects(d, "/CacheBehaviors/Items/0/AllowedMethods/Items", "listed twice");
    }
    SECTION("cached methods are GET,HEAD or GET,HEAD,OPTIONS") {
        methods.cached_methods = {M::get};
        rejects(d, "/CacheBehaviors/Items/0/AllowedMethods/CachedMethods/Items",
                "must be GET,HEAD");
    }
    SECTION("cached methods are allowed methods") {
        methods = {{M::get, M::head}, {M::get, M::head, M::options}};
        rejects(d, "/CacheBehaviors/Items/0/AllowedMethods/CachedMethods/Items",
                "not all in AllowedMethods");
    }
}

TEST_CASE("Lambda@Edge associations", "[cdn][validate]") {
    auto d = minimal_config();
    auto& lambdas = api(d).lambda_function_associations;
    const std::string path =
        "/CacheBehaviors/Items/0/LambdaFunctionAssociations/Items/0/LambdaFunctionARN";
    SECTION("a versioned us-east-1 ARN passes") {
        lambdas = {{kEdgeArn, cdn::EventType::viewer_request, true}};
        accepts(d);
    }
    SECTION("unversioned") {
        lambdas = {{"arn:aws:lambda:us-east-1:123456789012:function:auth",
                    cdn::EventType::viewer_request,
                    {}}};
        rejects(d, path, "published version");
    }
    SECTION("$LATEST") {
        lambdas = {{"arn:aws:lambda:us-east-1:123456789012:function:auth:$LATEST",
                    cdn::EventType::viewer_request,
                    {}}};
        rejects(d, path, "published version");
    }
    SECTION("alias") {
        lambdas = {{"arn:aws:lambda:us-east-1:123456789012:function:auth:live",
                    cdn::EventType::viewer_request,
                    {}}};
        rejects(d, path, "published version");
    }
    SECTION("other region") {
        lambdas = {{"arn:aws:lambda:eu-west-1:123456789012:function:auth:3",
                    cdn::EventType::viewer_request,
                    {}}};
        rejects(d, path, "us-east-1");
    }
    SECTION("not an ARN") {
        lambdas = {{"auth", cdn::EventType::viewer_request, {}}};
        rejects(d, path, "not a Lambda function ARN");
    }
    SECTION("one per event type") {
        lambdas = {{kEdgeArn, cdn::EventType::origin_request, {}},
                   {kEdgeArn, cdn::EventType::origin_request, {}}};
        rejects(d, "/CacheBehaviors/Items/0/LambdaFunctionAssociations/Items/1/EventType",
                "one per event type");
        lambdas[1].event_type = cdn::EventType::origin_response;
        accepts(d);
    }
    SECTION("IncludeBody on response events") {
        lambdas = {{kEdgeArn, cdn::EventType::viewer_response, true}};
        rejects(d, "/CacheBehaviors/Items/0/LambdaFunctionAssociations/Items/0/IncludeBody",
                "request events");
    }
    SECTION("a deploy-time version reference passes") {
        lambdas = {{"arn:aws:lambda:us-east-1:{{AccountId}}:function:auth:{{Version}}",
                    cdn::EventType::viewer_request,
                    {}}};
        accepts(d);
    }
}

TEST_CASE("CloudFront Function associations", "[cdn][validate]") {
    auto d = minimal_config();
    auto& functions = api(d).function_associations;
    const std::string fn = "arn:aws:cloudfront::123456789012:function/rewrite";
    SECTION("viewer events pass") {
        functions = {{fn, cdn::EventType::viewer_request}, {fn, cdn::EventType::viewer_response}};
        accepts(d);
    }
    SECTION("origin events fail") {
        functions = {{fn, cdn::EventType::origin_request}};
        rejects(d, "/CacheBehaviors/Items/0/FunctionAssociations/Items/0/EventType",
                "viewer-request or viewer-response only");
    }
    SECTION("not both kinds on one event") {
        functions = {{fn, cdn::EventType::viewer_request}};
        api(d).lambda_function_associations = {{kEdgeArn, cdn::EventType::viewer_request, {}}};
        rejects(d, "/CacheBehaviors/Items/0/FunctionAssociations/Items/0/EventType", "not both");
    }
    SECTION("ARN shape") {
        functions = {
            {"arn:aws:lambda:us-east-1:123456789012:function:f:1", cdn::EventType::viewer_request}};
        rejects(d, "/CacheBehaviors/Items/0/FunctionAssociations/Items/0/FunctionARN",
                "CloudFront Function ARN");
    }
}

TEST_CASE("field-level encryption needs HTTPS and POST", "[cdn][validate]") {
    auto d = minimal_config();
    auto& b = api(d);
    b.field_level_encryption_id = "FLE123";
    accepts(d);
    SECTION("redirect-to-https passes") {
        b.viewer_protocol_policy = cdn::ViewerProtocolPolicy::redirect_to_https;
        accepts(d);
    }
    SECTION("allow-all fails") {
        b.viewer_protocol_policy = cdn::ViewerProtocolPolicy::allow_all;
        rejects(d, "/CacheBehaviors/Items/0/ViewerProtocolPolicy",
                "https-only or redirect-to-https");
    }
    SECTION("read-only methods fail") {
        b.allowed_methods = cdn::AllowedMethods{{cdn::Method::get, cdn::Method::head}, {}};
        rejects(d, "/CacheBehaviors/Items/0/FieldLevelEncryptionId", "POST");
    }
}

TEST_CASE("viewer certificates", "[cdn][validate]") {
    auto d = minimal_config();
    cdn::ViewerCertificate acm;
    acm.acm_certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/abc";
    acm.ssl_support_method = cdn::SslSupportMethod::sni_only;
    acm.minimum_protocol_version = cdn::MinimumProtocolVersion::tlsv1_2_2021;
    SECTION("ACM in us-east-1 with aliases passes") {
        d.aliases = {"cdn.example.com"};
        d.viewer_certificate = acm;
        accepts(d);
    }
    SECTION("ACM elsewhere fails") {
        acm.acm_certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/abc";
        d.viewer_certificate = acm;
        rejects(d, "/ViewerCertificate/ACMCertificateArn", "us-east-1 only");
    }
    SECTION("aliases need a certificate") {
        d.aliases = {"cdn.example.com"};
        rejects(d, "/Aliases", "ACMCertificateArn");
        cdn::ViewerCertificate default_cert;
        default_cert.cloudfront_default_certificate = true;
        d.viewer_certificate = default_cert;
        rejects(d, "/Aliases", "ACMCertificateArn");
    }
    SECTION("SNI method required") {
        acm.ssl_support_method.reset();
        d.viewer_certificate = acm;
        rejects(d, "/ViewerCertificate/SSLSupportMethod", "sni-only");
    }
    SECTION("one certificate source") {
        acm.cloudfront_default_certificate = true;
        d.viewer_certificate = acm;
        rejects(d, "/ViewerCertificate", "exactly one of");
    }
    SECTION("default certificate is TLSv1 only") {
        cdn::ViewerCertificate default_cert;
        default_cert.cloudfront_default_certificate = true;
        default_cert.minimum_protocol_version = cdn::MinimumProtocolVersion::tlsv1_2_2021;
        d.viewer_certificate = default_cert;
        rejects(d, "/ViewerCertificate/MinimumProtocolVersion", "always TLSv1");
    }
    SECTION("aliases are domain names, listed once") {
        d.viewer_certificate = acm;
        d.aliases = {"*.example.com", "bad_name.example.com", "*.EXAMPLE.com"};
        rejects(d, "/Aliases/Items/1", "not a domain name");
        rejects(d, "/Aliases/Items/2", "listed twice");
    }
}

TEST_CASE("origin access: OAI xor OAC", "[cdn][validate]") {
    auto d = minimal_config();
    auto& s3 = d.origins[0];
    SECTION("OAC alone passes") { accepts(d); }
    SECTION("OAI alone passes") {
        s3.origin_access_control_id.reset();
        s3.s3_origin_config->origin_access_identity = "origin-access-identity/cloudfront/E2OAI";
        accepts(d);
    }
    SECTION("both fail") {
        s3.s3_origin_config->origin_access_identity = "origin-access-identity/cloudfront/E2OAI";
        rejects(d, "/Origins/Items/0/S3OriginConfig/OriginAccessIdentity", "not both");
    }
    SECTION("OAI path shape") {
        s3.origin_access_control_id.reset();
        s3.s3_origin_config->origin_access_identity = "E2OAI";
        rejects(d, "/Origins/Items/0/S3OriginConfig/OriginAccessIdentity",
                "origin-access-identity/cloudfront/ID");
    }
    SECTION("OAC on a custom origin") {
        d.origins[1].origin_access_control_id = "E1OAC";
        rejects(d, "/Origins/Items/1/OriginAccessControlId", "Lambda function URL origins only");
        d.origins[1].domain_name = "abcdefgh.lambda-url.us-east-1.on.aws";
        CHECK_FALSE(has_problem(cdn::validate(d), "/Origins/Items/1/OriginAccessControlId"));
    }
}

TEST_CASE("origin ports and timeouts", "[cdn][validate]") {
    auto d = minimal_config();
    auto& c = custom(d);
    const std::string base = "/Origins/Items/1/CustomOriginConfig/";
    SECTION("valid boundaries pass") {
        c.http_port = 1024;
        c.https_port = 65535;
        c.origin_read_timeout = 180;
        c.origin_keepalive_timeout = 1;
        d.origins[1].connection_attempts = 1;
        d.origins[1].connection_timeout = 10;
        accepts(d);
    }
    SECTION("reserved ports") {
        c.http_port = 22;
        rejects(d, base + "HTTPPort", "reserved");
        c.http_port = 0;
        rejects(d, base + "HTTPPort", "80, 443 or 1024-65535");
        c.https_port = 65536;
        rejects(d, base + "HTTPSPort", "1024-65535");
    }
    SECTION("read timeout 1-180") {
        c.origin_read_timeout = 181;
        rejects(d, base + "OriginReadTimeout", "1-180");
        c.origin_read_timeout = 0;
        rejects(d, base + "OriginReadTimeout", "1-180");
    }
    SECTION("keepalive timeout 1-180") {
        c.origin_keepalive_timeout = 181;
        rejects(d, base + "OriginKeepaliveTimeout", "1-180");
    }
    SECTION("connection attempts 1-3") {
        d.origins[1].connection_attempts = 4;
        rejects(d, "/Origins/Items/1/ConnectionAttempts", "1-3");
    }
    SECTION("connection timeout 1-10") {
        d.origins[1].connection_timeout = 11;
        rejects(d, "/Origins/Items/1/ConnectionTimeout", "1-10");
        d.origins[1].connection_timeout = 0;
        rejects(d, "/Origins/Items/1/ConnectionTimeout", "1-10");
    }
    SECTION("TLS protocols for HTTPS origins") {
        c.origin_ssl_protocols.clear();
        rejects(d, base + "OriginSslProtocols", "TLSv1.2");
        c.origin_protocol_policy = cdn::OriginProtocolPolicy::http_only;
        accepts(d);
    }
}

TEST_CASE("origin shape details", "[cdn][validate]") {
    auto d = minimal_config();
    SECTION("Origin Shield region") {
        d.origins[1].origin_shield = cdn::OriginShield{true, "eu-west-1"};
        accepts(d);
        d.origins[1].origin_shield->origin_shield_region = "eu-north-9";
        rejects(d, "/Origins/Items/1/OriginShield/OriginShieldRegion",
                "not an Origin Shield region");
        d.origins[1].origin_shield->origin_shield_region.reset();
        rejects(d, "/Origins/Items/1/OriginShield/OriginShieldRegion",
                "without OriginShieldRegion");
        d.origins[1].origin_shield->enabled = false;
        accepts(d);
    }
    SECTION("origin path") {
        d.origins[1].origin_path = "/prod";
        accepts(d);
        d.origins[1].origin_path = "prod/";
        rejects(d, "/Origins/Items/1/OriginPath", "start with '/'");
    }
    SECTION("domain name without scheme") {
        d.origins[1].domain_name = "https://api.example.com";
        rejects(d, "/Origins/Items/1/DomainName", "without scheme");
    }
    SECTION("custom headers") {
        d.origins[1].custom_headers = {{"X-Origin-Verify", "s"}};
        accepts(d);
        d.origins[1].custom_headers.push_back({"Host", "x"});
        d.origins[1].custom_headers.push_back({"x-origin-verify", "t"});
        rejects(d, "/Origins/Items/1/CustomHeaders/Items/1/HeaderName", "does not let");
        rejects(d, "/Origins/Items/1/CustomHeaders/Items/2/HeaderName", "set twice");
    }
}

TEST_CASE("quotas", "[cdn][validate]") {
    auto d = minimal_config();
    SECTION("25 behaviours pass, 26 fail") {
        d.cache_behaviors.clear();
        for (int i = 0; i < 25; ++i) {
            auto b = minimal_config().cache_behaviors[0];
            b.path_pattern = "/p" + std::to_string(i) + "/*";
            d.cache_behaviors.push_back(b);
        }
        accepts(d);
        auto b = d.cache_behaviors[0];
        b.path_pattern = "/p25/*";
        d.cache_behaviors.push_back(b);
        rejects(d, "/CacheBehaviors", "quota is 25");
    }
    SECTION("25 origins pass, 26 fail") {
        while (d.origins.size() < 25) {
            auto o = d.origins[1];
            o.id = "api" + std::to_string(d.origins.size());
            d.origins.push_back(o);
        }
        accepts(d);
        auto o = d.origins[1];
        o.id = "one-too-many";
        d.origins.push_back(o);
        rejects(d, "/Origins", "quota is 25");
    }
}

TEST_CASE("distribution-level settings", "[cdn][validate]") {
    auto d = minimal_config();
    SECTION("logging bucket is a bucket domain") {
        d.logging = cdn::LoggingConfig{true, false, "logs.s3.amazonaws.com", "cdn/"};
        accepts(d);
        d.logging->bucket = "logs";
        rejects(d, "/Logging/Bucket", "domain name");
    }
    SECTION("web ACL is a global WAFv2 ARN") {
        d.web_acl_id = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/acl/1234";
        accepts(d);
        d.web_acl_id = "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/acl/1234";
        rejects(d, "/WebACLId", "CLOUDFRONT");
    }
    SECTION("custom error responses") {
        d.custom_error_responses = {{404, "/404.html", "404", 30}};
        accepts(d);
        d.custom_error_responses.push_back({418, std::nullopt, std::nullopt, std::nullopt});
        d.custom_error_responses.push_back({404, "404.html", std::nullopt, std::nullopt});
        rejects(d, "/CustomErrorResponses/Items/1/ErrorCode", "not 418");
        rejects(d, "/CustomErrorResponses/Items/2/ErrorCode", "listed twice");
        rejects(d, "/CustomErrorResponses/Items/2", "together");
        rejects(d, "/CustomErrorResponses/Items/2/ResponsePagePath", "start with '/'");
    }
    SECTION("geo restrictions") {
        d.restrictions = cdn::Restrictions{{cdn::GeoRestrictionType::whitelist, {"US", "CA"}}};
        accepts(d);
        d.restrictions->geo_restriction.locations = {"usa"};
        rejects(d, "/Restrictions/GeoRestriction/Items/0", "ISO 3166-1");
        d.restrictions->geo_restriction.locations.clear();
        rejects(d, "/Restrictions/GeoRestriction", "at least one country");
    }
    SECTION("default root object") {
        d.default_root_object = "/index.html";
        rejects(d, "/DefaultRootObject", "without a leading '/'");
    }
    SECTION("trusted key groups") {
        d.default_cache_behavior.trusted_key_groups = cdn::TrustedList{true, {}};
        rejects(d, "/DefaultCacheBehavior/TrustedKeyGroups/Enabled", "exactly when");
    }
}

TEST_CASE("validate reports every problem at once", "[cdn][validate]") {
    auto d = minimal_config();
    d.comment = std::string(200, 'c');
    api(d).target_origin_id = "nowhere";
    custom(d).origin_read_timeout = 500;
    const auto problems = cdn::validate(d);
    CHECK(problems.size() >= 3);
}

TEST_CASE("get-distribution-config output of a default distribution is valid", "[cdn][validate]") {
    auto d = minimal_config();
    // CloudFront reports unset ids as empty strings; they are not problems.
    d.origins[1].origin_access_control_id = "";
    d.default_cache_behavior.field_level_encryption_id = "";
    d.web_acl_id = "";
    cdn::ViewerCertificate cert;
    cert.cloudfront_default_certificate = true;
    cert.ssl_support_method = cdn::SslSupportMethod::vip;
    cert.minimum_protocol_version = cdn::MinimumProtocolVersion::tlsv1;
    cert.certificate_source = cdn::CertificateSource::cloudfront;
    d.viewer_certificate = cert;
    d.logging = cdn::LoggingConfig{false, false, "", ""};
    accepts(d);
}

TEST_CASE("cache policy validation", "[cdn][validate]") {
    cdn::CachePolicyConfig p;
    p.name = "video";
    p.min_ttl = 0;
    p.default_ttl = 86400;
    p.max_ttl = 31536000;
    p.parameters_in_cache_key_and_forwarded_to_origin = cdn::CacheKeyParameters{};
    CHECK(cdn::validate(p).empty());
    SECTION("TTL order") {
        p.default_ttl = 40000000;
        CHECK(has_problem(cdn::validate(p), "/MaxTTL", "below DefaultTTL"));
        p.default_ttl = 10;
        p.min_ttl = 20;
        CHECK(has_problem(cdn::validate(p), "/DefaultTTL", "below MinTTL"));
    }
    SECTION("implicit default above max") {
        p.default_ttl.reset();
        p.max_ttl = 300;
        CHECK(has_problem(cdn::validate(p), "/DefaultTTL", "defaults to 86400"));
    }
    SECTION("name characters") {
        p.name = "video policy";
        CHECK(has_problem(cdn::validate(p), "/Name", "A-Z a-z 0-9"));
    }
    SECTION("whitelist needs items") {
        p.parameters_in_cache_key_and_forwarded_to_origin->headers_config.header_behavior =
            cdn::CachePolicyHeaderBehavior::whitelist;
        CHECK(has_problem(cdn::validate(p),
                          "/ParametersInCacheKeyAndForwardedToOrigin/HeadersConfig",
                          "at least one"));
        p.parameters_in_cache_key_and_forwarded_to_origin->headers_config.headers = {
            "Authorization"};
        CHECK(cdn::validate(p).empty());
    }
    SECTION("compression needs caching") {
        p.min_ttl = 0;
        p.default_ttl = 0;
        p.max_ttl = 0;
        p.parameters_in_cache_key_and_forwarded_to_origin->enable_accept_encoding_gzip = true;
        CHECK(has_problem(cdn::validate(p), "/ParametersInCacheKeyAndForwardedToOrigin",
                          "compression"));
    }
}

TEST_CASE("origin request and response headers policy validation", "[cdn][validate]") {
    cdn::OriginRequestPolicyConfig orp;
    orp.name = "ws";
    orp.headers_config = {cdn::OriginRequestPolicyHeaderBehavior::whitelist, {"Sec-WebSocket-Key"}};
    CHECK(cdn::validate(orp).empty());
    orp.headers_config.headers.emplace_back("Authorization");
    CHECK(has_problem(cdn::validate(orp), "/HeadersConfig/Headers/Items/1", "cache policy"));
    orp.cookies_config = {cdn::OriginRequestPolicyCookieBehavior::none, {"session"}};
    CHECK(has_problem(cdn::validate(orp), "/CookiesConfig", "takes no list"));

    cdn::ResponseHeadersPolicyConfig rh;
    rh.name = "security";
    cdn::SecurityHeadersConfig sec;
    sec.content_security_policy = cdn::ContentSecurityPolicy{true, "default-src 'self'"};
    sec.xss_protection = cdn::XssProtection{true, true, true, std::nullopt};
    rh.security_headers_config = sec;
    CHECK(cdn::validate(rh).empty());
    rh.security_headers_config->xss_protection->report_uri = "https://example.com/r";
    CHECK(has_problem(cdn::validate(rh), "/SecurityHeadersConfig/XSSProtection",
                      "cannot be combined"));
    rh.security_headers_config->content_security_policy->content_security_policy =
        std::string(1784, 'a');
    CHECK(has_problem(cdn::validate(rh),
                      "/SecurityHeadersConfig/ContentSecurityPolicy/ContentSecurityPolicy",
                      "1-1783"));
}

TEST_CASE("web ACL validation", "[cdn][validate][waf]") {
    namespace waf = cdn::waf;
    const auto stack = cdn::presets::video_platform(sparc::cdn::test::video_params());
    auto acl = stack.web_acl;
    CHECK(cdn::validate(acl).empty());
    SECTION("unique priorities") {
        acl.rules[1].priority = acl.rules[0].priority;
        CHECK(has_problem(cdn::validate(acl), "/Rules/1/Priority", "used twice"));
    }
    SECTION("rate limit range") {
        acl.rules[0].statement.rate_based_statement->limit = 9;
        CHECK(has_problem(cdn::validate(acl), "/Rules/0/Statement/RateBasedStatement/Limit",
                          "10-2000000000"));
        acl.rules[0].statement.rate_based_statement->limit = 10;  // AWS's minimum since 2024
        CHECK(cdn::validate(acl).empty());
        acl.rules[0].statement.rate_based_statement->limit = 2000000001;
        CHECK_FALSE(cdn::validate(acl).empty());
    }
    SECTION("RuleActionOverrides, not the deprecated ExcludedRules") {
        auto& group = *acl.rules[1].statement.managed_rule_group_statement;
        group.rule_action_overrides = {{"SQLi_BODY", waf::Action::count}};
        CHECK(cdn::validate(acl).empty());
        group.rule_action_overrides.push_back({"SQLi_BODY", waf::Action::block});
        CHECK(
            has_problem(cdn::validate(acl),
                        "/Rules/1/Statement/ManagedRuleGroupStatement/RuleActionOverrides/1/Name"));
        group.rule_action_overrides.pop_back();
        group.excluded_rules = {{"SQLi_QUERY"}};
        CHECK(has_problem(cdn::validate(acl),
                          "/Rules/1/Statement/ManagedRuleGroupStatement/ExcludedRules",
                          "RuleActionOverrides"));
    }
    SECTION("rule groups take OverrideAction") {
        acl.rules[1].override_action.reset();
        acl.rules[1].action = waf::Action::block;
        CHECK(has_problem(cdn::validate(acl), "/Rules/1", "OverrideAction"));
    }
    SECTION("plain statements take Action") {
        acl.rules[0].action.reset();
        CHECK(has_problem(cdn::validate(acl), "/Rules/0", "takes Action"));
    }
    SECTION("metric names") {
        acl.visibility_config.metric_name = "bad name";
        CHECK(has_problem(cdn::validate(acl), "/VisibilityConfig/MetricName", "MetricName"));
    }
}

TEST_CASE("alarm validation", "[cdn][validate][alarms]") {
    const auto stack = cdn::presets::video_platform(sparc::cdn::test::video_params());
    for (const auto& a : stack.alarms) {
        INFO(a.alarm_name);
        CHECK(cdn::validate(a).empty());
    }
    auto alarm = stack.alarms[0];
    SECTION("Region=Global") {
        alarm.dimensions.pop_back();
        CHECK(has_problem(cdn::validate(alarm), "/Dimensions", "Region=Global"));
    }
    SECTION("datapoints within evaluation periods") {
        alarm.datapoints_to_alarm = alarm.evaluation_periods + 1;
        CHECK(has_problem(cdn::validate(alarm), "/DatapointsToAlarm", "EvaluationPeriods"));
    }
    SECTION("one statistic") {
        alarm.extended_statistic = "p99";
        CHECK(has_problem(cdn::validate(alarm), "", "exactly one of Statistic"));
    }
    SECTION("period") {
        alarm.period = 90;
        CHECK(has_problem(cdn::validate(alarm), "/Period", "multiple of 60"));
    }
    SECTION("at most five actions") {
        alarm.alarm_actions.assign(6, "arn:aws:sns:us-east-1:123456789012:t");
        CHECK(has_problem(cdn::validate(alarm), "/AlarmActions", "allows 5"));
    }
}

TEST_CASE("a configuration using every member is valid", "[cdn][validate]") {
    // Origin groups, legacy forwarded values, trusted key groups, both kinds of edge
    // functions, error pages, logging, an ACM certificate, geo restrictions and a web ACL.
    accepts(sparc::cdn::test::rich_config());
}

TEST_CASE("logging prefix", "[cdn][validate]") {
    auto d = minimal_config();
    d.logging = cdn::LoggingConfig{true, true, "logs.s3.amazonaws.com", "/cdn/"};
    rejects(d, "/Logging/Prefix", "must not start with '/'");
    d.logging->prefix = "cdn/";
    accepts(d);
}
