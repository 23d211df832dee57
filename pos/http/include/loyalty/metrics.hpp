// In-process metrics rendered in the Prometheus text exposition format (version 0.0.4).
//
// The HTTP server records, per request, a counter labelled by method, route pattern and status
// (loyalty_http_requests_total) and a latency histogram labelled by route pattern
// (loyalty_http_request_duration_seconds); failures that never reach a handler or that crash
// one go to loyalty_http_errors_total{kind=...}. The daemon adds its own gauges (e.g. pending
// outbox events) and unlabelled counters by name.
//
// Route patterns, not raw paths, are used as labels so member ids never reach the metrics and
// the number of series stays bounded.
//
// Thread-safe: one short mutex-protected update per call.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace loyalty::http {

class Router;

class MetricsRegistry {
  public:
    void record_request(std::string_view method, std::string_view route, int status,
                        std::chrono::nanoseconds latency);
    void record_error(std::string_view kind);

    // Names must match [a-zA-Z_:][a-zA-Z0-9_:]*; otherwise std::invalid_argument.
    void set_gauge(std::string_view name, std::string_view help, double value);
    void add_to_gauge(std::string_view name, std::string_view help, double delta);
    void increment_counter(std::string_view name, std::string_view help);

    std::string render() const;

    // Upper bounds of the latency histogram buckets, in seconds (+Inf is implicit).
    static const std::vector<double>& latency_buckets();

  private:
    struct Histogram {
        std::vector<std::uint64_t> bucket_counts;  // not cumulative; summed when rendered
        std::uint64_t count = 0;
        double sum_seconds = 0;
    };
    struct Scalar {
        std::string help;
        double value = 0;
    };

    void render_requests(std::string& out) const;
    void render_latencies(std::string& out) const;
    void render_errors(std::string& out) const;
    static void render_scalars(std::string& out,
                               const std::map<std::string, Scalar, std::less<>>& scalars,
                               std::string_view type);
    Scalar& scalar(std::map<std::string, Scalar, std::less<>>& scalars, std::string_view name,
                   std::string_view help);

    mutable std::mutex mutex_;
    std::map<std::tuple<std::string, std::string, int>, std::uint64_t> requests_;
    std::map<std::string, Histogram, std::less<>> latencies_;
    std::map<std::string, std::uint64_t, std::less<>> errors_;
    std::map<std::string, Scalar, std::less<>> gauges_;
    std::map<std::string, Scalar, std::less<>> counters_;
};

// Registers GET /metrics on `router`, serving `metrics->render()`. The route needs the bearer
// token like any other unless `is_public`.
void add_metrics_route(Router& router, std::shared_ptr<const MetricsRegistry> metrics,
                       bool is_public = false);

}  // namespace loyalty::http
