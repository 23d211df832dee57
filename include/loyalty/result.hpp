// Result<T>: the value of an operation or the reason it was refused.
//
// Domain and storage code return refusals (bad input, unknown member, not enough points,
// a conflicting replay) as values; exceptions are kept for start-up and programmer errors.
// An Error names the offending field where there is one, so the HTTP layer can pass it on.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace loyalty {

// What kind of refusal this is; the HTTP layer maps each kind to one status code.
enum class ErrorKind {
    invalid,       // the input is wrong (400)
    not_found,     // the thing referred to does not exist (404)
    conflict,      // clashes with what is stored: duplicate card, replay with other payload (409)
    refused,       // valid but not allowed now: insufficient points, return period over (422)
    unavailable,   // storage failed (disk full, I/O error); nothing was written (503)
};

struct Error {
    ErrorKind kind = ErrorKind::invalid;
    std::string code;     // stable machine-readable code, e.g. "insufficient_points"
    std::string message;  // what went wrong and what to do, for a person
    std::string field;    // the request field at fault, empty if none
};

inline Error invalid(std::string field, std::string message) {
    return {ErrorKind::invalid, "invalid_field", std::move(message), std::move(field)};
}

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : state_(std::move(value)) {}
    Result(Error error) : state_(std::move(error)) {}

    bool ok() const { return state_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(state_); }
    const T& value() const& { return std::get<0>(state_); }
    T&& value() && { return std::get<0>(std::move(state_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const { return std::get<1>(state_); }

private:
    std::variant<T, Error> state_;
};

// For operations that produce nothing but may be refused.
struct Done {};

}  // namespace loyalty
