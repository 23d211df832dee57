#include "hq_members.hpp"

#include <cstdlib>
#include <ostream>

#include "hq_segmentation.hpp"
#include "loyalty/store.hpp"

namespace loyalty::hq {

namespace {

using nlohmann::json;

constexpr std::string_view audit_schema_v1 = R"sql(
CREATE TABLE staff_audit (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    member_id TEXT NOT NULL,
    detail    TEXT NOT NULL
) STRICT;
CREATE INDEX staff_audit_member ON staff_audit(member_id, id);
)sql";

// Rows of `sql`, which selects one json_object(...) column for the member bound to "?".
json rows_as_json(Database& database, const std::string& sql, const std::string& member_id) {
    json rows = json::array();
    Statement& statement = database.prepare(sql);
    statement.bind(member_id);
    while (statement.step()) rows.push_back(json::parse(statement.text_view(0)));
    return rows;
}

bool yes_no(const std::string& word, const std::string& flag) {
    if (word == "yes") return true;
    if (word == "no") return false;
    throw std::invalid_argument(flag + " takes yes or no, not " + word);
}

}  // namespace

void to_json(json& out, const AuditRecord& record) {
    out = {{"at", format_timestamp(record.at)}, {"actor", record.actor}, {"action", record.action},
           {"member_id", record.member_id}, {"detail", record.detail}};
}

MemberData::MemberData(Program& program, HqStore& store, const Clock& clock)
    : program_(program), store_(store), clock_(clock) {
    program_.database().migrate_component("hq_privacy", {{1, audit_schema_v1}});
}

void MemberData::audit(const std::string& actor, const std::string& action, const std::string& member_id,
                       json detail) {
    Transaction transaction(program_.database());
    program_.database()
        .prepare("INSERT INTO staff_audit(at, actor, action, member_id, detail) VALUES (?, ?, ?, ?, ?)")
        .bind(clock_.now(), actor, action, member_id, detail.dump())
        .run();
    transaction.commit();
}

std::vector<AuditRecord> MemberData::audit_log(const std::string& member_id) {
    Statement& rows = program_.database().prepare(
        "SELECT at, actor, action, member_id, detail FROM staff_audit WHERE member_id = ? ORDER BY id");
    rows.bind(member_id);
    std::vector<AuditRecord> log;
    while (rows.step())
        log.push_back({rows.integer(0), rows.text(1), rows.text(2), rows.text(3), json::parse(rows.text(4))});
    return log;
}

Result<Member> MemberData::set_consent(const std::string& actor, const std::string& member_id,
                                       const json& statement) {
    auto member = program_.find_member({member_id, "", ""});
    if (!member) return member.error();
    const auto given = parse_consent(statement, member->consent, "consent");
    if (!given) return given.error();
    const Consent consent = restate_consent(member->consent, given->personalised_offers, given->marketing,
                                            clock_.now(), std::string(config_origin));
    const auto published =
        store_.publish_event(members_origin, "consent", {{"member_id", member_id}, {"consent", consent}}, {member_id});
    if (!published) return published.error();
    audit(actor, "member.consent", member_id,
          {{"personalised_offers", consent.personalised_offers}, {"marketing", consent.marketing}});
    return program_.find_member({member_id, "", ""});
}

