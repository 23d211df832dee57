#include "loyalty/metrics.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "loyalty/router.hpp"

namespace loyalty::http {
namespace {

bool is_valid_metric_name(std::string_view name) {
    const auto valid_char = [](char c, bool first) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
               (!first && c >= '0' && c <= '9');
    };
    if (name.empty() || !valid_char(name.front(), true)) return false;
    return std::all_of(name.begin() + 1, name.end(), [&](char c) { return valid_char(c, false); });
}

// The text format escapes \ and newline everywhere, and " too inside label values (HELP text
// keeps its quotes).
std::string escape(std::string_view text, bool is_label_value) {
    std::string escaped;
    for (const char c : text) {
        if (c == '\\') {
            escaped += "\\\\";
        } else if (c == '\n') {
            escaped += "\\n";
        } else if (c == '"' && is_label_value) {
            escaped += "\\\"";
        } else {
            escaped += c;
        }
    }
    return escaped;
}

std::string escape_label(std::string_view value) { return escape(value, true); }

std::string escape_help(std::string_view help) { return escape(help, false); }

// The shortest text that reads back as the same double: "0.05", not "0.050000000000000003".
std::string format_number(double value) {
    char text[64];
    for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(text, sizeof text, "%.*g", precision, value);
        if (std::strtod(text, nullptr) == value) break;
    }
    return text;
}

void header(std::string& out, std::string_view name, std::string_view help, std::string_view type) {
    out.append("# HELP ").append(name).append(" ").append(escape_help(help)).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

}  // namespace

const std::vector<double>& MetricsRegistry::latency_buckets() {
    static const std::vector<double> buckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,   0.25,   0.5,   1,    2.5,   5};
    return buckets;
}

void MetricsRegistry::record_request(std::string_view method, std::string_view route, int status,
                                     std::chrono::nanoseconds latency) {
    const double seconds = std::chrono::duration<double>(latency).count();
    const auto& bounds = latency_buckets();
    const auto bucket = static_cast<std::size_t>(
        std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin());
    std::lock_guard lock(mutex_);
    ++requests_[{std::string(method), std::string(route), status}];
    auto found = latencies_.find(route);
    if (found == latencies_.end()) {
        found = latencies_.emplace(std::string(route), Histogram{}).first;
        found->second.bucket_counts.assign(bounds.size() + 1, 0);
    }
    ++found->second.bucket_counts[bucket];
    ++found->second.count;
    found->second.sum_seconds += seconds;
}

void MetricsRegistry::record_error(std::string_view kind) {
    std::lock_guard lock(mutex_);
    auto found = errors_.find(kind);
    if (found == errors_.end()) found = errors_.emplace(std::string(kind), 0).first;
    ++found->second;
}

MetricsRegistry::Scalar& MetricsRegistry::scalar(
    std::map<std::string, Scalar, std::less<>>& scalars, std::string_view name,
    std::string_view help) {
    if (!is_valid_metric_name(name)) {
        throw std::invalid_argument("metric name '" + std::string(name) +
                                    "' must match [a-zA-Z_:][a-zA-Z0-9_:]*");
    }
    auto found = scalars.find(name);
    if (found == scalars.end()) found = scalars.emplace(std::string(name), Scalar{}).first;
    found->second.help = help;
    return found->second;
}

void MetricsRegistry::set_gauge(std::string_view name, std::string_view help, double value) {
    std::lock_guard lock(mutex_);
    scalar(gauges_, name, help).value = value;
}

void MetricsRegistry::add_to_gauge(std::string_view name, std::string_view help, double delta) {
    std::lock_guard lock(mutex_);
    scalar(gauges_, name, help).value += delta;
}

void MetricsRegistry::increment_counter(std::string_view name, std::string_view help) {
    std::lock_guard lock(mutex_);
    scalar(counters_, name, help).value += 1;
}

void MetricsRegistry::render_requests(std::string& out) const {
    header(out, "loyalty_http_requests_total", "HTTP requests by method, route pattern and status.",
           "counter");
    for (const auto& [key, count] : requests_) {
        const auto& [method, route, status] = key;
        out += "loyalty_http_requests_total{method=\"" + escape_label(method) + "\",route=\"" +
               escape_label(route) + "\",status=\"" + std::to_string(status) + "\"} " +
               std::to_string(count) + "\n";
    }
}

void MetricsRegistry::render_latencies(std::string& out) const {
    constexpr std::string_view name = "loyalty_http_request_duration_seconds";
    header(out, name, "Time from a complete request to its response, by route pattern.",
           "histogram");
    const auto& bounds = latency_buckets();
    for (const auto& [route, histogram] : latencies_) {
        const std::string route_label = "route=\"" + escape_label(route) + "\"";
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i <= bounds.size(); ++i) {
            cumulative += histogram.bucket_counts[i];
            const std::string bound = i < bounds.size() ? format_number(bounds[i]) : "+Inf";
            out.append(name).append("_bucket{").append(route_label).append(",le=\"").append(bound);
            out.append("\"} ").append(std::to_string(cumulative)).append("\n");
        }
        out.append(name).append("_sum{").append(route_label).append("} ");
        out.append(format_number(histogram.sum_seconds)).append("\n");
        out.append(name).append("_count{").append(route_label).append("} ");
        out.append(std::to_string(histogram.count)).append("\n");
    }
}

void MetricsRegistry::render_errors(std::string& out) const {
    header(out, "loyalty_http_errors_total",
           "Requests that failed before or inside a handler, by kind.", "counter");
    for (const auto& [kind, count] : errors_) {
        out += "loyalty_http_errors_total{kind=\"" + escape_label(kind) + "\"} " +
               std::to_string(count) + "\n";
    }
}

void MetricsRegistry::render_scalars(std::string& out,
                                     const std::map<std::string, Scalar, std::less<>>& scalars,
                                     std::string_view type) {
    for (const auto& [name, scalar] : scalars) {
        header(out, name, scalar.help, type);
        out.append(name).append(" ").append(format_number(scalar.value)).append("\n");
    }
}

std::string MetricsRegistry::render() const {
    std::string out;
    std::lock_guard lock(mutex_);
    render_requests(out);
    render_latencies(out);
    render_errors(out);
    render_scalars(out, counters_, "counter");
    render_scalars(out, gauges_, "gauge");
    return out;
}

void add_metrics_route(Router& router, std::shared_ptr<const MetricsRegistry> metrics,
                       bool is_public) {
    router.add(
        "GET", "/metrics",
        [metrics = std::move(metrics)](const Request&) {
            return Response::text(200, metrics->render(),
                                  "text/plain; version=0.0.4; charset=utf-8");
        },
        RouteOptions{is_public});
}

}  // namespace loyalty::http
