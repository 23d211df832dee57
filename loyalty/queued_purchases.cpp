// Program: purchases queued for cards not known here yet (queued_purchase.hpp).
#include "loyalty/program.hpp"
#include "program_state.hpp"

namespace loyalty {

namespace {

using nlohmann::json;

constexpr const char* queued_message =
    "card not known at this till yet; the points will be added when the member is known";

Cents basket_net(const PurchaseRequest& request) {
    Cents net = 0;
    for (const BasketLine& line : request.lines) net += line.net_cents();
    return net;
}

}  // namespace

Result<Done> Program::State::settle_queued(const std::string& txn_id) {
    const auto status = database.query_text("SELECT status FROM queued_purchases WHERE txn_id = ?", txn_id);
    if (status == "cancelled")
        return Error{ErrorKind::conflict, "purchase_voided",
                     "purchase " + txn_id + " was voided while it was queued", "txn_id"};
    if (status == "queued")
        database.prepare("UPDATE queued_purchases SET status = 'recorded', settled_at = ? WHERE txn_id = ?")
            .bind(clock.now(), txn_id)
            .run();
    return Done{};
}

bool Program::State::cancel_queued(const std::string& txn_id) {
    Statement& cancel = database.prepare(
        "UPDATE queued_purchases SET status = 'cancelled', settled_at = ? WHERE txn_id = ? AND status = 'queued'");
    cancel.bind(clock.now(), txn_id).run();
    return database.changes() > 0;
}

Result<Recorded<QueuedPurchase>> Program::queue_purchase(const PurchaseRequest& unchecked) {
    State& s = *state_;
    auto checked = parse_purchase_request(request_body(unchecked));
    if (!checked) return checked.error();
    const PurchaseRequest& request = checked.value();
    if (request.member.card.empty())
        return invalid("card", "only a purchase by card can wait for an unknown member; send \"card\"");
    if (request.redeem_points > 0)
        return Error{ErrorKind::refused, "member_unknown_here",
                     "card " + request.member.card +
                         " is not known at this till, so it has no points to redeem here",
                     "redeem_points"};
    return s.idempotent<QueuedPurchase>("queued_purchase", request.txn_id, request_body(request),
                                        [&]() -> Result<QueuedPurchase> {
        if (s.resolve(request.member))
            return Error{ErrorKind::conflict, "member_known",
                         "card " + request.member.card + " is known here; record the purchase instead",
                         "card"};
        if (s.database.query_integer("SELECT 1 FROM purchases WHERE txn_id = ?", request.txn_id))
            return Error{ErrorKind::conflict, "idempotency_conflict",
                         "purchase " + request.txn_id + " was already recorded; use a new txn_id", "txn_id"};
        const Timestamp now = s.clock.now();
        QueuedPurchase queued{request.txn_id, request.member.card, "queued", basket_net(request),
                              format_timestamp(now), queued_message};
        s.database
            .prepare("INSERT INTO queued_purchases(txn_id, card, request, net_cents, status, queued_at) "
                     "VALUES (?, ?, ?, ?, 'queued', ?)")
            .bind(queued.txn_id, queued.card, request_body(request).dump(), queued.net_cents, now)
            .run();
        return queued;
    });
}

Result<QueueReplay> Program::record_queued_purchases() {
    State& s = *state_;
    using Waiting = std::vector<std::pair<std::string, std::string>>;  // txn_id, request JSON
    auto waiting = s.transact<Waiting>([&] {
        Waiting rows;
        Statement& select = s.database.prepare(
            "SELECT q.txn_id, q.request FROM queued_purchases q JOIN cards c ON c.card_number = q.card "
            "WHERE q.status = 'queued' ORDER BY q.queued_at, q.txn_id");
        while (select.step()) rows.emplace_back(select.text(0), select.text(1));
        return Result<Waiting>(std::move(rows));
    });
    if (!waiting) return waiting.error();
    QueueReplay replay;
    for (const auto& [txn_id, request_text] : *waiting) {
        auto request = parse_purchase_request(json::parse(request_text));
        auto recorded = request ? purchase(*request) : Result<Recorded<PurchaseResult>>(request.error());
        if (recorded) {
            ++replay.recorded;
            continue;
        }
        if (recorded.error().kind == ErrorKind::unavailable) return recorded.error();
        // The member is known but the sale cannot earn (a blocked card, say): keep why, once.
        auto refused = s.transact<Done>([&]() -> Result<Done> {
            s.database
                .prepare("UPDATE queued_purchases SET status = 'refused', reason = ?, settled_at = ? "
                         "WHERE txn_id = ? AND status = 'queued'")
                .bind(recorded.error().message, s.clock.now(), txn_id)
                .run();
            return Done{};
        });
        if (!refused) return refused.error();
        ++replay.refused;
    }
    return replay;
}

Result<std::int64_t> Program::refuse_stale_queued_purchases(Timestamp queued_before) {
    State& s = *state_;
    return s.transact<std::int64_t>([&]() -> Result<std::int64_t> {
        s.database
            .prepare("UPDATE queued_purchases SET status = 'refused', reason = 'card_unknown', settled_at = ? "
                     "WHERE status = 'queued' AND queued_at < ?")
            .bind(s.clock.now(), queued_before)
            .run();
        const std::int64_t refused = s.database.changes();
        s.forget_queued_cards("status = 'refused' AND reason = 'card_unknown' AND card <> ''");
        return refused;
    });
}

std::vector<std::string> Program::queued_cards() {
    std::vector<std::string> cards;
    Statement& select = state_->database.prepare(
        "SELECT DISTINCT q.card FROM queued_purchases q WHERE q.status = 'queued' AND NOT EXISTS "
        "(SELECT 1 FROM cards c WHERE c.card_number = q.card) ORDER BY q.card");
    while (select.step()) cards.push_back(select.text(0));
    return cards;
}

std::int64_t Program::queued_purchase_count() {
    return state_->database.query_integer("SELECT COUNT(*) FROM queued_purchases WHERE status = 'queued'")
        .value_or(0);
}

}  // namespace loyalty
