// sparc-soak: many threads mix replica reads, primary writes and retrying transactions through
// one db::Database while a chaos driver stops and restarts replicas, terminates backends,
// restarts the primary, and cuts or stalls connections through fault-injecting proxies. At the
// end it checks what a service relies on:
//
//   - no committed write lost, none applied twice, none applied that was reported as failed;
//   - the money in the transfer table is conserved and every replica read saw it conserved;
//   - a read-your-writes read on a replica always saw the write it waited for;
//   - every failure surfaced to a caller was a typed sparc::db error;
//   - no connection or thread leaked: the pool returns to idle, the servers see no session the
//     pool does not hold, and none once the pool is gone; the process has its threads back;
//   - memory is stable: the heap in use does not grow from round to round;
//   - no string the library produced (error messages, hook payloads, metrics, health JSON,
//     anything written to stderr) contains the database password;
//   - the chaos happened: every kind of fault was injected with an effect (a cut trigger fired,
//     a cut or terminate hit live sessions), and every kind of operation ran and succeeded at
//     least once (a replica read on a replica among them). Kinds not injected yet go first, and
//     the last round keeps injecting until each has been, so a short run covers them all.
//
// Runs against the test cluster (SPARC_CLUSTER_ENV, as CTest's pg_cluster fixture or
// scripts/soak.sh provide). Prints a human summary and one JSON line; exits 1 on any violated
// invariant, 2 on a usage or set-up error.

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <typeinfo>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <sparc/db.hpp>
#include <sparc_test/cluster_env.hpp>
#include <sparc_test/fault_proxy.hpp>

namespace {

namespace db = sparc::db;
using sparc::testing::ClusterEnv;
using sparc::testing::ClusterNode;
using sparc::testing::FaultProxy;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kApplication = "sparc-soak";
constexpr int kAccounts = 64;
constexpr std::int64_t kInitialBalance = 1'000;
constexpr std::int64_t kTotal = kAccounts * kInitialBalance;

/// The faults the chaos driver draws from, with their weights (once each has been injected).
constexpr std::array<std::pair<std::string_view, unsigned>, 7> kFaults{{
    {"replica_stop_start", 20},
    {"backends_terminated", 25},
    {"primary_restart", 10},
    {"proxy_cut", 15},
    {"proxy_stall", 12},
    {"cut_after_commit", 9},
    {"cut_before_commit", 9},
}};

/// The operations the workers run; each must run and succeed at least once.
constexpr std::array<std::string_view, 4> kOperations{"replica_read", "write", "read_your_write",
                                                      "transaction"};

struct Options {
    std::chrono::seconds duration{60};
    int rounds = 3;
    int threads = 8;
    unsigned seed = 0;                ///< 0: random
    std::string report;               ///< also write the JSON line here
    std::vector<std::string> faults;  ///< fault kinds to inject; empty: all

    bool enabled(std::string_view fault) const {
        return faults.empty() || std::find(faults.begin(), faults.end(), fault) != faults.end();
    }
};

[[noreturn]] void usage_error(const std::string& message) {
    std::cerr << "sparc-soak: " << message
              << "\nusage: sparc-soak [--duration SECONDS] [--rounds N] [--threads N]"
                 " [--seed N] [--report FILE]\n"
                 "                  [--faults KIND,...]   (default: every kind)\n";
    std::exit(2);
}

int parse_int(std::string_view flag, std::string_view text, int min) {
    int v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || v < min) {
        usage_error(fmt::format("{} needs an integer >= {}, got '{}'", flag, min, text));
    }
    return v;
}

Options parse_options(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view flag = argv[i];
        if (flag == "-h" || flag == "--help") usage_error("help");
        if (i + 1 >= argc) usage_error(fmt::format("{} needs a value", flag));
        const std::string_view value = argv[++i];
        if (flag == "--duration") {
            o.duration = std::chrono::seconds(parse_int(flag, value, 3));
        } else if (flag == "--rounds") {
            o.rounds = parse_int(flag, value, 2);
        } else if (flag == "--threads") {
            o.threads = parse_int(flag, value, 1);
        } else if (flag == "--seed") {
            o.seed = static_cast<unsigned>(parse_int(flag, value, 0));
        } else if (flag == "--report") {
            o.report = value;
        } else if (flag == "--faults") {
            std::string_view rest = value;
            while (!rest.empty()) {
                const auto comma = rest.find(',');
                const auto name = rest.substr(0, comma);
                if (std::none_of(kFaults.begin(), kFaults.end(),
                                 [&](const auto& f) { return f.first == name; })) {
                    usage_error(fmt::format("unknown fault kind '{}'", name));
                }
                o.faults.emplace_back(name);
                rest =
                    comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
            }
        } else {
            usage_error(fmt::format("unknown option {}", flag));
        }
    }
    return o;
}

/// Every failed invariant, with enough context to investigate.
class Violations {
  public:
    void add(std::string what) {
        std::lock_guard lock(mutex_);
        ++count_;
        if (list_.size() < 50) list_.push_back(std::move(what));
    }
    std::size_t count() const {
        std::lock_guard lock(mutex_);
        return count_;
    }
    std::vector<std::string> list() const {
        std::lock_guard lock(mutex_);
        return list_;
    }

  private:
    mutable std::mutex mutex_;
    std::size_t count_ = 0;
    std::vector<std::string> list_;
};

