// Descriptive per-member labels: value tier, spending power, lifecycle stage, purchase
// frequency class and preference tags, from the facts of member_activity.hpp.
//
// Percentile thresholds use the nearest-rank rule over members with a purchase in the window
// (threshold = sorted[ceil(p * n) - 1]), so they are exact values that some member holds.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "loyalty/member_activity.hpp"

namespace loyalty::analytics {

enum class ValueTier : std::uint8_t { high_value, regular, potential };
enum class SpendingPower : std::uint8_t { none, low, medium, high };
enum class Lifecycle : std::uint8_t { never_purchased, new_member, active, at_risk, lapsed, churned };
enum class FrequencyClass : std::uint8_t { none, high, low };  // none: fewer than 2 purchase days
enum class BasketSize : std::uint8_t { none, small, medium, large };

std::string_view to_string(ValueTier tier);
std::string_view to_string(SpendingPower power);
std::string_view to_string(Lifecycle stage);
std::string_view to_string(FrequencyClass frequency);
std::string_view to_string(BasketSize size);

struct CustomerValueConfig {
    // Value tier: window spend at or above this percentile is high value; below
    // potential_percentile with a growth signal (new, or recent spend above the period
    // before) is potential, as is every enrolled member who never purchased.
    double high_value_percentile = 0.80;
    double potential_percentile = 0.40;
    // Spending power from the average spend per purchase day in the window.
    double spending_power_low_below = 1.0 / 3.0;
    double spending_power_high_from = 2.0 / 3.0;
    // Lifecycle: new if the first purchase is younger than new_days; otherwise by recency.
    std::int32_t new_days = 90;
    std::int32_t active_max_recency = 90;
    std::int32_t at_risk_max_recency = 180;
    std::int32_t lapsed_max_recency = 365;  // beyond: churned
    double high_frequency_max_gap_days = 30.0;  // mean days between purchase days
    // Tags.
    float top_category_min_share = 0.20f;
    double price_sensitive_min_share = 0.30;  // share of window spend on discounted lines
    double small_basket_max_items = 3.0;      // average items per purchase day
    double large_basket_min_items = 10.0;
};

struct CustomerProfile {
    ValueTier value_tier = ValueTier::potential;
    SpendingPower spending_power = SpendingPower::none;
    Lifecycle lifecycle = Lifecycle::never_purchased;
    FrequencyClass frequency_class = FrequencyClass::none;
    double mean_gap_days = 0.0;   // between purchase days; 0 with fewer than 2
    double discount_share = 0.0;  // window spend on discounted lines / net window spend
    BasketSize basket_size = BasketSize::none;
};

// The nearest-rank percentile of values (which it reorders); 0 for no values.
std::int64_t percentile_value(std::vector<std::int64_t>& values, double percentile);

std::vector<CustomerProfile> profile_customers(const ActivityTable& activity, DayNumber as_of,
                                               const CustomerValueConfig& config);

// "category:Dairy;category:Bakery;price_sensitive;basket:large;store:North" - top categories
// with at least top_category_min_share of spend, price sensitivity, basket band, store.
std::string preference_tags(const MemberActivity& member, const CustomerProfile& profile,
                            const PurchaseHistory& names, const CustomerValueConfig& config);

}  // namespace loyalty::analytics
