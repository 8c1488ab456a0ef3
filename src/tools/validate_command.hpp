#pragma once
// `sparc-cdn validate`: checks any document `sparc-cdn render` writes.

#include <stdexcept>
#include <string_view>
#include <vector>

namespace sparc_cdn_tool {

inline constexpr std::string_view kValidateUsage = R"(usage: sparc-cdn validate [--strict] FILE.json
  Check a document: a DistributionConfig (bare, {"DistributionConfig": ...} or the output of
  get-distribution-config), or any NN-SERVICE-OPERATION.json that render writes. Prints each
  problem with its JSON pointer (exit 1), or "FILE.json: ok" (exit 0). Members and values
  newer than this library are warnings; --strict makes them errors.
  A CloudFormation template (template.json): references, DependsOn (cycles too) and resource
  types, and each resource's properties with the validator of its kind (problems at
  /Resources/ID/Properties/...); resources of other types are "not checked" notes on stderr.
  FILE.json may be at most 16 MiB; a directory or larger file is an input error (exit 2).
)";

// A mistake in the command line of a subcommand.
class CommandUsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

int validate_command(const std::vector<std::string_view>& args);

}  // namespace sparc_cdn_tool
