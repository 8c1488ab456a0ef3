#pragma once
/// @file policies.hpp
/// Cache, origin request and response headers policies, and the AWS managed policy ids.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sparc/cdn/json.hpp>

namespace sparc::cdn {

/// Ids of the AWS managed cache policies.
namespace managed_cache_policy {
/// CachingOptimized: 1 day default TTL, 1 year max, gzip and brotli, nothing else in the key.
inline constexpr std::string_view kCachingOptimized = "658327ea-f89d-4fab-a63d-7e88639e58f6";
/// CachingOptimizedForUncompressedObjects: as CachingOptimized without compression.
inline constexpr std::string_view kCachingOptimizedForUncompressedObjects =
    "b2884449-e4de-46a7-ac36-70bc7f1ddd6d";
/// CachingDisabled: every TTL 0; use for dynamic content and WebSockets.
inline constexpr std::string_view kCachingDisabled = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
/// Elemental-MediaPackage: for AWS Elemental MediaPackage origins.
inline constexpr std::string_view kElementalMediaPackage = "08627262-05a9-4f76-9ded-b50ca2e3a84f";
/// Amplify: for AWS Amplify hosting origins.
inline constexpr std::string_view kAmplify = "2e54312d-136d-493c-8eb9-b001f22f67d2";
}  // namespace managed_cache_policy

/// Ids of the AWS managed origin request policies.
namespace managed_origin_request_policy {
/// AllViewer: every viewer header, cookie and query string.
inline constexpr std::string_view kAllViewer = "216adef6-5c7f-47e4-b989-5492eafa07d3";
/// AllViewerExceptHostHeader: as AllViewer without Host (API Gateway, Lambda URLs).
inline constexpr std::string_view kAllViewerExceptHostHeader =
    "b689b0a8-53d0-40ab-baf2-68738e2966ac";
/// AllViewerAndCloudFrontHeaders-2022-06: viewer plus CloudFront-added headers.
inline constexpr std::string_view kAllViewerAndCloudFrontHeaders =
    "33f36d7e-f396-46d9-90e0-52428a34d9dc";
/// CORS-S3Origin: the CORS request headers, for S3 origins.
inline constexpr std::string_view kCorsS3Origin = "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf";
/// CORS-CustomOrigin: the Origin header, for custom origins.
inline constexpr std::string_view kCorsCustomOrigin = "59781a5b-3903-41f3-afcb-af62929ccde1";
/// UserAgentRefererHeaders: User-Agent and Referer.
inline constexpr std::string_view kUserAgentRefererHeaders = "acba4595-bd28-49b8-b9fe-13317c0390fa";
/// Elemental-MediaTailor-PersonalizedManifests.
inline constexpr std::string_view kElementalMediaTailorPersonalizedManifests =
    "775133bc-15f2-49f9-abea-afb2e0bf67d2";
}  // namespace managed_origin_request_policy

/// Ids of the AWS managed response headers policies.
namespace managed_response_headers_policy {
/// SimpleCORS: Access-Control-Allow-Origin: *.
inline constexpr std::string_view kSimpleCors = "60669652-455b-4ae9-85a4-c4c02393f86c";
/// CORS-With-Preflight: CORS including preflight responses.
inline constexpr std::string_view kCorsWithPreflight = "5cc3b908-e619-4b99-88e5-2cf7f45965bd";
/// SecurityHeadersPolicy: HSTS, X-Frame-Options, nosniff, Referrer-Policy, XSS protection.
inline constexpr std::string_view kSecurityHeadersPolicy = "67f7725c-6f97-4210-82d7-5512b31e9d03";
/// CORS-and-SecurityHeadersPolicy.
inline constexpr std::string_view kCorsAndSecurityHeadersPolicy =
    "e61eb60c-9c35-4d20-a928-2b84e02af89c";
/// CORS-with-preflight-and-SecurityHeadersPolicy.
inline constexpr std::string_view kCorsWithPreflightAndSecurityHeadersPolicy =
    "eaab4381-ed33-4a86-88ca-d9558dc6cd63";
}  // namespace managed_response_headers_policy

/// Which headers a cache policy puts in the cache key (`CachePolicyHeaderBehavior`).
enum class CachePolicyHeaderBehavior { none, whitelist };
/// Which cookies a cache policy puts in the cache key (`CachePolicyCookieBehavior`).
enum class CachePolicyCookieBehavior { none, whitelist, all_except, all };
/// Which query strings a cache policy puts in the cache key (`CachePolicyQueryStringBehavior`).
enum class CachePolicyQueryStringBehavior { none, whitelist, all_except, all };

/// Headers in the cache key (`CachePolicyHeadersConfig`).
struct CachePolicyHeadersConfig {
    CachePolicyHeaderBehavior header_behavior =
        CachePolicyHeaderBehavior::none;  ///< `HeaderBehavior`
    std::vector<std::string> headers;     ///< `Headers`
    bool operator==(const CachePolicyHeadersConfig&) const = default;
};

/// Cookies in the cache key (`CachePolicyCookiesConfig`).
struct CachePolicyCookiesConfig {
    CachePolicyCookieBehavior cookie_behavior =
        CachePolicyCookieBehavior::none;  ///< `CookieBehavior`
    std::vector<std::string> cookies;     ///< `Cookies`
    bool operator==(const CachePolicyCookiesConfig&) const = default;
};

/// Query strings in the cache key (`CachePolicyQueryStringsConfig`).
struct CachePolicyQueryStringsConfig {
    CachePolicyQueryStringBehavior query_string_behavior =
        CachePolicyQueryStringBehavior::none;  ///< `QueryStringBehavior`
    std::vector<std::string> query_strings;    ///< `QueryStrings`
    bool operator==(const CachePolicyQueryStringsConfig&) const = default;
};

/// The cache key, which is also forwarded to the origin
/// (`ParametersInCacheKeyAndForwardedToOrigin`).
struct CacheKeyParameters {
    bool enable_accept_encoding_gzip = false;            ///< `EnableAcceptEncodingGzip`
    std::optional<bool> enable_accept_encoding_brotli;   ///< `EnableAcceptEncodingBrotli`
    CachePolicyHeadersConfig headers_config;             ///< `HeadersConfig`
    CachePolicyCookiesConfig cookies_config;             ///< `CookiesConfig`
    CachePolicyQueryStringsConfig query_strings_config;  ///< `QueryStringsConfig`
    bool operator==(const CacheKeyParameters&) const = default;
};

/// A cache policy (`CachePolicyConfig`; input of CreateCachePolicy).
struct CachePolicyConfig {
    std::optional<std::string> comment;       ///< `Comment`
    std::string name;                         ///< `Name`
    std::optional<std::int64_t> default_ttl;  ///< `DefaultTTL`, seconds (AWS default 86400)
    std::optional<std::int64_t> max_ttl;      ///< `MaxTTL`, seconds (AWS default 31536000)
    std::int64_t min_ttl = 0;                 ///< `MinTTL`, seconds
    std::optional<CacheKeyParameters>
        parameters_in_cache_key_and_forwarded_to_origin;  ///< `ParametersInCacheKeyAndForwardedToOrigin`
    bool operator==(const CachePolicyConfig&) const = default;
};

/// Which headers an origin request policy forwards (`OriginRequestPolicyHeaderBehavior`).
enum class OriginRequestPolicyHeaderBehavior {
    none,
    whitelist,
    all_viewer,
    all_viewer_and_whitelist_cloudfront,
    all_except  ///< `allExcept`: every viewer header but the listed ones
};
/// Which cookies an origin request policy forwards (`OriginRequestPolicyCookieBehavior`).
enum class OriginRequestPolicyCookieBehavior { none, whitelist, all, all_except };
/// Which query strings an origin request policy forwards
/// (`OriginRequestPolicyQueryStringBehavior`).
enum class OriginRequestPolicyQueryStringBehavior { none, whitelist, all, all_except };

/// Headers forwarded to the origin (`OriginRequestPolicyHeadersConfig`).
struct OriginRequestPolicyHeadersConfig {
    OriginRequestPolicyHeaderBehavior header_behavior =
        OriginRequestPolicyHeaderBehavior::none;  ///< `HeaderBehavior`
    std::vector<std::string> headers;             ///< `Headers`
    bool operator==(const OriginRequestPolicyHeadersConfig&) const = default;
};

/// Cookies forwarded to the origin (`OriginRequestPolicyCookiesConfig`).
struct OriginRequestPolicyCookiesConfig {
    OriginRequestPolicyCookieBehavior cookie_behavior =
        OriginRequestPolicyCookieBehavior::none;  ///< `CookieBehavior`
    std::vector<std::string> cookies;             ///< `Cookies`
    bool operator==(const OriginRequestPolicyCookiesConfig&) const = default;
};

/// Query strings forwarded to the origin (`OriginRequestPolicyQueryStringsConfig`).
struct OriginRequestPolicyQueryStringsConfig {
    OriginRequestPolicyQueryStringBehavior query_string_behavior =
        OriginRequestPolicyQueryStringBehavior::none;  ///< `QueryStringBehavior`
    std::vector<std::string> query_strings;            ///< `QueryStrings`
    bool operator==(const OriginRequestPolicyQueryStringsConfig&) const = default;
};

/// An origin request policy (`OriginRequestPolicyConfig`; input of CreateOriginRequestPolicy).
struct OriginRequestPolicyConfig {
    std::optional<std::string> comment;                          ///< `Comment`
    std::string name;                                            ///< `Name`
    OriginRequestPolicyHeadersConfig headers_config;             ///< `HeadersConfig`
    OriginRequestPolicyCookiesConfig cookies_config;             ///< `CookiesConfig`
    OriginRequestPolicyQueryStringsConfig query_strings_config;  ///< `QueryStringsConfig`
    bool operator==(const OriginRequestPolicyConfig&) const = default;
};

/// Methods a CORS response allows (`ResponseHeadersPolicyAccessControlAllowMethodsValues`).
enum class CorsMethod { get, post, options, put, del, patch, head, all };

/// CORS headers added to responses (`ResponseHeadersPolicyCorsConfig`).
struct CorsConfig {
    std::vector<std::string> access_control_allow_origins;   ///< `AccessControlAllowOrigins`
    std::vector<std::string> access_control_allow_headers;   ///< `AccessControlAllowHeaders`
    std::vector<CorsMethod> access_control_allow_methods;    ///< `AccessControlAllowMethods`
    bool access_control_allow_credentials = false;           ///< `AccessControlAllowCredentials`
    std::vector<std::string> access_control_expose_headers;  ///< `AccessControlExposeHeaders`
    std::optional<int> access_control_max_age_sec;           ///< `AccessControlMaxAgeSec`
    bool origin_override = true;                             ///< `OriginOverride`
    bool operator==(const CorsConfig&) const = default;
};

/// `X-XSS-Protection` (`ResponseHeadersPolicyXSSProtection`).
struct XssProtection {
    bool override_origin = true;            ///< `Override`
    bool protection = true;                 ///< `Protection`
    std::optional<bool> mode_block;         ///< `ModeBlock`
    std::optional<std::string> report_uri;  ///< `ReportUri`
    bool operator==(const XssProtection&) const = default;
};

/// Value of `X-Frame-Options` (`FrameOptionsList`).
enum class FrameOption { deny, sameorigin };

/// `X-Frame-Options` (`ResponseHeadersPolicyFrameOptions`).
struct FrameOptions {
    bool override_origin = true;                   ///< `Override`
    FrameOption frame_option = FrameOption::deny;  ///< `FrameOption`
    bool operator==(const FrameOptions&) const = default;
};

/// Value of `Referrer-Policy` (`ReferrerPolicyList`).
enum class ReferrerPolicyValue {
    no_referrer,
    no_referrer_when_downgrade,
    origin,
    origin_when_cross_origin,
    same_origin,
    strict_origin,
    strict_origin_when_cross_origin,
    unsafe_url
};

/// `Referrer-Policy` (`ResponseHeadersPolicyReferrerPolicy`).
struct ReferrerPolicy {
    bool override_origin = true;  ///< `Override`
    ReferrerPolicyValue referrer_policy =
        ReferrerPolicyValue::strict_origin_when_cross_origin;  ///< `ReferrerPolicy`
    bool operator==(const ReferrerPolicy&) const = default;
};

/// `Content-Security-Policy` (`ResponseHeadersPolicyContentSecurityPolicy`).
struct ContentSecurityPolicy {
    bool override_origin = true;          ///< `Override`
    std::string content_security_policy;  ///< `ContentSecurityPolicy`
    bool operator==(const ContentSecurityPolicy&) const = default;
};

/// `X-Content-Type-Options: nosniff` (`ResponseHeadersPolicyContentTypeOptions`).
struct ContentTypeOptions {
    bool override_origin = true;  ///< `Override`
    bool operator==(const ContentTypeOptions&) const = default;
};

/// `Strict-Transport-Security` (`ResponseHeadersPolicyStrictTransportSecurity`).
struct StrictTransportSecurity {
    bool override_origin = true;                ///< `Override`
    std::optional<bool> include_subdomains;     ///< `IncludeSubdomains`
    std::optional<bool> preload;                ///< `Preload`
    int access_control_max_age_sec = 31536000;  ///< `AccessControlMaxAgeSec`
    bool operator==(const StrictTransportSecurity&) const = default;
};

/// Security headers added to responses (`ResponseHeadersPolicySecurityHeadersConfig`).
struct SecurityHeadersConfig {
    std::optional<XssProtection> xss_protection;                   ///< `XSSProtection`
    std::optional<FrameOptions> frame_options;                     ///< `FrameOptions`
    std::optional<ReferrerPolicy> referrer_policy;                 ///< `ReferrerPolicy`
    std::optional<ContentSecurityPolicy> content_security_policy;  ///< `ContentSecurityPolicy`
    std::optional<ContentTypeOptions> content_type_options;        ///< `ContentTypeOptions`
    std::optional<StrictTransportSecurity>
        strict_transport_security;  ///< `StrictTransportSecurity`
    bool operator==(const SecurityHeadersConfig&) const = default;
};

/// `Server-Timing` header (`ResponseHeadersPolicyServerTimingHeadersConfig`).
struct ServerTimingHeadersConfig {
    bool enabled = false;                 ///< `Enabled`
    std::optional<double> sampling_rate;  ///< `SamplingRate`, percent (0-100)
    bool operator==(const ServerTimingHeadersConfig&) const = default;
};

/// A custom header added to responses (`ResponseHeadersPolicyCustomHeader`).
struct ResponseCustomHeader {
    std::string header;           ///< `Header`
    std::string value;            ///< `Value`
    bool override_origin = true;  ///< `Override`
    bool operator==(const ResponseCustomHeader&) const = default;
};

/// A response headers policy (`ResponseHeadersPolicyConfig`; input of CreateResponseHeadersPolicy).
struct ResponseHeadersPolicyConfig {
    std::optional<std::string> comment;                            ///< `Comment`
    std::string name;                                              ///< `Name`
    std::optional<CorsConfig> cors_config;                         ///< `CorsConfig`
    std::optional<SecurityHeadersConfig> security_headers_config;  ///< `SecurityHeadersConfig`
    std::optional<ServerTimingHeadersConfig>
        server_timing_headers_config;                  ///< `ServerTimingHeadersConfig`
    std::vector<ResponseCustomHeader> custom_headers;  ///< `CustomHeadersConfig`
    bool operator==(const ResponseHeadersPolicyConfig&) const = default;
};

/// @name JSON conversion (AWS member names)
///@{
SPARC_CDN_DECLARE_ENUM(CachePolicyHeaderBehavior)
SPARC_CDN_DECLARE_ENUM(CachePolicyCookieBehavior)
SPARC_CDN_DECLARE_ENUM(CachePolicyQueryStringBehavior)
SPARC_CDN_DECLARE_ENUM(OriginRequestPolicyHeaderBehavior)
SPARC_CDN_DECLARE_ENUM(OriginRequestPolicyCookieBehavior)
SPARC_CDN_DECLARE_ENUM(OriginRequestPolicyQueryStringBehavior)
SPARC_CDN_DECLARE_ENUM(CorsMethod)
SPARC_CDN_DECLARE_ENUM(FrameOption)
SPARC_CDN_DECLARE_ENUM(ReferrerPolicyValue)
SPARC_CDN_DECLARE_JSON(CachePolicyHeadersConfig)
SPARC_CDN_DECLARE_JSON(CachePolicyCookiesConfig)
SPARC_CDN_DECLARE_JSON(CachePolicyQueryStringsConfig)
SPARC_CDN_DECLARE_JSON(CacheKeyParameters)
SPARC_CDN_DECLARE_JSON(CachePolicyConfig)
SPARC_CDN_DECLARE_JSON(OriginRequestPolicyHeadersConfig)
SPARC_CDN_DECLARE_JSON(OriginRequestPolicyCookiesConfig)
SPARC_CDN_DECLARE_JSON(OriginRequestPolicyQueryStringsConfig)
SPARC_CDN_DECLARE_JSON(OriginRequestPolicyConfig)
SPARC_CDN_DECLARE_JSON(CorsConfig)
SPARC_CDN_DECLARE_JSON(XssProtection)
SPARC_CDN_DECLARE_JSON(FrameOptions)
SPARC_CDN_DECLARE_JSON(ReferrerPolicy)
SPARC_CDN_DECLARE_JSON(ContentSecurityPolicy)
SPARC_CDN_DECLARE_JSON(ContentTypeOptions)
SPARC_CDN_DECLARE_JSON(StrictTransportSecurity)
SPARC_CDN_DECLARE_JSON(SecurityHeadersConfig)
SPARC_CDN_DECLARE_JSON(ServerTimingHeadersConfig)
SPARC_CDN_DECLARE_JSON(ResponseCustomHeader)
SPARC_CDN_DECLARE_JSON(ResponseHeadersPolicyConfig)
///@}

}  // namespace sparc::cdn