/// Checks every string the library hands out for the password, by source. Strings are checked
/// as they arrive and not kept, so the check itself does not grow the heap.
class PasswordScan {
  public:
    PasswordScan(std::string password, Violations& violations)
        : password_(std::move(password)), violations_(violations) {}

    void check(const char* source, std::string_view text) {
        if (!password_.empty() && text.find(password_) != std::string_view::npos) {
            violations_.add(fmt::format("the password appeared in {} output", source));
        }
        std::lock_guard lock(mutex_);
        auto& c = counts_[source];
        ++c.strings;
        c.bytes += text.size();
    }
    nlohmann::json to_json() const {
        std::lock_guard lock(mutex_);
        nlohmann::json j = nlohmann::json::object();
        for (const auto& [source, c] : counts_) {
            j[source] = {{"strings", c.strings}, {"bytes", c.bytes}};
        }
        return j;
    }

  private:
    struct Counts {
        std::uint64_t strings = 0, bytes = 0;
    };
    std::string password_;
    Violations& violations_;
    mutable std::mutex mutex_;
    std::map<std::string, Counts, std::less<>> counts_;
};

/// Counters by name, for errors, faults and hook events.
class Tally {
  public:
    void add(const std::string& key, std::uint64_t n = 1) {
        std::lock_guard lock(mutex_);
        counts_[key] += n;
    }
    std::uint64_t get(const std::string& key) const {
        std::lock_guard lock(mutex_);
        const auto it = counts_.find(key);
        return it == counts_.end() ? 0 : it->second;
    }
    nlohmann::json to_json() const {
        std::lock_guard lock(mutex_);
        return nlohmann::json(counts_);
    }

  private:
    mutable std::mutex mutex_;
    std::map<std::string, std::uint64_t> counts_;
};

/// What a caller was told about a write.
enum Outcome : std::uint8_t {
    not_attempted = 0,
    committed,    ///< success returned
    unknown,      ///< may or may not have been applied (the error says so)
    not_applied,  ///< an error that promises the write did not happen
};

/// The name of a caught exception's type, and whether it is a typed sparc::db error.
struct Classified {
    std::string name;
    bool typed = true;
    /// Whether the statement may have been applied despite the error.
    bool maybe_applied = false;
};

Classified classify(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const db::TransactionOutcomeUnknown&) {
        return {"TransactionOutcomeUnknown", true, true};
    } catch (const db::QueryTimeout& e) {
        // A client-side timeout cancels a statement that may already have committed.
        return {e.client_side() ? "QueryTimeout(client)" : "QueryTimeout(server)", true,
                e.client_side()};
    } catch (const db::SqlError& e) {
        return {"SqlError(" + e.sqlstate() + ")", true, false};
    } catch (const db::PoolTimeout&) {
        return {"PoolTimeout", true, false};
    } catch (const db::PoolClosed&) {
        return {"PoolClosed", true, false};
    } catch (const db::ConnectionError& e) {
        return {e.statement_sent() ? "ConnectionError(sent)" : "ConnectionError(not sent)", true,
                e.statement_sent()};
    } catch (const db::Error& e) {
        return {std::string("db::Error(") + typeid(e).name() + ")", true, true};
    } catch (const std::exception& e) {
        return {std::string("untyped ") + typeid(e).name() + ": " + e.what(), false, true};
    } catch (...) {
        return {"untyped non-std exception", false, true};
    }
}

std::string error_text(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "(not a std::exception)";
    }
}

/// Heap in use (glibc's count of allocated bytes; 0 under sanitizers that replace malloc) and
/// resident set size, in bytes.
struct Memory {
    std::uint64_t heap = 0;
    std::uint64_t rss = 0;
};

Memory memory_now() {
    Memory m;
    const struct mallinfo2 mi = mallinfo2();
    m.heap = mi.uordblks + mi.hblkhd;
    std::ifstream statm("/proc/self/statm");
    std::uint64_t size = 0, resident = 0;
    if (statm >> size >> resident) {
        m.rss = resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
    }
    return m;
}

