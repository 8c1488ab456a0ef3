#pragma once
// Field-by-field JSON mapping shared by every sparc::cdn document type.
//
// Each type describes its members once, in AWS order, with a `describe(io, value)` function
// template; Writer turns that description into JSON and Reader reads it back strictly,
// tracking the JSON pointer so errors name the exact value at fault.

#include <algorithm>
#include <array>
#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <sparc/cdn/json.hpp>

namespace sparc::cdn::detail {

using nlohmann::json;

/// Specialised for every enumeration: `values` pairs each enumerator with its AWS spelling.
template <class E>
struct EnumNames;

template <class E>
concept AwsEnum = std::is_enum_v<E> && requires {
    EnumNames<E>::values;
};

template <AwsEnum E>
std::string_view enum_name(E value) noexcept {
    for (const auto& [e, name] : EnumNames<E>::values) {
        if (e == value) {
            return name;
        }
    }
    return "?";
}

template <AwsEnum E>
std::optional<E> enum_parse(std::string_view text) noexcept {
    for (const auto& [e, name] : EnumNames<E>::values) {
        if (name == text) {
            return e;
        }
    }
    return std::nullopt;
}

template <AwsEnum E>
std::string enum_choices() {
    std::string out;
    for (const auto& [e, name] : EnumNames<E>::values) {
        if (!out.empty()) {
            out += ", ";
        }
        out += name;
    }
    return out;
}

/// Length of the UTF-8 encoded character at the start of `text` (1 to 4 bytes), storing its
/// code point in `code_point`; 0 if `text` does not start with one (empty, a stray
/// continuation byte, a truncated or overlong sequence, a surrogate, beyond U+10FFFF).
std::size_t utf8_character(std::string_view text, char32_t& code_point);

/// Appends one reference token to a JSON pointer, escaping `~` and `/` (RFC 6901).
std::string pointer_append(std::string_view base, std::string_view token);
/// Appends an array index to a JSON pointer.
std::string pointer_append(std::string_view base, std::size_t index);

/// Whether a member or the `Items` of a Quantity list must be present.
enum class Presence { optional, required };

template <class T>
struct IsVector : std::false_type {};
template <class T>
struct IsVector<std::vector<T>> : std::true_type {};

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

template <class T>
json write_value(const T& value);

class Writer {
  public:
    explicit Writer(json& out) : out_(out) { out_ = json::object(); }

    template <class T>
    void required(const char* name, const T& value) {
        out_[name] = write_value(value);
    }

    template <class T>
    void optional(const char* name, const std::optional<T>& value) {
        if (value) {
            out_[name] = write_value(*value);
        }
    }

    // A plain JSON array, omitted when empty unless required.
    template <class T>
    void array(const char* name, const std::vector<T>& values, Presence presence) {
        if (values.empty() && presence == Presence::optional) {
            return;
        }
        out_[name] = write_value(values);
    }

    // A {"Quantity": N, "Items": [...]} wrapper; an empty optional wrapper is omitted.
    template <class T>
    void list(const char* name, const std::vector<T>& values, Presence wrapper, Presence items) {
        if (values.empty() && wrapper == Presence::optional) {
            return;
        }
        json inner = json::object();
        Writer(inner).inline_list(values, items);
        out_[name] = std::move(inner);
    }

    // Quantity and Items as members of the current object.
    template <class T>
    void inline_list(const std::vector<T>& values, Presence items) {
        out_["Quantity"] = values.size();
        if (!values.empty() || items == Presence::required) {
            out_["Items"] = write_value(values);
        }
    }

    // A required nested object described inline by `body(Writer&)`.
    template <class F>
    void object(const char* name, F&& body) {
        json inner = json::object();
        Writer w(inner);
        body(w);
        out_[name] = std::move(inner);
    }

    // A member that is an empty object marker, e.g. {"Block": {}}.
    void marker(const char* name) { out_[name] = json::object(); }

