// Tier arithmetic: which level a member's qualifying activity earns, when a downgrade takes
// effect and what is missing for the next level. Qualifying activity is spend net of returns
// and of the part paid with points, and purchase count, inside a rolling window; a tier never
// looks at the points balance.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "loyalty/clock.hpp"
#include "loyalty/rules.hpp"

namespace loyalty {

struct TierStanding {
    Cents spend_cents = 0;
    std::int64_t purchases = 0;
};

// Highest level whose spend or purchase criterion is met (a level may require either).
int qualified_tier(const TierRules& rules, const TierStanding& standing);

struct TierDecision {
    int level = 0;
    std::optional<Timestamp> downgrade_pending_since;
    std::string reason;  // empty when nothing changes
};

// Upgrades at once; a downgrade waits until the member has qualified lower for the grace
// period without a break.
TierDecision decide_tier(const TierRules& rules, int current, int qualified,
                         std::optional<Timestamp> downgrade_pending_since, Timestamp now);

struct TierProgress {
    std::string next_tier;         // empty at the top
    Cents spend_needed_cents = 0;  // 0 if the spend criterion is met or absent
    std::int64_t purchases_needed = 0;
    std::string message;           // "spend 123.45 more or make 3 more purchases for Gold"
};

TierProgress tier_progress(const RuleSet& rules, int current, const TierStanding& standing);

}  // namespace loyalty
