// The contract between the HTTP server and a route handler.
//
// A handler is a plain synchronous function `Response(const Request&)`. The server runs it on
// the handler executor (never on an I/O thread), so it may block on SQLite. To refuse input a
// handler either returns `error_response(...)` or throws `RequestError`; any other exception
// becomes a logged 500 and the server keeps serving.
//
// Every error body has one shape: {"error": {"code": "...", "message": "...", "field": ...}}
// where "field" names the offending input field or is null.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loyalty::http {

// Header names compare case-insensitively, as HTTP requires.
struct CaseInsensitiveLess {
    using is_transparent = void;
    bool operator()(std::string_view left, std::string_view right) const;
};

using Headers = std::map<std::string, std::string, CaseInsensitiveLess>;
using PathParams = std::map<std::string, std::string, std::less<>>;
using QueryParams = std::map<std::string, std::string, std::less<>>;

// A handler's way to refuse a request: the server answers `status` with the error body.
class RequestError : public std::runtime_error {
  public:
    RequestError(int status, std::string code, std::string message,
                 std::optional<std::string> field = std::nullopt);

    int status() const { return status_; }
    const std::string& code() const { return code_; }
    const std::optional<std::string>& field() const { return field_; }

  private:
    int status_;
    std::string code_;
    std::optional<std::string> field_;
};

struct Request {
    std::string method;      // "GET", "POST", ...
    std::string path;        // raw path without the query string
    std::string route;       // the matched pattern, e.g. "/v1/members/{id}"
    PathParams path_params;  // percent-decoded values of the {placeholders}
    QueryParams query;       // percent-decoded; for a repeated key the last value wins
    Headers headers;
    std::string body;
    std::string remote_address;  // the peer's IP address as text ("" when unknown)

    // The body parsed as a JSON object. Throws RequestError 400 "malformed_json" when the
    // body is empty, is not JSON, or is JSON but not an object.
    nlohmann::json json_body() const;

    // Null when the header is absent.
    const std::string* header(std::string_view name) const;
};

struct Response {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;  // extra headers, e.g. Allow

    static Response json(int status, const nlohmann::json& body);
    static Response text(int status, std::string body,
                         std::string content_type = "text/plain; charset=utf-8");
};

// {"error": {"code": code, "message": message, "field": field or null}} with `status`.
Response error_response(int status, std::string_view code, std::string_view message,
                        std::optional<std::string_view> field = std::nullopt);

Response error_response(const RequestError& error);

using Handler = std::function<Response(const Request&)>;

}  // namespace loyalty::http
