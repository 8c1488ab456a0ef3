#pragma once
/// @file distribution.hpp
/// The CloudFront distribution configuration (`DistributionConfig`, API 2020-05-31).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sparc/cdn/json.hpp>

#include <sparc/cdn/cache_behavior.hpp>
#include <sparc/cdn/origin.hpp>

namespace sparc::cdn {

/// Edge locations a distribution uses (`PriceClass`).
enum class PriceClass {
    price_class_100,
    price_class_200,
    price_class_all,
    none  ///< `None`: for distributions on flat-rate pricing plans
};

/// HTTP versions offered to viewers (`HttpVersion`).
enum class HttpVersion { http1_1, http2, http3, http2and3 };

/// How CloudFront serves HTTPS to viewers (`SSLSupportMethod`).
enum class SslSupportMethod { sni_only, vip, static_ip };

/// Minimum TLS policy towards viewers (`MinimumProtocolVersion`).
enum class MinimumProtocolVersion {
    sslv3,
    tlsv1,
    tlsv1_2016,
    tlsv1_1_2016,
    tlsv1_2_2018,
    tlsv1_2_2019,
    tlsv1_2_2021,
    tlsv1_2_2025,  ///< `TLSv1.2_2025`: TLS 1.2 and 1.3, fewer ciphers
    tlsv1_3_2025   ///< `TLSv1.3_2025`: TLS 1.3 only
};

/// Where the viewer certificate comes from (`CertificateSource`, deprecated by AWS).
enum class CertificateSource { cloudfront, iam, acm };

/// Kind of country restriction (`GeoRestrictionType`).
enum class GeoRestrictionType { blacklist, whitelist, none };

/// A custom page or caching rule for one HTTP error code (`CustomErrorResponse`).
struct CustomErrorResponse {
    int error_code = 0;                                 ///< `ErrorCode` (400-599)
    std::optional<std::string> response_page_path;      ///< `ResponsePagePath`, e.g. "/404.html"
    std::optional<std::string> response_code;           ///< `ResponseCode`, e.g. "404"
    std::optional<std::int64_t> error_caching_min_ttl;  ///< `ErrorCachingMinTTL`, seconds
    bool operator==(const CustomErrorResponse&) const = default;
};

/// Standard access logs to an S3 bucket (`LoggingConfig`).
struct LoggingConfig {
    bool enabled = false;          ///< `Enabled`
    bool include_cookies = false;  ///< `IncludeCookies`
    std::string bucket;            ///< `Bucket`, e.g. "logs.s3.amazonaws.com"
    std::string prefix;            ///< `Prefix`, e.g. "cdn/"
    bool operator==(const LoggingConfig&) const = default;
};

/// The TLS certificate and policy viewers see (`ViewerCertificate`).
struct ViewerCertificate {
    std::optional<bool> cloudfront_default_certificate;  ///< `CloudFrontDefaultCertificate`
    std::optional<std::string> iam_certificate_id;       ///< `IAMCertificateId`
    std::optional<std::string> acm_certificate_arn;      ///< `ACMCertificateArn` (us-east-1)
    std::optional<SslSupportMethod> ssl_support_method;  ///< `SSLSupportMethod`
    std::optional<MinimumProtocolVersion> minimum_protocol_version;  ///< `MinimumProtocolVersion`
    std::optional<std::string> certificate;                          ///< `Certificate` (deprecated)
    std::optional<CertificateSource> certificate_source;  ///< `CertificateSource` (deprecated)
    bool operator==(const ViewerCertificate&) const = default;
};

/// Country-based access restriction (`GeoRestriction`).
struct GeoRestriction {
    GeoRestrictionType restriction_type = GeoRestrictionType::none;  ///< `RestrictionType`
    std::vector<std::string> locations;  ///< `Items`: ISO 3166-1 alpha-2 country codes
    bool operator==(const GeoRestriction&) const = default;
};

/// Restrictions on who may view content (`Restrictions`).
struct Restrictions {
    GeoRestriction geo_restriction;  ///< `GeoRestriction`
    bool operator==(const Restrictions&) const = default;
};

/// Longest `Comment` CloudFront accepts.
inline constexpr std::size_t kMaxCommentLength = 128;
/// Default quota of ordered cache behaviours per distribution.
inline constexpr std::size_t kMaxCacheBehaviors = 25;
/// Default quota of origins per distribution.
inline constexpr std::size_t kMaxOrigins = 25;
/// Default quota of origin groups per distribution.
inline constexpr std::size_t kMaxOriginGroups = 10;
/// Default quota of alternate domain names (CNAMEs) per distribution.
inline constexpr std::size_t kMaxAliases = 100;
/// Longest path pattern CloudFront accepts.
inline constexpr std::size_t kMaxPathPatternLength = 255;

/// The whole configuration of a CloudFront distribution (`DistributionConfig`).
struct DistributionConfig {
    std::string caller_reference;                    ///< `CallerReference`: idempotency token
    std::vector<std::string> aliases;                ///< `Aliases`: alternate domain names
    std::optional<std::string> default_root_object;  ///< `DefaultRootObject`, e.g. "index.html"
    std::vector<Origin> origins;                     ///< `Origins` (at least one)
    std::vector<OriginGroup> origin_groups;          ///< `OriginGroups`
    DefaultCacheBehavior default_cache_behavior;     ///< `DefaultCacheBehavior`
    std::vector<CacheBehavior> cache_behaviors;      ///< `CacheBehaviors`, in precedence order
    std::vector<CustomErrorResponse> custom_error_responses;  ///< `CustomErrorResponses`
    std::string comment;                                  ///< `Comment` (at most 128 characters)
    std::optional<LoggingConfig> logging;                 ///< `Logging`
    std::optional<PriceClass> price_class;                ///< `PriceClass`
    bool enabled = true;                                  ///< `Enabled`
    std::optional<ViewerCertificate> viewer_certificate;  ///< `ViewerCertificate`
    std::optional<Restrictions> restrictions;             ///< `Restrictions`
    std::optional<std::string> web_acl_id;                ///< `WebACLId`: a WAFv2 web ACL ARN
    std::optional<HttpVersion> http_version;              ///< `HttpVersion`
    std::optional<bool> is_ipv6_enabled;                  ///< `IsIPV6Enabled`
    std::optional<std::string> continuous_deployment_policy_id;  ///< `ContinuousDeploymentPolicyId`
    std::optional<bool> staging;                                 ///< `Staging`
    std::optional<std::string> anycast_ip_list_id = std::nullopt;  ///< `AnycastIpListId`
    bool operator==(const DistributionConfig&) const = default;
};

/// @name JSON conversion (AWS member names)
///@{
SPARC_CDN_DECLARE_ENUM(PriceClass)
SPARC_CDN_DECLARE_ENUM(HttpVersion)
SPARC_CDN_DECLARE_ENUM(SslSupportMethod)
SPARC_CDN_DECLARE_ENUM(MinimumProtocolVersion)
SPARC_CDN_DECLARE_ENUM(CertificateSource)
SPARC_CDN_DECLARE_ENUM(GeoRestrictionType)
SPARC_CDN_DECLARE_JSON(CustomErrorResponse)
SPARC_CDN_DECLARE_JSON(LoggingConfig)
SPARC_CDN_DECLARE_JSON(ViewerCertificate)
SPARC_CDN_DECLARE_JSON(GeoRestriction)
SPARC_CDN_DECLARE_JSON(Restrictions)
SPARC_CDN_DECLARE_JSON(DistributionConfig)
///@}

/// Reads a DistributionConfig given bare or wrapped as `{"DistributionConfig": ...}`, as
/// `aws cloudfront get-distribution-config` prints it (a top-level `ETag` is accepted).
/// @throws JsonError naming the JSON pointer at fault.
DistributionConfig distribution_config_from_document(const nlohmann::json& document);

}  // namespace sparc::cdn
