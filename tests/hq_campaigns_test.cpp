// Head office's campaigns on a real SQLite file: the control group's hash, targeting from a
// stored segmentation run, preview (writes nothing), launch (treated members only get the
// offer; twice changes nothing), pause/end, the report against hand-computed numbers, the
// playbook, and bad input named by field over the API and the command line.
#include "hq_campaigns.hpp"

#include <catch2/catch.hpp>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "hq_campaign_api.hpp"
#include "hq_campaign_report.hpp"
#include "hq_config.hpp"
#include "hq_playbook.hpp"
#include "support/core_fixture.hpp"

using namespace loyalty;
using namespace loyalty::testing;
using nlohmann::json;

namespace {

constexpr int member_count = 60;

// Member n's row in a run: segments, tags, tiers, CLV and churn follow n, so every selection
// below can be counted by hand.
hq::MemberSegment row_for(int n) {
    hq::MemberSegment row;
    row.member_id = "HQ-M" + std::to_string(n);
    row.segment = n % 3 == 0 ? "At Risk" : (n % 3 == 1 ? "Champions" : "Lost");
    row.value_tier = n % 5 == 0 ? "high_value" : "regular";
    row.lifecycle = n % 4 == 0 ? "new" : "active";
    row.spending_power = "medium";
    row.frequency_class = "low";
    if (n % 2 == 0) row.tags.push_back("category:wine");
    if (n % 7 == 0) row.tags.push_back("price_sensitive");
    row.recency_days = n;
    row.window_purchase_days = 4;
    row.monetary_cents = 10'000;  // a usual basket of 25.00
    row.p_alive = 1.0 - n / 100.0;
    row.expected_purchases = 2.0;
    row.clv = n * 10.0;
    row.cluster = n % 2;
    return row;
}

struct HeadOffice {
    HeadOffice() : clock(test_start()) {
        program.emplace(ProgramOptions{(dir.path() / "hq.db").string(), "HQ", Durability::normal}, clock, rules_with());
        store.emplace(*program, clock);
        campaigns.emplace(*program, *store, clock);
        for (int n = 1; n <= member_count; ++n) {
            const std::string member = "HQ-M" + std::to_string(n);
            REQUIRE(program->enroll({valid_card(n), "", "M" + std::to_string(n), ""})->result.member_id == member);
            REQUIRE(program->set_consent(member, true, false));
        }
    }

    hq::SegmentRun store_run(const std::string& as_of, std::vector<hq::MemberSegment> rows,
                             json rules = json::array()) {
        std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.member_id < b.member_id; });
        hq::SegmentRun run;
        run.as_of = as_of;
        run.parameters = {{"horizon_days", 365}, {"basket_item", "category"}};
        run.trigger = "command";
        run.started_at = clock.now();
        run.report = {{"rules", rules}};
        return store->store_segment_run(run, rows.size(), [&](std::size_t i, hq::MemberSegment& row) { row = rows[i]; },
                                        false);
    }
    hq::SegmentRun store_run() {
        std::vector<hq::MemberSegment> rows;
        for (int n = 1; n <= member_count; ++n) rows.push_back(row_for(n));
        return store_run("2026-01-04", rows);
    }

    hq::Campaign create(const json& body) {
        auto parsed = hq::parse_campaign(body);
        INFO((parsed ? "" : parsed.error().message));
        REQUIRE(parsed);
        auto created = campaigns->create(*parsed);
        INFO((created ? "" : created.error().message));
        REQUIRE(created);
        return *created;
    }
    std::int64_t count(const std::string& sql) { return program->database().query_integer(sql).value_or(-1); }
    std::map<std::string, bool> groups(const std::string& campaign_id) {
        std::map<std::string, bool> treated;
        campaigns->for_each_member(campaign_id, [&](const std::string& member, bool is_treated) { treated[member] = is_treated; });
        return treated;
    }

    TempDir dir;
    ManualClock clock;
    std::optional<Program> program;
    std::optional<hq::SqliteHqStore> store;
    std::optional<hq::Campaigns> campaigns;
};

