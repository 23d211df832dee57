#include "loyalty/rules.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "loyalty/basket.hpp"
#include "loyalty/json_reader.hpp"

namespace loyalty {

namespace {

using nlohmann::json;

// Bounds chosen so that basket points stay exact in 128-bit arithmetic (see earning.cpp).
constexpr Hundredths max_points_per_unit = 100 * 100;    // 100 points per currency unit
constexpr Hundredths max_category_multiplier = 20 * 100;
constexpr Hundredths max_tier_multiplier = 10 * 100;
constexpr Cents max_threshold_cents = 1'000'000'000'000;
constexpr Points max_cap_points = 1'000'000'000;

std::optional<Rounding> rounding_from_string(const std::string& text) {
    if (text == "floor") return Rounding::floor;
    if (text == "nearest") return Rounding::nearest;
    if (text == "ceil") return Rounding::ceil;
    return std::nullopt;
}

std::string to_string(Rounding rounding) {
    switch (rounding) {
        case Rounding::floor: return "floor";
        case Rounding::nearest: return "nearest";
        case Rounding::ceil: return "ceil";
    }
    return "floor";
}

// Reads {"name": multiplier, ...}; each multiplier names its own path on error.
std::map<std::string, Hundredths> read_multipliers(JsonReader& parent, std::string_view key) {
    std::map<std::string, Hundredths> multipliers;
    const json* object = parent.object(key);
    if (!object) return multipliers;
    JsonReader reader(*object, parent.path(key));
    for (const auto& item : object->items())
        multipliers[item.key()] = reader.hundredths(item.key(), 0, max_category_multiplier);
    parent.adopt(reader);
    return multipliers;
}

EarnRules read_earn(JsonReader& reader) {
    EarnRules earn;
    earn.points_per_unit = reader.hundredths("points_per_unit", 0, max_points_per_unit);
    const std::string rounding = reader.text("rounding", 16, "floor");
    if (reader.ok()) {
        if (const auto parsed = rounding_from_string(rounding)) earn.rounding = *parsed;
        else reader.fail("rounding", "must be \"floor\", \"nearest\" or \"ceil\"");
    }
    earn.minimum_spend_cents = reader.integer("minimum_spend_cents", 0, max_threshold_cents, 0);
    earn.lock_days = static_cast<int>(reader.integer("lock_days", 0, 365, 0));
    earn.expiry_months = static_cast<int>(reader.integer("expiry_months", 0, 120, 0));
    earn.cap_per_day = reader.integer("cap_per_day", 0, max_cap_points, 0);
    earn.cap_per_week = reader.integer("cap_per_week", 0, max_cap_points, 0);
    earn.cap_per_month = reader.integer("cap_per_month", 0, max_cap_points, 0);
    const auto excluded = reader.strings("excluded_categories", max_basket_lines, max_text_length);
    earn.excluded_categories = {excluded.begin(), excluded.end()};
    earn.category_multipliers = read_multipliers(reader, "category_multipliers");
    reader.only({"points_per_unit", "rounding", "minimum_spend_cents", "lock_days",
                 "expiry_months", "cap_per_day", "cap_per_week", "cap_per_month",
                 "excluded_categories", "category_multipliers"});
    return earn;
}

RedemptionRules read_redemption(JsonReader& reader) {
    RedemptionRules redemption;
    redemption.points_per_unit = reader.integer("points_per_unit", 1, 1'000'000);
    redemption.minimum_points = reader.integer("minimum_points", 0, max_cap_points, 0);
    redemption.max_basket_share_percent =
        static_cast<int>(reader.integer("max_basket_share_percent", 0, 100, 100));
    reader.only({"points_per_unit", "minimum_points", "max_basket_share_percent"});
    return redemption;
}

TierLevel read_level(JsonReader& parent, const json& item, const std::string& key) {
    JsonReader reader(item, parent.path(key));
    TierLevel level;
    level.name = reader.text("name", 32);
    if (reader.ok() && level.name.empty()) reader.fail("name", "must not be empty");
    level.min_spend_cents = reader.integer("min_spend_cents", 0, max_threshold_cents, 0);
    level.min_purchases = reader.integer("min_purchases", 0, 1'000'000, 0);
    level.multiplier = reader.hundredths("multiplier", 0, max_tier_multiplier, 100);
    reader.only({"name", "min_spend_cents", "min_purchases", "multiplier"});
    parent.adopt(reader);
    return level;
}

// Levels must be listed lowest first, with unique names and rising thresholds, so that
// "the highest level met" is well defined.
void check_level_order(JsonReader& reader, const std::vector<TierLevel>& levels) {
    if (levels.empty()) {
        reader.fail("levels", "must list at least the entry tier");
        return;
    }
    for (std::size_t i = 1; i < levels.size(); ++i) {
        const std::string key = "levels[" + std::to_string(i) + "]";
        const TierLevel& lower = levels[i - 1];
        const TierLevel& level = levels[i];
        for (std::size_t j = 0; j < i; ++j) {
            if (levels[j].name == level.name) reader.fail(key + ".name", "repeats a tier name");
        }
        if (level.min_spend_cents == 0 && level.min_purchases == 0)
            reader.fail(key, "needs min_spend_cents or min_purchases: only the first tier is free");
        if (level.min_spend_cents < lower.min_spend_cents ||
            level.min_purchases < lower.min_purchases)
            reader.fail(key, "must not have lower thresholds than the tier before it");
    }
}

TierRules read_tiers(JsonReader& reader) {
    TierRules tiers;
    tiers.window_days = static_cast<int>(reader.integer("window_days", 1, 3660, 365));
    tiers.downgrade_grace_days =
        static_cast<int>(reader.integer("downgrade_grace_days", 0, 3660, 30));
    // Checked before the levels: a misspelt "levels" must not leave a one-tier programme.
    reader.only({"window_days", "downgrade_grace_days", "levels"});
    const json* levels = reader.array("levels");
    if (!reader.ok()) return tiers;
    if (!levels) {
        tiers.levels.push_back({"Member", 0, 0, 100});
        return tiers;
    }
    for (std::size_t i = 0; i < levels->size() && reader.ok(); ++i)
        tiers.levels.push_back(read_level(reader, (*levels)[i], "levels[" + std::to_string(i) + "]"));
    if (!reader.ok()) return tiers;
    check_level_order(reader, tiers.levels);
    return tiers;
}

// Runs `read` on the object at `key`, passing up the inner error (it names the deeper path).
template <class T, class Read>
T read_section(JsonReader& root, std::string_view key, Read read) {
    static const json empty = json::object();
    const json* object = root.object(key);
    JsonReader reader(object ? *object : empty, std::string(key));
    T section = read(reader);
    root.adopt(reader);
    return section;
}

}  // namespace

std::string format_cents(Cents cents) {
    const bool negative = cents < 0;
    const std::uint64_t magnitude =
        negative ? 0 - static_cast<std::uint64_t>(cents) : static_cast<std::uint64_t>(cents);
    std::string fraction = std::to_string(magnitude % 100);
    if (fraction.size() < 2) fraction.insert(0, "0");
    return (negative ? "-" : "") + std::to_string(magnitude / 100) + "." + fraction;
}

int RuleSet::tier_index(const std::string& name) const {
    for (std::size_t i = 0; i < tiers.levels.size(); ++i) {
        if (tiers.levels[i].name == name) return static_cast<int>(i);
    }
    return -1;
}

Hundredths RuleSet::category_multiplier(const std::string& category) const {
    if (earn.excluded_categories.count(category)) return 0;
    const auto found = earn.category_multipliers.find(category);
    return found == earn.category_multipliers.end() ? 100 : found->second;
}

Result<RuleSet> parse_rules(const json& document) {
    JsonReader root(document, "");
    RuleSet rules;
    rules.version = root.integer("version", 1, std::numeric_limits<std::int32_t>::max());
    rules.unit_cents = root.integer("unit_cents", 1, 10'000, 100);
    root.only({"version", "unit_cents", "earn", "redemption", "tiers"});
    if (!root.ok()) return root.error();
    if (!document.contains("earn")) return invalid("earn", "earn is required");
    if (!document.contains("redemption")) return invalid("redemption", "redemption is required");
    rules.earn = read_section<EarnRules>(root, "earn", read_earn);
    rules.redemption = read_section<RedemptionRules>(root, "redemption", read_redemption);
    rules.tiers = read_section<TierRules>(root, "tiers", read_tiers);
    if (!root.ok()) return root.error();
    return rules;
}

Result<RuleSet> parse_rules_text(const std::string& text) {
    const json document = json::parse(text, nullptr, false);
    if (document.is_discarded())
        return Error{ErrorKind::invalid, "malformed_json", "the rules are not valid JSON", "rules"};
    return parse_rules(document);
}

json rules_to_json(const RuleSet& rules) {
    json levels = json::array();
    for (const TierLevel& level : rules.tiers.levels) {
        levels.push_back({{"name", level.name},
                          {"min_spend_cents", level.min_spend_cents},
                          {"min_purchases", level.min_purchases},
                          {"multiplier", level.multiplier / 100.0}});
    }
    json multipliers = json::object();
    for (const auto& [category, multiplier] : rules.earn.category_multipliers)
        multipliers[category] = multiplier / 100.0;
    return {{"version", rules.version},
            {"unit_cents", rules.unit_cents},
            {"earn",
             {{"points_per_unit", rules.earn.points_per_unit / 100.0},
              {"rounding", to_string(rules.earn.rounding)},
              {"minimum_spend_cents", rules.earn.minimum_spend_cents},
              {"lock_days", rules.earn.lock_days},
              {"expiry_months", rules.earn.expiry_months},
              {"cap_per_day", rules.earn.cap_per_day},
              {"cap_per_week", rules.earn.cap_per_week},
              {"cap_per_month", rules.earn.cap_per_month},
              {"excluded_categories", rules.earn.excluded_categories},
              {"category_multipliers", multipliers}}},
            {"redemption",
             {{"points_per_unit", rules.redemption.points_per_unit},
              {"minimum_points", rules.redemption.minimum_points},
              {"max_basket_share_percent", rules.redemption.max_basket_share_percent}}},
            {"tiers",
             {{"window_days", rules.tiers.window_days},
              {"downgrade_grace_days", rules.tiers.downgrade_grace_days},
              {"levels", levels}}}};
}

Result<RuleSet> load_rules_file(const std::string& path) {
    if (path.empty()) return parse_rules_text(default_rules_text());
    std::ifstream in(path);
    if (!in) return invalid("rules_file", "rules_file: cannot read " + path);
    std::ostringstream content;
    content << in.rdbuf();
    auto rules = parse_rules_text(content.str());
    if (!rules) {
        Error error = rules.error();
        error.message = "rules_file " + path + ": " + error.message;
        return error;
    }
    return rules;
}

const std::string& default_rules_text() {
    static const std::string text = R"({
  "version": 1,
  "unit_cents": 100,
  "earn": {
    "points_per_unit": 1,
    "rounding": "floor",
    "minimum_spend_cents": 100,
    "category_multipliers": {"fresh": 2, "electronics": 0.5},
    "excluded_categories": ["gift_cards", "tobacco"],
    "lock_days": 0,
    "expiry_months": 24,
    "cap_per_day": 5000
  },
  "redemption": {"points_per_unit": 100, "minimum_points": 100, "max_basket_share_percent": 50},
  "tiers": {
    "window_days": 365,
    "downgrade_grace_days": 30,
    "levels": [
      {"name": "Bronze", "multiplier": 1},
      {"name": "Silver", "min_spend_cents": 50000, "min_purchases": 12, "multiplier": 1.25},
      {"name": "Gold", "min_spend_cents": 200000, "min_purchases": 40, "multiplier": 1.5}
    ]
  }
})";
    return text;
}

}  // namespace loyalty
