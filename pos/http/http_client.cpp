#include "loyalty/http_client.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace loyalty::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

// Large enough for any history page the daemon returns, small enough to bound memory.
constexpr std::uint64_t response_body_limit = 64 * 1024 * 1024;

}  // namespace

nlohmann::json ClientResponse::json() const {
    try {
        return nlohmann::json::parse(body);
    } catch (const nlohmann::json::exception& error) {  // parse_error, or out_of_range for 1e999
        throw HttpClientError("the response body (HTTP " + std::to_string(status) +
                              ") is not JSON: " + error.what());
    }
}

class HttpClient::Impl {
  public:
    Impl(std::string host, std::uint16_t port, ClientOptions options)
        : host_(std::move(host)), port_(port), options_(std::move(options)) {}

    ClientResponse request(std::string_view method, std::string_view target, std::string body,
                           std::string_view content_type, const Headers& headers = {});

  private:
    asio::awaitable<ClientResponse> exchange(bhttp::request<bhttp::string_body> request);
    asio::awaitable<void> connect();

    std::string host_;
    std::uint16_t port_;
    ClientOptions options_;
    asio::io_context io_;
    std::optional<beast::tcp_stream> stream_;  // empty until connected, or after a close
};

ClientResponse HttpClient::Impl::request(std::string_view method, std::string_view target,
                                         std::string body, std::string_view content_type,
                                         const Headers& headers) {
    bhttp::request<bhttp::string_body> message{bhttp::string_to_verb(method), std::string(target),
                                               11};
    if (message.method() == bhttp::verb::unknown) message.method_string(method);
    message.set(bhttp::field::host, host_ + ":" + std::to_string(port_));
    if (options_.bearer_token)
        message.set(bhttp::field::authorization, "Bearer " + *options_.bearer_token);
    if (!body.empty()) message.set(bhttp::field::content_type, content_type);
    for (const auto& [name, value] : headers) message.set(name, value);
    message.body() = std::move(body);
    message.keep_alive(true);
    message.prepare_payload();

    auto result = asio::co_spawn(io_, exchange(std::move(message)), asio::use_future);
    io_.restart();
    io_.run();
    try {
        return result.get();
    } catch (const boost::system::system_error& error) {
        stream_.reset();  // the connection's state is unknown after a failure
        throw HttpClientError(std::string(method) + " " + std::string(target) + " to " + host_ +
                              ":" + std::to_string(port_) + " failed: " + error.code().message());
    }
}

asio::awaitable<void> HttpClient::Impl::connect() {
    tcp::resolver resolver(io_);
    const auto endpoints =
        co_await resolver.async_resolve(host_, std::to_string(port_), asio::use_awaitable);
    stream_.emplace(io_);
    stream_->expires_after(options_.timeout);
    co_await stream_->async_connect(endpoints, asio::use_awaitable);
}

asio::awaitable<ClientResponse> HttpClient::Impl::exchange(
    bhttp::request<bhttp::string_body> request) {
    const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
    if (!stream_) co_await connect();
    stream_->expires_at(deadline);
    co_await bhttp::async_write(*stream_, request, asio::use_awaitable);
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(response_body_limit);
    co_await bhttp::async_read(*stream_, buffer, parser, asio::use_awaitable);
    auto& message = parser.get();
    ClientResponse response{static_cast<int>(message.result_int()), {}, std::move(message.body())};
    for (const auto& field : message)
        response.headers[std::string(field.name_string())] = field.value();
    if (!message.keep_alive()) stream_.reset();
    co_return response;
}

HttpClient::HttpClient(std::string host, std::uint16_t port, ClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(host), port, std::move(options))) {}

HttpClient::~HttpClient() = default;
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;

ClientResponse HttpClient::request(std::string_view method, std::string_view target,
                                   const std::optional<nlohmann::json>& body) {
    return impl_->request(method, target, body ? body->dump() : std::string{}, "application/json");
}

ClientResponse HttpClient::request_raw(std::string_view method, std::string_view target,
                                       std::string body, std::string_view content_type) {
    return impl_->request(method, target, std::move(body), content_type);
}

ClientResponse HttpClient::request_with(std::string_view method, std::string_view target,
                                        const Headers& headers, std::string body,
                                        std::string_view content_type) {
    return impl_->request(method, target, std::move(body), content_type, headers);
}

}  // namespace loyalty::http
