#include "loyalty/http_handler.hpp"

#include <algorithm>
#include <cctype>

namespace loyalty::http {

bool CaseInsensitiveLess::operator()(std::string_view left, std::string_view right) const {
    return std::lexicographical_compare(
        left.begin(), left.end(), right.begin(), right.end(),
        [](unsigned char a, unsigned char b) { return std::tolower(a) < std::tolower(b); });
}

RequestError::RequestError(int status, std::string code, std::string message,
                           std::optional<std::string> field)
    : std::runtime_error(std::move(message)),
      status_(status),
      code_(std::move(code)),
      field_(std::move(field)) {}

nlohmann::json Request::json_body() const {
    if (body.empty()) {
        throw RequestError(400, "malformed_json", "the request body is empty; send a JSON object");
    }
    nlohmann::json parsed;
    try {
        parsed = nlohmann::json::parse(body);
    } catch (const nlohmann::json::parse_error& error) {
        // Our own message: the library's one quotes the body, which may hold personal data.
        throw RequestError(400, "malformed_json",
                           "the request body is not valid JSON (error near byte " +
                               std::to_string(error.byte) + ")");
    } catch (const nlohmann::json::out_of_range&) {
        // A number such as 1e999 that no double holds: the parser throws this, not parse_error.
        throw RequestError(400, "malformed_json",
                           "the request body holds a number too large for JSON (e.g. 1e999)");
    }
    if (!parsed.is_object()) {
        throw RequestError(400, "malformed_json", "the request body must be a JSON object");
    }
    return parsed;
}

const std::string* Request::header(std::string_view name) const {
    const auto found = headers.find(name);
    return found == headers.end() ? nullptr : &found->second;
}

Response Response::json(int status, const nlohmann::json& body) {
    return Response{status,
                    body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                    "application/json",
                    {}};
}

Response Response::text(int status, std::string body, std::string content_type) {
    return Response{status, std::move(body), std::move(content_type), {}};
}

Response error_response(int status, std::string_view code, std::string_view message,
                        std::optional<std::string_view> field) {
    nlohmann::json error{{"code", code}, {"message", message}, {"field", nullptr}};
    if (field) error["field"] = *field;
    return Response::json(status, {{"error", std::move(error)}});
}

Response error_response(const RequestError& error) {
    return error_response(
        error.status(), error.code(), error.what(),
        error.field() ? std::optional<std::string_view>(*error.field()) : std::nullopt);
}

}  // namespace loyalty::http
