#pragma once
// Helpers shared by the fuzz targets: reporting a broken invariant so that libFuzzer keeps the
// input, splitting an input into fields, and telling whether a message shows a password.

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace sparc::fuzz {

/// Reports a broken invariant and aborts: libFuzzer saves the input as a crash artifact.
[[noreturn]] inline void fail(std::string_view what, std::string_view detail = {}) {
    std::fprintf(stderr, "\n==== fuzz invariant violated: %.*s\n", static_cast<int>(what.size()),
                 what.data());
    if (!detail.empty()) {
        std::fprintf(stderr, "%.*s\n", static_cast<int>(detail.size()), detail.data());
    }
    std::fflush(stderr);
    __builtin_trap();
}

/// Checks `condition`; see fail().
inline void check(bool condition, std::string_view what, std::string_view detail = {}) {
    if (!condition) {
        fail(what, detail);
    }
}

/// The input as text.
inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
    return size == 0 ? std::string_view()
                     : std::string_view(reinterpret_cast<const char*>(data), size);
}

/// `text` cut at every `separator`.
inline std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> out;
    while (true) {
        const auto at = text.find(separator);
        out.push_back(text.substr(0, at));
        if (at == std::string_view::npos) {
            return out;
        }
        text.remove_prefix(at + 1);
    }
}

/// Replaces every `token` in `text` by `value`.
inline std::string replace_all(std::string_view text, std::string_view token,
                               std::string_view value) {
    std::string out;
    while (true) {
        const auto at = text.find(token);
        out.append(text.substr(0, at));
        if (at == std::string_view::npos) {
            return out;
        }
        out.append(value);
        text.remove_prefix(at + token.size());
    }
}

/// Percent-encodes every byte outside RFC 3986's unreserved set (as a user writes a password
/// into a URL).
inline std::string percent_encode(std::string_view v) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (const char ch : v) {
        const auto c = static_cast<unsigned char>(ch);
        const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                                c == '~';
        if (unreserved) {
            out += ch;
        } else {
            out += '%';
            out += kHex[c >> 4U];
            out += kHex[c & 0xFU];
        }
    }
    return out;
}

/// A different secret with the same shape: every letter and digit replaced by another of its
/// kind, every other byte kept, so that a connection string written around it parses the same
/// way. A message that is only built from the string's structure is the same for both.
inline std::string other_secret(std::string_view secret) {
    std::string out(secret);
    auto is_hex = [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    };
    for (std::size_t i = 0; i < out.size(); ++i) {
        auto& ch = out[i];
        // A percent escape stays as it is: changed, it may no longer be one, and the input
        // around the other secret would no longer parse the same way.
        if (ch == '%' && i + 2 < out.size() && is_hex(out[i + 1]) && is_hex(out[i + 2])) {
            i += 2;
            continue;
        }
        if (ch >= 'a' && ch <= 'z') {
            ch = static_cast<char>('a' + (ch - 'a' + 13) % 26);
        } else if (ch >= 'A' && ch <= 'Z') {
            ch = static_cast<char>('A' + (ch - 'A' + 13) % 26);
        } else if (ch >= '0' && ch <= '9') {
            ch = static_cast<char>('0' + (ch - '0' + 5) % 10);
        }
    }
    return out;
}

/// The pieces of a secret long enough to identify it, as libpq may quote them one by one when
/// blanks, '=' or '&' in an unquoted password split it into tokens: the whole secret and each
/// such token of at least `min_length` bytes.
inline std::vector<std::string> secret_pieces(std::string_view secret, std::size_t min_length = 6) {
    std::vector<std::string> out;
    if (secret.size() >= min_length) {
        out.emplace_back(secret);
    }
    auto separator = [](char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' ||
               c == '=' || c == '&';
    };
    std::size_t i = 0;
    while (i < secret.size()) {
        while (i < secret.size() && separator(secret[i])) {
            ++i;
        }
        auto j = i;
        while (j < secret.size() && !separator(secret[j])) {
            ++j;
        }
        if (j - i >= min_length && j - i < secret.size()) {
            out.emplace_back(secret.substr(i, j - i));
        }
        i = j;
    }
    return out;
}

