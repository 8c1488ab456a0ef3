#pragma once
/// @file result.hpp
/// Backend-neutral query results: the same user code reads a Result whichever backend made it.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <sparc/db/errors.hpp>
#include <sparc/db/traits.hpp>

namespace sparc::db {

/// A field's text could not be converted to the requested type, or a NULL was read as a
/// non-optional value.
class ConversionError : public Error {
  public:
    using Error::Error;
};

namespace detail {

/// What a backend implements to expose its result rows without copying them.
class ResultData {
  public:
    ResultData() = default;
    ResultData(const ResultData&) = delete;
    ResultData& operator=(const ResultData&) = delete;
    virtual ~ResultData() = default;

    virtual std::size_t rows() const noexcept = 0;
    virtual std::size_t columns() const noexcept = 0;
    virtual std::string_view column_name(std::size_t column) const noexcept = 0;
    /// Index of the named column, or columns() when there is none.
    virtual std::size_t column_index(std::string_view name) const noexcept;
    virtual bool is_null(std::size_t row, std::size_t column) const noexcept = 0;
    virtual std::string_view value(std::size_t row, std::size_t column) const noexcept = 0;
    virtual std::uint64_t affected_rows() const noexcept = 0;
    /// The column's type OID (pg_type.oid), or 0 when not known (rows built by hand, the fake).
    virtual std::uint32_t column_type(std::size_t /*column*/) const noexcept { return 0; }
};

/// Rows held as strings: used by the fake backend and for results built by hand.
class TextResultData final : public ResultData {
  public:
    TextResultData(std::vector<std::string> columns,
                   std::vector<std::vector<std::optional<std::string>>> rows,
                   std::uint64_t affected)
        : columns_(std::move(columns)), rows_(std::move(rows)), affected_(affected) {}
    std::size_t rows() const noexcept override { return rows_.size(); }
    std::size_t columns() const noexcept override { return columns_.size(); }
    std::string_view column_name(std::size_t c) const noexcept override { return columns_[c]; }
    bool is_null(std::size_t r, std::size_t c) const noexcept override {
        return c >= rows_[r].size() || !rows_[r][c].has_value();
    }
    std::string_view value(std::size_t r, std::size_t c) const noexcept override {
        return is_null(r, c) ? std::string_view{} : std::string_view(*rows_[r][c]);
    }
    std::uint64_t affected_rows() const noexcept override { return affected_; }

  private:
    std::vector<std::string> columns_;
    std::vector<std::vector<std::optional<std::string>>> rows_;
    std::uint64_t affected_;
};

/// Text-format conversions used by Field::as<T>(). @throws ConversionError.
std::int64_t parse_int64(std::string_view text, std::string_view column);
std::uint64_t parse_uint64(std::string_view text, std::string_view column);
double parse_double(std::string_view text, std::string_view column);
bool parse_bool(std::string_view text, std::string_view column);
[[noreturn]] void throw_null(std::string_view column);
[[noreturn]] void throw_out_of_range(std::string_view text, std::string_view column);
[[noreturn]] void throw_column_count(std::size_t columns, std::size_t expected);

/// std::tuple, std::pair, std::array: what Row::as<T>() fills column by column.
template <typename T>
concept tuple_like = requires {
    std::tuple_size<T>::value;
};

}  // namespace detail

/// One value of a row. Shares ownership of the result's rows, so it stays valid on its own
/// (`auto n = pool.query(...).front()[0];` is safe); a string_view it returns lives as long.
class Field {
  public:
    Field(std::shared_ptr<const detail::ResultData> data, std::size_t row,
          std::size_t column) noexcept
        : data_(std::move(data)), row_(row), column_(column) {}

    /// Whether the value is SQL NULL.
    bool is_null() const noexcept { return data_->is_null(row_, column_); }
    /// The value's text (PostgreSQL text format); empty for NULL.
    std::string_view view() const noexcept { return data_->value(row_, column_); }
    /// The column's name.
    std::string_view name() const noexcept { return data_->column_name(column_); }
    /// The column's type OID (pg_type.oid) as the server reported it, or 0 when not known
    /// (rows built by hand, db::testing::FakeBackend).
    std::uint32_t type_oid() const noexcept { return data_->column_type(column_); }

