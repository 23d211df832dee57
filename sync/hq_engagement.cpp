#include "hq_engagement.hpp"

#include <cmath>
#include <map>
#include <ostream>
#include <stdexcept>

#include "loyalty/engagement.hpp"
#include "loyalty/json_log.hpp"
#include "loyalty/store.hpp"
#include "loyalty/transactions.hpp"
#include "till_api.hpp"

namespace loyalty::hq {

using nlohmann::json;

EngagementRules read_engagement_rules(JsonReader& reader) {
    EngagementRules rules;
    constexpr std::int64_t max_points = 1'000'000;
    if (const json* referral = reader.object("referral")) {
        JsonReader nested(*referral, reader.path("referral"));
        rules.referrer_points = nested.integer("referrer_points", 0, max_points, 0);
        rules.new_member_points = nested.integer("new_member_points", 0, max_points, 0);
        rules.referral_min_purchase_cents = nested.integer("min_purchase_cents", 0, 100'000'000, 0);
        rules.max_referrals_per_referrer = nested.integer("max_per_referrer", 0, 10'000, 10);
        nested.only({"referrer_points", "new_member_points", "min_purchase_cents", "max_per_referrer"});
        reader.adopt(nested);
    }
    rules.birthday_points = reader.integer("birthday_points", 0, max_points, 0);
    rules.anniversary_points = reader.integer("anniversary_points", 0, max_points, 0);
    rules.run_interval = std::chrono::seconds(reader.integer("run_interval_seconds", 1, 86'400, 3600));
    reader.only({"referral", "birthday_points", "anniversary_points", "run_interval_seconds"});
    return rules;
}

bool EngagementRules::any() const {
    return referrer_points > 0 || new_member_points > 0 || birthday_points > 0 || anniversary_points > 0;
}

json engagement_rules_json(const EngagementRules& rules) {
    return {{"referral",
             {{"referrer_points", rules.referrer_points},
              {"new_member_points", rules.new_member_points},
              {"min_purchase_cents", rules.referral_min_purchase_cents},
              {"max_per_referrer", rules.max_referrals_per_referrer}}},
            {"birthday_points", rules.birthday_points},
            {"anniversary_points", rules.anniversary_points},
            {"run_interval_seconds", rules.run_interval.count()}};
}

json engagement_run_json(const EngagementRun& run) {
    return {{"as_of", run.as_of},         {"referrals", run.referrals},
            {"birthdays", run.birthdays}, {"anniversaries", run.anniversaries},
            {"points", run.points},       {"points_expired", run.points_expired},
            {"grant_ids", run.grant_ids},
            {"referrals_refused", run.referrals_refused}};
}

namespace {

// One run's grants: each published unless its entry is already in head office's ledger.
class Granter {
  public:
    Granter(Program& program, HqStore& store, EngagementRun& run, Timestamp at)
        : program_(program), store_(store), run_(run), at_(at) {}

    bool granted(const std::string& grant_id) {
        return program_.database().query_integer("SELECT 1 FROM ledger WHERE entry_id = ?", grant_id).has_value();
    }

    // Publishes the grant; false (and nothing published) if it was made before or is worth nothing.
    Result<bool> grant(const std::string& grant_id, const std::string& member_id, const std::string& reason,
                       const std::string& operation_id, Points points) {
        if (points <= 0 || granted(grant_id)) return false;
        const BonusGrant bonus{grant_id, member_id, reason, operation_id, points, at_};
        const auto published =
            store_.publish_event(engagement_origin, "bonus", bonus_payload(bonus, program_.current_rules()), {member_id});
        if (!published) return published.error();
        run_.grant_ids.push_back(grant_id);
        run_.points += points;
        return true;
    }

  private:
    Program& program_;
    HqStore& store_;
    EngagementRun& run_;
    Timestamp at_;
};

// Every non-erased member's referral code; a code two members share resolves to nobody.
std::map<std::string, std::string> referral_codes(Database& database) {
    std::map<std::string, std::string> owners;
    Statement& members = database.prepare("SELECT member_id FROM members WHERE erased_at IS NULL");
    while (members.step()) {
        const std::string member_id = members.text(0);
        const auto [at, fresh] = owners.emplace(referral_code(member_id), member_id);
        if (!fresh) at->second.clear();
    }
    members.reset();
    return owners;
}

struct PendingReferral {
    std::string member_id, code;
};

// New members who named a referral code, have made a qualifying purchase and were not rewarded yet.
std::vector<PendingReferral> pending_referrals(Database& database, const EngagementRules& rules) {
    std::vector<PendingReferral> pending;
    Statement& rows = database.prepare(
        "SELECT e.member_id, e.referred_by FROM member_engagement e JOIN members m USING (member_id) "
        "WHERE e.referred_by <> '' AND m.erased_at IS NULL "
        "AND NOT EXISTS (SELECT 1 FROM ledger l WHERE l.entry_id = 'referral/' || e.member_id || '/new_member') "
        "AND EXISTS (SELECT 1 FROM purchases p WHERE p.member_id = e.member_id AND p.status = 'completed' "
        "AND p.net_cents >= ? AND p.net_cents > 0) ORDER BY e.member_id");
    rows.bind(rules.referral_min_purchase_cents);
    while (rows.step()) pending.push_back({rows.text(0), rows.text(1)});
    rows.reset();
    return pending;
}

Result<Done> grant_referrals(Program& program, const EngagementRules& rules, Granter& granter, EngagementRun& run) {
    Database& database = program.database();
    const std::vector<PendingReferral> pending = pending_referrals(database, rules);
    if (pending.empty()) return Done{};
    const std::map<std::string, std::string> owners = referral_codes(database);
    for (const PendingReferral& referral : pending) {
        const std::string operation = "referral/" + referral.member_id;
        const auto owner = owners.find(referral.code);
        const std::string referrer = owner == owners.end() ? "" : owner->second;
        std::string refusal;
        if (referrer.empty()) refusal = "no member has code " + referral.code;
        else if (referrer == referral.member_id) refusal = "own code";
        else if (*database.query_integer("SELECT COUNT(*) FROM ledger WHERE member_id = ? AND entry_id LIKE "
                                         "'referral/%/referrer'",
                                         referrer) >= rules.max_referrals_per_referrer)
            refusal = "referrer " + referrer + " has had " + std::to_string(rules.max_referrals_per_referrer) +
                      " referrals rewarded";
        if (refusal.empty()) {
            auto made = granter.grant(operation + "/referrer", referrer, "referral_referrer", operation,
                                      rules.referrer_points);
            if (!made) return made.error();
        } else {
            run.referrals_refused.push_back(referral.member_id + ": " + refusal);
        }
        // The new member's welcome settles the referral either way, so a refused one is not
        // reconsidered at every run.
        auto made = granter.grant(operation + "/new_member", referral.member_id, "referral_new_member", operation,
                                  rules.new_member_points);
        if (!made) return made.error();
        ++run.referrals;
    }
    return Done{};
}

// Members, not erased, whose birthday is in `today`'s month; or, for anniversaries, who
// joined in that month of an earlier year.
std::vector<std::string> members_celebrating(Database& database, const std::string& reason, CivilDate today) {
    const std::string month = (today.month < 10 ? "0" : "") + std::to_string(today.month);
    Statement& rows =
        reason == "anniversary"
            ? database
                  .prepare("SELECT member_id FROM members WHERE erased_at IS NULL AND "
                           "strftime('%m', enrolled_at, 'unixepoch') = ? AND "
                           "CAST(strftime('%Y', enrolled_at, 'unixepoch') AS INTEGER) < ? ORDER BY member_id")
                  .bind(month, today.year)
            : database
                  .prepare("SELECT e.member_id FROM member_engagement e JOIN members m USING (member_id) "
                           "WHERE m.erased_at IS NULL AND substr(e.birthday, 1, 2) = ? ORDER BY e.member_id")
                  .bind(month);
    std::vector<std::string> members;
    while (rows.step()) members.push_back(rows.text(0));
    rows.reset();
    return members;
}

Result<std::int64_t> grant_yearly(Database& database, Granter& granter, const std::string& reason, Points points,
                                  Timestamp as_of) {
    if (points <= 0) return 0;
    const CivilDate today = civil_from_days(day_number(as_of));
    std::int64_t count = 0;
    for (const std::string& member_id : members_celebrating(database, reason, today)) {
        const std::string operation = reason + "/" + member_id + "/" + std::to_string(today.year);
        auto made = granter.grant(operation, member_id, reason, operation, points);
        if (!made) return made.error();
        count += *made;
    }
    return count;
}

// Bonus lots were minted here, so head office alone expires them (a till expires only the lots it
// minted): an "expire" entry for what is left of each lot past its date, published like the grant.
// Its id is the lot's with "/expired", and a lot with nothing left is skipped: never twice.
Result<Done> expire_bonuses(Program& program, HqStore& store, EngagementRun& run, Timestamp as_of) {
    struct Due {
        std::string lot_id, member_id;
        Points remaining = 0;
        Timestamp expires_at = 0;
    };
    std::vector<Due> due;
    Statement& rows = program.database().prepare(
        "SELECT lot_id, member_id, remaining, expires_at FROM lots WHERE remaining > 0 AND is_debt = 0 AND "
        "expires_at <= ? AND EXISTS (SELECT 1 FROM ledger l WHERE l.entry_id = lots.lot_id AND l.kind = 'bonus') "
        "ORDER BY expires_at, lot_id");
    rows.bind(as_of);
    while (rows.step()) due.push_back({rows.text(0), rows.text(1), rows.integer(2), rows.integer(3)});
    rows.reset();
    for (const Due& lot : due) {
        const LedgerEntry expiry{lot.lot_id + "/expired", lot.member_id,   EntryKind::expire,
                                 -lot.remaining,          lot.lot_id,      program.current_rules().version,
                                 lot.expires_at,          {{lot.lot_id, -lot.remaining}}};
        const auto published = store.publish_event(engagement_origin, "bonus_expired",
                                                   {{"entries", json::array({expiry})}}, {lot.member_id});
        if (!published) return published.error();
        run.points_expired += lot.remaining;
    }
    return Done{};
}

}  // namespace

Result<EngagementRun> run_engagement(Program& program, HqStore& store, const EngagementRules& rules,
                                     Timestamp as_of) {
    EngagementRun run;
    run.as_of = format_date(as_of);
    Granter granter(program, store, run, as_of);
    if (rules.referrer_points > 0 || rules.new_member_points > 0) {
        if (auto done = grant_referrals(program, rules, granter, run); !done) return done.error();
    }
    auto birthdays = grant_yearly(program.database(), granter, "birthday", rules.birthday_points, as_of);
    if (!birthdays) return birthdays.error();
    run.birthdays = *birthdays;
    auto anniversaries = grant_yearly(program.database(), granter, "anniversary", rules.anniversary_points, as_of);
    if (!anniversaries) return anniversaries.error();
    run.anniversaries = *anniversaries;
    if (auto expired = expire_bonuses(program, store, run, as_of); !expired) return expired.error();
    return run;
}

json grant_reversal_json(const GrantReversal& reversal) {
    return {{"grant_id", reversal.grant_id},
            {"points_reversed", reversal.points_reversed},
            {"points_already_spent", reversal.points_already_spent},
            {"replayed", reversal.replayed}};
}

Result<GrantReversal> reverse_grant(Program& program, HqStore& store, const std::string& grant_id, Timestamp at) {
    Database& database = program.database();
    Statement& grant = database.prepare(
        "SELECT l.member_id, l.points, lots.remaining FROM ledger l JOIN lots ON lots.lot_id = l.entry_id "
        "WHERE l.entry_id = ? AND l.kind = 'bonus'");
    grant.bind(grant_id);
    if (!grant.step())
        return Error{ErrorKind::not_found, "unknown_grant", "no bonus " + grant_id + " was granted", "grant_id"};
    const std::string member_id = grant.text(0);
    const Points points = grant.integer(1), remaining = grant.integer(2);
    grant.reset();
    const std::string reversal_id = grant_id + "/reversed";
    if (const auto reversed = database.query_integer("SELECT -points FROM ledger WHERE entry_id = ?", reversal_id))
        return GrantReversal{grant_id, *reversed, points - *reversed, true};
    GrantReversal reversal{grant_id, std::max<Points>(remaining, 0), points - std::max<Points>(remaining, 0), false};
    if (reversal.points_reversed == 0) return reversal;  // all spent: nothing to take back
    const LedgerEntry entry{reversal_id,     member_id, EntryKind::earn_reversal, -reversal.points_reversed,
                            grant_id,        program.current_rules().version,     at,
                            {{grant_id, -reversal.points_reversed}}};
    const auto published =
        store.publish_event(engagement_origin, "bonus_reversed", {{"entries", json::array({entry})}}, {member_id});
    if (!published) return published.error();
    return reversal;
}

namespace {

struct NpsCount {
    std::int64_t satisfied = 0, neutral = 0, unsatisfied = 0;

    void add(int score) {
        switch (classify_satisfaction(score)) {
            case Satisfaction::satisfied: ++satisfied; break;
            case Satisfaction::neutral: ++neutral; break;
            case Satisfaction::unsatisfied: ++unsatisfied; break;
        }
    }
    json to_json() const {
        const std::int64_t responses = satisfied + neutral + unsatisfied;
        const double nps = responses == 0 ? 0.0 : 100.0 * static_cast<double>(satisfied - unsatisfied) / responses;
        return {{"responses", responses},
                {"satisfied", satisfied},
                {"neutral", neutral},
                {"unsatisfied", unsatisfied},
                {"nps", std::round(nps * 10) / 10}};
    }
};

json grouped(const std::map<std::string, NpsCount>& groups, const char* key) {
    json out = json::array();
    for (const auto& [name, count] : groups) {
        json row = count.to_json();
        row[key] = name;
        out.push_back(std::move(row));
    }
    return out;
}

}  // namespace

json satisfaction_report(Program& program, HqStore& store) {
    NpsCount overall;
    std::map<std::string, NpsCount> stores, segments;
    std::map<std::string, std::string> segment_of;  // member → segment, looked up once each
    // Scores are keyed "<till id>/<txn_id>" and till ids are "<store>-<till>".
    Statement& rows = program.database().prepare(
        "SELECT substr(purchase_key, 1, instr(purchase_key, '-') - 1), member_id, score FROM satisfaction_scores");
    while (rows.step()) {
        const std::string member_id = rows.text(1);
        const int score = static_cast<int>(rows.integer(2));
        auto [known, fresh] = segment_of.emplace(member_id, "unsegmented");
        if (fresh) {
            const auto row = store.latest_member_segment(member_id);
            if (row && !row->segment.empty()) known->second = row->segment;
        }
        overall.add(score);
        stores[rows.text(0)].add(score);
        segments[known->second].add(score);
    }
    rows.reset();
    return {{"overall", overall.to_json()}, {"stores", grouped(stores, "store_id")},
            {"segments", grouped(segments, "segment")}};
}

std::unique_ptr<PeriodicTask> schedule_engagement(DatabaseThread& database, Program& program, HqStore& store,
                                                  const EngagementRules& rules, const Clock& clock) {
    if (!rules.any()) return nullptr;
    const auto run_now = [&program, &store, rules, &clock]() -> Result<Done> {
        auto run = run_engagement(program, store, rules, clock.now());
        if (!run) return run.error();
        if (!run->grant_ids.empty() || run->points_expired > 0)
            http::log_event(http::LogLevel::info, "engagement_run",
                            {{"grants", run->grant_ids.size()}, {"points", run->points},
                             {"points_expired", run->points_expired}});
        return Done{};
    };
    return std::make_unique<PeriodicTask>(rules.run_interval, "engagement_run_failed",
                                          [&database, run_now] { return database.call(run_now); });
}

namespace {

http::Response answer(const Result<EngagementRun>& run) {
    if (!run) return pos::error_response(run.error());
    return http::Response::json(200, engagement_run_json(*run));
}

// {"as_of": "YYYY-MM-DD"}, optional: today if the body is empty.
Timestamp requested_as_of(const http::Request& request, Timestamp today) {
    if (request.body.empty()) return today;
    const json body = request.json_body();
    JsonReader reader(body, "");
    const std::string date = reader.text("as_of", 10);
    reader.only({"as_of"});
    if (!reader.ok()) throw http::RequestError(400, "invalid_field", reader.error().message, reader.error().field);
    const auto day = analytics::parse_day(date);
    if (!day) throw http::RequestError(400, "invalid_field", "as_of must be a date YYYY-MM-DD", "as_of");
    return Timestamp{*day} * seconds_per_day;
}

}  // namespace

void add_engagement_routes(http::Router& router, DatabaseThread& database, Program& program, HqStore& store,
                           const EngagementRules& rules, const Clock& clock) {
    router.add("POST", "/v1/admin/engagement-run", [&, rules](const http::Request& request) {
        const Timestamp as_of = requested_as_of(request, clock.now());
        return database.call([&, as_of] { return answer(run_engagement(program, store, rules, as_of)); });
    });
    router.add("POST", "/v1/admin/engagement-reverse", [&](const http::Request& request) {
        const json body = request.json_body();
        JsonReader reader(body, "");
        const std::string grant_id = reader.text("grant_id", 200);
        reader.only({"grant_id"});
        if (!reader.ok()) return pos::error_response(reader.error());
        return database.call([&, grant_id] {
            const auto reversal = reverse_grant(program, store, grant_id, clock.now());
            if (!reversal) return pos::error_response(reversal.error());
            return http::Response::json(200, grant_reversal_json(*reversal));
        });
    });
    router.add("GET", "/v1/satisfaction", [&](const http::Request&) {
        return database.call([&] { return http::Response::json(200, satisfaction_report(program, store)); });
    });
}

int run_engagement_command(const std::vector<std::string>& args, Program& program, HqStore& store,
                           const EngagementRules& rules, const Clock& clock, std::ostream& out, std::ostream& err) {
    const std::string usage =
        "usage: loyalty-hq engagement run [--as-of YYYY-MM-DD] | engagement reverse GRANT_ID | "
        "satisfaction report\n";
    if (args.size() == 2 && args[0] == "satisfaction" && args[1] == "report") {
        out << satisfaction_report(program, store).dump(2) << "\n";
        return 0;
    }
    if (args.size() == 3 && args[0] == "engagement" && args[1] == "reverse") {
        const auto reversal = reverse_grant(program, store, args[2], clock.now());
        if (!reversal) {
            err << reversal.error().message << "\n";
            return 1;
        }
        out << grant_reversal_json(*reversal).dump(2) << "\n";
        return 0;
    }
    if (args.size() < 2 || args[0] != "engagement" || args[1] != "run") {
        err << usage;
        return 2;
    }
    Timestamp as_of = clock.now();
    for (std::size_t i = 2; i < args.size(); ++i) {
        const auto day = args[i] == "--as-of" && i + 1 < args.size() ? analytics::parse_day(args[i + 1]) : std::nullopt;
        if (!day) {
            err << "--as-of takes a date YYYY-MM-DD\n" << usage;
            return 2;
        }
        as_of = Timestamp{*day} * seconds_per_day;
        ++i;
    }
    const auto run = run_engagement(program, store, rules, as_of);
    if (!run) {
        err << run.error().message << "\n";
        return 1;
    }
    out << engagement_run_json(*run).dump(2) << "\n";
    return 0;
}

}  // namespace loyalty::hq
