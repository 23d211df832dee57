#include "loyalty/customer_value.hpp"

#include <catch2/catch.hpp>

using namespace loyalty::analytics;

namespace {

MemberActivity buyer(std::uint32_t days, DayNumber first, DayNumber last, std::int64_t window_spend) {
    MemberActivity member;
    member.purchase_days = days;
    member.first_day = first;
    member.last_day = last;
    member.window_purchase_days = days;
    member.window_spend_cents = window_spend;
    return member;
}

}  // namespace

TEST_CASE("Nearest-rank percentiles") {
    std::vector<std::int64_t> values = {5, 1, 4, 2, 3};
    CHECK(percentile_value(values, 0.8) == 4);
    CHECK(percentile_value(values, 0.0) == 1);
    CHECK(percentile_value(values, 1.0) == 5);
    std::vector<std::int64_t> none;
    CHECK(percentile_value(none, 0.5) == 0);
}

TEST_CASE("Value tier, spending power, lifecycle and frequency class from hand-made facts") {
    const DayNumber as_of = 1000;
    ActivityTable table;
    table.members = {
        buyer(10, 500, 990, 100'000),  // 0: big, active, buys every ~54 days
        buyer(20, 600, 980, 20'000),   // 1: regular, active, every 20 days
        buyer(1, 950, 950, 1'000),     // 2: new, low spend -> potential
        buyer(3, 100, 700, 5'000),     // 3: recency 300 -> lapsed
        buyer(2, 100, 200, 3'000),     // 4: recency 800 -> churned
        MemberActivity{},              // 5: enrolled, never purchased
    };
    table.members[3].window_purchase_days = 1;
    table.members[4].window_purchase_days = 1;
    table.members[1].recent_spend_cents = 100;  // growth, but spend too high for potential
    const auto profiles = profile_customers(table, as_of, CustomerValueConfig{});
    // Spend among the 5 buyers: 1000 3000 5000 20000 100000; P80 = 20000, P40 = 3000.
    CHECK(profiles[0].value_tier == ValueTier::high_value);
    CHECK(profiles[1].value_tier == ValueTier::high_value);
    CHECK(profiles[2].value_tier == ValueTier::potential);
    CHECK(profiles[3].value_tier == ValueTier::regular);
    CHECK(profiles[4].value_tier == ValueTier::regular);
    CHECK(profiles[5].value_tier == ValueTier::potential);

    CHECK(profiles[0].lifecycle == Lifecycle::active);
    CHECK(profiles[2].lifecycle == Lifecycle::new_member);
    CHECK(profiles[3].lifecycle == Lifecycle::lapsed);
    CHECK(profiles[4].lifecycle == Lifecycle::churned);
    CHECK(profiles[5].lifecycle == Lifecycle::never_purchased);

    // Average per purchase day: 10000 1000 1000 5000 3000; P33 = 1000, P67 = 5000.
    CHECK(profiles[0].spending_power == SpendingPower::high);
    CHECK(profiles[1].spending_power == SpendingPower::medium);
    CHECK(profiles[4].spending_power == SpendingPower::medium);
    CHECK(profiles[3].spending_power == SpendingPower::high);
    CHECK(profiles[5].spending_power == SpendingPower::none);

    CHECK(profiles[0].mean_gap_days == Approx(490.0 / 9.0));
    CHECK(profiles[0].frequency_class == FrequencyClass::low);
    CHECK(profiles[1].frequency_class == FrequencyClass::high);
    CHECK(profiles[2].frequency_class == FrequencyClass::none);
}

TEST_CASE("Preference tags name top categories, price sensitivity, basket band and store") {
    PurchaseHistory names;
    const Index dairy = names.categories.intern("Dairy");
    const Index bakery = names.categories.intern("Bakery");
    const Index south = names.stores.intern("South");
    MemberActivity member = buyer(2, 0, 20, 3000);
    member.discounted_spend_cents = 1000;
    member.window_items = 4;
    member.preferred_store = south;
    member.top_categories = {dairy, bakery, no_index};
    member.top_category_shares = {0.86f, 0.14f, 0.0f};
    ActivityTable table;
    table.members = {member};
    const CustomerValueConfig config;
    const auto profiles = profile_customers(table, 30, config);
    CHECK(profiles[0].discount_share == Approx(1.0 / 3.0));
    CHECK(profiles[0].basket_size == BasketSize::small);
    CHECK(preference_tags(member, profiles[0], names, config) ==
          "category:Dairy;price_sensitive;basket:small;store:South");
    CHECK(preference_tags(MemberActivity{}, CustomerProfile{}, names, config).empty());
}
