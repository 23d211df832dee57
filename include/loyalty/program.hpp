// The loyalty programme as one node (a till, or head office) runs it: members, purchases,
// redemptions, returns, voids, tiers and expiry over one SQLite file.
//
// Every write is one transaction that also records its idempotency key and an outbox event;
// replaying a key returns the first answer and changes nothing, and the same key with a
// different request is refused as a conflict. Refusals are returned as values and leave the
// database untouched; a storage failure is returned as ErrorKind::unavailable after the
// transaction has been rolled back.
//
// Not thread-safe: one Program per thread, or serialise calls (loyaltyd runs all of them on
// one database thread).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "loyalty/clock.hpp"
#include "loyalty/engagement.hpp"
#include "loyalty/ledger.hpp"
#include "loyalty/member.hpp"
#include "loyalty/offer.hpp"
#include "loyalty/outbox.hpp"
#include "loyalty/purchase.hpp"
#include "loyalty/queued_purchase.hpp"
#include "loyalty/result.hpp"
#include "loyalty/rules.hpp"
#include "loyalty/store.hpp"

namespace loyalty {

struct ProgramOptions {
    std::string database_path;
    std::string node_id;  // e.g. "S01-T1"; prefixes every id this node mints
    Durability durability = Durability::full;
    int expiring_soon_days = 30;  // the summary's "points expiring" looks this far ahead
    int void_window_hours = 24;   // a sale may be voided only this long after it was made
    // While the node cannot reach head office, a member may redeem at most this many points a
    // day here: it bounds what one member can spend twice in two stores that are both offline.
    Points offline_redemption_cap = 2'000;
    // The secret (identifier_key.hpp) under which this node keeps phone numbers as keyed
    // hashes, showing only a masked form; empty keeps them as given (head office). A node
    // opened with a key hashes the numbers it stored before.
    std::string identifier_key{};
};

// Points found spent at two nodes while they were apart, now owed by the member.
struct Overdraft {
    std::string entry_id;
    std::string lot_id;
    std::string member_id;
    Points points = 0;
    Timestamp detected_at = 0;
};

struct ExpiryRun {
    std::int64_t lots_expired = 0;
    Points points_expired = 0;
    std::vector<std::string> entry_ids;
};

struct TierRun {
    std::int64_t members_checked = 0;
    std::int64_t changes = 0;
};

struct TierChange {
    std::string member_id;
    std::string from_tier;
    std::string to_tier;
    std::string reason;
    Timestamp at = 0;
};

// What tests and audits check: the three views of a balance and whether they agree.
struct BalanceAudit {
    Points ledger_sum = 0;
    Points lots_sum = 0;
    bool allocations_match = true;  // each entry's allocations add up to its points, each
                                    // lot's remaining to the allocations made to it
    bool consistent() const { return ledger_sum == lots_sum && allocations_match; }
};

class Program {
public:
    // Opens or creates the database. The rules are installed (recorded with their version) if
    // newer than those stored; otherwise the stored newest version is used.
    Program(ProgramOptions options, const Clock& clock, const RuleSet& rules);
    ~Program();
    Program(const Program&) = delete;
    Program& operator=(const Program&) = delete;

    // The rules as of this Program's last operation.
    const RuleSet& rules() const;
    // The newest installed rules, including a version another connection (the sync agent)
    // installed since.
    const RuleSet& current_rules();
    // Installs a newer rule version; refuses an older or equal version with different content.
    Result<Done> install_rules(const RuleSet& rules);

    Result<Recorded<Member>> enroll(const EnrollRequest& request);
    Result<Member> find_member(const MemberRef& reference);
    Result<MemberSummary> summary(const std::string& member_id);
    Result<Member> add_card(const std::string& member_id, const std::string& card);
    // Blocks a lost card; the member and balance stay. The replacement becomes primary.
    Result<Member> replace_card(const std::string& lost_card, const std::string& new_card);
    Result<Member> block_card(const std::string& card);
    // Records what the member now agrees to (member.hpp); synced to every node that knows them.
    // Without consent to personalised offers, no offer head office assigned applies or shows.
    Result<Member> set_consent(const std::string& member_id, bool personalised_offers, bool marketing);

    Result<Quote> quote(const PurchaseRequest& request);
    Result<Recorded<PurchaseResult>> purchase(const PurchaseRequest& request);
    Result<Recorded<ReturnResult>> return_items(const ReturnRequest& request);
    Result<Recorded<VoidResult>> void_purchase(const std::string& txn_id);

