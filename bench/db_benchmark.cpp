// The per-statement costs around the pool: binding parameters, reading result fields, and the
// replica router's pick.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <sparc/db.hpp>

namespace db = sparc::db;

namespace {

// ---- Parameter binding ----

void param_int(benchmark::State& state) {
    std::int64_t v = 1234567890123;
    for (auto _ : state) {
        benchmark::DoNotOptimize(v);
        db::Param p(v);
        benchmark::DoNotOptimize(p);
    }
}
BENCHMARK(param_int)->Name("param/int64");

void param_short_string(benchmark::State& state) {
    std::string v = "video-1234";  // fits the small-string buffer
    for (auto _ : state) {
        benchmark::DoNotOptimize(v);
        db::Param p(v);
        benchmark::DoNotOptimize(p);
    }
}
BENCHMARK(param_short_string)->Name("param/string:short");

void param_long_string(benchmark::State& state) {
    std::string v(64, 'x');  // allocates
    for (auto _ : state) {
        benchmark::DoNotOptimize(v);
        db::Param p(v);
        benchmark::DoNotOptimize(p);
    }
}
BENCHMARK(param_long_string)->Name("param/string:64");

void param_optional(benchmark::State& state) {
    const bool engaged = state.range(0) != 0;
    std::optional<std::int64_t> v = engaged ? std::optional<std::int64_t>(42) : std::nullopt;
    for (auto _ : state) {
        benchmark::DoNotOptimize(v);
        db::Param p(v);
        benchmark::DoNotOptimize(p);
    }
}
BENCHMARK(param_optional)->Name("param/optional_int64/engaged")->Arg(0)->Arg(1);

// What a call site `pool.query(sql, {id, title, maybe_tenant})` pays before the pool runs.
[[gnu::noinline]] std::size_t count_params(db::ParamsRef params) {
    std::size_t n = 0;
    for (const auto& p : params) n += p.is_null() ? 0 : p.text().size();
    return n;
}

void params_call_site(benchmark::State& state) {
    std::int64_t id = 987654;
    std::string title = "Intro to sparc";
    std::optional<std::int64_t> tenant;
    for (auto _ : state) {
        benchmark::DoNotOptimize(id);
        benchmark::DoNotOptimize(title);
        benchmark::DoNotOptimize(tenant);
        benchmark::DoNotOptimize(count_params({id, title, tenant}));
    }
}
BENCHMARK(params_call_site)->Name("params/call_site:int64,string,optional");

// ---- Result field access ----

constexpr std::size_t kRows = 100;

db::Result make_result() {
    std::vector<std::vector<std::optional<std::string>>> rows;
    rows.reserve(kRows);
    for (std::size_t i = 0; i < kRows; ++i) {
        rows.push_back({std::to_string(1000 + i), "Video number " + std::to_string(i),
                        std::to_string(i * 37)});
    }
    return db::Result(std::make_shared<const db::detail::TextResultData>(
        std::vector<std::string>{"id", "title", "views"}, std::move(rows), 0));
}

// Items are fields read: time per item is the cost of one field access.
void result_by_name(benchmark::State& state) {
    const db::Result r = make_result();
    for (auto _ : state) {
        std::int64_t sum = 0;
        for (const auto& row : r) sum += row["views"].as<std::int64_t>();
        benchmark::DoNotOptimize(sum);
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kRows));
}
BENCHMARK(result_by_name)->Name("result/row[\"views\"].as<int64_t>");

void result_by_index(benchmark::State& state) {
    const db::Result r = make_result();
    for (auto _ : state) {
        std::int64_t sum = 0;
        for (const auto& row : r) sum += row[2].as<std::int64_t>();
        benchmark::DoNotOptimize(sum);
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kRows));
}
BENCHMARK(result_by_index)->Name("result/row[2].as<int64_t>");

void result_string_view(benchmark::State& state) {
    const db::Result r = make_result();
    for (auto _ : state) {
        std::size_t n = 0;
        for (const auto& row : r) n += row[1].as<std::string_view>().size();
        benchmark::DoNotOptimize(n);
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kRows));
}
BENCHMARK(result_string_view)->Name("result/row[1].as<string_view>");

// ---- Replica router ----

void router_pick(benchmark::State& state) {
    // Thread 0 builds the router before the first iteration and drops it after the last: the
    // library holds every thread at a barrier on both sides of the loop.
    static std::unique_ptr<db::ReplicaRouter> router;
    if (state.thread_index() == 0) {
        std::vector<unsigned> weights(static_cast<std::size_t>(state.range(0)), 1U);
        weights[0] = 3;
        router = std::make_unique<db::ReplicaRouter>(weights, std::chrono::milliseconds(10'000));
    }
    for (auto _ : state) {
        benchmark::DoNotOptimize(router->pick());
    }
    state.SetItemsProcessed(state.iterations());
    if (state.thread_index() == 0) {
        router.reset();
    }
}
BENCHMARK(router_pick)
    ->Name("router/pick/replicas")
    ->Arg(2)
    ->Arg(8)
    ->Threads(1)
    ->Threads(2)
    ->Threads(4)
    ->UseRealTime();

}  // namespace
