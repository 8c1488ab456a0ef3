// check_document(): every kind of document render writes, and what newer APIs added.

#include "support.hpp"

namespace cdn = sparc::cdn;
using nlohmann::json;
using sparc::cdn::test::has_problem;
using sparc::cdn::test::video_params;

TEST_CASE("check_document recognises every document render writes", "[cdn][document]") {
    const auto stack = cdn::presets::video_platform(video_params());
    for (const auto& call : cdn::deployment_calls(stack)) {
        INFO(call.operation);
        const auto report = cdn::check_document(json::parse(call.input));
        CHECK(report.problems.empty());
        CHECK(report.newer.empty());
        CHECK_FALSE(report.kind.empty());
    }
    const auto t = cdn::check_document(cdn::cloudformation::stack_template(stack));
    CHECK(t.kind == "CloudFormation template");
    CHECK(t.problems.empty());
    CHECK_THROWS_AS(cdn::check_document(json{{"Foo", 1}}), cdn::JsonError);
}

TEST_CASE("members and values newer than the library are warnings", "[cdn][document]") {
    const auto stack = cdn::presets::video_platform(video_params());
    json doc{{"ETag", "E2QWRUHEXAMPLE"}, {"DistributionConfig", stack.distribution}};
    auto& d = doc["DistributionConfig"];
    d["CacheBehaviors"]["Items"][0]["GrpcConfig"] = {{"Enabled", false}};  // known since 2025
    d["CacheBehaviors"]["Items"][0]["TelepathyConfig"] = {{"Enabled", true}};
    d["HttpVersion"] = "http4";
    d["CacheBehaviors"]["Items"][1]["AllowedMethods"]["CachedMethods"]["Items"].push_back("QUERY");
    d["CacheBehaviors"]["Items"][1]["AllowedMethods"]["CachedMethods"]["Quantity"] = 3;

    const auto report = cdn::check_document(doc);
    CHECK(report.kind == "DistributionConfig");
    CHECK(report.problems.empty());
    CHECK(has_problem(report.newer, "/DistributionConfig/CacheBehaviors/Items/0/TelepathyConfig",
                      "unknown member"));
    CHECK_FALSE(has_problem(report.newer, "/DistributionConfig/CacheBehaviors/Items/0/GrpcConfig"));
    CHECK(has_problem(report.newer, "/DistributionConfig/HttpVersion", "http4"));
    CHECK(has_problem(report.newer,
                      "/DistributionConfig/CacheBehaviors/Items/1/AllowedMethods/CachedMethods/"
                      "Items/2",
                      "QUERY"));
    CHECK(cdn::check_document(doc, true).problems.size() == 3);

    // A rule problem is still found next to the newer members.
    d["Comment"] = std::string(200, 'x');
    CHECK(has_problem(cdn::check_document(doc).problems, "/DistributionConfig/Comment"));

    // An unknown value in a required member cannot be ignored.
    json policy{{"CachePolicyConfig", stack.video_cache_policy}};
    policy["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"]["HeadersConfig"]
          ["HeaderBehavior"] = "someFutureBehavior";
    CHECK_THROWS_WITH(cdn::check_document(policy), Catch::Contains("required here"));
}

TEST_CASE("an unknown value is reported as itself, not as the gap it leaves", "[cdn][document]") {
    const auto stack = cdn::presets::video_platform(video_params());
    json doc{{"DistributionConfig", stack.distribution}};
    auto& d = doc["DistributionConfig"];
    auto& protocols = d["Origins"]["Items"][2]["CustomOriginConfig"]["OriginSslProtocols"];
    protocols = {{"Quantity", 1}, {"Items", {"TLSv1.3"}}};
    d["ViewerCertificate"]["SSLSupportMethod"] = "static-ip-v2";

    const std::string origin = "/DistributionConfig/Origins/Items/2/CustomOriginConfig/";
    const auto report = cdn::check_document(doc);
    INFO(sparc::cdn::test::describe(report.problems));
    CHECK(report.problems.empty());
    CHECK(has_problem(report.newer, origin + "OriginSslProtocols/Items/0", "TLSv1.3"));
    CHECK(has_problem(report.newer, "/DistributionConfig/ViewerCertificate/SSLSupportMethod",
                      "static-ip-v2"));

    // --strict: the two unknown values are the errors, and nothing else.
    const auto strict = cdn::check_document(doc, true);
    INFO(sparc::cdn::test::describe(strict.problems));
    CHECK(strict.problems.size() == 2);
    CHECK(has_problem(strict.problems, origin + "OriginSslProtocols/Items/0", "TLSv1.3"));
    CHECK(has_problem(strict.problems, "/DistributionConfig/ViewerCertificate/SSLSupportMethod",
                      "static-ip-v2"));

    // A problem elsewhere is still found.
    d["Comment"] = std::string(200, 'x');
    CHECK(has_problem(cdn::check_document(doc).problems, "/DistributionConfig/Comment"));
}

TEST_CASE("GrpcConfig on cache behaviours", "[cdn][document][json]") {
    cdn::CacheBehavior b;
    b.path_pattern = "/grpc/*";
    b.target_origin_id = "api";
    b.grpc_config = cdn::GrpcConfig{true};
    const json j = b;
    CHECK(j.at("GrpcConfig") == json{{"Enabled", true}});
    CHECK(j.get<cdn::CacheBehavior>() == b);
}

TEST_CASE("members of the current API round-trip", "[cdn][document][json]") {
    auto d = cdn::presets::video_platform(video_params()).distribution;
    d.anycast_ip_list_id = "aip_123";
    d.origins[0].s3_origin_config->origin_read_timeout = 60;
    d.origins[2].response_completion_timeout = 90;
    const json j = d;
    CHECK(j.at("AnycastIpListId") == "aip_123");
    CHECK(j.at("/Origins/Items/0/S3OriginConfig/OriginReadTimeout"_json_pointer) == 60);
    CHECK(j.at("/Origins/Items/2/ResponseCompletionTimeout"_json_pointer) == 90);
    CHECK(j.get<cdn::DistributionConfig>() == d);
    const auto cf = cdn::cloudformation::distribution_config(j);
    CHECK(cf.at("/Origins/2/ResponseCompletionTimeout"_json_pointer) == 90);
}
