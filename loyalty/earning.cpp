#include "loyalty/earning.hpp"

#include <algorithm>
#include <numeric>

namespace loyalty {

namespace {

WideInt divide_rounded(WideInt numerator, WideInt denominator, Rounding rounding) {
    switch (rounding) {
        case Rounding::floor: return numerator / denominator;
        case Rounding::ceil: return (numerator + denominator - 1) / denominator;
        case Rounding::nearest: return (2 * numerator + denominator) / (2 * denominator);
    }
    return numerator / denominator;
}

}  // namespace

std::vector<std::int64_t> allocate_proportionally(std::int64_t total,
                                                  const std::vector<WideInt>& weights) {
    std::vector<std::int64_t> parts(weights.size(), 0);
    const WideInt weight_sum = std::accumulate(weights.begin(), weights.end(), WideInt{0});
    if (weight_sum == 0 || total == 0) return parts;
    std::vector<WideInt> remainders(weights.size());
    std::int64_t given = 0;
    for (std::size_t i = 0; i < weights.size(); ++i) {
        const WideInt share = static_cast<WideInt>(total) * weights[i];
        parts[i] = static_cast<std::int64_t>(share / weight_sum);
        remainders[i] = share % weight_sum;
        given += parts[i];
    }
    std::vector<std::size_t> order(weights.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return remainders[a] > remainders[b]; });
    for (std::size_t i = 0; given < total; ++i, ++given) ++parts[order[i % order.size()]];
    return parts;
}

Result<RedemptionValue> price_redemption(const RuleSet& rules, Points requested, Cents basket_net,
                                         Points spendable) {
    const RedemptionRules& redemption = rules.redemption;
    if (requested == 0) return RedemptionValue{};
    if (requested < 0) return invalid("redeem_points", "redeem_points must not be negative");
    const WideInt value = static_cast<WideInt>(requested) * rules.unit_cents;
    if (value % redemption.points_per_unit != 0)
        return invalid("redeem_points", "redeem_points must be a multiple of " +
                                            std::to_string(redemption.points_per_unit /
                                                           std::gcd(redemption.points_per_unit,
                                                                    rules.unit_cents)) +
                                            " so that it pays a whole number of cents");
    if (requested < redemption.minimum_points)
        return Error{ErrorKind::refused, "below_minimum_redemption",
                     "at least " + std::to_string(redemption.minimum_points) +
                         " points must be redeemed at once",
                     "redeem_points"};
    const WideInt cents = value / redemption.points_per_unit;
    if (cents * 100 > static_cast<WideInt>(basket_net) * redemption.max_basket_share_percent)
        return Error{ErrorKind::refused, "redemption_above_basket_share",
                     "points may pay at most " +
                         std::to_string(redemption.max_basket_share_percent) +
                         "% of this basket (" +
                         format_cents(basket_net * redemption.max_basket_share_percent / 100) + ")",
                     "redeem_points"};
    if (requested > spendable)
        return Error{ErrorKind::refused, "insufficient_points",
                     "the member has " + std::to_string(spendable) +
                         " spendable points, fewer than the " + std::to_string(requested) +
                         " asked for",
                     "redeem_points"};
    return RedemptionValue{requested, static_cast<Cents>(cents)};
}

Earning compute_earning(const RuleSet& rules, int tier_index, const std::vector<BasketLine>& lines,
                        Cents redeemed_cents, Points cap_headroom) {
    Earning earning;
    earning.lines.resize(lines.size());
    std::vector<WideInt> net(lines.size());
    for (std::size_t i = 0; i < lines.size(); ++i) {
        earning.lines[i].net_cents = lines[i].net_cents();
        net[i] = earning.lines[i].net_cents;
        earning.net_cents += earning.lines[i].net_cents;
        if (rules.category_multiplier(lines[i].category) > 0)
            earning.eligible_cents += earning.lines[i].net_cents;
    }
    // The points tender is spread over all lines by value; the part on a line earns nothing.
    const auto paid = allocate_proportionally(redeemed_cents, net);
    const Hundredths tier_multiplier =
        tier_index >= 0 ? rules.tiers.levels.at(static_cast<std::size_t>(tier_index)).multiplier
                        : 100;
    // Exact points scaled by unit_cents * 100^3. With the bounds of basket.hpp and rules.cpp a
    // basket's sum stays below 1e23 and total points below 1e15, so the products in
    // allocate_proportionally stay below 1e38, inside WideInt.
    std::vector<WideInt> exact(lines.size());
    for (std::size_t i = 0; i < lines.size(); ++i) {
        earning.lines[i].paid_by_points = paid[i];
        exact[i] = static_cast<WideInt>(earning.lines[i].net_cents - paid[i]) *
                   rules.earn.points_per_unit * rules.category_multiplier(lines[i].category) *
                   tier_multiplier;
    }
    earning.minimum_spend_met = earning.eligible_cents >= rules.earn.minimum_spend_cents;
    if (!earning.minimum_spend_met) return earning;
    const WideInt exact_sum = std::accumulate(exact.begin(), exact.end(), WideInt{0});
    const WideInt denominator = static_cast<WideInt>(rules.unit_cents) * 100 * 100 * 100;
    earning.points_before_cap =
        static_cast<Points>(divide_rounded(exact_sum, denominator, rules.earn.rounding));
    earning.points = cap_headroom < 0 ? earning.points_before_cap
                                      : std::min(earning.points_before_cap, cap_headroom);
    const auto line_points = allocate_proportionally(earning.points, exact);
    for (std::size_t i = 0; i < lines.size(); ++i) earning.lines[i].points = line_points[i];
    return earning;
}

std::int64_t cumulative_share(std::int64_t amount, std::int64_t done_part, std::int64_t whole_part) {
    if (whole_part <= 0 || done_part >= whole_part) return amount;
    return static_cast<std::int64_t>(static_cast<WideInt>(amount) * done_part / whole_part);
}

}  // namespace loyalty
