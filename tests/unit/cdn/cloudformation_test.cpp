// The CloudFormation template of the video platform preset.

#include <map>
#include <set>
#include <string>

#include "support.hpp"

namespace cdn = sparc::cdn;
namespace cf = sparc::cdn::cloudformation;
namespace presets = sparc::cdn::presets;
using nlohmann::json;
using sparc::cdn::test::video_params;

namespace {

json render(const presets::VideoPlatformParams& p) {
    return cf::stack_template(presets::video_platform(p));
}

// Logical ids of the resources whose definition differs between two templates.
std::set<std::string> changed_resources(const json& a, const json& b) {
    std::set<std::string> out;
    for (const auto& [id, resource] : a.at("Resources").items()) {
        if (!b.at("Resources").contains(id) || b.at("Resources").at(id) != resource) {
            out.insert(id);
        }
    }
    for (const auto& [id, resource] : b.at("Resources").items()) {
        if (!a.at("Resources").contains(id)) {
            out.insert(id);
        }
    }
    return out;
}

// Every string value below `node`, for finding leftover placeholders.
void strings(const json& node, std::vector<std::string>& out) {
    if (node.is_string()) {
        out.push_back(node.get<std::string>());
    }
    if (node.is_structured()) {
        for (const auto& item : node) {
            strings(item, out);
        }
    }
}

// Every Ref and Fn::GetAtt target below `node`.
void targets(const json& node, std::set<std::string>& out) {
    if (node.is_object()) {
        if (node.contains("Ref")) {
            out.insert(node.at("Ref").get<std::string>());
        }
        if (node.contains("Fn::GetAtt")) {
            out.insert(node.at("Fn::GetAtt").at(0).get<std::string>());
        }
    }
    if (node.is_structured()) {
        for (const auto& item : node) {
            targets(item, out);
        }
    }
}

}  // namespace

TEST_CASE("a changed variable changes only the resources that use it", "[cdn][cloudformation]") {
    const auto base = render(video_params());
    CHECK(changed_resources(base, render(video_params())).empty());

    auto p = video_params();
    p.video_default_ttl = 3600;
    CHECK(changed_resources(base, render(p)) == std::set<std::string>{"VideoCachePolicy"});
    p = video_params();
    p.api_max_ttl = 120;
    CHECK(changed_resources(base, render(p)) == std::set<std::string>{"ApiCachePolicy"});
    p = video_params();
    p.static_default_ttl = 600;
    CHECK(changed_resources(base, render(p)) == std::set<std::string>{"StaticCachePolicy"});
    p = video_params();
    p.rate_limit = 500;
    CHECK(changed_resources(base, render(p)) == std::set<std::string>{"WebAcl"});
    p = video_params();
    p.realtime_log_sampling_rate = 10;
    CHECK(changed_resources(base, render(p)) == std::set<std::string>{"RealtimeLogConfig"});
    p = video_params();
    p.error_rate_5xx_threshold = 2.5;
    CHECK(changed_resources(base, render(p)) == std::set<std::string>{"Alarm5xxErrorRate"});
    // A new package publishes a new version, which the distribution then uses.
    p = video_params();
    p.jwt_audience = "sparc-api";
    CHECK(changed_resources(base, render(p)) == std::set<std::string>{"EdgeAuthFunctionVersion"});
}

