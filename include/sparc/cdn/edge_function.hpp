#pragma once
/// @file edge_function.hpp
/// Lambda@Edge functions (input of lambda CreateFunction, API 2015-03-31).

#include <optional>
#include <string>
#include <string_view>

#include <sparc/cdn/json.hpp>

namespace sparc::cdn {

/// Where the deployment package of a function is stored (`FunctionCode`).
struct FunctionCode {
    std::string s3_bucket;  ///< `S3Bucket`, in the function's region (us-east-1 for the edge)
    std::string s3_key;     ///< `S3Key`
    bool operator==(const FunctionCode&) const = default;
};

/// A Lambda function to replicate to CloudFront's edge (input of CreateFunction).
///
/// Lambda@Edge functions live in us-east-1, have no environment variables, and at viewer
/// events run for at most 5 seconds with at most 128 MB, so configuration such as a public
/// key travels inside the deployment package.
struct EdgeFunction {
    std::string function_name;               ///< `FunctionName`
    std::string runtime = "nodejs22.x";      ///< `Runtime`
    std::string role;                        ///< `Role`: trusted by edgelambda.amazonaws.com
    std::string handler = "index.handler";   ///< `Handler`
    FunctionCode code;                       ///< `Code`
    std::optional<std::string> description;  ///< `Description`
    std::optional<int> timeout;              ///< `Timeout`, seconds (viewer events: 1-5)
    std::optional<int> memory_size;          ///< `MemorySize`, MB (viewer events: 128)
    bool publish = true;                     ///< `Publish`: CloudFront needs a version
    bool operator==(const EdgeFunction&) const = default;
};

/// @name JSON conversion (AWS member names)
///@{
SPARC_CDN_DECLARE_JSON(FunctionCode)
SPARC_CDN_DECLARE_JSON(EdgeFunction)
///@}

}  // namespace sparc::cdn
