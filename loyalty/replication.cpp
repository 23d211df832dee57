// Program: replication between nodes. Head office applies the tills' events; tills apply the
// events head office forwards from other tills and import snapshots of members they have never
// seen. Every node applies the same journals (lots, then entries with their allocations), so
// a member's balance is the same sum of the same entries everywhere.
#include <set>

#include "loyalty/identifiers.hpp"
#include "loyalty/program.hpp"
#include "program_state.hpp"

namespace loyalty {

namespace {

using nlohmann::json;

// Inserts or refreshes a member and their cards as another node described them. A phone or
// card that already belongs to a different member here is not taken over: replication must
// never fail on it, and head office reports such duplicates. A phone that is no number (the
// masked form a till shows) changes nothing.
void upsert_member(Program::State& s, const Member& member) {
    Database& database = s.database;
    // An event recorded before the erasure, arriving after it, must not bring the data back.
    if (s.is_erased(member.member_id)) return;
    database
        .prepare("INSERT INTO members(member_id, name, email, tier, tier_since, enrolled_at) "
                 "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(member_id) DO UPDATE SET "
                 "name = excluded.name, email = excluded.email")
        .bind(member.member_id, member.name, member.email.empty() ? std::nullopt : std::optional(member.email),
              member.tier, member.tier_since, member.enrolled_at)
        .run();
    if (const auto phone = normalise_phone(member.phone); phone && *phone == member.phone)
        s.store_phone(member.member_id, member.phone);
    Statement& card = database.prepare(
        "INSERT INTO cards(card_number, member_id, status, is_primary, added_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(card_number) DO UPDATE SET status = excluded.status, "
        "is_primary = excluded.is_primary WHERE member_id = excluded.member_id");
    for (const Card& c : member.cards)
        card.bind(c.number, member.member_id, c.status, c.primary ? 1 : 0, c.added_at).run();
    if (member.consent.recorded_at > 0) s.record_consent(member.member_id, member.consent);
}

Timestamp timestamp_of(const json& value) {
    const auto parsed = parse_timestamp(value.get<std::string>());
    if (!parsed) throw std::invalid_argument("not a timestamp: " + value.get<std::string>());
    return *parsed;
}

// Purchases made elsewhere are kept under "<origin>/<txn_id>" (txn ids are unique per till
// only), so head office has every basket line for segmentation.
void record_remote_purchase(Database& database, const std::string& origin, const json& payload) {
    const json& result = payload.at("result");
    const json& lines = payload.at("request").at("lines");
    const std::string key = origin + "/" + result.at("txn_id").get<std::string>();
    database
        .prepare("INSERT INTO purchases(txn_id, member_id, created_at, rule_version, net_cents, "
                 "redeemed_points, redeemed_cents, earned_points, earn_lot_id, redeem_entry_id, "
                 "status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, 'completed') "
                 "ON CONFLICT DO NOTHING")
        .bind(key, result.at("member_id").get<std::string>(), timestamp_of(result.at("created_at")),
              result.at("rule_version").get<std::int64_t>(), result.at("net_cents").get<Cents>(),
              result.at("points_redeemed").get<Points>(), result.at("redeemed_cents").get<Cents>(),
              result.at("points_earned").get<Points>())
        .run();
    if (database.changes() == 0) return;
    Statement& insert = database.prepare(
        "INSERT INTO purchase_lines(txn_id, line, sku, category, quantity, unit_price_cents, "
        "discount_cents, net_cents, points, qualifying_cents) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)");
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const json& line = lines[i];
        const json& earned = result.at("lines").at(i);
        insert.bind(key, static_cast<std::int64_t>(i), line.at("sku").get<std::string>(),
                    line.at("category").get<std::string>(), line.at("quantity").get<std::int64_t>(),
                    line.at("unit_price_cents").get<Cents>(), line.at("discount_cents").get<Cents>(),
                    earned.at("net_cents").get<Cents>(), earned.at("points").get<Points>())
            .run();
    }
}

void record_remote_return(Database& database, const std::string& origin, const json& payload) {
    const json& result = payload.at("result");
    const std::string key = origin + "/" + result.at("original_txn_id").get<std::string>();
    Statement& update = database.prepare(
        "UPDATE purchase_lines SET returned_quantity = returned_quantity + ? WHERE txn_id = ? AND line = ?");
    for (const json& line : result.at("lines"))
        update.bind(line.at("quantity").get<std::int64_t>(), key, line.at("line").get<std::int64_t>()).run();
}

void record_remote_void(Database& database, const std::string& origin, const json& payload) {
    database.prepare("UPDATE purchases SET status = 'voided' WHERE txn_id = ?")
        .bind(origin + "/" + payload.at("result").at("txn_id").get<std::string>())
        .run();
}

// The field `key` of `payload`, or an empty array. A reference: json::value would copy every lot
// and entry of every event head office applies.
const json& field_or_empty_array(const json& payload, const char* key) {
    static const json empty = json::array();
    const auto found = payload.find(key);
    return found == payload.end() ? empty : *found;
}

// Applies the lots and entries of one journal; returns the members it touched.
std::set<std::string> apply_journal(PointsBook& book, const json& payload, Timestamp now) {
    std::set<std::string> members;
    for (const json& lot : field_or_empty_array(payload, "lots")) book.add_foreign_lot(lot.get<Lot>());
    for (const json& item : field_or_empty_array(payload, "entries")) {
        const LedgerEntry entry = item.get<LedgerEntry>();
        if (book.apply_foreign_entry(entry, now)) members.insert(entry.member_id);
    }
    return members;
}

}  // namespace

