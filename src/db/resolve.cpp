#include "resolve.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include <sparc/db/errors.hpp>

namespace sparc::db::detail {
namespace {

using namespace std::chrono_literals;

bool is_numeric_address(const std::string& host) {
    in6_addr buf{};
    return ::inet_pton(AF_INET, host.c_str(), &buf) == 1 ||
           ::inet_pton(AF_INET6, host.c_str(), &buf) == 1;
}

/// The addresses of a host name, looked up on a thread of its own so that the lookup ends at
/// `deadline` (libpq resolves inside PQconnectStart, which no deadline bounds). A lookup still
/// running at the deadline finishes in the background and is forgotten.
std::vector<std::string> resolve(const std::string& host, const std::string& port,
                                 Clock::time_point deadline, const std::atomic<bool>* abandon,
                                 const char* abandoned) {
    struct Lookup {
        std::mutex mutex;
        std::condition_variable cv;
        bool done = false;
        std::vector<std::string> addresses;
        std::string error;
    };
    auto lookup = std::make_shared<Lookup>();
    std::thread([lookup, host, port] {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* res = nullptr;
        const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
        std::vector<std::string> found;
        std::string error;
        if (rc != 0) {
            error = ::gai_strerror(rc);
        } else {
            for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
                char text[INET6_ADDRSTRLEN] = {};
                const void* where =
                    a->ai_family == AF_INET
                        ? static_cast<const void*>(
                              &reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr)
                        : static_cast<const void*>(
                              &reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr);
                if (::inet_ntop(a->ai_family, where, text, sizeof text) != nullptr &&
                    std::find(found.begin(), found.end(), text) == found.end()) {
                    found.emplace_back(text);
                }
            }
            ::freeaddrinfo(res);
        }
        std::lock_guard lock(lookup->mutex);
        lookup->addresses = std::move(found);
        lookup->error = std::move(error);
        lookup->done = true;
        lookup->cv.notify_all();
    }).detach();
    std::unique_lock lock(lookup->mutex);
    while (!lookup->done) {
        const auto now = Clock::now();
        if (now >= deadline) {
            throw ConnectionError(
                fmt::format("could not translate host name \"{}\" to address in time", host));
        }
        if (abandon != nullptr && abandon->load()) {
            throw ConnectionError(abandoned);
        }
        lookup->cv.wait_until(lock, std::min(deadline, now + 50ms));
    }
    if (lookup->addresses.empty()) {
        throw ConnectionError(fmt::format("could not translate host name \"{}\" to address: {}",
                                          host,
                                          lookup->error.empty() ? "no address" : lookup->error));
    }
    return lookup->addresses;
}

}  // namespace

std::vector<Endpoint> resolve_attempts(const Endpoint& host, Clock::time_point deadline,
                                       const std::atomic<bool>* abandon, const char* abandoned) {
    const std::string name = host.option("host").value_or("");
    if (name.empty() || name.front() == '/' || host.option("hostaddr") ||
        is_numeric_address(name)) {
        return {host};
    }
    std::vector<Endpoint> attempts;
    for (const auto& address : resolve(name, host.port(), deadline, abandon, abandoned)) {
        Endpoint one = host;
        one.set_option("hostaddr", address);
        attempts.push_back(std::move(one));
    }
    return attempts;
}

}  // namespace sparc::db::detail
