// sparc-video-service: a small HTTP service on sparc::db, with health, metrics and graceful
// shutdown: what a service on the pool looks like in production.
//
//   DATABASE_URL=postgresql://... DATABASE_READ_REPLICAS=postgresql://...,postgresql://...
//   sparc-video-service --port 8080
//
//   GET  /videos?tenant=ID[&after=LSN][&limit=N]  newest videos of a tenant, read on a replica
//                                                  (after: read your own write, see POST)
//   POST /videos  {"tenant_id": 1, "title": "..."} inserts in a transaction; answers
//                                                  {"id": ..., "position": "0/16B3748"}
//   GET  /health                                   pool.health() as JSON; 503 when unhealthy
//   GET  /metrics                                  Prometheus text exposition
//
// SIGTERM or SIGINT: stop accepting, finish the requests in flight, drain the pool, exit 0.

#include <sparc/db.hpp>

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

namespace db = sparc::db;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kUsage =
    R"(Usage: sparc-video-service [--port N] [--host ADDR] [--service NAME] [--threads N]
                           [--grace-ms MS]

  --port N       port to listen on (default: $PORT, else 8080; 0 picks a free port)
  --host ADDR    address to bind (default 0.0.0.0)
  --service NAME registry defaults to start from (default video-management); the
                 environment (DATABASE_URL, DATABASE_READ_REPLICAS, DB_POOL_MAX, ...) applies
                 on top
  --threads N    request handler threads (default 16)
  --grace-ms MS  how long shutdown waits for requests and leases (default 10000)

Prints "listening on PORT" on stdout once it accepts connections.
)";

constexpr int kDefaultPort = 8080;
constexpr int kDefaultThreads = 16;
constexpr std::int64_t kDefaultLimit = 50;
constexpr std::int64_t kMaxLimit = 500;
constexpr std::chrono::milliseconds kDefaultGrace{10'000};
constexpr std::size_t kKeepAliveMaxRequests = 1000;

constexpr std::string_view kCreateTable =
    "CREATE TABLE IF NOT EXISTS videos ("
    " id bigserial PRIMARY KEY,"
    " tenant_id bigint NOT NULL,"
    " title text NOT NULL CHECK (title <> ''),"
    " created_at timestamptz NOT NULL DEFAULT now())";
constexpr std::string_view kCreateIndex =
    "CREATE INDEX IF NOT EXISTS videos_tenant_id_idx ON videos (tenant_id, id)";

struct Options {
    int port = kDefaultPort;
    std::string host = "0.0.0.0";
    std::string service = "video-management";
    int threads = kDefaultThreads;
    std::chrono::milliseconds grace = kDefaultGrace;
};

template <typename T>
std::optional<T> parse_int(std::string_view text) {
    T value{};
    const auto* end = text.data() + text.size();
    const auto r = std::from_chars(text.data(), end, value);
    if (text.empty() || r.ec != std::errc{} || r.ptr != end) return std::nullopt;
    return value;
}

// Parses the command line; exits with status 2 on a usage error.
Options parse_options(int argc, char** argv) {
    Options o;
    if (const char* port = std::getenv("PORT"); port != nullptr && *port != '\0') {
        const auto p = parse_int<int>(port);
        if (!p || *p < 0 || *p > 65535) {
            std::cerr << "sparc-video-service: PORT must be a port number, got '" << port << "'\n";
            std::exit(2);
        }
        o.port = *p;
    }
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::cout << kUsage;
            std::exit(0);
        }
        if (i + 1 >= argc) {
            std::cerr << "sparc-video-service: " << arg << " needs a value (or is unknown)\n"
                      << kUsage;
            std::exit(2);
        }
        const std::string_view value = argv[++i];
        bool ok = true;
        if (arg == "--port") {
            const auto p = parse_int<int>(value);
            ok = p && *p >= 0 && *p <= 65535;
            if (ok) o.port = *p;
        } else if (arg == "--host") {
            o.host = value;
        } else if (arg == "--service") {
            o.service = value;
        } else if (arg == "--threads") {
            const auto n = parse_int<int>(value);
            ok = n && *n > 0;
            if (ok) o.threads = *n;
        } else if (arg == "--grace-ms") {
            const auto ms = parse_int<std::int64_t>(value);
            ok = ms && *ms >= 0;
            if (ok) o.grace = std::chrono::milliseconds(*ms);
        } else {
            ok = false;
        }
        if (!ok) {
            std::cerr << "sparc-video-service: bad argument " << arg << ' ' << value << '\n'
                      << kUsage;
            std::exit(2);
        }
    }
    return o;
}

