#pragma once
/// @file types.hpp
/// The library's db::Traits: timestamptz as std::chrono::system_clock time points, bytea as
/// db::Bytes, uuid as db::Uuid, json/jsonb as nlohmann::json, and arrays as std::vector<T>.
/// Included by params.hpp and result.hpp; docs/types.md lists every type both directions.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <ratio>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include <sparc/db/params.hpp>
#include <sparc/db/result.hpp>
#include <sparc/db/traits.hpp>
#include <sparc/db/uuid.hpp>

namespace sparc::db {

namespace detail {

/// Microseconds since 1970-01-01 UTC as timestamptz text: `2026-11-30 11:36:16.123456+00`
/// (the fraction only when not zero; ` BC` for years before 1).
std::string format_timestamp(std::int64_t micros);
/// timestamptz (or timestamp, read as UTC; or date, as its midnight UTC) text in the ISO
/// DateStyle, any offset, to microseconds since 1970-01-01 UTC.
/// @throws ConversionError for infinity, other DateStyles, or text that is not a timestamp.
std::int64_t parse_timestamp(std::string_view text, std::string_view column);

/// Raw bytes as bytea hex text: `\x00ff`.
std::string bytea_hex(std::string_view raw);
/// bytea text in the hex (`\x00ff`) or escape (`\000\377`) output format.
/// @throws ConversionError when `text` is neither.
Bytes parse_bytea(std::string_view text, std::string_view column);

/// Appends one array element to an array literal: NULL for a null value, otherwise the text,
/// double-quoted and escaped when PostgreSQL would need it (empty, the word NULL, blanks,
/// quotes, backslashes, commas, braces).
void append_array_element(std::string& literal, const Param& element);

/// One element of an array's text: NULL, a value, or (`nested`) a sub-array's whole text.
struct ArrayElement {
    std::optional<std::string> text;
    bool nested = false;
};
/// The elements of an array's text (`{1,NULL,"a b"}`, `[0:1]={1,2}`, `{{1,2},{3,4}}`), quotes
/// and escapes removed, split at `delimiter` (the element type's typdelim: ',' but for box).
/// @throws ConversionError when `text` is not an array.
std::vector<ArrayElement> parse_array(std::string_view text, std::string_view column,
                                      char delimiter = ',');
/// The delimiter PostgreSQL prints between the elements of an array of this type OID: ';' for
/// box[] (1020), the only built-in type whose typdelim is not ','; ',' otherwise, and for 0
/// (type not known).
constexpr char array_delimiter(std::uint32_t array_type) noexcept {
    return array_type == 1020 ? ';' : ',';
}
[[noreturn]] void throw_array_dimensions(std::string_view column, bool found_nested);

/// One value that is not part of a result (an array element), seen through a Field.
class ValueData final : public ResultData {
  public:
    ValueData(const std::optional<std::string>& value, std::string name,
              std::uint32_t type = 0) noexcept
        : value_(value), name_(std::move(name)), type_(type) {}
    std::size_t rows() const noexcept override { return 1; }
    std::size_t columns() const noexcept override { return 1; }
    std::string_view column_name(std::size_t) const noexcept override { return name_; }
    bool is_null(std::size_t, std::size_t) const noexcept override { return !value_; }
    std::string_view value(std::size_t, std::size_t) const noexcept override {
        return value_ ? std::string_view(*value_) : std::string_view{};
    }
    std::uint64_t affected_rows() const noexcept override { return 0; }
    std::uint32_t column_type(std::size_t) const noexcept override { return type_; }

  private:
    const std::optional<std::string>& value_;
    std::string name_;
    std::uint32_t type_ = 0;
};

template <typename T>
struct is_array_vector : std::false_type {};
template <typename T>
struct is_array_vector<std::vector<T>> : std::bool_constant<!std::is_same_v<T, std::byte>> {};
template <typename T>
struct is_array_vector<std::optional<T>> : is_array_vector<T> {};

}  // namespace detail

/// timestamptz: any std::chrono::sys_time (system_clock::time_point included). Sent as UTC
/// text with microseconds (finer durations are floored to the microsecond); read from the ISO
/// DateStyle in any session TimeZone. `infinity` cannot be read: it is a ConversionError.
template <typename Duration>
struct Traits<std::chrono::time_point<std::chrono::system_clock, Duration>> {
    using TimePoint = std::chrono::time_point<std::chrono::system_clock, Duration>;