    static constexpr bool kReading = false;

  private:
    json& out_;
};

[[noreturn]] void throw_type_error(const std::string& path, std::string_view expected,
                                   const json& actual);

template <class T>
void read_value(const json& j, const std::string& path, T& out);

class Reader {
  public:
    Reader(const json& in, std::string path) : in_(in), path_(std::move(path)) {
        if (!in_.is_object()) {
            throw_type_error(path_, "an object", in_);
        }
    }

    template <class T>
    void required(const char* name, T& value) {
        const json* member = take(name);
        if (member == nullptr) {
            missing(name);
        }
        read_value(*member, pointer_append(path_, name), value);
    }

    template <class T>
    void optional(const char* name, std::optional<T>& value) {
        const json* member = take(name);
        if (member == nullptr) {
            value.reset();
            return;
        }
        T inner{};
        read_value(*member, pointer_append(path_, name), inner);
        value = std::move(inner);
    }

    template <class T>
    void array(const char* name, std::vector<T>& values, Presence presence) {
        values.clear();
        const json* member = take(name);
        if (member == nullptr) {
            if (presence == Presence::required) {
                missing(name);
            }
            return;
        }
        read_value(*member, pointer_append(path_, name), values);
    }

    template <class T>
    void list(const char* name, std::vector<T>& values, Presence wrapper, Presence items) {
        values.clear();
        const json* member = take(name);
        if (member == nullptr) {
            if (wrapper == Presence::required) {
                missing(name);
            }
            return;
        }
        Reader inner(*member, pointer_append(path_, name));
        inner.inline_list(values, items);
        inner.finish();
    }

    template <class T>
    void inline_list(std::vector<T>& values, Presence items) {
        values.clear();
        std::int64_t quantity = 0;
        required("Quantity", quantity);
        const json* member = take("Items");
        if (member == nullptr) {
            if (items == Presence::required) {
                missing("Items");
            }
        } else {
            read_value(*member, pointer_append(path_, "Items"), values);
        }
        if (quantity < 0 || static_cast<std::uint64_t>(quantity) != values.size()) {
            throw JsonError(pointer_append(path_, "Quantity"),
                            fmt::format("Quantity is {} but Items has {} element(s); they must "
                                        "agree",
                                        quantity, values.size()));
        }
    }

    template <class F>
    void object(const char* name, F&& body) {
        const json* member = take(name);
        if (member == nullptr) {
            missing(name);
        }
        Reader inner(*member, pointer_append(path_, name));
        body(inner);
        inner.finish();
    }

    // True if the marker member is present; it must be an empty object.
    bool marker(const char* name) {
        const json* member = take(name);
        if (member == nullptr) {
            return false;
        }
        if (!member->is_object() || !member->empty()) {
            throw JsonError(pointer_append(path_, name), "expected an empty object {}");
        }
        return true;
    }

    // Throws for the first member no describe() call asked for.
    void finish() const;

    [[noreturn]] void missing(const char* name) const;

    const std::string& path() const noexcept { return path_; }

    static constexpr bool kReading = true;

  private:
    const json* take(const char* name) {
        known_.emplace_back(name);
        auto it = in_.find(name);
        return it == in_.end() ? nullptr : &*it;
    }

