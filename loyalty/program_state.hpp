// What a Program holds, shared by the .cpp files that implement its operations.
#pragma once

#include <functional>

#include "loyalty/erasure.hpp"
#include "loyalty/program.hpp"
#include "points_book.hpp"

namespace loyalty {

// One row of what counts for tiers, dated by the purchase it belongs to.
struct QualifyingActivity {
    std::string member_id;
    Timestamp purchased_at = 0;
    Cents spend_cents = 0;
    std::int64_t purchases = 0;
    std::string operation_id;
};

// The row as the operation's outbox event carries it, so that other nodes count the same
// activity for the member's tier.
void to_json(nlohmann::json& out, const QualifyingActivity& activity);

struct Program::State {
    State(ProgramOptions options, const Clock& clock);

    ProgramOptions options;
    const Clock& clock;
    Database database;
    Outbox outbox{database, !options.identifier_key.empty()};
    PointsBook book{database, options.node_id};
    RuleSet rules;
    std::function<bool()> online = [] { return true; };  // offline caps redemptions
    // Picks up rules another connection installed (the sync agent applies new versions).
    void refresh_rules();

    // Runs `write` in one transaction keyed by (kind, operation_id). A replay with the same
    // request returns the stored answer; with another request it is refused as a conflict.
    // Refusals and storage failures roll everything back.
    template <class T>
    Result<Recorded<T>> idempotent(const std::string& kind, const std::string& operation_id,
                                   const nlohmann::json& request,
                                   const std::function<Result<T>()>& write);

    // Runs `work` in one transaction, turning storage failures into ErrorKind::unavailable.
    template <class T>
    Result<T> transact(const std::function<Result<T>()>& work);

    // Installs newer rules inside the caller's transaction.
    Result<Done> install_rules_in_transaction(const RuleSet& candidate);
    Result<Member> load_member(const std::string& member_id);
    Result<Member> member_by_card(const std::string& card);
    Result<Member> member_by_phone(const std::string& phone);
    // A normalised phone number as this node stores and compares it: its keyed hash where the
    // node has an identifier key (tills), else the number (head office). Empty stays empty.
    std::string stored_phone(const std::string& phone) const;
    // Sets the member's phone number, stored as stored_phone() with the masked form a hashing
    // node shows; an empty number or one another member has here is left alone.
    void store_phone(const std::string& member_id, const std::string& phone);
    // Hashes the numbers stored before this node had an identifier key (the upgrade of a till).
    void hash_stored_phones();
    // `member` as an event carries it: a hashing node holds only the masked number, which is
    // no number for the others, so it sends none.
    nlohmann::json event_member(Member member) const;
    Result<Member> resolve(const MemberRef& reference);
    // Erasure (erasure.cpp): blanks the member's personal data everywhere here, refuses sales
    // queued for their cards; the ledger stays under the member id. Idempotent.
    void erase_member(const std::string& member_id, Timestamp now);
    bool is_erased(const std::string& member_id);
    // Engagement (engagement.cpp): the referral code and birthday given at enrolment, and a
    // satisfaction score kept under "<node>/<txn_id>" like offer uses.
    void record_engagement(const std::string& member_id, const nlohmann::json& engagement);
    void record_satisfaction_row(const std::string& purchase_key, const nlohmann::json& score, Timestamp recorded_at);
    // Keeps `consent` in the member's history, and as their consent if newer than what is held.
    bool record_consent(const std::string& member_id, const Consent& consent);

