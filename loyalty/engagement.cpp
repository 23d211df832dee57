// Engagement (engagement.hpp): referral codes, birthdays, bonus grants as journals, and
// satisfaction scores recorded after a purchase.
#include "loyalty/engagement.hpp"

#include <array>
#include <cctype>

#include "loyalty/json_reader.hpp"
#include "loyalty/ledger.hpp"
#include "loyalty/program.hpp"
#include "program_state.hpp"

namespace loyalty {

namespace {

constexpr std::string_view crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr std::size_t code_letters = 10;  // 50 bits: ~1 in 2,000 chance of any clash among 1M members

// FNV-1a, then splitmix64's finaliser so that ids differing in one digit differ in every bit.
std::uint64_t mixed_hash(std::string_view text) {
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    for (const unsigned char c : text) hash = (hash ^ c) * 0x100000001b3ULL;
    hash = (hash ^ (hash >> 30)) * 0xbf58476d1ce4e5b9ULL;
    hash = (hash ^ (hash >> 27)) * 0x94d049bb133111ebULL;
    return hash ^ (hash >> 31);
}

}  // namespace

std::string referral_code(std::string_view member_id) {
    std::uint64_t bits = mixed_hash(member_id);
    std::string code = "R";
    for (std::size_t i = 0; i < code_letters; ++i, bits >>= 5) code += crockford[bits & 31];
    return code;
}

Result<std::string> parse_referral_code(std::string_view text, const std::string& field) {
    std::string code;
    for (const char c : text) {
        if (c == ' ' || c == '-') continue;
        char upper = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (upper == 'O') upper = '0';
        if (upper == 'I' || upper == 'L') upper = '1';
        code += upper;
    }
    const bool well_formed = code.size() == code_letters + 1 && code.front() == 'R' &&
                             code.find_first_not_of(crockford, 1) == std::string::npos;
    if (!well_formed) return invalid(field, field + " must be a referral code like R7K2M9Q4X1Z (R and 10 letters or digits)");
    return code;
}

Result<std::string> parse_birthday(std::string_view text, const std::string& field) {
    static constexpr std::array<int, 12> days_in_month = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const auto digits = [&](std::size_t at) {
        return std::isdigit(static_cast<unsigned char>(text[at])) && std::isdigit(static_cast<unsigned char>(text[at + 1]))
                   ? (text[at] - '0') * 10 + (text[at + 1] - '0')
                   : -1;
    };
    if (text.size() == 5 && text[2] == '-') {
        const int month = digits(0), day = digits(3);
        if (month >= 1 && month <= 12 && day >= 1 && day <= days_in_month[month - 1]) return std::string(text);
    }
    return invalid(field, field + " must be a date of the year as MM-DD, e.g. 07-14");
}

nlohmann::json bonus_payload(const BonusGrant& grant, const RuleSet& rules) {
    const Lot lot{grant.grant_id, grant.member_id, grant.points, grant.points, grant.at,
                  rules.earn.expiry_months == 0 ? std::nullopt
                                                : std::optional(add_months(grant.at, rules.earn.expiry_months)),
                  0, false};
    const LedgerEntry entry{grant.grant_id, grant.member_id, EntryKind::bonus, grant.points, grant.operation_id,
                            rules.version, grant.at, {{grant.grant_id, grant.points}}};
    return {{"grant", {{"grant_id", grant.grant_id}, {"member_id", grant.member_id}, {"reason", grant.reason}}},
            {"lots", nlohmann::json::array({lot})},
            {"entries", nlohmann::json::array({entry})}};
}

Result<SatisfactionScore> parse_satisfaction(const nlohmann::json& body) {
    if (!body.is_object()) return invalid("body", "the request body must be a JSON object");
    JsonReader reader(body, "");
    SatisfactionScore score;
    score.score = static_cast<int>(reader.integer("score", 0, 10));
    score.comment = reader.text("comment", 1000, "");
    reader.only({"score", "comment"});
    if (!reader.ok()) return reader.error();
    return score;
}

Satisfaction classify_satisfaction(int score) {
    if (score >= 9) return Satisfaction::satisfied;
    if (score >= 7) return Satisfaction::neutral;
    return Satisfaction::unsatisfied;
}

std::string to_string(Satisfaction satisfaction) {
    switch (satisfaction) {
        case Satisfaction::satisfied: return "satisfied";
        case Satisfaction::neutral: return "neutral";
        case Satisfaction::unsatisfied: return "unsatisfied";
    }
    return "unsatisfied";
}

std::optional<Satisfaction> satisfaction_from_string(std::string_view text) {
    for (const Satisfaction s : {Satisfaction::satisfied, Satisfaction::neutral, Satisfaction::unsatisfied})
        if (to_string(s) == text) return s;
    return std::nullopt;
}

// --- Program ---

void Program::State::record_engagement(const std::string& member_id, const nlohmann::json& engagement) {
    database
        .prepare("INSERT INTO member_engagement(member_id, referred_by, birthday) VALUES (?, ?, ?) "
                 "ON CONFLICT DO NOTHING")
        .bind(member_id, engagement.value("referred_by", std::string()), engagement.value("birthday", std::string()))
        .run();
}

void Program::State::record_satisfaction_row(const std::string& purchase_key, const nlohmann::json& score,
                                             Timestamp recorded_at) {
    database
        .prepare("INSERT INTO satisfaction_scores(purchase_key, member_id, score, comment, recorded_at) "
                 "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
        .bind(purchase_key, score.at("member_id").get<std::string>(), score.at("score").get<std::int64_t>(),
              score.value("comment", std::string()), recorded_at)
        .run();
}

Result<Recorded<nlohmann::json>> Program::record_satisfaction(const std::string& txn_id,
                                                             const SatisfactionScore& score) {
    State& s = *state_;
    const nlohmann::json request = {{"score", score.score}, {"comment", score.comment}};
    return s.idempotent<nlohmann::json>("satisfaction", txn_id, request, [&]() -> Result<nlohmann::json> {
        Statement& purchase = s.database.prepare("SELECT member_id, status FROM purchases WHERE txn_id = ?");
        purchase.bind(txn_id);
        if (!purchase.step())
            return Error{ErrorKind::not_found, "unknown_purchase", "no purchase " + txn_id + " was made here", "txn_id"};
        const std::string member_id = purchase.text(0);
        const bool voided = purchase.text(1) == "voided";
        purchase.reset();
        if (voided)
            return Error{ErrorKind::refused, "purchase_voided", "purchase " + txn_id + " was voided", "txn_id"};
        const Timestamp now = s.clock.now();
        const nlohmann::json recorded = {{"txn_id", txn_id},
                                         {"member_id", member_id},
                                         {"score", score.score},
                                         {"comment", score.comment},
                                         {"satisfaction", to_string(classify_satisfaction(score.score))},
                                         {"recorded_at", format_timestamp(now)}};
        s.record_satisfaction_row(s.use_key(txn_id), recorded, now);
        s.publish("satisfaction", recorded, now);
        return recorded;
    });
}

}  // namespace loyalty