    /// The value converted to T: integers, floating point, bool, std::string, std::string_view
    /// (valid while the Result lives), every type with a db::Traits<T>::from_field (time
    /// points, db::Bytes, db::Uuid, nlohmann::json, std::vector<T> for arrays, yours), or
    /// std::optional of those (empty for NULL). See docs/types.md.
    /// @throws ConversionError on NULL (for non-optional T) or text that is not a T.
    template <typename T>
    T as() const {
        if constexpr (detail::is_optional<T>::value) {
            if (is_null()) return std::nullopt;
            return as<typename T::value_type>();
        } else {
            if (is_null()) detail::throw_null(name());
            return convert<T>(view());
        }
    }
    /// The value converted to T, or `fallback` when NULL.
    template <typename T>
    T as(T fallback) const {
        return is_null() ? std::move(fallback) : as<T>();
    }

  private:
    template <typename T>
    T convert(std::string_view text) const {
        if constexpr (std::is_same_v<T, std::string>) {
            return std::string(text);
        } else if constexpr (std::is_same_v<T, std::string_view>) {
            return text;
        } else if constexpr (std::is_same_v<T, bool>) {
            return detail::parse_bool(text, name());
        } else if constexpr (detail::character<T>) {
            static_assert(detail::always_false<T>,
                          "sparc::db::Field::as<T>: character types are not read; use "
                          "std::string, or std::int8_t / std::uint8_t for small numbers");
        } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
            const auto v = detail::parse_int64(text, name());
            if (v < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
                v > static_cast<std::int64_t>(std::numeric_limits<T>::max())) {
                detail::throw_out_of_range(text, name());
            }
            return static_cast<T>(v);
        } else if constexpr (std::is_integral_v<T>) {
            const auto v = detail::parse_uint64(text, name());
            if (v > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) {
                detail::throw_out_of_range(text, name());
            }
            return static_cast<T>(v);
        } else if constexpr (std::is_floating_point_v<T>) {
            return static_cast<T>(detail::parse_double(text, name()));
        } else if constexpr (HasFromField<T>) {
            return Traits<T>::from_field(*this);
        } else {
            static_assert(
                detail::always_false<T>,
                "sparc::db::Field::as<T>: this type cannot be read from a field (the type is T, "
                "which the compiler names with this error). Accepted: std::string, "
                "std::string_view, "
                "bool, integers (not char), floating point, db::Bytes, db::Uuid, "
                "std::chrono::system_clock::time_point, nlohmann::json, "
                "std::vector<T> of these, std::optional<T> of any, and any type with "
                "a db::Traits<T>::from_field specialisation.");
        }
    }

    std::shared_ptr<const detail::ResultData> data_;
    std::size_t row_;
    std::size_t column_;
};

/// One row of a Result. Shares ownership of the result's rows, so it stays valid on its own.
class Row {
  public:
    Row(std::shared_ptr<const detail::ResultData> data, std::size_t row) noexcept
        : data_(std::move(data)), row_(row) {}

    /// Number of columns.
    std::size_t size() const noexcept { return data_->columns(); }
    /// Field by position (unchecked; see at()). Any integer type, so `row[0]` is not
    /// mistaken for a column name.
    template <std::integral I>
    Field operator[](I column) const noexcept {
        return {data_, row_, static_cast<std::size_t>(column)};
    }
    /// Field by position. @throws ConversionError when out of range.
    Field at(std::size_t column) const;
    /// Field by column name. @throws ConversionError when there is no such column.
    Field operator[](std::string_view column) const;
    /// Field by column name (C-string overload, so `row["id"]` picks the name lookup).
    Field operator[](const char* column) const { return (*this)[std::string_view(column)]; }

    /// The whole row as a std::tuple (or std::pair, std::array), column by column in order:
    /// `auto [id, title] = row.as<std::tuple<std::int64_t, std::string>>();`. Each element is
    /// read as Field::as reads it (std::optional<T> for a column that may be NULL).
    /// @throws ConversionError when the row has a different number of columns, or a value
    /// does not convert.
    template <typename T>
    T as() const {
        static_assert(detail::tuple_like<T>,
                      "sparc::db::Row::as<T>: T must be a std::tuple (or std::pair, std::array) "
                      "with one element per column; read one column with row[i].as<T>()");
        constexpr std::size_t n = std::tuple_size_v<T>;
        if (size() != n) detail::throw_column_count(size(), n);
        return [&]<std::size_t... I>(std::index_sequence<I...>) {
            return T{(*this)[I].template as<std::tuple_element_t<I, T>>()...};
        }
        (std::make_index_sequence<n>{});
    }

