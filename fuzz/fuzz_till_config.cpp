// Fuzzes loyaltyd's configuration file parser (pos/till_config.cpp).
//
// What must hold: any text is refused with an error naming a field, or gives a configuration
// within the documented bounds.
#include "till_config.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const auto config = loyalty::pos::parse_till_config(text);
    if (!config) {
        if (config.error().field.empty() || config.error().message.empty()) std::abort();
        return 0;
    }
    if (config->till_id.empty() || config->body_limit_bytes < 1024 ||
        config->header_timeout.count() < 100 || config->maintenance_interval_seconds < 1)
        std::abort();
    return 0;
}
