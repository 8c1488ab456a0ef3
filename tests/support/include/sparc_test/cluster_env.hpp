#pragma once
/// @file cluster_env.hpp
/// The local test cluster (scripts/cluster.sh) as integration tests see it.

#include <cstdint>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sparc::testing {

/// The cluster is not available or a cluster command failed.
class ClusterError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// A node of the test cluster.
enum class ClusterNode { primary, replica1, replica2, pgbouncer };

/// The node's name as cluster.sh spells it ("primary", "replica1", ...).
std::string_view to_string(ClusterNode node) noexcept;

/// Output of a finished command.
struct CommandResult {
    int exit_code = -1;  ///< exit status, or 128 + signal number
    std::string out;     ///< standard output
    std::string err;     ///< standard error
};

/// Runs `argv` (argv[0] looked up in PATH) without a shell, with no descriptors but stdio
/// inherited, and collects its output. @throws ClusterError if it cannot be started.
CommandResult run_command(const std::vector<std::string>& argv);

/// The running test cluster: URLs and credentials from the cluster.env file that
/// `cluster.sh start` writes, and node control through cluster.sh.
///
/// CTest hands integration tests `SPARC_CLUSTER_ENV` (the file) and `SPARC_CLUSTER_SCRIPT`
/// (cluster.sh); see tests/fixtures/CMakeLists.txt. Node commands are serialised across
/// processes by cluster.sh; the object itself is immutable and may be shared between threads.
class ClusterEnv {
  public:
    /// Reads the file named by SPARC_CLUSTER_ENV; the script comes from SPARC_CLUSTER_SCRIPT,
    /// else from the file. @throws ClusterError saying how to get a cluster when unset.
    static ClusterEnv load();
    /// Reads a cluster.env file. @throws ClusterError if it is missing or incomplete.
    static ClusterEnv load(const std::filesystem::path& env_file, std::string script = {});
    /// Whether SPARC_CLUSTER_ENV is set (tests may skip themselves when it is not).
    static bool available();

    std::string primary_url;                    ///< superuser URL of the primary (has the password)
    std::vector<std::string> replica_urls;      ///< replica1, replica2
    std::string pgbouncer_url;                  ///< PgBouncer, transaction pooling, to the primary
    std::string primary_ssl_url;                ///< primary with sslmode=verify-full and ssl_ca
    std::string user;                           ///< test superuser
    std::string password;                       ///< its password: tests check it is never shown
    std::string database;                       ///< test database
    std::filesystem::path ssl_ca;               ///< CA that signed the servers' certificates
    std::filesystem::path ssl_wrong_ca;         ///< an unrelated CA: verification must fail
    std::filesystem::path dir;                  ///< the cluster directory (logs in dir/log)
    std::filesystem::path script;               ///< cluster.sh
    std::map<std::string, std::string> values;  ///< every KEY=VALUE of the file

    /// URL of a node; pgbouncer's is the pooled URL.
    const std::string& url(ClusterNode node) const;
    /// TCP port of a node on 127.0.0.1.
    std::uint16_t port(ClusterNode node) const;

    /// Stops a node: a fast shutdown, or an immediate one (no shutdown checkpoint, backends
    /// killed; PgBouncer: SIGKILL). @throws ClusterError with cluster.sh's output on failure.
    void stop_node(ClusterNode node, bool immediate = false) const;
    /// Starts a node and waits until it accepts connections (a replica: until it streams,
    /// if the primary is up; the primary: until PgBouncer reaches it again, if running).
    void start_node(ClusterNode node) const;
    /// stop_node then start_node.
    void restart_node(ClusterNode node, bool immediate = false) const;
    /// Runs SQL through psql as the superuser; returns unaligned tuples-only output with the
    /// trailing newline removed. @throws ClusterError if psql fails.
    std::string psql(ClusterNode node, std::string_view sql) const;
    /// Runs `cluster.sh ARGS...`; does not throw on a non-zero exit.
    CommandResult cluster_command(const std::vector<std::string>& args) const;

  private:
    void checked(const std::vector<std::string>& args) const;
};

/// Stops a node for the life of a scope and starts it again on exit, so a failing test does
/// not leave the cluster broken for the next one.
class StoppedNode {
  public:
    StoppedNode(const ClusterEnv& env, ClusterNode node, bool immediate = false);
    ~StoppedNode();
    StoppedNode(const StoppedNode&) = delete;
    StoppedNode& operator=(const StoppedNode&) = delete;
    /// Starts the node now (waiting as ClusterEnv::start_node does) instead of at scope exit.
    void restart();

  private:
    const ClusterEnv& env_;
    ClusterNode node_;
    bool stopped_ = true;
};

}  // namespace sparc::testing