    // A purchase for a card nobody here knows (queued_purchase.hpp). Idempotent by txn_id like
    // purchase(); refused if it redeems points (an unknown member has no balance here) or names
    // the member by anything but a card.
    Result<Recorded<QueuedPurchase>> queue_purchase(const PurchaseRequest& request);
    // Records, oldest first, every queued purchase whose card is now known here.
    Result<QueueReplay> record_queued_purchases();
    // Cards with queued purchases that no member here has yet: the ones to ask head office for.
    std::vector<std::string> queued_cards();
    std::int64_t queued_purchase_count();
    // Refuses every purchase still queued that was queued before `queued_before`: its card is
    // unknown to the whole chain so long (never issued, or its member erased), and a till keeps
    // no card number it cannot serve. Blanks the card and the request's personal data; the
    // amounts stay. Returns how many were refused; idempotent.
    Result<std::int64_t> refuse_stale_queued_purchases(Timestamp queued_before);

    // Expires every lot whose expiry date has passed. Idempotent: a second run finds nothing.
    Result<ExpiryRun> run_expiry();
    // Re-evaluates every member's tier (window roll-off and pending downgrades).
    Result<TierRun> evaluate_tiers();

    Result<HistoryPage> history(const std::string& member_id, int limit, const std::string& cursor);
    std::vector<TierChange> tier_changes(const std::string& member_id);
    std::vector<Lot> lots(const std::string& member_id);
    BalanceAudit audit(const std::string& member_id);

    // --- engagement (engagement.hpp) ---
    // The score the member gave after purchase `txn_id`, made here: one per purchase (the same
    // score again replays, another is a conflict). Synced to head office, which classifies it.
    Result<Recorded<nlohmann::json>> record_satisfaction(const std::string& txn_id, const SatisfactionScore& score);

    // --- offers (offer.hpp): head office publishes them as events of offers_origin ---
    std::vector<Offer> offers();
    std::vector<OfferUse> offer_uses(const std::string& offer_id);
    // Members who used an offer beyond its uses_per_member (only voided uses do not count).
    std::vector<OfferOveruse> offer_overuses();

    // --- replication (the sync agent and head office use these) ---
    // Applies an event another node recorded: a till's outbox event at head office, or another
    // till's event forwarded by head office. Idempotent by (origin, event seq): returns false
    // for an event already applied. Events of unknown type are recorded and skipped, so an
    // older node never stalls on a newer peer's events.
    Result<bool> apply_remote_event(const std::string& origin, const OutboxEvent& event);
    // The same inside a Transaction the caller holds open on database(), so that the caller
    // commits many events at once (head office: one commit per till batch). A refused event may
    // have written part of itself: the caller must then roll its transaction back (head office
    // applies the events before it again). No savepoint per event: its statement journal cost
    // head office a quarter of its ingest time. Storage failures throw StorageError; the
    // caller's transaction then rolls back whole. The event comes in parts, the payload by
    // reference, so head office applies what it parsed from a till's frame without copying it.
    Result<bool> apply_remote_event_in_transaction(const std::string& origin, std::int64_t seq,
                                                   const std::string& type, const nlohmann::json& payload);
    // Everything this node knows about a member, for a node that has never seen them.
    Result<nlohmann::json> member_snapshot(const std::string& member_id);
    // Takes in a snapshot; entries already known are skipped, so importing twice is harmless.
    Result<Member> import_member_snapshot(const nlohmann::json& snapshot);
    std::vector<Overdraft> overdrafts();
    // Offline, redemptions are capped by ProgramOptions::offline_redemption_cap. The probe is
    // asked at each redemption (the sync agent knows whether head office is reachable); it is
    // called on the Program's thread and must be thread-safe on its own side.
    void set_online_probe(std::function<bool()> probe);
    void set_online(bool online);
    bool online() const;

    // Group commit (Database::begin_group): loyaltyd's handler thread runs the requests that
    // waited for it together as one group, committed with one fsync before any is answered.
    void begin_group();
    // Commits what the group wrote so far and keeps it open: before waiting for head office,
    // which must not hold the till's write lock. Outside a group, nothing to do.
    Result<Done> commit_group_writes();
    // Commits the rest and ends the group. A failure (ErrorKind::unavailable) means the writes
    // since the group's last commit were not kept: its requests must not be acknowledged.
    Result<Done> end_group();

    Outbox& outbox();
    Database& database();
    const ProgramOptions& options() const;

    struct State;  // opaque: the implementation's shared state

private:
    std::unique_ptr<State> state_;
};

}  // namespace loyalty
