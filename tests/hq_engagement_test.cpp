// Engagement rules run at head office over real Programs and real SQLite files, with the bonuses
// reaching the tills through the feed: referrals pay after the new member's first qualifying
// purchase and never at enrolment, once, within the referrer's limit; birthday and anniversary
// bonuses come once a year; satisfaction scores from the tills give NPS per store and segment and
// a target for campaigns.
#include "hq_engagement.hpp"

#include <algorithm>
#include <cctype>

#include <catch2/catch.hpp>

#include "hq_campaigns.hpp"
#include "support/hq_chain_fixture.hpp"

using namespace loyalty;
using namespace loyalty::testing;
using nlohmann::json;

namespace {

hq::EngagementRules referral_rules(std::int64_t max_per_referrer = 10) {
    hq::EngagementRules rules;
    rules.referrer_points = 500;
    rules.new_member_points = 250;
    rules.referral_min_purchase_cents = 2000;
    rules.max_referrals_per_referrer = max_per_referrer;
    return rules;
}

EnrollRequest enrolment(int n, std::string referral_code = "", std::string birthday = "", bool offers = false) {
    EnrollRequest request{valid_card(n), "", "Member " + std::to_string(n), "", Consent{offers, false}};
    request.referral_code = std::move(referral_code);
    request.birthday = std::move(birthday);
    return request;
}

std::string enroll(Program& till, const EnrollRequest& request) {
    auto enrolled = till.enroll(request);
    REQUIRE(enrolled.ok());
    return enrolled->result.member_id;
}

void buy(Program& till, const std::string& txn_id, const std::string& member_id, Cents cents) {
    REQUIRE(till.purchase(sale(txn_id, member_id, {line("SKU-" + txn_id, "grocery", 1, cents)})).ok());
}

Points balance(Program& program, const std::string& member_id) {
    const auto summary = program.summary(member_id);
    REQUIRE(summary.ok());
    return summary->balance;
}

hq::EngagementRun run(HeadOfficeWithTills& chain, const hq::EngagementRules& rules, const std::string& date) {
    auto done = hq::run_engagement(*chain.hq, *chain.store, rules, parse_timestamp(date).value());
    REQUIRE(done.ok());
    return *done;
}

}  // namespace

TEST_CASE("a referral pays both members once, after the new member's first qualifying purchase", "[engagement]") {
    HeadOfficeWithTills chain({"S01-T1", "S02-T1"});
    Program& a = chain.till("S01-T1");
    Program& b = chain.till("S02-T1");
    const std::string referrer = enroll(a, enrolment(1));
    // The member's code is on their summary; a friend might type it in lower case, with a dash.
    std::string typed = json(*a.summary(referrer)).at("referral_code");
    CHECK(typed == referral_code(referrer));
    std::transform(typed.begin(), typed.end(), typed.begin(), [](unsigned char c) { return std::tolower(c); });
    typed.insert(4, "-");
    const std::string friend_id = enroll(b, enrolment(2, typed));
    chain.sync_all();
    const auto rules = referral_rules();

    // Enrolment alone earns nothing: fake sign-ups are worth nothing.
    CHECK(run(chain, rules, "2026-01-05").grant_ids.empty());
    // Nor does a purchase below the qualifying amount.
    buy(b, "T1", friend_id, 1500);
    chain.sync_all();
    CHECK(run(chain, rules, "2026-01-05").grant_ids.empty());
    CHECK(balance(*chain.hq, referrer) == 0);

    buy(b, "T2", friend_id, 3000);
    chain.sync_all();
    const hq::EngagementRun paid = run(chain, rules, "2026-01-06");
    CHECK(paid.referrals == 1);
    CHECK(paid.points == 750);
    CHECK(balance(*chain.hq, referrer) == 500);
    CHECK(balance(*chain.hq, friend_id) == 15 + 30 + 250);

    // Run again, and again after more purchases: nothing is granted twice.
    buy(b, "T3", friend_id, 5000);
    chain.sync_all();
    CHECK(run(chain, rules, "2026-01-07").grant_ids.empty());
    CHECK(balance(*chain.hq, referrer) == 500);

    // The bonuses reach the tills that know each member, and every view of a balance agrees.
    chain.sync_all();
    CHECK(balance(a, referrer) == 500);
    CHECK(balance(b, friend_id) == balance(*chain.hq, friend_id));
    for (Program* program : {chain.hq.get(), &a}) CHECK(program->audit(referrer).consistent());
    for (Program* program : {chain.hq.get(), &b}) CHECK(program->audit(friend_id).consistent());
    // The bonus is a ledger entry of its own kind, in the member's history.
    const auto history = a.history(referrer, 10, "");
    REQUIRE(history.ok());
    REQUIRE(history->entries.size() == 1);
    CHECK(history->entries.front().kind == EntryKind::bonus);
    CHECK(history->entries.front().operation_id == "referral/" + friend_id);
}

