// CloudFront path pattern matching.

#include <sparc/cdn/match.hpp>

#include <fnmatch.h>

#include <string>

namespace sparc::cdn {

namespace {

// CloudFront treats "images/*" and "/images/*" alike, and request paths always start with '/'.
std::string with_leading_slash(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 1);
    if (text.empty() || text.front() != '/') {
        out += '/';
    }
    out.append(text);
    return out;
}

}  // namespace

bool path_matches(std::string_view pattern, std::string_view path) {
    if (pattern == "*") {
        return true;
    }
    path = path.substr(0, path.find('?'));
    // Neither may hold NUL: fnmatch would stop there and match a different string.
    if (pattern.find('\0') != std::string_view::npos || path.find('\0') != std::string_view::npos) {
        return false;
    }
    // With no flags fnmatch(3) gives CloudFront's semantics: '*' crosses '/', '?' is one
    // character, matching is case-sensitive. CloudFront patterns cannot contain '[' or '\',
    // so fnmatch's bracket expressions and escapes never come into play for valid patterns.
    const auto full_pattern = with_leading_slash(pattern);
    const auto full_path = with_leading_slash(path);
    return ::fnmatch(full_pattern.c_str(), full_path.c_str(), 0) == 0;
}

BehaviorMatch match(const DistributionConfig& config, std::string_view path) {
    for (std::size_t i = 0; i < config.cache_behaviors.size(); ++i) {
        const auto& behavior = config.cache_behaviors[i];
        if (path_matches(behavior.path_pattern, path)) {
            return BehaviorMatch{behavior.path_pattern, &behavior, i};
        }
    }
    return BehaviorMatch{"*", nullptr, std::nullopt};
}

}  // namespace sparc::cdn
