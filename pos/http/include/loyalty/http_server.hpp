// HTTP/1.1 server (Boost.Beast, C++20 coroutines) that serves a Router.
//
// Threads: `io_threads` threads run all socket I/O, one strand per connection. Handlers run on
// a separate pool of `handler_threads` threads (default 1, so handlers doing SQLite work are
// serialised and never block I/O); the connection coroutine awaits the handler's result. With
// a `handler_group`, the requests that wait for the one handler thread together run as a group.
//
// Per request the server: reads the header within `header_timeout` and the body within
// `body_timeout` (slow clients are dropped); answers 413 when the body exceeds
// `body_limit_bytes`, 431 for oversized headers and 400 for malformed HTTP, each with a JSON
// error and then closes the connection; checks `Authorization: Bearer <token>` in constant
// time when a token is configured (401 otherwise, except on public routes); answers 404/405
// (with Allow) for unknown paths and methods; turns a handler exception into a logged 500.
// Idle keep-alive connections are closed after `idle_timeout`.
//
// Logs (see json_log.hpp): on start one line
//   {"ts":...,"level":"info","event":"listening","server":<name>,"address":"127.0.0.1","port":N}
// which process tests wait for; per request {"event":"request","method","route","status",
// "duration_ms"} with the route pattern, never the path or body (they may hold personal data).
//
// Lifecycle: construct, start(), then stop() (or run_until_signalled()). stop() stops
// accepting, closes idle connections, lets in-flight requests finish for up to
// `shutdown_timeout`, then closes what is left. A handler that never returns blocks stop():
// handlers must bound their own work (e.g. SQLite busy timeouts).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "loyalty/metrics.hpp"
#include "loyalty/router.hpp"

namespace loyalty::http {

// Requests that wait for the handler thread together run as one group: `begin` before the first
// of them, `end` after the last and before any of them is answered. `end` returns nullopt when
// the group's work is kept, or the answer every request of the group gets instead (loyaltyd:
// group commit, one fsync for the purchases that queued while the last commit ran). A request
// that waits alone runs without either. Neither may throw.
struct HandlerGroup {
    std::function<void()> begin;
    std::function<std::optional<Response>()> end;
};

struct ServerConfig {
    std::string name = "http";  // "server" field of the log lines
    std::string address = "127.0.0.1";
    std::uint16_t port = 0;  // 0 = an ephemeral port; see HttpServer::port()
    std::optional<std::string> bearer_token;
    std::size_t body_limit_bytes = 1024 * 1024;
    std::size_t header_limit_bytes = 16 * 1024;
    std::chrono::milliseconds header_timeout{10'000};  // first byte to end of the header
    std::chrono::milliseconds body_timeout{30'000};
    std::chrono::milliseconds write_timeout{30'000};
    std::chrono::milliseconds idle_timeout{60'000};  // keep-alive wait for the next request
    std::chrono::milliseconds shutdown_timeout{10'000};
    int io_threads = 1;
    int handler_threads = 1;
    HandlerGroup handler_group;  // none by default; needs handler_threads 1
};

class HttpServer {
  public:
    // `metrics` may be null; then nothing is recorded.
    HttpServer(ServerConfig config, Router router, std::shared_ptr<MetricsRegistry> metrics = {});
    ~HttpServer();  // stops if still running

    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Binds and listens, logs the "listening" line and starts the threads. Throws
    // std::system_error naming the address when it cannot bind.
    void start();

    // The bound port (the real one when configured with 0). Valid after start().
    std::uint16_t port() const;

    // Graceful shutdown as described above; idempotent; call from one thread, not a handler.
    void stop();

    // Blocks until SIGINT or SIGTERM, then stop(). For daemon main().
    void run_until_signalled();

  private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace loyalty::http
