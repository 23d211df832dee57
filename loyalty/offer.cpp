#include "loyalty/offer.hpp"

#include <algorithm>
#include <numeric>

#include "loyalty/json_reader.hpp"

namespace loyalty {

namespace {

using nlohmann::json;

constexpr std::size_t max_offer_id_length = 64;
constexpr std::size_t max_offer_items = 100;  // categories or skus an offer may list
constexpr Points max_offer_points = 100'000'000;
constexpr std::int64_t max_multiplier_percent = 10'000;  // 100x

constexpr std::pair<OfferKind, const char*> kind_names[] = {
    {OfferKind::points_multiplier, "points_multiplier"},
    {OfferKind::bonus_points, "bonus_points"},
    {OfferKind::amount_discount, "amount_discount"},
    {OfferKind::percent_discount, "percent_discount"},
    {OfferKind::tier_challenge, "tier_challenge"},
};

constexpr std::pair<OfferStatus, const char*> status_names[] = {
    {OfferStatus::active, "active"}, {OfferStatus::paused, "paused"}, {OfferStatus::ended, "ended"}};

Timestamp read_time(JsonReader& reader, std::string_view key) {
    const std::string text = reader.text(key, 32);
    if (!reader.ok()) return 0;
    const auto parsed = parse_timestamp(text);
    if (!parsed) reader.fail(key, "must be a UTC time like 2026-11-23T08:00:00Z");
    return parsed.value_or(0);
}

// What each kind needs besides the common fields; errors name the missing or wrong field.
void check_kind_fields(JsonReader& reader, const Offer& offer) {
    switch (offer.kind) {
        case OfferKind::points_multiplier:
            if (offer.multiplier_percent <= 100)
                reader.fail("multiplier_percent", "must be more than 100 for a points_multiplier (300 is 3x)");
            break;
        case OfferKind::bonus_points:
            if (offer.bonus_points <= 0) reader.fail("bonus_points", "must be positive for a bonus_points offer");
            break;
        case OfferKind::amount_discount:
            if (offer.discount_cents <= 0)
                reader.fail("discount_cents", "must be positive for an amount_discount offer");
            break;
        case OfferKind::percent_discount:
            if (offer.discount_percent <= 0)
                reader.fail("discount_percent", "must be 1 to 100 for a percent_discount offer");
            break;
        case OfferKind::tier_challenge:
            if (offer.min_spend_cents <= 0)
                reader.fail("min_spend_cents", "must be positive for a tier_challenge (the spend to reach)");
            else if (offer.bonus_points <= 0)
                reader.fail("bonus_points", "must be positive for a tier_challenge (its reward)");
            break;
    }
}

bool contains(const std::vector<std::string>& list, const std::string& value) {
    return std::find(list.begin(), list.end(), value) != list.end();
}

bool qualifies(const Offer& offer, const BasketLine& line) {
    if (offer.categories.empty() && offer.skus.empty()) return true;
    return contains(offer.categories, line.category) || contains(offer.skus, line.sku);
}

// Where the offer looks: "on coffee", "on this basket".
std::string scope_of(const Offer& offer) {
    if (offer.categories.empty() && offer.skus.empty()) return "";
    std::string scope;
    for (const auto* list : {&offer.categories, &offer.skus})
        for (const std::string& item : *list) scope += (scope.empty() ? " on " : ", ") + item;
    return scope;
}

// --- pricing one choice of offers -------------------------------------------------------

struct Outcome {
    std::vector<BasketLine> lines;
    RedemptionValue redemption;
    Earning earning;
    std::vector<Points> offer_points;  // per offer of the choice
    std::vector<Cents> offer_cents;
    std::vector<std::string> reasons;  // per offer: "applied" or why not
    std::vector<std::string> messages;
    WideInt value = 0;                 // cents * points_per_unit + points * unit_cents
};

std::vector<WideInt> qualifying_weights(const Offer& offer, const std::vector<BasketLine>& lines,
                                        const std::vector<std::int64_t>& amounts) {
    std::vector<WideInt> weights(lines.size(), 0);
    for (std::size_t i = 0; i < lines.size(); ++i)
        if (qualifies(offer, lines[i])) weights[i] = amounts[i];
    return weights;
}

std::vector<std::int64_t> net_of(const std::vector<BasketLine>& lines) {
    std::vector<std::int64_t> net;
    for (const BasketLine& line : lines) net.push_back(line.net_cents());
    return net;
}

WideInt sum(const std::vector<WideInt>& values) {
    return std::accumulate(values.begin(), values.end(), WideInt{0});
}

// Takes a discount offer off its lines; returns the cents taken off.
Cents apply_discount(const OfferStanding& standing, std::vector<BasketLine>& lines) {
    const Offer& offer = standing.offer;
    const auto weights = qualifying_weights(offer, lines, net_of(lines));
    const Cents base = static_cast<Cents>(sum(weights));
    Cents amount = offer.kind == OfferKind::amount_discount
                       ? std::min(offer.discount_cents, base)
                       : static_cast<Cents>(static_cast<WideInt>(base) * offer.discount_percent / 100);
    if (offer.budget_cents > 0) amount = std::min(amount, std::max<Cents>(0, offer.budget_cents - standing.budget_cents_used));
    const auto shares = allocate_proportionally(amount, weights);
    for (std::size_t i = 0; i < lines.size(); ++i) lines[i].discount_cents += shares[i];
    return amount;
}

// Extra points of a points offer, added to `line_points`; the reason if it gives none. A
// multiplier multiplies the rules' points (`base_points`), never another offer's.
Points apply_points(const OfferStanding& standing, const std::vector<BasketLine>& lines,
                    const std::vector<Points>& base_points, std::vector<Points>& line_points,
                    std::string& reason, std::string& message) {
    const Offer& offer = standing.offer;
    const auto net_weights = qualifying_weights(offer, lines, net_of(lines));
    const Cents spend = static_cast<Cents>(sum(net_weights));
    Points points = 0;
    std::vector<WideInt> weights = net_weights;
    if (offer.kind == OfferKind::points_multiplier) {
        weights = qualifying_weights(offer, lines, base_points);
        points = static_cast<Points>(sum(weights) * (offer.multiplier_percent - 100) / 100);
    } else if (offer.kind == OfferKind::bonus_points && spend > 0 && spend >= offer.min_spend_cents) {
        points = offer.bonus_points;
    } else if (offer.kind == OfferKind::bonus_points && spend > 0) {
        reason = "min_spend_not_met";
        message = "spend " + format_cents(offer.min_spend_cents - spend) + " more" + scope_of(offer) +
                  " for " + std::to_string(offer.bonus_points) + " bonus points";
        return 0;
    } else if (offer.kind == OfferKind::tier_challenge && spend > 0) {
        const Cents reached = standing.challenge_spend_cents + spend;
        if (reached < offer.min_spend_cents) {
            reason = "challenge_progress";
            message = "spend " + format_cents(offer.min_spend_cents - reached) + " more" + scope_of(offer) +
                      " by " + format_date(offer.valid_until - 1) +
                      (offer.target_tier.empty() ? "" : " to reach " + offer.target_tier) + " and earn " +
                      std::to_string(offer.bonus_points) + " bonus points";
            return 0;
        }
        points = offer.bonus_points;
    }
    if (offer.budget_points > 0) points = std::min(points, std::max<Points>(0, offer.budget_points - standing.budget_points_used));
    if (points == 0 && reason.empty()) reason = "no_qualifying_items";
    const auto shares = allocate_proportionally(points, weights);
    for (std::size_t i = 0; i < lines.size(); ++i) line_points[i] += shares[i];
    return points;
}

bool is_discount(OfferKind kind) {
    return kind == OfferKind::amount_discount || kind == OfferKind::percent_discount;
}

// Prices the basket with the offers `chosen` (indices into `offers`): discounts first, then the
// redemption and the rules' earning on what is left to pay, then offer points on top (outside
// the earning caps: they are the campaign's, not the rules').
Result<Outcome> price_choice(const PricingInputs& inputs, const std::vector<BasketLine>& basket,
                             const std::vector<OfferStanding>& offers, const std::vector<std::size_t>& chosen) {
    Outcome outcome;
    outcome.lines = basket;
    outcome.offer_points.assign(chosen.size(), 0);
    outcome.offer_cents.assign(chosen.size(), 0);
    outcome.reasons.assign(chosen.size(), "");
    outcome.messages.assign(chosen.size(), "");
    for (std::size_t c = 0; c < chosen.size(); ++c)
        if (is_discount(offers[chosen[c]].offer.kind))
            outcome.offer_cents[c] = apply_discount(offers[chosen[c]], outcome.lines);
    Cents net = 0;
    for (const BasketLine& line : outcome.lines) net += line.net_cents();
    auto redemption = price_redemption(inputs.rules, inputs.requested_redemption, net, inputs.spendable);
    if (!redemption) return redemption.error();
    outcome.redemption = *redemption;
    outcome.earning = compute_earning(inputs.rules, inputs.tier_index, outcome.lines, redemption->cents,
                                      inputs.cap_headroom);
    std::vector<Points> base_points;
    for (const LineEarning& line : outcome.earning.lines) base_points.push_back(line.points);
    std::vector<Points> line_points = base_points;
    for (std::size_t c = 0; c < chosen.size(); ++c)
        if (!is_discount(offers[chosen[c]].offer.kind))
            outcome.offer_points[c] = apply_points(offers[chosen[c]], outcome.lines, base_points, line_points,
                                                   outcome.reasons[c], outcome.messages[c]);
    Points extra = 0;
    for (std::size_t i = 0; i < line_points.size(); ++i) {
        extra += line_points[i] - base_points[i];
        outcome.earning.lines[i].points = line_points[i];
    }
    outcome.earning.points += extra;
    outcome.earning.points_before_cap += extra;
    for (std::size_t c = 0; c < chosen.size(); ++c) {
        if (outcome.offer_points[c] > 0 || outcome.offer_cents[c] > 0) outcome.reasons[c] = "applied";
        else if (outcome.reasons[c].empty()) outcome.reasons[c] = "no_qualifying_items";
        outcome.value += static_cast<WideInt>(outcome.offer_cents[c]) * inputs.rules.redemption.points_per_unit +
                         static_cast<WideInt>(outcome.offer_points[c]) * inputs.rules.unit_cents;
    }
    return outcome;
}

// Why an offer cannot apply to this member at all, whatever else is in the basket.
std::string standing_refusal(const OfferStanding& standing, const std::vector<BasketLine>& lines) {
    const Offer& offer = standing.offer;
    if (standing.uses >= offer.uses_per_member) return "used_up";
    if ((offer.budget_points > 0 && standing.budget_points_used >= offer.budget_points) ||
        (offer.budget_cents > 0 && standing.budget_cents_used >= offer.budget_cents))
        return "budget_spent";
    if (std::none_of(lines.begin(), lines.end(), [&](const BasketLine& line) { return qualifies(offer, line); }))
        return "no_qualifying_items";
    return "";
}

}  // namespace

std::string to_string(OfferKind kind) {
    for (const auto& [value, name] : kind_names)
        if (value == kind) return name;
    return "bonus_points";
}

std::optional<OfferKind> offer_kind_from_string(const std::string& text) {
    for (const auto& [value, name] : kind_names)
        if (text == name) return value;
    return std::nullopt;
}

std::string to_string(OfferStatus status) {
    for (const auto& [value, name] : status_names)
        if (value == status) return name;
    return "active";
}

Result<Offer> parse_offer(const json& body) {
    if (!body.is_object()) return invalid("offer", "an offer must be a JSON object");
    JsonReader reader(body, "offer");
    Offer offer;
    offer.offer_id = reader.text("offer_id", max_offer_id_length);
    offer.campaign_id = reader.text("campaign_id", max_offer_id_length, "");
    const std::string kind = reader.text("kind", 32);
    if (reader.ok()) {
        if (auto parsed = offer_kind_from_string(kind)) offer.kind = *parsed;
        else reader.fail("kind", "must be points_multiplier, bonus_points, amount_discount, percent_discount or tier_challenge");
    }
    offer.title = reader.text("title", max_text_length);
    offer.valid_from = read_time(reader, "valid_from");
    offer.valid_until = read_time(reader, "valid_until");
    if (reader.ok() && offer.valid_until <= offer.valid_from) reader.fail("valid_until", "must be after valid_from");
    offer.uses_per_member = reader.integer("uses_per_member", 1, 1'000, 1);
    offer.categories = reader.strings("categories", max_offer_items, max_text_length);
    offer.skus = reader.strings("skus", max_offer_items, max_text_length);
    offer.stackable = reader.boolean("stackable", true);
    offer.multiplier_percent = reader.integer("multiplier_percent", 100, max_multiplier_percent, 100);
    offer.bonus_points = reader.integer("bonus_points", 0, max_offer_points, 0);
    offer.min_spend_cents = reader.integer("min_spend_cents", 0, max_basket_net_cents, 0);
    offer.discount_cents = reader.integer("discount_cents", 0, max_basket_net_cents, 0);
    offer.discount_percent = reader.integer("discount_percent", 0, 100, 0);
    offer.target_tier = reader.text("target_tier", max_text_length, "");
    offer.budget_points = reader.integer("budget_points", 0, max_offer_points * 1'000, 0);
    offer.budget_cents = reader.integer("budget_cents", 0, max_basket_net_cents, 0);
    const std::string status = reader.text("status", 16, "active");
    if (reader.ok()) {
        bool known = false;
        for (const auto& [value, name] : status_names)
            if (status == name) offer.status = value, known = true;
        if (!known) reader.fail("status", "must be active, paused or ended");
    }
    reader.only({"offer_id", "campaign_id", "kind", "title", "valid_from", "valid_until", "uses_per_member",
                 "categories", "skus", "stackable", "multiplier_percent", "bonus_points", "min_spend_cents",
                 "discount_cents", "discount_percent", "target_tier", "budget_points", "budget_cents", "status"});
    if (reader.ok()) check_kind_fields(reader, offer);
    if (!reader.ok()) return reader.error();
    return offer;
}

void to_json(json& out, const Offer& offer) {
    out = {{"offer_id", offer.offer_id},
           {"campaign_id", offer.campaign_id},
           {"kind", to_string(offer.kind)},
           {"title", offer.title},
           {"valid_from", format_timestamp(offer.valid_from)},
           {"valid_until", format_timestamp(offer.valid_until)},
           {"uses_per_member", offer.uses_per_member},
           {"categories", offer.categories},
           {"skus", offer.skus},
           {"stackable", offer.stackable},
           {"multiplier_percent", offer.multiplier_percent},
           {"bonus_points", offer.bonus_points},
           {"min_spend_cents", offer.min_spend_cents},
           {"discount_cents", offer.discount_cents},
           {"discount_percent", offer.discount_percent},
           {"target_tier", offer.target_tier},
           {"budget_points", offer.budget_points},
           {"budget_cents", offer.budget_cents},
           {"status", to_string(offer.status)}};
}

MemberOffer member_offer(const OfferStanding& standing) {
    const Offer& offer = standing.offer;
    MemberOffer shown{offer, std::max<std::int64_t>(0, offer.uses_per_member - standing.uses), ""};
    shown.message = offer.title + ", until " + format_date(offer.valid_until - 1);
    if (offer.kind == OfferKind::tier_challenge && standing.challenge_spend_cents < offer.min_spend_cents)
        shown.message += ": spend " + format_cents(offer.min_spend_cents - standing.challenge_spend_cents) +
                         " more" + scope_of(offer) +
                         (offer.target_tier.empty() ? "" : " to reach " + offer.target_tier);
    return shown;
}

void to_json(json& out, const MemberOffer& shown) {
    to_json(out, shown.offer);
    out["uses_left"] = shown.uses_left;
    out["message"] = shown.message;
}

Result<OfferedEarning> apply_offers(const PricingInputs& inputs, const std::vector<BasketLine>& lines,
                                    const std::vector<OfferStanding>& offers, RedemptionValue* redemption) {
    std::vector<std::string> refusals;
    std::vector<std::size_t> stackable;
    std::vector<std::vector<std::size_t>> choices;
    for (std::size_t i = 0; i < offers.size(); ++i) {
        refusals.push_back(standing_refusal(offers[i], lines));
        if (!refusals[i].empty()) continue;
        if (offers[i].offer.stackable) stackable.push_back(i);
        else choices.push_back({i});
    }
    choices.insert(choices.begin(), stackable);  // ties go to the stackable set
    if (!stackable.empty()) choices.push_back({});  // no offer at all (else the first is that)

    // The choice worth most to the customer; a choice whose basket refuses the redemption
    // (discounts shrank it below the points asked for) is passed over.
    std::optional<std::size_t> best_choice;
    std::vector<std::optional<Outcome>> outcomes;
    std::optional<Error> first_error;
    for (std::size_t c = 0; c < choices.size(); ++c) {
        auto outcome = price_choice(inputs, lines, offers, choices[c]);
        if (!outcome) {
            if (!first_error) first_error = outcome.error();
            outcomes.emplace_back();
            continue;
        }
        if (!best_choice || outcome->value > outcomes[*best_choice]->value) best_choice = c;
        outcomes.push_back(std::move(outcome).value());
    }
    if (!best_choice) return *first_error;
    const Outcome& best = *outcomes[*best_choice];
    const std::vector<std::size_t>& chosen = choices[*best_choice];

    OfferedEarning result;
    result.lines = best.lines;
    result.earning = best.earning;
    if (redemption) *redemption = best.redemption;
    std::string best_titles;
    for (std::size_t c = 0; c < chosen.size(); ++c) {
        if (best.reasons[c] != "applied") continue;
        const Offer& offer = offers[chosen[c]].offer;
        result.applied.push_back({offer.offer_id, offer.campaign_id, to_string(offer.kind), offer.title,
                                  best.offer_points[c], best.offer_cents[c]});
        result.offer_points += best.offer_points[c];
        result.offer_discount_cents += best.offer_cents[c];
        best_titles += (best_titles.empty() ? "" : ", ") + offer.title;
    }
    for (std::size_t i = 0; i < offers.size(); ++i) {
        OfferDecision decision{offers[i].offer.offer_id, offers[i].offer.title, false, refusals[i], ""};
        for (std::size_t c = 0; c < choices.size() && decision.reason.empty(); ++c) {
            const auto at = std::find(choices[c].begin(), choices[c].end(), i);
            if (at == choices[c].end() || !outcomes[c]) continue;
            const auto k = static_cast<std::size_t>(at - choices[c].begin());
            decision.reason = outcomes[c]->reasons[k];
            decision.message = outcomes[c]->messages[k];
            if (c != *best_choice && decision.reason == "applied") {
                decision.reason = "not_combinable";
                decision.message = "does not combine with " + best_titles + ", which gives more";
            }
        }
        if (decision.reason.empty()) decision.reason = "redemption_refused";
        decision.applied = decision.reason == "applied";
        result.decisions.push_back(std::move(decision));
    }
    return result;
}

}  // namespace loyalty
