#include "loyalty/http_client.hpp"

#include <boost/asio.hpp>
#include <catch2/catch.hpp>

using namespace loyalty::http;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

bool contains(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

std::string failure_of(HttpClient& client) {
    try {
        client.request("GET", "/v1/health");
    } catch (const HttpClientError& error) {
        return error.what();
    }
    FAIL("the request should have failed");
    return {};
}

}  // namespace

TEST_CASE("the client names the request and address when it cannot connect", "[http_client]") {
    std::uint16_t closed_port = 0;
    {
        asio::io_context io;
        asio::ip::tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
        closed_port = acceptor.local_endpoint().port();
    }
    HttpClient client("127.0.0.1", closed_port, {std::nullopt, 2s});
    CHECK(
        contains(failure_of(client), "GET /v1/health to 127.0.0.1:" + std::to_string(closed_port)));
}

TEST_CASE("the client gives up on a server that never answers", "[http_client]") {
    // The kernel completes the handshake for a listening socket nobody reads from.
    asio::io_context io;
    asio::ip::tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
    HttpClient client("127.0.0.1", acceptor.local_endpoint().port(), {std::nullopt, 300ms});
    CHECK(contains(failure_of(client), "timeout"));
}

TEST_CASE("a response body that is not JSON is reported as such", "[http_client]") {
    const ClientResponse response{502, {}, "<html>Bad gateway</html>"};
    CHECK_THROWS_WITH(response.json(), Catch::Contains("HTTP 502") && Catch::Contains("not JSON"));
}
