#pragma once
/// @file cdn.hpp
/// Umbrella header for sparc::cdn: typed CloudFront configuration and the resources around
/// it, serialised to the JSON the AWS API and CLI take.

#include <nlohmann/json.hpp>

#include <sparc/cdn/alarms.hpp>
#include <sparc/cdn/cache_behavior.hpp>
#include <sparc/cdn/cloudformation.hpp>
#include <sparc/cdn/deploy.hpp>
#include <sparc/cdn/distribution.hpp>
#include <sparc/cdn/document.hpp>
#include <sparc/cdn/edge_function.hpp>
#include <sparc/cdn/field_level_encryption.hpp>
#include <sparc/cdn/json.hpp>
#include <sparc/cdn/match.hpp>
#include <sparc/cdn/monitoring.hpp>
#include <sparc/cdn/origin.hpp>
#include <sparc/cdn/origin_access.hpp>
#include <sparc/cdn/policies.hpp>
#include <sparc/cdn/presets.hpp>
#include <sparc/cdn/validate.hpp>
#include <sparc/cdn/waf.hpp>