    static Param to_param(const TimePoint& t) {
        const auto us = std::chrono::floor<std::chrono::microseconds>(t.time_since_epoch());
        return Param(detail::format_timestamp(static_cast<std::int64_t>(us.count())));
    }

    static TimePoint from_field(const Field& f) {
        const std::chrono::microseconds us{detail::parse_timestamp(f.view(), f.name())};
        if constexpr (std::ratio_less_v<typename Duration::period, std::micro>) {
            // Finer than microseconds (system_clock's own nanoseconds): a narrower range.
            constexpr auto lo = std::chrono::duration_cast<std::chrono::microseconds>(
                TimePoint::min().time_since_epoch());
            constexpr auto hi = std::chrono::duration_cast<std::chrono::microseconds>(
                TimePoint::max().time_since_epoch());
            if (us < lo || us > hi) detail::throw_out_of_range(f.view(), f.name());
            return TimePoint(std::chrono::duration_cast<Duration>(us));
        } else {
            return TimePoint(std::chrono::floor<Duration>(us));
        }
    }
};

/// bytea: sent in binary format, read from the hex or escape output format.
template <>
struct Traits<Bytes> {
    static Param to_param(const Bytes& b) { return Param(b); }
    static Bytes from_field(const Field& f) { return detail::parse_bytea(f.view(), f.name()); }
};

/// uuid.
template <>
struct Traits<Uuid> {
    static Param to_param(const Uuid& u) { return Param(u.to_string()); }
    static Uuid from_field(const Field& f);
};

/// json and jsonb: sent as dump() text, read with nlohmann::json::parse.
template <>
struct Traits<nlohmann::json> {
    /// @throws UsageError when a string in the value is not valid UTF-8.
    static Param to_param(const nlohmann::json& j);
    static nlohmann::json from_field(const Field& f);
};

/// json and jsonb, keeping the order of object members.
template <>
struct Traits<nlohmann::ordered_json> {
    /// @throws UsageError when a string in the value is not valid UTF-8.
    static Param to_param(const nlohmann::ordered_json& j);
    static nlohmann::ordered_json from_field(const Field& f);
};

/// Arrays (`WHERE id = ANY($1)`): a std::vector of any parameter or field type, elements
/// std::optional<T> for NULL elements, std::vector<std::vector<T>> for two dimensions. Sent
/// as an array literal the library quotes and escapes; read from the server's array text.
template <typename T>
requires(!std::is_same_v<T, Param>)  // a std::vector<Param> is a parameter list, not an array
    struct Traits<std::vector<T>> {
    static Param to_param(const std::vector<T>& values) {
        std::string literal = "{";
        bool first = true;
        for (const auto& value : values) {
            if (!first) literal += ',';
            first = false;
            if constexpr (detail::is_array_vector<T>::value) {
                // A sub-array goes in as it is: it is already a literal.
                const Param inner(value);
                literal += inner.is_null() ? std::string_view("NULL") : inner.text();
            } else {
                detail::append_array_element(literal, Param(value));
            }
        }
        literal += '}';
        return Param(std::move(literal));
    }

    static std::vector<T> from_field(const Field& f) {
        static_assert(!std::is_same_v<T, std::string_view> &&
                          !std::is_same_v<T, std::optional<std::string_view>>,
                      "sparc::db: read array elements as std::string; a std::string_view "
                      "would point into a temporary");
        const auto type = f.type_oid();
        const auto elements =
            detail::parse_array(f.view(), f.name(), detail::array_delimiter(type));
        std::vector<T> out;
        out.reserve(elements.size());
        for (std::size_t i = 0; i < elements.size(); ++i) {
            const auto& e = elements[i];
            if (e.nested != detail::is_array_vector<T>::value && e.text) {
                detail::throw_array_dimensions(f.name(), e.nested);
            }
            // A sub-array is of the array's type: its elements are split the same way.
            const detail::ValueData value(e.text,
                                          std::string(f.name()) + "[" + std::to_string(i + 1) + "]",
                                          e.nested ? type : 0);
            // A Field that does not own its data: `value` outlives it.
            const Field field(std::shared_ptr<const detail::ResultData>(
                                  std::shared_ptr<const detail::ResultData>(), &value),
                              0, 0);
            out.push_back(field.template as<T>());
        }
        return out;
    }
};

}  // namespace sparc::db
