// Deployment of a stack: one AWS CLI input document per call, and the script that runs them.

#include <sparc/cdn/deploy.hpp>

#include <fstream>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace sparc::cdn {

namespace {

constexpr std::string_view kRegion = "us-east-1";

std::string pretty(const nlohmann::json& value) { return value.dump(2) + "\n"; }

ApiCall make_call(std::string service, std::string operation, const nlohmann::json& input,
                  std::optional<std::string> query = std::nullopt,
                  std::optional<std::string_view> name = std::nullopt) {
    ApiCall call;
    call.service = std::move(service);
    call.operation = std::move(operation);
    call.input = pretty(input);
    call.region = std::string(kRegion);
    call.output_query = std::move(query);
    if (name) {
        call.output_name = std::string(*name);
    }
    return call;
}

void write_file(const std::filesystem::path& path, std::string_view contents) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) {
        throw std::runtime_error(fmt::format("cannot write {}", path.string()));
    }
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.close();  // a full disk may only show when the buffer is flushed
    if (!out) {
        throw std::runtime_error(fmt::format("cannot write {}", path.string()));
    }
}

// Single-quotes a value for the shell.
std::string shell_quote(std::string_view value) {
    std::string out = "'";
    for (char c : value) {
        if (c == '\'') {
            out += "'\\''";
        } else {
            out += c;
        }
    }
    return out + "'";
}

constexpr std::string_view kScriptHead = R"sh(#!/bin/sh
# Creates the SPARC {environment} CDN stack rendered by `sparc-cdn render`.
#
# Needs the AWS CLI and python3, and credentials allowed to create the resources. Each call
# sends one NN-SERVICE-OPERATION.json document of this directory (--cli-input-json); the id
# or ARN it creates replaces the matching {{{{Name}}}} reference in the documents after it.
# The documents here are left untouched: the calls use substituted copies in a temporary
# directory. Every call is made in us-east-1, where CloudFront's global resources live.
#
# Create-only: it cannot update what it created (a second run fails at its first call, and a
# failure half-way leaves the resources created so far). To deploy, update and delete the stack
# as a whole, use `sparc-cdn render --format cloudformation` (docs/cdn.md).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
cp "$here"/[0-9][0-9]-*.json "$work"/

# substitute NAME VALUE: replaces {{{{NAME}}}} with VALUE in every document still to be sent.
substitute() {{
    if [ -z "$2" ] || [ "$2" = None ]; then
        echo "deploy.sh: no value for $1" >&2
        exit 1
    fi
    python3 - "$work" "$1" "$2" <<'PY'
import json
import pathlib
import sys

work, name, value = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
token = "{{{{" + name + "}}}}"


def walk(node):
    if isinstance(node, str):
        return node.replace(token, value)
    if isinstance(node, list):
        return [walk(item) for item in node]
    if isinstance(node, dict):
        return {{key: walk(item) for key, item in node.items()}}
    return node


for path in sorted(work.glob("*.json")):
    document = json.loads(path.read_text())
    path.write_text(json.dumps(walk(document), indent=2) + "\n")
PY
}}

# call FILE SERVICE OPERATION [QUERY NAME]: sends FILE; with QUERY, substitutes the result as NAME.
call() {{
    file=$1
    service=$2
    operation=$3
    if grep -q '{{{{' "$work/$file"; then
        echo "deploy.sh: $file still refers to resources not created yet" >&2
        exit 1
    fi
    if [ $# -ge 5 ]; then
        value=$(aws "$service" "$operation" --region {region} \
            --cli-input-json "file://$work/$file" --query "$4" --output text)
        echo "$file: $5=$value" >&2
        substitute "$5" "$value"
    else
        aws "$service" "$operation" --region {region} \
            --cli-input-json "file://$work/$file" >/dev/null
        echo "$file: done" >&2
    fi
}}

)sh";

}  // namespace

