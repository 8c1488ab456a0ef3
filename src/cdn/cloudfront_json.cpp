// JSON mapping of the CloudFront 2020-05-31 types, member by member in AWS order.

#include <sparc/cdn/distribution.hpp>
#include <sparc/cdn/field_level_encryption.hpp>
#include <sparc/cdn/monitoring.hpp>
#include <sparc/cdn/origin_access.hpp>
#include <sparc/cdn/policies.hpp>

#include "detail/enums.hpp"
#include "detail/json_io.hpp"

namespace sparc::cdn {

using detail::Presence;
constexpr auto kOpt = Presence::optional;
constexpr auto kReq = Presence::required;

// ---- origins -------------------------------------------------------------------------------

SPARC_CDN_DESCRIBE(OriginCustomHeader) {
    io.required("HeaderName", v.header_name);
    io.required("HeaderValue", v.header_value);
}

SPARC_CDN_DESCRIBE(S3OriginConfig) {
    io.required("OriginAccessIdentity", v.origin_access_identity);
    io.optional("OriginReadTimeout", v.origin_read_timeout);
}

SPARC_CDN_DESCRIBE(CustomOriginConfig) {
    io.required("HTTPPort", v.http_port);
    io.required("HTTPSPort", v.https_port);
    io.required("OriginProtocolPolicy", v.origin_protocol_policy);
    io.list("OriginSslProtocols", v.origin_ssl_protocols, kOpt, kReq);
    io.optional("OriginReadTimeout", v.origin_read_timeout);
    io.optional("OriginKeepaliveTimeout", v.origin_keepalive_timeout);
}

SPARC_CDN_DESCRIBE(OriginShield) {
    io.required("Enabled", v.enabled);
    io.optional("OriginShieldRegion", v.origin_shield_region);
}

SPARC_CDN_DESCRIBE(VpcOriginConfig) {
    io.required("VpcOriginId", v.vpc_origin_id);
    io.optional("OwnerAccountId", v.owner_account_id);
    io.optional("OriginReadTimeout", v.origin_read_timeout);
    io.optional("OriginKeepaliveTimeout", v.origin_keepalive_timeout);
}

SPARC_CDN_DESCRIBE(Origin) {
    io.required("Id", v.id);
    io.required("DomainName", v.domain_name);
    io.optional("OriginPath", v.origin_path);
    io.list("CustomHeaders", v.custom_headers, kOpt, kOpt);
    io.optional("S3OriginConfig", v.s3_origin_config);
    io.optional("CustomOriginConfig", v.custom_origin_config);
    io.optional("VpcOriginConfig", v.vpc_origin_config);
    io.optional("ConnectionAttempts", v.connection_attempts);
    io.optional("ConnectionTimeout", v.connection_timeout);
    io.optional("OriginShield", v.origin_shield);
    io.optional("OriginAccessControlId", v.origin_access_control_id);
    io.optional("ResponseCompletionTimeout", v.response_completion_timeout);
}

namespace {
// OriginGroupMember is a one-member object; the C++ model keeps just the id.
struct OriginGroupMember {
    std::string origin_id;
};
SPARC_CDN_DESCRIBE(OriginGroupMember) { io.required("OriginId", v.origin_id); }
}  // namespace

SPARC_CDN_DESCRIBE(OriginGroup) {
    io.required("Id", v.id);
    io.object("FailoverCriteria", [&](auto& criteria) {
        criteria.list("StatusCodes", v.failover_status_codes, kReq, kReq);
    });
    std::vector<OriginGroupMember> members;
    if constexpr (!Io::kReading) {
        for (const auto& id : v.member_origin_ids) {
            members.push_back({id});
        }
    }
    io.list("Members", members, kReq, kReq);
    if constexpr (Io::kReading) {
        v.member_origin_ids.clear();
        for (auto& m : members) {
            v.member_origin_ids.push_back(std::move(m.origin_id));
        }
    }
}

// ---- cache behaviours ----------------------------------------------------------------------

SPARC_CDN_DESCRIBE(AllowedMethods) {
    io.inline_list(v.items, kReq);
    io.list("CachedMethods", v.cached_methods, kOpt, kReq);
}

SPARC_CDN_DESCRIBE(TrustedList) {
    io.required("Enabled", v.enabled);
    io.inline_list(v.items, kOpt);
}

SPARC_CDN_DESCRIBE(LambdaFunctionAssociation) {
    io.required("LambdaFunctionARN", v.lambda_function_arn);
    io.required("EventType", v.event_type);
    io.optional("IncludeBody", v.include_body);
}

SPARC_CDN_DESCRIBE(FunctionAssociation) {
    io.required("FunctionARN", v.function_arn);
    io.required("EventType", v.event_type);
}

SPARC_CDN_DESCRIBE(CookiePreference) {
    io.required("Forward", v.forward);
    io.list("WhitelistedNames", v.whitelisted_names, kOpt, kOpt);
}

SPARC_CDN_DESCRIBE(ForwardedValues) {
    io.required("QueryString", v.query_string);
    io.required("Cookies", v.cookies);
    io.list("Headers", v.headers, kOpt, kOpt);
    io.list("QueryStringCacheKeys", v.query_string_cache_keys, kOpt, kOpt);
}

namespace {
template <class Io, class Self>
void describe_behavior(Io& io, Self& v) {
    if constexpr (requires { v.path_pattern; }) {
        io.required("PathPattern", v.path_pattern);
    }
    io.required("TargetOriginId", v.target_origin_id);
    io.optional("TrustedSigners", v.trusted_signers);
    io.optional("TrustedKeyGroups", v.trusted_key_groups);
    io.required("ViewerProtocolPolicy", v.viewer_protocol_policy);
    io.optional("AllowedMethods", v.allowed_methods);
    io.optional("SmoothStreaming", v.smooth_streaming);
    io.optional("Compress", v.compress);
    io.list("LambdaFunctionAssociations", v.lambda_function_associations, kOpt, kOpt);
    io.list("FunctionAssociations", v.function_associations, kOpt, kOpt);
    io.optional("FieldLevelEncryptionId", v.field_level_encryption_id);
    io.optional("RealtimeLogConfigArn", v.realtime_log_config_arn);
    io.optional("CachePolicyId", v.cache_policy_id);
    io.optional("OriginRequestPolicyId", v.origin_request_policy_id);
    io.optional("ResponseHeadersPolicyId", v.response_headers_policy_id);
    io.optional("ForwardedValues", v.forwarded_values);
    io.optional("MinTTL", v.min_ttl);
    io.optional("DefaultTTL", v.default_ttl);
    io.optional("MaxTTL", v.max_ttl);
    io.optional("GrpcConfig", v.grpc_config);
}
}  // namespace

SPARC_CDN_DESCRIBE(GrpcConfig) { io.required("Enabled", v.enabled); }
SPARC_CDN_DESCRIBE(DefaultCacheBehavior) { describe_behavior(io, v); }
SPARC_CDN_DESCRIBE(CacheBehavior) { describe_behavior(io, v); }

// ---- distribution --------------------------------------------------------------------------

SPARC_CDN_DESCRIBE(CustomErrorResponse) {
    io.required("ErrorCode", v.error_code);
    io.optional("ResponsePagePath", v.response_page_path);
    io.optional("ResponseCode", v.response_code);
    io.optional("ErrorCachingMinTTL", v.error_caching_min_ttl);
}

SPARC_CDN_DESCRIBE(LoggingConfig) {
    io.required("Enabled", v.enabled);
    io.required("IncludeCookies", v.include_cookies);
    io.required("Bucket", v.bucket);
    io.required("Prefix", v.prefix);
}

SPARC_CDN_DESCRIBE(ViewerCertificate) {
    io.optional("CloudFrontDefaultCertificate", v.cloudfront_default_certificate);
    io.optional("IAMCertificateId", v.iam_certificate_id);
    io.optional("ACMCertificateArn", v.acm_certificate_arn);
    io.optional("SSLSupportMethod", v.ssl_support_method);
    io.optional("MinimumProtocolVersion", v.minimum_protocol_version);
    io.optional("Certificate", v.certificate);
    io.optional("CertificateSource", v.certificate_source);
}

SPARC_CDN_DESCRIBE(GeoRestriction) {
    io.required("RestrictionType", v.restriction_type);
    io.inline_list(v.locations, kOpt);
}

SPARC_CDN_DESCRIBE(Restrictions) { io.required("GeoRestriction", v.geo_restriction); }

SPARC_CDN_DESCRIBE(DistributionConfig) {
    io.required("CallerReference", v.caller_reference);
    io.list("Aliases", v.aliases, kOpt, kOpt);
    io.optional("DefaultRootObject", v.default_root_object);
    io.list("Origins", v.origins, kReq, kReq);
    io.list("OriginGroups", v.origin_groups, kOpt, kOpt);
    io.required("DefaultCacheBehavior", v.default_cache_behavior);
    io.list("CacheBehaviors", v.cache_behaviors, kOpt, kOpt);
    io.list("CustomErrorResponses", v.custom_error_responses, kOpt, kOpt);
    io.required("Comment", v.comment);
    io.optional("Logging", v.logging);
    io.optional("PriceClass", v.price_class);
    io.required("Enabled", v.enabled);
    io.optional("ViewerCertificate", v.viewer_certificate);
    io.optional("Restrictions", v.restrictions);
    io.optional("WebACLId", v.web_acl_id);
    io.optional("HttpVersion", v.http_version);
    io.optional("IsIPV6Enabled", v.is_ipv6_enabled);
    io.optional("ContinuousDeploymentPolicyId", v.continuous_deployment_policy_id);
    io.optional("Staging", v.staging);
    io.optional("AnycastIpListId", v.anycast_ip_list_id);
}

// ---- policies ------------------------------------------------------------------------------

SPARC_CDN_DESCRIBE(CachePolicyHeadersConfig) {
    io.required("HeaderBehavior", v.header_behavior);
    io.list("Headers", v.headers, kOpt, kOpt);
}
SPARC_CDN_DESCRIBE(CachePolicyCookiesConfig) {
    io.required("CookieBehavior", v.cookie_behavior);
    io.list("Cookies", v.cookies, kOpt, kOpt);
}
SPARC_CDN_DESCRIBE(CachePolicyQueryStringsConfig) {
    io.required("QueryStringBehavior", v.query_string_behavior);
    io.list("QueryStrings", v.query_strings, kOpt, kOpt);
}
SPARC_CDN_DESCRIBE(CacheKeyParameters) {
    io.required("EnableAcceptEncodingGzip", v.enable_accept_encoding_gzip);
    io.optional("EnableAcceptEncodingBrotli", v.enable_accept_encoding_brotli);
    io.required("HeadersConfig", v.headers_config);
    io.required("CookiesConfig", v.cookies_config);
    io.required("QueryStringsConfig", v.query_strings_config);
}
SPARC_CDN_DESCRIBE(CachePolicyConfig) {
    io.optional("Comment", v.comment);
    io.required("Name", v.name);
    io.optional("DefaultTTL", v.default_ttl);
    io.optional("MaxTTL", v.max_ttl);
    io.required("MinTTL", v.min_ttl);
    io.optional("ParametersInCacheKeyAndForwardedToOrigin",
                v.parameters_in_cache_key_and_forwarded_to_origin);
}

SPARC_CDN_DESCRIBE(OriginRequestPolicyHeadersConfig) {
    io.required("HeaderBehavior", v.header_behavior);
    io.list("Headers", v.headers, kOpt, kOpt);
}
SPARC_CDN_DESCRIBE(OriginRequestPolicyCookiesConfig) {
    io.required("CookieBehavior", v.cookie_behavior);
    io.list("Cookies", v.cookies, kOpt, kOpt);
}
SPARC_CDN_DESCRIBE(OriginRequestPolicyQueryStringsConfig) {
    io.required("QueryStringBehavior", v.query_string_behavior);
    io.list("QueryStrings", v.query_strings, kOpt, kOpt);
}
SPARC_CDN_DESCRIBE(OriginRequestPolicyConfig) {
    io.optional("Comment", v.comment);
    io.required("Name", v.name);
    io.required("HeadersConfig", v.headers_config);
    io.required("CookiesConfig", v.cookies_config);
    io.required("QueryStringsConfig", v.query_strings_config);
}

SPARC_CDN_DESCRIBE(CorsConfig) {
    io.list("AccessControlAllowOrigins", v.access_control_allow_origins, kReq, kReq);
    io.list("AccessControlAllowHeaders", v.access_control_allow_headers, kReq, kReq);
    io.list("AccessControlAllowMethods", v.access_control_allow_methods, kReq, kReq);
    io.required("AccessControlAllowCredentials", v.access_control_allow_credentials);
    io.list("AccessControlExposeHeaders", v.access_control_expose_headers, kOpt, kOpt);
    io.optional("AccessControlMaxAgeSec", v.access_control_max_age_sec);
    io.required("OriginOverride", v.origin_override);
}
SPARC_CDN_DESCRIBE(XssProtection) {
    io.required("Override", v.override_origin);
    io.required("Protection", v.protection);
    io.optional("ModeBlock", v.mode_block);
    io.optional("ReportUri", v.report_uri);
}
SPARC_CDN_DESCRIBE(FrameOptions) {
    io.required("Override", v.override_origin);
    io.required("FrameOption", v.frame_option);
}
SPARC_CDN_DESCRIBE(ReferrerPolicy) {
    io.required("Override", v.override_origin);
    io.required("ReferrerPolicy", v.referrer_policy);
}
SPARC_CDN_DESCRIBE(ContentSecurityPolicy) {
    io.required("Override", v.override_origin);
    io.required("ContentSecurityPolicy", v.content_security_policy);
}
SPARC_CDN_DESCRIBE(ContentTypeOptions) { io.required("Override", v.override_origin); }
SPARC_CDN_DESCRIBE(StrictTransportSecurity) {
    io.required("Override", v.override_origin);
    io.optional("IncludeSubdomains", v.include_subdomains);
    io.optional("Preload", v.preload);
    io.required("AccessControlMaxAgeSec", v.access_control_max_age_sec);
}
SPARC_CDN_DESCRIBE(SecurityHeadersConfig) {
    io.optional("XSSProtection", v.xss_protection);
    io.optional("FrameOptions", v.frame_options);
    io.optional("ReferrerPolicy", v.referrer_policy);
    io.optional("ContentSecurityPolicy", v.content_security_policy);
    io.optional("ContentTypeOptions", v.content_type_options);
    io.optional("StrictTransportSecurity", v.strict_transport_security);
}
SPARC_CDN_DESCRIBE(ServerTimingHeadersConfig) {
    io.required("Enabled", v.enabled);
    io.optional("SamplingRate", v.sampling_rate);
}
SPARC_CDN_DESCRIBE(ResponseCustomHeader) {
    io.required("Header", v.header);
    io.required("Value", v.value);
    io.required("Override", v.override_origin);
}
SPARC_CDN_DESCRIBE(ResponseHeadersPolicyConfig) {
    io.optional("Comment", v.comment);
    io.required("Name", v.name);
    io.optional("CorsConfig", v.cors_config);
    io.optional("SecurityHeadersConfig", v.security_headers_config);
    io.optional("ServerTimingHeadersConfig", v.server_timing_headers_config);
    io.list("CustomHeadersConfig", v.custom_headers, kOpt, kOpt);
}

// ---- origin access -------------------------------------------------------------------------

SPARC_CDN_DESCRIBE(OriginAccessIdentityConfig) {
    io.required("CallerReference", v.caller_reference);
    io.required("Comment", v.comment);
}
SPARC_CDN_DESCRIBE(OriginAccessControlConfig) {
    io.required("Name", v.name);
    io.optional("Description", v.description);
    io.required("SigningProtocol", v.signing_protocol);
    io.required("SigningBehavior", v.signing_behavior);
    io.required("OriginAccessControlOriginType", v.origin_access_control_origin_type);
}

std::string origin_access_identity_path(std::string_view identity_id) {
    return fmt::format("origin-access-identity/cloudfront/{}", identity_id);
}

// ---- field-level encryption ----------------------------------------------------------------

SPARC_CDN_DESCRIBE(PublicKeyConfig) {
    io.required("CallerReference", v.caller_reference);
    io.required("Name", v.name);
    io.required("EncodedKey", v.encoded_key);
    io.optional("Comment", v.comment);
}
SPARC_CDN_DESCRIBE(EncryptionEntity) {
    io.required("PublicKeyId", v.public_key_id);
    io.required("ProviderId", v.provider_id);
    io.list("FieldPatterns", v.field_patterns, kReq, kOpt);
}
SPARC_CDN_DESCRIBE(FieldLevelEncryptionProfileConfig) {
    io.required("Name", v.name);
    io.required("CallerReference", v.caller_reference);
    io.optional("Comment", v.comment);
    io.list("EncryptionEntities", v.encryption_entities, kReq, kOpt);
}
SPARC_CDN_DESCRIBE(QueryArgProfile) {
    io.required("QueryArg", v.query_arg);
    io.required("ProfileId", v.profile_id);
}
SPARC_CDN_DESCRIBE(QueryArgProfileConfig) {
    io.required("ForwardWhenQueryArgProfileIsUnknown", v.forward_when_query_arg_profile_is_unknown);
    io.list("QueryArgProfiles", v.query_arg_profiles, kOpt, kOpt);
}
SPARC_CDN_DESCRIBE(ContentTypeProfile) {
    io.required("Format", v.format);
    io.optional("ProfileId", v.profile_id);
    io.required("ContentType", v.content_type);
}
SPARC_CDN_DESCRIBE(ContentTypeProfileConfig) {
    io.required("ForwardWhenContentTypeIsUnknown", v.forward_when_content_type_is_unknown);
    io.list("ContentTypeProfiles", v.content_type_profiles, kOpt, kOpt);
}
SPARC_CDN_DESCRIBE(FieldLevelEncryptionConfig) {
    io.required("CallerReference", v.caller_reference);
    io.optional("Comment", v.comment);
    io.optional("QueryArgProfileConfig", v.query_arg_profile_config);
    io.optional("ContentTypeProfileConfig", v.content_type_profile_config);
}

// ---- monitoring ----------------------------------------------------------------------------

SPARC_CDN_DESCRIBE(KinesisStreamConfig) {
    io.required("RoleARN", v.role_arn);
    io.required("StreamARN", v.stream_arn);
}
SPARC_CDN_DESCRIBE(RealtimeLogEndPoint) {
    io.required("StreamType", v.stream_type);
    io.required("KinesisStreamConfig", v.kinesis_stream_config);
}
SPARC_CDN_DESCRIBE(RealtimeLogConfig) {
    io.array("EndPoints", v.end_points, kReq);
    io.array("Fields", v.fields, kReq);
    io.required("Name", v.name);
    io.required("SamplingRate", v.sampling_rate);
}
SPARC_CDN_DESCRIBE(MonitoringSubscription) {
    io.required("DistributionId", v.distribution_id);
    io.object("MonitoringSubscription", [&](auto& subscription) {
        subscription.object("RealtimeMetricsSubscriptionConfig", [&](auto& config) {
            config.required("RealtimeMetricsSubscriptionStatus",
                            v.realtime_metrics_subscription_status);
        });
    });
}

const std::vector<std::string_view>& realtime_log_fields() {
    static const std::vector<std::string_view> fields{"timestamp",
                                                      "c-ip",
                                                      "time-to-first-byte",
                                                      "sc-status",
                                                      "sc-bytes",
                                                      "cs-method",
                                                      "cs-protocol",
                                                      "cs-host",
                                                      "cs-uri-stem",
                                                      "cs-bytes",
                                                      "x-edge-location",
                                                      "x-edge-request-id",
                                                      "x-host-header",
                                                      "time-taken",
                                                      "cs-protocol-version",
                                                      "c-ip-version",
                                                      "cs-user-agent",
                                                      "cs-referer",
                                                      "cs-cookie",
                                                      "cs-uri-query",
                                                      "x-edge-response-result-type",
                                                      "x-forwarded-for",
                                                      "ssl-protocol",
                                                      "ssl-cipher",
                                                      "x-edge-result-type",
                                                      "fle-encrypted-fields",
                                                      "fle-status",
                                                      "sc-content-type",
                                                      "sc-content-len",
                                                      "sc-range-start",
                                                      "sc-range-end",
                                                      "c-port",
                                                      "x-edge-detailed-result-type",
                                                      "c-country",
                                                      "cs-accept-encoding",
                                                      "cs-accept",
                                                      "cache-behavior-path-pattern",
                                                      "cs-headers",
                                                      "cs-header-names",
                                                      "cs-headers-count",
                                                      "primary-distribution-id",
                                                      "primary-distribution-dns-name",
                                                      "origin-fbl",
                                                      "origin-lbl",
                                                      "asn"};
    return fields;
}

// ---- public conversions --------------------------------------------------------------------

SPARC_CDN_DEFINE_ENUM(OriginProtocolPolicy)
SPARC_CDN_DEFINE_ENUM(SslProtocol)
SPARC_CDN_DEFINE_ENUM(Method)
SPARC_CDN_DEFINE_ENUM(ViewerProtocolPolicy)
SPARC_CDN_DEFINE_ENUM(EventType)
SPARC_CDN_DEFINE_ENUM(ItemSelection)
SPARC_CDN_DEFINE_ENUM(PriceClass)
SPARC_CDN_DEFINE_ENUM(HttpVersion)
SPARC_CDN_DEFINE_ENUM(SslSupportMethod)
SPARC_CDN_DEFINE_ENUM(MinimumProtocolVersion)
SPARC_CDN_DEFINE_ENUM(CertificateSource)
SPARC_CDN_DEFINE_ENUM(GeoRestrictionType)
SPARC_CDN_DEFINE_ENUM(CachePolicyHeaderBehavior)
SPARC_CDN_DEFINE_ENUM(CachePolicyCookieBehavior)
SPARC_CDN_DEFINE_ENUM(CachePolicyQueryStringBehavior)
SPARC_CDN_DEFINE_ENUM(OriginRequestPolicyHeaderBehavior)
SPARC_CDN_DEFINE_ENUM(OriginRequestPolicyCookieBehavior)
SPARC_CDN_DEFINE_ENUM(OriginRequestPolicyQueryStringBehavior)
SPARC_CDN_DEFINE_ENUM(CorsMethod)
SPARC_CDN_DEFINE_ENUM(FrameOption)
SPARC_CDN_DEFINE_ENUM(ReferrerPolicyValue)
SPARC_CDN_DEFINE_ENUM(SigningProtocol)
SPARC_CDN_DEFINE_ENUM(SigningBehavior)
SPARC_CDN_DEFINE_ENUM(OriginAccessControlOriginType)
SPARC_CDN_DEFINE_ENUM(FieldLevelEncryptionFormat)
SPARC_CDN_DEFINE_ENUM(RealtimeMetricsSubscriptionStatus)

SPARC_CDN_DEFINE_JSON(OriginCustomHeader)
SPARC_CDN_DEFINE_JSON(S3OriginConfig)
SPARC_CDN_DEFINE_JSON(CustomOriginConfig)
SPARC_CDN_DEFINE_JSON(VpcOriginConfig)
SPARC_CDN_DEFINE_JSON(OriginShield)
SPARC_CDN_DEFINE_JSON(Origin)
SPARC_CDN_DEFINE_JSON(OriginGroup)
SPARC_CDN_DEFINE_JSON(AllowedMethods)
SPARC_CDN_DEFINE_JSON(TrustedList)
SPARC_CDN_DEFINE_JSON(LambdaFunctionAssociation)
SPARC_CDN_DEFINE_JSON(FunctionAssociation)
SPARC_CDN_DEFINE_JSON(CookiePreference)
SPARC_CDN_DEFINE_JSON(GrpcConfig)
SPARC_CDN_DEFINE_JSON(ForwardedValues)
SPARC_CDN_DEFINE_JSON(DefaultCacheBehavior)
SPARC_CDN_DEFINE_JSON(CacheBehavior)
SPARC_CDN_DEFINE_JSON(CustomErrorResponse)
SPARC_CDN_DEFINE_JSON(LoggingConfig)
SPARC_CDN_DEFINE_JSON(ViewerCertificate)
SPARC_CDN_DEFINE_JSON(GeoRestriction)
SPARC_CDN_DEFINE_JSON(Restrictions)
SPARC_CDN_DEFINE_JSON(DistributionConfig)
SPARC_CDN_DEFINE_JSON(CachePolicyHeadersConfig)
SPARC_CDN_DEFINE_JSON(CachePolicyCookiesConfig)
SPARC_CDN_DEFINE_JSON(CachePolicyQueryStringsConfig)
SPARC_CDN_DEFINE_JSON(CacheKeyParameters)
SPARC_CDN_DEFINE_JSON(CachePolicyConfig)
SPARC_CDN_DEFINE_JSON(OriginRequestPolicyHeadersConfig)
SPARC_CDN_DEFINE_JSON(OriginRequestPolicyCookiesConfig)
SPARC_CDN_DEFINE_JSON(OriginRequestPolicyQueryStringsConfig)
SPARC_CDN_DEFINE_JSON(OriginRequestPolicyConfig)
SPARC_CDN_DEFINE_JSON(CorsConfig)
SPARC_CDN_DEFINE_JSON(XssProtection)
SPARC_CDN_DEFINE_JSON(FrameOptions)
SPARC_CDN_DEFINE_JSON(ReferrerPolicy)
SPARC_CDN_DEFINE_JSON(ContentSecurityPolicy)
SPARC_CDN_DEFINE_JSON(ContentTypeOptions)
SPARC_CDN_DEFINE_JSON(StrictTransportSecurity)
SPARC_CDN_DEFINE_JSON(SecurityHeadersConfig)
SPARC_CDN_DEFINE_JSON(ServerTimingHeadersConfig)
SPARC_CDN_DEFINE_JSON(ResponseCustomHeader)
SPARC_CDN_DEFINE_JSON(ResponseHeadersPolicyConfig)
SPARC_CDN_DEFINE_JSON(OriginAccessIdentityConfig)
SPARC_CDN_DEFINE_JSON(OriginAccessControlConfig)
SPARC_CDN_DEFINE_JSON(PublicKeyConfig)
SPARC_CDN_DEFINE_JSON(EncryptionEntity)
SPARC_CDN_DEFINE_JSON(FieldLevelEncryptionProfileConfig)
SPARC_CDN_DEFINE_JSON(QueryArgProfile)
SPARC_CDN_DEFINE_JSON(QueryArgProfileConfig)
SPARC_CDN_DEFINE_JSON(ContentTypeProfile)
SPARC_CDN_DEFINE_JSON(ContentTypeProfileConfig)
SPARC_CDN_DEFINE_JSON(FieldLevelEncryptionConfig)
SPARC_CDN_DEFINE_JSON(KinesisStreamConfig)
SPARC_CDN_DEFINE_JSON(RealtimeLogEndPoint)
SPARC_CDN_DEFINE_JSON(RealtimeLogConfig)
SPARC_CDN_DEFINE_JSON(MonitoringSubscription)

DistributionConfig distribution_config_from_document(const nlohmann::json& document) {
    DistributionConfig config;
    if (document.is_object() && document.contains("DistributionConfig")) {
        for (const auto& [key, value] : document.items()) {
            if (key != "DistributionConfig" && key != "ETag") {
                throw JsonError(detail::pointer_append("", key),
                                fmt::format("unknown member \"{}\" next to DistributionConfig; "
                                            "expected only DistributionConfig and ETag",
                                            key));
            }
        }
        detail::read_object(document["DistributionConfig"], "/DistributionConfig", config);
    } else {
        detail::read_object(document, "", config);
    }
    return config;
}

}  // namespace sparc::cdn
