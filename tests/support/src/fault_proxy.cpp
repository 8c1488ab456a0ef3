#include "sparc_test/fault_proxy.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <list>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace sparc::testing {
namespace {

constexpr std::size_t kReadChunk = 64 * 1024;

[[noreturn]] void throw_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

void close_fd(int& fd) {
    if (fd >= 0) {
        ::close(fd);
        fd = -1;
    }
}

/// Closes with SO_LINGER 0, so the peer gets a RST instead of an orderly FIN.
void reset_fd(int& fd) {
    if (fd < 0) return;
    linger lg{};
    lg.l_onoff = 1;
    lg.l_linger = 0;
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close_fd(fd);
}

void set_nodelay(int fd) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

sockaddr_in resolve(const std::string& host, std::uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) == 1) return addr;
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
    if (rc != 0 || found == nullptr) {
        throw std::system_error(
            std::make_error_code(std::errc::host_unreachable),
            fmt::format("FaultProxy: cannot resolve {}: {}", host, ::gai_strerror(rc)));
    }
    addr.sin_addr = reinterpret_cast<const sockaddr_in*>(found->ai_addr)->sin_addr;
    ::freeaddrinfo(found);
    return addr;
}

enum class Trigger { none, cut_after, cut_before };

/// One proxied connection. Owned by the I/O thread only.
struct Link {
    int client = -1;
    int server = -1;
    bool connecting = true;
    std::string to_server;        // read from the client, not yet written to the server
    std::string to_client;        // read from the server, not yet written to the client
    bool client_eof = false;      // the client will send nothing more
    bool server_eof = false;      // the server will send nothing more
    bool server_shut = false;     // we sent FIN to the server
    bool client_shut = false;     // we sent FIN to the client
    bool awaiting_reply = false;  // triggered: the client is cut when the server answers
    bool draining = false;        // the client is cut: finish with the server, discard replies
    std::string tail;             // end of the client stream, for needles split across reads

    bool done() const { return client < 0 && server < 0; }
    void reset_both() {
        reset_fd(client);
        reset_fd(server);
    }
};

}  // namespace

struct FaultProxy::Impl {
    sockaddr_in target{};
    int listen_fd = -1;
    std::uint16_t port = 0;
    int wake_fd = -1;
    std::thread thread;
    std::list<Link> links;  // I/O thread only

    mutable std::mutex mu;
    mutable std::condition_variable cv;
    // Requested state, guarded by mu.
    bool stop = false;
    bool stalled = false;
    bool refusing = false;
    Trigger trigger = Trigger::none;
    std::string needle;
    std::uint64_t cut_all_requests = 0;
    std::uint64_t requests = 0;
    // Reported by the I/O thread, guarded by mu.
    std::uint64_t applied = 0;
    std::size_t open = 0;
    std::size_t accepted = 0;
    std::size_t client_reads = 0;
    std::size_t fired = 0;
    std::string failure;  // why the I/O thread stopped, or why a request could not be applied

    // The I/O thread's copy of the requested state.
    bool stalled_now = false;
    bool refusing_now = false;
    Trigger trigger_now = Trigger::none;
    std::string needle_now;
    std::uint64_t cut_all_done = 0;