inline bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Whether `text` has something libpq reads as one more option: a blank or '&' (before `limit`)
// followed by a keyword and '='.
inline bool has_option_inside(std::string_view text, std::size_t limit = std::string_view::npos) {
    for (std::size_t i = 0; i < text.size() && i < limit; ++i) {
        if (!is_blank(text[i]) && text[i] != '&') {
            continue;
        }
        auto j = i + 1;
        while (j < text.size() && is_blank(text[j])) {
            ++j;
        }
        const auto word = j;
        while (j < text.size() &&
               (std::isalnum(static_cast<unsigned char>(text[j])) != 0 || text[j] == '_')) {
            ++j;
        }
        while (j < text.size() && is_blank(text[j])) {
            ++j;
        }
        if (j > word && j < text.size() && text[j] == '=') {
            return true;
        }
    }
    return false;
}

// Whether `text` holds what the masker takes for the start of another secret: "password" and
// '=' (any case, blanks between), or "://".
inline bool mentions_password_key(std::string_view text) {
    std::string lower(text);
    for (auto& c : lower) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (lower.find("://") != std::string::npos) {
        return true;
    }
    for (auto at = lower.find("password"); at != std::string::npos;
         at = lower.find("password", at + 1)) {
        auto i = at + 8;
        while (i < lower.size() && is_blank(lower[i])) {
            ++i;
        }
        if (i < lower.size() && lower[i] == '=') {
            return true;
        }
    }
    return false;
}

// Whether text ending with `prefix` is inside a postgresql:// or postgres:// URL: one starts
// the text, or follows a ',' or a blank, and no blank comes after it.
inline bool in_url(std::string_view prefix) {
    for (const std::string_view scheme : {"postgresql://", "postgres://"}) {
        for (auto at = prefix.rfind(scheme); at != std::string_view::npos;
             at = at == 0 ? std::string_view::npos : prefix.rfind(scheme, at - 1)) {
            if (at > 0 && prefix[at - 1] != ',' && !is_blank(prefix[at - 1])) {
                continue;
            }
            const auto after = prefix.substr(at);
            return std::none_of(after.begin(), after.end(), is_blank);
        }
    }
    return false;
}