TEST_CASE(
    "a new field-level encryption key is a new public key resource, which the profile "
    "then uses",
    "[cdn][cloudformation]") {
    // CloudFront's UpdatePublicKey changes only the comment: the key and its name cannot be
    // updated in place, so they must make a new resource (new logical id, name and caller
    // reference) that the encryption profile refers to.
    const auto public_keys = [](const json& t) {
        std::map<std::string, json> out;
        for (const auto& [id, resource] : t.at("Resources").items()) {
            if (resource.at("Type") == "AWS::CloudFront::PublicKey") {
                out[id] = resource.at("Properties").at("PublicKeyConfig");
            }
        }
        return out;
    };
    const auto profile_key = [](const json& t) {
        return t.at("Resources")
            .at("FieldEncryptionProfile")
            .at("Properties")
            .at("FieldLevelEncryptionProfileConfig")
            .at("EncryptionEntities")
            .at("Items")
            .at(0)
            .at("PublicKeyId");
    };
    const auto base_params = video_params();
    auto rotated_params = video_params();
    rotated_params.field_encryption_public_key = std::string(sparc::cdn::test::kTestPublicKey);
    auto renamed_params = video_params();
    renamed_params.environment = "staging";
    const auto base = render(base_params);
    for (const auto& other_params : {rotated_params, renamed_params}) {
        const auto other = render(other_params);
        const auto a = public_keys(base);
        const auto b = public_keys(other);
        REQUIRE(a.size() == 1);
        REQUIRE(b.size() == 1);
        const auto& [id_a, key_a] = *a.begin();
        const auto& [id_b, key_b] = *b.begin();
        CHECK(id_a != id_b);
        CHECK(id_a.starts_with(cf::ids::kPublicKey));
        CHECK(key_a.at("Name") != key_b.at("Name"));
        CHECK(key_a.at("CallerReference") != key_b.at("CallerReference"));
        CHECK(id_a == cf::public_key_logical_id(presets::video_platform(base_params)));
        CHECK(id_b == cf::public_key_logical_id(presets::video_platform(other_params)));
        // The profile follows the key; nothing refers to a key that is not in the template.
        CHECK(profile_key(base) == json{{"Ref", id_a}});
        CHECK(profile_key(other) == json{{"Ref", id_b}});
        std::set<std::string> referenced;
        targets(other.at("Resources"), referenced);
        CHECK_FALSE(referenced.contains(id_a));
    }
    // Rendering the same key twice keeps the resource.
    CHECK(public_keys(render(base_params)).begin()->first == public_keys(base).begin()->first);
    // Only the comment could change in place: the key's resource differs in nothing else
    // when the key does not change.
    auto p = video_params();
    p.video_default_ttl = 3600;
    CHECK(public_keys(render(p)) == public_keys(base));
}

TEST_CASE("the template resolves every reference to a resource it defines",
          "[cdn][cloudformation]") {
    for (auto access :
         {presets::S3Access::origin_access_control, presets::S3Access::origin_access_identity}) {
        auto p = video_params();
        p.bucket_access = access;
        const auto t = render(p);
        std::vector<std::string> all;
        strings(t, all);
        for (const auto& s : all) {
            INFO(s);
            CHECK_FALSE(cdn::has_placeholder(s));
        }
        std::set<std::string> used;
        targets(t.at("Resources"), used);
        targets(t.at("Outputs"), used);
        for (const auto& id : used) {
            INFO(id);
            CHECK((id.rfind("AWS::", 0) == 0 || t.at("Resources").contains(id) ||
                   t.at("Parameters").contains(id)));
        }
        const auto& d = t.at("/Resources/Distribution/Properties/DistributionConfig"_json_pointer);
        CHECK_FALSE(d.contains("CallerReference"));
        CHECK(d.at("Aliases") == json::array({"cdn.sparc.io"}));
        CHECK(d.at("IPV6Enabled") == true);
        CHECK(d.at("ViewerCertificate").at("AcmCertificateArn") == json{{"Ref", "CertificateArn"}});
        CHECK(d.at("CacheBehaviors")
                  .at(0)
                  .at("LambdaFunctionAssociations")
                  .at(0)
                  .at("LambdaFunctionARN") == json{{"Ref", "EdgeAuthFunctionVersion"}});
        CHECK(d.at("CacheBehaviors").at(1).at("FieldLevelEncryptionId") ==
              json{{"Ref", "FieldEncryptionConfig"}});
        CHECK(d.at("OriginGroups").at("Quantity") == 1);  // kept as Quantity/Items
        const auto& s3 = d.at("Origins").at(0);
        if (access == presets::S3Access::origin_access_control) {
            CHECK(s3.at("OriginAccessControlId") ==
                  json{{"Fn::GetAtt", {"OriginAccessControl", "Id"}}});
        } else {
            CHECK(s3.at("S3OriginConfig").at("OriginAccessIdentity") ==
                  json{{"Fn::Sub", "origin-access-identity/cloudfront/${OriginAccessIdentity}"}});
        }
    }
}