    const json& in_;
    std::string path_;
    std::vector<std::string_view> known_;
};

// Defined per type next to its describe(); declared here so nested values find them.
template <class T>
void write_object(json& out, const T& value) {
    Writer w(out);
    describe(w, value);
}

template <class T>
void read_object(const json& in, const std::string& path, T& value) {
    Reader r(in, path);
    value = T{};
    describe(r, value);
    r.finish();
}

template <class T>
json write_value(const T& value) {
    if constexpr (IsVector<T>::value) {
        json out = json::array();
        for (const auto& item : value) {
            out.push_back(write_value(item));
        }
        return out;
    } else if constexpr (AwsEnum<T>) {
        return json(std::string(enum_name(value)));
    } else if constexpr (std::is_same_v<T, std::string> || std::is_arithmetic_v<T> ||
                         std::is_same_v<T, json>) {
        return json(value);
    } else {
        json out;
        write_object(out, value);
        return out;
    }
}

template <class T>
void read_value(const json& j, const std::string& path, T& out) {
    if constexpr (IsVector<T>::value) {
        if (!j.is_array()) {
            throw_type_error(path, "an array", j);
        }
        out.clear();
        out.reserve(j.size());
        for (std::size_t i = 0; i < j.size(); ++i) {
            typename T::value_type item{};
            read_value(j[i], pointer_append(path, i), item);
            out.push_back(std::move(item));
        }
    } else if constexpr (AwsEnum<T>) {
        if (!j.is_string()) {
            throw_type_error(path, "a string", j);
        }
        const auto& text = j.get_ref<const std::string&>();
        auto parsed = enum_parse<T>(text);
        if (!parsed) {
            throw JsonError(
                path,
                fmt::format("unknown value \"{}\"; expected one of: {}", text, enum_choices<T>()),
                JsonError::Kind::unknown_value);
        }
        out = *parsed;
    } else if constexpr (std::is_same_v<T, json>) {
        out = j;
    } else if constexpr (std::is_same_v<T, std::string>) {
        if (!j.is_string()) {
            throw_type_error(path, "a string", j);
        }
        out = j.get<std::string>();
    } else if constexpr (std::is_same_v<T, bool>) {
        if (!j.is_boolean()) {
            throw_type_error(path, "true or false", j);
        }
        out = j.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
        if (!j.is_number_integer()) {
            throw_type_error(path, "an integer", j);
        }
        if (j.is_number_unsigned()) {
            auto v = j.get<std::uint64_t>();
            if (v > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) {
                throw JsonError(path, fmt::format("{} is out of range", v));
            }
            out = static_cast<T>(v);
        } else {
            auto v = j.get<std::int64_t>();
            if (v < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
                v > static_cast<std::int64_t>(std::numeric_limits<T>::max())) {
                throw JsonError(path, fmt::format("{} is out of range", v));
            }
            out = static_cast<T>(v);
        }
    } else if constexpr (std::is_floating_point_v<T>) {
        if (!j.is_number()) {
            throw_type_error(path, "a number", j);
        }
        out = j.get<T>();
    } else {
        read_object(j, path, out);
    }
}

}  // namespace sparc::cdn::detail

// Defines the public ADL conversions of a type that has a describe() overload.
#define SPARC_CDN_DEFINE_JSON(Type)                                          \
    void to_json(nlohmann::json& json_value, const Type& value) {            \
        ::sparc::cdn::detail::write_object(json_value, value);               \
    }                                                                        \
    void from_json(const nlohmann::json& json_value, Type& value) {          \
        ::sparc::cdn::detail::read_object(json_value, std::string(), value); \
    }

// Defines the public ADL conversions and to_string of an enumeration with EnumNames.
#define SPARC_CDN_DEFINE_ENUM(Type)                                         \
    void to_json(nlohmann::json& json_value, const Type& value) {           \
        json_value = ::sparc::cdn::detail::write_value(value);              \
    }                                                                       \
    void from_json(const nlohmann::json& json_value, Type& value) {         \
        ::sparc::cdn::detail::read_value(json_value, std::string(), value); \
    }                                                                       \
    std::string_view to_string(Type value) noexcept {                       \
        return ::sparc::cdn::detail::enum_name(value);                      \
    }

// Starts the member description of a type, shared by Writer (const) and Reader.
#define SPARC_CDN_DESCRIBE(Type)                           \
    template <class Io, class Self>                        \
    requires std::same_as<std::remove_const_t<Self>, Type> \
    void describe(Io& io, Self& v)
