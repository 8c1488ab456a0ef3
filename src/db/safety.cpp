#include <sparc/db/safety.hpp>

#include <cstring>

#include <fmt/format.h>

namespace sparc::db::safety {

void check_statement(std::string_view sql, ParamsRef params) {
    if (const auto at = sql.find('\0'); at != std::string_view::npos) {
        throw UsageError(fmt::format(
            "the SQL text contains a NUL byte at offset {}: libpq would send only the text "
            "before it; nothing was sent",
            at));
    }
    if (params.size() > kMaxParameters) {
        throw UsageError(fmt::format(
            "{} parameters given: PostgreSQL accepts at most {} in one statement; nothing was "
            "sent (pass a list as one array parameter, or use several statements)",
            params.size(), kMaxParameters));
    }
    for (std::size_t i = 0; i < params.size(); ++i) {
        const Param& p = params[i];
        if (p.is_null()) continue;
        if (p.is_binary()) {  // bytea in binary format holds any byte, NUL included
            // PostgreSQL allocates at most 1 GB - 1 for one value, and libpq takes an int length.
            constexpr std::size_t kMaxValueBytes = 0x3FFFFFFF;
            if (p.size() > kMaxValueBytes) {
                throw UsageError(fmt::format(
                    "parameter ${} is {} bytes: PostgreSQL holds at most {} bytes in one value; "
                    "nothing was sent",
                    i + 1, p.size(), kMaxValueBytes));
            }
            continue;
        }
        const std::string& text = p.text();
        if (const void* nul = std::memchr(text.data(), '\0', text.size())) {
            const auto at = static_cast<const char*>(nul) - text.data();
            throw UsageError(fmt::format(
                "parameter ${} contains a NUL byte at offset {} of {}: PostgreSQL text cannot "
                "hold NUL, and libpq would send only the bytes before it; nothing was sent "
                "(store binary data as bytea)",
                i + 1, at, text.size()));
        }
    }
}

}  // namespace sparc::db::safety
