// Program: the points operations. Purchases, returns and voids each run as one idempotent
// transaction; expiry and tier runs as one transaction each.
#include <algorithm>
#include <map>

#include "loyalty/earning.hpp"
#include "loyalty/program.hpp"
#include "program_state.hpp"

namespace loyalty {

namespace {

using nlohmann::json;

// The request as this node keeps it and sends it: a phone as the node stores it (hashed on tills).
json canonical(const Program::State& s, const MemberRef& member) {
    return {{"member_id", member.member_id}, {"card", member.card}, {"phone", s.stored_phone(member.phone)}};
}

json canonical(const Program::State& s, const PurchaseRequest& request) {
    return {{"txn_id", request.txn_id}, {"member", canonical(s, request.member)},
            {"lines", request.lines}, {"redeem_points", request.redeem_points}};
}

json canonical(const ReturnRequest& request) {
    json lines = json::array();
    for (const auto& line : request.lines) lines.push_back({{"sku", line.sku}, {"quantity", line.quantity}});
    return {{"return_id", request.return_id}, {"original_txn_id", request.original_txn_id},
            {"lines", lines}};
}

json request_body(const ReturnRequest& request) {
    json body = canonical(request);
    if (request.lines.empty()) body.erase("lines");
    return body;
}

// Calendar periods for earning caps, in UTC; weeks start on Monday.
Timestamp start_of_day(Timestamp t) { return day_number(t) * seconds_per_day; }
Timestamp start_of_week(Timestamp t) {
    const std::int64_t day = day_number(t);
    return (day - (day + 3) % 7) * seconds_per_day;  // 1970-01-01 was a Thursday
}
Timestamp start_of_month(Timestamp t) {
    CivilDate date = civil_from_days(day_number(t));
    date.day = 1;
    return days_from_civil(date) * seconds_per_day;
}

bool is_eligible(const RuleSet& rules, const std::string& category) {
    return rules.category_multiplier(category) > 0;
}

std::optional<Timestamp> expiry_for(const RuleSet& rules, Timestamp at) {
    if (rules.earn.expiry_months == 0) return std::nullopt;
    return add_months(at, rules.earn.expiry_months);
}

struct Pricing {
    int tier = 0;
    Points spendable = 0;
    RedemptionValue redemption;
    OfferedEarning offered;  // the rules' earning and the member's offers on the basket
};

// How many more points the member may earn now under the caps; -1 if uncapped.
Points cap_headroom(Database& database, const RuleSet& rules, const std::string& member_id,
                    Timestamp now) {
    const std::pair<Points, Timestamp> caps[] = {{rules.earn.cap_per_day, start_of_day(now)},
                                                 {rules.earn.cap_per_week, start_of_week(now)},
                                                 {rules.earn.cap_per_month, start_of_month(now)}};
    Points headroom = -1;
    for (const auto& [cap, since] : caps) {
        if (cap == 0) continue;
        const Points earned =
            database
                .query_integer("SELECT COALESCE(SUM(points), 0) FROM ledger WHERE member_id = ? "
                               "AND kind = 'earn' AND created_at >= ?", member_id, since)
                .value_or(0);
        const Points left = std::max<Points>(0, cap - earned);
        headroom = headroom < 0 ? left : std::min(headroom, left);
    }
    return headroom;
}

// Points this member redeemed at this node since midnight (UTC).
Points redeemed_here_today(Program::State& s, const std::string& member_id, Timestamp now) {
    const std::string own_prefix = s.options.node_id + "-";
    return -s.database
                .query_integer("SELECT COALESCE(SUM(points), 0) FROM ledger WHERE member_id = ? "
                               "AND kind = 'redeem' AND created_at >= ? "
                               "AND substr(entry_id, 1, length(?)) = ?",
                               member_id, start_of_day(now), own_prefix, own_prefix)
                .value_or(0);
}

Result<Pricing> price(Program::State& s, const Member* member, const PurchaseRequest& request,
                      Timestamp now) {
    Pricing pricing;
    Points headroom = -1;
    std::vector<OfferStanding> offers;
    if (member) {
        pricing.tier = s.tier_index(*member);
        pricing.spendable = s.book.spendable(member->member_id, now);
        headroom = cap_headroom(s.database, s.rules, member->member_id, now);
        offers = s.offer_standings(member->member_id, now);
    }
    auto offered = apply_offers({s.rules, pricing.tier, pricing.spendable, request.redeem_points, headroom},
                                request.lines, offers, &pricing.redemption);
    if (!offered) return offered.error();
    pricing.offered = std::move(offered).value();
    const Points redeemed = pricing.redemption.points;
    if (member && redeemed > 0 && !s.online()) {
        const Points today = redeemed_here_today(s, member->member_id, now);
        if (today + redeemed > s.options.offline_redemption_cap)
            return Error{ErrorKind::refused, "offline_redemption_cap",
                         "the till is offline: a member may redeem at most " +
                             std::to_string(s.options.offline_redemption_cap) +
                             " points a day here until head office is reachable (" +
                             std::to_string(today) + " already redeemed today)",
                         "redeem_points"};
    }
    return pricing;
}

// The figures a quote and a purchase answer share, so both always say the same thing.
template <class Answer>
void fill_basket_figures(Answer& answer, const Pricing& pricing) {
    const Earning& earning = pricing.offered.earning;
    answer.net_cents = earning.net_cents;
    answer.eligible_cents = earning.eligible_cents;
    answer.redeemed_cents = pricing.redemption.cents;
    answer.amount_due_cents = earning.net_cents - pricing.redemption.cents;
    answer.points_earned = earning.points;
    answer.points_redeemed = pricing.redemption.points;
    answer.points_capped = earning.points_before_cap - earning.points;
    answer.minimum_spend_met = earning.minimum_spend_met;
    answer.offer_discount_cents = pricing.offered.offer_discount_cents;
    answer.offers = pricing.offered.applied;
    answer.offer_decisions = pricing.offered.decisions;
}

std::vector<LineResult> line_results(const std::vector<BasketLine>& lines, const Earning& earning) {
    std::vector<LineResult> results;
    for (std::size_t i = 0; i < lines.size(); ++i)
        results.push_back({static_cast<int>(i), lines[i].sku, lines[i].category, lines[i].quantity,
                           earning.lines[i].net_cents, earning.lines[i].points});
    return results;
}

// The most points this basket could take as tender for a member with `spendable` points.
Points max_redeemable(const RuleSet& rules, Cents net, Points spendable) {
    const RedemptionRules& r = rules.redemption;
    const WideInt cents_cap = static_cast<WideInt>(net) * r.max_basket_share_percent / 100;
    // Whole cents only: points must be a multiple of the points that make one cent.
    const Points step = r.points_per_unit / std::gcd(r.points_per_unit, rules.unit_cents);
    Points points = static_cast<Points>(cents_cap * r.points_per_unit / rules.unit_cents);
    points = std::min(points, spendable);
    points -= points % step;
    return points < r.minimum_points ? 0 : points;
}

struct StoredLine {
    int line = 0;
    std::string sku;
    std::string category;
    std::int64_t quantity = 0;
    Cents net_cents = 0;
    Points points = 0;
    Cents qualifying_cents = 0;
    std::int64_t returned_quantity = 0;
};

struct StoredPurchase {
    std::string txn_id;
    std::string member_id;
    Timestamp created_at = 0;
    Cents net_cents = 0;
    Points redeemed_points = 0;
    Cents redeemed_cents = 0;
    std::string earn_lot_id;
    std::string status;
    std::vector<StoredLine> lines;
};

Result<StoredPurchase> load_purchase(Database& database, const std::string& txn_id,
                                     const std::string& field) {
    Statement& row = database.prepare(
        "SELECT member_id, created_at, net_cents, redeemed_points, redeemed_cents, earn_lot_id, "
        "status FROM purchases WHERE txn_id = ?");
    row.bind(txn_id);
    if (!row.step()) {
        row.reset();
        if (database.query_integer("SELECT 1 FROM queued_purchases WHERE txn_id = ? AND status = 'queued'",
                                   txn_id))
            return Error{ErrorKind::refused, "purchase_queued",
                         "purchase " + txn_id + " is queued until its card's member is known here; "
                         "void it, or return goods once it is recorded", field};
        return Error{ErrorKind::not_found, "unknown_transaction",
                     "no purchase " + txn_id + " was recorded at this till", field};
    }
    StoredPurchase purchase{txn_id, row.text(0), row.integer(1), row.integer(2), row.integer(3),
                            row.integer(4), row.optional_text(5).value_or(""), row.text(6), {}};
    row.reset();
    Statement& lines = database.prepare(
        "SELECT line, sku, category, quantity, net_cents, points, qualifying_cents, "
        "returned_quantity FROM purchase_lines WHERE txn_id = ? ORDER BY line");
    lines.bind(txn_id);
    while (lines.step())
        purchase.lines.push_back({static_cast<int>(lines.integer(0)), lines.text(1), lines.text(2),
                                  lines.integer(3), lines.integer(4), lines.integer(5),
                                  lines.integer(6), lines.integer(7)});
    return purchase;
}

Cents returned_net(const StoredPurchase& purchase) {
    Cents total = 0;
    for (const StoredLine& line : purchase.lines)
        total += cumulative_share(line.net_cents, line.returned_quantity, line.quantity);
    return total;
}

// Decides how many units of each line a return takes: matching by sku, earliest line first.
Result<std::vector<std::int64_t>> units_to_return(const StoredPurchase& purchase,
                                                  const ReturnRequest& request) {
    std::vector<std::int64_t> units(purchase.lines.size(), 0);
    if (request.lines.empty()) {
        std::int64_t any = 0;
        for (std::size_t i = 0; i < units.size(); ++i)
            any += units[i] = purchase.lines[i].quantity - purchase.lines[i].returned_quantity;
        if (any == 0)
            return Error{ErrorKind::conflict, "already_returned",
                         "purchase " + purchase.txn_id + " has already been returned in full",
                         "original_txn_id"};
        return units;
    }
    for (std::size_t r = 0; r < request.lines.size(); ++r) {
        const ReturnLineRequest& wanted = request.lines[r];
        std::int64_t left = wanted.quantity;
        bool sold = false;
        for (std::size_t i = 0; i < units.size() && left > 0; ++i) {
            const StoredLine& line = purchase.lines[i];
            if (line.sku != wanted.sku) continue;
            sold = true;
            const std::int64_t take = std::min(left, line.quantity - line.returned_quantity - units[i]);
            units[i] += take;
            left -= take;
        }
        const std::string field = "lines[" + std::to_string(r) + "]";
        if (!sold)
            return Error{ErrorKind::invalid, "sku_not_in_purchase",
                         "sku " + wanted.sku + " was not sold in purchase " + purchase.txn_id,
                         field + ".sku"};
        if (left == wanted.quantity)
            return Error{ErrorKind::conflict, "already_returned",
                         "sku " + wanted.sku + " of purchase " + purchase.txn_id +
                             " has already been returned in full",
                         field + ".quantity"};
        if (left > 0)
            return Error{ErrorKind::conflict, "already_returned",
                         "only " + std::to_string(wanted.quantity - left) + " more of sku " +
                             wanted.sku + " can be returned from purchase " + purchase.txn_id,
                         field + ".quantity"};
    }
    return units;
}

}  // namespace

json request_body(const PurchaseRequest& request) {
    json body = {{"lines", request.lines}, {"redeem_points", request.redeem_points}};
    if (!request.txn_id.empty()) body["txn_id"] = request.txn_id;
    if (!request.member.member_id.empty()) body["member_id"] = request.member.member_id;
    if (!request.member.card.empty()) body["card"] = request.member.card;
    if (!request.member.phone.empty()) body["phone"] = request.member.phone;
    return body;
}

Result<Quote> Program::quote(const PurchaseRequest& unchecked) {
    State& s = *state_;
    auto checked = parse_quote_request(request_body(unchecked));
    if (!checked) return checked.error();
    const PurchaseRequest& request = checked.value();
    return s.transact<Quote>([&]() -> Result<Quote> {
        const bool has_member = !request.member.member_id.empty() || !request.member.card.empty() ||
                                !request.member.phone.empty();
        std::optional<Member> member;
        if (has_member) {
            auto found = s.resolve(request.member);
            if (!found) return found.error();
            member = std::move(found).value();
        }
        auto pricing = price(s, member ? &*member : nullptr, request, s.clock.now());
        if (!pricing) return pricing.error();
        const Earning& earning = pricing->offered.earning;
        Quote quote;
        quote.member_id = member ? member->member_id : "";
        fill_basket_figures(quote, *pricing);
        quote.max_redeemable_points = max_redeemable(s.rules, earning.net_cents, pricing->spendable);
        quote.points = pricing->spendable;
        quote.tier = s.rules.tiers.levels[static_cast<std::size_t>(pricing->tier)].name;
        quote.rule_version = s.rules.version;
        quote.lines = line_results(request.lines, earning);
        return quote;
    });
}

Result<Recorded<PurchaseResult>> Program::purchase(const PurchaseRequest& unchecked) {
    State& s = *state_;
    auto checked = parse_purchase_request(request_body(unchecked));
    if (!checked) return checked.error();
    const PurchaseRequest& request = checked.value();
    return s.idempotent<PurchaseResult>("purchase", request.txn_id, canonical(s, request),
                                        [&]() -> Result<PurchaseResult> {
        auto member = s.resolve(request.member);
        if (!member) return member.error();
        if (auto queued = s.settle_queued(request.txn_id); !queued) return queued.error();
        const Timestamp now = s.clock.now();
        auto pricing = price(s, &*member, request, now);
        if (!pricing) return pricing.error();
        const Earning& earning = pricing->offered.earning;
        const std::vector<BasketLine>& lines = pricing->offered.lines;  // with offer discounts
        const Posting posting{member->member_id, request.txn_id, s.rules.version, now};

        PurchaseResult result;
        std::optional<std::string> redeem_entry;
        std::string earn_lot;
        if (pricing->redemption.points > 0) {
            redeem_entry = s.book.spend(posting, pricing->redemption.points).entry_id;
            result.entry_ids.push_back(*redeem_entry);
        }
        const Timestamp unlocks = now + s.rules.earn.lock_days * seconds_per_day;
        if (earning.points > 0)
            result.entry_ids.push_back(s.book.credit(posting, EntryKind::earn, earning.points,
                                                     expiry_for(s.rules, now), unlocks, &earn_lot)
                                           .entry_id);
        s.database
            .prepare("INSERT INTO purchases(txn_id, member_id, created_at, rule_version, net_cents, "
                     "redeemed_points, redeemed_cents, earned_points, earn_lot_id, redeem_entry_id, "
                     "status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'completed')")
            .bind(request.txn_id, member->member_id, now, s.rules.version, earning.net_cents,
                  pricing->redemption.points, pricing->redemption.cents, earning.points,
                  earn_lot.empty() ? std::nullopt : std::optional(earn_lot), redeem_entry)
            .run();
        Cents qualifying = 0;
        Statement& insert_line = s.database.prepare(
            "INSERT INTO purchase_lines(txn_id, line, sku, category, quantity, unit_price_cents, "
            "discount_cents, net_cents, points, qualifying_cents) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        for (std::size_t i = 0; i < lines.size(); ++i) {
            const BasketLine& line = lines[i];
            const LineEarning& earned = earning.lines[i];
            // Tiers count what the member paid for eligible goods, never the points tender.
            const Cents line_qualifying =
                is_eligible(s.rules, line.category) ? earned.net_cents - earned.paid_by_points : 0;
            qualifying += line_qualifying;
            insert_line.bind(request.txn_id, static_cast<std::int64_t>(i), line.sku, line.category,
                             line.quantity, line.unit_price_cents, line.discount_cents,
                             earned.net_cents, earned.points, line_qualifying)
                .run();
        }
        const QualifyingActivity activity{member->member_id, now, qualifying, 1, request.txn_id};
        s.record_qualifying(activity);
        s.record_offer_uses(s.use_key(request.txn_id), member->member_id, pricing->offered.applied, now);

        result.txn_id = request.txn_id;
        result.member_id = member->member_id;
        fill_basket_figures(result, *pricing);
        result.rule_version = s.rules.version;
        result.tier = member->tier;
        result.tier_after = s.reevaluate_tier(member->member_id, now);
        result.points = s.book.spendable(member->member_id, now);
        result.points_pending = s.book.pending(member->member_id, now);
        result.points_available_from = format_date(unlocks);
        result.lines = line_results(request.lines, earning);
        result.created_at = format_timestamp(now);
        s.publish("purchase", {{"request", canonical(s, request)}, {"result", result},
                               {"qualifying", activity}}, now);
        return result;
    });
}

Result<Recorded<ReturnResult>> Program::return_items(const ReturnRequest& unchecked) {
    State& s = *state_;
    auto checked = parse_return_request(request_body(unchecked));
    if (!checked) return checked.error();
    const ReturnRequest& request = checked.value();
    return s.idempotent<ReturnResult>("return", request.return_id, canonical(request),
                                      [&]() -> Result<ReturnResult> {
        auto purchase = load_purchase(s.database, request.original_txn_id, "original_txn_id");
        if (!purchase) return purchase.error();
        if (purchase->status == "voided")
            return Error{ErrorKind::conflict, "purchase_voided",
                         "purchase " + request.original_txn_id + " was voided; nothing to return",
                         "original_txn_id"};
        auto units = units_to_return(*purchase, request);
        if (!units) return units.error();
        const Timestamp now = s.clock.now();
        const Cents net_before = returned_net(*purchase);

        ReturnResult result;
        Cents qualifying_back = 0;
        bool fully_returned = true;
        Statement& update = s.database.prepare(
            "UPDATE purchase_lines SET returned_quantity = ? WHERE txn_id = ? AND line = ?");
        for (std::size_t i = 0; i < purchase->lines.size(); ++i) {
            StoredLine& line = purchase->lines[i];
            const std::int64_t before = line.returned_quantity;
            const std::int64_t after = before + (*units)[i];
            fully_returned = fully_returned && after == line.quantity;
            if ((*units)[i] == 0) continue;
            const auto back = [&](std::int64_t amount) {
                return cumulative_share(amount, after, line.quantity) -
                       cumulative_share(amount, before, line.quantity);
            };
            result.lines.push_back({line.line, line.sku, line.category, (*units)[i],
                                    back(line.net_cents), back(line.points)});
            result.points_reversed += back(line.points);
            result.refund_cents += back(line.net_cents);
            qualifying_back += back(line.qualifying_cents);
            line.returned_quantity = after;
            update.bind(after, request.original_txn_id, line.line).run();
        }
        const Cents net_after = returned_net(*purchase);
        const auto refunded = [&](std::int64_t amount) {
            return cumulative_share(amount, net_after, purchase->net_cents) -
                   cumulative_share(amount, net_before, purchase->net_cents);
        };
        result.points_refunded = refunded(purchase->redeemed_points);
        result.refund_due_cents = result.refund_cents - refunded(purchase->redeemed_cents);

        const Posting posting{purchase->member_id, request.return_id, s.rules.version, now};
        if (result.points_reversed > 0)
            result.entry_ids.push_back(s.book.take_back(posting, result.points_reversed,
                                                        purchase->earn_lot_id,
                                                        result.points_shortfall).entry_id);
        if (result.points_refunded > 0)
            result.entry_ids.push_back(s.book.credit(posting, EntryKind::redeem_refund,
                                                     result.points_refunded,
                                                     expiry_for(s.rules, now), now).entry_id);
        const QualifyingActivity activity{purchase->member_id, purchase->created_at, -qualifying_back,
                                          fully_returned ? -1 : 0, request.return_id};
        s.record_qualifying(activity);
        result.return_id = request.return_id;
        result.original_txn_id = request.original_txn_id;
        result.member_id = purchase->member_id;
        result.tier_after = s.reevaluate_tier(purchase->member_id, now);
        result.points = s.book.spendable(purchase->member_id, now);
        result.points_pending = s.book.pending(purchase->member_id, now);
        result.created_at = format_timestamp(now);
        s.publish("return", {{"request", canonical(request)}, {"result", result},
                             {"qualifying", activity}}, now);
        return result;
    });
}

Result<Recorded<VoidResult>> Program::void_purchase(const std::string& txn_id) {
    State& s = *state_;
    if (txn_id.empty() || txn_id.size() > max_operation_id_length)
        return invalid("txn_id", "txn_id must be 1 to " + std::to_string(max_operation_id_length) +
                                     " characters");
    return s.idempotent<VoidResult>("void", txn_id, {{"txn_id", txn_id}}, [&]() -> Result<VoidResult> {
        const Timestamp now = s.clock.now();
        if (s.cancel_queued(txn_id)) {
            VoidResult cancelled;  // nothing was credited yet, so nothing is taken back
            cancelled.txn_id = txn_id;
            cancelled.created_at = format_timestamp(now);
            return cancelled;
        }
        auto purchase = load_purchase(s.database, txn_id, "txn_id");
        if (!purchase) return purchase.error();
        if (purchase->status == "voided")
            return Error{ErrorKind::conflict, "purchase_voided", "purchase " + txn_id +
                         " is already voided", "txn_id"};
        if (returned_net(*purchase) > 0 ||
            std::any_of(purchase->lines.begin(), purchase->lines.end(),
                        [](const StoredLine& line) { return line.returned_quantity > 0; }))
            return Error{ErrorKind::refused, "purchase_has_returns",
                         "purchase " + txn_id + " already has returns; return the rest instead",
                         "txn_id"};
        if (now - purchase->created_at > s.options.void_window_hours * 3600)
            return Error{ErrorKind::refused, "void_window_over",
                         "purchase " + txn_id + " is older than " +
                             std::to_string(s.options.void_window_hours) +
                             " hours; process a return instead", "txn_id"};
        VoidResult result;
        const Posting posting{purchase->member_id, "void:" + txn_id, s.rules.version, now};
        Points earned = 0;
        Cents qualifying = 0;
        for (const StoredLine& line : purchase->lines) {
            earned += line.points;
            qualifying += line.qualifying_cents;
        }
        if (earned > 0)
            result.entry_ids.push_back(
                s.book.take_back(posting, earned, purchase->earn_lot_id, result.points_shortfall).entry_id);
        if (purchase->redeemed_points > 0)
            result.entry_ids.push_back(s.book.credit(posting, EntryKind::redeem_refund,
                                                     purchase->redeemed_points,
                                                     expiry_for(s.rules, now), now).entry_id);
        s.database.prepare("UPDATE purchases SET status = 'voided' WHERE txn_id = ?").bind(txn_id).run();
        s.void_offer_uses(s.use_key(txn_id));
        const QualifyingActivity activity{purchase->member_id, purchase->created_at, -qualifying, -1,
                                          posting.operation_id};
        s.record_qualifying(activity);
        result.txn_id = txn_id;
        result.member_id = purchase->member_id;
        result.points_reversed = earned;
        result.points_refunded = purchase->redeemed_points;
        result.tier_after = s.reevaluate_tier(purchase->member_id, now);
        result.points = s.book.spendable(purchase->member_id, now);
        result.points_pending = s.book.pending(purchase->member_id, now);
        result.created_at = format_timestamp(now);
        s.publish("void", {{"request", {{"txn_id", txn_id}}}, {"result", result},
                           {"qualifying", activity}}, now);
        return result;
    });
}

Result<ExpiryRun> Program::run_expiry() {
    State& s = *state_;
    return s.transact<ExpiryRun>([&]() -> Result<ExpiryRun> {
        const Timestamp now = s.clock.now();
        const Posting context{"", "expiry:" + format_timestamp(now), s.rules.version, now};
        ExpiryRun run;
        for (const LedgerEntry& entry : s.book.expire_due(context, run.lots_expired)) {
            run.points_expired -= entry.points;
            run.entry_ids.push_back(entry.entry_id);
        }
        if (run.lots_expired > 0) s.publish("points_expired", json::object(), now);
        return run;
    });
}

Result<TierRun> Program::evaluate_tiers() {
    State& s = *state_;
    return s.transact<TierRun>([&]() -> Result<TierRun> {
        std::vector<std::pair<std::string, std::string>> members;
        Statement& rows = s.database.prepare("SELECT member_id, tier FROM members ORDER BY member_id");
        rows.bind();
        while (rows.step()) members.emplace_back(rows.text(0), rows.text(1));
        const Timestamp now = s.clock.now();
        TierRun run;
        for (const auto& [member_id, tier] : members) {
            ++run.members_checked;
            if (s.reevaluate_tier(member_id, now) != tier) ++run.changes;
        }
        return run;
    });
}

std::string Program::State::reevaluate_tier(const std::string& member_id, Timestamp now) {
    Statement& row = database.prepare(
        "SELECT tier, downgrade_pending_since FROM members WHERE member_id = ?");
    row.bind(member_id);
    row.step();
    const std::string tier = row.text(0);
    const std::optional<Timestamp> pending = row.optional_integer(1);
    row.reset();
    const int current = std::max(0, rules.tier_index(tier));
    const TierDecision decision =
        decide_tier(rules.tiers, current, qualified_tier(rules.tiers, keep_standing(member_id, now)),
                    pending, now);
    const std::string& new_tier = rules.tiers.levels[static_cast<std::size_t>(decision.level)].name;
    if (new_tier == tier && decision.downgrade_pending_since == pending) return tier;
    database
        .prepare("UPDATE members SET tier = ?, tier_since = CASE WHEN tier = ? THEN tier_since "
                 "ELSE ? END, downgrade_pending_since = ? WHERE member_id = ?")
        .bind(new_tier, new_tier, now, decision.downgrade_pending_since, member_id)
        .run();
    if (new_tier == tier) return tier;
    database
        .prepare("INSERT INTO tier_changes(member_id, at, from_tier, to_tier, reason) "
                 "VALUES (?, ?, ?, ?, ?)")
        .bind(member_id, now, tier, new_tier, decision.reason)
        .run();
    outbox.append("tier_changed", {{"member_id", member_id}, {"from_tier", tier},
                                   {"to_tier", new_tier}, {"reason", decision.reason},
                                   {"at", format_timestamp(now)}}, now);
    return new_tier;
}

}  // namespace loyalty