json bonus_offer() {
    return {{"kind", "bonus_points"},
            {"title", "200 bonus points"},
            {"bonus_points", 200},
            {"min_spend_cents", 100'000},  // never met by the test's baskets: uses are inserted by hand
            {"valid_from", "2026-01-05T00:00:00Z"},
            {"valid_until", "2026-02-05T00:00:00Z"}};
}

json campaign_body(const json& target, double control_percent = 10, json offer = bonus_offer()) {
    return {{"name", "Test campaign"}, {"control_percent", control_percent}, {"target", target}, {"offer", offer}};
}

// The members the run rows above select, counted by hand.
std::int64_t members_where(const std::function<bool(int)>& test) {
    std::int64_t count = 0;
    for (int n = 1; n <= member_count; ++n) count += test(n) ? 1 : 0;
    return count;
}

std::vector<std::string> feed_assignments(HeadOffice& hq) {
    std::vector<std::string> members;
    Statement& rows = hq.program->database().prepare("SELECT payload FROM till_events WHERE type = 'offer_assignment'");
    rows.bind();
    while (rows.step()) {
        const json payload = json::parse(rows.text(0));
        for (const json& member : payload.at("member_ids")) members.push_back(member.get<std::string>());
    }
    return members;
}

}  // namespace

TEST_CASE("the control group is the SHA-256 of campaign and member mod 10000: reproducible, near the percentage",
          "[hq_campaigns]") {
    // Python: int.from_bytes(hashlib.sha256(b"C1:HQ-M1").digest()[:8], "big") % 10000
    CHECK(hq::control_group_hash("C1", "HQ-M1") == 3056);
    CHECK(hq::control_group_hash("C1", "HQ-M2") == 1327);
    CHECK(hq::control_group_hash("C2", "HQ-M1") == 7934);

    hq::Campaign first, second;
    first.campaign_id = "C1";
    second.campaign_id = "C2";
    first.control_basis_points = second.control_basis_points = 1000;
    std::int64_t in_first = 0, in_both = 0;
    for (int n = 0; n < 20'000; ++n) {
        const std::string member = "S01-T1-M" + std::to_string(n);
        const bool control = hq::in_control_group(first, member);
        CHECK(control == hq::in_control_group(first, member));
        in_first += control;
        in_both += control && hq::in_control_group(second, member);
    }
    // 10% of 20,000 is 2,000, with a standard deviation of 42: three of them either side.
    CHECK(in_first > 1870);
    CHECK(in_first < 2130);
    // Another campaign draws another group: about 10% of 10% overlap, not the same members.
    CHECK(in_both > 140);
    CHECK(in_both < 260);
    first.control_basis_points = 0;
    CHECK_FALSE(hq::in_control_group(first, "HQ-M2"));
}

TEST_CASE("targeting takes the latest run's members by segment, tag, CLV, churn and tier, or an uploaded list",
          "[hq_campaigns]") {
    HeadOffice hq;
    const auto targeted = [&hq](const json& target) {
        const hq::Campaign campaign = hq.create(campaign_body(target, 25));
        const auto preview = hq.campaigns->preview(campaign.campaign_id);
        REQUIRE(preview);
        CHECK(preview->treated + preview->control == preview->targeted);
        return preview->targeted;
    };
    CHECK(targeted(json::object()) == 0);  // no run yet
    CHECK(targeted({{"members", {"HQ-M3", "HQ-M5", "HQ-M7", "HQ-M5"}}}) == 3);  // a list needs no run
    hq.store_run();
    CHECK(targeted(json::object()) == member_count);
    CHECK(targeted({{"segments", {"At Risk"}}, {"tags", {"category:wine"}}, {"min_clv", 100}}) ==
          members_where([](int n) { return n % 3 == 0 && n % 2 == 0 && n * 10 >= 100; }));
    CHECK(targeted({{"segments", {"At Risk", "Lost"}}, {"value_tier", "high_value"}}) ==
          members_where([](int n) { return n % 3 != 1 && n % 5 == 0; }));
    CHECK(targeted({{"min_churn_probability", 0.5}}) == members_where([](int n) { return n >= 50; }));
    CHECK(targeted({{"lifecycle", "new"}, {"cluster", 0}, {"max_clv", 300}}) ==
          members_where([](int n) { return n % 4 == 0 && n <= 30; }));
    CHECK(targeted({{"tier", "Bronze"}, {"tags", {"price_sensitive"}}}) == members_where([](int n) { return n % 7 == 0; }));
    CHECK(targeted({{"tier", "Gold"}}) == 0);
    CHECK(targeted({{"members", {"HQ-M3", "HQ-M5", "HQ-M9"}}, {"segments", {"At Risk"}}}) == 2);

    // A member who has not agreed to personalised offers is in neither group.
    REQUIRE(hq.program->set_consent("HQ-M3", false, false));
    const hq::Campaign without = hq.create(campaign_body({{"segments", {"At Risk"}}}));
    const auto counted = hq.campaigns->preview(without.campaign_id);
    REQUIRE(counted);
    CHECK(counted->targeted == members_where([](int n) { return n % 3 == 0; }) - 1);
    CHECK(counted->without_consent == 1);
    REQUIRE(hq.campaigns->launch(without.campaign_id));
    CHECK_FALSE(hq.groups(without.campaign_id).contains("HQ-M3"));
    REQUIRE(hq.program->set_consent("HQ-M3", true, false));

    // Treated and control as the hash says, member by member.
    const hq::Campaign campaign = hq.create(campaign_body(json::object(), 30));
    const auto preview = hq.campaigns->preview(campaign.campaign_id);
    REQUIRE(preview);
    CHECK(preview->control == members_where([&](int n) {
              return hq::control_group_hash(campaign.campaign_id, "HQ-M" + std::to_string(n)) < 3000;
          }));
    CHECK(preview->run_id == hq.store->segment_runs(1).at(0).run_id);
}

