// Program: the offers a node holds (offer.hpp). Head office publishes definitions and
// assignments as events of offers_origin; every node applies them like any remote event, and
// records each use of an offer under "<node>/<txn_id>" so that uses counted from a sale's own
// event, another node's forwarded event and a member snapshot all meet in one row.
#include <sqlite3.h>

#include "loyalty/program.hpp"
#include "program_state.hpp"

namespace loyalty {

namespace {

using nlohmann::json;

Offer offer_from_row(const std::string& definition) {
    auto offer = parse_offer(json::parse(definition));
    // Rows are written only from parsed offers, so this holds unless the file was edited.
    if (!offer) throw StorageError(SQLITE_CORRUPT, "stored offer is invalid: " + offer.error().message);
    return *offer;
}

void store_offer(Database& database, const Offer& offer) {
    database
        .prepare("INSERT INTO offers(offer_id, campaign_id, status, valid_from, valid_until, definition) "
                 "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(offer_id) DO UPDATE SET campaign_id = excluded.campaign_id, "
                 "status = excluded.status, valid_from = excluded.valid_from, valid_until = excluded.valid_until, "
                 "definition = excluded.definition")
        .bind(offer.offer_id, offer.campaign_id, to_string(offer.status), offer.valid_from, offer.valid_until,
              json(offer).dump())
        .run();
}

void assign(Database& database, const std::string& offer_id, const std::string& member_id, Timestamp now) {
    database
        .prepare("INSERT INTO member_offers(member_id, offer_id, assigned_at) VALUES (?, ?, ?) "
                 "ON CONFLICT DO NOTHING")
        .bind(member_id, offer_id, now)
        .run();
}

void insert_use(Database& database, const OfferUse& use) {
    database
        .prepare("INSERT INTO offer_uses(operation_id, offer_id, member_id, points, discount_cents, used_at, "
                 "voided) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET voided = MAX(voided, excluded.voided)")
        .bind(use.operation_id, use.offer_id, use.member_id, use.points, use.discount_cents, use.used_at,
              use.voided ? 1 : 0)
        .run();
}

OfferUse use_from(Statement& row) {
    return {row.text(0), row.text(1), row.text(2), row.integer(3), row.integer(4), row.integer(5), row.integer(6) != 0};
}

constexpr const char* use_columns = "operation_id, offer_id, member_id, points, discount_cents, used_at, voided";

}  // namespace

void to_json(json& out, const OfferUse& use) {
    out = {{"operation_id", use.operation_id}, {"offer_id", use.offer_id},
           {"member_id", use.member_id},       {"points", use.points},
           {"discount_cents", use.discount_cents}, {"used_at", format_timestamp(use.used_at)},
           {"voided", use.voided}};
}

std::vector<OfferStanding> Program::State::offer_standings(const std::string& member_id, Timestamp now) {
    // Personalised offers need the member's consent; without it they still earn by the rules.
    if (!database.query_integer("SELECT 1 FROM members WHERE member_id = ? AND consent_offers = 1", member_id))
        return {};
    std::vector<std::string> definitions;
    Statement& rows = database.prepare(
        "SELECT o.definition FROM member_offers m JOIN offers o ON o.offer_id = m.offer_id "
        "WHERE m.member_id = ? AND o.status = 'active' AND o.valid_from <= ? AND ? < o.valid_until "
        "ORDER BY o.offer_id");
    rows.bind(member_id, now, now);
    while (rows.step()) definitions.push_back(rows.text(0));
    std::vector<OfferStanding> standings;
    for (const std::string& definition : definitions) {
        OfferStanding standing{offer_from_row(definition)};
        const Offer& offer = standing.offer;
        standing.uses = database
                            .query_integer("SELECT COUNT(*) FROM offer_uses WHERE offer_id = ? AND member_id = ? "
                                           "AND voided = 0", offer.offer_id, member_id)
                            .value_or(0);
        Statement& budget = database.prepare(
            "SELECT COALESCE(SUM(points), 0), COALESCE(SUM(discount_cents), 0) FROM offer_uses "
            "WHERE offer_id = ? AND voided = 0");
        budget.bind(offer.offer_id);
        budget.step();
        standing.budget_points_used = budget.integer(0);
        standing.budget_cents_used = budget.integer(1);
        budget.reset();
        if (offer.kind == OfferKind::tier_challenge)
            standing.challenge_spend_cents =
                database
                    .query_integer("SELECT COALESCE(SUM(spend_cents), 0) FROM qualifying_activity "
                                   "WHERE member_id = ? AND purchased_at >= ? AND purchased_at < ?",
                                   member_id, offer.valid_from, offer.valid_until)
                    .value_or(0);
        standings.push_back(std::move(standing));
    }
    return standings;
}

std::vector<MemberOffer> Program::State::member_offers(const std::string& member_id, Timestamp now) {
    std::vector<MemberOffer> shown;
    for (const OfferStanding& standing : offer_standings(member_id, now)) {
        MemberOffer offer = member_offer(standing);
        if (offer.uses_left > 0) shown.push_back(std::move(offer));
    }
    return shown;
}

void Program::State::record_offer_uses(const std::string& use_key, const std::string& member_id,
                                       const std::vector<AppliedOffer>& applied, Timestamp at) {
    for (const AppliedOffer& offer : applied)
        insert_use(database, {use_key, offer.offer_id, member_id, offer.points, offer.discount_cents, at, false});
}

void Program::State::void_offer_uses(const std::string& use_key) {
    database.prepare("UPDATE offer_uses SET voided = 1 WHERE operation_id = ?").bind(use_key).run();
}

void Program::State::apply_offer_event(const std::string& type, const json& payload, Timestamp now) {
    if (type == "offer") {
        auto offer = parse_offer(payload.at("offer"));
        if (!offer) throw std::invalid_argument(offer.error().field + ": " + offer.error().message);
        store_offer(database, *offer);
    } else if (type == "offer_assignment") {
        const std::string offer_id = payload.at("offer_id").get<std::string>();
        const bool assigned = payload.at("assigned").get<bool>();
        Statement& withdraw = database.prepare("DELETE FROM member_offers WHERE member_id = ? AND offer_id = ?");
        for (const json& member : payload.at("member_ids")) {
            if (assigned) assign(database, offer_id, member.get<std::string>(), now);
            else withdraw.bind(member.get<std::string>(), offer_id).run();
        }
    }
}

json Program::State::offer_snapshot(const std::string& member_id) {
    json offers = json::array();
    Statement& given = database.prepare(
        "SELECT o.definition FROM member_offers m JOIN offers o ON o.offer_id = m.offer_id "
        "WHERE m.member_id = ? ORDER BY o.offer_id");
    given.bind(member_id);
    while (given.step()) offers.push_back(json::parse(given.text(0)));
    json uses = json::array();
    Statement& used = database.prepare(std::string("SELECT ") + use_columns +
                                       " FROM offer_uses WHERE member_id = ? ORDER BY operation_id, offer_id");
    used.bind(member_id);
    while (used.step()) uses.push_back(use_from(used));
    return {{"offers", offers}, {"offer_uses", uses}};
}

void Program::State::import_offer_snapshot(const std::string& member_id, const json& snapshot, Timestamp now) {
    for (const json& item : snapshot.value("offers", json::array())) {
        auto offer = parse_offer(item);
        if (!offer) throw std::invalid_argument(offer.error().field + ": " + offer.error().message);
        store_offer(database, *offer);
        assign(database, offer->offer_id, member_id, now);
    }
    for (const json& use : snapshot.value("offer_uses", json::array()))
        insert_use(database, {use.at("operation_id").get<std::string>(), use.at("offer_id").get<std::string>(),
                              member_id, use.at("points").get<Points>(), use.at("discount_cents").get<Cents>(),
                              parse_timestamp(use.at("used_at").get<std::string>()).value_or(now),
                              use.at("voided").get<bool>()});
}

std::vector<Offer> Program::offers() {
    Statement& rows = state_->database.prepare("SELECT definition FROM offers ORDER BY offer_id");
    rows.bind();
    std::vector<Offer> found;
    while (rows.step()) found.push_back(offer_from_row(rows.text(0)));
    return found;
}

std::vector<OfferUse> Program::offer_uses(const std::string& offer_id) {
    Statement& rows = state_->database.prepare(std::string("SELECT ") + use_columns +
                                               " FROM offer_uses WHERE offer_id = ? ORDER BY used_at, operation_id");
    rows.bind(offer_id);
    std::vector<OfferUse> found;
    while (rows.step()) found.push_back(use_from(rows));
    return found;
}

std::vector<OfferOveruse> Program::offer_overuses() {
    Statement& rows = state_->database.prepare(
        "SELECT u.offer_id, u.member_id, COUNT(*), o.definition FROM offer_uses u "
        "JOIN offers o ON o.offer_id = u.offer_id WHERE u.voided = 0 GROUP BY u.offer_id, u.member_id "
        "ORDER BY u.offer_id, u.member_id");
    rows.bind();
    std::vector<OfferOveruse> found;
    while (rows.step()) {
        const std::int64_t limit = offer_from_row(rows.text(3)).uses_per_member;
        if (rows.integer(2) > limit) found.push_back({rows.text(0), rows.text(1), rows.integer(2), limit});
    }
    return found;
}

}  // namespace loyalty
