#include <sparc/db/backend.hpp>
#include <sparc/db/errors.hpp>
#include <sparc/db/hooks.hpp>
#include <sparc/db/options.hpp>

#include <charconv>

#include <fmt/format.h>

namespace sparc::db {

CommitPosition CommitPosition::parse(std::string_view text) {
    const auto slash = text.find('/');
    auto bad = [&] {
        return ConfigError(fmt::format("\"{}\" is not a WAL position (expected X/Y in hex)", text));
    };
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == text.size() || slash > 8 ||
        text.size() - slash - 1 > 8) {
        throw bad();
    }
    std::uint32_t hi = 0;
    std::uint32_t lo = 0;
    const auto* end_hi = text.data() + slash;
    const auto* end_lo = text.data() + text.size();
    const auto r1 = std::from_chars(text.data(), end_hi, hi, 16);
    const auto r2 = std::from_chars(end_hi + 1, end_lo, lo, 16);
    if (r1.ec != std::errc{} || r1.ptr != end_hi || r2.ec != std::errc{} || r2.ptr != end_lo) {
        throw bad();
    }
    return CommitPosition{(std::uint64_t{hi} << 32U) | lo};
}

std::string CommitPosition::to_string() const {
    return fmt::format("{:X}/{:X}", lsn >> 32U, lsn & 0xFFFFFFFFU);
}

const char* to_string(RetryReason reason) noexcept {
    switch (reason) {
        case RetryReason::serialization_failure:
            return "serialization_failure";
        case RetryReason::deadlock:
            return "deadlock";
        case RetryReason::connection_lost:
            return "connection_lost";
        case RetryReason::aborted_commit:
            return "aborted_commit";
        case RetryReason::user:
            return "user";
        case RetryReason::stale_statement:
            return "stale_statement";
        case RetryReason::read_only_host:
            return "read_only_host";
    }
    return "unknown";
}

const char* to_string(TransactionOutcome outcome) noexcept {
    switch (outcome) {
        case TransactionOutcome::committed:
            return "committed";
        case TransactionOutcome::rolled_back:
            return "rolled_back";
        case TransactionOutcome::failed:
            return "failed";
        case TransactionOutcome::unknown:
            return "unknown";
    }
    return "unknown";
}

const char* to_string(IsolationLevel level) noexcept {
    switch (level) {
        case IsolationLevel::read_committed:
            return "READ COMMITTED";
        case IsolationLevel::repeatable_read:
            return "REPEATABLE READ";
        case IsolationLevel::serializable:
            return "SERIALIZABLE";
    }
    return "READ COMMITTED";
}

const char* to_string(HostRole role) noexcept {
    return role == HostRole::primary ? "primary" : "replica";
}

const char* to_string(QueryOutcome outcome) noexcept {
    switch (outcome) {
        case QueryOutcome::ok:
            return "ok";
        case QueryOutcome::sql_error:
            return "sql_error";
        case QueryOutcome::timeout:
            return "timeout";
        case QueryOutcome::connection_error:
            return "connection_error";
    }
    return "unknown";
}

std::string begin_statement(const TransactionOptions& options) {
    std::string sql = "BEGIN ISOLATION LEVEL ";
    sql += to_string(options.isolation);
    if (options.read_only || options.use_read_replica) sql += " READ ONLY";
    if (options.deferrable) sql += " DEFERRABLE";
    return sql;
}

}  // namespace sparc::db