std::vector<ApiCall> deployment_calls(const presets::VideoPlatformStack& stack) {
    namespace refs = presets::refs;
    std::vector<ApiCall> calls;
    calls.push_back(make_call("lambda", "create-function", stack.edge_auth_function, "Version",
                              refs::kEdgeAuthVersion));
    calls.push_back(
        make_call("wafv2", "create-web-acl", stack.web_acl, "Summary.ARN", refs::kWebAclArn));
    if (stack.origin_access_control) {
        calls.push_back(make_call("cloudfront", "create-origin-access-control",
                                  {{"OriginAccessControlConfig", *stack.origin_access_control}},
                                  "OriginAccessControl.Id", refs::kOriginAccessControlId));
    }
    if (stack.origin_access_identity) {
        calls.push_back(
            make_call("cloudfront", "create-cloud-front-origin-access-identity",
                      {{"CloudFrontOriginAccessIdentityConfig", *stack.origin_access_identity}},
                      "CloudFrontOriginAccessIdentity.Id", refs::kOriginAccessIdentityId));
    }
    calls.push_back(make_call("cloudfront", "create-public-key",
                              {{"PublicKeyConfig", stack.field_encryption_public_key}},
                              "PublicKey.Id", refs::kPublicKeyId));
    calls.push_back(
        make_call("cloudfront", "create-field-level-encryption-profile",
                  {{"FieldLevelEncryptionProfileConfig", stack.field_encryption_profile}},
                  "FieldLevelEncryptionProfile.Id", refs::kFieldEncryptionProfileId));
    calls.push_back(make_call("cloudfront", "create-field-level-encryption-config",
                              {{"FieldLevelEncryptionConfig", stack.field_encryption_config}},
                              "FieldLevelEncryption.Id", refs::kFieldEncryptionConfigId));
    calls.push_back(make_call("cloudfront", "create-cache-policy",
                              {{"CachePolicyConfig", stack.video_cache_policy}}, "CachePolicy.Id",
                              refs::kVideoCachePolicyId));
    calls.push_back(make_call("cloudfront", "create-cache-policy",
                              {{"CachePolicyConfig", stack.api_cache_policy}}, "CachePolicy.Id",
                              refs::kApiCachePolicyId));
    calls.push_back(make_call("cloudfront", "create-cache-policy",
                              {{"CachePolicyConfig", stack.static_cache_policy}}, "CachePolicy.Id",
                              refs::kStaticCachePolicyId));
    calls.push_back(
        make_call("cloudfront", "create-origin-request-policy",
                  {{"OriginRequestPolicyConfig", stack.websocket_origin_request_policy}},
                  "OriginRequestPolicy.Id", refs::kWebSocketOriginRequestPolicyId));
    calls.push_back(make_call("cloudfront", "create-response-headers-policy",
                              {{"ResponseHeadersPolicyConfig", stack.security_headers_policy}},
                              "ResponseHeadersPolicy.Id", refs::kSecurityHeadersPolicyId));
    calls.push_back(make_call("cloudfront", "create-realtime-log-config", stack.realtime_log_config,
                              "RealtimeLogConfig.ARN", refs::kRealtimeLogConfigArn));
    calls.push_back(make_call("cloudfront", "create-distribution",
                              {{"DistributionConfig", stack.distribution}}, "Distribution.Id",
                              refs::kDistributionId));
    calls.push_back(
        make_call("cloudfront", "create-monitoring-subscription", stack.monitoring_subscription));
    for (const auto& alarm : stack.alarms) {
        calls.push_back(make_call("cloudwatch", "put-metric-alarm", alarm));
    }
    return calls;
}

std::string call_file_name(std::size_t index, const ApiCall& call) {
    return fmt::format("{:02}-{}-{}.json", index + 1, call.service, call.operation);
}

std::string deploy_script(const presets::VideoPlatformStack& stack,
                          const std::vector<ApiCall>& calls) {
    const auto& p = stack.params;
    std::string script = fmt::format(kScriptHead, fmt::arg("environment", p.environment),
                                     fmt::arg("region", kRegion));
    const auto uses = [&](std::string_view name) {
        const auto token = placeholder(name);
        for (const auto& call : calls) {
            if (call.input.find(token) != std::string::npos) {
                return true;
            }
        }
        return false;
    };
    if (uses(presets::refs::kAccountId)) {
        script += "# The account the resources belong to.\n";
        script += fmt::format(
            "substitute {} \"$(aws sts get-caller-identity --query Account --output text)\"\n\n",
            presets::refs::kAccountId);
    }
    if (uses(presets::refs::kCertificateArn)) {
        script += fmt::format(
            "# The issued us-east-1 ACM certificate for {0}.\n"
            "substitute {1} \"$(aws acm list-certificates --region {2} --certificate-statuses "
            "ISSUED \\\n"
            "    --query \"CertificateSummaryList[?DomainName=='{0}'].CertificateArn | [0]\" "
            "--output text)\"\n\n",
            p.cdn_domain_name, presets::refs::kCertificateArn, kRegion);
    }
    const auto& code = stack.edge_auth_function.code;
    script += "# Package the edge function (code and its configuration) and upload it.\n";
    script += "python3 -m zipfile -c \"$work/edge-auth.zip\"";
    for (const auto& file : stack.edge_auth_bundle) {
        script += fmt::format(" \"$here/edge-auth/{}\"", file.name);
    }
    script += "\n";
    script +=
        fmt::format("aws s3 cp \"$work/edge-auth.zip\" {} --region {}\n\n",
                    shell_quote(fmt::format("s3://{}/{}", code.s3_bucket, code.s3_key)), kRegion);
    for (std::size_t i = 0; i < calls.size(); ++i) {
        const auto& c = calls[i];
        script += fmt::format("call {} {} {}", call_file_name(i, c), c.service, c.operation);
        if (c.output_query && c.output_name) {
            script += fmt::format(" {} {}", shell_quote(*c.output_query), *c.output_name);
        }
        script += "\n";
        if (c.service == "lambda" && c.operation == "create-function") {
            // CloudFront rejects a function version that is still being created.
            script +=
                fmt::format("aws lambda wait function-active --region {} --function-name {}\n",
                            kRegion, shell_quote(stack.edge_auth_function.function_name));
        }
    }
    script += fmt::format(
        "\necho \"Created. Grant the distribution read access in the policies of the S3 buckets "
        "{} and {}.\" >&2\n",
        p.video_bucket, p.static_assets_bucket);
    return script;
}

void write_deployment(const presets::VideoPlatformStack& stack,
                      const std::filesystem::path& directory) {
    namespace fs = std::filesystem;
    fs::create_directories(directory / "edge-auth");
    const auto calls = deployment_calls(stack);
    for (std::size_t i = 0; i < calls.size(); ++i) {
        write_file(directory / call_file_name(i, calls[i]), calls[i].input);
    }
    for (const auto& file : stack.edge_auth_bundle) {
        write_file(directory / "edge-auth" / file.name, file.contents);
    }
    const auto script = directory / "deploy.sh";
    write_file(script, deploy_script(stack, calls));
    fs::permissions(script, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                    fs::perm_options::add);
}

}  // namespace sparc::cdn
