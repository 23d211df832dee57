// Head office's work on one member's personal data for the privacy duties of issue 11: consent
// changed by staff (synced to the tills that know the member), the export of everything held
// about a member as one JSON document, and the audit log of staff actions on member data.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hq_store.hpp"
#include "loyalty/clock.hpp"
#include "loyalty/program.hpp"

namespace loyalty::hq {

struct AuditRecord {
    Timestamp at = 0;
    std::string actor;      // the staff member (the operator's login for commands)
    std::string action;     // "member.view", "member.export", "member.consent"
    std::string member_id;
    nlohmann::json detail;  // what changed; never the member's personal data
};

// One retention run (MemberData::run_retention): who was inactive for longer than the period
// before `as_of`, and how many of them were erased (none on a dry run).
struct RetentionRun {
    Timestamp as_of = 0;
    std::int64_t retention_days = 0;
    Timestamp inactive_before = 0;  // as_of minus the period: last activity before this erases
    bool dry_run = false;
    std::vector<std::string> member_ids{};  // pseudonymous ids, the only thing left of them
    std::int64_t erased = 0;
};

class MemberData {
public:
    // Adds the audit table to the head-office database. `program` and `store` must outlive it.
    MemberData(Program& program, HqStore& store, const Clock& clock);

    void audit(const std::string& actor, const std::string& action, const std::string& member_id,
               nlohmann::json detail = nlohmann::json::object());
    std::vector<AuditRecord> audit_log(const std::string& member_id);
    Timestamp now() const { return clock_.now(); }

    // `statement` as the till's API takes it ({"personalised_offers": bool, "marketing": bool},
    // a purpose left out keeps its answer). Recorded as head office's statement ("HQ").
    Result<Member> set_consent(const std::string& actor, const std::string& member_id,
                               const nlohmann::json& statement);
    // Everything head office holds about the member: profile and consent (with its history),
    // ledger, lots, purchases and their lines, offers and their uses, segmentation, the tills
    // that hold the member, and the audit log.
    Result<nlohmann::json> export_member(const std::string& actor, const std::string& member_id);
    // Erases the member's name, phone, e-mail and card numbers here and, through the feed, at
    // every till that knows them (include/loyalty/erasure.hpp); the ledger stays under the
    // member id. Erasing again is harmless.
    Result<Done> erase_member(const std::string& actor, const std::string& member_id,
                              nlohmann::json detail = nlohmann::json::object());
    // Retention: erases (as erase_member does, actor "retention") every member not yet erased
    // whose last activity (enrolment, a purchase, return or other ledger entry but expiry, a
    // consent statement) is more than `retention_days` before `as_of`. Idempotent: a second
    // run finds nobody new. Logs one "retention_run" line with the counts; a dry run only
    // lists who would be erased. Ledger, balances and totals stay as they are.
    Result<RetentionRun> run_retention(std::int64_t retention_days, Timestamp as_of, bool dry_run);

private:
    Program& program_;
    HqStore& store_;
    const Clock& clock_;
};

void to_json(nlohmann::json& out, const AuditRecord& record);
void to_json(nlohmann::json& out, const RetentionRun& run);

// `loyalty-hq member export ID | erase ID | consent ID [--personalised-offers yes|no]
// [--marketing yes|no] | audit ID`, each with [--actor NAME] (default: $USER), and `member
// retention [--as-of YYYY-MM-DD] [--dry-run] [--days N]` (the period from the config's
// retention_days, given here as `retention_days`, unless --days). Prints JSON; 0 on success, 1
// when refused, 2 for bad usage.
int run_member_command(const std::vector<std::string>& words, MemberData& members, std::ostream& out,
                       std::ostream& err, std::optional<std::int64_t> retention_days = std::nullopt);

}  // namespace loyalty::hq
