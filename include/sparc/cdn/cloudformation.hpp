#pragma once
/// @file cloudformation.hpp
/// The video platform's stack as one CloudFormation template, rendered from the same typed
/// objects as the AWS API documents of deploy.hpp.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include <sparc/cdn/presets.hpp>

namespace sparc::cdn::cloudformation {

/// @name API shapes to CloudFormation property shapes
/// CloudFormation writes CloudFront's `{"Quantity", "Items"}` lists as plain arrays and
/// renames a few members (`IsIPV6Enabled` is `IPV6Enabled`, `OriginSslProtocols` is
/// `OriginSSLProtocols`, ...). Each function takes the API JSON of one document and returns
/// the resource's configuration property; `{{Name}}` placeholders pass through unchanged.
///@{
nlohmann::json distribution_config(const nlohmann::json& api);
nlohmann::json cache_policy_config(const nlohmann::json& api);
nlohmann::json origin_request_policy_config(const nlohmann::json& api);
nlohmann::json response_headers_policy_config(const nlohmann::json& api);
nlohmann::json realtime_log_config(const nlohmann::json& api);
///@}

/// Logical ids of the template's resources. They never depend on a variable's value, so a
/// changed variable changes the properties of the resources that use it and nothing else;
/// the one exception is the public key (see public_key_logical_id()).
namespace ids {
inline constexpr std::string_view kDistribution = "Distribution";
inline constexpr std::string_view kWebAcl = "WebAcl";
inline constexpr std::string_view kOriginAccessControl = "OriginAccessControl";
inline constexpr std::string_view kOriginAccessIdentity = "OriginAccessIdentity";
/// Prefix of the public key's logical id, which ends in a fingerprint of its name and key.
inline constexpr std::string_view kPublicKey = "FieldEncryptionPublicKey";
inline constexpr std::string_view kFieldEncryptionProfile = "FieldEncryptionProfile";
inline constexpr std::string_view kFieldEncryptionConfig = "FieldEncryptionConfig";
inline constexpr std::string_view kFieldEncryptionProvider = "FieldEncryptionProvider";
inline constexpr std::string_view kFieldEncryptionProviderRole = "FieldEncryptionProviderRole";
inline constexpr std::string_view kVideoCachePolicy = "VideoCachePolicy";
inline constexpr std::string_view kApiCachePolicy = "ApiCachePolicy";
inline constexpr std::string_view kStaticCachePolicy = "StaticCachePolicy";
inline constexpr std::string_view kWebSocketOriginRequestPolicy = "WebSocketOriginRequestPolicy";
inline constexpr std::string_view kSecurityHeadersPolicy = "SecurityHeadersPolicy";
inline constexpr std::string_view kRealtimeLogConfig = "RealtimeLogConfig";
inline constexpr std::string_view kRealtimeLogStream = "RealtimeLogStream";
inline constexpr std::string_view kRealtimeLogRole = "RealtimeLogRole";
inline constexpr std::string_view kMonitoringSubscription = "MonitoringSubscription";
inline constexpr std::string_view kEdgeAuthFunction = "EdgeAuthFunction";
inline constexpr std::string_view kEdgeAuthVersion = "EdgeAuthFunctionVersion";
inline constexpr std::string_view kEdgeAuthRole = "EdgeAuthRole";
inline constexpr std::string_view kLogBucket = "LogBucket";
inline constexpr std::string_view kCertificateArnParameter = "CertificateArn";
}  // namespace ids

/// Logical id of the field-level encryption public key: `FieldEncryptionPublicKey` and 8 hex
/// digits of a fingerprint of its name and key material. CloudFront cannot change either of
/// them in place, so a new key (or environment) is a new resource that replaces the old one.
std::string public_key_logical_id(const presets::VideoPlatformStack& stack);

/// The whole stack as a CloudFormation template for us-east-1. The edge function's `Code` and
/// the field-level encryption provider's `Code` are the local directories `edge-auth` and
/// `field-encryption-provider`, which `aws cloudformation package` uploads.
nlohmann::json stack_template(const presets::VideoPlatformStack& stack);

/// Source files of the custom resource provider that manages field-level encryption profiles
/// and configurations (CloudFormation has no resource types for them).
std::vector<presets::BundleFile> field_encryption_provider_bundle();

/// Writes `template.json`, `edge-auth/` and `field-encryption-provider/` into `directory`.
/// @returns the paths written, relative to `directory`.
std::vector<std::string> write_template(const presets::VideoPlatformStack& stack,
                                        const std::filesystem::path& directory);

}  // namespace sparc::cdn::cloudformation
