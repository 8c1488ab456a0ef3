// Checks of the video platform's variables at render time.

#include <functional>
#include <string>

#include "support.hpp"

namespace presets = sparc::cdn::presets;
using sparc::cdn::test::kTestPublicKey;
using sparc::cdn::test::rejection;
using sparc::cdn::test::video_params;

namespace {

std::string with(const std::function<void(presets::VideoPlatformParams&)>& change) {
    auto p = video_params();
    change(p);
    return rejection(p);
}

}  // namespace

TEST_CASE("every variable is checked at render", "[cdn][presets][params]") {
    CHECK(rejection(video_params()).empty());

    SECTION("WAF rate limit: AWS's minimum is 10") {
        CHECK(with([](auto& p) { p.rate_limit = 10; }).empty());
        CHECK(with([](auto& p) { p.rate_limit = 2'000'000'000; }).empty());
        CHECK_THAT(with([](auto& p) { p.rate_limit = 9; }), Catch::Contains("waf_rate_limit"));
        CHECK_THAT(with([](auto& p) { p.rate_limit = 2'000'000'001; }),
                   Catch::Contains("waf_rate_limit"));
    }
    SECTION("real-time log sampling rate 1-100") {
        CHECK(with([](auto& p) { p.realtime_log_sampling_rate = 1; }).empty());
        CHECK_THAT(with([](auto& p) { p.realtime_log_sampling_rate = 0; }),
                   Catch::Contains("realtime_log_sampling_rate"));
        CHECK_THAT(with([](auto& p) { p.realtime_log_sampling_rate = 101; }),
                   Catch::Contains("realtime_log_sampling_rate"));
    }
    SECTION("PEM keys") {
        CHECK_THAT(with([](auto& p) { p.jwt_public_key = "not a key"; }),
                   Catch::Contains("jwt_public_key") && Catch::Contains("PEM"));
        CHECK_THAT(with([](auto& p) {
                       p.jwt_public_key =
                           "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n";
                   }),
                   Catch::Contains("jwt_public_key"));
        CHECK_THAT(with([](auto& p) {
                       p.jwt_public_key =
                           "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----";
                   }),
                   Catch::Contains("base64"));
        // A truncated key: the DER is cut short.
        CHECK_THAT(with([](auto& p) {
                       std::string k(kTestPublicKey);
                       k.erase(k.find('\n') + 1, 64);
                       p.field_encryption_public_key = k;
                   }),
                   Catch::Contains("field_encryption_public_key"));
        CHECK_THAT(with([](auto& p) {
                       p.jwt_public_keys = {{"2024", "garbage"}};
                   }),
                   Catch::Contains("jwt_public_keys[\"2024\"]"));
        // jwt_public_keys alone is enough.
        CHECK(with([](auto& p) {
                  p.jwt_public_keys = {{"k1", p.jwt_public_key}};
                  p.jwt_public_key.clear();
              }).empty());
        CHECK_THAT(with([](auto& p) { p.jwt_public_key.clear(); }),
                   Catch::Contains("jwt_public_key"));
    }
    SECTION("SNS topic in us-east-1") {
        CHECK_THAT(with([](auto& p) {
                       p.sns_alert_topic_arn = "arn:aws:sns:eu-west-1:123456789012:alerts";
                   }),
                   Catch::Contains("us-east-1"));
        CHECK_THAT(with([](auto& p) { p.sns_alert_topic_arn = "alerts"; }),
                   Catch::Contains("sns_alert_topic_arn"));
    }
    SECTION("encrypted fields") {
        CHECK_THAT(with([](auto& p) { p.encrypted_fields.clear(); }),
                   Catch::Contains("encrypted_fields"));
        CHECK_THAT(with([](auto& p) { p.encrypted_fields.push_back(""); }),
                   Catch::Contains("encrypted_fields"));
    }
    SECTION("TTL order") {
        CHECK_THAT(with([](auto& p) {
                       p.video_default_ttl = 100;
                       p.video_max_ttl = 50;
                   }),
                   Catch::Contains("video_default_ttl") && Catch::Contains("video_max_ttl"));
        CHECK_THAT(with([](auto& p) { p.api_max_ttl = -1; }), Catch::Contains("api_max_ttl"));
        CHECK_THAT(with([](auto& p) { p.static_default_ttl = 0; }),
                   Catch::Contains("static_default_ttl"));
        // A short API maximum lowers the API's default TTL with it.
        auto p = video_params();
        p.api_max_ttl = 30;
        const auto stack = presets::video_platform(p);
        CHECK(stack.api_cache_policy.default_ttl == 30);
        CHECK(stack.api_cache_policy.max_ttl == 30);
    }
    SECTION("tags and domains") {
        CHECK_THAT(with([](auto& p) {
                       p.tags = {{"aws:reserved", "x"}};
                   }),
                   Catch::Contains("tags"));
        CHECK_THAT(with([](auto& p) { p.websocket_api_domain = "ws..example.com"; }),
                   Catch::Contains("websocket_api_domain"));
        CHECK_THAT(with([](auto& p) { p.public_paths = {"api/public/*"}; }),
                   Catch::Contains("public_paths"));
        CHECK_THAT(with([](auto& p) { p.public_paths = {"/" + std::string(4096, '*')}; }),
                   Catch::Contains("public_paths"));
    }
    SECTION("tags: the characters and lengths AWS accepts") {
        CHECK(with([](auto& p) {
                  p.tags = {{"Team_1 .:/=+-@", "Vid\u00e9o 2 _.:/=+-@"}};
              }).empty());
        CHECK(with([](auto& p) {
                  std::string accented;
                  for (int i = 0; i < 255; ++i) {
                      accented += "\u00e9";  // two bytes, one character
                  }
                  p.tags = {{std::string(128, 'k'), accented}};
              }).empty());
        for (const auto* bad : {"k{x}", "a,b", "a\tb", "x;y", "a*", "\xff"}) {
            INFO(bad);
            CHECK_THAT(with([&](auto& p) { p.tags = {{"Team", bad}}; }), Catch::Contains("tags"));
            CHECK_THAT(with([&](auto& p) { p.tags = {{bad, "x"}}; }), Catch::Contains("tags"));
        }
        CHECK_THAT(with([](auto& p) {
                       p.tags = {{std::string(129, 'k'), "x"}};
                   }),
                   Catch::Contains("tags"));
        CHECK_THAT(with([](auto& p) {
                       p.tags = {{"k", std::string(256, 'v')}};
                   }),
                   Catch::Contains("tags"));
    }
    SECTION("accounts, ARNs, buckets and regions") {
        CHECK(with([](auto& p) { p.aws_account_id = "123456789012"; }).empty());
        CHECK_THAT(with([](auto& p) { p.aws_account_id = "12345"; }),
                   Catch::Contains("aws_account_id"));
        CHECK(with([](auto& p) {
                  p.edge_function_role_arn = "arn:aws:iam::123456789012:role/service/edge";
              }).empty());
        CHECK_THAT(with([](auto& p) { p.edge_function_role_arn = "arn:aws:iam::123:role/x"; }),
                   Catch::Contains("edge_function_role_arn"));
        CHECK_THAT(
            with([](auto& p) { p.realtime_logs_role_arn = "arn:aws:iam::123456789012:policy/x"; }),
            Catch::Contains("realtime_logs_role_arn"));
        CHECK_THAT(with([](auto& p) { p.kinesis_stream_arn = "stream"; }),
                   Catch::Contains("kinesis_stream_arn"));
        CHECK_THAT(with([](auto& p) { p.video_bucket = "192.168.1.1"; }),
                   Catch::Contains("video_bucket") && Catch::Contains("IP address"));
        CHECK_THAT(with([](auto& p) { p.logs_bucket = "-logs"; }), Catch::Contains("logs_bucket"));
        CHECK_THAT(with([](auto& p) { p.static_assets_bucket = "a.-b"; }),
                   Catch::Contains("static_assets_bucket"));
        CHECK(with([](auto& p) { p.bucket_region = "eu-central-2"; }).empty());
        CHECK_THAT(with([](auto& p) { p.bucket_region = "mars-1"; }),
                   Catch::Contains("bucket_region"));
        CHECK_THAT(with([](auto& p) { p.origin_shield_region = "af-south-1"; }),
                   Catch::Contains("origin_shield_region"));
        CHECK_THAT(with([](auto& p) {
                       p.certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/ab-1";
                   }),
                   Catch::Contains("certificate_arn"));
        CHECK_THAT(with([](auto& p) { p.cdn_domain_name = std::string(64, 'a') + ".io"; }),
                   Catch::Contains("cdn_domain_name"));
        CHECK_THAT(with([](auto& p) { p.cdn_domain_name = "-cdn.io"; }),
                   Catch::Contains("cdn_domain_name"));
    }
    SECTION("API TTL: the API cache policy needs caching") {
        CHECK_THAT(with([](auto& p) { p.api_max_ttl = 0; }), Catch::Contains("api_max_ttl"));
        auto p = video_params();
        p.api_max_ttl = 1;
        const auto stack = presets::video_platform(p);
        CHECK(sparc::cdn::validate(stack.api_cache_policy).empty());
    }
    SECTION("CORS") {
        CHECK(
            with([](auto& p) {
                p.cors_allowed_origins = {"https://app.example.com", "http://localhost:3000", "*"};
            }).empty());
        for (const auto* bad : {"https://app.example.com/", "app.example.com", "ftp://x.io", ""}) {
            INFO(bad);
            CHECK_THAT(with([&](auto& p) { p.cors_allowed_origins = {bad}; }),
                       Catch::Contains("cors_allowed_origins"));
        }
        CHECK_THAT(with([](auto& p) { p.cors_allowed_headers = {"X Token"}; }),
                   Catch::Contains("cors_allowed_headers"));
    }
}

TEST_CASE("new variables reach the documents", "[cdn][presets][params]") {
    auto p = video_params();
    p.video_default_ttl = 600;
    p.video_max_ttl = 7200;
    p.api_max_ttl = 45;
    p.static_default_ttl = 1800;
    p.websocket_api_domain = "ws.sparc.io";
    p.tags = {{"Team", "video"}};
    const auto s = presets::video_platform(p);
    CHECK(s.video_cache_policy.default_ttl == 600);
    CHECK(s.video_cache_policy.max_ttl == 7200);
    CHECK(s.api_cache_policy.max_ttl == 45);
    CHECK(s.static_cache_policy.default_ttl == 1800);
    const auto ws = sparc::cdn::match(s.distribution, "/ws/live");
    REQUIRE(ws.behavior != nullptr);
    bool found = false;
    for (const auto& o : s.distribution.origins) {
        if (o.id == ws.behavior->target_origin_id) {
            CHECK(o.domain_name == "ws.sparc.io");
            found = true;
        }
    }
    CHECK(found);
    REQUIRE(s.web_acl.tags.size() == 1);
    CHECK(s.web_acl.tags[0].key == "Team");
    CHECK(sparc::cdn::validate(s.distribution).empty());

    nlohmann::json vars{{"environment", "qa"},
                        {"api_gateway_domain", "api.example.com"},
                        {"video_streaming_domain", "video.example.com"},
                        {"cdn_domain_name", "cdn.example.com"},
                        {"jwt_public_keys", {{"2025-01", "k1"}, {"2025-06", "k2"}}},
                        {"field_encryption_public_key", "k2"},
                        {"sns_alert_topic_arn", "arn:aws:sns:us-east-1:123456789012:a"},
                        {"waf_rate_limit", 100},
                        {"tags", {{"Team", "video"}}},
                        {"video_default_ttl", 60}};
    const auto read = presets::video_platform_params_from_json(vars);
    CHECK(read.rate_limit == 100);
    CHECK(read.jwt_public_keys.size() == 2);
    CHECK(read.tags.at("Team") == "video");
    CHECK(read.video_default_ttl == 60);
    vars["rate_limit"] = 100;
    CHECK_THROWS_WITH(presets::video_platform_params_from_json(vars), Catch::Contains("not both"));
    vars.erase("rate_limit");
    vars["tags"] = {{"Team", 1}};
    CHECK_THROWS_WITH(presets::video_platform_params_from_json(vars),
                      Catch::Contains("/tags/Team"));
}
