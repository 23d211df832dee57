#include "loyalty/member.hpp"

#include "loyalty/engagement.hpp"
#include "loyalty/json_reader.hpp"
#include "loyalty/identifiers.hpp"

namespace loyalty {

std::string Member::primary_card() const {
    for (const Card& card : cards) {
        if (card.primary && card.status == "active") return card.number;
    }
    return "";
}

Result<EnrollRequest> parse_enroll_request(const nlohmann::json& body) {
    JsonReader reader(body, "");
    EnrollRequest request;
    request.card = reader.text("card", 32, "");
    request.phone = reader.text("phone", 32, "");
    request.name = reader.text("name", 128);
    request.email = reader.text("email", 254, "");
    request.referral_code = reader.text("referral_code", 32, "");
    request.birthday = reader.text("birthday", 5, "");
    if (!reader.ok()) return reader.error();
    if (const auto found = body.find("consent"); found != body.end()) {
        auto consent = parse_consent(*found, {}, "consent");
        if (!consent) return consent.error();
        request.consent = *consent;
    }
    if (request.name.empty()) return invalid("name", "name must not be empty");
    if (request.card.empty() && request.phone.empty())
        return invalid("card", "a member needs a card or a phone number");
    if (!request.email.empty() && request.email.find('@') == std::string::npos)
        return invalid("email", "email must look like name@example.com");
    if (!request.card.empty()) {
        auto card = normalise_card(request.card);
        if (!card) return card.error();
        request.card = *card;
    }
    if (!request.phone.empty()) {
        auto phone = normalise_phone(request.phone);
        if (!phone) return phone.error();
        request.phone = *phone;
    }
    if (!request.referral_code.empty()) {
        auto code = parse_referral_code(request.referral_code, "referral_code");
        if (!code) return code.error();
        request.referral_code = *code;
    }
    if (!request.birthday.empty()) {
        auto birthday = parse_birthday(request.birthday, "birthday");
        if (!birthday) return birthday.error();
    }
    return request;
}

Result<Consent> parse_consent(const nlohmann::json& body, const Consent& current, const std::string& path) {
    if (!body.is_object()) return invalid(path, path + " must be a JSON object");
    JsonReader reader(body, path);
    Consent consent = current;
    consent.personalised_offers = reader.boolean("personalised_offers", current.personalised_offers);
    consent.marketing = reader.boolean("marketing", current.marketing);
    reader.only({"personalised_offers", "marketing"});
    if (!reader.ok()) return reader.error();
    return consent;
}

Consent restate_consent(const Consent& held, bool personalised_offers, bool marketing, Timestamp at,
                        std::string by) {
    return {personalised_offers, marketing, std::max(at, held.recorded_at + 1), std::move(by)};
}

void to_json(nlohmann::json& out, const Consent& consent) {
    out = {{"membership", true},
           {"personalised_offers", consent.personalised_offers},
           {"marketing", consent.marketing},
           {"recorded_at", consent.recorded_at > 0 ? format_timestamp(consent.recorded_at) : ""},
           {"recorded_by", consent.recorded_by}};
}

void from_json(const nlohmann::json& in, Consent& consent) {
    consent.personalised_offers = in.at("personalised_offers").get<bool>();
    consent.marketing = in.at("marketing").get<bool>();
    consent.recorded_at = parse_timestamp(in.at("recorded_at").get<std::string>()).value_or(0);
    consent.recorded_by = in.at("recorded_by").get<std::string>();
}

void to_json(nlohmann::json& out, const Card& card) {
    out = {{"number", card.number},
           {"primary", card.primary},
           {"status", card.status},
           {"added_at", format_timestamp(card.added_at)}};
}

void from_json(const nlohmann::json& in, Card& card) {
    card.number = in.at("number").get<std::string>();
    card.primary = in.at("primary").get<bool>();
    card.status = in.at("status").get<std::string>();
    card.added_at = parse_timestamp(in.at("added_at").get<std::string>()).value_or(0);
}

void to_json(nlohmann::json& out, const Member& member) {
    out = {{"member_id", member.member_id},
           {"name", member.name},
           {"phone", member.phone},
           {"email", member.email},
           {"cards", member.cards},
           {"card", member.primary_card()},
           {"tier", member.tier},
           {"tier_since", format_timestamp(member.tier_since)},
           {"enrolled_at", format_timestamp(member.enrolled_at)},
           {"consent", member.consent}};
}

void from_json(const nlohmann::json& in, Member& member) {
    member.member_id = in.at("member_id").get<std::string>();
    member.name = in.at("name").get<std::string>();
    member.phone = in.at("phone").get<std::string>();
    member.email = in.at("email").get<std::string>();
    member.cards = in.at("cards").get<std::vector<Card>>();
    member.tier = in.at("tier").get<std::string>();
    member.tier_since = parse_timestamp(in.at("tier_since").get<std::string>()).value_or(0);
    member.enrolled_at = parse_timestamp(in.at("enrolled_at").get<std::string>()).value_or(0);
    // Absent from what nodes older than consent recorded: they recorded none.
    if (in.contains("consent")) member.consent = in.at("consent").get<Consent>();
}

void to_json(nlohmann::json& out, const MemberSummary& summary) {
    to_json(out, summary.member);
    out["points"] = summary.points;
    out["points_pending"] = summary.points_pending;
    out["balance"] = summary.balance;
    out["points_expiring"] = {{"points", summary.points_expiring.points},
                              {"date", summary.points_expiring.date}};
    const TierProgress& progress = summary.tier_progress;
    out["tier_progress"] = {{"next_tier", progress.next_tier},
                            {"spend_needed_cents", progress.spend_needed_cents},
                            {"purchases_needed", progress.purchases_needed},
                            {"qualifying_spend_cents", summary.standing.spend_cents},
                            {"qualifying_purchases", summary.standing.purchases},
                            {"message", progress.message}};
    out["offers"] = summary.offers;
    out["referral_code"] = referral_code(summary.member.member_id);
}

}  // namespace loyalty
