#pragma once
// What the documentation's fragments take for granted: the usual includes and namespace
// aliases, and the names they use without declaring them (a pool, a configuration, ids, a
// tracer...). check_snippets.py includes this after a fragment's own #include lines. Nothing
// here is ever run: the fragments are only compiled.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <sparc/cdn.hpp>
#include <sparc/db.hpp>
#include <sparc/db/testing/fake_backend.hpp>

#if __has_include(<httplib.h>)
#include <httplib.h>
#endif
#include <catch2/catch.hpp>  // docs/testing.md's fragments assert with REQUIRE

namespace db = sparc::db;
namespace cdn = sparc::cdn;
using namespace std::chrono_literals;

// Values a fragment reads.
extern db::PoolConfig cfg;
extern db::Database& pool;
extern db::testing::FakeBackend& fake;
extern const db::Row& row;
extern std::int64_t id;
extern std::int64_t tenant_id;
extern std::int64_t user_id;
extern double total;
extern std::string title;
extern cdn::presets::VideoPlatformParams params;
#if __has_include(<httplib.h>)
extern httplib::Server server;
#endif

// The service's own functions a fragment calls.
struct EventBus {
    void publish(std::string_view topic, std::int64_t id);
};
extern EventBus events;
void reload_videos();
void reload_everything();
void on_video_event(const std::string& channel, const std::string& payload);
void handle(const std::string& channel, const std::string& payload, int backend_pid);
template <typename... Args>
void log_warning(fmt::format_string<Args...> format, Args&&... args);

// A logging library's interface (spdlog's, whose format strings are fmt's).
namespace spdlog {
template <typename... Args>
void warn(fmt::format_string<Args...> format, Args&&... args);
template <typename... Args>
void error(fmt::format_string<Args...> format, Args&&... args);
}  // namespace spdlog

// A tracing library's interface, as an OpenTelemetry SDK has it.
struct Span {
    void set_attribute(std::string_view key, std::string value);
    void set_attribute(std::string_view key, std::int64_t value);
    void set_status_error(std::string message);
    void end();
};
struct Tracer {
    Span start_span(std::string name, const Span* parent = nullptr);
};
extern Tracer tracer;
