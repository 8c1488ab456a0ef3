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

    // Topology changes. Each returns once the change has taken effect and throws ClusterError
    // with cluster.sh's output otherwise. Only for clusters a test may reshape: the pg_topology
    // fixture's (sparc_add_topology_test), never the shared pg_cluster. reset() undoes them all.

    /// Promotes a replica (pg_ctl promote); returns when it accepts writes. The old primary
    /// keeps running as a primary too.
    void promote(ClusterNode node) const;
    /// SIGSTOPs every process of the node (postmaster, backends, walsender/walreceiver): TCP
    /// connects to it still complete in the kernel, but nothing answers.
    void freeze(ClusterNode node) const;
    /// Resumes a frozen node; returns when it answers queries.
    void thaw(ClusterNode node) const;
    /// Sets (on) or resets (off) default_transaction_read_only on a PostgreSQL node through
    /// ALTER SYSTEM and a reload: writes fail with SQLSTATE 25006. Returns when a new session
    /// sees the setting.
    void fence(ClusterNode node, bool on) const;
    /// Synchronous replication on the primary (synchronous_standby_names = 'ANY 1 (replica1,
    /// replica2)', synchronous_commit = on), or back to asynchronous; returns when
    /// pg_stat_replication shows a quorum standby (on) or none (off).
    void set_synchronous(bool on) const;
    /// Back to the shape the cluster started with: every node thawed and running, unfenced,
    /// asynchronous, the original primary as primary, every replica that no longer streams
    /// from it (a promoted one: its data is lost) rebuilt. Returns when both replicas stream.
    void reset() const;

    /// A libpq multi-host URL over the nodes, in order, as the test superuser:
    /// postgresql://user:password@127.0.0.1:P1,127.0.0.1:P2/db?target_session_attrs=read-write
    /// with `&extra_query` appended. If extra_query sets target_session_attrs itself, that
    /// one replaces read-write. @throws ClusterError for an empty list.
    std::string multi_host_url(const std::vector<ClusterNode>& nodes,
                               std::string_view extra_query = {}) const;

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

/// Freezes a node (ClusterEnv::freeze) for the life of a scope and thaws it on exit, so a
/// failing test does not leave a hung node behind.
class FrozenNode {
  public:
    FrozenNode(const ClusterEnv& env, ClusterNode node);
    ~FrozenNode();
    FrozenNode(const FrozenNode&) = delete;
    FrozenNode& operator=(const FrozenNode&) = delete;
    /// Thaws the node now (waiting as ClusterEnv::thaw does) instead of at scope exit.
    void thaw();

  private:
    const ClusterEnv& env_;
    ClusterNode node_;
    bool frozen_ = true;
};

/// Calls ClusterEnv::reset() on scope exit, also when the test failed or threw, so the next
/// topology test starts from a primary and two streaming replicas.
class TopologyGuard {
  public:
    explicit TopologyGuard(const ClusterEnv& env) noexcept : env_(env) {}
    ~TopologyGuard();
    TopologyGuard(const TopologyGuard&) = delete;
    TopologyGuard& operator=(const TopologyGuard&) = delete;

  private:
    const ClusterEnv& env_;
};

}  // namespace sparc::testing
