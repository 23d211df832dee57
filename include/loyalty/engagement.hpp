// Engagement (issue 12): what members are rewarded for besides spending. Referrals and
// birthday/anniversary bonuses are granted by head office alone, so that a limit per referrer or
// "once a year" holds across every till; each grant is an ordinary ledger entry ("bonus") on a lot
// of its own, with ids derived from the grant id so that publishing a grant twice credits once.
// Satisfaction scores are recorded at the till after a purchase and classified at head office.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "loyalty/clock.hpp"
#include "loyalty/result.hpp"
#include "loyalty/rules.hpp"

namespace loyalty {

// The code a member gives friends: "R" and 10 letters/digits (Crockford base32 of a 50-bit hash
// of the member id). Every node derives it from the id, so no table has to travel; head office
// resolves a code by deriving the codes of its members.
std::string referral_code(std::string_view member_id);
// A code as a person typed it, normalised (upper case, no spaces or dashes, O→0, I/L→1);
// errors name `field`.
Result<std::string> parse_referral_code(std::string_view text, const std::string& field);

// A birthday as "MM-DD" (no year: the programme does not need the member's age). 02-29 is
// accepted; in other years it is celebrated in February like the rest of the month.
Result<std::string> parse_birthday(std::string_view text, const std::string& field);

// One bonus head office grants: the grant id is the idempotency key and the id of its lot and
// ledger entry, e.g. "birthday/S01-T1-M7/2026" or "referral/S01-T1-M9/referrer".
struct BonusGrant {
    std::string grant_id;
    std::string member_id;
    std::string reason;        // "referral_referrer", "referral_new_member", "birthday", "anniversary"
    std::string operation_id;  // what the grant is for, e.g. "referral/S01-T1-M9"
    Points points = 0;
    Timestamp at = 0;
};
// The feed event's payload for a grant: the lot and the "bonus" entry crediting it, in the
// journal form every node applies (replication.cpp), expiring like earned points under `rules`.
nlohmann::json bonus_payload(const BonusGrant& grant, const RuleSet& rules);

// A score a member gave after a purchase: 0–10, and an optional comment.
struct SatisfactionScore {
    int score = 0;
    std::string comment;
};
// {"score": 0..10, "comment": "..."}; errors name the field.
Result<SatisfactionScore> parse_satisfaction(const nlohmann::json& body);

// Net Promoter classes: 9–10 satisfied (promoters), 7–8 neutral (passives), 0–6 unsatisfied
// (detractors).
enum class Satisfaction { satisfied, neutral, unsatisfied };
Satisfaction classify_satisfaction(int score);
std::string to_string(Satisfaction satisfaction);
std::optional<Satisfaction> satisfaction_from_string(std::string_view text);

}  // namespace loyalty
