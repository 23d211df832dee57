// A TCP proxy on 127.0.0.1 that plays a bad network between a till and head office: it
// forwards bytes both ways, or holds them (a partition: both ends see a live but mute
// connection until it heals or their timeouts give up), loses them (what TLS must detect),
// delays them, refuses new connections, cuts a connection part-way through a chunk (mid TLS
// record, so mid frame) and resets connections (RST, not FIN). The bytes are never looked at:
// the TLS between the ends is theirs.
//
// It runs its own I/O thread (Boost.Asio coroutines). set_fault and reset_all are thread-safe
// and take effect for the next chunk each connection forwards. Only loopback: the proxy listens
// on 127.0.0.1 and connects to 127.0.0.1:target_port.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace loyalty::test {

struct ProxyFault {
    enum class Kind {
        none,       // forward everything
        partition,  // accept, forward nothing until the fault changes (as TCP retransmits)
        drop,       // read and discard: bytes vanish from the stream
        refuse,     // close new connections at once (existing ones are reset)
        delay,      // forward each chunk `delay` late, in order
        cut,        // forward part of the next chunk, then reset that connection
    };
    Kind kind = Kind::none;
    std::chrono::milliseconds delay{0};
};

struct ProxyStats {
    std::size_t connections = 0;   // accepted
    std::size_t refused = 0;       // closed at once by a refuse fault or an unreachable target
    std::size_t cuts = 0;          // connections cut part-way through a chunk
    std::size_t resets = 0;        // connections reset by reset_all
    std::size_t bytes_forwarded = 0;
    std::size_t bytes_held = 0;     // chunks held by a partition (forwarded if it heals in time)
    std::size_t bytes_dropped = 0;  // discarded by a drop fault
};

class FlakyProxy {
  public:
    // Listens on 127.0.0.1 at an ephemeral port and forwards to 127.0.0.1:target_port.
    explicit FlakyProxy(std::uint16_t target_port);
    ~FlakyProxy();  // resets every connection and joins the thread
    FlakyProxy(const FlakyProxy&) = delete;
    FlakyProxy& operator=(const FlakyProxy&) = delete;

    std::uint16_t port() const;
    // Applies to every connection, open or new; refuse also resets the open ones.
    void set_fault(ProxyFault fault);
    // RST on every open connection (both sides).
    void reset_all();
    ProxyStats stats() const;

  private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace loyalty::test
