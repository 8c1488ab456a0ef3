// Field-level encryption checks, template resources, simple limits and newer origin kinds.

#include <string>

#include "support.hpp"

namespace cdn = sparc::cdn;
namespace presets = sparc::cdn::presets;
using nlohmann::json;
using sparc::cdn::test::has_problem;
using sparc::cdn::test::rejection;
using sparc::cdn::test::video_params;

namespace {

bool has_problem_under(const std::vector<cdn::Problem>& problems, std::string_view prefix) {
    for (const auto& p : problems) {
        if (p.path.starts_with(prefix)) {
            return true;
        }
    }
    return false;
}

cdn::FieldLevelEncryptionProfileConfig profile_with(std::vector<std::string> patterns) {
    auto profile = presets::video_platform(video_params()).field_encryption_profile;
    profile.encryption_entities.at(0).field_patterns = std::move(patterns);
    return profile;
}

}  // namespace

TEST_CASE("encrypted_fields: duplicates and overlapping patterns are refused",
          "[cdn][presets][params][fle]") {
    auto p = video_params();
    p.encrypted_fields = {"uploader_email", "uploader_email"};
    CHECK_THAT(rejection(p), Catch::Contains("encrypted_fields") && Catch::Contains("twice"));
    p.encrypted_fields = {"uploader*", "uploader_email"};
    CHECK_THAT(rejection(p), Catch::Contains("encrypted_fields") && Catch::Contains("overlaps"));
    p.encrypted_fields = {"uploader*", "upload*"};
    CHECK_THAT(rejection(p), Catch::Contains("overlaps"));
    p.encrypted_fields = {"a*b"};
    CHECK_THAT(rejection(p), Catch::Contains("'*' may only end"));
    p.encrypted_fields = {"uploader_email", "uploader_phone", "geo*"};
    CHECK(rejection(p).empty());
}

TEST_CASE("field-level encryption profiles and configurations are validated", "[cdn][fle]") {
    CHECK(cdn::validate(profile_with({"email", "card_*"})).empty());
    const std::string items = "/EncryptionEntities/Items/0/FieldPatterns/Items/";
    CHECK(has_problem(cdn::validate(profile_with({"email", "email"})), items + "1", "twice"));
    CHECK(has_problem(cdn::validate(profile_with({"uploader*", "uploader_email"})), items + "1",
                      "overlaps"));
    CHECK(has_problem(cdn::validate(profile_with({})), "/EncryptionEntities/Items/0/FieldPatterns",
                      "at least one"));
    std::vector<std::string> eleven;
    for (int i = 0; i < 11; ++i) {
        eleven.push_back("f" + std::to_string(i) + "x");
    }
    CHECK(has_problem(cdn::validate(profile_with(eleven)), "/EncryptionEntities", "10"));

    auto profile = profile_with({"email"});
    profile.name = "bad name!";
    profile.encryption_entities[0].provider_id = "";
    const auto problems = cdn::validate(profile);
    CHECK(has_problem(problems, "/Name"));
    CHECK(has_problem(problems, "/EncryptionEntities/Items/0/ProviderId"));
    // Patterns overlapping across two entities of one profile.
    auto two = profile_with({"email"});
    two.encryption_entities.push_back(two.encryption_entities[0]);
    two.encryption_entities[1].field_patterns = {"e*"};
    CHECK(has_problem(cdn::validate(two), "/EncryptionEntities/Items/1/FieldPatterns/Items/0",
                      "overlaps"));

    auto config = presets::video_platform(video_params()).field_encryption_config;
    CHECK(cdn::validate(config).empty());
    config.content_type_profile_config->content_type_profiles.push_back(
        config.content_type_profile_config->content_type_profiles[0]);
    CHECK(has_problem(cdn::validate(config),
                      "/ContentTypeProfileConfig/ContentTypeProfiles/Items/1/ContentType",
                      "twice"));

    // check_document uses the validators.
    json doc{{"FieldLevelEncryptionProfileConfig", profile_with({"a", "a"})}};
    CHECK(has_problem(cdn::check_document(doc).problems,
                      "/FieldLevelEncryptionProfileConfig" + items + "1", "twice"));
}

