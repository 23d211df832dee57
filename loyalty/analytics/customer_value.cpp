#include "loyalty/customer_value.hpp"

#include <algorithm>
#include <cmath>

namespace loyalty::analytics {

std::string_view to_string(ValueTier tier) {
    static constexpr std::string_view names[] = {"high_value", "regular", "potential"};
    return names[static_cast<int>(tier)];
}
std::string_view to_string(SpendingPower power) {
    static constexpr std::string_view names[] = {"none", "low", "medium", "high"};
    return names[static_cast<int>(power)];
}
std::string_view to_string(Lifecycle stage) {
    static constexpr std::string_view names[] = {"never_purchased", "new", "active",
                                                  "at_risk", "lapsed", "churned"};
    return names[static_cast<int>(stage)];
}
std::string_view to_string(FrequencyClass frequency) {
    static constexpr std::string_view names[] = {"none", "high", "low"};
    return names[static_cast<int>(frequency)];
}
std::string_view to_string(BasketSize size) {
    static constexpr std::string_view names[] = {"none", "small", "medium", "large"};
    return names[static_cast<int>(size)];
}

std::int64_t percentile_value(std::vector<std::int64_t>& values, double percentile) {
    if (values.empty()) return 0;
    const auto rank = static_cast<std::size_t>(std::ceil(percentile * static_cast<double>(values.size())));
    const auto position = values.begin() + static_cast<std::ptrdiff_t>(std::clamp<std::size_t>(rank, 1, values.size()) - 1);
    std::nth_element(values.begin(), position, values.end());
    return *position;
}

namespace {

struct Thresholds {
    std::int64_t high_value = 0;
    std::int64_t potential = 0;
    std::int64_t power_low = 0;
    std::int64_t power_high = 0;
};

std::int64_t average_purchase_cents(const MemberActivity& member) {
    return member.window_spend_cents / member.window_purchase_days;
}

Thresholds compute_thresholds(const ActivityTable& activity, const CustomerValueConfig& config) {
    std::vector<std::int64_t> spend, average;
    for (const MemberActivity& member : activity.members) {
        if (member.window_purchase_days == 0) continue;
        spend.push_back(member.window_spend_cents);
        average.push_back(average_purchase_cents(member));
    }
    Thresholds thresholds;
    thresholds.high_value = percentile_value(spend, config.high_value_percentile);
    thresholds.potential = percentile_value(spend, config.potential_percentile);
    thresholds.power_low = percentile_value(average, config.spending_power_low_below);
    thresholds.power_high = percentile_value(average, config.spending_power_high_from);
    return thresholds;
}

Lifecycle lifecycle_of(const MemberActivity& member, DayNumber as_of, const CustomerValueConfig& config) {
    if (member.purchase_days == 0) return Lifecycle::never_purchased;
    if (as_of - member.first_day < config.new_days) return Lifecycle::new_member;
    const std::int32_t recency = as_of - member.last_day;
    if (recency <= config.active_max_recency) return Lifecycle::active;
    if (recency <= config.at_risk_max_recency) return Lifecycle::at_risk;
    if (recency <= config.lapsed_max_recency) return Lifecycle::lapsed;
    return Lifecycle::churned;
}

ValueTier value_tier_of(const MemberActivity& member, Lifecycle lifecycle, const Thresholds& thresholds) {
    if (member.purchase_days == 0) return ValueTier::potential;
    if (member.window_purchase_days > 0 && member.window_spend_cents >= thresholds.high_value) {
        return ValueTier::high_value;
    }
    const bool growing = lifecycle == Lifecycle::new_member ||
                         member.recent_spend_cents > member.earlier_spend_cents;
    return growing && member.window_spend_cents < thresholds.potential ? ValueTier::potential
                                                                        : ValueTier::regular;
}

SpendingPower spending_power_of(const MemberActivity& member, const Thresholds& thresholds) {
    if (member.window_purchase_days == 0) return SpendingPower::none;
    const std::int64_t average = average_purchase_cents(member);
    if (average < thresholds.power_low) return SpendingPower::low;
    return average >= thresholds.power_high ? SpendingPower::high : SpendingPower::medium;
}

void describe_habits(const MemberActivity& member, const CustomerValueConfig& config,
                     CustomerProfile& profile) {
    if (member.purchase_days >= 2) {
        profile.mean_gap_days = static_cast<double>(member.last_day - member.first_day) /
                                static_cast<double>(member.purchase_days - 1);
        profile.frequency_class = profile.mean_gap_days <= config.high_frequency_max_gap_days
                                      ? FrequencyClass::high
                                      : FrequencyClass::low;
    }
    if (member.window_purchase_days == 0) return;
    if (member.window_spend_cents > 0) {
        profile.discount_share = static_cast<double>(member.discounted_spend_cents) /
                                 static_cast<double>(member.window_spend_cents);
    }
    const double items = static_cast<double>(member.window_items) / member.window_purchase_days;
    profile.basket_size = items <= config.small_basket_max_items   ? BasketSize::small
                          : items >= config.large_basket_min_items ? BasketSize::large
                                                                   : BasketSize::medium;
}

}  // namespace

std::vector<CustomerProfile> profile_customers(const ActivityTable& activity, DayNumber as_of,
                                               const CustomerValueConfig& config) {
    const Thresholds thresholds = compute_thresholds(activity, config);
    std::vector<CustomerProfile> profiles(activity.members.size());
    for (std::size_t i = 0; i < profiles.size(); ++i) {
        const MemberActivity& member = activity.members[i];
        CustomerProfile& profile = profiles[i];
        profile.lifecycle = lifecycle_of(member, as_of, config);
        profile.value_tier = value_tier_of(member, profile.lifecycle, thresholds);
        profile.spending_power = spending_power_of(member, thresholds);
        describe_habits(member, config, profile);
    }
    return profiles;
}

std::string preference_tags(const MemberActivity& member, const CustomerProfile& profile,
                            const PurchaseHistory& names, const CustomerValueConfig& config) {
    std::string tags;
    const auto add = [&](std::string_view prefix, std::string_view value) {
        if (!tags.empty()) tags += ';';
        tags += prefix;
        tags += value;
    };
    for (std::size_t i = 0; i < max_top_categories; ++i) {
        if (member.top_categories[i] == no_index ||
            member.top_category_shares[i] < config.top_category_min_share) {
            break;
        }
        add("category:", names.categories.name(member.top_categories[i]));
    }
    if (profile.discount_share >= config.price_sensitive_min_share) add("price_sensitive", "");
    if (profile.basket_size != BasketSize::none) add("basket:", to_string(profile.basket_size));
    if (member.preferred_store != no_index) add("store:", names.stores.name(member.preferred_store));
    return tags;
}

}  // namespace loyalty::analytics
