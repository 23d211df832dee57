#include "loyalty/tier.hpp"

#include <algorithm>

namespace loyalty {

namespace {

bool meets(const TierLevel& level, const TierStanding& standing) {
    const bool by_spend = level.min_spend_cents > 0 && standing.spend_cents >= level.min_spend_cents;
    const bool by_visits = level.min_purchases > 0 && standing.purchases >= level.min_purchases;
    return by_spend || by_visits;
}

std::string describe(const TierStanding& standing) {
    return "qualifying spend " + format_cents(standing.spend_cents) + " and " +
           std::to_string(standing.purchases) + " purchases in the window";
}

}  // namespace

int qualified_tier(const TierRules& rules, const TierStanding& standing) {
    int level = 0;
    for (std::size_t i = 1; i < rules.levels.size(); ++i) {
        if (meets(rules.levels[i], standing)) level = static_cast<int>(i);
    }
    return level;
}

TierDecision decide_tier(const TierRules& rules, int current, int qualified,
                         std::optional<Timestamp> downgrade_pending_since, Timestamp now) {
    if (qualified > current)
        return {qualified, std::nullopt, "upgrade: qualified for " + rules.levels[qualified].name};
    if (qualified == current) return {current, std::nullopt, ""};
    if (!downgrade_pending_since) return {current, now, ""};  // the grace period starts now
    const Timestamp grace = rules.downgrade_grace_days * seconds_per_day;
    if (now - *downgrade_pending_since < grace) return {current, downgrade_pending_since, ""};
    return {qualified, std::nullopt,
            "downgrade: below " + rules.levels[current].name + " since " +
                format_date(*downgrade_pending_since) + ", grace period of " +
                std::to_string(rules.downgrade_grace_days) + " days over"};
}

TierProgress tier_progress(const RuleSet& rules, int current, const TierStanding& standing) {
    TierProgress progress;
    const auto next = static_cast<std::size_t>(current) + 1;
    if (next >= rules.tiers.levels.size()) {
        progress.message = "top tier reached";
        return progress;
    }
    const TierLevel& level = rules.tiers.levels[next];
    progress.next_tier = level.name;
    std::vector<std::string> ways;
    if (level.min_spend_cents > 0) {
        progress.spend_needed_cents = std::max<Cents>(0, level.min_spend_cents - standing.spend_cents);
        ways.push_back("spend " + format_cents(progress.spend_needed_cents) + " more");
    }
    if (level.min_purchases > 0) {
        progress.purchases_needed = std::max<std::int64_t>(0, level.min_purchases - standing.purchases);
        ways.push_back("make " + std::to_string(progress.purchases_needed) + " more purchases");
    }
    progress.message = ways.size() == 2 ? ways[0] + " or " + ways[1] : ways.front();
    progress.message += " for " + level.name + " (" + describe(standing) + ")";
    return progress;
}

}  // namespace loyalty