    void open_listener() {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) throw_errno("FaultProxy: socket");
        int one = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(port);
        if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(fd, 128) != 0) {
            const int err = errno;
            ::close(fd);
            throw std::system_error(err, std::generic_category(),
                                    fmt::format("FaultProxy: cannot listen on 127.0.0.1:{}", port));
        }
        socklen_t len = sizeof addr;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
        port = ntohs(addr.sin_port);
        listen_fd = fd;
    }

    void wake() const {
        const std::uint64_t one = 1;
        [[maybe_unused]] const auto n = ::write(wake_fd, &one, sizeof one);
    }

    /// Submits a state change and waits until the I/O thread has applied it.
    template <typename F>
    void request(F&& change) {
        std::unique_lock lock(mu);
        if (!failure.empty() && stop) throw std::runtime_error("FaultProxy: " + failure);
        change();
        const auto id = ++requests;
        failure.clear();
        wake();
        cv.wait(lock, [&] { return applied >= id || stop; });
        if (!failure.empty()) throw std::runtime_error("FaultProxy: " + failure);
    }

    /// Pulls requested changes into the I/O thread. Returns false when asked to stop.
    bool sync_requests() {
        std::uint64_t drain = 0;
        [[maybe_unused]] const auto n = ::read(wake_fd, &drain, sizeof drain);
        std::unique_lock lock(mu);
        if (stop) return false;
        stalled_now = stalled;
        trigger_now = trigger;
        needle_now = needle;
        if (cut_all_done != cut_all_requests) {
            cut_all_done = cut_all_requests;
            for (auto& l : links) l.reset_both();
        }
        if (refusing != refusing_now) {
            if (refusing) {
                close_fd(listen_fd);  // backlog connections are reset by the kernel
                refusing_now = true;
            } else {
                try {
                    open_listener();
                    refusing_now = false;
                } catch (const std::exception& e) {
                    failure = e.what();
                    refusing = true;
                }
            }
        }
        links.remove_if([](const Link& l) { return l.done(); });
        update_open_locked();
        applied = requests;
        cv.notify_all();
        return true;
    }

    void update_open_locked() {
        std::size_t now_open = 0;
        for (const auto& l : links) now_open += l.client >= 0 ? 1U : 0U;
        open = now_open;
    }

    void accept_new() {
        for (;;) {
            int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) return;  // EAGAIN, or the client gave up already
            set_nodelay(fd);
            Link link;
            link.client = fd;
            link.server = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (link.server < 0) {
                link.reset_both();
                continue;
            }
            set_nodelay(link.server);
            const int rc =
                ::connect(link.server, reinterpret_cast<const sockaddr*>(&target), sizeof target);
            if (rc != 0 && errno != EINPROGRESS) {
                link.reset_both();  // the target refuses: so does the proxy, as a reset
            } else {
                link.connecting = rc != 0;
                links.push_back(std::move(link));
            }
            std::lock_guard lock(mu);
            ++accepted;
        }
    }

    /// Appends what the client sent, checking for an armed needle.
    void from_client(Link& l, const char* data, std::size_t n) {
        if (trigger_now != Trigger::none && !needle_now.empty()) {
            std::string window = l.tail;
            window.append(data, n);
            if (window.find(needle_now) != std::string::npos) {
                fire(l, data, n);
                return;
            }
            const auto keep = std::min(window.size(), needle_now.size() - 1);
            l.tail = window.substr(window.size() - keep);
        }
        l.to_server.append(data, n);
    }

    void fire(Link& l, const char* data, std::size_t n) {
        // Counted before the cut, so a client that sees the cut also sees the count.
        const auto mode = trigger_now;
        trigger_now = Trigger::none;
        {
            std::lock_guard lock(mu);
            trigger = Trigger::none;
            ++fired;
            cv.notify_all();
        }
        if (mode == Trigger::cut_after) {
            // The server gets the bytes. The client is cut once the server answers: by then
            // the server has acted on them (a COMMIT is durable and visible), and the answer
            // is dropped.
            l.to_server.append(data, n);
            l.to_client.clear();
            l.awaiting_reply = true;
        } else {
            l.reset_both();
        }
    }

    /// Reads once from `fd`; returns bytes read, 0 at EOF, -1 when it would block, -2 on error.
    static ssize_t read_some(int fd, std::string& buf) {
        buf.resize(kReadChunk);
        const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n >= 0) {
            buf.resize(static_cast<std::size_t>(n));
            return n;
        }
        buf.clear();
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -1 : -2;
    }

    /// Writes pending bytes; returns false on error.
    static bool flush(int fd, std::string& pending) {
        while (!pending.empty()) {
            const ssize_t n = ::send(fd, pending.data(), pending.size(), MSG_NOSIGNAL);
            if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
            pending.erase(0, static_cast<std::size_t>(n));
        }
        return true;
    }

    void service(Link& l, short client_ev, short server_ev) {
        std::string buf;
        if (l.connecting) {
            if (server_ev == 0) return;
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(l.server, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) {
                l.reset_both();
                return;
            }
            l.connecting = false;
        }
        // Client -> server.
        if (l.client >= 0 && (client_ev & (POLLIN | POLLHUP | POLLERR)) != 0 &&
            l.to_server.empty() && !l.awaiting_reply) {
            const auto n = read_some(l.client, buf);
            if (n > 0) {
                {
                    std::lock_guard lock(mu);
                    ++client_reads;
                }
                from_client(l, buf.data(), buf.size());
            } else if (n == 0) {
                l.client_eof = true;
            } else if (n == -2) {
                l.reset_both();
                return;
            }
        }
        if (l.server >= 0 && !l.to_server.empty() && !flush(l.server, l.to_server)) {
            l.reset_both();
            return;
        }
        if (l.server >= 0 && l.to_server.empty() && (l.client_eof || l.draining) &&
            !l.server_shut) {
            ::shutdown(l.server, SHUT_WR);
            l.server_shut = true;
        }
        // Server -> client.
        if (l.server >= 0 && (server_ev & (POLLIN | POLLHUP | POLLERR)) != 0 &&
            l.to_client.empty()) {
            const auto n = read_some(l.server, buf);
            if (n > 0 && l.awaiting_reply) {
                reset_fd(l.client);
                l.awaiting_reply = false;
                l.draining = true;
            } else if (n > 0) {
                if (!l.draining) l.to_client = std::move(buf);
            } else if (n == 0) {
                l.server_eof = true;
                if (l.awaiting_reply) reset_fd(l.client);
            } else if (n == -2) {
                l.reset_both();
                return;
            }
        }
        if (l.client >= 0 && !l.to_client.empty() && !flush(l.client, l.to_client)) {
            l.reset_both();
            return;
        }
        if (l.client >= 0 && l.to_client.empty() && l.server_eof && !l.client_shut) {
            ::shutdown(l.client, SHUT_WR);
            l.client_shut = true;
        }
        const bool client_side_done = l.client < 0 || (l.client_eof && l.client_shut);
        const bool server_side_done =
            l.server < 0 || (l.server_eof && (l.server_shut || l.client < 0));
        if (client_side_done && server_side_done) {
            close_fd(l.client);
            close_fd(l.server);
        }
    }

    void run() {
        std::vector<pollfd> fds;
        std::vector<Link*> owners;
        while (sync_requests()) {
            fds.clear();
            owners.clear();
            fds.push_back({wake_fd, POLLIN, 0});
            fds.push_back({listen_fd, static_cast<short>(listen_fd >= 0 ? POLLIN : 0), 0});
            if (!stalled_now) {
                for (auto& l : links) {
                    const auto want = [](bool read, bool write) {
                        return static_cast<short>((read ? POLLIN : 0) | (write ? POLLOUT : 0));
                    };
                    const bool connected = !l.connecting;
                    fds.push_back({l.client,
                                   want(connected && !l.client_eof && l.to_server.empty() &&
                                            !l.awaiting_reply,
                                        !l.to_client.empty()),
                                   0});
                    fds.push_back({l.server,
                                   static_cast<short>(
                                       l.connecting ? POLLOUT
                                                    : want(!l.server_eof && l.to_client.empty(),
                                                           !l.to_server.empty())),
                                   0});
                    owners.push_back(&l);
                }
            }
            if (::poll(fds.data(), fds.size(), -1) < 0) {
                if (errno == EINTR) continue;
                throw_errno("FaultProxy: poll");
            }
            if (listen_fd >= 0 && (fds[1].revents & POLLIN) != 0) accept_new();
            for (std::size_t i = 0; i < owners.size(); ++i) {
                const auto& c = fds[2 + 2 * i];
                const auto& s = fds[2 + 2 * i + 1];
                // A closed side reports POLLNVAL; treat a side with nothing wanted as idle.
                const auto client_ev = static_cast<short>(c.fd >= 0 ? c.revents : 0);
                const auto server_ev = static_cast<short>(s.fd >= 0 ? s.revents : 0);
                if (client_ev != 0 || server_ev != 0 || owners[i]->draining) {
                    service(*owners[i], client_ev, server_ev);
                }
            }
            links.remove_if([](const Link& l) { return l.done(); });
            std::lock_guard lock(mu);
            update_open_locked();
        }
    }
};

