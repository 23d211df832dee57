// Moves points in and out of lots and writes the matching ledger entries, so that the ledger,
// the lots and the allocations between them can never disagree. Every method runs inside the
// caller's transaction. Everything posted is also collected in a journal, which the caller
// ships in the operation's outbox event.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "loyalty/ledger.hpp"
#include "loyalty/member.hpp"
#include "loyalty/store.hpp"

namespace loyalty {

// Mints ids unique across the chain: "<node>-<prefix><n>".
std::string mint_id(Database& database, const std::string& node_id, const std::string& prefix);

// The ledger context every entry of one operation shares.
struct Posting {
    std::string member_id;
    std::string operation_id;
    std::int64_t rule_version = 0;
    Timestamp at = 0;
};

struct Journal {
    std::vector<LedgerEntry> entries;
    std::vector<Lot> lots;  // lots created
};

void to_json(nlohmann::json& out, const Journal& journal);

class PointsBook {
public:
    PointsBook(Database& database, std::string node_id)
        : database_(database), node_id_(std::move(node_id)) {}

    // Credits a new lot; an outstanding debt is paid first. `new_lot_id` gets the new lot's
    // id, or stays empty if the whole credit went to paying debt.
    LedgerEntry credit(const Posting& posting, EntryKind kind, Points points,
                       std::optional<Timestamp> expires_at, Timestamp locked_until,
                       std::string* new_lot_id = nullptr);
    // Spends from spendable lots, soonest expiry first. The caller has checked the balance.
    LedgerEntry spend(const Posting& posting, Points points);
    // Takes points back (returns, voids): from `preferred_lot` first, then any lot, soonest
    // expiry first; what the member no longer has becomes debt. `shortfall` gets the debt.
    LedgerEntry take_back(const Posting& posting, Points points, const std::string& preferred_lot,
                          Points& shortfall);
    // Expires what is left of every lot whose expiry date is at or before `posting.at`.
    std::vector<LedgerEntry> expire_due(const Posting& context, std::int64_t& lots_expired);

    Points spendable(const std::string& member_id, Timestamp now);
    Points pending(const std::string& member_id, Timestamp now);
    PointsExpiring expiring(const std::string& member_id, Timestamp now, Timestamp horizon);
    std::vector<Lot> lots(const std::string& member_id);

    // Replication: a lot or entry another node minted, each idempotent by its id. An allocation
    // that would take a lot below zero (the same points spent at two nodes while they were
    // apart) takes what is left and moves the rest to this node's debt lot for the member,
    // recorded as an overdraft. Lots must arrive before the entries that use them.
    void add_foreign_lot(const Lot& lot);
    bool apply_foreign_entry(const LedgerEntry& entry, Timestamp now);  // false if already known

    Journal take_journal();

private:
    LedgerEntry post(const Posting& posting, EntryKind kind, Points points,
                     std::vector<LotAllocation> allocations);
    void adjust_lot(const std::string& lot_id, Points delta);
    // Takes up to `points` from lots chosen by `order_sql`; returns what it could not take.
    Points drain(const std::string& sql, const std::string& member_id, Timestamp now,
                 Points points, std::vector<LotAllocation>& allocations);
    Points settle_debt(const std::string& member_id, Points points,
                       std::vector<LotAllocation>& allocations);
    std::string debt_lot(const std::string& member_id, Timestamp at);

    Database& database_;
    std::string node_id_;
    Journal journal_;
};

}  // namespace loyalty