// Whether `secret`, written between `prefix` and `rest`, is a password as the documentation
// promises to mask it (docs/configuration.md, "Secrets"): the value after `password=` (any
// case, blanks around '=', an opening quote) ending at the closing quote, a blank, a query's '&'
// or the end, and not holding what libpq reads as a further option; or the password of a URL's
// `scheme://user:password@` (no '@', '/' or blank in it, an '@' after it before any '/' or
// blank). Neither may itself contain "password=" or "://", which start another secret for the
// masker. A secret written anywhere else is a host name, a port, an option... which messages
// may show.
inline bool is_password(std::string_view prefix, std::string_view secret, std::string_view rest) {
    if (secret.empty()) {
        return false;
    }
    auto p = prefix;
    if (p.ends_with('\'')) {
        p.remove_suffix(1);
    }
    while (!p.empty() && is_blank(p.back())) {
        p.remove_suffix(1);
    }
    if (p.ends_with('=')) {
        p.remove_suffix(1);
        while (!p.empty() && is_blank(p.back())) {
            p.remove_suffix(1);
        }
        // The keyword, at the start of a token: of the string or after a blank in a key=value
        // string, after '?' or '&' in a URL.
        std::string lower(p);
        for (auto& c : lower) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        std::string_view key = lower;
        if (key.ends_with("sslpassword")) {
            key.remove_suffix(11);
        } else if (key.ends_with("password")) {
            key.remove_suffix(8);
        } else {
            return false;
        }
        const bool url = in_url(prefix);
        if (url && std::any_of(secret.begin(), secret.end(), is_blank)) {
            return false;  // a blank ends the URL
        }
        const bool token_start = url ? (key.ends_with('?') || key.ends_with('&'))
                                     : (key.empty() || is_blank(key.back()));
        const auto whole = std::string(secret) + std::string(rest);
        if (!token_start || has_option_inside(whole, secret.size()) ||
            mentions_password_key(secret)) {
            return false;
        }
        // The value ends where the secret ends: at the closing quote, or at a blank, the
        // next '&' of a URL query or the end.
        if (prefix.ends_with('\'')) {
            return rest.starts_with('\'') && (rest.size() == 1 || is_blank(rest[1]));
        }
        return rest.empty() || is_blank(rest.front()) || rest.front() == '&';
    }
    const auto scheme = prefix.rfind("://");
    if (scheme == std::string_view::npos) {
        return false;
    }
    // A scheme (letters, digits, '+', '-', '.') that starts the text or follows a blank or ','.
    auto start = scheme;
    while (start > 0 &&
           (std::isalnum(static_cast<unsigned char>(prefix[start - 1])) != 0 ||
            prefix[start - 1] == '+' || prefix[start - 1] == '-' || prefix[start - 1] == '.')) {
        --start;
    }
    if (start == scheme ||
        (start > 0 && prefix[start - 1] != ',' && !is_blank(prefix[start - 1]))) {
        return false;
    }
    const auto authority = prefix.substr(scheme + 3);
    for (const char c : authority) {
        if (c == '@' || c == '/' || c == '?' || is_blank(c)) {
            return false;
        }
    }
    if (authority.find(':') == std::string_view::npos) {
        return false;
    }
    if (mentions_password_key(secret)) {
        return false;
    }
    // libpq ends the userinfo at the first '@', and finds none past a '/'; a blank ends the URL.
    for (const char c : secret) {
        if (c == '@' || c == '/' || is_blank(c)) {
            return false;
        }
    }
    for (const char c : rest) {
        if (c == '@') {
            return true;
        }
        if (c == '/' || is_blank(c)) {
            return false;
        }
    }
    return false;
}

/// `text` with {pw} replaced by `secret` and {pwenc} by its percent-encoding.
inline std::string with_secret(std::string_view text, std::string_view secret) {
    return replace_all(replace_all(text, "{pwenc}", percent_encode(secret)), "{pw}", secret);
}

/// Whether `text` uses the secret ({pw} or {pwenc}) at least once, and only as a password.
inline bool only_passwords_use_secret(std::string_view text, std::string_view secret) {
    bool used = false;
    for (auto at = text.find("{pw"); at != std::string_view::npos; at = text.find("{pw", at + 1)) {
        const auto end = text.find('}', at);
        if (end == std::string_view::npos) {
            return false;
        }
        const auto token = text.substr(at, end + 1 - at);
        const auto written = with_secret(token, secret);
        if (!is_password(with_secret(text.substr(0, at), secret), written,
                         with_secret(text.substr(end + 1), secret))) {
            return false;
        }
        used = true;
    }
    return used;
}

/// Whether `message` shows a piece of `secret`. `message_for_other` is the message produced by
/// the same input written around other_secret(secret), and `context` every part of the input
/// that is not the secret: a piece found there as well is not evidence of a leak (it is fixed
/// text of the message, or also a host name, user name...).
inline bool shows_secret(std::string_view message, std::string_view secret,
                         std::string_view message_for_other, std::string_view context) {
    for (const auto& piece : secret_pieces(secret)) {
        if (message.find(piece) == std::string_view::npos ||
            piece.find("****") != std::string::npos) {
            continue;  // absent, or made of a mask the message may have anyway
        }
        if (message_for_other.find(piece) != std::string_view::npos ||
            context.find(piece) != std::string_view::npos) {
            continue;
        }
        const auto encoded = percent_encode(piece);
        if (context.find(encoded) != std::string_view::npos) {
            continue;
        }
        return true;
    }
    return false;
}

}  // namespace sparc::fuzz