FaultProxy::FaultProxy(std::string target_host, std::uint16_t target_port)
    : impl_(std::make_unique<Impl>()) {
    impl_->target = resolve(target_host, target_port);
    impl_->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (impl_->wake_fd < 0) throw_errno("FaultProxy: eventfd");
    try {
        impl_->open_listener();
    } catch (...) {
        close_fd(impl_->wake_fd);
        throw;
    }
    impl_->thread = std::thread([impl = impl_.get()] {
        try {
            impl->run();
        } catch (const std::exception& e) {
            std::lock_guard lock(impl->mu);
            impl->failure = e.what();
            impl->stop = true;
            impl->cv.notify_all();
        }
    });
}

FaultProxy::~FaultProxy() {
    {
        std::lock_guard lock(impl_->mu);
        impl_->stop = true;
    }
    impl_->wake();
    impl_->thread.join();
    for (auto& l : impl_->links) {
        close_fd(l.client);
        close_fd(l.server);
    }
    close_fd(impl_->listen_fd);
    close_fd(impl_->wake_fd);
}

std::uint16_t FaultProxy::port() const noexcept { return impl_->port; }

std::string FaultProxy::address() const { return fmt::format("127.0.0.1:{}", impl_->port); }

void FaultProxy::cut_all() {
    impl_->request([&] { ++impl_->cut_all_requests; });
}