    // Stores the row. Not as JSON: head office, which records every till's rows, has no use for it.
    void record_qualifying(const QualifyingActivity& activity);
    TierStanding standing(const std::string& member_id, Timestamp now);
    // standing(), kept as the member's tier_standings row for the next one to start from.
    TierStanding keep_standing(const std::string& member_id, Timestamp now);
    TierStanding rows_between(const std::string& member_id, Timestamp a, Timestamp b);
    int tier_index(const Member& member) const;
    // Re-decides the member's tier, recording any change and its outbox event.
    std::string reevaluate_tier(const std::string& member_id, Timestamp now);
    // A purchase being recorded for a queued sale marks it recorded, in the same transaction;
    // one voided while queued is refused, so it can never earn.
    Result<Done> settle_queued(const std::string& txn_id);
    // Cancels a sale still queued; false if there is none.
    bool cancel_queued(const std::string& txn_id);
    // Forgets the card of the queued sales `where` selects (an SQL condition on
    // queued_purchases, bound to `values`): blanked in the queue and in the POS's idempotency
    // records of those sales, whose amounts stay.
    template <class... Values>
    void forget_queued_cards(const std::string& where, const Values&... values);
    // Offers (offers.cpp). A use is stored under use_key: "<node>/<txn_id>" everywhere.
    std::string use_key(const std::string& txn_id) const { return options.node_id + "/" + txn_id; }
    std::vector<OfferStanding> offer_standings(const std::string& member_id, Timestamp now);
    std::vector<MemberOffer> member_offers(const std::string& member_id, Timestamp now);
    void record_offer_uses(const std::string& use_key, const std::string& member_id,
                           const std::vector<AppliedOffer>& applied, Timestamp at);
    void void_offer_uses(const std::string& use_key);
    // An "offer" or "offer_assignment" event; throws json or invalid_argument errors if malformed.
    void apply_offer_event(const std::string& type, const nlohmann::json& payload, Timestamp now);
    nlohmann::json offer_snapshot(const std::string& member_id);
    void import_offer_snapshot(const std::string& member_id, const nlohmann::json& snapshot, Timestamp now);
    // Writes an outbox event for `type` carrying `body` plus the journal of posted entries.
    void publish(const std::string& type, nlohmann::json body, Timestamp at);
};

Error storage_failure(const StorageError& error);
// A purchase request as the JSON the POS sends. The core does not trust its caller to have
// validated a request: it passes it through the same gate, which also normalises card and phone.
nlohmann::json request_body(const PurchaseRequest& request);
// The request field that carries an operation's idempotency key, for conflict errors.
std::string idempotency_field(const std::string& kind, const std::string& operation_id);

template <class... Values>
void Program::State::forget_queued_cards(const std::string& where, const Values&... values) {
    database
        .prepare("UPDATE operations SET request = " + scrub_personal_data_sql("request") + ", response = " +
                 scrub_personal_data_sql("response") +
                 " WHERE kind = 'queued_purchase' AND operation_id IN (SELECT txn_id FROM queued_purchases WHERE " +
                 where + ")")
        .bind(values...)
        .run();
    database
        .prepare("UPDATE queued_purchases SET card = '', request = " + scrub_personal_data_sql("request") +
                 " WHERE " + where)
        .bind(values...)
        .run();
}

template <class T>
Result<T> Program::State::transact(const std::function<Result<T>()>& work) {
    try {
        Transaction transaction(database);
        book.take_journal();
        refresh_rules();
        Result<T> result = work();
        if (result) transaction.commit();
        return result;
    } catch (const StorageError& error) {
        book.take_journal();
        return storage_failure(error);
    }
}

template <class T>
Result<Recorded<T>> Program::State::idempotent(const std::string& kind,
                                               const std::string& operation_id,
                                               const nlohmann::json& request,
                                               const std::function<Result<T>()>& write) {
    return transact<Recorded<T>>([&]() -> Result<Recorded<T>> {
        Statement& stored = database.prepare(
            "SELECT request, response FROM operations WHERE kind = ? AND operation_id = ?");
        stored.bind(kind, operation_id);
        if (stored.step()) {
            const std::string first_request = stored.text(0);
            const std::string first_response = stored.text(1);
            stored.reset();
            if (first_request != request.dump())
                return Error{ErrorKind::conflict, "idempotency_conflict",
                             kind + " " + operation_id +
                                 " was already recorded with a different request; use a new id",
                             idempotency_field(kind, operation_id)};
            return Recorded<T>{nlohmann::json::parse(first_response).get<T>(), true};
        }
        stored.reset();
        Result<T> result = write();
        if (!result) return result.error();
        database
            .prepare("INSERT INTO operations(kind, operation_id, request, response, created_at) "
                     "VALUES (?, ?, ?, ?, ?)")
            .bind(kind, operation_id, request.dump(), nlohmann::json(result.value()).dump(),
                  clock.now())
            .run();
        return Recorded<T>{std::move(result).value(), false};
    });
}

}  // namespace loyalty
