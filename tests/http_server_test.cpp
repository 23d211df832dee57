#include "loyalty/http_server.hpp"

#include <boost/asio.hpp>
#include <catch2/catch.hpp>
#include <csignal>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "loyalty/http_client.hpp"
#include "loyalty/json_log.hpp"

using namespace loyalty::http;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

// Lets a test hold a handler inside its call: the handler reports that it entered, then waits
// (bounded) for the test to release it.
struct Gate {
    std::promise<void> entered;
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
};

Router test_router(const std::shared_ptr<Gate>& gate,
                   const std::shared_ptr<MetricsRegistry>& metrics) {
    Router router;
    router.add("GET", "/v1/health",
               [](const Request&) {
                   return Response::json(200, {{"status", "ok"}});
               },
               {.is_public = true});
    router.add("GET", "/v1/members/{id}", [](const Request& request) {
        return Response::json(200,
                              {{"id", request.path_params.at("id")}, {"query", request.query}});
    });
    router.add("POST", "/v1/purchases/{txn_id}/void", [](const Request& request) {
        return Response::json(200, {{"voided", request.path_params.at("txn_id")}});
    });
    router.add("POST", "/v1/echo",
               [](const Request& request) { return Response::json(200, request.json_body()); });
    router.add("GET", "/v1/boom",
               [](const Request&) -> Response { throw std::runtime_error("disk on fire"); });
    router.add("POST", "/v1/refuse", [](const Request&) -> Response {
        throw RequestError(422, "insufficient_points", "the member has 10 points, 50 requested",
                           "redeem_points");
    });
    router.add("GET", "/v1/slow", [gate](const Request&) {
        gate->entered.set_value();
        gate->released.wait_for(10s);
        return Response::json(200, {{"slow", true}});
    });
    add_metrics_route(router, metrics);
    return router;
}

ServerConfig test_config() {
    ServerConfig config;
    config.name = "test";
    config.body_limit_bytes = 1024;
    config.header_timeout = 300ms;
    config.idle_timeout = 500ms;
    config.shutdown_timeout = 5s;
    return config;
}

// A server on an ephemeral loopback port, stopped when the test ends.
struct TestServer {
    explicit TestServer(ServerConfig config = test_config())
        : server(std::move(config), test_router(gate, metrics), metrics) {
        set_log_level(LogLevel::warn);  // keep hundreds of request lines out of the test output
        server.start();
    }
    ~TestServer() {
        server.stop();
        set_log_level(LogLevel::info);
    }

    HttpClient client(std::optional<std::string> token = std::nullopt) const {
        return HttpClient("127.0.0.1", server.port(), ClientOptions{std::move(token), 10s});
    }

    std::shared_ptr<Gate> gate = std::make_shared<Gate>();
    std::shared_ptr<MetricsRegistry> metrics = std::make_shared<MetricsRegistry>();
    HttpServer server;
};

// Writes `bytes` on a new connection and returns all the server sent until it closed the
// connection, or nullopt if the connection was still open after `limit`.
std::optional<std::string> raw_exchange(std::uint16_t port, std::string_view bytes,
                                        std::chrono::milliseconds limit = 10s) {
    asio::io_context io;
    asio::ip::tcp::socket socket(io);
    socket.connect({asio::ip::address_v4::loopback(), port});
    if (!bytes.empty()) asio::write(socket, asio::buffer(bytes));
    std::string received;
    bool closed = false;
    asio::async_read(socket, asio::dynamic_buffer(received),
                     [&closed](boost::system::error_code, std::size_t) { closed = true; });
    io.run_for(limit);
    if (!closed) return std::nullopt;
    return received;
}

std::string error_code_of(const ClientResponse& response) {
    return response.json()["error"]["code"];
}

