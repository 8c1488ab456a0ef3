// The CDN documents on the video platform's preset: building the stack, JSON both ways,
// validation and path matching.

#include <array>
#include <cstddef>
#include <string_view>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include <sparc/cdn.hpp>

namespace cdn = sparc::cdn;

namespace {

// An RSA 2048 public key (render checks that the keys are real ones).
constexpr const char* kPublicKey = R"(-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAp5uGafX+de76ranXpOF8
7mcUJrSrZ+F2eIUA3PUFv9kaxwMgBH60LgD8pp5M/3WhXMwnVpjOTjTRIBo4Vl9r
3SAh6kCRLxAR2/VLNSwp8mIFuS1hSwlcpZSJiK4IuwHyVB1kDxtoqChP2bFLJalI
NbsUF1Gw+aW6nsIDz/W+iA3zcxd9NQwYs8TtCBu2zs0t1ZZs4YgnCzl98Ryhvjtf
SiJFpPnxqO4dP5NmjHwSeajrB6lKXpi4uU0l1fasi+07q22bldAnmHD8bv42TtIy
+BUxCFBlWPeHDo555Mz1M/dRNawjGg4NMpWmHCXJJi63JVLVxvi5YUnXu3DmaGYy
nwIDAQAB
-----END PUBLIC KEY-----
)";

cdn::presets::VideoPlatformParams video_params() {
    cdn::presets::VideoPlatformParams p;
    p.environment = "production";
    p.api_gateway_domain = "api.sparc.io";
    p.video_streaming_domain = "video.sparc.io";
    p.cdn_domain_name = "cdn.sparc.io";
    p.jwt_public_key = kPublicKey;
    p.field_encryption_public_key = kPublicKey;
    p.sns_alert_topic_arn = "arn:aws:sns:us-east-1:123456789012:alerts";
    return p;
}

const cdn::presets::VideoPlatformStack& stack() {
    static const cdn::presets::VideoPlatformStack s = cdn::presets::video_platform(video_params());
    return s;
}

void preset(benchmark::State& state) {
    const auto params = video_params();
    for (auto _ : state) {
        auto s = cdn::presets::video_platform(params);
        benchmark::DoNotOptimize(s);
    }
}
BENCHMARK(preset)->Name("cdn/video_platform");

void to_json(benchmark::State& state) {
    const auto& d = stack().distribution;
    for (auto _ : state) {
        nlohmann::json j = d;
        benchmark::DoNotOptimize(j);
    }
}
BENCHMARK(to_json)->Name("cdn/to_json/distribution");

void to_json_text(benchmark::State& state) {
    const auto& d = stack().distribution;
    std::size_t bytes = 0;
    for (auto _ : state) {
        const auto text = nlohmann::json(d).dump();
        bytes = text.size();
        benchmark::DoNotOptimize(bytes);
    }
    state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(to_json_text)->Name("cdn/to_json+dump/distribution");

void from_json(benchmark::State& state) {
    const nlohmann::json j = stack().distribution;
    for (auto _ : state) {
        auto d = j.get<cdn::DistributionConfig>();
        benchmark::DoNotOptimize(d);
    }
}
BENCHMARK(from_json)->Name("cdn/from_json/distribution");

void from_json_text(benchmark::State& state) {
    const std::string text = nlohmann::json(stack().distribution).dump();
    for (auto _ : state) {
        auto d = cdn::parse_json(text).get<cdn::DistributionConfig>();
        benchmark::DoNotOptimize(d);
    }
}
BENCHMARK(from_json_text)->Name("cdn/parse_json+from_json/distribution");

void validate(benchmark::State& state) {
    const auto& d = stack().distribution;
    std::size_t problems = 0;
    for (auto _ : state) {
        auto p = cdn::validate(d);
        problems = p.size();
        benchmark::DoNotOptimize(p);
    }
    state.counters["problems"] = static_cast<double>(problems);
}
BENCHMARK(validate)->Name("cdn/validate/distribution");

// Items are paths matched; the mix covers each ordered behaviour and the default.
void match(benchmark::State& state) {
    const auto& d = stack().distribution;
    constexpr std::array<std::string_view, 6> kPaths = {"/video/8f14e45f/1080p/segment-00042.ts",
                                                        "/api/videos?tenant=7&page=2",
                                                        "/ws/live/chat",
                                                        "/index.html",
                                                        "/static/js/app.3f9a1c.js",
                                                        "/video/8f14e45f/master.m3u8"};
    std::size_t i = 0;
    for (auto _ : state) {
        auto m = cdn::match(d, kPaths[i]);
        benchmark::DoNotOptimize(m);
        i = i + 1 == kPaths.size() ? 0 : i + 1;
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(match)->Name("cdn/match/path");

}  // namespace