TEST_CASE("a referrer is rewarded up to the limit, and unknown or own codes pay no referrer", "[engagement]") {
    HeadOfficeWithTills chain({"S01-T1"});
    Program& till = chain.till("S01-T1");
    const std::string referrer = enroll(till, enrolment(1));
    const std::string first = enroll(till, enrolment(2, referral_code(referrer)));
    const std::string second = enroll(till, enrolment(3, referral_code(referrer)));
    const std::string stranger = enroll(till, enrolment(4, referral_code("nobody-at-all")));
    for (const auto& [txn, member] : {std::pair{"T1", first}, {"T2", second}, {"T3", stranger}})
        buy(till, txn, member, 2500);
    chain.sync_all();

    const hq::EngagementRun paid = run(chain, referral_rules(1), "2026-01-06");
    CHECK(paid.referrals == 3);
    CHECK(balance(*chain.hq, referrer) == 500);  // one referral's worth: the limit is 1
    REQUIRE(paid.referrals_refused.size() == 2);
    CHECK(paid.referrals_refused[0].find(second + ": referrer " + referrer) == 0);
    CHECK(paid.referrals_refused[1].find(stranger + ": no member has code") == 0);
    // New members are welcomed either way, once.
    for (const std::string& member : {first, second, stranger}) CHECK(balance(*chain.hq, member) == 25 + 250);
    CHECK(run(chain, referral_rules(1), "2026-01-07").grant_ids.empty());
}

TEST_CASE("a bad referral code or birthday at enrolment is refused naming the field, nothing stored", "[engagement]") {
    HeadOfficeWithTills chain({"S01-T1"});
    Program& till = chain.till("S01-T1");
    const std::int64_t seq_before = *till.database().query_integer("SELECT COALESCE(MAX(seq), 0) FROM outbox");
    for (const auto& [request, field] :
         {std::pair{enrolment(1, "R123"), "referral_code"}, {enrolment(1, "", "02-30"), "birthday"},
          {enrolment(1, "", "13-01"), "birthday"}, {enrolment(1, "", "7-4"), "birthday"}}) {
        const auto refused = till.enroll(request);
        REQUIRE_FALSE(refused.ok());
        CHECK(refused.error().field == field);
    }
    CHECK(*till.database().query_integer("SELECT COUNT(*) FROM members") == 0);
    CHECK(*till.database().query_integer("SELECT COALESCE(MAX(seq), 0) FROM outbox") == seq_before);
    CHECK(parse_birthday("02-29", "birthday").ok());
}

TEST_CASE("birthday and anniversary bonuses come once a year, in their month", "[engagement]") {
    HeadOfficeWithTills chain({"S01-T1"});
    Program& till = chain.till("S01-T1");
    const std::string member = enroll(till, enrolment(1, "", "03-15"));  // joined 2026-01-05
    const std::string erased = enroll(till, enrolment(2, "", "03-20"));
    chain.sync_all();
    hq::EngagementRules rules;
    rules.birthday_points = 200;
    rules.anniversary_points = 100;
    REQUIRE(chain.hq->apply_remote_event("HQ:members", {1, "member_erased", {{"member_id", erased}}, 0}).ok());

    CHECK(run(chain, rules, "2026-01-20").grant_ids.empty());  // joined this January: no anniversary yet
    CHECK(run(chain, rules, "2026-02-28").grant_ids.empty());
    const hq::EngagementRun march = run(chain, rules, "2026-03-01");
    CHECK(march.birthdays == 1);  // the erased member's birthday is gone with their data
    CHECK(march.grant_ids == std::vector<std::string>{"birthday/" + member + "/2026"});
    CHECK(run(chain, rules, "2026-03-31").grant_ids.empty());
    CHECK(balance(*chain.hq, member) == 200);

    const hq::EngagementRun next_january = run(chain, rules, "2027-01-10");
    CHECK(next_january.anniversaries == 1);
    CHECK(run(chain, rules, "2027-03-02").birthdays == 1);
    CHECK(balance(*chain.hq, member) == 500);
    chain.sync_all();
    CHECK(balance(till, member) == 500);
    CHECK(till.audit(member).consistent());
}

