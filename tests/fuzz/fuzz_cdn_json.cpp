// Fuzzes the CloudFront JSON readers: parse_json() and the strict from_json of every document
// type, then validate() and the JSON round trip.
//
// Input: a first line naming the document type (one of kTypes below; any other line picks a
// type from its bytes), then the JSON text.
//
// Invariants: parse_json() and from_json throw JsonError and nothing else; validate() throws
// nothing; a document read successfully writes JSON that reads back to an equal document and
// writes the same JSON again, also through text (dump and parse_json). For the video platform
// variables: video_platform() throws std::invalid_argument or builds a stack whose every
// document validates without throwing and round-trips, and whose deployment calls are JSON.

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <sparc/cdn.hpp>

#include "fuzz_support.hpp"

namespace {

namespace cdn = sparc::cdn;
using nlohmann::json;
using sparc::fuzz::check;
using sparc::fuzz::fail;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Writes `value`, reads it back and writes it again: both must agree, through text as well.
template <class T>
void check_round_trip(const T& value, std::string_view type) {
    const json written = value;
    T back{};
    try {
        back = written.get<T>();
    } catch (const cdn::JsonError& e) {
        fail("a written document does not read back",
             std::string(type) + ": " + e.what() + "\n" + dump(written));
    }
    check(back == value, "a document read back from its JSON differs",
          std::string(type) + "\n" + dump(written));
    check(json(back) == written, "a document writes different JSON the second time",
          std::string(type) + "\n" + dump(written));
    std::string text;
    try {
        text = written.dump();
    } catch (const json::type_error& e) {
        fail("a written document cannot be dumped", std::string(type) + ": " + e.what());
    }
    json reparsed;
    try {
        reparsed = cdn::parse_json(text);
    } catch (const cdn::JsonError& e) {
        fail("a dumped document does not parse", std::string(type) + ": " + e.what() + "\n" + text);
    }
    check(reparsed == written, "a document changes through its text",
          std::string(type) + "\n" + text + "\n" + dump(reparsed));
}

template <class T>
void check_validate(const T& value) {
    (void)cdn::validate(value);  // returns problems, throws nothing
}

void check_distribution(const cdn::DistributionConfig& config) {
    check_validate(config);
    check_round_trip(config, "DistributionConfig");
    for (const auto* path : {"/", "/index.html", "/video/abc/master.m3u8", "/api/v1/x?y=1"}) {
        const auto m = cdn::match(config, path);
        if (m.index) {
            check(*m.index < config.cache_behaviors.size() &&
                      m.behavior == &config.cache_behaviors[*m.index],
                  "match() returned an inconsistent behaviour");
        }
    }
}

// Reads `j` as T; false when it is not one (JsonError).
template <class T>
bool read(const json& j, T& out) {
    try {
        out = j.get<T>();
        return true;
    } catch (const cdn::JsonError&) {
        return false;
    }
}

template <class T>
void fuzz_document(const json& j, std::string_view type) {
    T value{};
    if (!read(j, value)) {
        return;
    }
    if constexpr (requires { cdn::validate(value); }) {
        check_validate(value);
    }
    check_round_trip(value, type);
}

void fuzz_stack(const json& j) {
    cdn::presets::VideoPlatformParams params;
    try {
        params = cdn::presets::video_platform_params_from_json(j);
    } catch (const cdn::JsonError&) {
        return;
    }
    cdn::presets::VideoPlatformStack stack;
    try {
        stack = cdn::presets::video_platform(params);
    } catch (const std::invalid_argument&) {
        return;
    }
    // Parameters video_platform() does not check (a certificate ARN, a rate limit...) show up
    // as problems here, which `sparc-cdn render` reports; it must not throw.
    check_validate(stack.distribution);
    check_round_trip(stack.distribution, "preset DistributionConfig");
    check_validate(stack.web_acl);
    check_round_trip(stack.web_acl, "preset WebAcl");
    check_round_trip(stack.video_cache_policy, "preset CachePolicyConfig");
    check_round_trip(stack.api_cache_policy, "preset CachePolicyConfig");
    check_round_trip(stack.websocket_origin_request_policy, "preset OriginRequestPolicyConfig");
    check_round_trip(stack.security_headers_policy, "preset ResponseHeadersPolicyConfig");
    check_round_trip(stack.realtime_log_config, "preset RealtimeLogConfig");
    check_round_trip(stack.field_encryption_profile, "preset FieldLevelEncryptionProfileConfig");
    check_round_trip(stack.field_encryption_config, "preset FieldLevelEncryptionConfig");
    check_round_trip(stack.edge_auth_function, "preset EdgeFunction");
    for (const auto& alarm : stack.alarms) {
        check_validate(alarm);
        check_round_trip(alarm, "preset MetricAlarm");
    }
    const auto calls = cdn::deployment_calls(stack);
    for (const auto& call : calls) {
        try {
            (void)cdn::parse_json(call.input);
        } catch (const cdn::JsonError& e) {
            fail("a deployment call's input is not JSON", e.what());
        }
    }
    (void)cdn::deploy_script(stack, calls);
}

constexpr std::string_view kTypes[] = {
    "DistributionConfig",
    "DistributionDocument",
    "CachePolicyConfig",
    "OriginRequestPolicyConfig",
    "ResponseHeadersPolicyConfig",
    "WebAcl",
    "MetricAlarm",
    "EdgeFunction",
    "OriginAccessIdentityConfig",
    "OriginAccessControlConfig",
    "PublicKeyConfig",
    "FieldLevelEncryptionProfileConfig",
    "FieldLevelEncryptionConfig",
    "RealtimeLogConfig",
    "MonitoringSubscription",
    "VideoPlatformParams",
};
constexpr std::size_t kTypeCount = sizeof(kTypes) / sizeof(kTypes[0]);

std::size_t type_index(std::string_view header) {
    for (std::size_t i = 0; i < kTypeCount; ++i) {
        if (header == kTypes[i]) {
            return i;
        }
    }
    std::size_t sum = 0;
    for (const char c : header) {
        sum += static_cast<unsigned char>(c);
    }
    return sum % kTypeCount;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto text = sparc::fuzz::as_text(data, size);
    const auto newline = text.find('\n');
    const auto header = text.substr(0, newline);
    const auto body =
        newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    const auto index = type_index(header);

    json j;
    try {
        j = cdn::parse_json(body);
    } catch (const cdn::JsonError&) {
        return 0;
    }

    switch (index) {
        case 0: {
            cdn::DistributionConfig config;
            if (read(j, config)) {
                check_distribution(config);
            }
            break;
        }
        case 1: {
            cdn::DistributionConfig config;
            try {
                config = cdn::distribution_config_from_document(j);
            } catch (const cdn::JsonError&) {
                break;
            }
            check_distribution(config);
            break;
        }
        case 2:
            fuzz_document<cdn::CachePolicyConfig>(j, kTypes[index]);
            break;
        case 3:
            fuzz_document<cdn::OriginRequestPolicyConfig>(j, kTypes[index]);
            break;
        case 4:
            fuzz_document<cdn::ResponseHeadersPolicyConfig>(j, kTypes[index]);
            break;
        case 5:
            fuzz_document<cdn::waf::WebAcl>(j, kTypes[index]);
            break;
        case 6:
            fuzz_document<cdn::MetricAlarm>(j, kTypes[index]);
            break;
        case 7:
            fuzz_document<cdn::EdgeFunction>(j, kTypes[index]);
            break;
        case 8:
            fuzz_document<cdn::OriginAccessIdentityConfig>(j, kTypes[index]);
            break;
        case 9:
            fuzz_document<cdn::OriginAccessControlConfig>(j, kTypes[index]);
            break;
        case 10:
            fuzz_document<cdn::PublicKeyConfig>(j, kTypes[index]);
            break;
        case 11:
            fuzz_document<cdn::FieldLevelEncryptionProfileConfig>(j, kTypes[index]);
            break;
        case 12:
            fuzz_document<cdn::FieldLevelEncryptionConfig>(j, kTypes[index]);
            break;
        case 13:
            fuzz_document<cdn::RealtimeLogConfig>(j, kTypes[index]);
            break;
        case 14:
            fuzz_document<cdn::MonitoringSubscription>(j, kTypes[index]);
            break;
        default:
            fuzz_stack(j);
            break;
    }
    return 0;
}
