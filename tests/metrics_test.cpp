#include "loyalty/metrics.hpp"

#include <catch2/catch.hpp>

#include "loyalty/router.hpp"

using namespace loyalty::http;
using namespace std::chrono_literals;

namespace {

bool has_line(const std::string& text, const std::string& line) {
    return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

}  // namespace

TEST_CASE("requests are counted by method, route pattern and status", "[metrics]") {
    MetricsRegistry metrics;
    metrics.record_request("GET", "/v1/members/{id}", 200, 3ms);
    metrics.record_request("GET", "/v1/members/{id}", 200, 4ms);
    metrics.record_request("GET", "/v1/members/{id}", 404, 1ms);
    const std::string text = metrics.render();
    CHECK(has_line(text, "# TYPE loyalty_http_requests_total counter"));
    CHECK(has_line(
        text,
        R"(loyalty_http_requests_total{method="GET",route="/v1/members/{id}",status="200"} 2)"));
    CHECK(has_line(
        text,
        R"(loyalty_http_requests_total{method="GET",route="/v1/members/{id}",status="404"} 1)"));
}

TEST_CASE("latency histogram buckets are cumulative with sum and count", "[metrics]") {
    MetricsRegistry metrics;
    metrics.record_request("POST", "/v1/purchases", 200, 2ms);   // le 0.0025
    metrics.record_request("POST", "/v1/purchases", 200, 40ms);  // le 0.05
    metrics.record_request("POST", "/v1/purchases", 200, 9s);    // only +Inf
    const std::string text = metrics.render();
    const std::string bucket =
        "loyalty_http_request_duration_seconds_bucket{route=\"/v1/purchases\",le=";
    CHECK(has_line(text, "# TYPE loyalty_http_request_duration_seconds histogram"));
    CHECK(has_line(text, bucket + "\"0.001\"} 0"));
    CHECK(has_line(text, bucket + "\"0.0025\"} 1"));
    CHECK(has_line(text, bucket + "\"0.025\"} 1"));
    CHECK(has_line(text, bucket + "\"0.05\"} 2"));
    CHECK(has_line(text, bucket + "\"5\"} 2"));
    CHECK(has_line(text, bucket + "\"+Inf\"} 3"));
    CHECK(has_line(text, "loyalty_http_request_duration_seconds_count{route=\"/v1/purchases\"} 3"));
    CHECK(text.find("loyalty_http_request_duration_seconds_sum{route=\"/v1/purchases\"} 9.04") !=
          std::string::npos);
}

TEST_CASE("errors, counters and gauges", "[metrics]") {
    MetricsRegistry metrics;
    metrics.record_error("malformed_http");
    metrics.record_error("malformed_http");
    metrics.increment_counter("loyalty_sync_batches_total", "Batches sent.");
    metrics.set_gauge("loyalty_outbox_pending_events", "Events not yet acknowledged.", 7);
    metrics.add_to_gauge("loyalty_outbox_pending_events", "Events not yet acknowledged.", -2);
    const std::string text = metrics.render();
    CHECK(has_line(text, R"(loyalty_http_errors_total{kind="malformed_http"} 2)"));
    CHECK(has_line(text, "# TYPE loyalty_sync_batches_total counter"));
    CHECK(has_line(text, "loyalty_sync_batches_total 1"));
    CHECK(has_line(text, "# HELP loyalty_outbox_pending_events Events not yet acknowledged."));
    CHECK(has_line(text, "# TYPE loyalty_outbox_pending_events gauge"));
    CHECK(has_line(text, "loyalty_outbox_pending_events 5"));
    CHECK_THROWS_AS(metrics.set_gauge("pending events", "bad name", 1), std::invalid_argument);
    CHECK_THROWS_AS(metrics.increment_counter("9lives", "bad name"), std::invalid_argument);
}

TEST_CASE("label values are escaped", "[metrics]") {
    MetricsRegistry metrics;
    metrics.record_error("quote\" slash\\ newline\n");
    CHECK(has_line(metrics.render(),
                   R"(loyalty_http_errors_total{kind="quote\" slash\\ newline\n"} 1)"));
}

TEST_CASE("the metrics route serves the rendered text", "[metrics]") {
    auto metrics = std::make_shared<MetricsRegistry>();
    metrics->set_gauge("loyalty_outbox_pending_events", "Pending.", 3);
    Router router;
    add_metrics_route(router, metrics);
    const auto match = router.match("GET", "/metrics");
    REQUIRE(match.outcome == RouteMatch::Outcome::found);
    CHECK_FALSE(match.route.is_public);
    const Response response = (*match.handler)(Request{});
    CHECK(response.status == 200);
    CHECK(response.content_type.rfind("text/plain; version=0.0.4", 0) == 0);
    CHECK(has_line(response.body, "loyalty_outbox_pending_events 3"));
}
