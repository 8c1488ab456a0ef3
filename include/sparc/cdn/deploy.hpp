#pragma once
/// @file deploy.hpp
/// Turning a stack into AWS CLI calls and a deployment script.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <sparc/cdn/presets.hpp>

namespace sparc::cdn {

/// One AWS API call of a deployment.
struct ApiCall {
    std::string service;    ///< AWS CLI service, e.g. "cloudfront"
    std::string operation;  ///< AWS CLI operation, e.g. "create-distribution"
    std::string input;      ///< The complete `--cli-input-json` document, pretty-printed
    std::string region;     ///< Region the call is made in
    /// JMESPath (`--query`) selecting the created id or ARN later calls refer to.
    std::optional<std::string> output_query;
    /// Name of the `{{Name}}` placeholder the selected value replaces in later documents.
    std::optional<std::string> output_name;
};

/// The calls that create `stack`, in an order where every reference is created first.
std::vector<ApiCall> deployment_calls(const presets::VideoPlatformStack& stack);

/// The file name of the `index`-th call (0-based): "NN-SERVICE-OPERATION.json".
std::string call_file_name(std::size_t index, const ApiCall& call);

/// A POSIX shell script making `calls` with the AWS CLI, substituting each created id or ARN
/// into the documents that follow (python3 does the substitution).
std::string deploy_script(const presets::VideoPlatformStack& stack,
                          const std::vector<ApiCall>& calls);

/// Writes one file per call, the edge function package sources under `edge-auth/`, and
/// `deploy.sh` into `directory`, which is created if needed.
/// @throws std::filesystem::filesystem_error or std::runtime_error on I/O failure.
void write_deployment(const presets::VideoPlatformStack& stack,
                      const std::filesystem::path& directory);

}  // namespace sparc::cdn
