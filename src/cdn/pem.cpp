// Checking PEM public keys without a crypto library: the base64 body must decode to a DER
// SubjectPublicKeyInfo holding an RSA key, whose modulus length is read from the DER.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "detail/preset_params.hpp"

namespace sparc::cdn::detail {

namespace {

constexpr std::string_view kBegin = "-----BEGIN PUBLIC KEY-----";
constexpr std::string_view kEnd = "-----END PUBLIC KEY-----";

std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text) {
    std::vector<std::uint8_t> out;
    std::uint32_t buffer = 0;
    int bits = 0;
    std::size_t padding = 0;
    std::size_t symbols = 0;
    for (char c : text) {
        int value = -1;
        if (c >= 'A' && c <= 'Z') {
            value = c - 'A';
        } else if (c >= 'a' && c <= 'z') {
            value = c - 'a' + 26;
        } else if (c >= '0' && c <= '9') {
            value = c - '0' + 52;
        } else if (c == '+') {
            value = 62;
        } else if (c == '/') {
            value = 63;
        } else if (c == '=') {
            ++padding;
            ++symbols;
            continue;
        } else if (c == '\n' || c == '\r') {
            continue;
        } else {
            return std::nullopt;
        }
        if (padding > 0) {
            return std::nullopt;  // data after padding
        }
        ++symbols;
        buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<std::uint8_t>((buffer >> bits) & 0xff));
        }
    }
    if (symbols % 4 != 0 || padding > 2) {
        return std::nullopt;
    }
    return out;
}

// A minimal DER reader: tag, definite length, contents.
struct Der {
    const std::vector<std::uint8_t>& bytes;
    std::size_t pos = 0;
    std::size_t end;

    // Reads one element with `tag`; returns a reader over its contents.
    std::optional<Der> element(std::uint8_t tag) {
        if (pos + 2 > end || bytes[pos] != tag) {
            return std::nullopt;
        }
        std::size_t length = bytes[pos + 1];
        std::size_t header = 2;
        if (length & 0x80) {
            const std::size_t count = length & 0x7f;
            if (count == 0 || count > 4 || pos + 2 + count > end) {
                return std::nullopt;
            }
            length = 0;
            for (std::size_t i = 0; i < count; ++i) {
                length = (length << 8) | bytes[pos + 2 + i];
            }
            header += count;
        }
        if (pos + header + length > end) {
            return std::nullopt;
        }
        Der inner{bytes, pos + header, pos + header + length};
        pos += header + length;
        return inner;
    }
};

// 1.2.840.113549.1.1.1
constexpr std::uint8_t kRsaEncryption[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};

// The modulus length in bits of an RSA SubjectPublicKeyInfo, or nullopt if it is not one.
std::optional<unsigned> rsa_modulus_bits(const std::vector<std::uint8_t>& der) {
    Der top{der, 0, der.size()};
    auto spki = top.element(0x30);
    if (!spki || top.pos != top.end) {
        return std::nullopt;
    }
    auto algorithm = spki->element(0x30);
    if (!algorithm) {
        return std::nullopt;
    }
    auto oid = algorithm->element(0x06);
    if (!oid || oid->end - oid->pos != sizeof kRsaEncryption ||
        !std::equal(der.begin() + static_cast<std::ptrdiff_t>(oid->pos),
                    der.begin() + static_cast<std::ptrdiff_t>(oid->end), kRsaEncryption)) {
        return std::nullopt;
    }
    auto bit_string = spki->element(0x03);
    if (!bit_string || bit_string->pos >= bit_string->end || der[bit_string->pos] != 0) {
        return std::nullopt;
    }
    ++bit_string->pos;  // unused-bits byte
    auto key = bit_string->element(0x30);
    if (!key) {
        return std::nullopt;
    }
    auto modulus = key->element(0x02);
    auto exponent = key->element(0x02);
    if (!modulus || !exponent || modulus->pos == modulus->end) {
        return std::nullopt;
    }
    std::size_t first = modulus->pos;
    while (first < modulus->end && der[first] == 0) {
        ++first;
    }
    if (first == modulus->end) {
        return std::nullopt;
    }
    unsigned bits = static_cast<unsigned>(modulus->end - first - 1) * 8;
    for (auto top_byte = der[first]; top_byte != 0; top_byte >>= 1) {
        ++bits;
    }
    return bits;
}

}  // namespace

void check_rsa_public_key_pem(std::string_view pem, std::string_view name, unsigned min_bits,
                              bool exact) {
    const auto fail = [&](std::string_view why) {
        throw std::invalid_argument(fmt::format("{}: {}", name, why));
    };
    auto text = pem;
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
        text.remove_suffix(1);
    }
    if (text.substr(0, kBegin.size()) != kBegin || text.size() < kBegin.size() + kEnd.size() ||
        text.substr(text.size() - kEnd.size()) != kEnd) {
        fail(fmt::format("not a PEM public key: it must start with \"{}\" and end with \"{}\"",
                         kBegin, kEnd));
    }
    const auto body = text.substr(kBegin.size(), text.size() - kBegin.size() - kEnd.size());
    const auto der = base64_decode(body);
    if (!der || der->empty()) {
        fail("the PEM body is not base64");
    }
    const auto bits = rsa_modulus_bits(*der);
    if (!bits) {
        fail("the PEM body is not an RSA SubjectPublicKeyInfo (openssl rsa -pubout)");
    }
    if (exact ? *bits != min_bits : *bits < min_bits) {
        fail(fmt::format("the RSA key has {} bits; {} {} are required", *bits,
                         exact ? "exactly" : "at least", min_bits));
    }
}

}  // namespace sparc::cdn::detail