  private:
    std::shared_ptr<const detail::ResultData> data_;
    std::size_t row_;
};

/// The rows a statement returned (or none), with the number of rows it affected. Copies share
/// the same immutable data.
class Result {
  public:
    /// An empty result (no rows, no columns).
    Result() = default;
    explicit Result(std::shared_ptr<const detail::ResultData> data) noexcept
        : data_(std::move(data)) {}

    class const_iterator {
      public:
        using iterator_category = std::random_access_iterator_tag;
        using value_type = Row;
        using difference_type = std::ptrdiff_t;
        using pointer = void;
        using reference = Row;

        const_iterator() = default;
        const_iterator(std::shared_ptr<const detail::ResultData> d, std::size_t i)
            : data_(std::move(d)), row_(i) {}
        Row operator*() const noexcept { return {data_, row_}; }
        const_iterator& operator++() noexcept {
            ++row_;
            return *this;
        }
        const_iterator operator++(int) noexcept {
            auto t = *this;
            ++row_;
            return t;
        }
        friend bool operator==(const const_iterator& a, const const_iterator& b) noexcept {
            return a.row_ == b.row_;
        }

      private:
        std::shared_ptr<const detail::ResultData> data_;
        std::size_t row_ = 0;
    };

    /// Number of rows returned.
    std::size_t size() const noexcept { return data_ ? data_->rows() : 0; }
    /// Whether no rows were returned.
    bool empty() const noexcept { return size() == 0; }
    /// Rows inserted, updated, deleted or merged: the count of an INSERT, UPDATE, DELETE or
    /// MERGE command tag; 0 for other statements, including a SELECT whose WITH clause writes
    /// and CREATE TABLE AS (their command tag is SELECT).
    std::uint64_t affected_rows() const noexcept { return data_ ? data_->affected_rows() : 0; }
    /// Number of columns.
    std::size_t columns() const noexcept { return data_ ? data_->columns() : 0; }
    /// Name of a column.
    std::string_view column_name(std::size_t column) const noexcept {
        return data_->column_name(column);
    }
    /// Row by position (unchecked).
    Row operator[](std::size_t row) const noexcept { return {data_, row}; }
    /// Row by position. @throws ConversionError when out of range.
    Row at(std::size_t row) const;
    /// The first row. @throws ConversionError when there are no rows.
    Row front() const { return at(0); }
    const_iterator begin() const noexcept { return {data_, 0}; }
    const_iterator end() const noexcept { return {nullptr, size()}; }

  private:
    std::shared_ptr<const detail::ResultData> data_;
};

namespace detail {

/// A non-owning reference to a callable taking `const Row&`: the function a streamed statement
/// (for_each) hands each row to, passed through virtual calls and backends without a copy or
/// an allocation. The callable must outlive the RowSink.
class RowSink {
  public:
    template <typename F>
    requires(!std::same_as<std::remove_cvref_t<F>, RowSink> &&
             std::invocable<F&, const Row&>) explicit RowSink(F& f) noexcept
        : object_(std::addressof(f)),
          call_([](void* object, const Row& row) { std::invoke(*static_cast<F*>(object), row); }) {}

    /// Hands one row to the function; what it throws propagates unchanged.
    void operator()(const Row& row) const { call_(object_, row); }

  private:
    void* object_;
    void (*call_)(void*, const Row&);
};

}  // namespace detail

/// Every row of `result` as a T: a std::tuple (or pair, array) read by Row::as<T>(), or, for
/// any other T, the value of a one-column result read by Field::as<T>().
/// `auto ids = db::rows_as<std::int64_t>(pool.query("SELECT id FROM videos"));`
/// @throws ConversionError when the column count does not fit T or a value does not convert.
template <typename T>
std::vector<T> rows_as(const Result& result) {
    std::vector<T> out;
    out.reserve(result.size());
    if constexpr (detail::tuple_like<T>) {
        for (const auto& row : result) out.push_back(row.template as<T>());
    } else {
        if (!result.empty() && result.columns() != 1) {
            detail::throw_column_count(result.columns(), 1);
        }
        for (const auto& row : result) out.push_back(row[0].template as<T>());
    }
    return out;
}

}  // namespace sparc::db

// The built-in Traits (arrays, time points, ...) must be visible wherever Field::as is used.
#include <sparc/db/types.hpp>  // IWYU pragma: export