TEST_CASE("bonus points expire like earned points, and the balance stays whole", "[engagement]") {
    HeadOfficeWithTills chain({"S01-T1"}, rules_with({{"earn", {{"expiry_months", 12}}}}));
    Program& till = chain.till("S01-T1");
    const std::string member = enroll(till, enrolment(1, "", "01-05"));
    chain.sync_all();
    hq::EngagementRules rules;
    rules.birthday_points = 200;
    run(chain, rules, "2026-01-05");
    chain.sync_all();
    REQUIRE(balance(till, member) == 200);
    // Past its date the bonus is no longer spendable anywhere; head office, which minted it,
    // writes the expiry, once, and the till takes it in.
    chain.clock.set(parse_timestamp("2027-02-01T00:00:00Z").value());  // after the date, out of the birthday month
    REQUIRE(till.run_expiry().ok());  // the till never expires a lot it did not mint
    CHECK(till.audit(member).ledger_sum == 200);
    CHECK(run(chain, rules, "2027-02-01").points_expired == 200);
    CHECK(run(chain, rules, "2027-02-02").points_expired == 0);
    chain.sync_all();
    for (Program* program : {chain.hq.get(), &till}) {
        CHECK(program->audit(member).ledger_sum == 0);
        CHECK(program->audit(member).consistent());
        CHECK(balance(*program, member) == 0);
    }
}

TEST_CASE("a grant is reversed once, taking back only what the member has not spent", "[engagement]") {
    HeadOfficeWithTills chain({"S01-T1"});
    Program& till = chain.till("S01-T1");
    const std::string kept = enroll(till, enrolment(1, "", "03-01"));
    const std::string spender = enroll(till, enrolment(2, "", "03-02"));
    chain.sync_all();
    hq::EngagementRules rules;
    rules.birthday_points = 200;
    run(chain, rules, "2026-03-01");
    chain.sync_all();
    // The second member spends 150 of the 200 at the till before the reversal.
    REQUIRE(till.purchase(sale("T1", spender, {line("SKU", "grocery", 1, 5000)}, 150)).ok());
    chain.sync_all();

    const auto whole = hq::reverse_grant(*chain.hq, *chain.store, "birthday/" + kept + "/2026", chain.clock.now());
    REQUIRE(whole.ok());
    CHECK(whole->points_reversed == 200);
    const auto partial = hq::reverse_grant(*chain.hq, *chain.store, "birthday/" + spender + "/2026", chain.clock.now());
    REQUIRE(partial.ok());
    CHECK(partial->points_reversed == 50);
    CHECK(partial->points_already_spent == 150);
    const auto again = hq::reverse_grant(*chain.hq, *chain.store, "birthday/" + kept + "/2026", chain.clock.now());
    REQUIRE(again.ok());
    CHECK(again->replayed);
    CHECK(again->points_reversed == 200);
    CHECK(hq::reverse_grant(*chain.hq, *chain.store, "birthday/nobody/2026", 0).error().field == "grant_id");
    chain.sync_all();
    for (Program* program : {chain.hq.get(), &till}) {
        CHECK(balance(*program, kept) == 0);
        CHECK(balance(*program, spender) == 48);  // the sale earned 48 (on 48.50 paid); never below zero
        CHECK(program->audit(kept).consistent());
        CHECK(program->audit(spender).consistent());
    }
    CHECK(chain.hq->overdrafts().empty());
}

