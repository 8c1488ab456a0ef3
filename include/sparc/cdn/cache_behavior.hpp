#pragma once
/// @file cache_behavior.hpp
/// CloudFront cache behaviours: how requests matching a path pattern are served.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sparc/cdn/json.hpp>

namespace sparc::cdn {

/// HTTP method as CloudFront names it (`Method`).
enum class Method { get, head, post, put, patch, options, del };

/// What CloudFront does with plain-HTTP viewer requests (`ViewerProtocolPolicy`).
enum class ViewerProtocolPolicy { allow_all, https_only, redirect_to_https };

/// Point in the request flow where an edge function runs (`EventType`).
enum class EventType { viewer_request, viewer_response, origin_request, origin_response };

/// Which cookies are forwarded in legacy ForwardedValues (`ItemSelection`).
enum class ItemSelection { none, whitelist, all };

/// Methods CloudFront accepts (`AllowedMethods.Items`) and caches (`CachedMethods`).
///
/// CloudFront accepts exactly three allowed sets (GET,HEAD / GET,HEAD,OPTIONS / all seven)
/// and two cached sets (GET,HEAD / GET,HEAD,OPTIONS); validate() enforces this.
struct AllowedMethods {
    std::vector<Method> items{Method::get, Method::head};  ///< `Items`
    std::vector<Method> cached_methods;  ///< `CachedMethods.Items`; empty = omitted (GET,HEAD)
    bool operator==(const AllowedMethods&) const = default;
};

/// AWS accounts or key groups whose signed URLs and cookies the behaviour requires
/// (`TrustedSigners`, `TrustedKeyGroups`). `Enabled` is true exactly when `items` is non-empty.
struct TrustedList {
    bool enabled = false;            ///< `Enabled`
    std::vector<std::string> items;  ///< `Items`: account numbers or key group ids
    bool operator==(const TrustedList&) const = default;
};

/// A Lambda@Edge function run at one event (`LambdaFunctionAssociation`).
struct LambdaFunctionAssociation {
    std::string lambda_function_arn;  ///< `LambdaFunctionARN`: a versioned us-east-1 function ARN
    EventType event_type = EventType::viewer_request;  ///< `EventType`
    std::optional<bool> include_body;                  ///< `IncludeBody`
    bool operator==(const LambdaFunctionAssociation&) const = default;
};

/// A CloudFront Function run at a viewer event (`FunctionAssociation`).
struct FunctionAssociation {
    std::string function_arn;                          ///< `FunctionARN`
    EventType event_type = EventType::viewer_request;  ///< `EventType` (viewer events only)
    bool operator==(const FunctionAssociation&) const = default;
};

/// Legacy cookie forwarding (`CookiePreference`).
struct CookiePreference {
    ItemSelection forward = ItemSelection::none;  ///< `Forward`
    std::vector<std::string> whitelisted_names;   ///< `WhitelistedNames`
    bool operator==(const CookiePreference&) const = default;
};

/// Legacy cache key and origin request settings (`ForwardedValues`); prefer a cache policy.
struct ForwardedValues {
    bool query_string = false;                         ///< `QueryString`
    CookiePreference cookies;                          ///< `Cookies`
    std::vector<std::string> headers;                  ///< `Headers`
    std::vector<std::string> query_string_cache_keys;  ///< `QueryStringCacheKeys`
    bool operator==(const ForwardedValues&) const = default;
};

/// gRPC to the origin (`GrpcConfig`); needs all seven methods and HTTP/2.
struct GrpcConfig {
    bool enabled = false;  ///< `Enabled`
    bool operator==(const GrpcConfig&) const = default;
};

/// The behaviour for requests no ordered behaviour matches (`DefaultCacheBehavior`).
///
/// Set exactly one of `cache_policy_id` and `forwarded_values`; the legacy TTL members go with
/// `forwarded_values` only.
struct DefaultCacheBehavior {
    std::string target_origin_id;                ///< `TargetOriginId`: an origin or origin group id
    std::optional<TrustedList> trusted_signers;  ///< `TrustedSigners` (legacy)
    std::optional<TrustedList> trusted_key_groups;  ///< `TrustedKeyGroups`
    ViewerProtocolPolicy viewer_protocol_policy =
        ViewerProtocolPolicy::redirect_to_https;    ///< `ViewerProtocolPolicy`
    std::optional<AllowedMethods> allowed_methods;  ///< `AllowedMethods`
    std::optional<bool> smooth_streaming;           ///< `SmoothStreaming`
    std::optional<bool> compress;                   ///< `Compress`
    std::vector<LambdaFunctionAssociation>
        lambda_function_associations;                        ///< `LambdaFunctionAssociations`
    std::vector<FunctionAssociation> function_associations;  ///< `FunctionAssociations`
    std::optional<std::string> field_level_encryption_id;    ///< `FieldLevelEncryptionId`
    std::optional<std::string> realtime_log_config_arn;      ///< `RealtimeLogConfigArn`
    std::optional<std::string> cache_policy_id;              ///< `CachePolicyId`
    std::optional<std::string> origin_request_policy_id;     ///< `OriginRequestPolicyId`
    std::optional<std::string> response_headers_policy_id;   ///< `ResponseHeadersPolicyId`
    std::optional<ForwardedValues> forwarded_values;         ///< `ForwardedValues` (legacy)
    std::optional<std::int64_t> min_ttl;                     ///< `MinTTL`, seconds (legacy)
    std::optional<std::int64_t> default_ttl;                 ///< `DefaultTTL`, seconds (legacy)
    std::optional<std::int64_t> max_ttl;                     ///< `MaxTTL`, seconds (legacy)
    std::optional<GrpcConfig> grpc_config;                   ///< `GrpcConfig`
    bool operator==(const DefaultCacheBehavior&) const = default;
};

/// An ordered behaviour for requests whose path matches `path_pattern` (`CacheBehavior`).
struct CacheBehavior {
    std::string path_pattern;      ///< `PathPattern`, e.g. "/video/*"; `*` and `?` wildcards
    std::string target_origin_id;  ///< `TargetOriginId`: an origin or origin group id
    std::optional<TrustedList> trusted_signers;     ///< `TrustedSigners` (legacy)
    std::optional<TrustedList> trusted_key_groups;  ///< `TrustedKeyGroups`
    ViewerProtocolPolicy viewer_protocol_policy =
        ViewerProtocolPolicy::redirect_to_https;    ///< `ViewerProtocolPolicy`
    std::optional<AllowedMethods> allowed_methods;  ///< `AllowedMethods`
    std::optional<bool> smooth_streaming;           ///< `SmoothStreaming`
    std::optional<bool> compress;                   ///< `Compress`
    std::vector<LambdaFunctionAssociation>
        lambda_function_associations;                        ///< `LambdaFunctionAssociations`
    std::vector<FunctionAssociation> function_associations;  ///< `FunctionAssociations`
    std::optional<std::string> field_level_encryption_id;    ///< `FieldLevelEncryptionId`
    std::optional<std::string> realtime_log_config_arn;      ///< `RealtimeLogConfigArn`
    std::optional<std::string> cache_policy_id;              ///< `CachePolicyId`
    std::optional<std::string> origin_request_policy_id;     ///< `OriginRequestPolicyId`
    std::optional<std::string> response_headers_policy_id;   ///< `ResponseHeadersPolicyId`
    std::optional<ForwardedValues> forwarded_values;         ///< `ForwardedValues` (legacy)
    std::optional<std::int64_t> min_ttl;                     ///< `MinTTL`, seconds (legacy)
    std::optional<std::int64_t> default_ttl;                 ///< `DefaultTTL`, seconds (legacy)
    std::optional<std::int64_t> max_ttl;                     ///< `MaxTTL`, seconds (legacy)
    std::optional<GrpcConfig> grpc_config;                   ///< `GrpcConfig`
    bool operator==(const CacheBehavior&) const = default;
};

/// @name JSON conversion (AWS member names)
///@{
SPARC_CDN_DECLARE_ENUM(Method)
SPARC_CDN_DECLARE_ENUM(ViewerProtocolPolicy)
SPARC_CDN_DECLARE_ENUM(EventType)
SPARC_CDN_DECLARE_ENUM(ItemSelection)
SPARC_CDN_DECLARE_JSON(AllowedMethods)
SPARC_CDN_DECLARE_JSON(TrustedList)
SPARC_CDN_DECLARE_JSON(LambdaFunctionAssociation)
SPARC_CDN_DECLARE_JSON(FunctionAssociation)
SPARC_CDN_DECLARE_JSON(CookiePreference)
SPARC_CDN_DECLARE_JSON(GrpcConfig)
SPARC_CDN_DECLARE_JSON(ForwardedValues)
SPARC_CDN_DECLARE_JSON(DefaultCacheBehavior)
SPARC_CDN_DECLARE_JSON(CacheBehavior)
///@}

}  // namespace sparc::cdn