TEST_CASE("preview writes nothing and estimates the cost from the members' forecasts, bounded by the budget",
          "[hq_campaigns]") {
    HeadOffice hq;
    hq.store_run();
    json offer = bonus_offer();
    const hq::Campaign campaign = hq.create(campaign_body(json::object(), 20, offer));
    const std::string tables = "SELECT (SELECT COUNT(*) FROM campaign_members) + (SELECT COUNT(*) FROM till_events) + "
                               "(SELECT COUNT(*) FROM offers) + (SELECT COUNT(*) FROM member_offers)";
    const std::int64_t before = hq.count(tables);
    const auto preview = hq.campaigns->preview(campaign.campaign_id);
    REQUIRE(preview);
    CHECK(hq.count(tables) == before);
    CHECK(hq.campaigns->find(campaign.campaign_id)->status == hq::CampaignStatus::draft);

    // 200 points at 1 cent each (100 points pay 1.00); every member expects 2 purchases in 365
    // days, so 2 x 31 / 365 in the offer's 31 days.
    CHECK(preview->max_cost_cents == preview->treated * 200);
    CHECK(preview->expected_cost_cents == std::llround(preview->treated * 200 * (2.0 * 31 / 365)));
    CHECK_FALSE(preview->budget_bound_cents);

    offer["budget_points"] = 1000;
    const hq::Campaign capped = hq.create(campaign_body(json::object(), 20, offer));
    const auto bounded = hq.campaigns->preview(capped.campaign_id);
    REQUIRE(bounded);
    CHECK(bounded->budget_bound_cents == 1000);
    CHECK(bounded->max_cost_cents == 1000);

    // A percent discount on a usual basket of 100.00 / 4 days = 25.00: 10% is 2.50 a use.
    json percent = {{"kind", "percent_discount"}, {"title", "10% off"}, {"discount_percent", 10},
                    {"uses_per_member", 2}, {"valid_from", "2026-01-05T00:00:00Z"}, {"valid_until", "2026-02-05T00:00:00Z"}};
    const hq::Campaign discount = hq.create(campaign_body(json::object(), 20, percent));
    const auto discounted = hq.campaigns->preview(discount.campaign_id);
    REQUIRE(discounted);
    CHECK(discounted->max_cost_cents == discounted->treated * 2 * 250);
    CHECK(preview_json(discount, *discounted).at("expected_cost_cents") ==
          std::llround(discounted->treated * 250 * (2.0 * 31 / 365)));
}

