// The video platform's stack as one CloudFormation template.
//
// Every resource's properties come from the typed documents of the stack (the same objects
// the AWS CLI documents are written from), converted to CloudFormation's property shapes;
// the `{{Name}}` references between documents become Ref / Fn::GetAtt / Fn::Sub.

#include <sparc/cdn/cloudformation.hpp>

#include <cctype>
#include <fstream>
#include <map>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "detail/fingerprint.hpp"
#include "field_encryption_provider_source.hpp"

namespace sparc::cdn::cloudformation {

namespace {

using nlohmann::json;
namespace refs = presets::refs;

json ref(std::string_view id) { return {{"Ref", id}}; }
json get_att(std::string_view id, std::string_view attribute) {
    return {{"Fn::GetAtt", {id, attribute}}};
}

// How a `{{Name}}` reference is written: alone (the whole string) and inside Fn::Sub.
struct Resolution {
    json whole;
    std::string sub;
};

using Resolutions = std::map<std::string, Resolution, std::less<>>;

// `public_key_id` is the logical id of the stack's public key (it changes with the key).
Resolutions resolutions(std::string_view public_key_id) {
    Resolutions t;
    const auto by_ref = [&](std::string_view name, std::string_view id) {
        t[std::string(name)] = {ref(id), fmt::format("${{{}}}", id)};
    };
    const auto by_att = [&](std::string_view name, std::string_view id,
                            std::string_view attribute) {
        t[std::string(name)] = {get_att(id, attribute), fmt::format("${{{}.{}}}", id, attribute)};
    };
    by_ref(refs::kAccountId, "AWS::AccountId");
    by_ref(refs::kCertificateArn, ids::kCertificateArnParameter);
    by_att(refs::kWebAclArn, ids::kWebAcl, "Arn");
    by_att(refs::kOriginAccessControlId, ids::kOriginAccessControl, "Id");
    by_ref(refs::kOriginAccessIdentityId, ids::kOriginAccessIdentity);
    by_ref(refs::kPublicKeyId, public_key_id);
    by_ref(refs::kFieldEncryptionProfileId, ids::kFieldEncryptionProfile);
    by_ref(refs::kFieldEncryptionConfigId, ids::kFieldEncryptionConfig);
    by_att(refs::kVideoCachePolicyId, ids::kVideoCachePolicy, "Id");
    by_att(refs::kApiCachePolicyId, ids::kApiCachePolicy, "Id");
    by_att(refs::kStaticCachePolicyId, ids::kStaticCachePolicy, "Id");
    by_att(refs::kWebSocketOriginRequestPolicyId, ids::kWebSocketOriginRequestPolicy, "Id");
    by_att(refs::kSecurityHeadersPolicyId, ids::kSecurityHeadersPolicy, "Id");
    by_att(refs::kRealtimeLogConfigArn, ids::kRealtimeLogConfig, "Arn");
    by_ref(refs::kDistributionId, ids::kDistribution);
    return t;
}

// Writes a string holding `{{Name}}` references as the intrinsic function that yields it.
json resolve_string(const std::string& text, const Resolutions& table) {
    // The edge function's version ARN (arn:...:function:NAME:{{EdgeAuthFunctionVersion}}) is
    // exactly what Ref of the AWS::Lambda::Version returns.
    if (text.find(placeholder(refs::kEdgeAuthVersion)) != std::string::npos) {
        return ref(ids::kEdgeAuthVersion);
    }
    std::string sub;
    std::size_t pos = 0;
    bool only_token = false;
    const Resolution* last = nullptr;
    while (pos < text.size()) {
        const auto open = text.find("{{", pos);
        const auto literal = text.substr(pos, open == std::string::npos ? open : open - pos);
        for (std::size_t i = 0; i < literal.size(); ++i) {
            sub += literal[i];
            if (literal[i] == '$' && i + 1 < literal.size() && literal[i + 1] == '{') {
                sub += "{!";  // a literal "${" in Fn::Sub
                ++i;
            }
        }
        if (open == std::string::npos) {
            break;
        }
        const auto close = text.find("}}", open);
        if (close == std::string::npos) {
            throw std::logic_error(fmt::format("unterminated reference in \"{}\"", text));
        }
        const auto name = text.substr(open + 2, close - open - 2);
        const auto it = table.find(name);
        if (it == table.end()) {
            throw std::logic_error(fmt::format("no CloudFormation resource for {{{{{}}}}}", name));
        }
        only_token = open == 0 && close + 2 == text.size();
        last = &it->second;
        sub += it->second.sub;
        pos = close + 2;
    }
    if (only_token && last != nullptr) {
        return last->whole;
    }
    return {{"Fn::Sub", sub}};
}

// Replaces `literals` (exact string values) and then every `{{Name}}` reference below `node`.
json resolve(const json& node, const std::map<std::string, json>& literals,
             const Resolutions& table) {
    if (node.is_string()) {
        const auto& text = node.get_ref<const std::string&>();
        if (const auto it = literals.find(text); it != literals.end()) {
            return it->second;
        }
        return has_placeholder(text) ? resolve_string(text, table) : node;
    }
    if (node.is_array() || node.is_object()) {
        json out = node;
        for (auto& [key, value] : out.items()) {
            value = resolve(value, literals, table);
        }
        return out;
    }
    return node;
}

json tag_list(const presets::VideoPlatformParams& p) {
    json tags = json::array();
    for (const auto& [key, value] : p.tags) {
        tags.push_back({{"Key", key}, {"Value", value}});
    }
    return tags;
}

json resource(std::string_view type, json properties) {
    return {{"Type", type}, {"Properties", std::move(properties)}};
}

json assume_role(std::initializer_list<std::string_view> services) {
    json principals = json::array();
    for (auto s : services) {
        principals.push_back(s);
    }
    return {{"Version", "2012-10-17"},
            {"Statement",
             {{{"Effect", "Allow"},
               {"Principal", {{"Service", principals}}},
               {"Action", "sts:AssumeRole"}}}}};
}

const json& basic_execution_policy() {
    static const json arn = {
        {"Fn::Sub",
         "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}};
    return arn;
}

// 64-bit FNV-1a of the edge package: a new value publishes a new function version.
std::string fingerprint(const std::vector<presets::BundleFile>& files) {
    detail::Fingerprint hash;
    for (const auto& f : files) {
        hash.add(f.name).add(f.contents);
    }
    return hash.hex16();
}

void write_file(const std::filesystem::path& path, std::string_view contents) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.close();  // a full disk may only show when the buffer is flushed
    if (!out) {
        throw std::runtime_error(fmt::format("cannot write {}", path.string()));
    }
}

constexpr std::string_view kEdgeCodeDir = "edge-auth";
constexpr std::string_view kProviderCodeDir = "field-encryption-provider";

}  // namespace

std::vector<presets::BundleFile> field_encryption_provider_bundle() {
    return {{"index.py", std::string(detail::kFieldEncryptionProviderPy)}};
}

std::string public_key_logical_id(const presets::VideoPlatformStack& stack) {
    const auto& key = stack.field_encryption_public_key;
    return fmt::format("{}{}", ids::kPublicKey,
                       detail::Fingerprint().add(key.name).add(key.encoded_key).hex8());
}

json stack_template(const presets::VideoPlatformStack& s) {
    const auto& p = s.params;
    const auto public_key_id = public_key_logical_id(s);
    const auto tags = tag_list(p);
    json r = json::object();

    // Values that name resources the template creates itself.
    std::map<std::string, json> literals;
    literals[p.logs_bucket + ".s3.amazonaws.com"] = get_att(ids::kLogBucket, "DomainName");
    if (s.derived.kinesis_stream) {
        literals[p.kinesis_stream_arn] = get_att(ids::kRealtimeLogStream, "Arn");
    }
    if (s.derived.realtime_logs_role) {
        literals[p.realtime_logs_role_arn] = get_att(ids::kRealtimeLogRole, "Arn");
    }
    if (s.derived.edge_function_role) {
        literals[p.edge_function_role_arn] = get_att(ids::kEdgeAuthRole, "Arn");
    }

    // Lambda@Edge: role, function, published version.
    if (s.derived.edge_function_role) {
        r[ids::kEdgeAuthRole] = resource(
            "AWS::IAM::Role", {{"AssumeRolePolicyDocument",
                                assume_role({"lambda.amazonaws.com", "edgelambda.amazonaws.com"})},
                               {"ManagedPolicyArns", {basic_execution_policy()}},
                               {"Tags", tags}});
    }
    json function = json(s.edge_auth_function);
    function.erase("Publish");  // the AWS::Lambda::Version below publishes
    function["Code"] = kEdgeCodeDir;
    function["Tags"] = tags;
    // CloudFront keeps replicas of a Lambda@Edge function for hours after the distribution
    // stops using it, and until they are gone Lambda refuses to delete the function or any of
    // its versions. So neither delete-stack nor a replacement (a new FunctionName) deletes
    // them: CloudFormation leaves them (Retain) instead of ending DELETE_FAILED; docs/cdn.md
    // says how to delete them later.
    json edge_function = resource("AWS::Lambda::Function", function);
    edge_function["DeletionPolicy"] = "Retain";
    edge_function["UpdateReplacePolicy"] = "Retain";
    r[ids::kEdgeAuthFunction] = edge_function;
    // Versions are immutable: a new package fingerprint replaces the resource, which publishes
    // a new version; the old one is retained for the same reason.
    json version =
        resource("AWS::Lambda::Version",
                 {{"FunctionName", ref(ids::kEdgeAuthFunction)},
                  {"Description", fmt::format("package {}", fingerprint(s.edge_auth_bundle))}});
    version["DeletionPolicy"] = "Retain";
    version["UpdateReplacePolicy"] = "Retain";
    r[ids::kEdgeAuthVersion] = version;

    json web_acl = json(s.web_acl);
    web_acl["Tags"] = tags;
    r[ids::kWebAcl] = resource("AWS::WAFv2::WebACL", web_acl);

    if (s.origin_access_control) {
        r[ids::kOriginAccessControl] =
            resource("AWS::CloudFront::OriginAccessControl",
                     {{"OriginAccessControlConfig", json(*s.origin_access_control)}});
    }
    if (s.origin_access_identity) {
        json config = json(*s.origin_access_identity);
        config.erase("CallerReference");
        r[ids::kOriginAccessIdentity] =
            resource("AWS::CloudFront::CloudFrontOriginAccessIdentity",
                     {{"CloudFrontOriginAccessIdentityConfig", config}});
    }

    // Field-level encryption: the key is a native resource; profile and configuration are
    // custom resources served by a small provider function. CloudFront cannot change a public
    // key's name or key (UpdatePublicKey changes only the comment), so the logical id, name
    // and caller reference carry a fingerprint of them: a new key is a new resource, created
    // before the profile is updated to use it and the old key deleted.
    r[public_key_id] = resource("AWS::CloudFront::PublicKey",
                                {{"PublicKeyConfig", json(s.field_encryption_public_key)}});
    json provider_policy = {
        {"PolicyName", "field-level-encryption"},
        {"PolicyDocument",
         {{"Version", "2012-10-17"},
          {"Statement",
           {{{"Effect", "Allow"},
             {"Action",
              {"cloudfront:CreateFieldLevelEncryptionProfile",
               "cloudfront:GetFieldLevelEncryptionProfile",
               "cloudfront:UpdateFieldLevelEncryptionProfile",
               "cloudfront:DeleteFieldLevelEncryptionProfile",
               "cloudfront:CreateFieldLevelEncryptionConfig", "cloudfront:GetFieldLevelEncryption",
               "cloudfront:UpdateFieldLevelEncryptionConfig",
               "cloudfront:DeleteFieldLevelEncryptionConfig", "cloudfront:GetPublicKey"}},
             {"Resource", "*"}}}}}}};
    r[ids::kFieldEncryptionProviderRole] = resource(
        "AWS::IAM::Role", {{"AssumeRolePolicyDocument", assume_role({"lambda.amazonaws.com"})},
                           {"ManagedPolicyArns", {basic_execution_policy()}},
                           {"Policies", {provider_policy}},
                           {"Tags", tags}});
    r[ids::kFieldEncryptionProvider] = resource(
        "AWS::Lambda::Function",
        {{"Description", "CloudFormation provider of CloudFront field-level encryption resources"},
         {"Runtime", "python3.12"},
         {"Handler", "index.handler"},
         {"Role", get_att(ids::kFieldEncryptionProviderRole, "Arn")},
         {"Code", kProviderCodeDir},
         {"Timeout", 60},
         {"Tags", tags}});
    const auto provider = get_att(ids::kFieldEncryptionProvider, "Arn");
    r[ids::kFieldEncryptionProfile] =
        resource("Custom::FieldLevelEncryptionProfile",
                 {{"ServiceToken", provider},
                  {"FieldLevelEncryptionProfileConfig", json(s.field_encryption_profile)}});
    r[ids::kFieldEncryptionConfig] =
        resource("Custom::FieldLevelEncryptionConfig",
                 {{"ServiceToken", provider},
                  {"FieldLevelEncryptionConfig", json(s.field_encryption_config)}});

    // Policies.
    const auto cache_policy = [&](const CachePolicyConfig& c) {
        return resource("AWS::CloudFront::CachePolicy",
                        {{"CachePolicyConfig", cache_policy_config(json(c))}});
    };
    r[ids::kVideoCachePolicy] = cache_policy(s.video_cache_policy);
    r[ids::kApiCachePolicy] = cache_policy(s.api_cache_policy);
    r[ids::kStaticCachePolicy] = cache_policy(s.static_cache_policy);
    r[ids::kWebSocketOriginRequestPolicy] =
        resource("AWS::CloudFront::OriginRequestPolicy",
                 {{"OriginRequestPolicyConfig",
                   origin_request_policy_config(json(s.websocket_origin_request_policy))}});
    r[ids::kSecurityHeadersPolicy] =
        resource("AWS::CloudFront::ResponseHeadersPolicy",
                 {{"ResponseHeadersPolicyConfig",
                   response_headers_policy_config(json(s.security_headers_policy))}});

    // Real-time logs: stream, the role CloudFront writes with, the configuration.
    if (s.derived.kinesis_stream) {
        const auto name = p.kinesis_stream_arn.substr(p.kinesis_stream_arn.rfind('/') + 1);
        r[ids::kRealtimeLogStream] = resource(
            "AWS::Kinesis::Stream",
            {{"Name", name},
             {"StreamModeDetails", {{"StreamMode", "ON_DEMAND"}}},
             {"StreamEncryption", {{"EncryptionType", "KMS"}, {"KeyId", "alias/aws/kinesis"}}},
             {"Tags", tags}});
    }
    if (s.derived.realtime_logs_role) {
        json put_records = {{"PolicyName", "put-realtime-logs"},
                            {"PolicyDocument",
                             {{"Version", "2012-10-17"},
                              {"Statement",
                               {{{"Effect", "Allow"},
                                 {"Action",
                                  {"kinesis:DescribeStreamSummary", "kinesis:DescribeStream",
                                   "kinesis:PutRecord", "kinesis:PutRecords"}},
                                 {"Resource", p.kinesis_stream_arn}}}}}}};
        r[ids::kRealtimeLogRole] =
            resource("AWS::IAM::Role",
                     {{"AssumeRolePolicyDocument", assume_role({"cloudfront.amazonaws.com"})},
                      {"Policies", {put_records}},
                      {"Tags", tags}});
    }
    r[ids::kRealtimeLogConfig] = resource("AWS::CloudFront::RealtimeLogConfig",
                                          realtime_log_config(json(s.realtime_log_config)));

    // Standard logs: CloudFront writes them with ACLs, so the bucket must allow ACLs.
    json bucket = resource(
        "AWS::S3::Bucket",
        {{"BucketName", p.logs_bucket},
         {"OwnershipControls", {{"Rules", {{{"ObjectOwnership", "BucketOwnerPreferred"}}}}}},
         {"PublicAccessBlockConfiguration",
          {{"BlockPublicAcls", true},
           {"BlockPublicPolicy", true},
           {"IgnorePublicAcls", true},
           {"RestrictPublicBuckets", true}}},
         {"BucketEncryption",
          {{"ServerSideEncryptionConfiguration",
            {{{"ServerSideEncryptionByDefault", {{"SSEAlgorithm", "AES256"}}}}}}}},
         {"Tags", tags}});
    bucket["DeletionPolicy"] = "Retain";  // logs outlive the stack
    bucket["UpdateReplacePolicy"] = "Retain";
    r[ids::kLogBucket] = bucket;

    r[ids::kDistribution] = resource(
        "AWS::CloudFront::Distribution",
        {{"DistributionConfig", distribution_config(json(s.distribution))}, {"Tags", tags}});
    r[ids::kMonitoringSubscription] =
        resource("AWS::CloudFront::MonitoringSubscription", json(s.monitoring_subscription));

    for (const auto& alarm : s.alarms) {
        std::string id = "Alarm";
        for (char c : alarm.metric_name.value_or(alarm.alarm_name)) {
            if (std::isalnum(static_cast<unsigned char>(c))) {
                id += c;
            }
        }
        json properties = json(alarm);
        r[id] = resource("AWS::CloudWatch::Alarm", properties);
    }

    json t;
    t["AWSTemplateFormatVersion"] = "2010-09-09";
    t["Description"] = fmt::format(
        "SPARC {} video platform CDN, rendered by sparc-cdn. Deploy in us-east-1.", p.environment);
    if (p.certificate_arn == placeholder(refs::kCertificateArn)) {
        t["Parameters"][ids::kCertificateArnParameter] = {
            {"Type", "String"},
            {"Description", fmt::format("ARN of the issued ACM certificate (us-east-1) for {}",
                                        p.cdn_domain_name)},
            {"AllowedPattern", "arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/.+"}};
    }
    t["Resources"] = resolve(r, literals, resolutions(public_key_id));
    t["Outputs"] = {
        {"DistributionId", {{"Value", ref(ids::kDistribution)}}},
        {"DistributionDomainName", {{"Value", get_att(ids::kDistribution, "DomainName")}}},
        {"WebAclArn", {{"Value", get_att(ids::kWebAcl, "Arn")}}},
        {"EdgeAuthFunctionVersionArn", {{"Value", ref(ids::kEdgeAuthVersion)}}},
        {"LogBucket", {{"Value", ref(ids::kLogBucket)}}}};
    return t;
}

std::vector<std::string> write_template(const presets::VideoPlatformStack& stack,
                                        const std::filesystem::path& directory) {
    namespace fs = std::filesystem;
    std::vector<std::string> written;
    const auto put = [&](const fs::path& relative, std::string_view contents) {
        fs::create_directories((directory / relative).parent_path());
        write_file(directory / relative, contents);
        written.push_back(relative.generic_string());
    };
    put("template.json", stack_template(stack).dump(2) + "\n");
    for (const auto& file : stack.edge_auth_bundle) {
        put(fs::path(kEdgeCodeDir) / file.name, file.contents);
    }
    for (const auto& file : field_encryption_provider_bundle()) {
        put(fs::path(kProviderCodeDir) / file.name, file.contents);
    }
    return written;
}

}  // namespace sparc::cdn::cloudformation
