#include "loyalty/http_server.hpp"

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <set>
#include <thread>

#include "dispatch.hpp"
#include "handler_queue.hpp"
#include "loyalty/json_log.hpp"

namespace loyalty::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using BeastRequest = bhttp::request<bhttp::string_body>;

// Errors come back as values so each connection handles them in one place.
constexpr auto nothrow_awaitable = asio::as_tuple(asio::use_awaitable);

// How long a closing connection waits for the peer to finish sending, so the peer reads our
// last response instead of a reset caused by unread data.
constexpr std::chrono::milliseconds linger_timeout{1000};

struct Connection {
    explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}
    beast::tcp_stream stream;
    bool busy = false;  // a request is being read or served; only touched on the strand
};

Request to_request(BeastRequest& raw) {
    Request request;
    request.method = std::string(raw.method_string());
    for (const auto& field : raw) request.headers[std::string(field.name_string())] = field.value();
    request.body = std::move(raw.body());
    return request;
}

bool is_http_error(const error_code& error) {
    return error.category() == bhttp::make_error_code(bhttp::error::bad_target).category();
}

// The answer owed to a client whose request could not be read, or nullopt when the peer is
// gone or too slow (timeout, reset, clean close) and nothing can or should be sent.
std::optional<std::pair<std::string, Response>> answer_for_read_error(const error_code& error,
                                                                      const ServerConfig& config) {
    if (error == bhttp::error::body_limit) {
        return {{"body_too_large",
                 error_response(413, "body_too_large",
                                "the request body exceeds " +
                                    std::to_string(config.body_limit_bytes) + " bytes")}};
    }
    if (error == bhttp::error::header_limit) {
        return {{"headers_too_large",
                 error_response(431, "headers_too_large",
                                "the request headers exceed " +
                                    std::to_string(config.header_limit_bytes) + " bytes")}};
    }
    if (is_http_error(error) && error != bhttp::error::end_of_stream &&
        error != bhttp::error::partial_message) {
        return {{"malformed_http", error_response(400, "malformed_http",
                                                  "malformed HTTP request: " + error.message())}};
    }
    return std::nullopt;
}

}  // namespace

class HttpServer::Impl {
  public:
    Impl(ServerConfig config, Router router, std::shared_ptr<MetricsRegistry> metrics)
        : config_(std::move(config)),
          router_(std::move(router)),
          metrics_(std::move(metrics)),
          io_(config_.io_threads),
          io_work_(asio::make_work_guard(io_)),
          handlers_(config_.handler_threads, config_.handler_group),
          acceptor_(asio::make_strand(io_)) {}

    ~Impl() { stop(); }

    void start();
    std::uint16_t port() const { return port_; }
    void stop();

  private:
    asio::awaitable<void> accept_loop();
    asio::awaitable<void> serve(std::shared_ptr<Connection> connection);
    asio::awaitable<bool> wait_for_request_start(Connection& connection, beast::flat_buffer& buffer,
                                                 std::chrono::milliseconds limit);
    asio::awaitable<bool> serve_one_request(Connection& connection, beast::flat_buffer& buffer);
    asio::awaitable<error_code> read_request(Connection& connection, beast::flat_buffer& buffer,
                                             bhttp::request_parser<bhttp::string_body>& parser);
    asio::awaitable<Response> respond(BeastRequest& raw, const std::string& remote_address);
    asio::awaitable<bool> write(Connection& connection, Response response, unsigned version,
                                bool keep_alive);
    asio::awaitable<void> close_gracefully(Connection& connection);

    void record(std::string_view event, std::string_view detail) const;
    void record_request(const BeastRequest& raw, const Request& request, int status,
                        std::chrono::steady_clock::duration elapsed) const;
    void track(const std::shared_ptr<Connection>& connection);
    void untrack(const std::shared_ptr<Connection>& connection);
    void close_connections(bool only_idle);
    bool wait_for_connections(std::chrono::milliseconds limit);