void send_json(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(body.dump() + "\n", "application/json");
}

void send_error(httplib::Response& res, int status, std::string_view message) {
    send_json(res, status, {{"error", message}});
}

// Runs a handler, mapping the pool's errors to HTTP statuses: overload and shutdown are 503
// (retry elsewhere), a timeout is 504, an unknown commit outcome is 500 with its own message.
template <typename F>
void guarded(httplib::Response& res, F&& handler) {
    try {
        handler();
    } catch (const db::PoolTimeout&) {
        res.set_header("Retry-After", "1");
        send_error(res, 503, "database busy: no connection available");
    } catch (const db::PoolClosed&) {
        send_error(res, 503, "shutting down");
    } catch (const db::ConnectionError&) {
        send_error(res, 503, "database unavailable");
    } catch (const db::QueryTimeout&) {
        send_error(res, 504, "database timeout");
    } catch (const db::TransactionOutcomeUnknown&) {
        send_error(res, 500, "the write may or may not have been applied; check before retrying");
    } catch (const db::SqlError& e) {
        send_error(res, 500, fmt::format("database error (SQLSTATE {})", e.sqlstate()));
    } catch (const json::exception&) {
        send_error(res, 400, R"(the body must be a JSON object {"tenant_id": int, "title": str})");
    } catch (const std::exception& e) {
        std::cerr << "sparc-video-service: request failed: " << e.what() << '\n';
        send_error(res, 500, "internal error");
    }
}

// Creates the table if it is missing and returns a WAL position at or after its creation:
// reads pass it as QueryOptions::after, so a replica that has not replayed the CREATE TABLE
// yet never serves them. Several instances starting together may race on CREATE TABLE IF NOT
// EXISTS (a unique violation in the catalog): the loser tries again.
db::CommitPosition ensure_schema(db::Database& pool) {
    for (int attempt = 1;; ++attempt) {
        try {
            pool.query(kCreateTable, {}, {.prepare = false});
            pool.query(kCreateIndex, {}, {.prepare = false});
            return pool.current_position();
        } catch (const db::SqlError& e) {
            if (e.sqlstate() != "23505" || attempt >= 3) throw;
        }
    }
}

void install_routes(httplib::Server& server, db::Database& pool, db::CommitPosition schema) {
    server.Get("/videos", [&pool, schema](const httplib::Request& req, httplib::Response& res) {
        guarded(res, [&] {
            const auto tenant = parse_int<std::int64_t>(req.get_param_value("tenant"));
            if (!tenant) return send_error(res, 400, "tenant must be an integer");
            auto limit = kDefaultLimit;
            if (req.has_param("limit")) {
                const auto l = parse_int<std::int64_t>(req.get_param_value("limit"));
                if (!l || *l <= 0 || *l > kMaxLimit) {
                    return send_error(res, 400, fmt::format("limit must be 1..{}", kMaxLimit));
                }
                limit = *l;
            }
            db::QueryOptions options{.use_read_replica = true, .after = schema};
            if (req.has_param("after")) {
                try {
                    options.after =
                        std::max(schema, db::CommitPosition::parse(req.get_param_value("after")));
                } catch (const db::ConfigError&) {
                    return send_error(res, 400, "after must be a position such as 0/16B3748");
                }
            }
            const auto rows = pool.query(
                "SELECT id, title, created_at::text AS created_at FROM videos "
                "WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2",
                {*tenant, limit}, options);
            json videos = json::array();
            for (const auto& row : rows) {
                videos.push_back({{"id", row["id"].as<std::int64_t>()},
                                  {"title", row["title"].as<std::string>()},
                                  {"created_at", row["created_at"].as<std::string>()}});
            }
            send_json(res, 200, {{"tenant_id", *tenant}, {"videos", std::move(videos)}});
        });
    });

    server.Post("/videos", [&pool](const httplib::Request& req, httplib::Response& res) {
        guarded(res, [&] {
            const auto body = json::parse(req.body);
            if (!body.is_object() || !body.contains("tenant_id") || !body.contains("title") ||
                !body["tenant_id"].is_number_integer() || !body["title"].is_string() ||
                body["title"].get<std::string>().empty()) {
                return send_error(
                    res, 400, R"(the body must be {"tenant_id": int, "title": non-empty string})");
            }
            const auto tenant = body["tenant_id"].get<std::int64_t>();
            const auto title = body["title"].get<std::string>();
            const auto id = pool.transaction([&](auto& tx) {
                return tx
                    .query("INSERT INTO videos (tenant_id, title) VALUES ($1, $2) RETURNING id",
                           {tenant, title})
                    .front()[0]
                    .template as<std::int64_t>();
            });
            // At or after the commit: GET /videos?after=POSITION sees the new row.
            const auto position = pool.current_position();
            res.set_header("Location", fmt::format("/videos?tenant={}", tenant));
            send_json(res, 201,
                      {{"id", id},
                       {"tenant_id", tenant},
                       {"title", title},
                       {"position", position.to_string()}});
        });
    });

    server.Get("/health", [&pool](const httplib::Request&, httplib::Response& res) {
        guarded(res, [&] {
            const auto report = pool.health();
            res.status = report.status == db::HealthStatus::unhealthy ? 503 : 200;
            res.set_header("Cache-Control", "no-store");
            res.set_content(report.to_json() + "\n", "application/json");
        });
    });

    server.Get("/metrics", [&pool](const httplib::Request&, httplib::Response& res) {
        res.set_content(pool.metrics_text(), "text/plain; version=0.0.4; charset=utf-8");
    });
}

}  // namespace

