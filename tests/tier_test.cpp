#include "loyalty/tier.hpp"

#include <catch2/catch.hpp>

#include "support/core_fixture.hpp"

using namespace loyalty;

TEST_CASE("a level is met by spend or by purchases, whichever comes first") {
    const TierRules tiers = testing::rules_with().tiers;
    CHECK(qualified_tier(tiers, {0, 0}) == 0);
    CHECK(qualified_tier(tiers, {49'999, 9}) == 0);
    CHECK(qualified_tier(tiers, {50'000, 0}) == 1);
    CHECK(qualified_tier(tiers, {0, 10}) == 1);
    CHECK(qualified_tier(tiers, {199'999, 39}) == 1);
    CHECK(qualified_tier(tiers, {200'000, 0}) == 2);
    CHECK(qualified_tier(tiers, {0, 40}) == 2);
    CHECK(qualified_tier(tiers, {-5'000, -2}) == 0);
}

TEST_CASE("a level with one criterion is not met through the other") {
    const RuleSet rules = testing::rules_with(nlohmann::json::parse(
        R"({"tiers": {"levels": [{"name": "Base"}, {"name": "Visits", "min_purchases": 5}]}})"));
    CHECK(qualified_tier(rules.tiers, {1'000'000'000, 4}) == 0);
    CHECK(qualified_tier(rules.tiers, {0, 5}) == 1);
}

TEST_CASE("upgrades happen at once, downgrades only after the grace period") {
    const TierRules tiers = testing::rules_with().tiers;  // 30 days grace
    const Timestamp day0 = testing::test_start();
    const Timestamp day = seconds_per_day;

    const TierDecision up = decide_tier(tiers, 0, 2, std::nullopt, day0);
    CHECK(up.level == 2);
    CHECK_FALSE(up.downgrade_pending_since.has_value());
    CHECK(up.reason.find("upgrade") != std::string::npos);
    CHECK(up.reason.find("Gold") != std::string::npos);

    const TierDecision starts = decide_tier(tiers, 2, 0, std::nullopt, day0);
    CHECK(starts.level == 2);
    CHECK(starts.downgrade_pending_since == day0);
    CHECK(starts.reason.empty());

    const TierDecision waiting = decide_tier(tiers, 2, 0, day0, day0 + 30 * day - 1);
    CHECK(waiting.level == 2);
    CHECK(waiting.downgrade_pending_since == day0);

    const TierDecision down = decide_tier(tiers, 2, 1, day0, day0 + 30 * day);
    CHECK(down.level == 1);
    CHECK_FALSE(down.downgrade_pending_since.has_value());
    CHECK(down.reason.find("downgrade") != std::string::npos);

    // Qualifying again ends the grace period.
    const TierDecision back = decide_tier(tiers, 2, 2, day0, day0 + 10 * day);
    CHECK(back.level == 2);
    CHECK_FALSE(back.downgrade_pending_since.has_value());
    CHECK(back.reason.empty());
}

TEST_CASE("tier progress says what is missing for the next level") {
    const RuleSet rules = testing::rules_with();
    const TierProgress bronze = tier_progress(rules, 0, {12'345, 3});
    CHECK(bronze.next_tier == "Silver");
    CHECK(bronze.spend_needed_cents == 37'655);
    CHECK(bronze.purchases_needed == 7);
    CHECK(bronze.message.rfind("spend 376.55 more or make 7 more purchases for Silver", 0) == 0);

    const TierProgress silver = tier_progress(rules, 1, {80'000, 12});
    CHECK(silver.next_tier == "Gold");
    CHECK(silver.message.rfind("spend 1200.00 more or make 28 more purchases for Gold", 0) == 0);

    const TierProgress gold = tier_progress(rules, 2, {300'000, 50});
    CHECK(gold.next_tier.empty());
    CHECK(gold.spend_needed_cents == 0);
    CHECK(gold.message == "top tier reached");

    const RuleSet visits_only = testing::rules_with(nlohmann::json::parse(
        R"({"tiers": {"levels": [{"name": "Base"}, {"name": "Regular", "min_purchases": 5}]}})"));
    const TierProgress regular = tier_progress(visits_only, 0, {999'999, 2});
    CHECK(regular.message.rfind("make 3 more purchases for Regular", 0) == 0);
    CHECK(regular.spend_needed_cents == 0);
}
