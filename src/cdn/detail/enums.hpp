#pragma once
// The AWS spelling of every sparc::cdn enumeration.

#include <array>
#include <string_view>
#include <utility>

#include <sparc/cdn/alarms.hpp>
#include <sparc/cdn/cache_behavior.hpp>
#include <sparc/cdn/distribution.hpp>
#include <sparc/cdn/field_level_encryption.hpp>
#include <sparc/cdn/monitoring.hpp>
#include <sparc/cdn/origin.hpp>
#include <sparc/cdn/origin_access.hpp>
#include <sparc/cdn/policies.hpp>
#include <sparc/cdn/waf.hpp>

#include "json_io.hpp"

#define SPARC_CDN_ENUM_NAMES(Type, ...)                                      \
    template <>                                                              \
    struct EnumNames<Type> {                                                 \
        using E = Type;                                                      \
        static constexpr auto values =                                       \
            std::to_array<std::pair<Type, std::string_view>>({__VA_ARGS__}); \
    };

namespace sparc::cdn::detail {

SPARC_CDN_ENUM_NAMES(OriginProtocolPolicy, {E::http_only, "http-only"},
                     {E::match_viewer, "match-viewer"}, {E::https_only, "https-only"})
SPARC_CDN_ENUM_NAMES(SslProtocol, {E::sslv3, "SSLv3"}, {E::tlsv1, "TLSv1"}, {E::tlsv1_1, "TLSv1.1"},
                     {E::tlsv1_2, "TLSv1.2"})
SPARC_CDN_ENUM_NAMES(Method, {E::get, "GET"}, {E::head, "HEAD"}, {E::post, "POST"}, {E::put, "PUT"},
                     {E::patch, "PATCH"}, {E::options, "OPTIONS"}, {E::del, "DELETE"})
SPARC_CDN_ENUM_NAMES(ViewerProtocolPolicy, {E::allow_all, "allow-all"},
                     {E::https_only, "https-only"}, {E::redirect_to_https, "redirect-to-https"})
SPARC_CDN_ENUM_NAMES(EventType, {E::viewer_request, "viewer-request"},
                     {E::viewer_response, "viewer-response"}, {E::origin_request, "origin-request"},
                     {E::origin_response, "origin-response"})
SPARC_CDN_ENUM_NAMES(ItemSelection, {E::none, "none"}, {E::whitelist, "whitelist"}, {E::all, "all"})
SPARC_CDN_ENUM_NAMES(PriceClass, {E::price_class_100, "PriceClass_100"},
                     {E::price_class_200, "PriceClass_200"}, {E::price_class_all, "PriceClass_All"},
                     {E::none, "None"})
SPARC_CDN_ENUM_NAMES(HttpVersion, {E::http1_1, "http1.1"}, {E::http2, "http2"}, {E::http3, "http3"},
                     {E::http2and3, "http2and3"})
SPARC_CDN_ENUM_NAMES(SslSupportMethod, {E::sni_only, "sni-only"}, {E::vip, "vip"},
                     {E::static_ip, "static-ip"})
SPARC_CDN_ENUM_NAMES(MinimumProtocolVersion, {E::sslv3, "SSLv3"}, {E::tlsv1, "TLSv1"},
                     {E::tlsv1_2016, "TLSv1_2016"}, {E::tlsv1_1_2016, "TLSv1.1_2016"},
                     {E::tlsv1_2_2018, "TLSv1.2_2018"}, {E::tlsv1_2_2019, "TLSv1.2_2019"},
                     {E::tlsv1_2_2021, "TLSv1.2_2021"}, {E::tlsv1_2_2025, "TLSv1.2_2025"},
                     {E::tlsv1_3_2025, "TLSv1.3_2025"})
SPARC_CDN_ENUM_NAMES(CertificateSource, {E::cloudfront, "cloudfront"}, {E::iam, "iam"},
                     {E::acm, "acm"})
SPARC_CDN_ENUM_NAMES(GeoRestrictionType, {E::blacklist, "blacklist"}, {E::whitelist, "whitelist"},
                     {E::none, "none"})
SPARC_CDN_ENUM_NAMES(CachePolicyHeaderBehavior, {E::none, "none"}, {E::whitelist, "whitelist"})
SPARC_CDN_ENUM_NAMES(CachePolicyCookieBehavior, {E::none, "none"}, {E::whitelist, "whitelist"},
                     {E::all_except, "allExcept"}, {E::all, "all"})
SPARC_CDN_ENUM_NAMES(CachePolicyQueryStringBehavior, {E::none, "none"}, {E::whitelist, "whitelist"},
                     {E::all_except, "allExcept"}, {E::all, "all"})
SPARC_CDN_ENUM_NAMES(OriginRequestPolicyHeaderBehavior, {E::none, "none"},
                     {E::whitelist, "whitelist"}, {E::all_viewer, "allViewer"},
                     {E::all_viewer_and_whitelist_cloudfront, "allViewerAndWhitelistCloudFront"},
                     {E::all_except, "allExcept"})
SPARC_CDN_ENUM_NAMES(OriginRequestPolicyCookieBehavior, {E::none, "none"},
                     {E::whitelist, "whitelist"}, {E::all, "all"}, {E::all_except, "allExcept"})
SPARC_CDN_ENUM_NAMES(OriginRequestPolicyQueryStringBehavior, {E::none, "none"},
                     {E::whitelist, "whitelist"}, {E::all, "all"}, {E::all_except, "allExcept"})
SPARC_CDN_ENUM_NAMES(CorsMethod, {E::get, "GET"}, {E::post, "POST"}, {E::options, "OPTIONS"},
                     {E::put, "PUT"}, {E::del, "DELETE"}, {E::patch, "PATCH"}, {E::head, "HEAD"},
                     {E::all, "ALL"})
SPARC_CDN_ENUM_NAMES(FrameOption, {E::deny, "DENY"}, {E::sameorigin, "SAMEORIGIN"})
SPARC_CDN_ENUM_NAMES(ReferrerPolicyValue, {E::no_referrer, "no-referrer"},
                     {E::no_referrer_when_downgrade, "no-referrer-when-downgrade"},
                     {E::origin, "origin"},
                     {E::origin_when_cross_origin, "origin-when-cross-origin"},
                     {E::same_origin, "same-origin"}, {E::strict_origin, "strict-origin"},
                     {E::strict_origin_when_cross_origin, "strict-origin-when-cross-origin"},
                     {E::unsafe_url, "unsafe-url"})
SPARC_CDN_ENUM_NAMES(SigningProtocol, {E::sigv4, "sigv4"})
SPARC_CDN_ENUM_NAMES(SigningBehavior, {E::never, "never"}, {E::always, "always"},
                     {E::no_override, "no-override"})
SPARC_CDN_ENUM_NAMES(OriginAccessControlOriginType, {E::s3, "s3"}, {E::mediastore, "mediastore"},
                     {E::mediapackagev2, "mediapackagev2"}, {E::lambda, "lambda"})
SPARC_CDN_ENUM_NAMES(FieldLevelEncryptionFormat, {E::url_encoded, "URLEncoded"})
SPARC_CDN_ENUM_NAMES(RealtimeMetricsSubscriptionStatus, {E::enabled, "Enabled"},
                     {E::disabled, "Disabled"})
SPARC_CDN_ENUM_NAMES(waf::Scope, {E::cloudfront, "CLOUDFRONT"}, {E::regional, "REGIONAL"})
SPARC_CDN_ENUM_NAMES(waf::Action, {E::allow, "Allow"}, {E::block, "Block"}, {E::count, "Count"},
                     {E::captcha, "Captcha"}, {E::challenge, "Challenge"})
SPARC_CDN_ENUM_NAMES(waf::OverrideAction, {E::none, "None"}, {E::count, "Count"})
SPARC_CDN_ENUM_NAMES(waf::AggregateKeyType, {E::ip, "IP"}, {E::forwarded_ip, "FORWARDED_IP"})
SPARC_CDN_ENUM_NAMES(Statistic, {E::sample_count, "SampleCount"}, {E::average, "Average"},
                     {E::sum, "Sum"}, {E::minimum, "Minimum"}, {E::maximum, "Maximum"})
SPARC_CDN_ENUM_NAMES(ComparisonOperator,
                     {E::greater_than_or_equal_to_threshold, "GreaterThanOrEqualToThreshold"},
                     {E::greater_than_threshold, "GreaterThanThreshold"},
                     {E::less_than_threshold, "LessThanThreshold"},
                     {E::less_than_or_equal_to_threshold, "LessThanOrEqualToThreshold"},
                     {E::less_than_lower_or_greater_than_upper_threshold,
                      "LessThanLowerOrGreaterThanUpperThreshold"},
                     {E::less_than_lower_threshold, "LessThanLowerThreshold"},
                     {E::greater_than_upper_threshold, "GreaterThanUpperThreshold"})
SPARC_CDN_ENUM_NAMES(TreatMissingData, {E::breaching, "breaching"},
                     {E::not_breaching, "notBreaching"}, {E::ignore, "ignore"},
                     {E::missing, "missing"})
SPARC_CDN_ENUM_NAMES(
    StandardUnit, {E::none, "None"}, {E::percent, "Percent"}, {E::count, "Count"},
    {E::milliseconds, "Milliseconds"}, {E::seconds, "Seconds"}, {E::bytes, "Bytes"},
    {E::microseconds, "Microseconds"}, {E::kilobytes, "Kilobytes"}, {E::megabytes, "Megabytes"},
    {E::gigabytes, "Gigabytes"}, {E::terabytes, "Terabytes"}, {E::bits, "Bits"},
    {E::kilobits, "Kilobits"}, {E::megabits, "Megabits"}, {E::gigabits, "Gigabits"},
    {E::terabits, "Terabits"}, {E::bytes_per_second, "Bytes/Second"},
    {E::kilobytes_per_second, "Kilobytes/Second"}, {E::megabytes_per_second, "Megabytes/Second"},
    {E::gigabytes_per_second, "Gigabytes/Second"}, {E::terabytes_per_second, "Terabytes/Second"},
    {E::bits_per_second, "Bits/Second"}, {E::kilobits_per_second, "Kilobits/Second"},
    {E::megabits_per_second, "Megabits/Second"}, {E::gigabits_per_second, "Gigabits/Second"},
    {E::terabits_per_second, "Terabits/Second"}, {E::count_per_second, "Count/Second"})

}  // namespace sparc::cdn::detail

#undef SPARC_CDN_ENUM_NAMES