int main(int argc, char** argv) try {
    const Options options = parse_options(argc, argv);

    // Block SIGTERM and SIGINT before any thread starts (the pool's included): every thread
    // inherits the mask, and only the signal thread below receives them, with sigwait.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    const db::PoolConfig config = db::pool_config(options.service);
    db::Database pool(config);
    const auto schema = ensure_schema(pool);

    httplib::Server server;
    // cpp-httplib leaves Nagle's algorithm on and writes a response's headers and body
    // separately: on a keep-alive connection the body then waits for the client's delayed ACK
    // (about 40 ms on Linux), and each connection serves some 30 requests a second however fast
    // the query. TCP_NODELAY sends both at once (bench/RESULTS.md, "HTTP service").
    server.set_tcp_nodelay(true);
    // It also closes a keep-alive connection after 5 requests; a client or load balancer then
    // reconnects for every fifth one. 1000 is nginx's keepalive_requests default.
    server.set_keep_alive_max_count(kKeepAliveMaxRequests);
    server.new_task_queue = [threads = options.threads] {
        return new httplib::ThreadPool(static_cast<std::size_t>(threads));
    };
    install_routes(server, pool, schema);

    int port = options.port;
    if (port == 0) {
        port = server.bind_to_any_port(options.host);
    } else if (!server.bind_to_port(options.host, port)) {
        port = -1;
    }
    if (port < 0) {
        std::cerr << "sparc-video-service: cannot listen on " << options.host << ':' << options.port
                  << '\n';
        return 1;
    }

    // Shutdown: stop accepting (httplib finishes the requests it has accepted before listen
    // returns); if they outlast the grace period, close the pool, which cancels their
    // statements so they answer 503 at once.
    std::mutex mutex;
    std::condition_variable served_cv;
    bool served = false;
    std::thread signal_thread([&] {
        // Polls so that it also ends when listen() returns on its own (a socket error).
        constexpr timespec kPoll{0, 100'000'000};
        int sig = -1;
        while (sig <= 0) {
            {
                std::lock_guard lock(mutex);
                if (served) return;
            }
            sig = sigtimedwait(&signals, nullptr, &kPoll);
        }
        std::cerr << "sparc-video-service: " << (sig == SIGINT ? "SIGINT" : "SIGTERM")
                  << ": draining\n";
        server.stop();
        std::unique_lock lock(mutex);
        if (!served_cv.wait_for(lock, options.grace, [&] { return served; })) {
            lock.unlock();
            std::cerr << "sparc-video-service: requests still running after the grace period; "
                         "cancelling them\n";
            pool.shutdown(0ms);
        }
    });

    std::cout << "listening on " << port << std::endl;
    const bool listened = server.listen_after_bind();
    {
        std::lock_guard lock(mutex);
        served = true;
    }
    served_cv.notify_all();
    signal_thread.join();

    pool.shutdown(options.grace);
    std::cerr << "sparc-video-service: drained, pool closed\n";
    return listened ? 0 : 1;
} catch (const db::ConfigError& e) {
    std::cerr << "sparc-video-service: configuration: " << e.what() << '\n';
    return 1;
} catch (const std::exception& e) {
    std::cerr << "sparc-video-service: " << e.what() << '\n';
    return 1;
}
