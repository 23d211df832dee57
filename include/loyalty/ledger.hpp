// The points ledger: append-only entries, and the lots they move points in and out of.
//
// Every entry has a stable id, the id of the business operation that caused it and the rule
// version in force. Every entry records how it touched each lot (its allocations), so three
// figures must always agree and tests check that they do:
//   balance = sum of the member's entries = sum of the member's lots' remaining points.
// A lot's remaining may go negative only for a "debt" lot: points reversed by a return after
// they were spent; later credits pay the debt first.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loyalty/clock.hpp"
#include "loyalty/rules.hpp"

namespace loyalty {

enum class EntryKind {
    earn,             // points earned by a purchase (+)
    redeem,           // points paid as tender (-)
    earn_reversal,    // earned points taken back by a return or void (-)
    redeem_refund,    // redeemed points given back by a return or void (+)
    expire,           // points that reached their expiry date (-)
    adjustment,       // a manual correction (+/-)
    bonus,            // points head office granted for engagement: referral, birthday (+)
};

std::string to_string(EntryKind kind);
std::optional<EntryKind> entry_kind_from_string(const std::string& text);

struct LotAllocation {
    std::string lot_id;
    Points points = 0;  // signed: what this entry added to (+) or took from (-) the lot
};

struct LedgerEntry {
    std::string entry_id;
    std::string member_id;
    EntryKind kind = EntryKind::earn;
    Points points = 0;
    std::string operation_id;  // purchase txn id, return id, expiry run id...
    std::int64_t rule_version = 0;
    Timestamp created_at = 0;
    std::vector<LotAllocation> allocations;
};

struct Lot {
    std::string lot_id;
    std::string member_id;
    Points points = 0;     // originally credited
    Points remaining = 0;
    Timestamp earned_at = 0;
    std::optional<Timestamp> expires_at;  // none: never expires
    Timestamp locked_until = 0;           // not spendable before
    bool debt = false;
};

struct HistoryPage {
    std::vector<LedgerEntry> entries;  // newest first
    std::string next_cursor;           // pass back to get older entries; empty at the end
};

void to_json(nlohmann::json& out, const LotAllocation& allocation);
void to_json(nlohmann::json& out, const LedgerEntry& entry);
void to_json(nlohmann::json& out, const Lot& lot);
// The inverse of to_json, for entries and lots replicated from other nodes. Throws
// nlohmann::json::exception on a malformed document.
void from_json(const nlohmann::json& in, LotAllocation& allocation);
void from_json(const nlohmann::json& in, LedgerEntry& entry);
void from_json(const nlohmann::json& in, Lot& lot);

}  // namespace loyalty
