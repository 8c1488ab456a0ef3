#pragma once
// AWS regions CloudFront accepts in particular places.

#include <array>
#include <string_view>

namespace sparc::cdn::detail {

// Regions that have an Origin Shield (OriginShield.OriginShieldRegion).
inline constexpr std::array<std::string_view, 12> kOriginShieldRegions{
    "us-east-1",      "us-east-2",      "us-west-2",      "ap-south-1",
    "ap-northeast-1", "ap-northeast-2", "ap-southeast-1", "ap-southeast-2",
    "eu-central-1",   "eu-west-1",      "eu-west-2",      "sa-east-1"};

}  // namespace sparc::cdn::detail