TEST_CASE("launch fixes the members, gives the offer to the treated only, and launching again changes nothing",
          "[hq_campaigns]") {
    HeadOffice hq;
    hq.store_run();
    const hq::Campaign draft = hq.create(campaign_body(json::object(), 30));
    auto launched = hq.campaigns->launch(draft.campaign_id);
    REQUIRE(launched);
    CHECK(launched->status == hq::CampaignStatus::active);
    CHECK(launched->launched_at == hq.clock.now());
    CHECK(launched->offer.offer_id == draft.campaign_id + "-O1");

    const auto groups = hq.groups(draft.campaign_id);
    REQUIRE(groups.size() == member_count);
    std::int64_t control = 0;
    for (const auto& [member, treated] : groups) {
        INFO(member);
        CHECK(treated == !hq::in_control_group(draft, member));
        control += !treated;
        const auto assigned = hq.program->database().query_integer(
            "SELECT COUNT(*) FROM member_offers WHERE member_id = ? AND offer_id = ?", member, draft.offer.offer_id);
        CHECK(assigned == (treated ? 1 : 0));
    }
    CHECK(control > 5);  // 30% of 60: a control group to compare with
    std::set<std::string> in_feed;
    for (const std::string& member : feed_assignments(hq)) {
        INFO(member);
        CHECK(groups.at(member));  // the feed carries no control member
        in_feed.insert(member);
    }
    CHECK(static_cast<std::int64_t>(in_feed.size()) == member_count - control);

    // Launching again, even after a newer run would target others, changes nothing.
    const std::int64_t feed = hq.count("SELECT COUNT(*) FROM till_events");
    std::vector<hq::MemberSegment> fewer = {row_for(1), row_for(2)};
    hq.store_run("2026-01-05", fewer);
    hq.clock.advance_days(1);
    const auto again = hq.campaigns->launch(draft.campaign_id);
    REQUIRE(again);
    CHECK(again->launched_at == launched->launched_at);
    CHECK(hq.count("SELECT COUNT(*) FROM till_events") == feed);
    CHECK(hq.groups(draft.campaign_id) == groups);
    const auto preview = hq.campaigns->preview(draft.campaign_id);
    REQUIRE(preview);
    CHECK(preview->targeted == member_count);  // the members fixed at launch
    CHECK(preview->control == control);

    const auto offer_status = [&hq, &draft] {
        return hq.program->database().query_text("SELECT status FROM offers WHERE offer_id = ?", draft.offer.offer_id);
    };
    CHECK(offer_status() == "active");
    REQUIRE(hq.campaigns->pause(draft.campaign_id));
    CHECK(offer_status() == "paused");
    CHECK(hq.campaigns->find(draft.campaign_id)->status == hq::CampaignStatus::paused);
    REQUIRE(hq.campaigns->launch(draft.campaign_id));  // resumes
    CHECK(offer_status() == "active");
    CHECK(hq.groups(draft.campaign_id) == groups);
    const auto ended = hq.campaigns->end(draft.campaign_id);
    REQUIRE(ended);
    CHECK(ended->end_reason == "ended");
    CHECK(offer_status() == "ended");
    const auto relaunch = hq.campaigns->launch(draft.campaign_id);
    REQUIRE_FALSE(relaunch);
    CHECK(relaunch.error().kind == ErrorKind::conflict);
    CHECK(hq.campaigns->pause(draft.campaign_id).error().kind == ErrorKind::refused);
}

TEST_CASE("a launch finding nobody, or after the offer's window, is refused and fixes nothing", "[hq_campaigns]") {
    HeadOffice hq;
    hq.store_run();
    const hq::Campaign nobody = hq.create(campaign_body({{"tier", "Gold"}}));
    const auto refused = hq.campaigns->launch(nobody.campaign_id);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == "no_members");
    CHECK(hq.campaigns->find(nobody.campaign_id)->status == hq::CampaignStatus::draft);
    CHECK(hq.count("SELECT COUNT(*) FROM offers") == 0);

    const hq::Campaign late = hq.create(campaign_body(json::object()));
    hq.clock.advance_days(40);
    const auto expired = hq.campaigns->launch(late.campaign_id);
    REQUIRE_FALSE(expired);
    CHECK(expired.error().field == "offer.valid_until");
    CHECK(hq.count("SELECT COUNT(*) FROM campaign_members") == 0);
}