Result<json> MemberData::export_member(const std::string& actor, const std::string& member_id) {
    auto summary = program_.summary(member_id);
    if (!summary) return summary.error();
    auto snapshot = program_.member_snapshot(member_id);
    if (!snapshot) return snapshot.error();
    audit(actor, "member.export", member_id);
    Database& database = program_.database();
    const auto segment = store_.latest_member_segment(member_id);
    json document = {
        {"exported_at", format_timestamp(clock_.now())},
        {"member", *summary},
        {"consent_history",
         rows_as_json(database,
                      "SELECT json_object('personalised_offers', personalised_offers, 'marketing', marketing, "
                      "'recorded_at', recorded_at, 'recorded_by', recorded_by) FROM consent_history "
                      "WHERE member_id = ? ORDER BY recorded_at, recorded_by",
                      member_id)},
        {"ledger", snapshot->at("entries")},
        {"lots", snapshot->at("lots")},
        {"qualifying_activity", snapshot->at("qualifying")},
        {"offers", snapshot->at("offers")},
        {"offer_uses", snapshot->at("offer_uses")},
        {"purchases",
         rows_as_json(database,
                      "SELECT json_object('txn_id', txn_id, 'created_at', created_at, 'net_cents', net_cents, "
                      "'redeemed_points', redeemed_points, 'earned_points', earned_points, 'status', status) "
                      "FROM purchases WHERE member_id = ? ORDER BY created_at, txn_id",
                      member_id)},
        {"purchase_lines",
         rows_as_json(database,
                      "SELECT json_object('txn_id', l.txn_id, 'line', l.line, 'sku', l.sku, 'category', l.category, "
                      "'quantity', l.quantity, 'net_cents', l.net_cents, 'returned_quantity', l.returned_quantity) "
                      "FROM purchase_lines l JOIN purchases p ON p.txn_id = l.txn_id WHERE p.member_id = ? "
                      "ORDER BY p.created_at, l.txn_id, l.line",
                      member_id)},
        {"segmentation", segment ? member_segment_json(*segment) : json(nullptr)},
        {"tills", rows_as_json(database,
                               "SELECT json_object('till_id', till_id) FROM till_members WHERE member_id = ? "
                               "ORDER BY till_id",
                               member_id)},
        {"audit", audit_log(member_id)}};
    return document;
}

Result<Done> MemberData::erase_member(const std::string& actor, const std::string& member_id) {
    if (auto member = program_.find_member({member_id, "", ""}); !member) return member.error();
    const auto published = store_.publish_event(
        members_origin, "member_erased", {{"member_id", member_id}, {"erased_at", format_timestamp(clock_.now())}},
        {member_id});
    if (!published) return published.error();
    store_.erase_member_events(member_id);
    audit(actor, "member.erase", member_id);
    return Done{};
}

int run_member_command(const std::vector<std::string>& words, MemberData& members, std::ostream& out,
                       std::ostream& err) {
    const char* user = std::getenv("USER");
    std::string actor = user && *user ? user : "operator";
    json statement = json::object();  // the consent flags, as the API takes them
    std::vector<std::string> positional;
    try {
        for (std::size_t i = 0; i < words.size(); ++i) {
            const std::string& word = words[i];
            const bool has_value = i + 1 < words.size();
            if (word == "--actor" && has_value) actor = words[++i];
            else if (word == "--personalised-offers" && has_value)
                statement["personalised_offers"] = yes_no(words[++i], word);
            else if (word == "--marketing" && has_value) statement["marketing"] = yes_no(words[++i], word);
            else if (word.starts_with("--")) throw std::invalid_argument("unknown or incomplete option " + word);
            else positional.push_back(word);
        }
        if (positional.size() != 2) throw std::invalid_argument("member needs a command and a member id");
    } catch (const std::invalid_argument& error) {
        err << "loyalty-hq: " << error.what()
            << "; usage: member export ID | erase ID | consent ID [--personalised-offers yes|no] [--marketing yes|no] | "
               "audit ID, each with [--actor NAME]\n";
        return 2;
    }
    const std::string& command = positional[0];
    const std::string& member_id = positional[1];
    const auto print = [&](const auto& result) {
        if (!result) {
            err << "loyalty-hq: " << result.error().message << "\n";
            return 1;
        }
        out << json(*result).dump() << "\n";
        return 0;
    };
    if (command == "export") return print(members.export_member(actor, member_id));
    if (command == "consent") return print(members.set_consent(actor, member_id, statement));
    if (command == "erase") {
        const auto erased = members.erase_member(actor, member_id);
        if (!erased) {
            err << "loyalty-hq: " << erased.error().message << "\n";
            return 1;
        }
        out << json{{"member_id", member_id}, {"erased", true}}.dump() << "\n";
        return 0;
    }
    if (command == "audit") {
        out << json(members.audit_log(member_id)).dump() << "\n";
        return 0;
    }
    err << "loyalty-hq: unknown member command " << command << "\n";
    return 2;
}

}  // namespace loyalty::hq
