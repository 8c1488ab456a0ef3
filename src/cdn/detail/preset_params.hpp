#pragma once
// Checking the video platform's parameters and filling in their defaults.

#include <string_view>

#include <sparc/cdn/presets.hpp>

namespace sparc::cdn::detail {

// Checks every parameter and returns them with the defaults filled in; `derived` says which
// optional ARNs were derived from the environment name.
// Throws std::invalid_argument naming the parameter at fault.
presets::VideoPlatformParams complete_params(presets::VideoPlatformParams p,
                                             presets::VideoPlatformStack::Derived& derived);

// Checks that `pem` is one PEM "PUBLIC KEY" (SubjectPublicKeyInfo) block holding an RSA key of
// at least `min_bits` bits (exactly, when `exact`); throws std::invalid_argument naming `name`.
void check_rsa_public_key_pem(std::string_view pem, std::string_view name, unsigned min_bits,
                              bool exact = false);

}  // namespace sparc::cdn::detail
