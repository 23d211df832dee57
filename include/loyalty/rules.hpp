// The programme's rules as data: how purchases earn points, how points pay, when they lock and
// expire, and the tiers. Loaded from JSON and validated as a whole; every error names the JSON
// path of the offending field. A RuleSet is immutable once loaded and carries a version that
// each ledger entry records, so any entry can be explained later.
//
// Multipliers and rates are decimals with at most two places ("1.5"), held as hundredths so
// that no floating point ever touches points or money.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "loyalty/result.hpp"

namespace loyalty {

using Cents = std::int64_t;
using Points = std::int64_t;
using Hundredths = std::int64_t;  // 150 means 1.5

// 12345 -> "123.45", -5 -> "-0.05" (also for hundredths: 150 -> "1.50").
std::string format_cents(Cents cents);

enum class Rounding { floor, nearest, ceil };

struct EarnRules {
    Hundredths points_per_unit = 100;  // base points per currency unit of eligible spend
    Rounding rounding = Rounding::floor;
    Cents minimum_spend_cents = 0;     // below this a basket earns nothing
    std::map<std::string, Hundredths> category_multipliers;
    std::set<std::string> excluded_categories;  // e.g. gift cards, tobacco: never earn
    int lock_days = 0;       // points become spendable after the return period
    int expiry_months = 0;   // 0: points never expire
    Points cap_per_day = 0;  // 0: no cap
    Points cap_per_week = 0;
    Points cap_per_month = 0;
};

struct RedemptionRules {
    Points points_per_unit = 100;     // points that pay one currency unit
    Points minimum_points = 0;        // smallest redemption accepted
    int max_basket_share_percent = 100;  // points may pay at most this share of a basket
};

struct TierLevel {
    std::string name;
    Cents min_spend_cents = 0;   // qualifying spend in the window; 0: no spend criterion
    std::int64_t min_purchases = 0;  // purchases in the window; 0: no visit criterion
    Hundredths multiplier = 100;
};

struct TierRules {
    int window_days = 365;
    int downgrade_grace_days = 30;
    std::vector<TierLevel> levels;  // lowest first; the first is the entry tier, always met
};

struct RuleSet {
    std::int64_t version = 0;
    Cents unit_cents = 100;  // minor units in one currency unit
    EarnRules earn;
    RedemptionRules redemption;
    TierRules tiers;

    // Index of the tier with this name, or -1.
    int tier_index(const std::string& name) const;
    // The multiplier for a category; 0 if excluded.
    Hundredths category_multiplier(const std::string& category) const;
};

Result<RuleSet> parse_rules(const nlohmann::json& document);
Result<RuleSet> parse_rules_text(const std::string& text);
nlohmann::json rules_to_json(const RuleSet& rules);

// The rules in `path`, or the built-in demo rules when `path` is empty. Errors name
// "rules_file" and say what was wrong (unreadable file, or the rule's own JSON path).
Result<RuleSet> load_rules_file(const std::string& path);

// A small, sensible programme used by the demo and as the loyaltyd default.
const std::string& default_rules_text();

}  // namespace loyalty
