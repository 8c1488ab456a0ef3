#pragma once
/// @file presets.hpp
/// Complete, ready-to-deploy stacks built from a few parameters.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sparc/cdn/alarms.hpp>
#include <sparc/cdn/distribution.hpp>
#include <sparc/cdn/edge_function.hpp>
#include <sparc/cdn/field_level_encryption.hpp>
#include <sparc/cdn/monitoring.hpp>
#include <sparc/cdn/origin_access.hpp>
#include <sparc/cdn/policies.hpp>
#include <sparc/cdn/waf.hpp>

namespace sparc::cdn::presets {

/// How CloudFront authenticates to the private video bucket.
enum class S3Access {
    origin_access_control,  ///< OAC (SigV4); AWS's recommendation
    origin_access_identity  ///< OAI; legacy, for buckets whose policy already names an OAI
};

/// Parameters of video_platform(). The first seven are required (jwt_public_key may be
/// replaced by jwt_public_keys); every other member has the
/// default documented on it, where `{{AccountId}}` is filled in at deploy time and `ENV`
/// stands for `environment`.
struct VideoPlatformParams {
    std::string environment;                  ///< e.g. "production"; part of every name
    std::string api_gateway_domain;           ///< API Gateway (custom) domain, e.g. "api.sparc.io"
    std::string video_streaming_domain;       ///< Streaming service domain, e.g. "video.sparc.io"
    std::string cdn_domain_name;              ///< Alias viewers use, e.g. "cdn.sparc.io"
    std::string jwt_public_key;               ///< PEM key that verifies viewer JWTs at the edge
    std::string field_encryption_public_key;  ///< PEM RSA 2048 key for field-level encryption
    std::string sns_alert_topic_arn;          ///< Topic the alarms notify