bool contains(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("routes, path parameters and percent-decoded queries reach the handler",
          "[http_server]") {
    TestServer test;
    auto client = test.client();
    const auto member = client.request("GET", "/v1/members/M%2042?card=60%2012&phone=%2B44+20");
    REQUIRE(member.status == 200);
    CHECK(member.headers.at("content-type") == "application/json");
    const auto body = member.json();
    CHECK(body["id"] == "M 42");
    CHECK(body["query"]["card"] == "60 12");
    CHECK(body["query"]["phone"] == "+44 20");

    const auto voided = client.request("POST", "/v1/purchases/T-9/void", nlohmann::json::object());
    REQUIRE(voided.status == 200);
    CHECK(voided.json()["voided"] == "T-9");
}

TEST_CASE("unknown paths get 404 and known paths with a wrong method 405 with Allow",
          "[http_server]") {
    TestServer test;
    auto client = test.client();
    const auto missing = client.request("GET", "/v1/nothing");
    CHECK(missing.status == 404);
    CHECK(error_code_of(missing) == "not_found");
    CHECK(missing.json()["error"]["field"].is_null());

    const auto wrong = client.request("DELETE", "/v1/members/7");
    CHECK(wrong.status == 405);
    CHECK(error_code_of(wrong) == "method_not_allowed");
    CHECK(wrong.headers.at("allow") == "GET");

    CHECK(client.request("GET", "/v1/members/%zz").status == 400);
    CHECK(client.request("GET", "/v1/members/1?card=%z").status == 400);
}

TEST_CASE("malformed JSON bodies and handler refusals get their 4xx error", "[http_server]") {
    TestServer test;
    auto client = test.client();
    const auto echoed = client.request("POST", "/v1/echo", nlohmann::json{{"txn_id", "T1"}});
    REQUIRE(echoed.status == 200);
    CHECK(echoed.json()["txn_id"] == "T1");

    for (const std::string body : {"{\"txn_id\": ", "[1, 2]", ""}) {
        const auto refused = client.request_raw("POST", "/v1/echo", body);
        CHECK(refused.status == 400);
        CHECK(error_code_of(refused) == "malformed_json");
        CHECK(refused.json()["error"]["field"].is_null());
    }

    const auto refused = client.request("POST", "/v1/refuse", nlohmann::json::object());
    CHECK(refused.status == 422);
    CHECK(error_code_of(refused) == "insufficient_points");
    CHECK(refused.json()["error"]["field"] == "redeem_points");
}

TEST_CASE("malformed HTTP gets a 400 JSON error and the connection is closed", "[http_server]") {
    TestServer test;
    const auto reply = raw_exchange(test.server.port(), "THIS IS NOT HTTP\r\n\r\n");
    REQUIRE(reply);
    CHECK(reply->rfind("HTTP/1.1 400", 0) == 0);
    CHECK(contains(*reply, "\"malformed_http\""));
    CHECK(contains(test.metrics->render(), "loyalty_http_errors_total{kind=\"malformed_http\"} 1"));
}

TEST_CASE("a body over the limit gets 413", "[http_server]") {
    TestServer test;
    SECTION("announced by Content-Length") {
        const auto reply =
            raw_exchange(test.server.port(),
                         "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n");
        REQUIRE(reply);
        CHECK(reply->rfind("HTTP/1.1 413", 0) == 0);
        CHECK(contains(*reply, "\"body_too_large\""));
    }
    SECTION("sent in full by a client") {
        const auto reply = test.client().request_raw("POST", "/v1/echo", std::string(5000, 'x'));
        CHECK(reply.status == 413);
        CHECK(error_code_of(reply) == "body_too_large");
    }
}

TEST_CASE("the bearer token guards every route but the public ones", "[http_server]") {
    ServerConfig config = test_config();
    config.bearer_token = "s3cret-token";
    TestServer test(config);

    for (const auto& token :
         {std::optional<std::string>{}, std::optional<std::string>{"wrong-token!"},
          std::optional<std::string>{"s3cret-toke"}}) {
        const auto refused = test.client(token).request("GET", "/v1/members/1");
        CHECK(refused.status == 401);
        CHECK(error_code_of(refused) == "unauthorized");
        CHECK(refused.headers.at("www-authenticate") == "Bearer");
    }
    CHECK(test.client().request("GET", "/v1/nothing").status == 401);
    CHECK(test.client().request("GET", "/metrics").status == 401);
    CHECK(test.client().request("GET", "/v1/health").status == 200);
    CHECK(test.client("s3cret-token").request("GET", "/v1/members/1").status == 200);
    CHECK(test.client("s3cret-token").request("GET", "/metrics").status == 200);
}

TEST_CASE("a handler exception becomes a 500 and the server keeps serving", "[http_server]") {
    TestServer test;
    auto client = test.client();
    const auto failed = client.request("GET", "/v1/boom");
    CHECK(failed.status == 500);
    CHECK(error_code_of(failed) == "internal_error");
    CHECK_FALSE(contains(failed.body, "disk on fire"));  // internals stay in the log
    CHECK(client.request("GET", "/v1/health").status == 200);
    CHECK(contains(test.metrics->render(),
                   "loyalty_http_errors_total{kind=\"handler_exception\"} 1"));
}

TEST_CASE("slow and silent clients are dropped by the timeouts", "[http_server]") {
    TestServer test;
    SECTION("a header that never completes (slow loris)") {
        const auto reply =
            raw_exchange(test.server.port(), "GET /v1/health HTTP/1.1\r\nHost: t\r\nX-Slow: ");
        REQUIRE(reply);  // closed by the server, not by our own deadline
        CHECK(reply->empty());
    }
    SECTION("a connection that never sends anything") {
        const auto reply = raw_exchange(test.server.port(), "");
        REQUIRE(reply);
        CHECK(reply->empty());
    }
    SECTION("a keep-alive connection left idle after a request") {
        const auto reply =
            raw_exchange(test.server.port(), "GET /v1/health HTTP/1.1\r\nHost: t\r\n\r\n");
        REQUIRE(reply);
        CHECK(reply->rfind("HTTP/1.1 200", 0) == 0);
    }
}

TEST_CASE("pipelined requests on one connection are answered in order", "[http_server]") {
    TestServer test;
    const auto reply =
        raw_exchange(test.server.port(),
                     "GET /v1/members/first HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /v1/members/second HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    REQUIRE(reply);
    const auto first = reply->find("\"first\"");
    const auto second = reply->find("\"second\"");
    REQUIRE(first != std::string::npos);
    REQUIRE(second != std::string::npos);
    CHECK(first < second);
}

TEST_CASE("many concurrent keep-alive clients are all served, each on one connection",
          "[http_server]") {
    ServerConfig config = test_config();
    config.io_threads = 2;
    config.idle_timeout = 10s;
    TestServer test(config);
    constexpr int clients = 16;
    constexpr int requests_each = 25;
    std::vector<std::future<int>> successes;
    for (int c = 0; c < clients; ++c) {
        successes.push_back(std::async(std::launch::async, [&test, c] {
            auto client = test.client();
            int ok = 0;
            for (int i = 0; i < requests_each; ++i) {
                const auto id = std::to_string(c) + "-" + std::to_string(i);
                const auto response = client.request("GET", "/v1/members/" + id);
                ok += response.status == 200 && response.json()["id"] == id;
            }
            return ok;
        }));
    }
    for (auto& success : successes) CHECK(success.get() == requests_each);
    const std::string text = test.metrics->render();
    CHECK(contains(text, "loyalty_http_connections_total " + std::to_string(clients) + "\n"));
    CHECK(contains(text, "route=\"/v1/members/{id}\",status=\"200\"} " +
                             std::to_string(clients * requests_each)));
}

TEST_CASE("handlers run off the I/O thread: a blocked handler does not stall other connections",
          "[http_server]") {
    TestServer test;
    auto slow = std::async(std::launch::async,
                           [&test] { return test.client().request("GET", "/v1/slow"); });
    REQUIRE(test.gate->entered.get_future().wait_for(10s) == std::future_status::ready);
    CHECK(test.client().request("GET", "/v1/nothing").status == 404);  // answered on the I/O thread
    CHECK(slow.wait_for(0s) == std::future_status::timeout);           // the handler is still held
    test.gate->release.set_value();
    CHECK(slow.get().status == 200);
}

namespace {

// What the handler group's hooks saw, written on the handler thread (hence the mutex).
struct GroupLog {
    std::mutex mutex;
    bool open = false;
    int groups = 0;
    int nested = 0;                 // a group begun while one was open: must stay 0
    std::set<std::string> grouped;  // the requests that ran inside a group
};

HandlerGroup logging_group(const std::shared_ptr<GroupLog>& log, bool end_fails) {
    return {[log] {
                std::lock_guard lock(log->mutex);
                log->nested += log->open;
                log->open = true;
                ++log->groups;
            },
            [log, end_fails]() -> std::optional<Response> {
                std::lock_guard lock(log->mutex);
                log->open = false;
                if (end_fails) return error_response(503, "storage_unavailable", "the group's commit failed");
                return std::nullopt;
            }};
}

}  // namespace

TEST_CASE("requests waiting together for the handler thread run as one group, answered after its end",
          "[http_server]") {
    const bool end_fails = GENERATE(false, true);
    INFO((end_fails ? "the group's end fails" : "the group's end succeeds"));
    auto log = std::make_shared<GroupLog>();
    auto gate = std::make_shared<Gate>();
    ServerConfig config = test_config();
    config.idle_timeout = 10s;
    config.handler_group = logging_group(log, end_fails);
    Router router;
    router.add("GET", "/v1/slow", [gate](const Request&) {
        gate->entered.set_value();
        gate->released.wait_for(10s);
        return Response::json(200, {{"slow", true}});
    });
    router.add("GET", "/v1/members/{id}", [log](const Request& request) {
        std::lock_guard lock(log->mutex);
        if (log->open) log->grouped.insert(request.path_params.at("id"));
        return Response::json(200, {{"id", request.path_params.at("id")}});
    });
    auto metrics = std::make_shared<MetricsRegistry>();
    HttpServer server(config, std::move(router), metrics);
    server.start();
    const auto request = [&server](const std::string& target) {
        return HttpClient("127.0.0.1", server.port(), {std::nullopt, 10s}).request("GET", target);
    };

    // One request holds the handler thread; six more queue up behind it.
    auto slow = std::async(std::launch::async, [&] { return request("/v1/slow"); });
    REQUIRE(gate->entered.get_future().wait_for(10s) == std::future_status::ready);
    constexpr int waiting = 6;
    std::vector<std::future<ClientResponse>> answers;
    for (int i = 0; i < waiting; ++i)
        answers.push_back(std::async(std::launch::async, [&, i] { return request("/v1/members/" + std::to_string(i)); }));
    for (int i = 0; i < 200 && !contains(metrics->render(), "loyalty_http_connections_total 7\n"); ++i)
        std::this_thread::sleep_for(10ms);
    std::this_thread::sleep_for(200ms);  // from accepted to queued: reading and routing the request
    gate->release.set_value();

    CHECK(slow.get().status == 200);  // it waited alone: no group, whatever the group's end says
    std::vector<ClientResponse> responses;
    for (auto& answer : answers) responses.push_back(answer.get());
    server.stop();
    std::lock_guard lock(log->mutex);
    CHECK(log->grouped.size() >= 2);
    CHECK(log->groups >= 1);
    CHECK(log->nested == 0);
    CHECK_FALSE(log->open);
    for (int i = 0; i < waiting; ++i) {
        const std::string id = std::to_string(i);
        INFO("request " << id << ": " << responses[i].body);
        if (end_fails && log->grouped.count(id)) {
            CHECK(responses[i].status == 503);  // its group's end failed: never its own answer
            CHECK(error_code_of(responses[i]) == "storage_unavailable");
        } else {
            CHECK(responses[i].status == 200);
            CHECK(responses[i].json()["id"] == id);
        }
    }
}

TEST_CASE("graceful shutdown stops accepting and finishes the request in flight", "[http_server]") {
    TestServer test;
    auto idle_client = test.client();
    REQUIRE(idle_client.request("GET", "/v1/health").status == 200);  // leaves an idle keep-alive

    auto in_flight = std::async(std::launch::async,
                                [&test] { return test.client().request("GET", "/v1/slow"); });
    REQUIRE(test.gate->entered.get_future().wait_for(10s) == std::future_status::ready);
    auto stopper = std::async(std::launch::async, [&test] { test.server.stop(); });

    bool refused = false;
    for (int attempt = 0; attempt < 100 && !refused; ++attempt) {
        try {
            HttpClient("127.0.0.1", test.server.port(), {std::nullopt, 1s})
                .request("GET", "/v1/health");
            std::this_thread::sleep_for(50ms);
        } catch (const HttpClientError&) {
            refused = true;
        }
    }
    CHECK(refused);
    test.gate->release.set_value();
    const auto response = in_flight.get();
    CHECK(response.status == 200);
    CHECK(response.headers.at("connection") == "close");
    REQUIRE(stopper.wait_for(20s) == std::future_status::ready);
    CHECK_THROWS_AS(idle_client.request("GET", "/v1/health"), HttpClientError);
}

TEST_CASE("GET /metrics serves Prometheus text with the request counters", "[http_server]") {
    TestServer test;
    auto client = test.client();
    REQUIRE(client.request("GET", "/v1/members/5").status == 200);
    REQUIRE(client.request("GET", "/v1/unknown").status == 404);
    const auto metrics = client.request("GET", "/metrics");
    REQUIRE(metrics.status == 200);
    CHECK(metrics.headers.at("content-type").rfind("text/plain; version=0.0.4", 0) == 0);
    CHECK(contains(metrics.body,
                   "loyalty_http_requests_total{method=\"GET\",route=\"/v1/members/"
                   "{id}\",status=\"200\"} 1\n"));
    CHECK(contains(
        metrics.body,
        "loyalty_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1\n"));
    CHECK(contains(metrics.body,
                   "loyalty_http_request_duration_seconds_count{route=\"/v1/members/{id}\"} 1\n"));
}

TEST_CASE("start() names the address it cannot listen on", "[http_server]") {
    TestServer first;
    ServerConfig config = test_config();
    config.port = first.server.port();
    HttpServer second(config, Router{});
    try {
        second.start();
        FAIL("binding a port in use should fail");
    } catch (const std::system_error& error) {
        CHECK(contains(error.what(), "127.0.0.1:" + std::to_string(first.server.port())));
    }
}

TEST_CASE("run_until_signalled stops gracefully on SIGTERM", "[http_server]") {
    std::promise<std::uint16_t> listening;
    struct RestoreSink {
        LogSink previous;
        ~RestoreSink() { set_log_sink(previous); }
    } restore{set_log_sink([&listening](std::string_view line) {
        const auto parsed = nlohmann::json::parse(line);
        if (parsed["event"] == "listening")
            listening.set_value(parsed["port"].get<std::uint16_t>());
    })};
    Router router;
    router.add("GET", "/v1/health", [](const Request&) {
        return Response::json(200, {{"status", "ok"}});
    });
    HttpServer server(test_config(), std::move(router));
    auto running = std::async(std::launch::async, [&server] { server.run_until_signalled(); });
    // Even when a check below fails, the server thread must end or the test hangs.
    struct SignalOnExit {
        std::future<void>& running;
        ~SignalOnExit() {
            if (running.wait_for(0s) != std::future_status::ready) std::raise(SIGTERM);
        }
    } signal_on_exit{running};

    auto port = listening.get_future();
    REQUIRE(port.wait_for(10s) == std::future_status::ready);
    CHECK(HttpClient("127.0.0.1", port.get(), {std::nullopt, 10s})
              .request("GET", "/v1/health")
              .status == 200);
    std::raise(SIGTERM);  // asio's handler is installed before start(), so this cannot kill us
    CHECK(running.wait_for(20s) == std::future_status::ready);
}
