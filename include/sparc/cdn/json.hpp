#pragma once
/// @file json.hpp
/// JSON conversion support for sparc::cdn: errors, bounded parsing and the placeholder convention.
///
/// Every document type in sparc::cdn converts to and from nlohmann::json through ADL
/// `to_json`/`from_json`, declared next to the type. Reading is strict: a member the AWS API
/// does not define, a wrong type, an unknown enumerator, a missing required member or a
/// `Quantity` that disagrees with `Items` throws JsonError naming the JSON pointer at fault.

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace sparc::cdn {

/// A JSON document does not have the shape of the AWS type it is read as.
class JsonError : public std::runtime_error {
  public:
    /// What is wrong: the shape, or a member or enumeration value this library does not know
    /// (which a newer AWS API may have added).
    enum class Kind { shape, unknown_member, unknown_value };
    /// `pointer` is the RFC 6901 JSON pointer of the offending value ("" for the root).
    JsonError(std::string pointer, const std::string& message, Kind kind = Kind::shape);
    /// `error`, found in the file `file`: what() begins with the file name; pointer() and
    /// kind() are those of `error`.
    JsonError(std::string_view file, const JsonError& error);
    /// What is wrong with the value at pointer().
    Kind kind() const noexcept { return kind_; }
    /// JSON pointer of the offending value, relative to the document being read.
    const std::string& pointer() const noexcept { return pointer_; }

  private:
    std::string pointer_;
    Kind kind_;
};

/// Limits applied by parse_json to untrusted input.
struct ParseLimits {
    std::size_t max_bytes = std::size_t{16} * 1024 * 1024;  ///< Largest accepted document.
    std::size_t max_depth = 64;  ///< Deepest accepted nesting of arrays and objects.
};

/// Parses untrusted JSON text without unbounded recursion or memory use.
/// @throws JsonError if the text is too large, too deeply nested, not UTF-8 or not JSON (the
/// message gives the byte offset, line and column of a byte that is not UTF-8 or of a syntax
/// error), or has a key twice in one object.
nlohmann::json parse_json(std::string_view text, const ParseLimits& limits = {});

/// Reads and parses a file with parse_json.
/// @throws JsonError as parse_json, or if the file cannot be read; its message begins with
/// `path`.
nlohmann::json read_json_file(const std::string& path, const ParseLimits& limits = {});

/// True if `value` contains a deploy-time reference such as `{{DistributionId}}`.
///
/// Rendered stacks refer to resources that do not exist yet (a created id or ARN, the account
/// id) with `{{Name}}` tokens that the deployment script substitutes. validate() checks that
/// such values are present but does not check the format of the token itself.
bool has_placeholder(std::string_view value) noexcept;

/// The token `{{name}}` used for deploy-time references.
std::string placeholder(std::string_view name);

}  // namespace sparc::cdn

/// Declares the ADL JSON conversions of a sparc::cdn document type.
// `Type` is a type name, not an expression, so it cannot be parenthesised.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define SPARC_CDN_DECLARE_JSON(Type)                             \
    void to_json(nlohmann::json& json_value, const Type& value); \
    void from_json(const nlohmann::json& json_value, Type& value);
// NOLINTEND(bugprone-macro-parentheses)

/// Declares the ADL JSON conversions and `to_string` (the AWS spelling) of an enumeration.
#define SPARC_CDN_DECLARE_ENUM(Type)                                                        \
    SPARC_CDN_DECLARE_JSON(Type)                                                            \
    /** The AWS spelling of `value`, e.g. "redirect-to-https"; "?" if not an enumerator. */ \
    std::string_view to_string(Type value) noexcept;
