#include "sparc_test/fault_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using sparc::testing::FaultProxy;

namespace {

// Generous safety net so a broken proxy fails a test instead of hanging it; never asserted on.
constexpr auto kPatience = 5s;

void set_recv_timeout(int fd, std::chrono::milliseconds t) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(t.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/// A loopback echo server that records everything it receives.
class EchoServer {
  public:
    EchoServer() {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::listen(listen_fd_, 16) == 0);
        socklen_t len = sizeof addr;
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        acceptor_ = std::thread([this] { accept_loop(); });
    }
    ~EchoServer() {
        ::shutdown(listen_fd_, SHUT_RDWR);
        acceptor_.join();
        {
            std::lock_guard lock(mu_);
            for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
        }
        for (auto& t : workers_) t.join();
        ::close(listen_fd_);
    }
    EchoServer(const EchoServer&) = delete;
    EchoServer& operator=(const EchoServer&) = delete;

    std::uint16_t port() const { return port_; }
    std::string received() const {
        std::lock_guard lock(mu_);
        return received_;
    }
    bool wait_received(const std::string& needle) const {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, kPatience,
                            [&] { return received_.find(needle) != std::string::npos; });
    }
    bool wait_closed(std::size_t n) const {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, kPatience, [&] { return closed_ >= n; });
    }

  private:
    void accept_loop() {
        for (;;) {
            const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) return;
            std::lock_guard lock(mu_);
            fds_.push_back(fd);
            workers_.emplace_back([this, fd] { serve(fd); });
        }
    }
    void serve(int fd) {
        char buf[4096];
        for (;;) {
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            {
                std::lock_guard lock(mu_);
                received_.append(buf, static_cast<std::size_t>(n));
            }
            cv_.notify_all();
            if (::send(fd, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) < 0) break;
        }
        std::lock_guard lock(mu_);
        std::erase(fds_, fd);
        ::close(fd);
        ++closed_;
        cv_.notify_all();
    }

    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    std::thread acceptor_;
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    std::vector<std::thread> workers_;
    std::vector<int> fds_;
    std::string received_;
    std::size_t closed_ = 0;
};

/// A blocking client socket; -1 on connection failure (errno kept).
int connect_to(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        const int err = errno;
        ::close(fd);
        errno = err;
        return -1;
    }
    set_recv_timeout(fd, kPatience);
    return fd;
}

struct Client {
    explicit Client(std::uint16_t port) : fd(connect_to(port)) { REQUIRE(fd >= 0); }
    ~Client() {
        if (fd >= 0) ::close(fd);
    }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    void send(const std::string& s) const {
        REQUIRE(::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()));
    }
    /// Reads exactly n bytes, or fewer if the connection ends.
    std::string recv(std::size_t n) const {
        std::string out;
        char buf[4096];
        while (out.size() < n) {
            const ssize_t r = ::recv(fd, buf, std::min(sizeof buf, n - out.size()), 0);
            if (r <= 0) break;
            out.append(buf, static_cast<std::size_t>(r));
        }
        return out;
    }
    std::string echo(const std::string& s) const {
        send(s);
        return recv(s.size());
    }
    /// True when the connection ended (EOF or reset) instead of delivering data.
    bool ended() const {
        char c = 0;
        const ssize_t r = ::recv(fd, &c, 1, 0);
        return r == 0 || (r < 0 && (errno == ECONNRESET || errno == EPIPE));
    }
    int fd;
};

std::size_t open_fds() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
}

template <typename Pred>
bool eventually(Pred pred) {
    const auto deadline = std::chrono::steady_clock::now() + kPatience;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

}  // namespace

TEST_CASE("FaultProxy forwards both directions", "[support][fault_proxy]") {
    EchoServer server;
    FaultProxy proxy("127.0.0.1", server.port());
    REQUIRE(proxy.port() != 0);
    REQUIRE(proxy.port() != server.port());
    Client a(proxy.port());
    Client b(proxy.port());
    CHECK(a.echo("hello") == "hello");
    CHECK(b.echo("world") == "world");
    const std::string big(1 << 20, 'x');
    a.send(big);
    CHECK(a.recv(big.size()) == big);
    CHECK(proxy.connections() == 2);
    CHECK(proxy.connections_accepted() == 2);
}

TEST_CASE("FaultProxy cut_all resets every connection", "[support][fault_proxy]") {
    EchoServer server;
    FaultProxy proxy("127.0.0.1", server.port());
    Client a(proxy.port());
    Client b(proxy.port());
    REQUIRE(a.echo("1") == "1");
    REQUIRE(b.echo("2") == "2");
    proxy.cut_all();
    CHECK(proxy.connections() == 0);
    CHECK(a.ended());
    CHECK(b.ended());
    CHECK(server.wait_closed(2));
    Client c(proxy.port());  // new connections still work
    CHECK(c.echo("3") == "3");
}