Result<bool> Program::apply_remote_event(const std::string& origin, const OutboxEvent& event) {
    return state_->transact<bool>(
        [&] { return apply_remote_event_in_transaction(origin, event.seq, event.type, event.payload); });
}

Result<bool> Program::apply_remote_event_in_transaction(const std::string& origin, std::int64_t seq,
                                                        const std::string& type, const json& payload) {
    State& s = *state_;
    s.book.take_journal();
    s.refresh_rules();  // a refused rules event leaves its version in memory only
    const auto apply = [&]() -> Result<bool> {
        const Timestamp now = s.clock.now();
        s.database
            .prepare("INSERT INTO applied_events(origin, seq, type, applied_at) VALUES (?, ?, ?, ?) "
                     "ON CONFLICT DO NOTHING")
            .bind(origin, seq, type, now)
            .run();
        if (s.database.changes() == 0) return false;
        try {
            if (origin == offers_origin) {
                s.apply_offer_event(type, payload, now);
                return true;
            }
            if (type == "rules") {
                auto rules = parse_rules(payload.at("rules"));
                if (!rules) return rules.error();
                // An older or identical version is already superseded here: nothing to do.
                static_cast<void>(s.install_rules_in_transaction(*rules));
                return true;
            }
            if (payload.contains("member")) upsert_member(s, payload.at("member").get<Member>());
            std::set<std::string> touched = apply_journal(s.book, payload, now);
            if (payload.contains("qualifying")) {
                const json& q = payload.at("qualifying");
                s.record_qualifying({q.at("member_id").get<std::string>(), timestamp_of(q.at("purchased_at")),
                                     q.at("spend_cents").get<Cents>(), q.at("purchases").get<std::int64_t>(),
                                     origin + "/" + q.at("operation_id").get<std::string>()});
                touched.insert(q.at("member_id").get<std::string>());
            }
            if (type == "purchase") {
                record_remote_purchase(s.database, origin, payload);
                const json& result = payload.at("result");
                s.record_offer_uses(origin + "/" + result.at("txn_id").get<std::string>(),
                                    result.at("member_id").get<std::string>(),
                                    result.value("offers", std::vector<AppliedOffer>{}),
                                    timestamp_of(result.at("created_at")));
            }
            if (type == "return") record_remote_return(s.database, origin, payload);
            if (type == "member_erased") s.erase_member(payload.at("member_id").get<std::string>(), now);
            if (type == "consent")
                s.record_consent(payload.at("member_id").get<std::string>(), payload.at("consent").get<Consent>());
            if (payload.contains("engagement"))
                s.record_engagement(payload.at("member").at("member_id").get<std::string>(), payload.at("engagement"));
            if (type == "satisfaction")
                s.record_satisfaction_row(origin + "/" + payload.at("txn_id").get<std::string>(), payload,
                                          timestamp_of(payload.at("recorded_at")));
            if (type == "void") {
                record_remote_void(s.database, origin, payload);
                s.void_offer_uses(origin + "/" + payload.at("result").at("txn_id").get<std::string>());
            }
            for (const std::string& member_id : touched) s.reevaluate_tier(member_id, now);
        } catch (const StorageError&) {
            throw;  // not the event's fault: the caller's transaction rolls back whole
        } catch (const std::exception& error) {  // json::exception, std::invalid_argument
            return Error{ErrorKind::invalid, "malformed_event",
                         "event " + std::to_string(seq) + " (" + type + ") from " + origin +
                             " is malformed: " + error.what(),
                         "payload"};
        }
        return true;
    };
    return apply();
}