std::size_t thread_count() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
        ++n;
    }
    return n;
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit) {
    const auto until = Clock::now() + limit;
    while (Clock::now() < until) {
        if (condition()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return condition();
}

/// Redirects the process's stderr into a file for the life of the object, so everything the
/// library (or libpq) might print can be scanned; the text is replayed to the real stderr.
class StderrCapture {
  public:
    StderrCapture() {
        path_ = std::filesystem::temp_directory_path() /
                fmt::format("sparc-soak-stderr-{}.log", ::getpid());
        std::fflush(stderr);
        saved_ = ::dup(2);
        std::FILE* f = std::fopen(path_.c_str(), "w+");
        if (saved_ < 0 || f == nullptr) throw std::runtime_error("cannot capture stderr");
        ::dup2(::fileno(f), 2);
        std::fclose(f);
    }
    StderrCapture(const StderrCapture&) = delete;
    StderrCapture& operator=(const StderrCapture&) = delete;
    ~StderrCapture() { restore(); }

    /// Restores stderr and returns what was written meanwhile.
    std::string restore() {
        if (saved_ < 0) return text_;
        std::fflush(stderr);
        std::cerr.flush();
        ::dup2(saved_, 2);
        ::close(saved_);
        saved_ = -1;
        std::ifstream in(path_);
        std::ostringstream s;
        s << in.rdbuf();
        text_ = s.str();
        std::error_code ec;
        std::filesystem::remove(path_, ec);
        if (!text_.empty()) std::cerr << text_;
        return text_;
    }

  private:
    std::filesystem::path path_;
    int saved_ = -1;
    std::string text_;
};

/// One worker's record of what it was told, indexed by operation sequence number. Sized up
/// front so that recording allocates nothing while memory is being watched.
struct WorkerLog {
    explicit WorkerLog(std::size_t capacity)
        : writes(capacity),
          transfers(capacity),
          write_at(capacity),
          transfer_at(capacity),
          transfer_retries(capacity) {}
    std::vector<std::uint8_t> writes;
    std::vector<std::uint8_t> transfers;
    std::vector<std::uint32_t> write_at;  ///< ms since the start, when the caller was told
    std::vector<std::uint32_t> transfer_at;
    std::vector<std::uint8_t> transfer_retries;  ///< bit (1 << RetryReason) per retry reason seen
    std::size_t next_write = 0;
    std::size_t next_transfer = 0;
};

constexpr std::size_t kLogCapacity = std::size_t{1} << 19;

/// The retry reasons of the transaction the current thread runs (set by the worker, filled in
/// by the on_retry hook, which runs on the caller's thread).
thread_local std::uint8_t* t_retry_bits = nullptr;

/// Whether the last successful statement of the current thread ran on a replica (set by the
/// on_query hook, which runs on the caller's thread).
thread_local bool t_served_by_replica = false;

std::int64_t op_id(int thread, std::size_t seq) {
    return (static_cast<std::int64_t>(thread) << 32) | static_cast<std::int64_t>(seq);
}

/// The soak itself: a pool behind proxies, workers, the chaos driver and the final checks.
class Soak {
  public:
    Soak(Options options, const ClusterEnv& env)
        : options_(std::move(options)),
          env_(env),
          scan_(env.password, violations_),
          seed_(options_.seed != 0 ? options_.seed : std::random_device{}()),
          rng_(seed_) {}

    int run();

  private:
    db::Endpoint proxied(ClusterNode node, const FaultProxy& proxy) const {
        auto ep = db::Endpoint::parse(env_.url(node));
        ep.set_option("host", "127.0.0.1");
        ep.set_option("port", std::to_string(proxy.port()));
        ep.set_option("sslmode", "disable");
        return ep;
    }
    db::PoolConfig pool_config() const;
    db::Hooks hooks();
    void setup_schema();
    void worker(int t, unsigned seed, WorkerLog& log);
    void write_op(int t, WorkerLog& log, std::mt19937& rng);
    void transfer_op(int t, WorkerLog& log, std::mt19937& rng);
    void read_op(int t, std::mt19937& rng);
    void record_error(const char* op, const std::exception_ptr& error, Classified* out = nullptr);
    /// Injects one fault; returns whether it took effect.
    bool chaos_step(std::mt19937& rng);
    /// The enabled fault kinds not injected with an effect yet, in kFaults order.
    std::vector<std::string_view> faults_missing() const;
    /// Adds a violation for every fault kind never injected and every operation kind that never
    /// ran or never succeeded.
    void check_coverage();
    void monitor_step();
    void check_results(const std::vector<std::unique_ptr<WorkerLog>>& logs);
    int server_sessions(ClusterNode node) const;
    std::uint32_t now_ms() const {
        return static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_).count());
    }
    /// Records that a fault is being injected (its effect is counted by chaos_step).
    void fault(std::string name) {
        std::lock_guard lock(timeline_mutex_);
        timeline_.emplace_back(now_ms(), std::move(name));
    }
    /// The faults injected within 5 s of `at_ms`, for a violation's message.
    std::string faults_around(std::uint32_t at_ms) const;

    Options options_;
    const ClusterEnv& env_;
    Violations violations_;
    PasswordScan scan_;
    Tally errors_, ops_, faults_, events_;
    Tally faults_without_effect_;   ///< injections that hit nothing (no session, no trigger)
    std::size_t missing_turn_ = 0;  ///< rotates among the kinds still missing
    unsigned seed_;
    std::mt19937 rng_;
    std::unique_ptr<FaultProxy> primary_proxy_;
    std::array<std::unique_ptr<FaultProxy>, 2> replica_proxies_;
    std::unique_ptr<db::Database> pool_;
    std::atomic<bool> stop_{false};
    Clock::time_point started_ = Clock::now();
    mutable std::mutex timeline_mutex_;
    std::vector<std::pair<std::uint32_t, std::string>> timeline_;
};

std::string Soak::faults_around(std::uint32_t at_ms) const {
    std::lock_guard lock(timeline_mutex_);
    std::string out;
    for (const auto& [ms, name] : timeline_) {
        if (ms + 5'000 >= at_ms && ms <= at_ms + 5'000) {
            out += fmt::format("{}{}@{}ms", out.empty() ? "" : ", ", name, ms);
        }
    }
    return out.empty() ? "none" : out;
}

