#pragma once
/// @file params.hpp
/// Statement parameters: always sent to the server separately from the SQL text.

#include <charconv>
#include <concepts>
#include <cstddef>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <sparc/db/traits.hpp>

namespace sparc::db {

class ParamsRef;

/// One bound parameter in PostgreSQL's text format, binary bytea, or SQL NULL. Owns its value,
/// so a Param may be stored and reused; short values (integers, most keys) stay in the
/// small-string buffer. Built implicitly from every ParamType (see traits.hpp and
/// docs/types.md); any other type is a compile error that lists what is accepted.
class Param {
  public:
    /// SQL NULL.
    Param(std::nullopt_t) noexcept : null_(true) {}  // NOLINT(google-explicit-constructor)
    /// SQL NULL.
    Param(std::nullptr_t) noexcept : null_(true) {}  // NOLINT(google-explicit-constructor)
    /// `true` / `false`.
    Param(bool value) : text_(value ? "true" : "false") {}  // NOLINT(google-explicit-constructor)
    /// Any integer type except bool and character types.
    template <std::integral T>
    requires(!std::same_as<T, bool> && !std::same_as<T, char>)
        Param(T value) {  // NOLINT(google-explicit-constructor)
        char buf[24];
        const auto r = std::to_chars(buf, buf + sizeof buf, value);
        text_.assign(buf, r.ptr);
    }
    /// Floating point, shortest text that reads back exactly; NaN and infinities as PostgreSQL
    /// spells them.
    template <std::floating_point T>
    Param(T value) {  // NOLINT(google-explicit-constructor)
        set_floating(static_cast<double>(value));
    }
    /// Text; a null pointer is SQL NULL.
    Param(const char* value) {  // NOLINT(google-explicit-constructor)
        if (value == nullptr) {
            null_ = true;
        } else {
            text_ = value;
        }
    }
    /// Text.
    Param(std::string_view value) : text_(value) {}  // NOLINT(google-explicit-constructor)
    /// Text.
    Param(const std::string& value) : text_(value) {}  // NOLINT(google-explicit-constructor)
    /// Text.
    Param(std::string&& value) noexcept  // NOLINT(google-explicit-constructor)
        : text_(std::move(value)) {}
    /// bytea, sent in binary format: every byte value, 0 included, arrives as it is.
    Param(const Bytes& value)  // NOLINT(google-explicit-constructor)
        : text_(reinterpret_cast<const char*>(value.data()), value.size()), binary_(true) {}
    /// The value, or SQL NULL when empty.
    template <typename T>
    Param(const std::optional<T>& value)  // NOLINT(google-explicit-constructor)
        : Param(value ? Param(*value) : Param(std::nullopt)) {}
    /// A type with a db::Traits<T>::to_param: time points, db::Uuid, nlohmann::json,
    /// std::vector<T> (arrays), and your own.
    template <typename T>
    requires HasToParam<T> Param(const T& value)  // NOLINT(google-explicit-constructor)
        : Param(Traits<T>::to_param(value)) {}
    /// Any other type: a compile error that names the type (in the "required from" note) and
    /// lists what is accepted, instead of a failed conversion of a braced list. A parameter
    /// list (`{params}` for a std::vector<Param>) still converts to ParamsRef as a whole.
    template <typename T>
    requires(!ParamType<T> && !std::convertible_to<const T&, ParamsRef>)
        Param(const T&) {  // NOLINT(google-explicit-constructor)
        static_assert(
            detail::always_false<T>,
            "sparc::db::Param: this type cannot be a statement parameter (the type is T, which the "
            "compiler names with this error). Accepted: bool, integers (not char), floating point, "
            "strings (anything convertible to std::string_view), std::nullopt, "
            "nullptr, std::optional<T>, db::Bytes, db::Uuid, "
            "std::chrono::system_clock::time_point, nlohmann::json, std::vector<T> of "
            "these, and any type with a db::Traits<T>::to_param specialisation. "
            "Convert enums and other types yourself, or specialise db::Traits<T>.");
    }

    /// Whether this is SQL NULL.
    bool is_null() const noexcept { return null_; }
    /// Whether the value is sent in binary format (bytea); otherwise it is text.
    bool is_binary() const noexcept { return binary_; }
    /// The text sent to the server (empty for NULL); the raw bytes of a binary parameter.
    const std::string& text() const noexcept { return text_; }
    /// NUL-terminated text for libpq, or nullptr for NULL (a binary value's bytes: see size()).
    const char* c_str() const noexcept { return null_ ? nullptr : text_.c_str(); }
    /// Length in bytes of the value sent.
    std::size_t size() const noexcept { return text_.size(); }

    friend bool operator==(const Param&, const Param&) = default;

  private:
    void set_floating(double value);

    std::string text_;
    bool null_ = false;
    bool binary_ = false;
};

/// A non-owning view of a parameter list: built from a braced list at the call site
/// (`{tenant_id, "x"}`), a std::vector<Param> or a std::span. Like std::span, it must not
/// outlive what it views; a braced list lives until the end of the call's full-expression.
class ParamsRef {
  public:
    ParamsRef() noexcept = default;
    // The braced list's array lives until the end of the caller's full-expression, which is as
    // long as a ParamsRef parameter is used; GCC cannot see that and warns.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winit-list-lifetime"
#endif
    ParamsRef(std::initializer_list<Param> list) noexcept  // NOLINT(google-explicit-constructor)
        : data_(list.begin()), size_(list.size()) {}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
    ParamsRef(const std::vector<Param>& v) noexcept  // NOLINT(google-explicit-constructor)
        : data_(v.data()), size_(v.size()) {}
    ParamsRef(std::span<const Param> s) noexcept  // NOLINT(google-explicit-constructor)
        : data_(s.data()), size_(s.size()) {}

    const Param* begin() const noexcept { return data_; }
    const Param* end() const noexcept { return data_ + size_; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    const Param& operator[](std::size_t i) const noexcept { return data_[i]; }

  private:
    const Param* data_ = nullptr;
    std::size_t size_ = 0;
};

/// An owning parameter list, for building parameters at run time.
using Params = std::vector<Param>;

/// One statement of a batch (ConnectionPool::batch()): its SQL and its parameters, bound.
struct Statement {
    std::string sql;
    Params params{};
};

}  // namespace sparc::db

// The built-in Traits (arrays, time points, ...) must be visible wherever a Param is built.
#include <sparc/db/types.hpp>  // IWYU pragma: export