TEST_CASE("the report counts uses and compares treated with control over the window, by hand", "[hq_campaigns]") {
    HeadOffice hq;
    json offer = bonus_offer();
    offer["valid_from"] = "2026-01-06T00:00:00Z";
    offer["budget_points"] = 800;
    std::vector<std::string> listed;
    for (int n = 1; n <= 20; ++n) listed.push_back("HQ-M" + std::to_string(n));
    const hq::Campaign campaign = hq.create(campaign_body({{"members", listed}}, 50, offer));
    REQUIRE(hq.campaigns->launch(campaign.campaign_id));
    std::vector<std::string> treated, control;
    for (const auto& [member, is_treated] : hq.groups(campaign.campaign_id))
        (is_treated ? treated : control).push_back(member);
    REQUIRE(treated.size() >= 3);
    REQUIRE(control.size() >= 2);

    // Jan 5 (before the window): control members spend 50.00, not counted.
    for (const std::string& member : control) REQUIRE(hq.program->purchase(sale("pre-" + member, member, {line("w", "wine", 1, 5000)})));
    hq.clock.advance_days(1);  // Jan 6
    for (const std::string& member : treated) REQUIRE(hq.program->purchase(sale("a-" + member, member, {line("w", "wine", 1, 3000)})));
    for (const std::string& member : control) {
        REQUIRE(hq.program->purchase(sale("a-" + member, member, {line("w", "wine", 1, 1000)})));
        REQUIRE(hq.program->purchase(sale("void-" + member, member, {line("w", "wine", 1, 9900)})));
        REQUIRE(hq.program->void_purchase("void-" + member));  // voided: not counted
    }
    hq.clock.advance_days(1);  // Jan 7: treated members buy 3 x 10.00 and bring one back
    for (const std::string& member : treated) {
        REQUIRE(hq.program->purchase(sale("b-" + member, member, {line("c", "cheese", 3, 1000)})));
        REQUIRE(hq.program->return_items({"r-" + member, "b-" + member, {{"c", 1}}}));
    }
    // Treated: 30.00 + 20.00 = 50.00 on 2 days each; control: 10.00 on 1 day each.
    const auto use = [&hq, &campaign](const std::string& operation, const std::string& member, int voided) {
        hq.program->database()
            .prepare("INSERT INTO offer_uses(operation_id, offer_id, member_id, points, discount_cents, used_at, voided) "
                     "VALUES (?, ?, ?, 200, 0, ?, ?)")
            .bind(operation, campaign.offer.offer_id, member, hq.clock.now(), voided)
            .run();
    };
    use("S01-T1/1", treated[0], 0);
    use("S02-T1/7", treated[0], 0);  // the same member again at another till: over the limit of 1
    use("S01-T1/2", treated[1], 0);
    use("S01-T1/3", treated[2], 1);  // voided

    const auto report = hq::campaign_report(*hq.campaigns, campaign.campaign_id);
    REQUIRE(report);
    const auto n_treated = static_cast<std::int64_t>(treated.size());
    CHECK(report->targeted == 20);
    CHECK(report->treated == n_treated);
    CHECK(report->control == static_cast<std::int64_t>(control.size()));
    CHECK(report->redeemed == 2);
    CHECK(report->redemption_rate == Approx(2.0 / static_cast<double>(n_treated)));
    CHECK(report->uses == 3);
    CHECK(report->points_given == 600);
    CHECK(report->discount_cents_given == 0);
    CHECK(report->cost_cents == 600);  // 100 points pay 1.00
    CHECK(report->window_from == parse_timestamp("2026-01-06T00:00:00Z"));
    CHECK(report->window_until == hq.clock.now() + 1);  // up to now, before valid_until
    CHECK(report->treated_spend.mean() == Approx(5000));
    CHECK(report->control_spend.mean() == Approx(1000));
    CHECK(report->incremental_spend.estimate == Approx(4000));
    CHECK(report->incremental_spend.low == Approx(4000));  // no spread in either group
    CHECK(report->incremental_visits.estimate == Approx(1.0));
    CHECK(report->incremental_revenue_cents == Approx(4000.0 * n_treated));
    REQUIRE(report->cost_per_incremental_revenue);
    CHECK(*report->cost_per_incremental_revenue == Approx(600.0 / (4000.0 * n_treated)));
    REQUIRE(report->over_limit.size() == 1);
    CHECK(report->over_limit[0].member_id == treated[0]);
    CHECK(report->over_limit[0].operation_ids == std::vector<std::string>{"S01-T1/1", "S02-T1/7"});
    CHECK(report->campaign.status == hq::CampaignStatus::active);  // 600 of 800 points

    const json body = hq::report_json(*report);
    CHECK(body.at("incremental_spend_per_member_cents").at("estimate") == 4000);
    CHECK(body.at("spend_per_member_cents").at("control") == 1000);
    CHECK(body.at("over_limit_uses").at(0).at("uses_per_member") == 1);

    use("S01-T1/9", treated[1], 0);  // 800 of 800: the budget is spent
    const auto spent = hq::campaign_report(*hq.campaigns, campaign.campaign_id);
    REQUIRE(spent);
    CHECK(spent->campaign.status == hq::CampaignStatus::ended);
    CHECK(spent->campaign.end_reason == "budget_spent");
    CHECK(hq.program->database().query_text("SELECT status FROM offers WHERE offer_id = ?", campaign.offer.offer_id) ==
          "ended");
}

