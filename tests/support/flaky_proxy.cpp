#include "support/flaky_proxy.hpp"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <list>
#include <mutex>
#include <random>
#include <thread>

namespace loyalty::test {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr auto on_error = asio::as_tuple(asio::use_awaitable);

// One proxied connection: the till's socket and head office's.
struct Link {
    explicit Link(tcp::socket till_side) : client(std::move(till_side)), server(client.get_executor()) {}
    tcp::socket client;
    tcp::socket server;
    bool closed = false;

    // RST both ways: linger 0 makes close() abort instead of a graceful FIN.
    void reset() {
        if (closed) return;
        closed = true;
        for (tcp::socket* socket : {&client, &server}) {
            boost::system::error_code ignored;
            socket->set_option(asio::socket_base::linger(true, 0), ignored);
            socket->close(ignored);
        }
    }
};

}  // namespace

class FlakyProxy::Impl {
  public:
    explicit Impl(std::uint16_t target_port)
        : target_(asio::ip::address_v4::loopback(), target_port),
          acceptor_(io_, tcp::endpoint(asio::ip::address_v4::loopback(), 0)) {
        port_ = acceptor_.local_endpoint().port();
        asio::co_spawn(io_, accept_loop(), asio::detached);
        thread_ = std::thread([this] { io_.run(); });
    }

    ~Impl() {
        std::promise<void> done;
        asio::post(io_, [this, &done] {
            boost::system::error_code ignored;
            acceptor_.close(ignored);
            reset_links(false);
            done.set_value();
        });
        done.get_future().wait();
        io_.stop();
        thread_.join();
    }

    std::uint16_t port() const { return port_; }

    void set_fault(ProxyFault fault) {
        {
            std::lock_guard lock(mutex_);
            fault_ = fault;
        }
        if (fault.kind == ProxyFault::Kind::refuse) reset_all();
    }

    void reset_all() {
        asio::post(io_, [this] { reset_links(true); });
    }

    ProxyStats stats() const {
        std::lock_guard lock(mutex_);
        return stats_;
    }

  private:
    ProxyFault fault() const {
        std::lock_guard lock(mutex_);
        return fault_;
    }

    template <class Change>
    void count(Change change) {
        std::lock_guard lock(mutex_);
        change(stats_);
    }

    // On the I/O thread only, like links_.
    void reset_links(bool counted) {
        for (const std::weak_ptr<Link>& weak : links_) {
            const auto link = weak.lock();
            if (!link || link->closed) continue;
            link->reset();
            if (counted) count([](ProxyStats& stats) { ++stats.resets; });
        }
        links_.remove_if([](const std::weak_ptr<Link>& weak) { return weak.expired(); });
    }

    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [error, socket] = co_await acceptor_.async_accept(on_error);
            if (error) {
                if (!acceptor_.is_open()) co_return;
                continue;
            }
            if (fault().kind == ProxyFault::Kind::refuse) {
                Link(std::move(socket)).reset();
                count([](ProxyStats& stats) { ++stats.refused; });
                continue;
            }
            asio::co_spawn(io_, open(std::make_shared<Link>(std::move(socket))), asio::detached);
        }
    }

    asio::awaitable<void> open(std::shared_ptr<Link> link) {
        auto [error] = co_await link->server.async_connect(target_, on_error);
        if (error || link->closed) {  // head office down: the till sees a reset
            link->reset();
            count([](ProxyStats& stats) { ++stats.refused; });
            co_return;
        }
        links_.push_back(link);
        count([](ProxyStats& stats) { ++stats.connections; });
        asio::co_spawn(io_, pump(link, link->client, link->server, seed_++), asio::detached);
        asio::co_spawn(io_, pump(link, link->server, link->client, seed_++), asio::detached);
    }

    // Moves one direction's bytes, chunk by chunk, through the fault in force.
    asio::awaitable<void> pump(std::shared_ptr<Link> link, tcp::socket& from, tcp::socket& to, unsigned seed) {
        std::array<char, 16 * 1024> buffer;
        std::minstd_rand random(seed);
        asio::steady_timer timer(io_);
        for (;;) {
            auto [read_error, size] = co_await from.async_read_some(asio::buffer(buffer), on_error);
            if (link->closed) co_return;
            if (read_error) {
                boost::system::error_code ignored;
                if (read_error == asio::error::eof) to.shutdown(tcp::socket::shutdown_send, ignored);  // pass the FIN on
                else link->reset();
                co_return;
            }
            ProxyFault now = fault();
            if (now.kind == ProxyFault::Kind::partition) {
                count([size = size](ProxyStats& stats) { stats.bytes_held += size; });
                while (now.kind == ProxyFault::Kind::partition && !link->closed) {
                    timer.expires_after(std::chrono::milliseconds(20));
                    co_await timer.async_wait(on_error);
                    now = fault();
                }
                if (link->closed) co_return;
            }
            if (now.kind == ProxyFault::Kind::drop) {
                count([size = size](ProxyStats& stats) { stats.bytes_dropped += size; });
                continue;
            }
            if (now.kind == ProxyFault::Kind::delay) {
                timer.expires_after(now.delay);
                co_await timer.async_wait(on_error);
                if (link->closed) co_return;
            }
            std::size_t forward = size;
            const bool cut = now.kind == ProxyFault::Kind::cut;
            if (cut) forward = random() % size;  // 0 .. size-1 bytes: always part-way
            auto [write_error, written] = co_await asio::async_write(to, asio::buffer(buffer.data(), forward), on_error);
            count([written = written](ProxyStats& stats) { stats.bytes_forwarded += written; });
            if (write_error || cut) {
                link->reset();
                if (cut) count([](ProxyStats& stats) { ++stats.cuts; });
                co_return;
            }
        }
    }

    const tcp::endpoint target_;
    asio::io_context io_{1};
    tcp::acceptor acceptor_;
    std::uint16_t port_ = 0;
    std::list<std::weak_ptr<Link>> links_;
    unsigned seed_ = 1;
    mutable std::mutex mutex_;
    ProxyFault fault_;
    ProxyStats stats_;
    std::thread thread_;
};

FlakyProxy::FlakyProxy(std::uint16_t target_port) : impl_(std::make_unique<Impl>(target_port)) {}
FlakyProxy::~FlakyProxy() = default;
std::uint16_t FlakyProxy::port() const { return impl_->port(); }
void FlakyProxy::set_fault(ProxyFault fault) { impl_->set_fault(fault); }
void FlakyProxy::reset_all() { impl_->reset_all(); }
ProxyStats FlakyProxy::stats() const { return impl_->stats(); }

}  // namespace loyalty::test
