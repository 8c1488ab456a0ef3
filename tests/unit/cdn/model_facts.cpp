// Prints the enumerations and numeric limits sparc::cdn knows, keyed by the botocore shape
// they stand for, for tests/cdn/check_model_drift.py to compare with the AWS service models.

#include <cstdio>

#include <nlohmann/json.hpp>

#include "detail/enums.hpp"

namespace {

using nlohmann::json;
namespace cdn = sparc::cdn;
namespace detail = sparc::cdn::detail;

template <class E>
void add(json& out, const char* shape) {
    json values = json::array();
    for (const auto& [e, name] : detail::EnumNames<E>::values) {
        values.push_back(name);
    }
    out[shape] = values;
}

}  // namespace

int main() {
    json enums;
    add<cdn::OriginProtocolPolicy>(enums, "cloudfront:OriginProtocolPolicy");
    add<cdn::SslProtocol>(enums, "cloudfront:SslProtocol");
    add<cdn::Method>(enums, "cloudfront:Method");
    add<cdn::ViewerProtocolPolicy>(enums, "cloudfront:ViewerProtocolPolicy");
    add<cdn::EventType>(enums, "cloudfront:EventType");
    add<cdn::ItemSelection>(enums, "cloudfront:ItemSelection");
    add<cdn::PriceClass>(enums, "cloudfront:PriceClass");
    add<cdn::HttpVersion>(enums, "cloudfront:HttpVersion");
    add<cdn::SslSupportMethod>(enums, "cloudfront:SSLSupportMethod");
    add<cdn::MinimumProtocolVersion>(enums, "cloudfront:MinimumProtocolVersion");
    add<cdn::CertificateSource>(enums, "cloudfront:CertificateSource");
    add<cdn::GeoRestrictionType>(enums, "cloudfront:GeoRestrictionType");
    add<cdn::CachePolicyHeaderBehavior>(enums, "cloudfront:CachePolicyHeaderBehavior");
    add<cdn::CachePolicyCookieBehavior>(enums, "cloudfront:CachePolicyCookieBehavior");
    add<cdn::CachePolicyQueryStringBehavior>(enums, "cloudfront:CachePolicyQueryStringBehavior");
    add<cdn::OriginRequestPolicyHeaderBehavior>(enums,
                                                "cloudfront:OriginRequestPolicyHeaderBehavior");
    add<cdn::OriginRequestPolicyCookieBehavior>(enums,
                                                "cloudfront:OriginRequestPolicyCookieBehavior");
    add<cdn::OriginRequestPolicyQueryStringBehavior>(
        enums, "cloudfront:OriginRequestPolicyQueryStringBehavior");
    add<cdn::CorsMethod>(enums, "cloudfront:ResponseHeadersPolicyAccessControlAllowMethodsValues");
    add<cdn::FrameOption>(enums, "cloudfront:FrameOptionsList");
    add<cdn::ReferrerPolicyValue>(enums, "cloudfront:ReferrerPolicyList");
    add<cdn::SigningProtocol>(enums, "cloudfront:OriginAccessControlSigningProtocols");
    add<cdn::SigningBehavior>(enums, "cloudfront:OriginAccessControlSigningBehaviors");
    add<cdn::OriginAccessControlOriginType>(enums, "cloudfront:OriginAccessControlOriginTypes");
    add<cdn::FieldLevelEncryptionFormat>(enums, "cloudfront:Format");
    add<cdn::RealtimeMetricsSubscriptionStatus>(enums,
                                                "cloudfront:RealtimeMetricsSubscriptionStatus");
    add<cdn::waf::Scope>(enums, "wafv2:Scope");
    add<cdn::waf::AggregateKeyType>(enums, "wafv2:RateBasedStatementAggregateKeyType");
    add<cdn::Statistic>(enums, "cloudwatch:Statistic");
    add<cdn::ComparisonOperator>(enums, "cloudwatch:ComparisonOperator");
    add<cdn::StandardUnit>(enums, "cloudwatch:StandardUnit");

    json limits;
    limits["wafv2:RateLimit"] = {cdn::waf::kMinRateLimit, cdn::waf::kMaxRateLimit};

    const json facts{{"enums", enums}, {"limits", limits}};
    std::puts(facts.dump(2).c_str());
    return 0;
}
