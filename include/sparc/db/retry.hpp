#pragma once
/// @file retry.hpp
/// Which failures a transaction may safely run again, and how long to wait before it does.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string_view>

#include <sparc/db/errors.hpp>
#include <sparc/db/options.hpp>

namespace sparc::db {

/// When in a transaction's life a failure happened.
enum class TransactionPhase {
    body,    ///< BEGIN, fn's statements: COMMIT was not sent, the server rolls back.
    commit,  ///< While COMMIT was being sent or answered.
};

/// What to do about a failure.
struct RetryDecision {
    enum class Action { retry, fail, outcome_unknown };
    Action action = Action::fail;
    RetryReason reason = RetryReason::connection_lost;
};

/// Classifies `error`, thrown in `phase`, libpqxx's perform() discipline: retry serialization
/// failures (40001), deadlocks (40P01) and connections lost before COMMIT was sent; never retry
/// a COMMIT whose answer was lost or SQLSTATE 40003 (outcome unknown); anything else fails.
inline RetryDecision classify(const Error& error, TransactionPhase phase) noexcept {
    using Action = RetryDecision::Action;
    if (const auto* c = dynamic_cast<const ConnectionError*>(&error)) {
        if (phase == TransactionPhase::commit && c->statement_sent()) {
            return {Action::outcome_unknown, RetryReason::connection_lost};
        }
        return {Action::retry, RetryReason::connection_lost};
    }
    if (dynamic_cast<const QueryTimeout*>(&error) != nullptr) return {};
    if (const auto* s = dynamic_cast<const SqlError*>(&error)) {
        const std::string_view state = s->sqlstate();
        if (state == "40001") return {Action::retry, RetryReason::serialization_failure};
        if (state == "40P01") return {Action::retry, RetryReason::deadlock};
        if (state == "40003") return {Action::outcome_unknown, RetryReason::connection_lost};
    }
    return {};
}

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