    ServerConfig config_;
    Router router_;
    std::shared_ptr<MetricsRegistry> metrics_;
    // Declared before io_ so connection frames destroyed with io_ can still untrack themselves.
    std::mutex connections_mutex_;
    std::condition_variable connections_changed_;
    std::set<std::shared_ptr<Connection>> connections_;
    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> io_work_;
    HandlerQueue handlers_;
    tcp::acceptor acceptor_;
    std::vector<std::thread> io_threads_;
    std::atomic<bool> stopping_{false};
    std::mutex lifecycle_mutex_;
    bool started_ = false;
    bool stopped_ = false;
    std::uint16_t port_ = 0;
};

void HttpServer::Impl::start() {
    std::lock_guard lock(lifecycle_mutex_);
    error_code error;
    const auto address = asio::ip::make_address(config_.address, error);
    if (error) {
        throw std::system_error(error,
                                "listen address '" + config_.address + "' is not an IP address");
    }
    const tcp::endpoint endpoint{address, config_.port};
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint, error);
    if (error) {
        throw std::system_error(
            error, "cannot listen on " + config_.address + ":" + std::to_string(config_.port));
    }
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    started_ = true;
    asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached);
    for (int i = 0; i < std::max(1, config_.io_threads); ++i) {
        io_threads_.emplace_back([this] { io_.run(); });
    }
    log_event(LogLevel::info, "listening",
              {{"server", config_.name}, {"address", config_.address}, {"port", port_}});
}

asio::awaitable<void> HttpServer::Impl::accept_loop() {
    for (;;) {
        auto [error, socket] =
            co_await acceptor_.async_accept(asio::make_strand(io_), nothrow_awaitable);
        if (error == asio::error::operation_aborted || stopping_) co_return;
        if (error) {
            // Usually out of file descriptors: back off instead of spinning on the error.
            record("accept_failed", error.message());
            asio::steady_timer pause(acceptor_.get_executor(), std::chrono::milliseconds(100));
            co_await pause.async_wait(nothrow_awaitable);
            continue;
        }
        auto connection = std::make_shared<Connection>(std::move(socket));
        track(connection);
        asio::co_spawn(connection->stream.get_executor(), serve(connection),
                       [this](std::exception_ptr failure) {
                           if (failure)
                               record("connection_failed", "unexpected exception in a connection");
                       });
    }
}

asio::awaitable<void> HttpServer::Impl::serve(std::shared_ptr<Connection> connection) {
    struct Untrack {
        Impl* server;
        std::shared_ptr<Connection> connection;
        ~Untrack() { server->untrack(connection); }
    } untrack_on_exit{this, connection};

    beast::flat_buffer buffer;
    // A new connection must start its request as promptly as it must send the header.
    auto wait_limit = config_.header_timeout;
    while (!stopping_ && co_await wait_for_request_start(*connection, buffer, wait_limit)) {
        connection->busy = true;
        const bool keep_alive = co_await serve_one_request(*connection, buffer);
        connection->busy = false;
        if (!keep_alive) break;
        wait_limit = config_.idle_timeout;
    }
    co_await close_gracefully(*connection);
}

asio::awaitable<bool> HttpServer::Impl::wait_for_request_start(Connection& connection,
                                                               beast::flat_buffer& buffer,
                                                               std::chrono::milliseconds limit) {
    if (buffer.size() > 0) co_return true;  // a pipelined request is already here
    connection.stream.expires_after(limit);
    auto [error, bytes] =
        co_await connection.stream.async_read_some(buffer.prepare(4096), nothrow_awaitable);
    buffer.commit(bytes);
    co_return !error;  // a quiet keep-alive connection timing out is normal, not an error
}