TEST_CASE("Welch's interval: equal spreads in groups of six have 10 degrees of freedom", "[hq_campaigns]") {
    hq::Sample treated, control;
    for (int value = 1; value <= 6; ++value) {
        treated.add(value + 3.0);
        control.add(value);
    }
    const hq::Difference difference = hq::welch_difference(treated, control);
    // Variance 3.5 each, standard error sqrt(2 x 3.5 / 6) = 1.0801; t(0.975, 10) = 2.2281.
    CHECK(difference.estimate == Approx(3.0));
    REQUIRE(difference.degrees_of_freedom);
    CHECK(*difference.degrees_of_freedom == Approx(10.0));
    CHECK(*difference.low == Approx(3.0 - 2.228139 * 1.080123).epsilon(1e-5));
    CHECK(*difference.high == Approx(3.0 + 2.228139 * 1.080123).epsilon(1e-5));
    hq::Sample one;
    one.add(5);
    CHECK_FALSE(hq::welch_difference(one, control).low);  // one member: no interval
}

TEST_CASE("bad campaigns are refused naming the field", "[hq_campaigns]") {
    const auto field_of = [](json body) {
        const auto parsed = hq::parse_campaign(body);
        return parsed ? std::string("accepted") : parsed.error().field;
    };
    const json good = campaign_body({{"segments", {"At Risk"}}});
    CHECK(field_of(good) == "accepted");
    json body = good;
    body.erase("name");
    CHECK(field_of(body) == "name");
    body = good;
    body["control_percent"] = 95;
    CHECK(field_of(body) == "control_percent");
    body = good;
    body.erase("target");
    CHECK(field_of(body) == "target");
    body = good;
    body["target"]["value_tier"] = "gold";
    CHECK(field_of(body) == "target.value_tier");
    body = good;
    body["target"]["min_churn_probability"] = 2;
    CHECK(field_of(body) == "target.min_churn_probability");
    body = good;
    body["target"]["min_clv"] = 10;
    body["target"]["max_clv"] = 5;
    CHECK(field_of(body) == "target.max_clv");
    body = good;
    body["target"]["segmnets"] = {"x"};
    CHECK(field_of(body) == "target.segmnets");
    body = good;
    body["offer"]["offer_id"] = "X";
    CHECK(field_of(body) == "offer.offer_id");
    body = good;
    body["offer"]["kind"] = "percent_discount";
    CHECK(field_of(body) == "offer.discount_percent");
    body = good;
    body["offer"]["valid_until"] = "2025-01-01T00:00:00Z";
    CHECK(field_of(body) == "offer.valid_until");

    HeadOffice hq;
    auto unknown = hq::parse_campaign(campaign_body({{"members", {"HQ-M1", "HQ-M999"}}}));
    REQUIRE(unknown);
    const auto created = hq.campaigns->create(*unknown);
    REQUIRE_FALSE(created);
    CHECK(created.error().field == "target.members");
    CHECK(hq.count("SELECT COUNT(*) FROM campaigns") == 0);
}

