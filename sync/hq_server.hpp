// Head office's sync listener: accepts tills over mutual TLS and runs the session described in
// docs/PROTOCOL.md ("Session semantics"): Hello check against the certificate and the registry,
// upstream batches stored exactly once and acked with the highest contiguous seq, member
// lookups, and the downstream feed pushed after each batch and on a short timer.
//
// Threads: one I/O thread runs every connection (so each connection's reader and writer
// coroutines never run at the same time); every store call runs on the DatabaseThread, which
// the admin API shares, so the Program is only ever touched by that one thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <type_traits>

#include "hq_store.hpp"
#include "loyalty/metrics.hpp"
#include "loyalty/tls.hpp"

namespace loyalty::hq {

// The one thread that owns the Program and the store. `run` is for coroutines (they resume on
// their own executor afterwards), `call` blocks another thread (an HTTP handler) until done.
// Results must be default-constructible (they travel beside a possible exception).
class DatabaseThread {
  public:
    DatabaseThread() : pool_(1) {}
    ~DatabaseThread() { pool_.join(); }
    DatabaseThread(const DatabaseThread&) = delete;
    DatabaseThread& operator=(const DatabaseThread&) = delete;

    // Takes the work by reference (it is copied): pass a named lambda, since GCC 12 destroys
    // temporaries in a co_await expression twice. Not a coroutine itself: the work is posted to
    // the pool at once, and its result (or the exception it threw) completes `token` on the
    // token's associated executor: `co_await run(work)` resumes the coroutine on its own
    // executor; a handler bound to the I/O executor lets the caller go on meanwhile (the sync
    // listener reads a till's next batch while this one is stored). Work runs in the order it
    // was posted.
    template <class Work, class Token = boost::asio::use_awaitable_t<>>
    auto run(const Work& work, Token&& token = {}) {
        using Value = std::invoke_result_t<Work&>;
        namespace asio = boost::asio;
        return asio::async_initiate<Token, void(std::exception_ptr, Value)>(
            [this](auto handler, Work work) {
                auto back = asio::make_work_guard(asio::get_associated_executor(handler));
                asio::post(pool_, [handler = std::move(handler), work = std::move(work),
                                   back = std::move(back)]() mutable {
                    std::exception_ptr failure;
                    Value value{};
                    try {
                        value = work();
                    } catch (...) {
                        failure = std::current_exception();
                    }
                    auto executor = back.get_executor();
                    asio::dispatch(executor, [handler = std::move(handler), failure,
                                              value = std::move(value)]() mutable {
                        std::move(handler)(failure, std::move(value));
                    });
                });
            },
            token, work);
    }

    template <class Work>
    std::invoke_result_t<Work&> call(Work work) {
        std::packaged_task<std::invoke_result_t<Work&>()> task(std::move(work));
        auto result = task.get_future();
        boost::asio::post(pool_, std::move(task));
        return result.get();
    }

  private:
    boost::asio::thread_pool pool_;
};

struct SyncServerConfig {
    std::string address = "127.0.0.1";
    std::uint16_t port = 7443;  // 0: an ephemeral port, see SyncServer::port()
    tls::ServerSettings tls;
    std::chrono::milliseconds handshake_timeout{10'000};
    std::chrono::milliseconds hello_timeout{10'000};       // from handshake to Hello
    std::chrono::milliseconds idle_timeout{90'000};        // nothing received: close
    std::chrono::milliseconds heartbeat_interval{30'000};  // nothing sent: send a Heartbeat
    std::chrono::milliseconds write_timeout{30'000};
    std::chrono::milliseconds feed_poll_interval{200};     // how soon tills learn changes
    // A till whose clock (Hello.till_time, Heartbeat.sent_at) is further than this from head
    // office's is logged as till_clock_skew; the last skew measured is stored either way.
    std::chrono::seconds max_clock_skew{300};
    std::size_t downstream_max_items = 200;
    std::size_t downstream_max_bytes = 512 * 1024;  // well under the 1 MiB frame limit
    std::size_t downstream_window = 4;               // Downstream messages sent, not yet acked
    // Event batches parsed and not yet stored, over all tills (at least 1): the database thread
    // stores one while the next is parsed. The others wait as the bytes they came in (a parsed
    // batch takes several times their memory), and are parsed in the order they arrived.
    std::size_t parsed_batches = 2;
};

class SyncServer {
  public:
    // `database` and `store` must outlive the server; `metrics` may be null.
    SyncServer(SyncServerConfig config, DatabaseThread& database, HqStore& store,
               std::shared_ptr<http::MetricsRegistry> metrics);
    ~SyncServer();  // stops if still running
    SyncServer(const SyncServer&) = delete;
    SyncServer& operator=(const SyncServer&) = delete;

    // Builds the TLS context and binds (both throw at start-up: unreadable certificates,
    // address in use), logs {"event":"sync_listening","address":...,"port":N}, starts the thread.
    void start();
    std::uint16_t port() const;
    // Stops accepting and drops every connection (tills resend whatever was not acked).
    void stop();

  private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace loyalty::hq