asio::awaitable<error_code> HttpServer::Impl::read_request(
    Connection& connection, beast::flat_buffer& buffer,
    bhttp::request_parser<bhttp::string_body>& parser) {
    parser.body_limit(config_.body_limit_bytes);
    parser.header_limit(static_cast<std::uint32_t>(config_.header_limit_bytes));
    connection.stream.expires_after(config_.header_timeout);
    auto [header_error, header_bytes] =
        co_await bhttp::async_read_header(connection.stream, buffer, parser, nothrow_awaitable);
    if (header_error) co_return header_error;
    if (beast::iequals(parser.get()[bhttp::field::expect], "100-continue")) {
        // Clients such as curl wait for this before sending a large body.
        bhttp::response<bhttp::empty_body> go_on{bhttp::status::continue_, parser.get().version()};
        connection.stream.expires_after(config_.write_timeout);
        auto [continue_error, continue_bytes] =
            co_await bhttp::async_write(connection.stream, go_on, nothrow_awaitable);
        if (continue_error) co_return continue_error;
    }
    connection.stream.expires_after(config_.body_timeout);
    auto [body_error, body_bytes] =
        co_await bhttp::async_read(connection.stream, buffer, parser, nothrow_awaitable);
    co_return body_error;
}

asio::awaitable<bool> HttpServer::Impl::serve_one_request(Connection& connection,
                                                          beast::flat_buffer& buffer) {
    bhttp::request_parser<bhttp::string_body> parser;
    const error_code error = co_await read_request(connection, buffer, parser);
    if (error) {
        if (error == beast::error::timeout)
            record("connection_timeout", "request not received in time");
        if (auto answer = answer_for_read_error(error, config_)) {
            record(answer->first, error.message());
            co_await write(connection, std::move(answer->second), 11, false);
        }
        co_return false;
    }
    BeastRequest& raw = parser.get();
    const unsigned version = raw.version();
    error_code no_peer;  // a peer already gone leaves the address empty
    const auto peer = connection.stream.socket().remote_endpoint(no_peer);
    // A named local, not a temporary: GCC 12 destroys temporaries in a co_await expression twice.
    const std::string remote_address = no_peer ? std::string() : peer.address().to_string();
    Response response = co_await respond(raw, remote_address);
    // Checked after the handler so a request in flight when stop() begins says Connection: close.
    const bool keep_alive = raw.keep_alive() && !stopping_;
    co_return co_await write(connection, std::move(response), version, keep_alive) && keep_alive;
}

asio::awaitable<Response> HttpServer::Impl::respond(BeastRequest& raw, const std::string& remote_address) {
    const auto started = std::chrono::steady_clock::now();
    const std::string target(raw.target());
    Request request = to_request(raw);
    request.remote_address = remote_address;
    Dispatch dispatch = route_request(router_, config_.bearer_token, std::move(request), target);
    Response response = std::move(dispatch.response);
    if (dispatch.handler != nullptr) {
        // Handlers may block (SQLite), so they run on the handler threads, never on an I/O thread.
        response = co_await handlers_.async_run(
            [&] { return run_handler(*dispatch.handler, dispatch.request, metrics_.get()); },
            asio::use_awaitable);
    }
    record_request(raw, dispatch.request, response.status,
                   std::chrono::steady_clock::now() - started);
    co_return response;
}

asio::awaitable<bool> HttpServer::Impl::write(Connection& connection, Response response,
                                              unsigned version, bool keep_alive) {
    bhttp::response<bhttp::string_body> message{static_cast<bhttp::status>(response.status),
                                                version};
    message.set(bhttp::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) message.set(name, value);
    message.body() = std::move(response.body);
    message.keep_alive(keep_alive);
    message.prepare_payload();
    connection.stream.expires_after(config_.write_timeout);
    auto [error, bytes] =
        co_await bhttp::async_write(connection.stream, message, nothrow_awaitable);
    co_return !error;
}

asio::awaitable<void> HttpServer::Impl::close_gracefully(Connection& connection) {
    error_code ignored;  // the peer may already be gone; closing is all that is left to do
    connection.stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    connection.stream.expires_after(linger_timeout);
    std::array<char, 4096> discard;
    for (;;) {
        auto [error, bytes] =
            co_await connection.stream.async_read_some(asio::buffer(discard), nothrow_awaitable);
        if (error) break;
    }
    connection.stream.close();
}

void HttpServer::Impl::record(std::string_view event, std::string_view detail) const {
    log_event(LogLevel::info, event, {{"server", config_.name}, {"detail", detail}});
    if (metrics_) metrics_->record_error(event);
}