TEST_CASE("the admin API creates, previews, launches and reports, with 4xx naming the field", "[hq_campaigns]") {
    HeadOffice hq;
    hq.store_run();
    hq::DatabaseThread database;
    http::Router router;
    const hq::Playbook playbook = hq::default_playbook();
    hq::add_campaign_routes(router, database, *hq.campaigns, playbook);
    const auto call = [&router](const std::string& method, const std::string& path, const std::string& body = "") {
        const http::RouteMatch match = router.match(method, path);
        REQUIRE(match.outcome == http::RouteMatch::Outcome::found);
        http::Request request;
        request.method = method;
        request.path = path;
        request.path_params = match.path_params;
        request.body = body;
        try {
            return (*match.handler)(request);
        } catch (const http::RequestError& error) {
            return http::error_response(error);
        }
    };
    const auto error_field = [](const http::Response& response) {
        return json::parse(response.body).at("error").at("field");
    };

    const http::Response created = call("POST", "/v1/campaigns", campaign_body({{"segments", {"At Risk"}}}).dump());
    REQUIRE(created.status == 201);
    CHECK(json::parse(created.body).at("campaign_id") == "C1");
    CHECK(json::parse(created.body).at("status") == "draft");
    const http::Response listed = call("GET", "/v1/campaigns");
    CHECK(json::parse(listed.body).at("campaigns").size() == 1);
    const http::Response preview = call("POST", "/v1/campaigns/C1/preview");
    REQUIRE(preview.status == 200);
    CHECK(json::parse(preview.body).at("targeted") == members_where([](int n) { return n % 3 == 0; }));
    CHECK(call("POST", "/v1/campaigns/C1/pause").status == 422);
    const http::Response launched = call("POST", "/v1/campaigns/C1/launch");
    REQUIRE(launched.status == 200);
    CHECK(json::parse(launched.body).at("offer").at("status") == "active");
    const http::Response report = call("GET", "/v1/campaigns/C1/report");
    REQUIRE(report.status == 200);
    CHECK(json::parse(report.body).at("targeted") == members_where([](int n) { return n % 3 == 0; }));
    CHECK(call("GET", "/v1/campaigns/C1").status == 200);

    const http::Response unknown = call("GET", "/v1/campaigns/C9/report");
    CHECK(unknown.status == 404);
    CHECK(error_field(unknown) == "id");
    json bad = campaign_body(json::object());
    bad["offer"]["bonus_points"] = 0;
    const http::Response refused = call("POST", "/v1/campaigns", bad.dump());
    CHECK(refused.status == 400);
    CHECK(error_field(refused) == "offer.bonus_points");
    CHECK(call("POST", "/v1/campaigns", "{not json").status == 400);
    REQUIRE(call("POST", "/v1/campaigns/C1/end").status == 200);
    CHECK(call("POST", "/v1/campaigns/C1/launch").status == 409);
    const http::Response drafted = call("POST", "/v1/campaigns/playbook");
    CHECK(drafted.status == 201);
    CHECK(json::parse(drafted.body).at("created").size() == 4);  // no cross-sell rule in this run
}

