// Reads typed fields out of a JSON object and remembers the first thing wrong, named by its
// path ("earn.category_multipliers.toys"). Used for rules, configs and request bodies so that
// every input error in the product names its field the same way.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "loyalty/result.hpp"

namespace loyalty {

class JsonReader {
public:
    // `path` is this object's own path ("" for the document root).
    JsonReader(const nlohmann::json& object, std::string path);

    // Missing fields take `fallback`; without a fallback they are an error.
    std::int64_t integer(std::string_view key, std::int64_t min, std::int64_t max,
                         std::optional<std::int64_t> fallback = std::nullopt);
    // A decimal with at most two places, returned in hundredths (1.5 -> 150).
    std::int64_t hundredths(std::string_view key, std::int64_t min, std::int64_t max,
                            std::optional<std::int64_t> fallback = std::nullopt);
    std::string text(std::string_view key, std::size_t max_length,
                     std::optional<std::string> fallback = std::nullopt);
    bool boolean(std::string_view key, bool fallback);
    // The member if present and of the expected type (an error otherwise); nullptr if absent.
    const nlohmann::json* object(std::string_view key);
    const nlohmann::json* array(std::string_view key);
    // A list of non-empty strings; absent is empty.
    std::vector<std::string> strings(std::string_view key, std::size_t max_items, std::size_t max_length);
    // Refuses members not in `known`: a misspelt rule must not be silently ignored.
    void only(std::initializer_list<std::string_view> known);

    void fail(std::string_view key, std::string message);
    // Takes over a nested reader's error, which already names the deeper path.
    void adopt(const JsonReader& nested) {
        if (!error_ && !nested.ok()) error_ = nested.error();
    }
    std::string path(std::string_view key) const;
    bool ok() const { return !error_; }
    const Error& error() const { return *error_; }

private:
    const nlohmann::json* member(std::string_view key, bool required);

    const nlohmann::json& object_;
    std::string path_;
    std::optional<Error> error_;
};

// Reads a JSON number as hundredths if it has at most two decimal places.
std::optional<std::int64_t> to_hundredths(const nlohmann::json& value);

}  // namespace loyalty