void HttpServer::Impl::record_request(const BeastRequest& raw, const Request& request, int status,
                                      std::chrono::steady_clock::duration elapsed) const {
    // Unrouted requests share one label, and unknown methods another, to bound the series.
    const std::string route = request.route.empty() ? "unmatched" : request.route;
    const std::string method = raw.method() == bhttp::verb::unknown ? "OTHER" : request.method;
    const double milliseconds = std::chrono::duration<double, std::milli>(elapsed).count();
    log_event(LogLevel::info, "request",
              {{"server", config_.name},
               {"method", method},
               {"route", route},
               {"status", status},
               {"duration_ms", milliseconds}});
    if (metrics_) metrics_->record_request(method, route, status, elapsed);
}

void HttpServer::Impl::track(const std::shared_ptr<Connection>& connection) {
    std::lock_guard lock(connections_mutex_);
    connections_.insert(connection);
    if (metrics_) {
        metrics_->increment_counter("loyalty_http_connections_total", "Connections accepted.");
        metrics_->set_gauge("loyalty_http_connections_open", "Connections open now.",
                            static_cast<double>(connections_.size()));
    }
}

void HttpServer::Impl::untrack(const std::shared_ptr<Connection>& connection) {
    std::lock_guard lock(connections_mutex_);
    connections_.erase(connection);
    if (metrics_) {
        metrics_->set_gauge("loyalty_http_connections_open", "Connections open now.",
                            static_cast<double>(connections_.size()));
    }
    connections_changed_.notify_all();
}

void HttpServer::Impl::close_connections(bool only_idle) {
    std::lock_guard lock(connections_mutex_);
    for (const auto& connection : connections_) {
        // The socket belongs to the connection's strand; close it there.
        asio::post(connection->stream.get_executor(), [connection, only_idle] {
            error_code ignored;  // already closed is as good as closed
            if (!only_idle || !connection->busy) connection->stream.socket().close(ignored);
        });
    }
}

bool HttpServer::Impl::wait_for_connections(std::chrono::milliseconds limit) {
    std::unique_lock lock(connections_mutex_);
    return connections_changed_.wait_for(lock, limit, [this] { return connections_.empty(); });
}

void HttpServer::Impl::stop() {
    std::lock_guard lock(lifecycle_mutex_);
    if (!started_ || stopped_) return;
    stopped_ = true;
    log_event(LogLevel::info, "stopping", {{"server", config_.name}});
    stopping_ = true;
    asio::post(acceptor_.get_executor(), [this] {
        error_code ignored;  // closing an acceptor can only fail if it is already closed
        acceptor_.close(ignored);
    });
    close_connections(true);
    if (!wait_for_connections(config_.shutdown_timeout)) {
        log_event(LogLevel::warn, "shutdown_forced", {{"server", config_.name}});
        close_connections(false);
    }
    handlers_.join();  // a handler still running must finish before its request is freed
    io_work_.reset();
    if (!wait_for_connections(linger_timeout * 2)) io_.stop();
    for (auto& thread : io_threads_) thread.join();
    log_event(LogLevel::info, "stopped", {{"server", config_.name}});
}

HttpServer::HttpServer(ServerConfig config, Router router, std::shared_ptr<MetricsRegistry> metrics)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(router), std::move(metrics))) {}

HttpServer::~HttpServer() = default;

void HttpServer::start() { impl_->start(); }

std::uint16_t HttpServer::port() const { return impl_->port(); }

void HttpServer::stop() { impl_->stop(); }

void HttpServer::run_until_signalled() {
    // Handlers are installed before start() so a SIGTERM sent right after the "listening" line
    // is always a graceful stop, never the default kill.
    asio::io_context signals_context;
    asio::signal_set signals(signals_context, SIGINT, SIGTERM);
    signals.async_wait([](const error_code&, int signal) {
        log_event(LogLevel::info, "signal_received", {{"signal", signal}});
    });
    start();
    signals_context.run();
    stop();
}

}  // namespace loyalty::http
