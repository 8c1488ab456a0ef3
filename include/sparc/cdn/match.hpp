#pragma once
/// @file match.hpp
/// Which cache behaviour CloudFront uses for a request path.

#include <cstddef>
#include <optional>
#include <string_view>

#include <sparc/cdn/distribution.hpp>

namespace sparc::cdn {

/// The cache behaviour chosen for a path.
struct BehaviorMatch {
    std::string_view path_pattern;            ///< The behaviour's PathPattern; "*" for the default
    const CacheBehavior* behavior = nullptr;  ///< The ordered behaviour; nullptr for the default
    std::optional<std::size_t> index;  ///< Position in cache_behaviors; empty for the default
    /// True when no ordered behaviour matched and the default behaviour serves the path.
    bool is_default() const noexcept { return behavior == nullptr; }
};

/// True if CloudFront's path pattern `pattern` matches the request path `path`.
///
/// `*` matches any run of characters including `/`, `?` exactly one character, everything
/// else itself, case-sensitively. A missing leading `/` on either side is implied, and a
/// query string (from the first `?` of `path`) is ignored, as CloudFront does.
bool path_matches(std::string_view pattern, std::string_view path);

/// The behaviour CloudFront uses for `path`: the first ordered cache behaviour whose pattern
/// matches, else the default. The result refers into `config`, which must outlive it.
BehaviorMatch match(const DistributionConfig& config, std::string_view path);

}  // namespace sparc::cdn
