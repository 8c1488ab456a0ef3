#pragma once
/// @file traits.hpp
/// The customisation point for parameter and field types (db::Traits<T>), and the concepts
/// that say which types a statement accepts as a parameter and Field::as<T>() can read.

#include <concepts>
#include <cstddef>
#include <optional>
#include <string_view>
#include <type_traits>
#include <vector>

namespace sparc::db {

class Param;
class Field;

/// bytea: raw bytes, every value 0..255 included; sent to the server in binary format.
using Bytes = std::vector<std::byte>;

/// Conversions of a type to a statement parameter and from a result field. Specialise it for
/// your own types:
///
/// ```cpp
/// template <> struct sparc::db::Traits<Money> {
///     static db::Param to_param(const Money& m) { return m.cents(); }       // as bigint
///     static Money from_field(const db::Field& f) { return Money(f.as<std::int64_t>()); }
/// };
/// ```
/// Either member may be left out (a type only ever sent, or only ever read). from_field() is
/// called for non-NULL values only: NULL reads as an empty std::optional<T>, or a
/// ConversionError for a plain T. The library specialises it for
/// std::chrono::system_clock::time_point (any sys_time), Bytes, Uuid, nlohmann::json and
/// std::vector<T> (arrays); see docs/types.md.
template <typename T>
struct Traits {};

namespace detail {

template <typename T>
struct is_optional : std::false_type {};
template <typename T>
struct is_optional<std::optional<T>> : std::true_type {};

/// Character types other than signed/unsigned char (int8_t, uint8_t) are not numbers.
template <typename T>
concept character = std::same_as<T, char> || std::same_as<T, wchar_t> || std::same_as<T, char8_t> ||
    std::same_as<T, char16_t> || std::same_as<T, char32_t>;

template <typename T>
inline constexpr bool always_false = false;

}  // namespace detail

/// A type with a Traits<T>::to_param(const T&) returning db::Param.
template <typename T>
concept HasToParam = requires(const T& value) {
    { Traits<T>::to_param(value) } -> std::same_as<Param>;
};

/// A type with a Traits<T>::from_field(const db::Field&) returning T.
template <typename T>
concept HasFromField = requires(const Field& field) {
    { Traits<T>::from_field(field) } -> std::same_as<T>;
};

namespace detail {

template <typename T>
concept plain_param_type =
    HasToParam<T> || std::same_as<T, Param> || std::same_as<T, std::nullopt_t> ||
    std::same_as<T, std::nullptr_t> || std::same_as<T, bool> || std::same_as<T, Bytes> ||
    (std::integral<T> && !character<T>) ||
    std::floating_point<T> || std::convertible_to<const T&, std::string_view>;

template <typename T>
struct param_type : std::bool_constant<plain_param_type<T>> {};
template <typename T>
struct param_type<std::optional<T>> : param_type<std::remove_cv_t<T>> {};

template <typename T>
concept plain_field_type = HasFromField<T> || std::same_as<T, std::string> ||
                           std::same_as<T, std::string_view> || std::same_as<T, bool> ||
                           (std::integral<T> && !character<T>) ||
                           std::floating_point<T>;

template <typename T>
struct field_type : std::bool_constant<plain_field_type<T>> {};
template <typename T>
struct field_type<std::optional<T>> : field_type<T> {};

}  // namespace detail

/// What a statement accepts as a parameter: db::Param, std::nullopt, nullptr, bool, integers
/// (not character types), floating point, anything convertible to std::string_view (const
/// char*, std::string, ...), db::Bytes, std::optional<T> of these, and every type with a
/// Traits<T>::to_param (time points, db::Uuid, nlohmann::json, std::vector<T>, yours).
template <typename T>
concept ParamType = detail::param_type<std::remove_cvref_t<T>>::value;

/// What Field::as<T>() reads: std::string, std::string_view, bool, integers (not character
/// types), floating point, std::optional<T> of any of these (empty for NULL), and every type
/// with a Traits<T>::from_field (time points, db::Bytes, db::Uuid, nlohmann::json,
/// std::vector<T>, yours).
template <typename T>
concept FieldType = detail::field_type<T>::value;

}  // namespace sparc::db
