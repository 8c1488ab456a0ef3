#pragma once
/// @file fault_proxy.hpp
/// An in-process TCP proxy that injects network faults between a client and a server.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace sparc::testing {

/// Forwards TCP connections from 127.0.0.1:port() to a target host and port, and breaks them
/// on request: resets, stalls, refusals, and one-shot cuts keyed on what the client sends.
///
/// Bytes are forwarded as they are (an SSL session passes through, but then a needle never
/// matches the encrypted stream). One thread does all I/O; every member function may be called
/// from any thread. Each fault-changing call returns once the proxy thread has applied it.
/// The destructor closes every socket and joins the thread.
class FaultProxy {
  public:
    /// Starts listening on an ephemeral loopback port. `target_host` is a numeric IPv4 address
    /// or a name resolved once, here. @throws std::system_error when it cannot listen.
    FaultProxy(std::string target_host, std::uint16_t target_port);
    ~FaultProxy();
    FaultProxy(const FaultProxy&) = delete;
    FaultProxy& operator=(const FaultProxy&) = delete;

    /// The port clients connect to, on 127.0.0.1.
    std::uint16_t port() const noexcept;
    /// `127.0.0.1:port()`.
    std::string address() const;

    /// Resets every current connection on both sides (RST, SO_LINGER 0).
    void cut_all();
    /// While stalled, nothing is forwarded in either direction; sockets stay open, so peers
    /// block until a timeout of their own. New connections are accepted and stalled too.
    void stall(bool stalled);
    /// While refusing, the port is closed: connecting fails with ECONNREFUSED. Current
    /// connections are untouched. @throws std::system_error if the port cannot be re-bound.
    void refuse_new(bool refuse);
    /// Arms a one-shot trigger: the first time a client sends bytes containing `needle`, those
    /// bytes are delivered to the server and the connection is cut (RST to the client) as soon
    /// as the server answers; the answer is dropped. So when the client sees the cut, the
    /// server has already acted on the request (a COMMIT has committed) and the client never
    /// learns the outcome. A request the server never answers leaves the client waiting.
    void cut_after_client_sends(std::string needle);
    /// Arms a one-shot trigger: the first time a client sends bytes containing `needle`, the
    /// connection is cut on both sides and those bytes are dropped (the server never sees them).
    /// The unit dropped is one read from the client, which for PostgreSQL is the message.
    void cut_before_client_sends(std::string needle);
    /// Disarms a trigger that has not fired.
    void disarm();
    /// How many armed triggers have fired since construction.
    std::size_t triggers_fired() const;
    /// Waits until triggers_fired() reaches `count` or `timeout` passes; returns whether it did.
    bool wait_for_triggers(std::size_t count, std::chrono::milliseconds timeout) const;

    /// Client connections currently open through the proxy.
    std::size_t connections() const;
    /// Client connections accepted since construction.
    std::size_t connections_accepted() const;
    /// Reads of client bytes since construction, all connections together. A client that waits
    /// for each answer before it writes again (a PostgreSQL session) makes one read per round
    /// trip, as long as each write is smaller than the proxy's read chunk.
    std::size_t client_reads() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace sparc::testing
