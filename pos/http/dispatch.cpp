#include "dispatch.hpp"

#include <boost/beast/core/string.hpp>

#include "loyalty/json_log.hpp"

namespace loyalty::http {
namespace {

bool is_authorized(const std::optional<std::string>& bearer_token, const Request& request) {
    if (!bearer_token) return true;
    constexpr std::string_view scheme = "Bearer ";
    const std::string* authorization = request.header("Authorization");
    if (authorization == nullptr || authorization->size() < scheme.size() ||
        !boost::beast::iequals(std::string_view(*authorization).substr(0, scheme.size()), scheme)) {
        return false;
    }
    return constant_time_equals(*bearer_token,
                                std::string_view(*authorization).substr(scheme.size()));
}

std::string join(const std::vector<std::string>& items) {
    std::string joined;
    for (const auto& item : items) joined += (joined.empty() ? "" : ", ") + item;
    return joined;
}

Dispatch answer(Request request, Response response) {
    return Dispatch{std::move(request), nullptr, std::move(response)};
}

Response unauthorized() {
    auto response = error_response(401, "unauthorized",
                                   "missing or wrong bearer token; send 'Authorization: Bearer "
                                   "<token>' with the token from the daemon's configuration");
    response.headers.emplace_back("WWW-Authenticate", "Bearer");
    return response;
}

Response method_not_allowed(std::string_view method, const std::vector<std::string>& allowed) {
    auto response = error_response(
        405, "method_not_allowed",
        "method " + std::string(method) + " is not allowed on this path; use " + join(allowed));
    response.headers.emplace_back("Allow", join(allowed));
    return response;
}

Response internal_error(const Request& request, std::string_view what, MetricsRegistry* metrics) {
    log_event(LogLevel::error, "handler_exception",
              {{"method", request.method}, {"route", request.route}, {"error", what}});
    if (metrics) metrics->record_error("handler_exception");
    return error_response(500, "internal_error",
                          "the server failed to handle this request; it was logged, try again "
                          "or contact support");
}

}  // namespace

Dispatch route_request(const Router& router, const std::optional<std::string>& bearer_token,
                       Request request, std::string_view target) {
    const auto question = target.find('?');
    request.path = target.substr(0, question);
    RouteMatch match = router.match(request.method, request.path);
    const bool is_public = match.outcome == RouteMatch::Outcome::found && match.route.is_public;
    if (!is_public && !is_authorized(bearer_token, request))
        return answer(std::move(request), unauthorized());

    switch (match.outcome) {
        case RouteMatch::Outcome::not_found:
            return answer(std::move(request),
                          error_response(404, "not_found",
                                         "no route for " + request.method + " " + request.path +
                                             "; see the API document"));
        case RouteMatch::Outcome::method_not_allowed:
            return answer(std::move(request), method_not_allowed(request.method, match.allowed));
        case RouteMatch::Outcome::malformed_path:
            return answer(std::move(request), error_response(400, "malformed_path",
                                                             "the path has a malformed %-escape"));
        case RouteMatch::Outcome::found:
            break;
    }
    auto query = parse_query(question == std::string_view::npos ? "" : target.substr(question + 1));
    if (!query) {
        return answer(
            std::move(request),
            error_response(400, "malformed_query", "the query string has a malformed %-escape"));
    }
    request.query = std::move(*query);
    request.route = match.route.pattern;
    request.path_params = std::move(match.path_params);
    return Dispatch{std::move(request), match.handler, {}};
}

Response run_handler(const Handler& handler, const Request& request, MetricsRegistry* metrics) {
    try {
        return handler(request);
    } catch (const RequestError& error) {
        return error_response(error);
    } catch (const std::exception& error) {
        return internal_error(request, error.what(), metrics);
    } catch (...) {
        return internal_error(request, "an exception of unknown type", metrics);
    }
}

bool constant_time_equals(std::string_view expected, std::string_view presented) {
    // volatile keeps the compiler from turning the loop into an early-exit compare.
    volatile unsigned char difference = expected.size() == presented.size() ? 0 : 1;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const char other = i < presented.size() ? presented[i] : '\0';
        difference = difference | static_cast<unsigned char>(expected[i] ^ other);
    }
    return difference == 0;
}

}  // namespace loyalty::http
