#include "loyalty/json_reader.hpp"

#include <cmath>

#include "loyalty/rules.hpp"

namespace loyalty {

JsonReader::JsonReader(const nlohmann::json& object, std::string path)
    : object_(object), path_(std::move(path)) {
    if (!object_.is_object())
        error_ = invalid(path_.empty() ? "body" : path_, "must be a JSON object");
}

std::string JsonReader::path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

void JsonReader::fail(std::string_view key, std::string message) {
    if (!error_) error_ = invalid(path(key), path(key) + " " + std::move(message));
}

const nlohmann::json* JsonReader::member(std::string_view key, bool required) {
    if (error_) return nullptr;
    const auto found = object_.find(key);
    if (found == object_.end() || found->is_null()) {
        if (required) fail(key, "is required");
        return nullptr;
    }
    return &*found;
}

std::int64_t JsonReader::integer(std::string_view key, std::int64_t min, std::int64_t max,
                                 std::optional<std::int64_t> fallback) {
    const nlohmann::json* value = member(key, !fallback);
    if (!value) return fallback.value_or(0);
    // Unsigned values above int64 and floats with a fraction are both refused here.
    if (!value->is_number_integer() || (value->is_number_unsigned() &&
                                        value->get<std::uint64_t>() > static_cast<std::uint64_t>(max))) {
        fail(key, "must be a whole number between " + std::to_string(min) + " and " +
                      std::to_string(max));
        return 0;
    }
    const std::int64_t number = value->get<std::int64_t>();
    if (number < min || number > max) {
        fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                      " (got " + std::to_string(number) + ")");
        return 0;
    }
    return number;
}

std::optional<std::int64_t> to_hundredths(const nlohmann::json& value) {
    if (value.is_number_integer()) {
        if (value.is_number_unsigned() && value.get<std::uint64_t>() > 1'000'000'000ULL)
            return std::nullopt;
        const std::int64_t whole = value.get<std::int64_t>();
        if (whole > 1'000'000'000 || whole < -1'000'000'000) return std::nullopt;
        return whole * 100;
    }
    if (!value.is_number_float()) return std::nullopt;
    const double number = value.get<double>();
    if (!std::isfinite(number) || std::fabs(number) > 1e9) return std::nullopt;
    const double scaled = number * 100.0;
    const double rounded = std::round(scaled);
    // JSON "1.15" arrives as 1.149999...; accept binary noise, refuse a third decimal place.
    if (std::fabs(scaled - rounded) > 1e-6) return std::nullopt;
    return static_cast<std::int64_t>(rounded);
}

std::int64_t JsonReader::hundredths(std::string_view key, std::int64_t min, std::int64_t max,
                                    std::optional<std::int64_t> fallback) {
    const nlohmann::json* value = member(key, !fallback);
    if (!value) return fallback.value_or(0);
    const auto number = to_hundredths(*value);
    if (!number || *number < min || *number > max) {
        fail(key, "must be a number with at most two decimals between " + format_cents(min) +
                      " and " + format_cents(max));
        return 0;
    }
    return *number;
}

std::string JsonReader::text(std::string_view key, std::size_t max_length,
                             std::optional<std::string> fallback) {
    const nlohmann::json* value = member(key, !fallback);
    if (!value) return fallback.value_or("");
    if (!value->is_string()) {
        fail(key, "must be a string");
        return {};
    }
    std::string text = value->get<std::string>();
    if (text.size() > max_length) {
        fail(key, "is longer than " + std::to_string(max_length) + " characters");
        return {};
    }
    return text;
}

bool JsonReader::boolean(std::string_view key, bool fallback) {
    const nlohmann::json* value = member(key, false);
    if (!value) return fallback;
    if (!value->is_boolean()) {
        fail(key, "must be true or false");
        return fallback;
    }
    return value->get<bool>();
}

const nlohmann::json* JsonReader::object(std::string_view key) {
    const nlohmann::json* value = member(key, false);
    if (value && !value->is_object()) {
        fail(key, "must be a JSON object");
        return nullptr;
    }
    return value;
}

const nlohmann::json* JsonReader::array(std::string_view key) {
    const nlohmann::json* value = member(key, false);
    if (value && !value->is_array()) {
        fail(key, "must be a JSON array");
        return nullptr;
    }
    return value;
}

std::vector<std::string> JsonReader::strings(std::string_view key, std::size_t max_items,
                                            std::size_t max_length) {
    std::vector<std::string> values;
    const nlohmann::json* list = array(key);
    if (!list) return values;
    if (list->size() > max_items) {
        fail(key, "must have at most " + std::to_string(max_items) + " items");
        return values;
    }
    for (std::size_t i = 0; i < list->size(); ++i) {
        const nlohmann::json& item = (*list)[i];
        const std::string item_key = std::string(key) + "[" + std::to_string(i) + "]";
        if (!item.is_string() || item.get_ref<const std::string&>().empty() ||
            item.get_ref<const std::string&>().size() > max_length) {
            fail(item_key, "must be a string of 1 to " + std::to_string(max_length) + " characters");
            return {};
        }
        values.push_back(item.get<std::string>());
    }
    return values;
}

void JsonReader::only(std::initializer_list<std::string_view> known) {
    if (error_) return;
    for (const auto& item : object_.items()) {
        bool listed = false;
        for (const auto name : known) listed = listed || item.key() == name;
        if (!listed) {
            // An empty key would give an error that names no field: show it as "".
            fail(item.key().empty() ? std::string_view("\"\"") : std::string_view(item.key()),
                 "is not a known field");
            return;
        }
    }
}

}  // namespace loyalty
