// Personalised offers: what head office defines for a campaign, and the pure arithmetic of
// applying them to a basket. No storage, no clock: the till, head office and the quote all
// call apply_offers, so a basket gets the same offers wherever it is priced.
//
// Field names are the public contract (head office's campaign API, the sync feed, loyaltyd's
// quote and purchase answers); add fields, never rename them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "loyalty/basket.hpp"
#include "loyalty/clock.hpp"
#include "loyalty/earning.hpp"
#include "loyalty/result.hpp"
#include "loyalty/rules.hpp"

namespace loyalty {

enum class OfferKind {
    points_multiplier,  // qualifying lines earn multiplier_percent / 100 times their points
    bonus_points,       // bonus_points once qualifying spend reaches min_spend_cents
    amount_discount,    // discount_cents off the qualifying lines (at most their value)
    percent_discount,   // discount_percent off the qualifying lines
    tier_challenge,     // bonus_points when qualifying spend since valid_from reaches
                        // min_spend_cents; the member's progress is shown until then
};

std::string to_string(OfferKind kind);
std::optional<OfferKind> offer_kind_from_string(const std::string& text);

enum class OfferStatus { active, paused, ended };
std::string to_string(OfferStatus status);

struct Offer {
    std::string offer_id;     // unique chain-wide, chosen by head office ("C12-O1")
    std::string campaign_id;  // empty for an offer outside a campaign
    OfferKind kind = OfferKind::bonus_points;
    std::string title;        // what the cashier and the member read: "3x points on coffee"
    Timestamp valid_from = 0;
    Timestamp valid_until = 0;  // exclusive
    std::int64_t uses_per_member = 1;
    // The lines an offer looks at: those of these categories or skus; both empty: every line.
    std::vector<std::string> categories;
    std::vector<std::string> skus;
    bool stackable = true;  // false: applies only alone (the till picks the better choice)
    std::int64_t multiplier_percent = 100;
    Points bonus_points = 0;
    Cents min_spend_cents = 0;
    Cents discount_cents = 0;
    std::int64_t discount_percent = 0;
    std::string target_tier;  // tier_challenge: the tier the spend leads to (for the message)
    // Chain-wide budget: points it may give / cents it may take off; 0 means no budget. Tills
    // check what they know; head office sees every use and ends an offer whose budget is spent.
    Points budget_points = 0;
    Cents budget_cents = 0;
    OfferStatus status = OfferStatus::active;

    bool live_at(Timestamp now) const {
        return status == OfferStatus::active && valid_from <= now && now < valid_until;
    }
};

// Validates an offer as head office's API and the sync feed carry it; errors name the field
// ("offer.discount_percent").
Result<Offer> parse_offer(const nlohmann::json& body);
void to_json(nlohmann::json& out, const Offer& offer);

// Offers and their assignments travel in the sync feed as events of this origin, which no
// till id can take (till ids have no ':'). Types: "offer" {"offer": {...}} and
// "offer_assignment" {"offer_id", "member_ids": [...], "assigned": true|false}.
inline constexpr std::string_view offers_origin = "HQ:offers";

// What the till knows about one of the member's offers when pricing a basket.
struct OfferStanding {
    Offer offer;
    std::int64_t uses = 0;           // by this member, not voided
    Points budget_points_used = 0;   // chain-wide, as far as this node knows
    Cents budget_cents_used = 0;
    Cents challenge_spend_cents = 0;  // tier_challenge: qualifying spend since valid_from
};

// One of a member's current offers, as the till and head office show it.
struct MemberOffer {
    Offer offer;
    std::int64_t uses_left = 0;
    std::string message;  // "3x points on coffee, until 2026-11-30"; a challenge's progress
};
MemberOffer member_offer(const OfferStanding& standing);
void to_json(nlohmann::json& out, const MemberOffer& offer);

// One use of an offer, as a node records it. operation_id is "<node>/<txn_id>".
struct OfferUse {
    std::string operation_id;
    std::string offer_id;
    std::string member_id;
    Points points = 0;
    Cents discount_cents = 0;
    Timestamp used_at = 0;
    bool voided = false;  // the sale was voided: the use no longer counts
};
void to_json(nlohmann::json& out, const OfferUse& use);

// A member who used an offer more often than it allows, which two offline tills can cause.
struct OfferOveruse {
    std::string offer_id;
    std::string member_id;
    std::int64_t uses = 0;
    std::int64_t limit = 0;
};

// An offer that applied to a basket, and what it gave.
struct AppliedOffer {
    std::string offer_id;
    std::string campaign_id;
    std::string kind;
    std::string title;
    Points points = 0;          // extra points (on top of the rules' points)
    Cents discount_cents = 0;   // taken off the basket
};

// Why an offer did or did not apply: "applied", "no_qualifying_items", "min_spend_not_met",
// "used_up", "budget_spent", "not_combinable" (a better choice excluded it), "challenge_progress".
struct OfferDecision {
    std::string offer_id;
    std::string title;
    bool applied = false;
    std::string reason;
    std::string message;  // for the cashier: "spend 12.50 more on coffee for 200 bonus points"
};

// The basket with its offers: the rules' earning on the discounted lines, plus offer points.
struct OfferedEarning {
    std::vector<BasketLine> lines;  // discount_cents includes the offers' discounts
    Earning earning;                // lines' points include offer points; total too
    Cents offer_discount_cents = 0;
    Points offer_points = 0;
    std::vector<AppliedOffer> applied;
    std::vector<OfferDecision> decisions;  // one per offer given, in the order given
};

// Everything apply_offers needs besides the offers: how the basket is priced without them.
struct PricingInputs {
    const RuleSet& rules;
    int tier_index = 0;
    Points spendable = 0;
    Points requested_redemption = 0;
    Points cap_headroom = -1;
};

// Picks the best allowed set of offers for the customer (every stackable offer that applies,
// or one non-stackable offer alone: whichever is worth more, points valued at the redemption
// rate), and prices the basket with it. The redemption is checked against the discounted
// basket, so its errors are those of price_redemption.
Result<OfferedEarning> apply_offers(const PricingInputs& inputs, const std::vector<BasketLine>& lines,
                                    const std::vector<OfferStanding>& offers, RedemptionValue* redemption);

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(AppliedOffer, offer_id, campaign_id, kind, title, points,
                                   discount_cents)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(OfferDecision, offer_id, title, applied, reason, message)

}  // namespace loyalty
