#pragma once
/// @file uuid.hpp
/// db::Uuid: the value of a PostgreSQL `uuid`, 16 bytes.

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace sparc::db {

/// A UUID as PostgreSQL stores it: 16 bytes, ordered bytewise as the server orders them.
/// The default value is the nil UUID (all zero).
class Uuid {
  public:
    /// The 16 bytes, most significant first.
    using Octets = std::array<std::uint8_t, 16>;

    /// The nil UUID, 00000000-0000-0000-0000-000000000000.
    constexpr Uuid() noexcept = default;
    /// From its 16 bytes, most significant first.
    constexpr explicit Uuid(const Octets& bytes) noexcept : bytes_(bytes) {}

    /// Parses the forms PostgreSQL accepts: 32 hex digits (either case), optionally in braces,
    /// with a hyphen allowed after any group of four digits; the canonical
    /// `a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11` is one of them.
    /// @throws ConversionError when `text` is not a UUID.
    static Uuid parse(std::string_view text);
    /// parse(), or std::nullopt when `text` is not a UUID.
    static std::optional<Uuid> try_parse(std::string_view text) noexcept;

    /// The canonical form: lower case, hyphens at 8-4-4-4-12, as PostgreSQL prints it.
    std::string to_string() const;
    /// The 16 bytes, most significant first.
    constexpr const Octets& bytes() const noexcept { return bytes_; }
    /// Whether this is the nil UUID.
    constexpr bool is_nil() const noexcept { return *this == Uuid{}; }

    friend constexpr bool operator==(const Uuid&, const Uuid&) noexcept = default;
    friend constexpr auto operator<=>(const Uuid&, const Uuid&) noexcept = default;

  private:
    Octets bytes_{};
};

}  // namespace sparc::db

/// Hashes the 16 bytes, so db::Uuid can key std::unordered_map.
template <>
struct std::hash<sparc::db::Uuid> {
    std::size_t operator()(const sparc::db::Uuid& u) const noexcept {
        // FNV-1a over the bytes: UUIDs are mostly random already, this only mixes all 16 in.
        std::uint64_t h = 14695981039346656037ULL;
        for (const auto b : u.bytes()) {
            h ^= b;
            h *= 1099511628211ULL;
        }
        return static_cast<std::size_t>(h);
    }
};