TEST_CASE("simple limits of the AWS models are checked", "[cdn][validate]") {
    const auto stack = presets::video_platform(video_params());
    auto rtl = stack.realtime_log_config;
    CHECK(cdn::validate(rtl).empty());
    rtl.sampling_rate = 0;
    CHECK(has_problem(cdn::validate(rtl), "/SamplingRate", "1-100"));
    rtl.sampling_rate = 101;
    CHECK(has_problem(cdn::validate(rtl), "/SamplingRate"));
    rtl.fields.push_back("c-telepathy");
    CHECK(has_problem(cdn::validate(rtl), "/Fields/" + std::to_string(rtl.fields.size() - 1),
                      "not a field"));

    auto fn = stack.edge_auth_function;
    CHECK(cdn::validate(fn).empty());
    fn.memory_size = 64;
    CHECK(has_problem(cdn::validate(fn), "/MemorySize", "128-10240"));

    auto alarm = stack.alarms.at(0);
    CHECK(cdn::validate(alarm).empty());
    for (int i = 0; i < 31; ++i) {
        alarm.dimensions.push_back({"D" + std::to_string(i), "v"});
    }
    CHECK(has_problem(cdn::validate(alarm), "/Dimensions", "30"));

    auto rhp = stack.security_headers_policy;
    rhp.server_timing_headers_config = cdn::ServerTimingHeadersConfig{true, 101.0};
    CHECK(has_problem(cdn::validate(rhp), "/ServerTimingHeadersConfig/SamplingRate"));

    auto key = stack.field_encryption_public_key;
    CHECK(cdn::validate(key).empty());
    key.encoded_key = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n";
    CHECK(has_problem(cdn::validate(key), "/EncodedKey"));

    auto oac = cdn::OriginAccessControlConfig{};
    oac.name = std::string(65, 'a');
    CHECK(has_problem(cdn::validate(oac), "/Name"));

    // Comments are counted in characters: 128 two-byte characters are allowed.
    auto d = stack.distribution;
    d.comment.clear();
    for (int i = 0; i < 128; ++i) {
        d.comment += "\xc3\xa9";  // é
    }
    CHECK_FALSE(has_problem(cdn::validate(d), "/Comment"));
    d.comment += "x";
    CHECK(has_problem(cdn::validate(d), "/Comment"));
}

TEST_CASE("a template's resources are validated by kind", "[cdn][document][cloudformation]") {
    const auto stack = presets::video_platform(video_params());
    const auto clean = cdn::cloudformation::stack_template(stack);
    const auto report = cdn::check_document(clean);
    INFO(sparc::cdn::test::describe(report.problems));
    INFO(sparc::cdn::test::describe(report.newer));
    INFO(sparc::cdn::test::describe(report.notes));
    CHECK(report.problems.empty());
    CHECK(report.newer.empty());
    // Checked kinds are not "not checked"; other AWS types are notes.
    CHECK_FALSE(has_problem(report.notes, "/Resources/Distribution"));
    CHECK_FALSE(has_problem(report.notes, "/Resources/WebAcl"));
    CHECK(has_problem(report.notes, "/Resources/LogBucket", "not checked"));

    auto t = clean;
    auto& r = t["Resources"];
    r["Distribution"]["Properties"]["DistributionConfig"]["DefaultCacheBehavior"]
     ["TargetOriginId"] = "missing-origin";
    r["Distribution"]["Properties"]["DistributionConfig"]["Comment"] = std::string(200, 'x');
    r["VideoCachePolicy"]["Properties"]["CachePolicyConfig"]["MinTTL"] = 999999999;
    r["WebAcl"]["Properties"]["Rules"][0]["Statement"]["RateBasedStatement"]["Limit"] = 1;
    r["Alarm5xxErrorRate"]["Properties"]["Period"] = 7;
    r["FieldEncryptionProfile"]["Properties"]["FieldLevelEncryptionProfileConfig"]
     ["EncryptionEntities"]["Items"][0]["FieldPatterns"]["Items"][1] =
         r["FieldEncryptionProfile"]["Properties"]["FieldLevelEncryptionProfileConfig"]
          ["EncryptionEntities"]["Items"][0]["FieldPatterns"]["Items"][0];
    r["Odd"] = {{"Type", "NotAType"}};
    r["Self"] = {{"Type", "AWS::SNS::Topic"}, {"DependsOn", "Self"}};
    r["A"] = {{"Type", "AWS::SNS::Topic"}, {"DependsOn", "B"}};
    r["B"] = {{"Type", "AWS::SNS::Topic"}, {"DependsOn", json::array({"A"})}};
    const auto bad = cdn::check_document(t);
    INFO(sparc::cdn::test::describe(bad.problems));
    const std::string dist = "/Resources/Distribution/Properties/DistributionConfig";
    CHECK(has_problem_under(bad.problems, dist + "/DefaultCacheBehavior"));
    CHECK(has_problem(bad.problems, dist + "/Comment"));
    CHECK(has_problem_under(bad.problems,
                            "/Resources/VideoCachePolicy/Properties/CachePolicyConfig"));
    CHECK(has_problem_under(bad.problems, "/Resources/WebAcl/Properties/Rules/0"));
    CHECK(has_problem(bad.problems, "/Resources/Alarm5xxErrorRate/Properties/Period"));
    CHECK(has_problem(bad.problems,
                      "/Resources/FieldEncryptionProfile/Properties/"
                      "FieldLevelEncryptionProfileConfig/EncryptionEntities/Items/0/"
                      "FieldPatterns/Items/1",
                      "twice"));
    CHECK(has_problem(bad.problems, "/Resources/Odd/Type", "not a resource type"));
    CHECK(has_problem(bad.problems, "/Resources/Self/DependsOn", "itself"));
    CHECK((has_problem(bad.problems, "/Resources/A", "circular") ||
           has_problem(bad.problems, "/Resources/B", "circular")));
}

