#include <sparc/db/params.hpp>
#include <sparc/db/result.hpp>

#include <cmath>

#include <fmt/format.h>

namespace sparc::db {

void Param::set_floating(double value) {
    if (std::isnan(value)) {
        text_ = "NaN";
    } else if (std::isinf(value)) {
        text_ = value > 0 ? "Infinity" : "-Infinity";
    } else {
        char buf[32];
        const auto r = std::to_chars(buf, buf + sizeof buf, value);
        text_.assign(buf, r.ptr);
    }
}

namespace detail {

std::size_t ResultData::column_index(std::string_view name) const noexcept {
    const auto n = columns();
    for (std::size_t i = 0; i < n; ++i) {
        if (column_name(i) == name) return i;
    }
    return n;
}

void throw_null(std::string_view column) {
    throw ConversionError(fmt::format(
        "column \"{}\" is NULL; read it as std::optional<T> or with a fallback", column));
}

void throw_out_of_range(std::string_view text, std::string_view column) {
    throw ConversionError(fmt::format(
        "value \"{}\" of column \"{}\" is out of range for the requested type", text, column));
}

void throw_column_count(std::size_t columns, std::size_t expected) {
    throw ConversionError(fmt::format("the result has {} columns, the type it is read as takes {}",
                                      columns, expected));
}

namespace {
[[noreturn]] void throw_bad(std::string_view text, std::string_view column, std::string_view type) {
    throw ConversionError(
        fmt::format("value \"{}\" of column \"{}\" is not {}", text, column, type));
}

template <typename T>
T parse_integer(std::string_view text, std::string_view column, std::string_view type) {
    T v{};
    const auto* first = text.data();
    const auto* last = text.data() + text.size();
    const auto r = std::from_chars(first, last, v);
    if (r.ec == std::errc::result_out_of_range) throw_out_of_range(text, column);
    if (r.ec != std::errc{} || r.ptr != last || text.empty()) throw_bad(text, column, type);
    return v;
}
}  // namespace

std::int64_t parse_int64(std::string_view text, std::string_view column) {
    return parse_integer<std::int64_t>(text, column, "an integer");
}

std::uint64_t parse_uint64(std::string_view text, std::string_view column) {
    return parse_integer<std::uint64_t>(text, column, "a non-negative integer");
}

double parse_double(std::string_view text, std::string_view column) {
    if (text == "NaN") return std::nan("");
    if (text == "Infinity") return HUGE_VAL;
    if (text == "-Infinity") return -HUGE_VAL;
    double v{};
    const auto* last = text.data() + text.size();
    const auto r = std::from_chars(text.data(), last, v);
    if (r.ec == std::errc::result_out_of_range) throw_out_of_range(text, column);
    if (r.ec != std::errc{} || r.ptr != last || text.empty()) {
        throw_bad(text, column, "a number");
    }
    return v;
}

bool parse_bool(std::string_view text, std::string_view column) {
    if (text == "t" || text == "true") return true;
    if (text == "f" || text == "false") return false;
    throw_bad(text, column, "a boolean");
}

}  // namespace detail

Field Row::at(std::size_t column) const {
    if (column >= data_->columns()) {
        throw ConversionError(fmt::format("column {} is out of range: the row has {} columns",
                                          column, data_->columns()));
    }
    return {data_, row_, column};
}

Field Row::operator[](std::string_view column) const {
    const auto i = data_->column_index(column);
    if (i >= data_->columns()) {
        throw ConversionError(fmt::format("no column named \"{}\" in the result", column));
    }
    return {data_, row_, i};
}

Row Result::at(std::size_t row) const {
    if (row >= size()) {
        throw ConversionError(
            fmt::format("row {} is out of range: the result has {} rows", row, size()));
    }
    return {data_, row};
}

}  // namespace sparc::db
