#pragma once
/// @file retry.hpp
/// How long a transaction waits before it runs again; which failures it may run again is
/// decided in safety.hpp (included here for classify()).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string_view>

#include <sparc/db/errors.hpp>
#include <sparc/db/options.hpp>
#include <sparc/db/safety.hpp>

namespace sparc::db {

/// Backoff before retry number `retry` (1 = first retry): full jitter, uniformly random in
/// [0, min(cap, base * 2^(retry-1))].
template <typename Urbg>
std::chrono::milliseconds backoff_delay(int retry, std::chrono::milliseconds base,
                                        std::chrono::milliseconds cap, Urbg& rng) {
    const int shift = std::clamp(retry - 1, 0, 30);
    const std::int64_t ceiling =
        std::min<std::int64_t>(cap.count(), base.count() * (std::int64_t{1} << shift));
    if (ceiling <= 0) return std::chrono::milliseconds{0};
    std::uniform_int_distribution<std::int64_t> dist(0, ceiling);
    return std::chrono::milliseconds{dist(rng)};
}

}  // namespace sparc::db
