// A member of the programme as the till and head office see them: identity, cards and the
// figures a cashier shows. Member ids are minted by the node that enrolled the member and are
// unique across the chain ("<node>-M<n>").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loyalty/clock.hpp"
#include "loyalty/offer.hpp"
#include "loyalty/result.hpp"
#include "loyalty/rules.hpp"
#include "loyalty/tier.hpp"

namespace loyalty {

struct Card {
    std::string number;
    bool primary = false;
    std::string status;  // "active" or "blocked"
    Timestamp added_at = 0;
};

// What a member agreed to, and where and when they last said so. Enrolling is agreeing to the
// programme itself; the other purposes are opt-in (privacy by default). Nodes keep the latest
// statement: a newer recorded_at wins, then the greater recorded_by, so every node agrees.
struct Consent {
    bool personalised_offers = false;  // offers chosen from the member's own purchases
    bool marketing = false;            // messages about the programme
    Timestamp recorded_at = 0;
    std::string recorded_by{};         // the node that recorded it: a till id or head office
};

struct Member {
    std::string member_id;
    std::string name;
    std::string phone;  // normalised, empty if none
    std::string email;
    std::vector<Card> cards;
    std::string tier;
    Timestamp tier_since = 0;
    Timestamp enrolled_at = 0;
    Consent consent{};

    // The primary active card, or empty.
    std::string primary_card() const;
};

struct EnrollRequest {
    std::string card;   // raw, optional if phone is given
    std::string phone;  // raw, optional if card is given
    std::string name;
    std::string email;  // optional
    Consent consent{};  // "consent": {"personalised_offers": true, "marketing": false}; absent: none
    std::string referral_code{};  // optional: the code of the member who referred them (engagement.hpp)
    std::string birthday{};       // optional: "MM-DD"
};

Result<EnrollRequest> parse_enroll_request(const nlohmann::json& body);
// {"personalised_offers": bool, "marketing": bool}, each optional: a missing purpose keeps
// `current`'s answer. Errors name the field ("consent.marketing").
Result<Consent> parse_consent(const nlohmann::json& body, const Consent& current, const std::string& path);
// A new statement of consent made by node `by` at `at`, dated after `held` even within the
// same second, so that it is the newest on every node.
Consent restate_consent(const Consent& held, bool personalised_offers, bool marketing, Timestamp at,
                        std::string by);
void to_json(nlohmann::json& out, const Consent& consent);
void from_json(const nlohmann::json& in, Consent& consent);

// How a request names a member: exactly one of these is set.
struct MemberRef {
    std::string member_id;
    std::string card;
    std::string phone;
};

struct PointsExpiring {
    Points points = 0;      // points that expire on `date`, the soonest expiry date
    std::string date;       // empty if nothing is due to expire
};

struct MemberSummary {
    Member member;
    Points points = 0;          // spendable now
    Points points_pending = 0;  // earned but locked until the return period is over
    Points balance = 0;         // points + points_pending (negative only if owed)
    PointsExpiring points_expiring;
    TierStanding standing;
    TierProgress tier_progress;
    std::vector<MemberOffer> offers;  // given to the member, live now, with uses left
};

void to_json(nlohmann::json& out, const Card& card);
void from_json(const nlohmann::json& in, Card& card);
void to_json(nlohmann::json& out, const Member& member);
void from_json(const nlohmann::json& in, Member& member);
// The summary a POS shows: member_id, cards, card, phone, name, tier, points,
// points_pending, points_expiring, tier_progress, offers, and more.
void to_json(nlohmann::json& out, const MemberSummary& summary);

}  // namespace loyalty