db::PoolConfig Soak::pool_config() const {
    db::PoolConfig cfg;
    cfg.service_name = "soak";
    cfg.application_name = kApplication;
    cfg.primary = proxied(ClusterNode::primary, *primary_proxy_);
    // The test cluster runs with synchronous_commit off for speed; an immediate stop of the
    // primary then forgets the last acknowledged commits, which says nothing about the pool.
    // Durable commits, as a service that counts them needs: synchronous_commit on.
    cfg.primary.set_option("options", "-c synchronous_commit=on");
    cfg.replicas.push_back({proxied(ClusterNode::replica1, *replica_proxies_[0]), 2});
    cfg.replicas.push_back({proxied(ClusterNode::replica2, *replica_proxies_[1]), 1});
    cfg.min_connections = 2;
    cfg.max_connections = 6;
    cfg.connection_timeout = 3s;
    cfg.statement_timeout = 1500ms;
    cfg.query_timeout = 2500ms;
    cfg.idle_timeout = 3s;               // connections come and go during the soak
    cfg.max_lifetime = 15s;              // and retire
    cfg.leak_detection_threshold = 60s;  // nothing is held this long: a report is a violation
    cfg.health_check_period = 250ms;
    cfg.max_replica_lag = 10s;
    cfg.fallback_to_primary = true;
    return cfg;
}

db::Hooks Soak::hooks() {
    db::Hooks h;
    h.on_connect = [this](const db::ConnectEvent& e) {
        scan_.check("hook.on_connect", e.host.label);
        scan_.check("hook.on_connect", e.error);
        events_.add(e.ok ? "connect.ok" : "connect.failed");
    };
    h.on_acquire = [this](const db::AcquireEvent& e) {
        scan_.check("hook.on_acquire", e.host.label);
    };
    h.on_release = [this](const db::ReleaseEvent& e) {
        scan_.check("hook.on_release", e.host.label);
        if (!e.reused) events_.add("release.discarded");
    };
    h.on_query = [this](const db::QueryEvent& e) {
        scan_.check("hook.on_query", e.host.label);
        scan_.check("hook.on_query", e.sqlstate);
        if (e.outcome == db::QueryOutcome::ok) {
            t_served_by_replica = e.host.role == db::HostRole::replica;
        }
        events_.add(std::string("query.") + db::to_string(e.outcome));
    };
    h.on_retry = [this](const db::RetryEvent& e) {
        events_.add(std::string("retry.") + db::to_string(e.reason));
        if (t_retry_bits != nullptr) {
            *t_retry_bits |= static_cast<std::uint8_t>(1u << static_cast<unsigned>(e.reason));
        }
    };
    h.on_transaction = [this](const db::TransactionEvent& e) {
        events_.add(std::string("transaction.") + db::to_string(e.outcome));
    };
    h.on_host_state = [this](const db::HostStateEvent& e) {
        scan_.check("hook.on_host_state", e.host.label);
        scan_.check("hook.on_host_state", e.reason);
        events_.add(e.up ? "host.up" : "host.down");
    };
    h.on_leak = [this](const db::LeakEvent& e) {
        scan_.check("hook.on_leak", e.host.label);
        violations_.add(
            fmt::format("leak reported: a lease from {}:{} held {} ms", e.acquired_at.file_name(),
                        e.acquired_at.line(),
                        std::chrono::duration_cast<std::chrono::milliseconds>(e.held).count()));
    };
    h.on_pool_timeout = [this](const db::PoolTimeoutEvent& e) {
        scan_.check("hook.on_pool_timeout", e.host.label);
        events_.add("pool_timeout");
    };
    return h;
}

void Soak::setup_schema() {
    // A direct pool, without proxies, for set-up and the final checks.
    db::PoolConfig cfg;
    cfg.service_name = "soak-admin";
    cfg.application_name = "sparc-soak-admin";
    cfg.primary = db::Endpoint::parse(env_.primary_url);
    cfg.min_connections = 0;
    cfg.max_connections = 1;
    db::Database admin(cfg);
    admin.query("DROP TABLE IF EXISTS soak_accounts, soak_writes, soak_transfers");
    admin.query("CREATE TABLE soak_accounts (id int PRIMARY KEY, balance bigint NOT NULL)");
    // No unique constraints: a statement applied twice must show up as two rows.
    admin.query("CREATE TABLE soak_writes (op bigint NOT NULL, thread int NOT NULL)");
    admin.query("CREATE TABLE soak_transfers (op bigint NOT NULL, amount int NOT NULL)");
    admin.query("INSERT INTO soak_accounts SELECT g, $1 FROM generate_series(1, $2) g",
                {kInitialBalance, kAccounts});
    // Replicas serve reads from the first second: wait until both have the tables.
    for (const auto node : {ClusterNode::replica1, ClusterNode::replica2}) {
        const bool replayed = eventually(
            [&] {
                try {
                    return env_.psql(node, "SELECT count(*) FROM soak_accounts") ==
                           std::to_string(kAccounts);
                } catch (const std::exception&) {
                    return false;
                }
            },
            30s);
        if (!replayed) {
            throw std::runtime_error(
                fmt::format("{} did not replay the soak's tables within 30 s", to_string(node)));
        }
    }
}

void Soak::record_error(const char* op, const std::exception_ptr& error, Classified* out) {
    Classified c = classify(error);
    const std::string text = error_text(error);
    scan_.check("error.what", text);
    errors_.add(c.name);
    if (!c.typed) violations_.add(fmt::format("{}: a caller saw an untyped error: {}", op, c.name));
    if (out != nullptr) *out = std::move(c);
}

