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

/// Wait after `failures` failed attempts in a row (1 = the first) to reach a host: `base`
/// doubling up to `cap` (at least 1 ms), drawn from the upper half of that ceiling, so that many
/// pools facing one refusing server neither hammer it nor come back in step.
template <typename Urbg>
std::chrono::milliseconds reconnect_delay(int failures, std::chrono::milliseconds base,
                                          std::chrono::milliseconds cap, Urbg& rng) {
    const int shift = std::clamp(failures - 1, 0, 16);
    const std::int64_t ceiling = std::min<std::int64_t>(std::max<std::int64_t>(cap.count(), 1),
                                                        base.count() * (std::int64_t{1} << shift));
    if (ceiling <= 0) return std::chrono::milliseconds{0};
    std::uniform_int_distribution<std::int64_t> dist(ceiling / 2, ceiling);
    return std::chrono::milliseconds{dist(rng)};
}

}  // namespace sparc::db
