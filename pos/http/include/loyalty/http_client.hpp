// A small synchronous HTTP/1.1 client for the `loyalty` CLI and for tests.
//
// One client keeps one keep-alive connection to host:port; it reconnects after the server
// answered "Connection: close" or after a failure. Each request (connect included) must finish
// within the timeout. Failures to connect, send or receive throw HttpClientError naming the request
// and the address; an HTTP error status is not a failure and is returned like any other response.
// Requests are not retried: a POST may have been applied even when its response was lost.
//
// Not thread-safe: use one client per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "loyalty/http_handler.hpp"

namespace loyalty::http {

class HttpClientError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct ClientOptions {
    std::optional<std::string> bearer_token;  // sent as "Authorization: Bearer <token>"
    std::chrono::milliseconds timeout{5000};  // per request, connecting included
};

struct ClientResponse {
    int status = 0;
    Headers headers;
    std::string body;

    // The body parsed as JSON; throws HttpClientError when it is not JSON.
    nlohmann::json json() const;
};

class HttpClient {
  public:
    HttpClient(std::string host, std::uint16_t port, ClientOptions options = {});
    ~HttpClient();
    HttpClient(HttpClient&&) noexcept;
    HttpClient& operator=(HttpClient&&) noexcept;

    // Sends `body` (if any) as application/json.
    ClientResponse request(std::string_view method, std::string_view target,
                           const std::optional<nlohmann::json>& body = std::nullopt);

    // Sends `body` verbatim, e.g. deliberately malformed JSON in tests.
    ClientResponse request_raw(std::string_view method, std::string_view target, std::string body,
                               std::string_view content_type = "application/json");

    // As request_raw, with extra headers (e.g. Cookie, Origin) set after the client's own.
    ClientResponse request_with(std::string_view method, std::string_view target,
                                const Headers& headers, std::string body = {},
                                std::string_view content_type = "application/json");

  private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace loyalty::http
