// Purchases, returns and voids as requests from the POS and the answers the till gives.
// Field names are the public API contract of loyaltyd; add fields, never rename them.
//
// Answers round-trip through JSON because an idempotent replay returns the stored answer of
// the first request, byte for byte.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loyalty/basket.hpp"
#include "loyalty/member.hpp"
#include "loyalty/offer.hpp"
#include "loyalty/result.hpp"
#include "loyalty/rules.hpp"

namespace loyalty {

constexpr std::size_t max_operation_id_length = 64;

struct PurchaseRequest {
    std::string txn_id;  // the POS's idempotency key for this sale
    MemberRef member;    // "member_id" or "card" (or "phone")
    std::vector<BasketLine> lines;
    Points redeem_points = 0;
};

struct ReturnLineRequest {
    std::string sku;
    std::int64_t quantity = 0;
};

struct ReturnRequest {
    std::string return_id;        // idempotency key for this return
    std::string original_txn_id;  // the purchase being returned
    std::vector<ReturnLineRequest> lines;  // empty: the whole purchase
};

// Parse and validate request bodies; errors name the field ("lines[0].unit_price_cents").
Result<PurchaseRequest> parse_purchase_request(const nlohmann::json& body);
// A quote is a purchase request without txn_id, and the member is optional.
Result<PurchaseRequest> parse_quote_request(const nlohmann::json& body);
Result<ReturnRequest> parse_return_request(const nlohmann::json& body);
Result<MemberRef> parse_member_ref(const nlohmann::json& body);

struct LineResult {
    int line = 0;  // 0-based position in the request
    std::string sku;
    std::string category;
    std::int64_t quantity = 0;
    Cents net_cents = 0;
    Points points = 0;
};

struct PurchaseResult {
    std::string txn_id;
    std::string member_id;
    Cents net_cents = 0;             // basket after line discounts
    Cents eligible_cents = 0;        // of which may earn (excluded categories removed)
    Cents redeemed_cents = 0;        // paid with points
    Cents amount_due_cents = 0;      // left to pay by other tenders
    Points points_earned = 0;
    Points points_redeemed = 0;
    Points points_capped = 0;        // earned above an earning cap, not credited
    bool minimum_spend_met = true;
    std::int64_t rule_version = 0;
    std::string tier;                // the tier the purchase earned at
    std::string tier_after;          // the tier after the purchase (upgrades are immediate)
    Points points = 0;               // spendable balance after
    Points points_pending = 0;       // locked balance after
    std::string points_available_from;  // when this purchase's points unlock (ISO date)
    Cents offer_discount_cents = 0;     // taken off net_cents by offers (already deducted)
    std::vector<AppliedOffer> offers;   // the offers that applied, and what each gave
    std::vector<OfferDecision> offer_decisions;  // every offer of the member, and why (not)
    std::vector<LineResult> lines;
    std::vector<std::string> entry_ids;
    std::string created_at;
};

// What a basket would do, computed without writing anything.
struct Quote {
    std::string member_id;  // empty for a basket without a member
    Cents net_cents = 0;
    Cents eligible_cents = 0;
    Cents redeemed_cents = 0;
    Cents amount_due_cents = 0;
    Points points_earned = 0;
    Points points_redeemed = 0;
    Points points_capped = 0;
    bool minimum_spend_met = true;
    Points max_redeemable_points = 0;  // the most the member could pay with on this basket
    Points points = 0;                 // spendable balance now
    std::string tier;
    std::int64_t rule_version = 0;
    Cents offer_discount_cents = 0;
    std::vector<AppliedOffer> offers;
    std::vector<OfferDecision> offer_decisions;
    std::vector<LineResult> lines;
};

struct ReturnResult {
    std::string return_id;
    std::string original_txn_id;
    std::string member_id;
    Cents refund_cents = 0;       // net value of the returned goods
    Cents refund_due_cents = 0;   // of which the customer gets back in money (points part excluded)
    Points points_reversed = 0;   // earned points taken back
    Points points_refunded = 0;   // redeemed points given back
    Points points_shortfall = 0;  // reversed points the member had already spent (now owed)
    std::vector<LineResult> lines;
    Points points = 0;            // spendable balance after
    Points points_pending = 0;
    std::string tier_after;
    std::vector<std::string> entry_ids;
    std::string created_at;
};

struct VoidResult {
    std::string txn_id;
    std::string member_id;
    Points points_reversed = 0;
    Points points_refunded = 0;
    Points points_shortfall = 0;
    Points points = 0;
    Points points_pending = 0;
    std::string tier_after;
    std::vector<std::string> entry_ids;
    std::string created_at;
};

// An idempotent operation's answer: the first answer, and whether this call was a replay.
template <class T>
struct Recorded {
    T result;
    bool replayed = false;
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(LineResult, line, sku, category, quantity, net_cents, points)
// With defaults: an answer stored before a field existed still replays.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(PurchaseResult, txn_id, member_id, net_cents,
                                                eligible_cents, redeemed_cents, amount_due_cents,
                                                points_earned, points_redeemed, points_capped,
                                                minimum_spend_met, rule_version, tier, tier_after,
                                                points, points_pending, points_available_from,
                                                offer_discount_cents, offers, offer_decisions,
                                                lines, entry_ids, created_at)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Quote, member_id, net_cents, eligible_cents, redeemed_cents,
                                   amount_due_cents, points_earned, points_redeemed,
                                   points_capped, minimum_spend_met, max_redeemable_points,
                                   points, tier, rule_version, offer_discount_cents, offers,
                                   offer_decisions, lines)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ReturnResult, return_id, original_txn_id, member_id,
                                   refund_cents, refund_due_cents, points_reversed,
                                   points_refunded, points_shortfall, lines, points,
                                   points_pending, tier_after, entry_ids, created_at)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(VoidResult, txn_id, member_id, points_reversed,
                                   points_refunded, points_shortfall, points, points_pending,
                                   tier_after, entry_ids, created_at)

}  // namespace loyalty
