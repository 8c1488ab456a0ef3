// The CDN documents on the video platform's preset: building the stack, JSON both ways,
// validation and path matching.

#include <array>
#include <cstddef>
#include <string_view>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include <sparc/cdn.hpp>

#include "../tests/unit/cdn/sample_params.hpp"

namespace cdn = sparc::cdn;

namespace {

using sparc::cdn::test::video_params;

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
