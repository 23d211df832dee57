// Maps (method, path) to a handler.
//
// Patterns are absolute paths whose segments are literals or {name} placeholders, e.g.
// "/v1/members/{id}" or "/v1/purchases/{txn_id}/void". A placeholder matches one non-empty
// segment; its percent-decoded value lands in Request::path_params. When several patterns
// match a path, the one with a literal at the first differing segment wins, so
// "/v1/members/search" beats "/v1/members/{id}".
//
// Routes are added at start-up, before the server runs; `add` throws std::invalid_argument
// for a malformed or duplicate pattern (a programmer error). After that the router is only
// read, so `match` may be called from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loyalty/http_handler.hpp"

namespace loyalty::http {

struct RouteOptions {
    bool is_public = false;  // served without the bearer token (health checks)
};

struct RouteInfo {
    std::string method;
    std::string pattern;
    bool is_public = false;
};

struct RouteMatch {
    enum class Outcome { found, not_found, method_not_allowed, malformed_path };

    Outcome outcome = Outcome::not_found;
    const Handler* handler = nullptr;  // set when found
    RouteInfo route;                   // set when found
    PathParams path_params;            // set when found
    std::vector<std::string> allowed;  // methods for the path, set when method_not_allowed
};

class Router {
  public:
    void add(std::string method, std::string pattern, Handler handler, RouteOptions options = {});

    RouteMatch match(std::string_view method, std::string_view path) const;

    // Every registered route in registration order (e.g. to check the OpenAPI document).
    std::vector<RouteInfo> routes() const;

  private:
    struct Segment {
        std::string text;  // literal text, or the placeholder name
        bool is_placeholder = false;
    };
    struct Route {
        RouteInfo info;
        std::vector<Segment> segments;
        Handler handler;
    };

    static bool matches(const Route& route, const std::vector<std::string>& segments);
    static bool more_specific(const Route& candidate, const Route& best);

    std::vector<Route> routes_;
};

// Decodes %XX escapes (and '+' as space when `plus_is_space`, as in query strings).
// Returns nullopt for a truncated or non-hex escape.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

// Parses "a=1&b=x%20y" (without the '?'). A key without '=' maps to "". Returns nullopt when an
// escape is malformed.
std::optional<QueryParams> parse_query(std::string_view query);

}  // namespace loyalty::http
