// The --selector of `sparc-db monitoring`: PromQL label matchers, checked as promtool's lexer
// reads them, so a mistake is caught when the files are generated, not when Prometheus loads
// them.

#include <sparc/db/monitoring.hpp>

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace sparc::db {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_octal(char c) { return c >= '0' && c <= '7'; }

class MatcherParser {
  public:
    explicit MatcherParser(std::string_view text) : text_(text) {}

    std::string parse() {
        skip_spaces();
        const std::size_t first = pos_;
        std::size_t last = pos_;
        while (!at_end()) {
            if (peek() == '{' || peek() == '}') {
                fail(
                    "braces are not part of the selector: give only the matchers inside them, "
                    "such as env=\"prod\",region=~\"eu-.*\"");
            }
            matcher();
            last = pos_;
            skip_spaces();
            if (at_end()) break;
            if (peek() != ',') {
                fail(fmt::format("expected ',' between matchers, found '{}'", shown(peek())));
            }
            ++pos_;
            skip_spaces();  // a trailing comma is allowed, as in PromQL
        }
        return std::string(text_.substr(first, last - first));
    }

  private:
    void matcher() {
        const std::size_t start = pos_;
        if (!is_name_start(peek())) {
            fail(fmt::format("expected a label name ([a-zA-Z_][a-zA-Z0-9_]*), found '{}'",
                             shown(peek())));
        }
        while (!at_end() && is_name_char(peek())) ++pos_;
        const auto name = text_.substr(start, pos_ - start);
        skip_spaces();
        const auto rest = text_.substr(pos_);
        if (rest.starts_with("=~") || rest.starts_with("!=") || rest.starts_with("!~")) {
            pos_ += 2;
        } else if (rest.starts_with("=")) {
            pos_ += 1;
        } else {
            fail(fmt::format("expected =, !=, =~ or !~ after the label name \"{}\"{}", name,
                             at_end() ? ", found the end" : ""));
        }
        skip_spaces();
        value();
    }

    void value() {
        if (at_end()) fail("expected a quoted value, found the end");
        const char quote = peek();
        if (quote != '"' && quote != '\'' && quote != '`') {
            fail(
                fmt::format("expected a value in double quotes, single quotes or backquotes, "
                            "found '{}'",
                            shown(quote)));
        }
        const std::size_t open = pos_++;
        while (true) {
            if (at_end()) fail_at(open, "unterminated quoted value");
            const char c = text_[pos_];
            if (c == quote) {
                ++pos_;
                return;
            }
            if (quote != '`' && c == '\n') fail_at(open, "unterminated quoted value");
            if (quote != '`' && c == '\\') {
                escape(quote);
                continue;
            }
            ++pos_;
        }
    }

    // Go's escapes, as PromQL's lexer takes them: the quote itself, \a \b \f \n \r \t \v \\,
    // three octal digits (at most \377), \x with two hex digits, \u with four, \U with eight.
    void escape(char quote) {
        const std::size_t at = pos_++;
        if (at_end()) fail_at(at, "unterminated quoted value");
        const char c = text_[pos_++];
        switch (c) {
            case 'a':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
            case 'v':
            case '\\':
                return;
            case 'x':
                digits(at, 2, 16);
                return;
            case 'u':
                code_point(at, 4);
                return;
            case 'U':
                code_point(at, 8);
                return;
            default:
                break;
        }
        if (c == quote) return;
        if (is_octal(c)) {
            --pos_;
            digits(at, 3, 8);
            const int v =
                (text_[at + 1] - '0') * 64 + (text_[at + 2] - '0') * 8 + (text_[at + 3] - '0');
            if (v > 255) fail_at(at, "octal escape value above \\377");
            return;
        }
        fail_at(at, fmt::format("unknown escape sequence '\\{}'", shown(c)));
    }

    void code_point(std::size_t at, std::size_t n) {
        digits(at, n, 16);
        const auto v = std::stoul(std::string(text_.substr(at + 2, n)), nullptr, 16);
        if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
            fail_at(at, "escape sequence is not a valid Unicode code point");
        }
    }

    void digits(std::size_t at, std::size_t n, int base) {
        for (std::size_t i = 0; i < n; ++i, ++pos_) {
            if (at_end() || !(base == 8 ? is_octal(peek()) : is_hex(peek()))) {
                fail_at(at, fmt::format("escape sequence needs {} {} digits", n,
                                        base == 8 ? "octal" : "hexadecimal"));
            }
        }
    }

    static std::string shown(char c) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f) return fmt::format("\\x{:02x}", u);
        return std::string(1, c);
    }

    [[noreturn]] void fail(std::string_view what) const { fail_at(pos_, what); }
    [[noreturn]] void fail_at(std::size_t at, std::string_view what) const {
        throw std::invalid_argument(
            fmt::format("invalid selector at character {}: {}", at + 1, what));
    }

    bool at_end() const { return pos_ >= text_.size(); }
    char peek() const { return text_[pos_]; }
    void skip_spaces() {
        while (!at_end() && is_space(peek())) ++pos_;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
};

}  // namespace

std::string normalize_selector(std::string_view selector) {
    return MatcherParser(selector).parse();
}

}  // namespace sparc::db