void Soak::write_op(int t, WorkerLog& log, std::mt19937& rng) {
    const std::size_t seq = log.next_write++;
    if (seq >= kLogCapacity) return;
    const std::int64_t op = op_id(t, seq);
    ops_.add("write");
    try {
        pool_->query("INSERT INTO soak_writes (op, thread) VALUES ($1, $2)", {op, t});
        log.writes[seq] = committed;
        log.write_at[seq] = now_ms();
        ops_.add("write.ok");
    } catch (...) {
        Classified c;
        record_error("write", std::current_exception(), &c);
        log.writes[seq] = c.maybe_applied ? unknown : not_applied;
        log.write_at[seq] = now_ms();
        return;
    }
    if (rng() % 4 != 0) return;
    // Read your write on a replica: whichever host serves it must have replayed it.
    std::optional<db::CommitPosition> position;
    try {
        position = pool_->current_position();
    } catch (...) {
        record_error("position", std::current_exception());
        return;
    }
    ops_.add("read_your_write");
    t_served_by_replica = false;
    try {
        const auto r = pool_->query("SELECT count(*) FROM soak_writes WHERE op = $1", {op},
                                    {.use_read_replica = true, .after = position});
        const auto n = r.front()[0].as<std::int64_t>();
        if (n != 1) {
            violations_.add(
                fmt::format("read-your-writes: op {} seen {} times after its commit", op, n));
        }
        ops_.add("read_your_write.ok");
        if (t_served_by_replica) ops_.add("read_your_write.on_replica");
    } catch (...) {
        record_error("read_your_write", std::current_exception());
    }
}

void Soak::transfer_op(int t, WorkerLog& log, std::mt19937& rng) {
    const std::size_t seq = log.next_transfer++;
    if (seq >= kLogCapacity) return;
    const std::int64_t op = op_id(t, seq);
    int src = 1 + static_cast<int>(rng() % kAccounts);
    int dst = 1 + static_cast<int>(rng() % kAccounts);
    if (src == dst) dst = 1 + dst % kAccounts;
    const int amount = 1 + static_cast<int>(rng() % 25);
    ops_.add("transaction");
    t_retry_bits = &log.transfer_retries[seq];
    try {
        pool_->transaction(
            [&](auto& tx) {
                tx.query("UPDATE soak_accounts SET balance = balance - $1 WHERE id = $2",
                         {amount, src});
                tx.query("UPDATE soak_accounts SET balance = balance + $1 WHERE id = $2",
                         {amount, dst});
                tx.query("INSERT INTO soak_transfers (op, amount) VALUES ($1, $2)", {op, amount});
            },
            {.timeout = 10s,
             .retries = 8,
             .resolve_unknown_outcome = true,
             .backoff_base = 5ms,
             .backoff_max = 200ms});
        log.transfers[seq] = committed;
        log.transfer_at[seq] = now_ms();
        ops_.add("transaction.ok");
    } catch (...) {
        Classified c;
        record_error("transaction", std::current_exception(), &c);
        log.transfers[seq] = c.maybe_applied ? unknown : not_applied;
        log.transfer_at[seq] = now_ms();
    }
}

void Soak::read_op(int t, std::mt19937& rng) {
    ops_.add("replica_read");
    t_served_by_replica = false;
    try {
        if (rng() % 2 == 0) {
            // A replica's snapshot is consistent: the money is always all there.
            const auto r = pool_->query("SELECT sum(balance) FROM soak_accounts", {},
                                        {.use_read_replica = true});
            const auto sum = r.front()[0].as<std::int64_t>();
            if (sum != kTotal) {
                violations_.add(fmt::format("a replica read saw a balance sum of {} (expected {})",
                                            sum, kTotal));
            }
        } else {
            pool_->query("SELECT count(*) FROM soak_writes WHERE thread = $1", {t},
                         {.use_read_replica = true});
        }
        ops_.add("replica_read.ok");
        // With fallback_to_primary a read may run on the primary; some must reach a replica.
        if (t_served_by_replica) ops_.add("replica_read.on_replica");
    } catch (...) {
        record_error("replica_read", std::current_exception());
    }
}

void Soak::worker(int t, unsigned seed, WorkerLog& log) {
    std::mt19937 rng(seed);
    while (!stop_.load(std::memory_order_relaxed)) {
        const auto pick = rng() % 100;
        if (pick < 40) {
            read_op(t, rng);
        } else if (pick < 70) {
            write_op(t, log, rng);
        } else {
            transfer_op(t, log, rng);
        }
    }
}

void Soak::monitor_step() {
    scan_.check("metrics_text", pool_->metrics_text());
    const auto health = pool_->health({.timeout = 1s});
    scan_.check("health_json", health.to_json());
    for (const auto& h : pool_->stats().hosts) scan_.check("stats.host", h.host);
}

std::vector<std::string_view> Soak::faults_missing() const {
    std::vector<std::string_view> missing;
    for (const auto& [name, weight] : kFaults) {
        if (options_.enabled(name) && faults_.get(std::string(name)) == 0) missing.push_back(name);
    }
    return missing;
}

