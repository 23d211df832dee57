// Fuzzes the rules loader (parse_rules_text, the file loyaltyd and loyalty-hq read at start).
//
// What must hold: any text is either refused with an error naming a field, or accepted; an
// accepted rule set written back as JSON parses again to the same rule set.
#include "loyalty/rules.hpp"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const auto rules = loyalty::parse_rules_text(text);
    if (!rules) {
        if (rules.error().message.empty()) std::abort();
        return 0;
    }
    const nlohmann::json written = loyalty::rules_to_json(*rules);
    const auto again = loyalty::parse_rules(written);
    if (!again || loyalty::rules_to_json(*again) != written) std::abort();
    return 0;
}
