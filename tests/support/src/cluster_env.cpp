#include "sparc_test/cluster_env.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <utility>

#include <fmt/format.h>

extern char** environ;

namespace sparc::testing {
namespace {

constexpr std::string_view kEnvVar = "SPARC_CLUSTER_ENV";
constexpr std::string_view kScriptVar = "SPARC_CLUSTER_SCRIPT";

std::string errno_text(int err) { return std::strerror(err); }

class Pipe {
  public:
    Pipe() {
        if (::pipe2(fds_.data(), O_CLOEXEC) != 0) {
            throw ClusterError(fmt::format("pipe2: {}", errno_text(errno)));
        }
    }
    ~Pipe() {
        close_read();
        close_write();
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    int read_end() const { return fds_[0]; }
    int write_end() const { return fds_[1]; }
    void close_read() { close_fd(fds_[0]); }
    void close_write() { close_fd(fds_[1]); }

  private:
    static void close_fd(int& fd) {
        if (fd >= 0) {
            ::close(fd);
            fd = -1;
        }
    }
    std::array<int, 2> fds_{-1, -1};
};

std::string trim_quotes(std::string value) {
    if (value.size() >= 2 && (value.front() == '\'' || value.front() == '"') &&
        value.back() == value.front()) {
        return value.substr(1, value.size() - 2);
    }
    return value;
}

std::string describe(const std::vector<std::string>& argv) {
    std::string text;
    for (const auto& a : argv) {
        if (!text.empty()) text += ' ';
        text += a;
    }
    return text;
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for a URL's userinfo.
std::string percent_encode(std::string_view text) {
    std::string out;
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out += c;
        } else {
            out += fmt::format("%{:02X}", u);
        }
    }
    return out;
}

}  // namespace

std::string_view to_string(ClusterNode node) noexcept {
    switch (node) {
        case ClusterNode::primary:
            return "primary";
        case ClusterNode::replica1:
            return "replica1";
        case ClusterNode::replica2:
            return "replica2";
        case ClusterNode::pgbouncer:
            return "pgbouncer";
    }
    return "unknown";
}

CommandResult run_command(const std::vector<std::string>& argv) {
    if (argv.empty()) throw ClusterError("run_command: empty command");
    Pipe out;
    Pipe err;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out.write_end(), 1);
    posix_spawn_file_actions_adddup2(&actions, err.write_end(), 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    // Servers started by the command must not inherit a test's sockets (a fault proxy's
    // connection held open by a daemon would never see its peer close).
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
#endif
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    const int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        throw ClusterError(fmt::format("cannot run {}: {}", argv[0], errno_text(rc)));
    }
    out.close_write();
    err.close_write();

    CommandResult result;
    std::array<pollfd, 2> fds{pollfd{out.read_end(), POLLIN, 0}, pollfd{err.read_end(), POLLIN, 0}};
    std::array<std::string*, 2> sinks{&result.out, &result.err};
    std::array<char, 4096> buf{};
    int open_fds = 2;
    while (open_fds > 0) {
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (std::size_t i = 0; i < fds.size(); ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) continue;
            const ssize_t n = ::read(fds[i].fd, buf.data(), buf.size());
            if (n > 0) {
                sinks[i]->append(buf.data(), static_cast<std::size_t>(n));
            } else if (n == 0 || errno != EINTR) {
                fds[i].fd = -1;
                --open_fds;
            }
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) throw ClusterError(fmt::format("waitpid: {}", errno_text(errno)));
    }
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result;
}

bool ClusterEnv::available() {
    const char* file = std::getenv(kEnvVar.data());
    return file != nullptr && *file != '\0';
}

