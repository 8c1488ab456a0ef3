// Fuzzes CloudFront path-pattern matching: path_matches() and match().
//
// Input: lines. The last line is the request path, every line before it a cache behaviour's
// path pattern, in order; a single line is a pattern matched against the empty path.
//
// Invariants: path_matches() agrees with a straightforward implementation of CloudFront's rules
// (match.hpp: `*` any run including `/`, `?` one character, the rest literal and
// case-sensitive, a leading `/` implied on both sides, the query string ignored) for every
// pattern CloudFront accepts (no `[` or `\`); match() returns the first pattern that matches.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sparc/cdn/distribution.hpp>
#include <sparc/cdn/match.hpp>

#include "fuzz_support.hpp"

namespace {

namespace cdn = sparc::cdn;
using sparc::fuzz::check;

std::string with_leading_slash(std::string_view s) {
    std::string out;
    if (s.empty() || s.front() != '/') {
        out += '/';
    }
    out.append(s);
    return out;
}

// Wildcard matching by dynamic programming: O(pattern x path), no recursion.
bool reference_match(std::string_view pattern, std::string_view path) {
    if (pattern == "*") {
        return true;
    }
    path = path.substr(0, path.find('?'));
    if (pattern.find('\0') != std::string_view::npos || path.find('\0') != std::string_view::npos) {
        return false;
    }
    const auto p = with_leading_slash(pattern);
    const auto s = with_leading_slash(path);
    // row[j]: pattern prefix so far matches s[0, j).
    std::vector<char> row(s.size() + 1, 0);
    row[0] = 1;
    for (const char pc : p) {
        std::vector<char> next(s.size() + 1, 0);
        if (pc == '*') {
            char reach = 0;
            for (std::size_t j = 0; j <= s.size(); ++j) {
                reach = static_cast<char>(reach | row[j]);
                next[j] = reach;
            }
        } else {
            for (std::size_t j = 1; j <= s.size(); ++j) {
                next[j] = static_cast<char>(row[j - 1] && (pc == '?' || pc == s[j - 1]));
            }
        }
        row = std::move(next);
    }
    return row[s.size()] != 0;
}

bool cloudfront_pattern(std::string_view pattern) {
    return pattern.find_first_of("[\\") == std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto lines = sparc::fuzz::split(sparc::fuzz::as_text(data, size), '\n');
    const std::string_view path = lines.size() > 1 ? lines.back() : std::string_view();
    if (lines.size() > 1) {
        lines.pop_back();
    }

    cdn::DistributionConfig config;
    for (const auto pattern : lines) {
        const bool matches = cdn::path_matches(pattern, path);
        if (cloudfront_pattern(pattern)) {
            check(matches == reference_match(pattern, path),
                  "path_matches() disagrees with CloudFront's rules",
                  "pattern: " + std::string(pattern) + "\npath: " + std::string(path));
        }
        cdn::CacheBehavior behavior;
        behavior.path_pattern = std::string(pattern);
        config.cache_behaviors.push_back(behavior);
    }

    const auto m = cdn::match(config, path);
    std::size_t first = config.cache_behaviors.size();
    for (std::size_t i = 0; i < config.cache_behaviors.size(); ++i) {
        if (cdn::path_matches(config.cache_behaviors[i].path_pattern, path)) {
            first = i;
            break;
        }
    }
    if (first == config.cache_behaviors.size()) {
        check(m.is_default() && !m.index && m.path_pattern == "*",
              "match() did not fall back to the default behaviour");
    } else {
        check(m.index && *m.index == first && m.behavior == &config.cache_behaviors[first] &&
                  m.path_pattern == config.cache_behaviors[first].path_pattern,
              "match() did not return the first matching behaviour");
    }
    return 0;
}
