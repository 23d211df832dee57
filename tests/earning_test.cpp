#include "loyalty/earning.hpp"

#include <numeric>
#include <random>

#include <catch2/catch.hpp>

#include "support/core_fixture.hpp"

using namespace loyalty;
using loyalty::testing::line;
using loyalty::testing::rules_with;
using nlohmann::json;

namespace {

Points sum_of_lines(const Earning& earning) {
    Points total = 0;
    for (const LineEarning& l : earning.lines) total += l.points;
    return total;
}

}  // namespace

TEST_CASE("allocate_proportionally shares exactly by largest remainder") {
    CHECK(allocate_proportionally(10, {1, 1, 1}) == std::vector<std::int64_t>{4, 3, 3});
    CHECK(allocate_proportionally(2, {1, 1, 1}) == std::vector<std::int64_t>{1, 1, 0});
    CHECK(allocate_proportionally(7, {0, 5, 0}) == std::vector<std::int64_t>{0, 7, 0});
    CHECK(allocate_proportionally(5, {0, 0}) == std::vector<std::int64_t>{0, 0});
    CHECK(allocate_proportionally(100, {1, 2}) == std::vector<std::int64_t>{33, 67});
    std::mt19937_64 random(7);
    for (int round = 0; round < 500; ++round) {
        std::vector<WideInt> weights(1 + random() % 8);
        for (auto& w : weights) w = static_cast<WideInt>(random() % 1'000'000);
        const std::int64_t total = static_cast<std::int64_t>(random() % 1'000'000'000);
        const auto parts = allocate_proportionally(total, weights);
        const WideInt weight_sum = std::accumulate(weights.begin(), weights.end(), WideInt{0});
        if (weight_sum == 0) continue;
        CHECK(std::accumulate(parts.begin(), parts.end(), std::int64_t{0}) == total);
        for (std::size_t i = 0; i < parts.size(); ++i) {
            // Each part is within one of its exact share.
            const WideInt exact_floor = static_cast<WideInt>(total) * weights[i] / weight_sum;
            CHECK(parts[i] >= exact_floor);
            CHECK(parts[i] <= exact_floor + 1);
        }
    }
}

TEST_CASE("points follow base rate, category and tier multipliers, rounded once per basket") {
    const std::vector<BasketLine> fresh = {line("apple", "fresh", 1, 1099)};
    const json doubled = {{"earn", {{"category_multipliers", {{"fresh", 2}}}}}};
    SECTION("floor, nearest and ceil of 21.98") {
        CHECK(compute_earning(rules_with(doubled), 0, fresh, 0, -1).points == 21);
        json nearest = doubled;
        nearest["earn"]["rounding"] = "nearest";
        CHECK(compute_earning(rules_with(nearest), 0, fresh, 0, -1).points == 22);
        json ceil = doubled;
        ceil["earn"]["rounding"] = "ceil";
        CHECK(compute_earning(rules_with(ceil), 0, fresh, 0, -1).points == 22);
    }
    SECTION("nearest rounds a half up and a little less down") {
        json nearest = {{"earn", {{"rounding", "nearest"}}}};
        CHECK(compute_earning(rules_with(nearest), 0, {line("a", "x", 1, 250)}, 0, -1).points == 3);
        CHECK(compute_earning(rules_with(nearest), 0, {line("a", "x", 1, 249)}, 0, -1).points == 2);
    }
    SECTION("the tier multiplier applies on top of the category") {
        // Silver is 1.5: 10.99 * 2 * 1.5 = 32.97.
        CHECK(compute_earning(rules_with(doubled), 1, fresh, 0, -1).points == 32);
        CHECK(compute_earning(rules_with(doubled), 2, fresh, 0, -1).points == 43);
    }
    SECTION("rounding happens once for the basket, not per line") {
        const std::vector<BasketLine> three = {line("a", "x", 1, 99), line("b", "x", 1, 99),
                                               line("c", "x", 1, 99)};
        const Earning earning = compute_earning(rules_with(), 0, three, 0, -1);
        CHECK(earning.points == 2);  // floor(2.97), where per-line floors would give 0
        CHECK(sum_of_lines(earning) == 2);
    }
    SECTION("fractional base rates and quantity with discount") {
        // 2.5 points per unit; 3 x 4.00 - 1.00 = 11.00 -> 27.5 -> 27.
        const RuleSet rules = rules_with({{"earn", {{"points_per_unit", 2.5}}}});
        const Earning earning = compute_earning(rules, 0, {line("a", "x", 3, 400, 100)}, 0, -1);
        CHECK(earning.net_cents == 1100);
        CHECK(earning.points == 27);
    }
}

TEST_CASE("excluded categories earn nothing and do not count toward the minimum spend") {
    const RuleSet rules = rules_with(
        {{"earn", {{"excluded_categories", {"tobacco", "gift_cards"}}, {"minimum_spend_cents", 500}}}});
    const Earning below = compute_earning(
        rules, 0, {line("cig", "tobacco", 1, 10000), line("gum", "sweets", 1, 499)}, 0, -1);
    CHECK(below.net_cents == 10499);
    CHECK(below.eligible_cents == 499);
    CHECK_FALSE(below.minimum_spend_met);
    CHECK(below.points == 0);
    CHECK(sum_of_lines(below) == 0);

    const Earning met = compute_earning(
        rules, 0, {line("cig", "tobacco", 1, 10000), line("gum", "sweets", 1, 500)}, 0, -1);
    CHECK(met.minimum_spend_met);
    CHECK(met.points == 5);
    CHECK(met.lines[0].points == 0);
    CHECK(met.lines[1].points == 5);
}

TEST_CASE("the part of a basket paid with points earns nothing") {
    const std::vector<BasketLine> lines = {line("a", "x", 1, 1000), line("b", "x", 1, 1000)};
    const Earning earning = compute_earning(rules_with(), 0, lines, 500, -1);
    CHECK(earning.lines[0].paid_by_points + earning.lines[1].paid_by_points == 500);
    CHECK(earning.points == 15);
    CHECK(compute_earning(rules_with(), 0, lines, 2000, -1).points == 0);
}

TEST_CASE("cap headroom cuts the points and the lines still add up") {
    const std::vector<BasketLine> lines = {line("a", "x", 1, 1000), line("b", "y", 1, 1000)};
    const Earning capped = compute_earning(rules_with(), 0, lines, 0, 7);
    CHECK(capped.points_before_cap == 20);
    CHECK(capped.points == 7);
    CHECK(sum_of_lines(capped) == 7);
    CHECK(compute_earning(rules_with(), 0, lines, 0, 0).points == 0);
    CHECK(compute_earning(rules_with(), 0, lines, 0, 100).points == 20);
}

TEST_CASE("line points always add up to the basket total and never go negative") {
    std::mt19937_64 random(42);
    const char* categories[] = {"fresh", "tobacco", "toys", "misc"};
    for (const char* rounding : {"floor", "nearest", "ceil"}) {
        const RuleSet rules = rules_with(
            {{"earn", {{"rounding", rounding}, {"points_per_unit", 1.37},
                       {"category_multipliers", {{"fresh", 2.5}, {"toys", 0.33}}},
                       {"excluded_categories", {"tobacco"}}}}});
        for (int round = 0; round < 300; ++round) {
            std::vector<BasketLine> lines;
            const int count = 1 + static_cast<int>(random() % 6);
            for (int i = 0; i < count; ++i) {
                const auto quantity = static_cast<std::int64_t>(1 + random() % 5);
                const auto price = static_cast<Cents>(random() % 20000);
                lines.push_back(line("s" + std::to_string(i), categories[random() % 4], quantity,
                                     price, price * quantity > 0 ? static_cast<Cents>(random() % (price * quantity)) : 0));
            }
            const Earning earning = compute_earning(rules, static_cast<int>(random() % 3), lines, 0, -1);
            CHECK(sum_of_lines(earning) == earning.points);
            for (std::size_t i = 0; i < lines.size(); ++i) {
                CHECK(earning.lines[i].points >= 0);
                if (lines[i].category == "tobacco") CHECK(earning.lines[i].points == 0);
            }
        }
    }
}

TEST_CASE("the largest basket stays exact in 128-bit arithmetic") {
    const RuleSet rules = rules_with(json::parse(R"({
        "earn": {"points_per_unit": 100, "category_multipliers": {"x": 20}},
        "tiers": {"levels": [{"name": "Top", "multiplier": 10}]}})"));
    // 1000 lines of 10,000 x 1000.00: the largest basket, 1e10 currency units, at 100 * 20 * 10
    // points each.
    std::vector<BasketLine> lines(max_basket_lines, line("big", "x", 10'000, 100'000));
    Cents total = 0;
    for (const BasketLine& l : lines) total += l.net_cents();
    REQUIRE(total == max_basket_net_cents);
    const Earning earning = compute_earning(rules, 0, lines, 0, -1);
    CHECK(earning.points == 200'000'000'000'000);
    CHECK(sum_of_lines(earning) == earning.points);
}

TEST_CASE("price_redemption: whole cents, minimum, basket share and balance") {
    const RuleSet plain = rules_with();
    CHECK(price_redemption(plain, 0, 1000, 0).value().points == 0);
    auto negative = price_redemption(plain, -1, 1000, 10);
    REQUIRE_FALSE(negative.ok());
    CHECK(negative.error().field == "redeem_points");

    const RedemptionValue value = price_redemption(plain, 250, 1000, 250).value();
    CHECK(value.points == 250);
    CHECK(value.cents == 250);

    SECTION("points that would pay a fraction of a cent") {
        const RuleSet thirds = rules_with({{"redemption", {{"points_per_unit", 300}}}});
        auto fraction = price_redemption(thirds, 4, 1000, 100);
        REQUIRE_FALSE(fraction.ok());
        CHECK(fraction.error().kind == ErrorKind::invalid);
        CHECK(fraction.error().field == "redeem_points");
        CHECK(price_redemption(thirds, 3, 1000, 100).value().cents == 1);
    }
    SECTION("below the minimum") {
        const RuleSet minimum = rules_with({{"redemption", {{"minimum_points", 100}}}});
        auto small = price_redemption(minimum, 99, 1000, 500);
        REQUIRE_FALSE(small.ok());
        CHECK(small.error().kind == ErrorKind::refused);
        CHECK(small.error().code == "below_minimum_redemption");
        CHECK(price_redemption(minimum, 100, 1000, 500).ok());
    }
    SECTION("above the basket share") {
        const RuleSet half = rules_with({{"redemption", {{"max_basket_share_percent", 50}}}});
        auto big = price_redemption(half, 501, 1000, 5000);
        REQUIRE_FALSE(big.ok());
        CHECK(big.error().code == "redemption_above_basket_share");
        CHECK(price_redemption(half, 500, 1000, 5000).ok());
        // Points never pay more than the basket, even at 100%.
        CHECK_FALSE(price_redemption(plain, 1001, 1000, 5000).ok());
    }
    SECTION("more than spendable") {
        auto broke = price_redemption(plain, 500, 1000, 499);
        REQUIRE_FALSE(broke.ok());
        CHECK(broke.error().kind == ErrorKind::refused);
        CHECK(broke.error().code == "insufficient_points");
    }
}

TEST_CASE("cumulative_share: partial returns add up exactly to the whole") {
    CHECK(cumulative_share(10, 1, 3) == 3);
    CHECK(cumulative_share(10, 2, 3) == 6);
    CHECK(cumulative_share(10, 3, 3) == 10);
    std::mt19937_64 random(3);
    for (int round = 0; round < 300; ++round) {
        const std::int64_t amount = static_cast<std::int64_t>(random() % 100'000);
        const std::int64_t whole = 1 + static_cast<std::int64_t>(random() % 50);
        std::int64_t done = 0, given = 0;
        while (done < whole) {
            const std::int64_t step = 1 + static_cast<std::int64_t>(random() % (whole - done));
            const std::int64_t part = cumulative_share(amount, done + step, whole) -
                                      cumulative_share(amount, done, whole);
            CHECK(part >= 0);
            given += part;
            done += step;
        }
        CHECK(given == amount);
    }
}