    /// Account that owns the resources; empty: `{{AccountId}}`, resolved by deploy.sh.
    std::string aws_account_id;
    /// Private video bucket; empty: "sparc-ENV-videos".
    std::string video_bucket;
    /// Static assets bucket; empty: "sparc-ENV-static-assets".
    std::string static_assets_bucket;
    /// Standard log bucket (ACLs enabled); empty: "sparc-ENV-cdn-logs".
    std::string logs_bucket;
    /// Bucket (us-east-1) holding the edge function package; empty: "sparc-ENV-deploy-artifacts".
    std::string artifacts_bucket;
    /// Region of the video and static assets buckets.
    std::string bucket_region = "us-east-1";
    /// How CloudFront reads the video and static buckets.
    S3Access bucket_access = S3Access::origin_access_control;
    /// ACM certificate (us-east-1) for cdn_domain_name; empty: `{{CertificateArn}}`, looked up
    /// by deploy.sh among the issued us-east-1 certificates for cdn_domain_name.
    std::string certificate_arn;
    /// Origin Shield region in front of the streaming service.
    std::string origin_shield_region = "us-east-1";
    /// Kinesis stream for real-time logs; empty:
    /// "arn:aws:kinesis:us-east-1:{{AccountId}}:stream/sparc-ENV-cdn-realtime-logs".
    std::string kinesis_stream_arn;
    /// Role CloudFront writes to Kinesis with; empty:
    /// "arn:aws:iam::{{AccountId}}:role/sparc-ENV-cdn-realtime-logs".
    std::string realtime_logs_role_arn;
    /// Execution role of the edge function; empty:
    /// "arn:aws:iam::{{AccountId}}:role/sparc-ENV-edge-auth".
    std::string edge_function_role_arn;
    /// Edge locations used.
    PriceClass price_class = PriceClass::price_class_all;
    /// Requests per five minutes per client IP before WAF blocks (variable `waf_rate_limit`,
    /// or its older name `rate_limit`; AWS accepts 10 - 2,000,000,000).
    std::int64_t rate_limit = 2000;
    /// Form fields of API requests encrypted at the edge.
    std::vector<std::string> encrypted_fields{"uploader_email", "uploader_phone", "geo_location",
                                              "private_notes"};
    /// Paths the edge function lets through without a token (`*` and `?` wildcards).
    std::vector<std::string> public_paths{"/api/auth/*", "/api/health", "/api/public/*"};
    /// Origins (`https://app.example.com`, or `*` for any) whose CORS preflight requests the
    /// edge function answers with the Access-Control-Allow-* headers; empty: none.
    std::vector<std::string> cors_allowed_origins;
    /// Request headers a cross-origin request may send (Access-Control-Allow-Headers).
    std::vector<std::string> cors_allowed_headers{"Authorization", "Content-Type"};
    /// Required `iss` claim of viewer JWTs; empty: not checked.
    std::string jwt_issuer;
    /// Required `aud` claim (a string, or one of an array's strings); empty: not checked.
    std::string jwt_audience;
    /// Verification keys by key id (`kid` header of a token), PEM; used with or instead of
    /// jwt_public_key, which verifies tokens without a `kid` (and is then not required).
    std::map<std::string, std::string> jwt_public_keys;
    /// Domain of the WebSocket API behind `/ws/*`; empty: api_gateway_domain.
    std::string websocket_api_domain;
    /// Default and maximum TTL (seconds) of `/video/*`.
    std::int64_t video_default_ttl = 86400;
    std::int64_t video_max_ttl = 31536000;  ///< see video_default_ttl
    /// Maximum TTL (seconds) of `/api/*` (its default TTL is 60 s, or this if lower).
    std::int64_t api_max_ttl = 300;
    /// Default TTL (seconds) of static assets (the default behaviour; maximum one year).
    std::int64_t static_default_ttl = 86400;
    /// Tags on every taggable resource; empty: Environment=ENV, Service=sparc-cdn.
    std::map<std::string, std::string> tags;
    /// Percentage of requests sent to real-time logs.
    std::int64_t realtime_log_sampling_rate = 100;
    /// Alarm when the 4xx error rate exceeds this percentage.
    double error_rate_4xx_threshold = 5.0;
    /// Alarm when the 5xx error rate exceeds this percentage.
    double error_rate_5xx_threshold = 1.0;
    /// Alarm when the p90 origin latency exceeds this many milliseconds.
    double origin_latency_threshold_ms = 500.0;
};

/// A file of the edge function's deployment package.
struct BundleFile {
    std::string name;      ///< Path inside the package, e.g. "index.js"
    std::string contents;  ///< File contents
    bool operator==(const BundleFile&) const = default;
};

/// Every document of the video platform's CDN, each in the input shape of its AWS API call.
struct VideoPlatformStack {
    VideoPlatformParams params;                ///< The parameters with every default filled in
    EdgeFunction edge_auth_function;           ///< Lambda@Edge JWT check on viewer requests
    std::vector<BundleFile> edge_auth_bundle;  ///< Its package: code and the JWT public key
    waf::WebAcl web_acl;                       ///< Rate limit and AWS managed SQLi rules
    std::optional<OriginAccessControlConfig>
        origin_access_control;  ///< With S3Access::origin_access_control
    std::optional<OriginAccessIdentityConfig>
        origin_access_identity;                   ///< With S3Access::origin_access_identity
    PublicKeyConfig field_encryption_public_key;  ///< Key for field-level encryption
    FieldLevelEncryptionProfileConfig field_encryption_profile;  ///< Encrypted fields
    FieldLevelEncryptionConfig field_encryption_config;          ///< Profile by content type
    CachePolicyConfig video_cache_policy;   ///< 1 day default, 1 year max, no compression
    CachePolicyConfig api_cache_policy;     ///< 5 minutes max, Authorization in the key
    CachePolicyConfig static_cache_policy;  ///< static assets: as CachingOptimized, own TTL
    OriginRequestPolicyConfig websocket_origin_request_policy;  ///< WebSocket handshake headers
    ResponseHeadersPolicyConfig security_headers_policy;        ///< HSTS, CSP, X-Frame-Options, ...
    RealtimeLogConfig realtime_log_config;                      ///< Real-time logs to Kinesis
    DistributionConfig distribution;                            ///< The distribution itself
    MonitoringSubscription monitoring_subscription;  ///< Additional metrics (origin latency)
    std::vector<MetricAlarm> alarms;                 ///< 4xx rate, 5xx rate, origin latency
    /// Which of the optional ARN parameters were left empty: the CloudFormation template then
    /// creates the resource itself (deploy.sh expects it to exist under the default name).
    struct Derived {
        bool kinesis_stream = false;      ///< kinesis_stream_arn
        bool realtime_logs_role = false;  ///< realtime_logs_role_arn
        bool edge_function_role = false;  ///< edge_function_role_arn
        bool operator==(const Derived&) const = default;
    } derived;
};

/// Names of the deploy-time references used in a VideoPlatformStack (see has_placeholder()).
namespace refs {
/// The caller's AWS account id.
inline constexpr std::string_view kAccountId = "AccountId";
/// The ACM certificate for cdn_domain_name.
inline constexpr std::string_view kCertificateArn = "CertificateArn";
/// The published version of the edge function.
inline constexpr std::string_view kEdgeAuthVersion = "EdgeAuthFunctionVersion";
/// The created web ACL's ARN.
inline constexpr std::string_view kWebAclArn = "WebAclArn";
/// The created origin access control's id.
inline constexpr std::string_view kOriginAccessControlId = "OriginAccessControlId";
/// The created origin access identity's id.
inline constexpr std::string_view kOriginAccessIdentityId = "OriginAccessIdentityId";
/// The created field-level encryption public key's id.
inline constexpr std::string_view kPublicKeyId = "PublicKeyId";
/// The created encryption profile's id.
inline constexpr std::string_view kFieldEncryptionProfileId = "FieldLevelEncryptionProfileId";
/// The created encryption configuration's id.
inline constexpr std::string_view kFieldEncryptionConfigId = "FieldLevelEncryptionConfigId";
/// The created video cache policy's id.
inline constexpr std::string_view kVideoCachePolicyId = "VideoCachePolicyId";
/// The created static assets cache policy's id.
inline constexpr std::string_view kStaticCachePolicyId = "StaticCachePolicyId";
/// The created API cache policy's id.
inline constexpr std::string_view kApiCachePolicyId = "ApiCachePolicyId";
/// The created WebSocket origin request policy's id.
inline constexpr std::string_view kWebSocketOriginRequestPolicyId =
    "WebSocketOriginRequestPolicyId";
/// The created response headers policy's id.
inline constexpr std::string_view kSecurityHeadersPolicyId = "SecurityHeadersPolicyId";
/// The created real-time log configuration's ARN.
inline constexpr std::string_view kRealtimeLogConfigArn = "RealtimeLogConfigArn";
/// The created distribution's id.
inline constexpr std::string_view kDistributionId = "DistributionId";
}  // namespace refs

/// Builds the video platform's whole CDN stack.
/// @throws std::invalid_argument naming the first parameter that is missing or malformed
/// (required value empty, environment not a-z 0-9 -, a domain or bucket name invalid), or if
/// the edge function's package is over Lambda@Edge's limit (check_edge_package()).
VideoPlatformStack video_platform(const VideoPlatformParams& params);

/// Lambda@Edge's limit on the zipped deployment package of a function triggered at `event`:
/// 1 MiB (1048576 bytes) at viewer-request and viewer-response, 50 MiB (52428800 bytes) at
/// origin-request and origin-response. CloudFront refuses to associate a bigger one.
std::uint64_t edge_package_limit(EventType event);

/// An upper bound of the size of the zip file that `aws cloudformation package` (and
/// deploy.sh) make of `files`: Python's zipfile, each file deflated with zlib's default level.
/// It is the sum, over the files, of zlib's worst case for deflating the contents
/// (deflateBound: n + n/4096 + n/16384 + n/2^25 + 7 bytes, which is also above the size of
/// the file stored uncompressed) and of the zip headers (30 + 46 bytes and twice the name),
/// plus 22 bytes for the end of the archive. The real zip is smaller: text compresses.
std::uint64_t zipped_size_bound(const std::vector<BundleFile>& files);

/// Checks that the package `files` of the edge function `function_name` fits the limit of
/// `event` (zipped_size_bound() against edge_package_limit()).
/// @throws std::invalid_argument naming the function, the event, the size and the limit.
void check_edge_package(std::string_view function_name, const std::vector<BundleFile>& files,
                        EventType event);

/// Reads VideoPlatformParams from JSON with snake_case member names (e.g. `"environment"`,
/// `"price_class": "PriceClass_100"`, `"bucket_access": "origin-access-identity"`).
/// @throws JsonError naming the member that is missing, unknown or of the wrong type.
VideoPlatformParams video_platform_params_from_json(const nlohmann::json& vars);

}  // namespace sparc::cdn::presets
