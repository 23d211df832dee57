// Pure arithmetic of earning and paying with points: no storage, no clock. The till, head
// office and the quote all call these, so a basket earns the same points wherever it is
// computed.
//
// Points are computed exactly as a fraction per line, rounded once for the basket by the
// rule's rounding, and the total is shared back to the lines by largest remainder. Line points
// therefore always add up to the basket total, and a return reverses exactly what its lines
// earned.
#pragma once

#include <cstdint>
#include <vector>

#include "loyalty/basket.hpp"
#include "loyalty/result.hpp"
#include "loyalty/rules.hpp"

namespace loyalty {

// 128-bit integers for exact intermediate products (a GCC/Clang extension, hence __extension__).
__extension__ typedef __int128 WideInt;

// Splits `total` across `weights` in proportion, by largest remainder (ties to the earlier
// index). The parts add up to `total` exactly. Weights must be non-negative.
std::vector<std::int64_t> allocate_proportionally(std::int64_t total,
                                                  const std::vector<WideInt>& weights);

struct RedemptionValue {
    Points points = 0;
    Cents cents = 0;
};

// Checks a redemption request against the rules and the basket: a whole number of cents,
// the minimum, the basket-share cap and the spendable balance. Errors name "redeem_points".
Result<RedemptionValue> price_redemption(const RuleSet& rules, Points requested, Cents basket_net,
                                         Points spendable);

struct LineEarning {
    Cents net_cents = 0;        // what the line costs after its discount
    Cents paid_by_points = 0;   // its share of the points tender
    Points points = 0;          // what it earns
};

struct Earning {
    std::vector<LineEarning> lines;
    Cents net_cents = 0;
    Cents eligible_cents = 0;   // net of excluded categories, before the points tender
    Points points = 0;          // after caps
    Points points_before_cap = 0;
    bool minimum_spend_met = true;
};

// What `lines` earn at `tier_index` when `redeemed_cents` of the basket is paid with points
// (that part earns nothing). `cap_headroom` is how many points the member may still earn in
// the capped periods (a negative value means no cap).
Earning compute_earning(const RuleSet& rules, int tier_index, const std::vector<BasketLine>& lines,
                        Cents redeemed_cents, Points cap_headroom);

// Cumulative share of a whole: after `done_part` of `whole_part` is returned, how much of
// `amount` has been given back in total. Exact at the end (all returned gives `amount`).
std::int64_t cumulative_share(std::int64_t amount, std::int64_t done_part, std::int64_t whole_part);

}  // namespace loyalty