void FaultProxy::stall(bool stalled) {
    impl_->request([&] { impl_->stalled = stalled; });
}

void FaultProxy::refuse_new(bool refuse) {
    impl_->request([&] { impl_->refusing = refuse; });
}

void FaultProxy::cut_after_client_sends(std::string needle) {
    if (needle.empty()) throw std::invalid_argument("FaultProxy: empty needle");
    impl_->request([&] {
        impl_->trigger = Trigger::cut_after;
        impl_->needle = std::move(needle);
    });
}

void FaultProxy::cut_before_client_sends(std::string needle) {
    if (needle.empty()) throw std::invalid_argument("FaultProxy: empty needle");
    impl_->request([&] {
        impl_->trigger = Trigger::cut_before;
        impl_->needle = std::move(needle);
    });
}

void FaultProxy::disarm() {
    impl_->request([&] { impl_->trigger = Trigger::none; });
}

std::size_t FaultProxy::triggers_fired() const {
    std::lock_guard lock(impl_->mu);
    return impl_->fired;
}

bool FaultProxy::wait_for_triggers(std::size_t count, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(impl_->mu);
    return impl_->cv.wait_for(lock, timeout, [&] { return impl_->fired >= count; });
}

std::size_t FaultProxy::connections() const {
    std::lock_guard lock(impl_->mu);
    return impl_->open;
}

std::size_t FaultProxy::connections_accepted() const {
    std::lock_guard lock(impl_->mu);
    return impl_->accepted;
}

std::size_t FaultProxy::client_reads() const {
    std::lock_guard lock(impl_->mu);
    return impl_->client_reads;
}

}  // namespace sparc::testing
