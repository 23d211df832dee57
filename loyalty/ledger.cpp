#include "loyalty/ledger.hpp"

#include <array>
#include <utility>

namespace loyalty {

namespace {

constexpr std::array<std::pair<EntryKind, std::string_view>, 7> entry_kind_names = {{
    {EntryKind::earn, "earn"},
    {EntryKind::redeem, "redeem"},
    {EntryKind::earn_reversal, "earn_reversal"},
    {EntryKind::redeem_refund, "redeem_refund"},
    {EntryKind::expire, "expire"},
    {EntryKind::adjustment, "adjustment"},
    {EntryKind::bonus, "bonus"},
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

namespace {

Timestamp timestamp_field(const nlohmann::json& in, const char* key) {
    const auto parsed = parse_timestamp(in.at(key).get<std::string>());
    if (!parsed) throw nlohmann::json::other_error::create(501, std::string(key) + " is not a timestamp", &in);
    return *parsed;
}

}  // namespace

void from_json(const nlohmann::json& in, LotAllocation& allocation) {
    allocation.lot_id = in.at("lot_id").get<std::string>();
    allocation.points = in.at("points").get<Points>();
}

void from_json(const nlohmann::json& in, LedgerEntry& entry) {
    entry.entry_id = in.at("entry_id").get<std::string>();
    entry.member_id = in.at("member_id").get<std::string>();
    const auto kind = entry_kind_from_string(in.at("kind").get<std::string>());
    if (!kind) throw nlohmann::json::other_error::create(501, "unknown entry kind", &in);
    entry.kind = *kind;
    entry.points = in.at("points").get<Points>();
    entry.operation_id = in.at("operation_id").get<std::string>();
    entry.rule_version = in.at("rule_version").get<std::int64_t>();
    entry.created_at = timestamp_field(in, "created_at");
    entry.allocations = in.at("allocations").get<std::vector<LotAllocation>>();
}

void from_json(const nlohmann::json& in, Lot& lot) {
    lot.lot_id = in.at("lot_id").get<std::string>();
    lot.member_id = in.at("member_id").get<std::string>();
    lot.points = in.at("points").get<Points>();
    lot.remaining = in.at("remaining").get<Points>();
    lot.earned_at = timestamp_field(in, "earned_at");
    lot.expires_at = in.at("expires_at").is_null() ? std::nullopt
                                                    : std::optional(timestamp_field(in, "expires_at"));
    lot.locked_until = timestamp_field(in, "locked_until");
    lot.debt = in.at("debt").get<bool>();
}

}  // namespace loyalty
