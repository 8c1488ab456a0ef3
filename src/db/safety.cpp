#include <sparc/db/safety.hpp>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace sparc::db::safety {

namespace {

// The statement's words from the start, past blanks and comments, upper-cased (at most `n`).
std::vector<std::string> leading_words(std::string_view sql, std::size_t n) {
    std::vector<std::string> words;
    std::size_t i = 0;
    while (i < sql.size() && words.size() < n) {
        const char c = sql[i];
        if (std::isspace(static_cast<unsigned char>(c)) != 0) {
            ++i;
        } else if (sql.substr(i, 2) == "--") {
            const auto end = sql.find('\n', i);
            i = end == std::string_view::npos ? sql.size() : end + 1;
        } else if (sql.substr(i, 2) == "/*") {
            // Block comments nest in PostgreSQL.
            int depth = 0;
            while (i < sql.size()) {
                if (sql.substr(i, 2) == "/*") {
                    ++depth;
                    i += 2;
                } else if (sql.substr(i, 2) == "*/") {
                    i += 2;
                    if (--depth == 0) break;
                } else {
                    ++i;
                }
            }
        } else if (std::isalpha(static_cast<unsigned char>(c)) != 0) {
            std::string word;
            while (i < sql.size() &&
                   (std::isalnum(static_cast<unsigned char>(sql[i])) != 0 || sql[i] == '_')) {
                word += static_cast<char>(std::toupper(static_cast<unsigned char>(sql[i])));
                ++i;
            }
            words.push_back(std::move(word));
        } else {
            break;
        }
    }
    return words;
}

}  // namespace

namespace {
// The transaction-control command `words` start with, or empty.
std::string control_command(const std::vector<std::string>& words) {
    if (words.empty()) return {};
    static constexpr std::string_view kControl[] = {"BEGIN",    "START", "COMMIT",    "END",
                                                    "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE"};
    if (std::find(std::begin(kControl), std::end(kControl), words[0]) != std::end(kControl)) {
        return words[0];
    }
    if (words[0] == "PREPARE" && words.size() > 1 && words[1] == "TRANSACTION") {
        return "PREPARE TRANSACTION";
    }
    return {};
}
}  // namespace

std::string transaction_control(std::string_view sql) {
    return control_command(leading_words(sql, 2));
}

bool may_wrap_in_block(std::string_view sql) {
    const auto words = leading_words(sql, 2);
    return control_command(words).empty() &&
           !(!words.empty() && (words[0] == "LOCK" || words[0] == "DECLARE"));
}

void check_batch_statement(std::string_view sql) {
    if (const auto command = transaction_control(sql); !command.empty()) {
        throw UsageError(fmt::format(
            "{} cannot run in a batch: a batch is one transaction (or a part of the caller's); "
            "nothing was sent",
            command));
    }
}

void check_transaction_statement(std::string_view sql) {
    const auto words = leading_words(sql, 2);
    if (words.empty()) return;
    static constexpr std::string_view kControl[] = {"BEGIN", "START",    "COMMIT",
                                                    "END",   "ROLLBACK", "ABORT"};
    bool control =
        std::find(std::begin(kControl), std::end(kControl), words[0]) != std::end(kControl);
    if (words[0] == "ROLLBACK" && words.size() > 1 && words[1] == "TO") control = false;
    control = control || (words[0] == "PREPARE" && words.size() > 1 && words[1] == "TRANSACTION");
    if (control) {
        throw UsageError(fmt::format(
            "{} cannot run inside transaction(): the pool begins, commits and rolls back the "
            "transaction itself (return from the function to commit, throw to roll back; "
            "savepoints are allowed); nothing was sent",
            words[0] == "PREPARE" ? std::string("PREPARE TRANSACTION") : words[0]));
    }
}

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
