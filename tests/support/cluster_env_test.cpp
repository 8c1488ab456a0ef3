#include "sparc_test/cluster_env.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

using sparc::testing::ClusterEnv;
using sparc::testing::ClusterError;
using sparc::testing::ClusterNode;

namespace {

struct TempFile {
    explicit TempFile(const std::string& text) {
        path = std::filesystem::temp_directory_path() /
               ("sparc-cluster-env-test-" + std::to_string(::getpid()) + ".env");
        std::ofstream(path) << text;
    }
    ~TempFile() { std::filesystem::remove(path); }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    std::filesystem::path path;
};

const char* const kEnv = R"(# written by cluster.sh
SPARC_CLUSTER_DIR='/tmp/sparc-cluster-x'
SPARC_CLUSTER_SCRIPT='/src/scripts/cluster.sh'
SPARC_TEST_USER='sparc'
SPARC_TEST_PASSWORD='sparc-test-secret-00'
SPARC_TEST_DATABASE='sparc'
SPARC_PRIMARY_PORT='20001'
SPARC_PRIMARY_URL='postgresql://sparc:sparc-test-secret-00@127.0.0.1:20001/sparc'
SPARC_REPLICA1_PORT='20002'
SPARC_REPLICA1_URL='postgresql://sparc:sparc-test-secret-00@127.0.0.1:20002/sparc'
SPARC_REPLICA2_PORT='20003'
SPARC_REPLICA2_URL='postgresql://sparc:sparc-test-secret-00@127.0.0.1:20003/sparc'
SPARC_PGBOUNCER_PORT='20004'
SPARC_PGBOUNCER_URL='postgresql://sparc:sparc-test-secret-00@127.0.0.1:20004/sparc'
SPARC_SSL_CA='/tmp/sparc-cluster-x/ssl/ca.crt'
SPARC_SSL_WRONG_CA='/tmp/sparc-cluster-x/ssl/wrong-ca.crt'
SPARC_PRIMARY_SSL_URL='postgresql://sparc:sparc-test-secret-00@127.0.0.1:20001/sparc?sslmode=verify-full&sslrootcert=/tmp/sparc-cluster-x/ssl/ca.crt'
)";

}  // namespace

TEST_CASE("ClusterEnv reads cluster.env", "[support][cluster_env]") {
    TempFile file(kEnv);
    const auto env = ClusterEnv::load(file.path);
    CHECK(env.primary_url == "postgresql://sparc:sparc-test-secret-00@127.0.0.1:20001/sparc");
    REQUIRE(env.replica_urls.size() == 2);
    CHECK(env.url(ClusterNode::replica2) == env.replica_urls[1]);
    CHECK(env.port(ClusterNode::pgbouncer) == 20004);
    CHECK(env.password == "sparc-test-secret-00");
    CHECK(env.ssl_wrong_ca == "/tmp/sparc-cluster-x/ssl/wrong-ca.crt");
    CHECK(env.script == "/src/scripts/cluster.sh");
    CHECK(env.primary_ssl_url.find("sslmode=verify-full&sslrootcert=") != std::string::npos);
}

TEST_CASE("ClusterEnv names what is missing", "[support][cluster_env]") {
    TempFile file("SPARC_PRIMARY_URL=postgresql://x@127.0.0.1/db\n");
    CHECK_THROWS_WITH(ClusterEnv::load(file.path), Catch::Contains("SPARC_REPLICA1_URL"));
    CHECK_THROWS_AS(ClusterEnv::load("/nonexistent/cluster.env"), ClusterError);
}

TEST_CASE("ClusterEnv::load explains an unset SPARC_CLUSTER_ENV", "[support][cluster_env]") {
    const char* saved = std::getenv("SPARC_CLUSTER_ENV");
    const std::string keep = saved != nullptr ? saved : "";
    ::unsetenv("SPARC_CLUSTER_ENV");
    CHECK_FALSE(ClusterEnv::available());
    CHECK_THROWS_WITH(ClusterEnv::load(), Catch::Contains("SPARC_CLUSTER_ENV is not set"));
    if (saved != nullptr) ::setenv("SPARC_CLUSTER_ENV", keep.c_str(), 1);
}

TEST_CASE("run_command captures output and exit status", "[support][cluster_env]") {
    const auto r = sparc::testing::run_command({"sh", "-c", "echo out; echo err >&2; exit 3"});
    CHECK(r.exit_code == 3);
    CHECK(r.out == "out\n");
    CHECK(r.err == "err\n");
    CHECK_THROWS_AS(sparc::testing::run_command({"/nonexistent/program"}), ClusterError);
}

TEST_CASE("ClusterEnv::multi_host_url lists the nodes in order", "[support][cluster_env]") {
    TempFile file(kEnv);
    const auto env = ClusterEnv::load(file.path);
    CHECK(env.multi_host_url({ClusterNode::replica1, ClusterNode::primary}) ==
          "postgresql://sparc:sparc-test-secret-00@127.0.0.1:20002,127.0.0.1:20001/sparc"
          "?target_session_attrs=read-write");
    CHECK(env.multi_host_url({ClusterNode::primary}, "connect_timeout=2") ==
          "postgresql://sparc:sparc-test-secret-00@127.0.0.1:20001/sparc"
          "?target_session_attrs=read-write&connect_timeout=2");
    CHECK(env.multi_host_url({ClusterNode::replica1, ClusterNode::replica2},
                             "target_session_attrs=standby") ==
          "postgresql://sparc:sparc-test-secret-00@127.0.0.1:20002,127.0.0.1:20003/sparc"
          "?target_session_attrs=standby");
    CHECK_THROWS_AS(env.multi_host_url({}), ClusterError);
}
