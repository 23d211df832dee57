#include "loyalty/basket.hpp"

#include <limits>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace loyalty;
using nlohmann::json;

namespace {

json good_line() {
    return {{"sku", "A1"}, {"category", "food"}, {"quantity", 2}, {"unit_price_cents", 250}};
}

// Parses one good line and `bad` as the second; returns the refused field.
std::string refused_field(const json& bad) {
    auto parsed = parse_basket_lines(json::array({good_line(), bad}));
    if (parsed.ok()) return "(accepted)";
    CHECK(parsed.error().kind == ErrorKind::invalid);
    return parsed.error().field;
}

json with(const char* key, json value) {
    json line = good_line();
    line[key] = std::move(value);
    return line;
}

}  // namespace

TEST_CASE("a valid basket parses with its discounts") {
    json lines = json::array({good_line(), with("discount_cents", 100)});
    auto parsed = parse_basket_lines(lines);
    REQUIRE(parsed.ok());
    REQUIRE(parsed->size() == 2);
    CHECK((*parsed)[0].net_cents() == 500);
    CHECK((*parsed)[1].net_cents() == 400);
    json written = (*parsed)[1];
    CHECK(written["discount_cents"] == 100);
}

TEST_CASE("quantities must be positive and bounded") {
    CHECK(refused_field(with("quantity", 0)) == "lines[1].quantity");
    CHECK(refused_field(with("quantity", -3)) == "lines[1].quantity");
    CHECK(refused_field(with("quantity", 2.5)) == "lines[1].quantity");
    CHECK(refused_field(with("quantity", "2")) == "lines[1].quantity");
    CHECK(refused_field(with("quantity", max_line_quantity + 1)) == "lines[1].quantity");
    CHECK(refused_field(with("quantity", max_line_quantity)) == "(accepted)");
}

TEST_CASE("prices and discounts are bounded so that no product overflows") {
    CHECK(refused_field(with("unit_price_cents", -1)) == "lines[1].unit_price_cents");
    CHECK(refused_field(with("unit_price_cents", max_unit_price_cents + 1)) ==
          "lines[1].unit_price_cents");
    CHECK(refused_field(with("unit_price_cents", std::numeric_limits<std::int64_t>::max())) ==
          "lines[1].unit_price_cents");
    CHECK(refused_field(with("unit_price_cents", std::numeric_limits<std::uint64_t>::max())) ==
          "lines[1].unit_price_cents");
    CHECK(refused_field(with("unit_price_cents", 1e19)) == "lines[1].unit_price_cents");
    CHECK(refused_field(with("unit_price_cents", std::numeric_limits<std::int64_t>::min())) ==
          "lines[1].unit_price_cents");
    CHECK(refused_field(with("discount_cents", 501)) == "lines[1].discount_cents");
    CHECK(refused_field(with("discount_cents", -1)) == "lines[1].discount_cents");
    CHECK(refused_field(with("discount_cents", 500)) == "(accepted)");  // a free line
}

TEST_CASE("sku and category are required, non-empty and short") {
    json no_sku = good_line();
    no_sku.erase("sku");
    CHECK(refused_field(no_sku) == "lines[1].sku");
    CHECK(refused_field(with("sku", "")) == "lines[1].sku");
    CHECK(refused_field(with("category", "")) == "lines[1].category");
    CHECK(refused_field(with("category", std::string(max_text_length + 1, 'c'))) ==
          "lines[1].category");
    CHECK(refused_field(json::array({1, 2})) == "lines[1]");
}

TEST_CASE("the basket itself must be a non-empty, bounded array") {
    CHECK(parse_basket_lines(json::object()).error().field == "lines");
    CHECK(parse_basket_lines(json::array()).error().field == "lines");
    json many = json::array();
    for (std::size_t i = 0; i <= max_basket_lines; ++i) many.push_back(good_line());
    CHECK(parse_basket_lines(many).error().field == "lines");
    // Every line at its bounds still may not push the basket past its total.
    json huge = json::array();
    for (int i = 0; i < 200; ++i)
        huge.push_back({{"sku", "X"}, {"category", "c"}, {"quantity", max_line_quantity},
                        {"unit_price_cents", max_unit_price_cents}});
    auto refused = parse_basket_lines(huge);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().field == "lines");
}