TEST_CASE("given ARNs are used as they are, default ones become resources",
          "[cdn][cloudformation]") {
    auto t = render(video_params());
    CHECK(t.at("Resources").contains("RealtimeLogStream"));
    CHECK(t.at("Resources").contains("EdgeAuthRole"));
    CHECK(t.at("/Resources/EdgeAuthFunction/Properties/Role"_json_pointer) ==
          json{{"Fn::GetAtt", {"EdgeAuthRole", "Arn"}}});
    auto p = video_params();
    p.kinesis_stream_arn = "arn:aws:kinesis:us-east-1:123456789012:stream/shared";
    p.realtime_logs_role_arn = "arn:aws:iam::123456789012:role/shared-logs";
    p.edge_function_role_arn = "arn:aws:iam::123456789012:role/edge";
    t = render(p);
    CHECK_FALSE(t.at("Resources").contains("RealtimeLogStream"));
    CHECK_FALSE(t.at("Resources").contains("RealtimeLogRole"));
    CHECK_FALSE(t.at("Resources").contains("EdgeAuthRole"));
    CHECK(t.at("/Resources/EdgeAuthFunction/Properties/Role"_json_pointer) ==
          "arn:aws:iam::123456789012:role/edge");
    const auto& end_point = t.at(
        "/Resources/RealtimeLogConfig/Properties/EndPoints/0/KinesisStreamConfig"_json_pointer);
    CHECK(end_point.at("StreamArn") == p.kinesis_stream_arn);
    CHECK(end_point.at("RoleArn") == p.realtime_logs_role_arn);
}

TEST_CASE("tags go on every taggable resource", "[cdn][cloudformation]") {
    auto p = video_params();
    p.tags = {{"CostCentre", "video"}};
    const auto t = render(p);
    const json expected = json::array({{{"Key", "CostCentre"}, {"Value", "video"}}});
    for (const auto& [id, resource] : t.at("Resources").items()) {
        const auto type = resource.at("Type").get<std::string>();
        const bool taggable = type != "AWS::CloudFront::CachePolicy" &&
                              type != "AWS::CloudFront::OriginRequestPolicy" &&
                              type != "AWS::CloudFront::ResponseHeadersPolicy" &&
                              type != "AWS::CloudFront::OriginAccessControl" &&
                              type != "AWS::CloudFront::CloudFrontOriginAccessIdentity" &&
                              type != "AWS::CloudFront::PublicKey" &&
                              type != "AWS::CloudFront::RealtimeLogConfig" &&
                              type != "AWS::CloudFront::MonitoringSubscription" &&
                              type != "AWS::Lambda::Version" && type.rfind("Custom::", 0) != 0;
        INFO(id);
        if (taggable) {
            CHECK(resource.at("Properties").at("Tags") == expected);
        }
    }
}

// CloudFront keeps replicas of a Lambda@Edge function for hours after its association is
// removed, and Lambda refuses to delete the function (or a version) until they are gone: a
// delete-stack, or a replacement of the function, that tried would end DELETE_FAILED.
TEST_CASE("the edge function and its versions are retained, never deleted by CloudFormation",
          "[cdn][cloudformation]") {
    const auto t = render(video_params());
    for (const auto* id : {"EdgeAuthFunction", "EdgeAuthFunctionVersion"}) {
        INFO(id);
        const auto& resource = t.at("Resources").at(id);
        CHECK(resource.value("DeletionPolicy", "") == "Retain");
        CHECK(resource.value("UpdateReplacePolicy", "") == "Retain");
    }
    // Only the resources that cannot (or must not) go with the stack are retained.
    std::set<std::string> retained;
    for (const auto& [id, resource] : t.at("Resources").items()) {
        if (resource.contains("DeletionPolicy")) {
            retained.insert(id);
        }
    }
    CHECK(retained ==
          std::set<std::string>{"EdgeAuthFunction", "EdgeAuthFunctionVersion", "LogBucket"});
}
