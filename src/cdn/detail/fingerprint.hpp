#pragma once
// A short, stable fingerprint of some text (64-bit FNV-1a): names and logical ids that must
// change when the content they stand for changes.

#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace sparc::cdn::detail {

class Fingerprint {
  public:
    // Adds one part; parts are separated, so ("ab", "c") and ("a", "bc") differ.
    Fingerprint& add(std::string_view text) {
        for (char c : text) {
            hash_ = (hash_ ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
        }
        hash_ = (hash_ ^ 0xff) * 1099511628211ULL;
        return *this;
    }
    [[nodiscard]] std::string hex16() const { return fmt::format("{:016x}", hash_); }
    [[nodiscard]] std::string hex8() const { return hex16().substr(0, 8); }

  private:
    std::uint64_t hash_ = 14695981039346656037ULL;
};

}  // namespace sparc::cdn::detail
