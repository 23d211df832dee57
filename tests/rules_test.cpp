#include "loyalty/rules.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/core_fixture.hpp"

using namespace loyalty;
using nlohmann::json;

namespace {

// Parses the plain test programme with `patch` merged in and returns the error's field.
std::string refused_field(const json& patch) {
    json document = testing::plain_rules_json();
    document.merge_patch(patch);
    auto rules = parse_rules(document);
    if (rules.ok()) return "(accepted)";
    CHECK(rules.error().kind == ErrorKind::invalid);
    CHECK_FALSE(rules.error().message.empty());
    return rules.error().field;
}

}  // namespace

TEST_CASE("the default rules load with decimals held as exact hundredths") {
    auto rules = parse_rules_text(default_rules_text());
    REQUIRE(rules.ok());
    CHECK(rules->version == 1);
    CHECK(rules->earn.points_per_unit == 100);
    CHECK(rules->earn.category_multipliers.at("fresh") == 200);
    CHECK(rules->earn.category_multipliers.at("electronics") == 50);
    CHECK(rules->category_multiplier("tobacco") == 0);
    CHECK(rules->category_multiplier("gift_cards") == 0);
    CHECK(rules->category_multiplier("anything else") == 100);
    CHECK(rules->earn.cap_per_day == 5000);
    CHECK(rules->earn.expiry_months == 24);
    CHECK(rules->redemption.minimum_points == 100);
    REQUIRE(rules->tiers.levels.size() == 3);
    CHECK(rules->tiers.levels[1].multiplier == 125);
    CHECK(rules->tier_index("Gold") == 2);
    CHECK(rules->tier_index("Platinum") == -1);
}

TEST_CASE("decimals such as 1.15 are read exactly and a third decimal place is refused") {
    json patch = {{"earn", {{"category_multipliers", {{"a", 1.15}, {"b", 0.07}, {"c", 2}}}}}};
    const RuleSet rules = testing::rules_with(patch);
    CHECK(rules.earn.category_multipliers.at("a") == 115);
    CHECK(rules.earn.category_multipliers.at("b") == 7);
    CHECK(rules.earn.category_multipliers.at("c") == 200);
    CHECK(refused_field({{"earn", {{"category_multipliers", {{"toys", 1.234}}}}}}) ==
          "earn.category_multipliers.toys");
}

TEST_CASE("rules round-trip through rules_to_json unchanged") {
    const RuleSet original = parse_rules_text(default_rules_text()).value();
    const json written = rules_to_json(original);
    auto again = parse_rules(written);
    REQUIRE(again.ok());
    CHECK(rules_to_json(again.value()) == written);
    CHECK(again->earn.category_multipliers == original.earn.category_multipliers);
    CHECK(again->earn.excluded_categories == original.earn.excluded_categories);
    CHECK(again->tiers.levels[2].multiplier == 150);
}

TEST_CASE("every rule error names the JSON path of the field at fault") {
    CHECK(refused_field({{"earn", {{"category_multipliers", {{"toys", -1}}}}}}) ==
          "earn.category_multipliers.toys");
    CHECK(refused_field({{"earn", {{"category_multipliers", {{"toys", "two"}}}}}}) ==
          "earn.category_multipliers.toys");
    CHECK(refused_field({{"earn", {{"category_multipliers", {{"toys", 21}}}}}}) ==
          "earn.category_multipliers.toys");
    CHECK(refused_field({{"earn", {{"rounding", "banker"}}}}) == "earn.rounding");
    CHECK(refused_field({{"earn", {{"points_per_unit", -1}}}}) == "earn.points_per_unit");
    CHECK(refused_field({{"earn", {{"lock_days", 1.5}}}}) == "earn.lock_days");
    CHECK(refused_field({{"earn", {{"excluded_categories", {"tobacco", 7}}}}}) ==
          "earn.excluded_categories[1]");
    CHECK(refused_field({{"earn", {{"excluded_categories", "tobacco"}}}}) ==
          "earn.excluded_categories");
    CHECK(refused_field({{"redemption", {{"points_per_unit", 0}}}}) == "redemption.points_per_unit");
    CHECK(refused_field({{"redemption", {{"max_basket_share_percent", 101}}}}) ==
          "redemption.max_basket_share_percent");
    CHECK(refused_field({{"version", 0}}) == "version");
    CHECK(refused_field({{"version", nullptr}}) == "version");
    CHECK(refused_field({{"earn", "lots"}}) == "earn");
}