ClusterEnv ClusterEnv::load() {
    if (!available()) {
        throw ClusterError(fmt::format(
            "{} is not set: integration tests need the test cluster. Run them through ctest "
            "(the pg_cluster fixture starts it), or start one with `scripts/cluster.sh start "
            "DIR` and export {}=DIR/cluster.env {}=scripts/cluster.sh",
            kEnvVar, kEnvVar, kScriptVar));
    }
    const char* script = std::getenv(kScriptVar.data());
    return load(std::getenv(kEnvVar.data()), script != nullptr ? script : "");
}

ClusterEnv ClusterEnv::load(const std::filesystem::path& env_file, std::string script) {
    std::ifstream in(env_file);
    if (!in) {
        throw ClusterError(
            fmt::format("cannot read the cluster environment file {} (is the cluster running? "
                        "fixture.cluster.start writes it)",
                        env_file.string()));
    }
    ClusterEnv env;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line.front() == '#') continue;
        const auto eq = line.find('=');
        if (eq == std::string::npos || eq == 0) continue;
        env.values.emplace(line.substr(0, eq), trim_quotes(line.substr(eq + 1)));
    }
    const auto get = [&](std::string_view key) -> std::string {
        const auto it = env.values.find(std::string(key));
        if (it == env.values.end() || it->second.empty()) {
            throw ClusterError(fmt::format("{} lacks {}", env_file.string(), key));
        }
        return it->second;
    };
    env.primary_url = get("SPARC_PRIMARY_URL");
    env.replica_urls = {get("SPARC_REPLICA1_URL"), get("SPARC_REPLICA2_URL")};
    env.pgbouncer_url = get("SPARC_PGBOUNCER_URL");
    env.primary_ssl_url = get("SPARC_PRIMARY_SSL_URL");
    env.user = get("SPARC_TEST_USER");
    env.password = get("SPARC_TEST_PASSWORD");
    env.database = get("SPARC_TEST_DATABASE");
    env.ssl_ca = get("SPARC_SSL_CA");
    env.ssl_wrong_ca = get("SPARC_SSL_WRONG_CA");
    env.dir = get("SPARC_CLUSTER_DIR");
    env.script = script.empty() ? get("SPARC_CLUSTER_SCRIPT") : std::move(script);
    for (const auto node : {ClusterNode::primary, ClusterNode::replica1, ClusterNode::replica2,
                            ClusterNode::pgbouncer}) {
        (void)env.port(node);  // validates every port now rather than in the middle of a test
    }
    return env;
}

const std::string& ClusterEnv::url(ClusterNode node) const {
    switch (node) {
        case ClusterNode::primary:
            return primary_url;
        case ClusterNode::replica1:
            return replica_urls.at(0);
        case ClusterNode::replica2:
            return replica_urls.at(1);
        case ClusterNode::pgbouncer:
            return pgbouncer_url;
    }
    throw ClusterError("unknown cluster node");
}

std::uint16_t ClusterEnv::port(ClusterNode node) const {
    std::string key = "SPARC_";
    for (const char c : to_string(node)) {
        key += static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    }
    key += "_PORT";
    const auto it = values.find(key);
    std::uint16_t port = 0;
    if (it == values.end() ||
        std::from_chars(it->second.data(), it->second.data() + it->second.size(), port).ec !=
            std::errc{} ||
        port == 0) {
        throw ClusterError(fmt::format("cluster environment lacks a valid {}", key));
    }
    return port;
}

CommandResult ClusterEnv::cluster_command(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{"bash", script.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv);
}

void ClusterEnv::checked(const std::vector<std::string>& args) const {
    const auto r = cluster_command(args);
    if (r.exit_code != 0) {
        throw ClusterError(fmt::format("`cluster.sh {}` failed (exit {}): {}{}", describe(args),
                                       r.exit_code, r.err, r.out));
    }
}

void ClusterEnv::stop_node(ClusterNode node, bool immediate) const {
    std::vector<std::string> args{"stop-node", dir.string(), std::string(to_string(node))};
    if (immediate) args.emplace_back("immediate");
    checked(args);
}