bool Soak::chaos_step(std::mt19937& rng) {
    const auto pause = [&](int lo_ms, int hi_ms) {
        std::this_thread::sleep_for(std::chrono::milliseconds(
            lo_ms + static_cast<int>(rng() % static_cast<unsigned>(hi_ms - lo_ms + 1))));
    };
    // Kinds not injected yet go first, in turn (one that hit nothing is tried again later);
    // then the weighted draw.
    std::string_view chosen;
    if (const auto missing = faults_missing(); !missing.empty()) {
        chosen = missing[missing_turn_++ % missing.size()];
    } else {
        unsigned total = 0;
        for (const auto& [name, weight] : kFaults) total += options_.enabled(name) ? weight : 0;
        if (total == 0) return false;
        auto pick = rng() % total;
        for (const auto& [name, weight] : kFaults) {
            if (!options_.enabled(name)) continue;
            if (pick < weight) {
                chosen = name;
                break;
            }
            pick -= weight;
        }
    }
    const std::size_t replica = rng() % 2;
    const ClusterNode replica_node = replica == 0 ? ClusterNode::replica1 : ClusterNode::replica2;
    FaultProxy& proxy = rng() % 2 == 0 ? *primary_proxy_ : *replica_proxies_[replica];
    fault(std::string(chosen));
    bool effect = true;
    if (chosen == "replica_stop_start") {
        env_.stop_node(replica_node, /*immediate=*/true);
        pause(500, 2'000);
        env_.start_node(replica_node);
    } else if (chosen == "backends_terminated") {
        const ClusterNode node = rng() % 3 == 0 ? replica_node : ClusterNode::primary;
        effect = std::stoi(env_.psql(node, fmt::format("SELECT count(pg_terminate_backend(pid)) "
                                                       "FROM pg_stat_activity WHERE "
                                                       "application_name = '{}'",
                                                       kApplication))) > 0;
    } else if (chosen == "primary_restart") {
        env_.restart_node(ClusterNode::primary, /*immediate=*/true);
    } else if (chosen == "proxy_cut") {
        effect = proxy.connections() > 0;
        proxy.cut_all();
    } else if (chosen == "proxy_stall") {
        proxy.stall(true);
        pause(1'000, 3'000);  // around query_timeout (2.5 s): some statements time out
        proxy.stall(false);
    } else {
        // A one-shot cut on the next COMMIT through the primary's proxy: armed until it fires
        // (the workers commit transfers all the time) or 5 s pass.
        const auto fired = primary_proxy_->triggers_fired();
        if (chosen == "cut_after_commit") {
            primary_proxy_->cut_after_client_sends("COMMIT");
        } else {
            primary_proxy_->cut_before_client_sends("COMMIT");
        }
        primary_proxy_->wait_for_triggers(fired + 1, 5s);
        primary_proxy_->disarm();
        effect = primary_proxy_->triggers_fired() > fired;
    }
    (effect ? faults_ : faults_without_effect_).add(std::string(chosen));
    return effect;
}

void Soak::check_coverage() {
    for (const auto& [name, weight] : kFaults) {
        if (!options_.enabled(name)) continue;
        const std::string kind(name);
        if (faults_.get(kind) == 0) {
            violations_.add(fmt::format(
                "the chaos driver never injected a '{}' fault with an effect ({} tries hit "
                "nothing)",
                kind, faults_without_effect_.get(kind)));
        }
    }
    for (const auto name : kOperations) {
        const std::string kind(name);
        if (ops_.get(kind) == 0) {
            violations_.add(fmt::format("no '{}' operation ran", kind));
        } else if (ops_.get(kind + ".ok") == 0) {
            violations_.add(
                fmt::format("no '{}' operation succeeded ({} tried)", kind, ops_.get(kind)));
        }
    }
    if (ops_.get("replica_read.ok") > 0 && ops_.get("replica_read.on_replica") == 0) {
        violations_.add(
            fmt::format("no 'replica_read' operation ran on a replica ({} succeeded, "
                        "all on the primary)",
                        ops_.get("replica_read.ok")));
    }
}

int Soak::server_sessions(ClusterNode node) const {
    return std::stoi(env_.psql(
        node, fmt::format("SELECT count(*) FROM pg_stat_activity WHERE application_name = '{}'",
                          kApplication)));
}

void Soak::check_results(const std::vector<std::unique_ptr<WorkerLog>>& logs) {
    db::PoolConfig cfg;
    cfg.service_name = "soak-admin";
    cfg.application_name = "sparc-soak-admin";
    cfg.primary = db::Endpoint::parse(env_.primary_url);
    cfg.min_connections = 0;
    cfg.max_connections = 1;
    cfg.connection_timeout = 30s;
    db::Database admin(cfg);

    const auto sum = admin.query("SELECT sum(balance) FROM soak_accounts").front()[0];
    if (sum.as<std::int64_t>() != kTotal) {
        violations_.add(fmt::format("balance sum {} after the soak (expected {})",
                                    sum.as<std::int64_t>(), kTotal));
    }
    struct Table {
        const char* name;
        std::vector<std::uint8_t> WorkerLog::*outcomes;
        std::vector<std::uint32_t> WorkerLog::*at;
    };
    for (const Table table :
         {Table{"soak_writes", &WorkerLog::writes, &WorkerLog::write_at},
          Table{"soak_transfers", &WorkerLog::transfers, &WorkerLog::transfer_at}}) {
        std::map<std::int64_t, std::int64_t> seen;
        const auto rows =
            admin.query(fmt::format("SELECT op, count(*) FROM {} GROUP BY op", table.name));
        for (const auto& row : rows) seen[row[0].as<std::int64_t>()] = row[1].as<std::int64_t>();
        std::map<std::string, std::uint64_t> outcome_counts;
        for (std::size_t t = 0; t < logs.size(); ++t) {
            const WorkerLog& log = *logs[t];
            const auto& outcomes = log.*table.outcomes;
            for (std::size_t seq = 0; seq < outcomes.size(); ++seq) {
                const auto outcome = outcomes[seq];
                const std::int64_t op = op_id(static_cast<int>(t), seq);
                const auto it = seen.find(op);
                const std::int64_t n = it == seen.end() ? 0 : it->second;
                if (it != seen.end()) seen.erase(it);
                if (outcome == not_attempted && n == 0) continue;
                const auto violation = [&](std::string_view what) {
                    const auto at = (log.*table.at)[seq];
                    violations_.add(fmt::format(
                        "{}: op {} (thread {}, #{}) {}; answered at {} ms, retries 0x{:02x}, "
                        "faults within 5 s: {}",
                        table.name, op, t, seq, what, at,
                        table.at == &WorkerLog::transfer_at ? log.transfer_retries[seq] : 0,
                        faults_around(at)));
                };
                if (outcome == not_attempted) {
                    violation("present but never attempted");
                    continue;
                }
                if (n > 1) violation(fmt::format("applied {} times", n));
                if (outcome == committed) {
                    ++outcome_counts["committed"];
                    if (n == 0) violation("reported committed but lost");
                } else if (outcome == not_applied) {
                    ++outcome_counts["failed"];
                    if (n != 0) violation("reported failed (not applied) but present");
                } else {
                    ++outcome_counts[n == 0 ? "unknown_absent" : "unknown_present"];
                }
            }
        }
        for (const auto& [op, n] : seen) {
            violations_.add(fmt::format("{}: op {} present {} times, unknown to the workers",
                                        table.name, op, n));
        }
        for (const auto& [k, v] : outcome_counts) ops_.add(fmt::format("{}.{}", table.name, k), v);
    }
}

int Soak::run() {
    const auto started = Clock::now();
    setup_schema();
    primary_proxy_ = std::make_unique<FaultProxy>("127.0.0.1", env_.port(ClusterNode::primary));
    replica_proxies_[0] =
        std::make_unique<FaultProxy>("127.0.0.1", env_.port(ClusterNode::replica1));
    replica_proxies_[1] =
        std::make_unique<FaultProxy>("127.0.0.1", env_.port(ClusterNode::replica2));

    const std::size_t threads_before = thread_count();
    std::vector<std::unique_ptr<WorkerLog>> logs;
    for (int t = 0; t < options_.threads; ++t) {
        logs.push_back(std::make_unique<WorkerLog>(kLogCapacity));
    }
    std::vector<Memory> round_memory;
    nlohmann::json sessions = nlohmann::json::object();
    {
        StderrCapture capture;
        pool_ = std::make_unique<db::Database>(pool_config(), db::PqxxBackend{}, hooks());
        const auto sync = pool_->query("SHOW synchronous_commit").front()[0].as<std::string>();
        if (sync != "on") throw std::runtime_error("synchronous_commit is " + sync + ", not on");

        // Seeds drawn here, before any thread starts: rng_ is not shared between threads.
        std::mt19937 chaos_rng(static_cast<unsigned>(rng_()));
        std::vector<unsigned> worker_seeds;
        for (int t = 0; t < options_.threads; ++t) {
            worker_seeds.push_back(static_cast<unsigned>(rng_()));
        }
        std::vector<std::thread> workers;
        for (int t = 0; t < options_.threads; ++t) {
            const auto i = static_cast<std::size_t>(t);
            workers.emplace_back(
                [this, t, i, &logs, &worker_seeds] { worker(t, worker_seeds[i], *logs[i]); });
        }
        // Rounds: the chaos driver injects faults, then lets the cluster settle at the end of
        // each round; memory is read there, with the workers still running. If a kind of fault
        // has not been injected by the end of the last round's chaos (a slow machine, a cut that
        // met no session), the chaos goes on with the missing kinds, up to `overtime`, and the
        // round ends one settling time after the last of them.
        const auto round_length = options_.duration / options_.rounds;
        const auto settle = std::min<Clock::duration>(round_length / 4, 5s);
        const auto overtime = std::max<Clock::duration>(options_.duration, 60s);
        std::string chaos_error;
        for (int round = 0; round < options_.rounds && chaos_error.empty(); ++round) {
            const bool last_round = round + 1 == options_.rounds;
            auto round_end = Clock::now() + round_length;
            const auto chaos_end = round_end - settle;
            const auto overtime_end = round_end + overtime;
            auto next_monitor = Clock::now();
            while (Clock::now() < round_end) {
                if (Clock::now() >= next_monitor) {
                    monitor_step();
                    next_monitor = Clock::now() + 1s;
                }
                const bool owed =
                    last_round && Clock::now() < overtime_end && !faults_missing().empty();
                if (Clock::now() < chaos_end || owed) {
                    try {
                        chaos_step(chaos_rng);
                    } catch (const std::exception& e) {
                        chaos_error = e.what();
                        break;
                    }
                    if (Clock::now() >= chaos_end) {
                        round_end = std::max(round_end, Clock::now() + settle);
                    }
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(200 + chaos_rng() % 800));
            }
            round_memory.push_back(memory_now());
            std::cout << fmt::format("round {}/{}: heap {} KiB, rss {} KiB, faults so far {}\n",
                                     round + 1, options_.rounds, round_memory.back().heap / 1024,
                                     round_memory.back().rss / 1024, faults_.to_json().dump());
            std::cout.flush();
        }
        stop_ = true;
        for (auto& w : workers) w.join();
        if (!chaos_error.empty()) violations_.add("the chaos driver failed: " + chaos_error);

        // Every node up again, no fault armed.
        primary_proxy_->disarm();
        for (auto* p :
             {primary_proxy_.get(), replica_proxies_[0].get(), replica_proxies_[1].get()}) {
            p->stall(false);
        }
        for (const auto node :
             {ClusterNode::primary, ClusterNode::replica1, ClusterNode::replica2}) {
            try {
                env_.start_node(node);  // a no-op for a running node
            } catch (const std::exception& e) {
                violations_.add(
                    fmt::format("{} could not be started: {}", to_string(node), e.what()));
            }
        }
        monitor_step();

        // Back to idle: nothing leased, nobody waiting.
        if (!eventually(
                [&] {
                    const auto s = pool_->stats();
                    return s.in_use == 0 && s.waiting == 0;
                },
                60s)) {
            const auto s = pool_->stats();
            violations_.add(fmt::format("the pool did not return to idle: {} in use, {} waiting",
                                        s.in_use, s.waiting));
        }
        // No server session the pool does not hold (a leaked connection would be one).
        const auto stats = pool_->stats();
        const std::array nodes{ClusterNode::primary, ClusterNode::replica1, ClusterNode::replica2};
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            const int on_server = server_sessions(nodes[i]);
            sessions[std::string(to_string(nodes[i]))] = {{"server", on_server},
                                                          {"pool", stats.hosts[i].total}};
            if (on_server > static_cast<int>(stats.hosts[i].total)) {
                violations_.add(fmt::format("{}: {} server sessions but the pool holds {}",
                                            to_string(nodes[i]), on_server, stats.hosts[i].total));
            }
        }
        pool_->shutdown(5s);
        pool_.reset();
        const auto text = capture.restore();
        scan_.check("stderr", text);
    }
    // Once the pool is gone, so are its sessions, its sockets and its threads.
    for (const auto node : {ClusterNode::primary, ClusterNode::replica1, ClusterNode::replica2}) {
        if (!eventually([&] { return server_sessions(node) == 0; }, 60s)) {
            violations_.add(fmt::format("{}: {} sessions left after the pool was destroyed",
                                        to_string(node), server_sessions(node)));
        }
    }
    for (auto* p : {primary_proxy_.get(), replica_proxies_[0].get(), replica_proxies_[1].get()}) {
        if (!eventually([&] { return p->connections() == 0; }, 60s)) {
            violations_.add(
                fmt::format("{} sockets still open through a proxy after the pool was destroyed",
                            p->connections()));
        }
    }
    if (!eventually([&] { return thread_count() == threads_before; }, 60s)) {
        violations_.add(fmt::format("{} threads before the pool, {} after it was destroyed",
                                    threads_before, thread_count()));
    }
    check_results(logs);
    check_coverage();

    // Memory: the heap in use at the end of the last round is not above the first round's by
    // more than noise (2 MiB or 10%). Under sanitizers, whose allocators glibc's count does not
    // see (and whose quarantine keeps freed memory resident), LeakSanitizer checks instead.
    std::string memory_check = "skipped: the allocator is not glibc's (LeakSanitizer checks)";
    const Memory first = round_memory.front();
    const Memory last = round_memory.back();
    if (first.heap > 0) {
        const std::uint64_t room = std::max<std::uint64_t>(2u << 20, first.heap / 10);
        memory_check = fmt::format("heap in use {} KiB after round 1, {} KiB after round {}",
                                   first.heap / 1024, last.heap / 1024, round_memory.size());
        if (last.heap > first.heap + room) violations_.add("memory grew: " + memory_check);
    }

    const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started);
    nlohmann::json memory = nlohmann::json::array();
    for (const auto& m : round_memory)
        memory.push_back({{"heap_kib", m.heap / 1024}, {"rss_kib", m.rss / 1024}});
    nlohmann::json report = {
        {"duration_s", options_.duration.count()},
        {"elapsed_s", elapsed.count()},
        {"rounds", options_.rounds},
        {"threads", options_.threads},
        {"seed", seed_},
        {"operations", ops_.to_json()},
        {"faults", faults_.to_json()},
        {"faults_without_effect", faults_without_effect_.to_json()},
        {"errors", errors_.to_json()},
        {"events", events_.to_json()},
        {"sessions_at_end", sessions},
        {"memory", memory},
        {"memory_check", memory_check},
        {"password_scan", scan_.to_json()},
        {"violations", violations_.list()},
        {"violation_count", violations_.count()},
    };
    const std::string line = report.dump();
    std::cout << report.dump(2) << "\n";
    std::cout << "SOAK-REPORT " << line << "\n";
    if (!options_.report.empty()) std::ofstream(options_.report) << line << "\n";
    if (violations_.count() > 0) {
        std::cout << fmt::format("sparc-soak: FAILED: {} violated invariants\n",
                                 violations_.count());
        return 1;
    }
    std::cout << "sparc-soak: every invariant held\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const Options options = parse_options(argc, argv);
    try {
        const auto env = ClusterEnv::load();
        Soak soak(options, env);
        return soak.run();
    } catch (const std::exception& e) {
        std::cerr << "sparc-soak: " << e.what() << "\n";
        return 2;
    }
}