TEST_CASE("tier levels must rise, be named once and have a threshold") {
    json levels = testing::plain_rules_json()["tiers"]["levels"];
    SECTION("a level above the entry tier without thresholds") {
        levels[1].erase("min_spend_cents");
        levels[1].erase("min_purchases");
        CHECK(refused_field({{"tiers", {{"levels", levels}}}}) == "tiers.levels[1]");
    }
    SECTION("thresholds that fall") {
        levels[2]["min_spend_cents"] = 100;
        CHECK(refused_field({{"tiers", {{"levels", levels}}}}) == "tiers.levels[2]");
    }
    SECTION("a repeated name") {
        levels[2]["name"] = "Bronze";
        CHECK(refused_field({{"tiers", {{"levels", levels}}}}) == "tiers.levels[2].name");
    }
    SECTION("a bad multiplier inside a level") {
        levels[1]["multiplier"] = 11;
        CHECK(refused_field({{"tiers", {{"levels", levels}}}}) == "tiers.levels[1].multiplier");
    }
    SECTION("an unknown field inside a level") {
        levels[1]["colour"] = "silver";
        CHECK(refused_field({{"tiers", {{"levels", levels}}}}) == "tiers.levels[1].colour");
    }
    SECTION("no levels at all") {
        CHECK(refused_field({{"tiers", {{"levels", json::array()}}}}) == "tiers.levels");
    }
}

TEST_CASE("unknown rule fields are refused, not ignored") {
    CHECK(refused_field({{"bonus", 1}}) == "bonus");
    CHECK(refused_field({{"earn", {{"points_per_unti", 2}}}}) == "earn.points_per_unti");
    CHECK(refused_field({{"redemption", {{"minimum", 5}}}}) == "redemption.minimum");
    CHECK(refused_field({{"tiers", {{"grace_days", 5}}}}) == "tiers.grace_days");
    // A misspelt "levels" must not silently leave the programme with one tier.
    json document = testing::plain_rules_json();
    document["tiers"] = {{"window_days", 30}, {"levelz", document["tiers"]["levels"]}};
    auto rules = parse_rules(document);
    REQUIRE_FALSE(rules.ok());
    CHECK(rules.error().field == "tiers.levelz");
}

TEST_CASE("numbers outside int64 or the bounds are refused with their field") {
    CHECK(refused_field({{"earn", {{"cap_per_day", 1e30}}}}) == "earn.cap_per_day");
    CHECK(refused_field({{"earn", {{"cap_per_day", std::numeric_limits<std::uint64_t>::max()}}}}) ==
          "earn.cap_per_day");
    CHECK(refused_field({{"earn", {{"minimum_spend_cents", std::numeric_limits<std::int64_t>::min()}}}}) ==
          "earn.minimum_spend_cents");
    CHECK(refused_field({{"version", std::uint64_t{1} << 63}}) == "version");
    CHECK(refused_field({{"earn", {{"points_per_unit", 1e300}}}}) == "earn.points_per_unit");
    CHECK(refused_field({{"unit_cents", 0}}) == "unit_cents");
}

TEST_CASE("required sections and malformed documents are refused") {
    json document = testing::plain_rules_json();
    document.erase("redemption");
    auto missing = parse_rules(document);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().field == "redemption");

    auto malformed = parse_rules_text("{\"version\": 1,");
    REQUIRE_FALSE(malformed.ok());
    CHECK(malformed.error().field == "rules");

    auto not_object = parse_rules_text("[1, 2]");
    REQUIRE_FALSE(not_object.ok());
}

TEST_CASE("format_cents writes money without floating point") {
    CHECK(format_cents(12345) == "123.45");
    CHECK(format_cents(5) == "0.05");
    CHECK(format_cents(-5) == "-0.05");
    CHECK(format_cents(0) == "0.00");
    CHECK(format_cents(std::numeric_limits<std::int64_t>::min()) == "-92233720368547758.08");
}
