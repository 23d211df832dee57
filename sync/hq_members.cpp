#include "hq_members.hpp"

#include <cstdlib>
#include <ostream>

#include "hq_segmentation.hpp"
#include "loyalty/json_log.hpp"
#include "loyalty/store.hpp"
#include "loyalty/transactions.hpp"

namespace loyalty::hq {

namespace {

using nlohmann::json;

// Who the audit log names for erasures made by a retention run.
constexpr std::string_view retention_actor = "retention";

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

Timestamp retention_date(const std::string& word) {
    const auto day = analytics::parse_day(word);
    if (!day) throw std::invalid_argument("--as-of takes a date YYYY-MM-DD, not " + word);
    return Timestamp{*day} * seconds_per_day;
}

std::int64_t retention_period(const std::string& word) {
    if (word.empty() || word.size() > 6 || word.find_first_not_of("0123456789") != std::string::npos ||
        std::stoll(word) < 1)
        throw std::invalid_argument("--days takes a whole number of days from 1 to 999999, not " + word);
    return std::stoll(word);
}

bool yes_no(const std::string& word, const std::string& flag) {
    if (word == "yes") return true;
    if (word == "no") return false;
    throw std::invalid_argument(flag + " takes yes or no, not " + word);
}

}  // namespace

void to_json(json& out, const RetentionRun& run) {
    out = {{"as_of", format_timestamp(run.as_of)},           {"retention_days", run.retention_days},
           {"inactive_before", format_timestamp(run.inactive_before)}, {"dry_run", run.dry_run},
           {"inactive", run.member_ids.size()},               {"erased", run.erased},
           {"member_ids", run.member_ids}};
}

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
    const auto erased_at = database.query_integer("SELECT erased_at FROM members WHERE member_id = ?", member_id);
    json document = {
        {"exported_at", format_timestamp(clock_.now())},
        {"member", *summary},
        {"erased_at", erased_at ? json(format_timestamp(*erased_at)) : json(nullptr)},
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

Result<Done> MemberData::erase_member(const std::string& actor, const std::string& member_id, json detail) {
    if (auto member = program_.find_member({member_id, "", ""}); !member) return member.error();
    const auto published = store_.publish_event(
        members_origin, "member_erased", {{"member_id", member_id}, {"erased_at", format_timestamp(clock_.now())}},
        {member_id});
    if (!published) return published.error();
    store_.erase_member_events(member_id);
    audit(actor, "member.erase", member_id, std::move(detail));
    return Done{};
}

Result<RetentionRun> MemberData::run_retention(std::int64_t retention_days, Timestamp as_of, bool dry_run) {
    if (retention_days < 1)
        return invalid("retention_days", "the retention period must be at least one day; set retention_days");
    RetentionRun run{as_of, retention_days, as_of - retention_days * seconds_per_day, dry_run};
    // A member's last activity: enrolment, a consent statement, a purchase, any ledger entry
    // but an expiry (which the member did not do).
    Statement& inactive = program_.database().prepare(
        "SELECT m.member_id, max(m.enrolled_at, m.consent_recorded_at, "
        "  ifnull((SELECT max(created_at) FROM purchases p WHERE p.member_id = m.member_id), 0), "
        "  ifnull((SELECT max(created_at) FROM ledger l WHERE l.member_id = m.member_id AND l.kind <> 'expire'), 0)) "
        "  AS last_activity "
        "FROM members m WHERE m.erased_at IS NULL AND last_activity < ? ORDER BY m.member_id");
    inactive.bind(run.inactive_before);
    std::vector<std::pair<std::string, Timestamp>> found;
    while (inactive.step()) found.emplace_back(inactive.text(0), inactive.integer(1));
    for (const auto& [member_id, last_activity] : found) {
        run.member_ids.push_back(member_id);
        if (dry_run) continue;
        const auto erased = erase_member(std::string(retention_actor), member_id,
                                         {{"reason", "retention"}, {"retention_days", retention_days},
                                          {"last_activity", format_timestamp(last_activity)}});
        if (!erased) return erased.error();
        ++run.erased;
    }
    http::log_event(http::LogLevel::info, "retention_run",
                    {{"as_of", format_timestamp(as_of)}, {"retention_days", retention_days},
                     {"inactive", run.member_ids.size()}, {"erased", run.erased}, {"dry_run", dry_run}});
    return run;
}

int run_member_command(const std::vector<std::string>& words, MemberData& members, std::ostream& out,
                       std::ostream& err, std::optional<std::int64_t> retention_days) {
    const char* user = std::getenv("USER");
    std::string actor = user && *user ? user : "operator";
    json statement = json::object();  // the consent flags, as the API takes them
    std::optional<Timestamp> as_of;      // retention
    bool dry_run = false;
    std::vector<std::string> positional;
    try {
        for (std::size_t i = 0; i < words.size(); ++i) {
            const std::string& word = words[i];
            const bool has_value = i + 1 < words.size();
            if (word == "--actor" && has_value) actor = words[++i];
            else if (word == "--personalised-offers" && has_value)
                statement["personalised_offers"] = yes_no(words[++i], word);
            else if (word == "--marketing" && has_value) statement["marketing"] = yes_no(words[++i], word);
            else if (word == "--as-of" && has_value) as_of = retention_date(words[++i]);
            else if (word == "--days" && has_value) retention_days = retention_period(words[++i]);
            else if (word == "--dry-run") dry_run = true;
            else if (word.starts_with("--")) throw std::invalid_argument("unknown or incomplete option " + word);
            else positional.push_back(word);
        }
        const bool retention = !positional.empty() && positional[0] == "retention";
        if (positional.size() != (retention ? 1u : 2u))
            throw std::invalid_argument(retention ? "member retention takes no member id"
                                                  : "member needs a command and a member id");
        if (retention && !retention_days)
            throw std::invalid_argument("member retention needs retention_days in the config, or --days N");
    } catch (const std::invalid_argument& error) {
        err << "loyalty-hq: " << error.what()
            << "; usage: member export ID | erase ID | consent ID [--personalised-offers yes|no] [--marketing yes|no] | "
               "audit ID, each with [--actor NAME] | retention [--as-of YYYY-MM-DD] [--dry-run] [--days N]\n";
        return 2;
    }
    const auto print = [&](const auto& result) {
        if (!result) {
            err << "loyalty-hq: " << result.error().message << "\n";
            return 1;
        }
        out << json(*result).dump() << "\n";
        return 0;
    };
    const std::string& command = positional[0];
    if (command == "retention")
        return print(members.run_retention(*retention_days, as_of.value_or(members.now()), dry_run));
    const std::string& member_id = positional[1];
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