TEST_CASE("satisfaction scores: once per purchase at the till, NPS per store and segment, a campaign target",
          "[engagement]") {
    HeadOfficeWithTills chain({"S01-T1", "S02-T1"});
    Program& a = chain.till("S01-T1");
    Program& b = chain.till("S02-T1");
    const std::string happy = enroll(a, enrolment(1, "", "", true));
    const std::string unhappy = enroll(b, enrolment(2, "", "", true));
    buy(a, "T1", happy, 1000);
    buy(b, "T1", unhappy, 1000);
    buy(b, "T2", unhappy, 1000);
    REQUIRE(b.void_purchase("T2").ok());

    const auto recorded = a.record_satisfaction("T1", {10, "quick and friendly"});
    REQUIRE(recorded.ok());
    CHECK(recorded->result.at("satisfaction") == "satisfied");
    CHECK(a.record_satisfaction("T1", {10, "quick and friendly"})->replayed);
    CHECK(a.record_satisfaction("T1", {3, ""}).error().kind == ErrorKind::conflict);
    CHECK(a.record_satisfaction("NOPE", {3, ""}).error().field == "txn_id");
    CHECK(b.record_satisfaction("T2", {3, ""}).error().code == "purchase_voided");
    REQUIRE(b.record_satisfaction("T1", {3, "long queue"}).ok());
    for (const json& body : {json{{"score", 11}}, json{{"score", "ten"}}, json::object(), json{{"score", 5}, {"x", 1}}})
        CHECK_FALSE(parse_satisfaction(body).ok());
    CHECK(parse_satisfaction(json{{"score", 11}}).error().field == "score");
    chain.sync_all();

    const json report = hq::satisfaction_report(*chain.hq, *chain.store);
    CHECK(report.at("overall") == json{{"responses", 2}, {"satisfied", 1}, {"neutral", 0}, {"unsatisfied", 1},
                                       {"nps", 0.0}});
    REQUIRE(report.at("stores").size() == 2);
    CHECK(report.at("stores")[0].at("store_id") == "S01");
    CHECK(report.at("stores")[0].at("nps") == 100.0);
    CHECK(report.at("stores")[1].at("nps") == -100.0);
    CHECK(report.at("segments")[0].at("segment") == "unsegmented");

    // Service recovery: a campaign for the unsatisfied among a list reaches only them.
    hq::Campaigns campaigns(*chain.hq, *chain.store, chain.clock);
    auto campaign = hq::parse_campaign({{"name", "Sorry"},
                                        {"target", {{"members", {happy, unhappy}}, {"satisfaction", "unsatisfied"}}},
                                        {"control_percent", 0},
                                        {"offer",
                                         {{"kind", "bonus_points"},
                                          {"title", "100 points on your next visit"},
                                          {"bonus_points", 100},
                                          {"valid_from", "2026-01-05T00:00:00Z"},
                                          {"valid_until", "2026-02-05T00:00:00Z"}}}});
    REQUIRE(campaign.ok());
    CHECK(hq::parse_campaign({{"name", "x"}, {"target", {{"satisfaction", "angry"}}}, {"offer", json::object()}})
              .error()
              .field == "target.satisfaction");
    const auto created = campaigns.create(*campaign);
    REQUIRE(created.ok());
    const auto preview = campaigns.preview(created->campaign_id);
    REQUIRE(preview.ok());
    CHECK(preview->targeted == 1);
}

TEST_CASE("erasure blanks a member's birthday and satisfaction comments", "[engagement]") {
    HeadOfficeWithTills chain({"S01-T1"});
    Program& till = chain.till("S01-T1");
    const std::string member = enroll(till, enrolment(1, "", "07-14"));
    buy(till, "T1", member, 1000);
    REQUIRE(till.record_satisfaction("T1", {2, "the cashier Ann was rude"}).ok());
    REQUIRE(till.apply_remote_event("HQ:members", {1, "member_erased", {{"member_id", member}}, 0}).ok());
    Database& database = till.database();
    CHECK(*database.query_integer("SELECT COUNT(*) FROM member_engagement WHERE birthday <> ''") == 0);
    CHECK(*database.query_integer("SELECT COUNT(*) FROM satisfaction_scores WHERE comment <> ''") == 0);
    for (const char* table : {"outbox", "operations"}) {
        const std::string column = std::string(table) == "outbox" ? "payload" : "request";
        INFO(table);
        CHECK(*database.query_integer(std::string("SELECT COUNT(*) FROM ") + table + " WHERE instr(" + column +
                                      ", '07-14') > 0 OR instr(" + column + ", 'Ann was rude') > 0") == 0);
    }
    // The score itself stays: it is not personal, and NPS keeps counting it.
    CHECK(*database.query_integer("SELECT score FROM satisfaction_scores") == 2);
}