TEST_CASE("FaultProxy stall holds bytes until released", "[support][fault_proxy]") {
    EchoServer server;
    FaultProxy proxy("127.0.0.1", server.port());
    Client a(proxy.port());
    REQUIRE(a.echo("before") == "before");
    proxy.stall(true);
    a.send("during");
    set_recv_timeout(a.fd, 300ms);
    char c = 0;
    CHECK(::recv(a.fd, &c, 1, 0) < 0);  // nothing comes back while stalled...
    CHECK((errno == EAGAIN || errno == EWOULDBLOCK));
    CHECK(server.received() == "before");  // ...and nothing reached the server
    CHECK(proxy.connections() == 1);       // the connection is held open
    set_recv_timeout(a.fd, kPatience);
    proxy.stall(false);
    CHECK(a.recv(6) == "during");
}

TEST_CASE("FaultProxy refuse_new refuses connections, keeps current ones",
          "[support][fault_proxy]") {
    EchoServer server;
    FaultProxy proxy("127.0.0.1", server.port());
    Client a(proxy.port());
    REQUIRE(a.echo("x") == "x");
    proxy.refuse_new(true);
    errno = 0;
    CHECK(connect_to(proxy.port()) == -1);
    CHECK(errno == ECONNREFUSED);
    CHECK(a.echo("still here") == "still here");
    proxy.refuse_new(false);
    Client b(proxy.port());
    CHECK(b.echo("back") == "back");
}

TEST_CASE("FaultProxy cut_after_client_sends delivers the bytes, hides the reply",
          "[support][fault_proxy]") {
    EchoServer server;
    FaultProxy proxy("127.0.0.1", server.port());
    Client bystander(proxy.port());
    Client a(proxy.port());
    REQUIRE(a.echo("BEGIN;") == "BEGIN;");
    proxy.cut_after_client_sends("COMMIT");
    a.send("COM");  // a needle split across reads still matches
    REQUIRE(a.recv(3) == "COM");
    a.send("MIT;");
    CHECK(a.ended());                        // the client never hears back...
    CHECK(server.wait_received("COMMIT;"));  // ...but the server got the whole request
    CHECK(proxy.triggers_fired() == 1);
    CHECK(bystander.echo("unaffected") == "unaffected");
    // One-shot: the next COMMIT passes through.
    Client b(proxy.port());
    CHECK(b.echo("COMMIT") == "COMMIT");
    CHECK(proxy.triggers_fired() == 1);
}

TEST_CASE("FaultProxy cut_before_client_sends drops the bytes", "[support][fault_proxy]") {
    EchoServer server;
    FaultProxy proxy("127.0.0.1", server.port());
    Client a(proxy.port());
    REQUIRE(a.echo("INSERT;") == "INSERT;");
    proxy.cut_before_client_sends("COMMIT");
    a.send("COMMIT;");
    CHECK(a.ended());
    CHECK(proxy.wait_for_triggers(1, kPatience));
    CHECK(server.wait_closed(1));
    CHECK(server.received() == "INSERT;");
}

TEST_CASE("FaultProxy disarm cancels a trigger", "[support][fault_proxy]") {
    EchoServer server;
    FaultProxy proxy("127.0.0.1", server.port());
    proxy.cut_before_client_sends("COMMIT");
    proxy.disarm();
    Client a(proxy.port());
    CHECK(a.echo("COMMIT") == "COMMIT");
    CHECK(proxy.triggers_fired() == 0);
}

TEST_CASE("FaultProxy resets clients when the target is down", "[support][fault_proxy]") {
    std::uint16_t dead_port = 0;
    {
        EchoServer gone;
        dead_port = gone.port();
    }
    FaultProxy proxy("127.0.0.1", dead_port);
    Client a(proxy.port());
    CHECK(a.ended());
    CHECK(eventually([&] { return proxy.connections() == 0; }));
}

TEST_CASE("FaultProxy leaves no descriptors behind", "[support][fault_proxy]") {
    EchoServer server;
    const auto before = open_fds();
    {
        FaultProxy proxy("127.0.0.1", server.port());
        Client a(proxy.port());
        REQUIRE(a.echo("x") == "x");
        proxy.stall(true);
        a.send("y");
    }
    REQUIRE(server.wait_closed(1));  // the server saw the proxy close its side
    CHECK(open_fds() == before);
}