TEST_CASE("the playbook drafts each enabled play once per run, and the config edits and turns plays off",
          "[hq_campaigns]") {
    HeadOffice hq;
    const auto none = hq::run_playbook(*hq.campaigns, hq::default_playbook());
    REQUIRE_FALSE(none);
    CHECK(none.error().code == "no_segmentation_run");

    std::vector<hq::MemberSegment> rows;
    for (int n = 1; n <= member_count; ++n) rows.push_back(row_for(n));
    const json rules = json::array({{{"antecedent", {"wine"}}, {"consequent", {"cheese"}}, {"lift", 2.0}},
                                    {{"antecedent", {"bakery", "dairy"}}, {"consequent", {"fruit"}}, {"lift", 1.5}}});
    const hq::SegmentRun run = hq.store_run("2026-01-04", rows, rules);
    const auto outcome = hq::run_playbook(*hq.campaigns, hq::default_playbook());
    REQUIRE(outcome);
    CHECK(outcome->run_id == run.run_id);
    std::map<std::string, hq::Campaign> by_play;
    for (const hq::Campaign& campaign : outcome->created) by_play[campaign.play] = campaign;
    REQUIRE(by_play.size() == 5);
    const hq::Campaign& win_back = by_play.at("win_back");
    CHECK(win_back.target.segment.segments == std::vector<std::string>{"At Risk", "Can't Lose Them"});
    CHECK(win_back.target.segment.min_clv == 300.0);  // the median of 10, 20, ... 600 (nearest rank)
    CHECK(win_back.status == hq::CampaignStatus::draft);
    CHECK(win_back.play_run_id == run.run_id);
    CHECK(win_back.offer.valid_from == hq.clock.now());
    CHECK(win_back.offer.valid_until == hq.clock.now() + 28 * seconds_per_day);
    CHECK(by_play.at("exclusive").target.segment.value_tier == "high_value");
    CHECK(by_play.at("second_purchase").target.segment.lifecycle == "new");
    CHECK(by_play.at("value").target.segment.tags == std::vector<std::string>{"price_sensitive"});
    const hq::Campaign& cross_sell = by_play.at("cross_sell:wine->cheese");
    CHECK(cross_sell.target.segment.tags == std::vector<std::string>{"category:wine"});
    CHECK(cross_sell.offer.categories == std::vector<std::string>{"cheese"});
    CHECK(cross_sell.offer.kind == OfferKind::points_multiplier);
    CHECK(cross_sell.offer.multiplier_percent == 300);

    const auto again = hq::run_playbook(*hq.campaigns, hq::default_playbook());
    REQUIRE(again);
    CHECK(again->created.empty());
    CHECK(again->skipped.size() == 5);

    const auto configured = hq::parse_hq_config(
        R"({"playbook": {"value": {"enabled": false},
                         "exclusive": {"valid_days": 7, "offer": {"multiplier_percent": 300}, "control_percent": 20},
                         "win_back": {"clv_percentile": 90}}})");
    REQUIRE(configured);
    hq.store_run("2026-01-05", rows, rules);
    const auto edited = hq::run_playbook(*hq.campaigns, configured->playbook);
    REQUIRE(edited);
    std::map<std::string, hq::Campaign> edited_by_play;
    for (const hq::Campaign& campaign : edited->created) edited_by_play[campaign.play] = campaign;
    CHECK_FALSE(edited_by_play.contains("value"));
    CHECK(edited_by_play.at("exclusive").offer.multiplier_percent == 300);
    CHECK(edited_by_play.at("exclusive").control_basis_points == 2000);
    CHECK(edited_by_play.at("exclusive").offer.valid_until == hq.clock.now() + 7 * seconds_per_day);
    CHECK(edited_by_play.at("win_back").target.segment.min_clv == 540.0);

    const auto field_of = [](const std::string& text) {
        const auto parsed = hq::parse_hq_config(text);
        return parsed ? std::string("accepted") : parsed.error().field;
    };
    CHECK(field_of(R"({"playbook": {"exclusive": {"offer": {"multiplier_percent": 50}}}})") ==
          "playbook.exclusive.offer.multiplier_percent");
    CHECK(field_of(R"({"playbook": {"bogus": {}}})") == "playbook.bogus");
    CHECK(field_of(R"({"playbook": {"value": {"enabled": "yes"}}})") == "playbook.value.enabled");
    CHECK(field_of(R"({"playbook": {"cross_sell": {"max_campaigns": 0}}})") == "playbook.cross_sell.max_campaigns");
}

TEST_CASE("loyalty-hq campaign create, list, preview, launch and report print JSON, and bad usage exits 2",
          "[hq_campaigns]") {
    HeadOffice hq;
    hq.store_run();
    const auto run = [&hq](const std::vector<std::string>& words) {
        std::ostringstream out, err;
        const int code = hq::run_campaign_command(words, *hq.campaigns, hq::default_playbook(), out, err);
        return std::tuple{code, out.str(), err.str()};
    };
    const std::string file = (hq.dir.path() / "campaign.json").string();
    std::ofstream(file) << campaign_body({{"value_tier", "high_value"}}).dump();
    const auto [created, created_out, created_err] = run({"create", file});
    INFO(created_err);
    REQUIRE(created == 0);
    CHECK(json::parse(created_out).at("campaign_id") == "C1");
    const auto [listed, listed_out, listed_err] = run({"list"});
    CHECK(listed == 0);
    CHECK(json::parse(listed_out).at("name") == "Test campaign");
    const auto [previewed, preview_out, preview_err] = run({"preview", "C1"});
    REQUIRE(previewed == 0);
    CHECK(json::parse(preview_out).at("targeted") == members_where([](int n) { return n % 5 == 0; }));
    CHECK(std::get<0>(run({"launch", "C1"})) == 0);
    const auto [reported, report_out, report_err] = run({"report", "C1"});
    REQUIRE(reported == 0);
    CHECK(json::parse(report_out).at("status") == "active");
    const auto [missing, missing_out, missing_err] = run({"report", "C7"});
    CHECK(missing == 1);
    CHECK(missing_err.find("no campaign C7") != std::string::npos);
    CHECK(std::get<0>(run({"launch"})) == 2);
    CHECK(std::get<0>(run({"frobnicate", "C1"})) == 2);
    std::ofstream(file) << R"({"name": "x"})";
    const auto [bad, bad_out, bad_err] = run({"create", file});
    CHECK(bad == 1);
    CHECK(bad_err.find("target") != std::string::npos);
}
