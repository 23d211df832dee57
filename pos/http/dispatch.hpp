// Private to loyalty_http: the transport-free half of serving a request. `route_request` runs on
// the I/O thread (cheap: parsing, matching, the token check); `run_handler` runs on the
// handler pool and turns exceptions into error responses.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "loyalty/http_handler.hpp"
#include "loyalty/metrics.hpp"
#include "loyalty/router.hpp"

namespace loyalty::http {

struct Dispatch {
    Request request;                   // path, query and, once routed, route + path_params
    const Handler* handler = nullptr;  // null: send `response` as it is
    Response response;
};

// `request` carries method, headers and body; `target` is the raw request-target.
Dispatch route_request(const Router& router, const std::optional<std::string>& bearer_token,
                       Request request, std::string_view target);

// Calls `handler`; a RequestError becomes its error response, any other exception a logged 500
// counted as metrics error kind "handler_exception" (`metrics` may be null).
Response run_handler(const Handler& handler, const Request& request, MetricsRegistry* metrics);

// Compares in time that depends only on `expected.size()`, so a client cannot find the token
// byte by byte by timing 401s.
bool constant_time_equals(std::string_view expected, std::string_view presented);

}  // namespace loyalty::http