TEST_CASE("VpcOriginConfig is a third kind of origin", "[cdn][validate][document]") {
    auto d = presets::video_platform(video_params()).distribution;
    auto& o = d.origins.at(2);
    o.custom_origin_config.reset();
    o.vpc_origin_config = cdn::VpcOriginConfig{"vo_123", std::nullopt, 30, 5};
    INFO(sparc::cdn::test::describe(cdn::validate(d)));
    CHECK_FALSE(has_problem(cdn::validate(d), "/Origins/Items/2", "exactly one"));
    const json j = d;
    CHECK(j.at("/Origins/Items/2/VpcOriginConfig/VpcOriginId"_json_pointer) == "vo_123");
    CHECK(j.get<cdn::DistributionConfig>() == d);
    o.custom_origin_config =
        presets::video_platform(video_params()).distribution.origins.at(2).custom_origin_config;
    CHECK(has_problem(cdn::validate(d), "/Origins/Items/2", "exactly one"));

    // Newer members do not stop reading a distribution (as `match` does).
    json doc{{"ETag", "E1"},
             {"DistributionConfig", presets::video_platform(video_params()).distribution}};
    doc["DistributionConfig"]["Origins"]["Items"][2]["IpAddressType"] = "dualstack";
    std::vector<cdn::Problem> ignored;
    const auto read = cdn::read_distribution_config(doc, ignored);
    CHECK(has_problem(ignored, "/DistributionConfig/Origins/Items/2/IpAddressType"));
    CHECK_NOTHROW(cdn::match(read, "/api/v1/x"));
}

TEST_CASE("IP addresses are not domain names", "[cdn][validate][params]") {
    auto p = video_params();
    p.api_gateway_domain = "10.0.0.1";
    CHECK_THAT(rejection(p), Catch::Contains("api_gateway_domain") && Catch::Contains("IP"));
    p = video_params();
    p.cdn_domain_name = "192.168.1.10";
    CHECK_THAT(rejection(p), Catch::Contains("cdn_domain_name"));
    p = video_params();
    p.cdn_domain_name = "CDN.sparc.io";
    CHECK_THAT(rejection(p), Catch::Contains("lower case"));
    p = video_params();
    p.tags = {{"Team", ""}};
    CHECK_THAT(rejection(p), Catch::Contains("tags") && Catch::Contains("empty"));

    auto d = presets::video_platform(video_params()).distribution;
    d.origins.at(2).domain_name = "203.0.113.7";
    CHECK(has_problem(cdn::validate(d), "/Origins/Items/2/DomainName", "IP address"));
}
