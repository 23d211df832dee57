#include "loyalty/router.hpp"

#include <algorithm>
#include <stdexcept>

namespace loyalty::http {
namespace {

// "/a/b/c" -> {"a", "b", "c"}; "/" -> {""}. Segments stay percent-encoded.
std::vector<std::string> split_path(std::string_view path) {
    std::vector<std::string> segments;
    path.remove_prefix(1);
    for (;;) {
        const auto slash = path.find('/');
        segments.emplace_back(path.substr(0, slash));
        if (slash == std::string_view::npos) return segments;
        path.remove_prefix(slash + 1);
    }
}

bool is_placeholder(std::string_view segment) {
    return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

int hex_value(char digit) {
    if (digit >= '0' && digit <= '9') return digit - '0';
    if (digit >= 'a' && digit <= 'f') return digit - 'a' + 10;
    if (digit >= 'A' && digit <= 'F') return digit - 'A' + 10;
    return -1;
}

std::optional<std::vector<std::string>> decode_segments(std::string_view path) {
    std::vector<std::string> segments = split_path(path);
    for (auto& segment : segments) {
        auto decoded = percent_decode(segment, false);
        if (!decoded) return std::nullopt;
        segment = std::move(*decoded);
    }
    return segments;
}

}  // namespace

void Router::add(std::string method, std::string pattern, Handler handler, RouteOptions options) {
    if (pattern.empty() || pattern.front() != '/') {
        throw std::invalid_argument("route pattern '" + pattern + "' must start with '/'");
    }
    Route route{{method, pattern, options.is_public}, {}, std::move(handler)};
    for (auto& text : split_path(pattern)) {
        const bool placeholder = is_placeholder(text);
        if (!placeholder && text.find_first_of("{}") != std::string::npos) {
            throw std::invalid_argument("route pattern '" + pattern +
                                        "' has a malformed {placeholder}");
        }
        route.segments.push_back(
            {placeholder ? text.substr(1, text.size() - 2) : text, placeholder});
    }
    for (const auto& existing : routes_) {
        if (existing.info.method == method && existing.info.pattern == pattern) {
            throw std::invalid_argument("route " + method + " " + pattern + " is registered twice");
        }
    }
    routes_.push_back(std::move(route));
}

bool Router::matches(const Route& route, const std::vector<std::string>& segments) {
    if (route.segments.size() != segments.size()) return false;
    for (std::size_t i = 0; i < segments.size(); ++i) {
        const auto& expected = route.segments[i];
        const bool ok =
            expected.is_placeholder ? !segments[i].empty() : expected.text == segments[i];
        if (!ok) return false;
    }
    return true;
}

bool Router::more_specific(const Route& candidate, const Route& best) {
    for (std::size_t i = 0; i < candidate.segments.size(); ++i) {
        const bool candidate_literal = !candidate.segments[i].is_placeholder;
        const bool best_literal = !best.segments[i].is_placeholder;
        if (candidate_literal != best_literal) return candidate_literal;
    }
    return false;
}

RouteMatch Router::match(std::string_view method, std::string_view path) const {
    RouteMatch result;
    const auto segments = decode_segments(path.empty() ? "/" : path);
    if (!segments) {
        result.outcome = RouteMatch::Outcome::malformed_path;
        return result;
    }
    const Route* best = nullptr;
    for (const auto& route : routes_) {
        if (!matches(route, *segments)) continue;
        if (route.info.method != method) {
            result.allowed.push_back(route.info.method);
        } else if (best == nullptr || more_specific(route, *best)) {
            best = &route;
        }
    }
    if (best == nullptr) {
        result.outcome = result.allowed.empty() ? RouteMatch::Outcome::not_found
                                                : RouteMatch::Outcome::method_not_allowed;
        std::sort(result.allowed.begin(), result.allowed.end());
        result.allowed.erase(std::unique(result.allowed.begin(), result.allowed.end()),
                             result.allowed.end());
        return result;
    }
    result = RouteMatch{RouteMatch::Outcome::found, &best->handler, best->info, {}, {}};
    for (std::size_t i = 0; i < segments->size(); ++i) {
        if (best->segments[i].is_placeholder)
            result.path_params[best->segments[i].text] = (*segments)[i];
    }
    return result;
}

std::vector<RouteInfo> Router::routes() const {
    std::vector<RouteInfo> infos;
    for (const auto& route : routes_) infos.push_back(route.info);
    return infos;
}

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
    std::string decoded;
    decoded.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%') {
            if (i + 2 >= text.size()) return std::nullopt;
            const int high = hex_value(text[i + 1]);
            const int low = hex_value(text[i + 2]);
            if (high < 0 || low < 0) return std::nullopt;
            decoded.push_back(static_cast<char>(high * 16 + low));
            i += 2;
        } else {
            decoded.push_back(plus_is_space && text[i] == '+' ? ' ' : text[i]);
        }
    }
    return decoded;
}

std::optional<QueryParams> parse_query(std::string_view query) {
    QueryParams params;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty()) continue;
        const auto equals = pair.find('=');
        auto key = percent_decode(pair.substr(0, equals), true);
        auto value =
            percent_decode(equals == std::string_view::npos ? "" : pair.substr(equals + 1), true);
        if (!key || !value) return std::nullopt;
        params[std::move(*key)] = std::move(*value);
    }
    return params;
}

}  // namespace loyalty::http
