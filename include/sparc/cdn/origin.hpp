#pragma once
/// @file origin.hpp
/// CloudFront origins and origin groups (CloudFront API 2020-05-31).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sparc/cdn/json.hpp>

namespace sparc::cdn {

/// How CloudFront connects to a custom origin (`OriginProtocolPolicy`).
enum class OriginProtocolPolicy { http_only, match_viewer, https_only };

/// TLS protocol CloudFront may use towards a custom origin (`SslProtocol`).
enum class SslProtocol { sslv3, tlsv1, tlsv1_1, tlsv1_2 };

/// A header CloudFront adds to every request it sends to the origin (`OriginCustomHeader`).
struct OriginCustomHeader {
    std::string header_name;   ///< `HeaderName`
    std::string header_value;  ///< `HeaderValue`
    bool operator==(const OriginCustomHeader&) const = default;
};

/// S3 bucket origin settings (`S3OriginConfig`).
struct S3OriginConfig {
    /// `OriginAccessIdentity`: `origin-access-identity/cloudfront/ID`, or empty when the origin
    /// uses an origin access control or is public.
    std::string origin_access_identity;
    // A default initialiser, so that `S3OriginConfig{oai}` stays warning-free (-Wextra).
    std::optional<int> origin_read_timeout = std::nullopt;  ///< `OriginReadTimeout`, seconds
    bool operator==(const S3OriginConfig&) const = default;
};

/// Default values CloudFront applies to a custom origin.
inline constexpr int kDefaultOriginReadTimeout = 30;
/// Default keep-alive timeout towards a custom origin, in seconds.
inline constexpr int kDefaultOriginKeepaliveTimeout = 5;

/// Custom (HTTP server) origin settings (`CustomOriginConfig`).
struct CustomOriginConfig {
    int http_port = 80;    ///< `HTTPPort`
    int https_port = 443;  ///< `HTTPSPort`
    OriginProtocolPolicy origin_protocol_policy =
        OriginProtocolPolicy::https_only;           ///< `OriginProtocolPolicy`
    std::vector<SslProtocol> origin_ssl_protocols;  ///< `OriginSslProtocols`; empty = omitted
    std::optional<int> origin_read_timeout;         ///< `OriginReadTimeout`, seconds (1-180)
    std::optional<int> origin_keepalive_timeout;    ///< `OriginKeepaliveTimeout`, seconds (1-180)
    bool operator==(const CustomOriginConfig&) const = default;
};

/// A VPC origin: a private load balancer or instance CloudFront reaches through a VPC origin
/// resource (`VpcOriginConfig`).
struct VpcOriginConfig {
    std::string vpc_origin_id;                    ///< `VpcOriginId`
    std::optional<std::string> owner_account_id;  ///< `OwnerAccountId` (shared VPC origins)
    std::optional<int> origin_read_timeout;       ///< `OriginReadTimeout`, seconds (1-180)
    std::optional<int> origin_keepalive_timeout;  ///< `OriginKeepaliveTimeout`, seconds (1-180)
    bool operator==(const VpcOriginConfig&) const = default;
};

/// Origin Shield: an extra caching layer in one AWS region (`OriginShield`).
struct OriginShield {
    bool enabled = false;                             ///< `Enabled`
    std::optional<std::string> origin_shield_region;  ///< `OriginShieldRegion`, e.g. "us-east-1"
    bool operator==(const OriginShield&) const = default;
};

/// One origin of a distribution (`Origin`): an S3 bucket or a custom HTTP origin.
struct Origin {
    std::string id;                                  ///< `Id`, unique within the distribution
    std::string domain_name;                         ///< `DomainName`
    std::optional<std::string> origin_path;          ///< `OriginPath`, e.g. "/production"
    std::vector<OriginCustomHeader> custom_headers;  ///< `CustomHeaders`
    std::optional<S3OriginConfig> s3_origin_config;  ///< `S3OriginConfig` (S3 bucket origins)
    std::optional<CustomOriginConfig> custom_origin_config;  ///< `CustomOriginConfig`
    std::optional<VpcOriginConfig> vpc_origin_config;        ///< `VpcOriginConfig`
    std::optional<int> connection_attempts;     ///< `ConnectionAttempts` (1-3, default 3)
    std::optional<int> connection_timeout;      ///< `ConnectionTimeout`, seconds (1-10, default 10)
    std::optional<OriginShield> origin_shield;  ///< `OriginShield`
    std::optional<std::string> origin_access_control_id;  ///< `OriginAccessControlId`
    /// `ResponseCompletionTimeout`, seconds: how long a whole response may take.
    std::optional<int> response_completion_timeout = std::nullopt;
    bool operator==(const Origin&) const = default;
};

/// Two origins with failover from the first to the second (`OriginGroup`).
struct OriginGroup {
    std::string id;  ///< `Id`, shares the namespace of origin ids
    /// `FailoverCriteria.StatusCodes`: origin responses that trigger failover.
    std::vector<int> failover_status_codes;
    /// `Members`: the primary origin id, then the secondary origin id.
    std::vector<std::string> member_origin_ids;
    bool operator==(const OriginGroup&) const = default;
};

/// @name JSON conversion (AWS member names)
///@{
SPARC_CDN_DECLARE_ENUM(OriginProtocolPolicy)
SPARC_CDN_DECLARE_ENUM(SslProtocol)
SPARC_CDN_DECLARE_JSON(OriginCustomHeader)
SPARC_CDN_DECLARE_JSON(S3OriginConfig)
SPARC_CDN_DECLARE_JSON(CustomOriginConfig)
SPARC_CDN_DECLARE_JSON(VpcOriginConfig)
SPARC_CDN_DECLARE_JSON(OriginShield)
SPARC_CDN_DECLARE_JSON(Origin)
SPARC_CDN_DECLARE_JSON(OriginGroup)
///@}

}  // namespace sparc::cdn