void ClusterEnv::start_node(ClusterNode node) const {
    checked({"start-node", dir.string(), std::string(to_string(node))});
}

void ClusterEnv::restart_node(ClusterNode node, bool immediate) const {
    std::vector<std::string> args{"restart-node", dir.string(), std::string(to_string(node))};
    if (immediate) args.emplace_back("immediate");
    checked(args);
}

std::string ClusterEnv::psql(ClusterNode node, std::string_view sql) const {
    auto r = cluster_command(
        {"psql", dir.string(), std::string(to_string(node)), "-c", std::string(sql)});
    if (r.exit_code != 0) {
        throw ClusterError(
            fmt::format("psql on {} failed (exit {}): {}", to_string(node), r.exit_code, r.err));
    }
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return std::move(r.out);
}

void ClusterEnv::promote(ClusterNode node) const {
    checked({"promote", dir.string(), std::string(to_string(node))});
}

void ClusterEnv::freeze(ClusterNode node) const {
    checked({"freeze", dir.string(), std::string(to_string(node))});
}

void ClusterEnv::thaw(ClusterNode node) const {
    checked({"thaw", dir.string(), std::string(to_string(node))});
}

void ClusterEnv::fence(ClusterNode node, bool on) const {
    checked({on ? "fence" : "unfence", dir.string(), std::string(to_string(node))});
}

void ClusterEnv::set_synchronous(bool on) const {
    checked({"sync", dir.string(), on ? "on" : "off"});
}

void ClusterEnv::reset() const { checked({"reset", dir.string()}); }

std::string ClusterEnv::multi_host_url(const std::vector<ClusterNode>& nodes,
                                       std::string_view extra_query) const {
    if (nodes.empty()) throw ClusterError("multi_host_url: no nodes");
    std::string hosts;
    for (const auto node : nodes) {
        if (!hosts.empty()) hosts += ',';
        hosts += fmt::format("127.0.0.1:{}", port(node));
    }
    std::string query;
    if (extra_query.find("target_session_attrs=") == std::string_view::npos) {
        query = "target_session_attrs=read-write";
    }
    if (!extra_query.empty()) {
        if (!query.empty()) query += '&';
        query += extra_query;
    }
    return fmt::format("postgresql://{}:{}@{}/{}?{}", percent_encode(user),
                       percent_encode(password), hosts, percent_encode(database), query);
}

StoppedNode::StoppedNode(const ClusterEnv& env, ClusterNode node, bool immediate)
    : env_(env), node_(node) {
    env_.stop_node(node_, immediate);
}

StoppedNode::~StoppedNode() {
    if (!stopped_) return;
    try {
        env_.start_node(node_);
    } catch (const std::exception& e) {
        // A destructor must not throw; the next test's own checks will report the cluster.
        fmt::print(stderr, "sparc::testing::StoppedNode: could not restart {}: {}\n",
                   to_string(node_), e.what());
    }
}

void StoppedNode::restart() {
    if (!stopped_) return;
    env_.start_node(node_);
    stopped_ = false;
}

FrozenNode::FrozenNode(const ClusterEnv& env, ClusterNode node) : env_(env), node_(node) {
    env_.freeze(node_);
}

FrozenNode::~FrozenNode() {
    if (!frozen_) return;
    try {
        env_.thaw(node_);
    } catch (const std::exception& e) {
        fmt::print(stderr, "sparc::testing::FrozenNode: could not thaw {}: {}\n", to_string(node_),
                   e.what());
    }
}

void FrozenNode::thaw() {
    if (!frozen_) return;
    env_.thaw(node_);
    frozen_ = false;
}

TopologyGuard::~TopologyGuard() {
    try {
        env_.reset();
    } catch (const std::exception& e) {
        fmt::print(stderr, "sparc::testing::TopologyGuard: could not reset the cluster: {}\n",
                   e.what());
    }
}

}  // namespace sparc::testing
