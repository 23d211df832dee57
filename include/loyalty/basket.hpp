// What a customer buys, as the POS sends it. Validation here is the single gate between the
// outside world and the ledger: quantities, prices and discounts are bounded so that no
// product of them can overflow 64 bits.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "loyalty/result.hpp"
#include "loyalty/rules.hpp"

namespace loyalty {

// Bounds that keep every basket computation far inside int64 (and __int128 for points).
constexpr std::int64_t max_line_quantity = 100'000;
constexpr Cents max_unit_price_cents = 100'000'000;  // 1,000,000.00 per unit
constexpr std::size_t max_basket_lines = 1'000;
constexpr Cents max_basket_net_cents = 1'000'000'000'000;  // 10,000,000,000.00
constexpr std::size_t max_text_length = 128;

struct BasketLine {
    std::string sku;
    std::string category;
    std::int64_t quantity = 0;
    Cents unit_price_cents = 0;
    Cents discount_cents = 0;  // off the whole line

    Cents net_cents() const { return quantity * unit_price_cents - discount_cents; }
};

// Parses and validates `lines`; errors name the field, e.g. "lines[2].quantity".
Result<std::vector<BasketLine>> parse_basket_lines(const nlohmann::json& lines,
                                                   const std::string& field = "lines");

void to_json(nlohmann::json& out, const BasketLine& line);

}  // namespace loyalty
