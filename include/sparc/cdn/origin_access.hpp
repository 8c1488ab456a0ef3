#pragma once
/// @file origin_access.hpp
/// Identities that let CloudFront read private S3 buckets: OAI (legacy) and OAC.

#include <optional>
#include <string>
#include <string_view>

#include <sparc/cdn/json.hpp>

namespace sparc::cdn {

/// An origin access identity (`CloudFrontOriginAccessIdentityConfig`; input of
/// CreateCloudFrontOriginAccessIdentity). Referenced from S3OriginConfig as
/// `origin-access-identity/cloudfront/ID`.
struct OriginAccessIdentityConfig {
    std::string caller_reference;  ///< `CallerReference`
    std::string comment;           ///< `Comment`
    bool operator==(const OriginAccessIdentityConfig&) const = default;
};

/// Signing protocol of an origin access control (`OriginAccessControlSigningProtocols`).
enum class SigningProtocol { sigv4 };
/// When CloudFront signs origin requests (`OriginAccessControlSigningBehaviors`).
enum class SigningBehavior { never, always, no_override };
/// Kind of origin an origin access control is for (`OriginAccessControlOriginTypes`).
enum class OriginAccessControlOriginType {
    s3,
    mediastore,
    mediapackagev2,
    lambda  ///< Lambda function URLs
};

/// An origin access control (`OriginAccessControlConfig`; input of CreateOriginAccessControl).
struct OriginAccessControlConfig {
    std::string name;                                            ///< `Name` (at most 64 characters)
    std::optional<std::string> description;                      ///< `Description`
    SigningProtocol signing_protocol = SigningProtocol::sigv4;   ///< `SigningProtocol`
    SigningBehavior signing_behavior = SigningBehavior::always;  ///< `SigningBehavior`
    OriginAccessControlOriginType origin_access_control_origin_type =
        OriginAccessControlOriginType::s3;  ///< `OriginAccessControlOriginType`
    bool operator==(const OriginAccessControlConfig&) const = default;
};

/// The S3OriginConfig value that names an origin access identity.
std::string origin_access_identity_path(std::string_view identity_id);

/// @name JSON conversion (AWS member names)
///@{
SPARC_CDN_DECLARE_ENUM(SigningProtocol)
SPARC_CDN_DECLARE_ENUM(SigningBehavior)
SPARC_CDN_DECLARE_ENUM(OriginAccessControlOriginType)
SPARC_CDN_DECLARE_JSON(OriginAccessIdentityConfig)
SPARC_CDN_DECLARE_JSON(OriginAccessControlConfig)
///@}

}  // namespace sparc::cdn
