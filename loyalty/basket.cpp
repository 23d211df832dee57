#include "loyalty/basket.hpp"

#include <nlohmann/json.hpp>

#include "loyalty/json_reader.hpp"

namespace loyalty {

namespace {

BasketLine read_line(JsonReader& reader) {
    BasketLine line;
    line.sku = reader.text("sku", max_text_length);
    line.category = reader.text("category", max_text_length);
    line.quantity = reader.integer("quantity", 1, max_line_quantity);
    line.unit_price_cents = reader.integer("unit_price_cents", 0, max_unit_price_cents);
    if (!reader.ok()) return line;
    if (line.sku.empty()) reader.fail("sku", "must not be empty");
    if (line.category.empty()) reader.fail("category", "must not be empty");
    line.discount_cents =
        reader.integer("discount_cents", 0, line.quantity * line.unit_price_cents, 0);
    return line;
}

}  // namespace

Result<std::vector<BasketLine>> parse_basket_lines(const nlohmann::json& lines,
                                                   const std::string& field) {
    if (!lines.is_array()) return invalid(field, field + " must be a JSON array of basket lines");
    if (lines.empty()) return invalid(field, field + " must hold at least one line");
    if (lines.size() > max_basket_lines)
        return invalid(field, field + " holds more than " + std::to_string(max_basket_lines) +
                                  " lines");
    std::vector<BasketLine> parsed;
    parsed.reserve(lines.size());
    Cents total = 0;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        JsonReader reader(lines[i], field + "[" + std::to_string(i) + "]");
        parsed.push_back(read_line(reader));
        if (!reader.ok()) return reader.error();
        total += parsed.back().net_cents();
    }
    if (total > max_basket_net_cents)
        return invalid(field, "the basket total exceeds " + format_cents(max_basket_net_cents));
    return parsed;
}

void to_json(nlohmann::json& out, const BasketLine& line) {
    out = {{"sku", line.sku},
           {"category", line.category},
           {"quantity", line.quantity},
           {"unit_price_cents", line.unit_price_cents},
           {"discount_cents", line.discount_cents}};
}

}  // namespace loyalty
