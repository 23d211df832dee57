#include "loyalty/ledger.hpp"

#include <array>
#include <utility>

namespace loyalty {

namespace {

constexpr std::array<std::pair<EntryKind, std::string_view>, 6> entry_kind_names = {{
    {EntryKind::earn, "earn"},
    {EntryKind::redeem, "redeem"},
    {EntryKind::earn_reversal, "earn_reversal"},
    {EntryKind::redeem_refund, "redeem_refund"},
    {EntryKind::expire, "expire"},
    {EntryKind::adjustment, "adjustment"},
}};

}  // namespace

std::string to_string(EntryKind kind) {
    for (const auto& [value, name] : entry_kind_names) {
        if (value == kind) return std::string(name);
    }
    return "unknown";
}

std::optional<EntryKind> entry_kind_from_string(const std::string& text) {
    for (const auto& [value, name] : entry_kind_names) {
        if (name == text) return value;
    }
    return std::nullopt;
}

void to_json(nlohmann::json& out, const LotAllocation& allocation) {
    out = {{"lot_id", allocation.lot_id}, {"points", allocation.points}};
}

void to_json(nlohmann::json& out, const LedgerEntry& entry) {
    out = {{"entry_id", entry.entry_id},
           {"member_id", entry.member_id},
           {"kind", to_string(entry.kind)},
           {"points", entry.points},
           {"operation_id", entry.operation_id},
           {"rule_version", entry.rule_version},
           {"created_at", format_timestamp(entry.created_at)},
           {"allocations", entry.allocations}};
}

void to_json(nlohmann::json& out, const Lot& lot) {
    out = {{"lot_id", lot.lot_id},
           {"member_id", lot.member_id},
           {"points", lot.points},
           {"remaining", lot.remaining},
           {"earned_at", format_timestamp(lot.earned_at)},
           {"expires_at", lot.expires_at ? nlohmann::json(format_timestamp(*lot.expires_at))
                                         : nlohmann::json(nullptr)},
           {"locked_until", format_timestamp(lot.locked_until)},
           {"debt", lot.debt}};
}

}  // namespace loyalty