Result<json> Program::member_snapshot(const std::string& member_id) {
    State& s = *state_;
    return s.transact<json>([&]() -> Result<json> {
        auto member = s.load_member(member_id);
        if (!member) return member.error();
        json entries = json::array();
        Statement& rows = s.database.prepare(
            "SELECT entry_id, kind, points, operation_id, rule_version, created_at FROM ledger "
            "WHERE member_id = ? ORDER BY position");
        rows.bind(member_id);
        while (rows.step())
            entries.push_back(LedgerEntry{rows.text(0), member_id,
                                          entry_kind_from_string(rows.text(1)).value_or(EntryKind::adjustment),
                                          rows.integer(2), rows.text(3), rows.integer(4), rows.integer(5), {}});
        Statement& allocations =
            s.database.prepare("SELECT lot_id, points FROM lot_allocations WHERE entry_id = ?");
        for (json& entry : entries) {
            allocations.bind(entry["entry_id"].get<std::string>());
            while (allocations.step())
                entry["allocations"].push_back({{"lot_id", allocations.text(0)}, {"points", allocations.integer(1)}});
        }
        json qualifying = json::array();
        Statement& activity = s.database.prepare(
            "SELECT purchased_at, spend_cents, purchases, operation_id FROM qualifying_activity "
            "WHERE member_id = ? ORDER BY rowid");
        activity.bind(member_id);
        while (activity.step())
            qualifying.push_back({{"purchased_at", format_timestamp(activity.integer(0))},
                                  {"spend_cents", activity.integer(1)},
                                  {"purchases", activity.integer(2)},
                                  {"operation_id", activity.text(3)}});
        json snapshot = s.offer_snapshot(member_id);
        snapshot.update({{"member", *member}, {"lots", s.book.lots(member_id)}, {"entries", entries},
                         {"qualifying", qualifying}});
        return snapshot;
    });
}

Result<Member> Program::import_member_snapshot(const json& snapshot) {
    State& s = *state_;
    return s.transact<Member>([&]() -> Result<Member> {
        try {
            const Member member = snapshot.at("member").get<Member>();
            const bool known = s.load_member(member.member_id).ok();
            upsert_member(s, member);
            apply_journal(s.book, snapshot, s.clock.now());
            // Qualifying rows carry no ids; they are taken only for a member new to this node.
            if (!known) {
                for (const json& q : snapshot.at("qualifying"))
                    s.record_qualifying({member.member_id, timestamp_of(q.at("purchased_at")),
                                         q.at("spend_cents").get<Cents>(), q.at("purchases").get<std::int64_t>(),
                                         q.at("operation_id").get<std::string>()});
            }
            s.import_offer_snapshot(member.member_id, snapshot, s.clock.now());
            s.reevaluate_tier(member.member_id, s.clock.now());
            return s.load_member(member.member_id);
        } catch (const std::exception& error) {
            return Error{ErrorKind::invalid, "malformed_snapshot",
                         std::string("member snapshot is malformed: ") + error.what(), "snapshot"};
        }
    });
}

std::vector<Overdraft> Program::overdrafts() {
    Statement& rows = state_->database.prepare(
        "SELECT entry_id, lot_id, member_id, points, detected_at FROM overdrafts ORDER BY detected_at, entry_id");
    rows.bind();
    std::vector<Overdraft> found;
    while (rows.step())
        found.push_back({rows.text(0), rows.text(1), rows.text(2), rows.integer(3), rows.integer(4)});
    return found;
}

void Program::set_online_probe(std::function<bool()> probe) { state_->online = std::move(probe); }
void Program::set_online(bool online) {
    state_->online = [online] { return online; };
}
bool Program::online() const { return state_->online(); }

}  // namespace loyalty
