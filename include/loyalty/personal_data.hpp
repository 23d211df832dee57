// Data minimisation on a till (issue 11): a till keeps a member's name and e-mail only while it
// needs them, i.e. for members seen at this till lately (enrolled, bought, stated consent or
// were looked up here). prune_personal_data blanks them for the others; cards, the ledger and
// the member id stay, so the member is still recognised and served at the till. Head office
// keeps the full record, and a member pruned here who shops again is served without a name.
//
// Like expiry: explicit (loyaltyd's maintenance runs it when `personal_data_days` is set),
// idempotent (a second run finds nobody), and the caller logs the counts. Not thread-safe: call
// on the Program's own thread.
#pragma once

#include <cstdint>
#include <string>

#include "loyalty/program.hpp"

namespace loyalty {

struct PersonalDataPrune {
    Timestamp seen_before = 0;  // members last seen here before this lost name and e-mail
    std::int64_t members = 0;   // members whose name or e-mail was blanked by this run
};

// Records that `member_id` was looked up at this till now, which keeps their personal data
// here for another period. Writes at most once an hour per member, so lookups at checkout stay
// reads nearly always. Unknown members are ignored.
Result<Done> note_member_seen(Program& program, const std::string& member_id, Timestamp now);

// Blanks the name and e-mail of every member not seen at this till within `keep_days` before
// `now`, also in the records of their enrolment here (the idempotency record and the outbox
// events head office has acknowledged). `keep_days` must be at least 1.
Result<PersonalDataPrune> prune_personal_data(Program& program, std::int64_t keep_days, Timestamp now);

}  // namespace loyalty
