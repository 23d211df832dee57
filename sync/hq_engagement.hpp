// Head office's engagement rules (include/loyalty/engagement.hpp): the run that grants referral,
// birthday and anniversary bonuses, and the satisfaction report (NPS per store and segment).
//
// Grants are made here only, so that "once a year" and the limit per referrer hold across every
// till. Each grant is published as a "bonus" event of engagement_origin: head office's Program
// applies it as a remote event, and the feed carries it to the tills that know the member. A
// grant's id is its lot's and entry's id, so a run repeated (or interrupted and run again)
// credits nothing twice.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "hq_server.hpp"
#include "hq_store.hpp"
#include "periodic_task.hpp"
#include "loyalty/json_reader.hpp"
#include "loyalty/program.hpp"

namespace loyalty::hq {

inline constexpr std::string_view engagement_origin = "HQ:engagement";

// The "engagement" object of head office's config; every bonus 0 (the default) is off.
//   {"referral": {"referrer_points": 500, "new_member_points": 250,
//                 "min_purchase_cents": 2000, "max_per_referrer": 10},
//    "birthday_points": 200, "anniversary_points": 100, "run_interval_seconds": 3600}
struct EngagementRules {
    Points referrer_points = 0;
    Points new_member_points = 0;
    Cents referral_min_purchase_cents = 0;  // the new member's first purchase of at least this qualifies
    std::int64_t max_referrals_per_referrer = 10;
    Points birthday_points = 0;     // in the member's birthday month, once a year
    Points anniversary_points = 0;  // in the month they joined, from the first anniversary on, once a year
    // How often `loyalty-hq serve` runs run_engagement itself (when any bonus is on).
    std::chrono::seconds run_interval{3600};

    bool any() const;
};
// Reads the object `reader` is on; errors name the field under its path
// ("engagement.referral.referrer_points").
EngagementRules read_engagement_rules(JsonReader& reader);
nlohmann::json engagement_rules_json(const EngagementRules& rules);

struct EngagementRun {
    std::string as_of;  // YYYY-MM-DD
    std::int64_t referrals = 0, birthdays = 0, anniversaries = 0;
    Points points = 0;
    Points points_expired = 0;  // bonus points past their expiry date, taken back (head office minted them)
    std::vector<std::string> grant_ids;
    // Referrals that earn the referrer nothing, each "<new member>: <reason>" (unknown code,
    // referrer over the limit, own code, erased referrer).
    std::vector<std::string> referrals_refused;
};
nlohmann::json engagement_run_json(const EngagementRun& run);

// Grants what is due as of `as_of` (the day's month decides birthdays and anniversaries), and
// expires bonus lots past their date. Idempotent: a second run the same month grants nothing new.
Result<EngagementRun> run_engagement(Program& program, HqStore& store, const EngagementRules& rules,
                                     Timestamp as_of);

// Takes a grant back (a referral found to be fraudulent, a birthday given by mistake): what is
// left of its lot at head office is reversed ("earn_reversal" entry "<grant_id>/reversed",
// published like the grant); points the member already spent stay spent, so a reversal never
// puts a member in debt. Idempotent: a second call finds the reversal and changes nothing.
struct GrantReversal {
    std::string grant_id;
    Points points_reversed = 0;
    Points points_already_spent = 0;
    bool replayed = false;
};
nlohmann::json grant_reversal_json(const GrantReversal& reversal);
Result<GrantReversal> reverse_grant(Program& program, HqStore& store, const std::string& grant_id, Timestamp at);

// Net Promoter Score over every recorded satisfaction score, overall, per store (of the till the
// purchase was made at) and per segment (the member's segment in the latest segmentation run,
// "unsegmented" before one): {"overall": {"responses", "satisfied", "neutral", "unsatisfied",
// "nps"}, "stores": [{"store_id", ...}], "segments": [{"segment", ...}]}. nps is
// 100 × (satisfied − unsatisfied) / responses, one decimal.
nlohmann::json satisfaction_report(Program& program, HqStore& store);

// While `loyalty-hq serve` runs: run_engagement as of now every rules.run_interval, on the
// DatabaseThread, logged as "engagement_run" when it granted or expired anything; nullptr
// (nothing scheduled) when every bonus is off.
std::unique_ptr<PeriodicTask> schedule_engagement(DatabaseThread& database, Program& program, HqStore& store,
                                                  const EngagementRules& rules, const Clock& clock);

// POST /v1/admin/engagement-run  {"as_of": "YYYY-MM-DD"} optional (default today): the run's JSON
// POST /v1/admin/engagement-reverse {"grant_id": "..."}: reverse_grant's answer
// GET  /v1/satisfaction          the satisfaction report
void add_engagement_routes(http::Router& router, DatabaseThread& database, Program& program, HqStore& store,
                           const EngagementRules& rules, const Clock& clock);

// `loyalty-hq engagement run [--as-of YYYY-MM-DD]`, `loyalty-hq engagement reverse GRANT_ID` and `loyalty-hq satisfaction report`; the
// exit status of the command.
int run_engagement_command(const std::vector<std::string>& args, Program& program, HqStore& store,
                           const EngagementRules& rules, const Clock& clock, std::ostream& out, std::ostream& err);

}  // namespace loyalty::hq
