// Offers at the till: head office's definitions and assignments applied as remote events,
// priced into quotes and purchases, counted per member, reversed by returns and voids, and
// carried to other nodes by events and snapshots.
#include "loyalty/offer.hpp"

#include <catch2/catch.hpp>

#include "loyalty/program.hpp"
#include "support/core_fixture.hpp"

using namespace loyalty;
using loyalty::testing::CoreFixture;
using loyalty::testing::line;
using loyalty::testing::rules_with;
using loyalty::testing::sale;
using nlohmann::json;

namespace {

// One tier only, so that purchases never change the earning rate under the test.
RuleSet flat() { return rules_with({{"tiers", {{"levels", json::array({{{"name", "Member"}}})}}}}); }

// An offer valid through January 2026 (the fixture's clock starts on 2026-01-05).
json offer_json(const std::string& id, json fields) {
    json offer = {{"offer_id", id},           {"campaign_id", "C1"},
                  {"title", id},              {"valid_from", "2026-01-01T00:00:00Z"},
                  {"valid_until", "2026-02-01T00:00:00Z"}};
    offer.update(fields);
    return offer;
}

// Head office's side of it, as a till receives it over sync.
class OfferFeed {
public:
    explicit OfferFeed(Program& program) : program_(program) {}
    void publish(const json& offer) { apply("offer", {{"offer", offer}}); }
    void assign(const std::string& offer_id, const std::vector<std::string>& members, bool assigned = true) {
        apply("offer_assignment", {{"offer_id", offer_id}, {"member_ids", members}, {"assigned", assigned}});
    }

private:
    void apply(const std::string& type, const json& payload) {
        auto applied = program_.apply_remote_event(std::string(offers_origin), {++seq_, type, payload, 0});
        INFO((applied.ok() ? "" : applied.error().message));
        REQUIRE(applied.ok());
        REQUIRE(*applied);
    }
    Program& program_;
    std::int64_t seq_ = 0;
};

const OfferDecision& decision_for(const PurchaseResult& result, const std::string& offer_id) {
    for (const OfferDecision& decision : result.offer_decisions)
        if (decision.offer_id == offer_id) return decision;
    FAIL("no decision for " << offer_id);
    throw std::logic_error("unreachable");
}

ProgramOptions node(const std::string& node_id) {
    ProgramOptions options;
    options.node_id = node_id;
    return options;
}

// Enrols member n, who agrees to personalised offers (without it no offer applies).
std::string consenting(CoreFixture& fixture, int n) {
    const std::string member_id = fixture.enroll(n);
    REQUIRE(fixture.program->set_consent(member_id, true, false).ok());
    return member_id;
}

std::string refused_field(json fields) {
    auto parsed = parse_offer(offer_json("O", std::move(fields)));
    return parsed.ok() ? "(accepted)" : parsed.error().field;
}

}  // namespace

TEST_CASE("an offer definition is checked field by field, and round-trips") {
    CHECK(refused_field({{"kind", "free_lunch"}}) == "offer.kind");
    CHECK(refused_field({{"kind", "percent_discount"}}) == "offer.discount_percent");
    CHECK(refused_field({{"kind", "percent_discount"}, {"discount_percent", 101}}) == "offer.discount_percent");
    CHECK(refused_field({{"kind", "points_multiplier"}, {"multiplier_percent", 100}}) == "offer.multiplier_percent");
    CHECK(refused_field({{"kind", "bonus_points"}, {"bonus_points", 10}, {"valid_until", "2025-12-01T00:00:00Z"}}) ==
          "offer.valid_until");
    CHECK(refused_field({{"kind", "bonus_points"}, {"bonus_points", 10}, {"categories", {"ok", ""}}}) ==
          "offer.categories[1]");
    CHECK(refused_field({{"kind", "bonus_points"}, {"bonus_points", 10}, {"colour", "red"}}) == "offer.colour");
    CHECK(refused_field({{"kind", "tier_challenge"}, {"bonus_points", 10}}) == "offer.min_spend_cents");
    auto parsed = parse_offer(offer_json("O", {{"kind", "points_multiplier"}, {"multiplier_percent", 300},
                                               {"categories", {"coffee"}}, {"stackable", false}}));
    REQUIRE(parsed.ok());
    auto again = parse_offer(json(*parsed));
    REQUIRE(again.ok());
    CHECK(json(*again) == json(*parsed));
}

TEST_CASE("a points multiplier applies to its category once, is counted and then used up") {
    CoreFixture fixture(flat());
    OfferFeed feed(*fixture.program);
    const std::string member = consenting(fixture, 1);
    const std::string other = consenting(fixture, 2);
    feed.publish(offer_json("COFFEE3X", {{"kind", "points_multiplier"}, {"multiplier_percent", 300},
                                         {"categories", {"coffee"}}}));
    feed.assign("COFFEE3X", {member});

    CHECK(fixture.summary(member).offers.size() == 1);
    CHECK(fixture.summary(member).offers.at(0).uses_left == 1);
    CHECK(fixture.summary(other).offers.empty());

    auto quote = fixture.program->quote(sale("", member, {line("C", "coffee", 1, 1000), line("B", "bakery", 1, 500)}));
    REQUIRE(quote.ok());
    CHECK(quote->points_earned == 35);  // 10 on coffee, 3x = 30, and 5 on bread

    const PurchaseResult result =
        fixture.buy("T-1", member, {line("C", "coffee", 1, 1000), line("B", "bakery", 1, 500)});
    CHECK(result.points_earned == 35);
    CHECK(result.lines.at(0).points == 30);
    CHECK(result.lines.at(1).points == 5);
    REQUIRE(result.offers.size() == 1);
    CHECK(result.offers.at(0).offer_id == "COFFEE3X");
    CHECK(result.offers.at(0).points == 20);
    CHECK(decision_for(result, "COFFEE3X").reason == "applied");
    CHECK(fixture.program->offer_uses("COFFEE3X").size() == 1);
    CHECK(fixture.summary(member).offers.empty());  // no uses left: not shown

    // A retried sale replays the first answer and does not use the offer again.
    auto replay = fixture.program->purchase(
        sale("T-1", member, {line("C", "coffee", 1, 1000), line("B", "bakery", 1, 500)}));
    REQUIRE(replay.ok());
    CHECK(replay->replayed);
    CHECK(replay->result.offers.size() == 1);
    CHECK(fixture.program->offer_uses("COFFEE3X").size() == 1);

    const PurchaseResult second = fixture.buy("T-2", member, {line("C", "coffee", 1, 1000)});
    CHECK(second.points_earned == 10);
    CHECK(second.offers.empty());
    CHECK(decision_for(second, "COFFEE3X").reason == "used_up");

    // Someone without the offer never gets it.
    CHECK(fixture.buy("T-3", other, {line("C", "coffee", 1, 1000)}).points_earned == 10);
    fixture.check_invariants(member);
}

TEST_CASE("a discount lowers what is due and what earns, and a return refunds the discounted price and its points") {
    CoreFixture fixture(flat());
    OfferFeed feed(*fixture.program);
    const std::string member = consenting(fixture, 1);
    feed.publish(offer_json("FIVE_OFF", {{"kind", "amount_discount"}, {"discount_cents", 500}, {"skus", {"TOY"}}}));
    feed.assign("FIVE_OFF", {member});

    const PurchaseResult result = fixture.buy("T-1", member, {line("TOY", "toys", 2, 1500), line("M", "milk", 1, 200)});
    CHECK(result.offer_discount_cents == 500);
    CHECK(result.net_cents == 2700);
    CHECK(result.amount_due_cents == 2700);
    CHECK(result.lines.at(0).net_cents == 2500);
    CHECK(result.points_earned == 27);

    auto returned = fixture.program->return_items({"R-1", "T-1", {{"TOY", 2}}});
    REQUIRE(returned.ok());
    CHECK(returned->result.refund_cents == 2500);  // what was paid, not the list price
    CHECK(returned->result.points_reversed == 25);
    CHECK(fixture.summary(member).points == 2);
    fixture.check_invariants(member);
}

TEST_CASE("offer points are taken back by a return and a void frees the use") {
    CoreFixture fixture(flat());
    OfferFeed feed(*fixture.program);
    const std::string member = consenting(fixture, 1);
    feed.publish(offer_json("BONUS", {{"kind", "bonus_points"}, {"bonus_points", 100}, {"min_spend_cents", 2000}}));
    feed.assign("BONUS", {member});

    fixture.buy("T-1", member, {line("A", "food", 1, 3000)});
    CHECK(fixture.summary(member).points == 130);
    auto returned = fixture.program->return_items({"R-1", "T-1", {}});
    REQUIRE(returned.ok());
    CHECK(returned->result.points_reversed == 130);  // a refund never keeps the bonus
    CHECK(fixture.summary(member).points == 0);
    CHECK(fixture.summary(member).offers.empty());  // a return keeps the use: the offer was had

    // A void undoes the sale: the member may use the offer again.
    const std::string second = consenting(fixture, 2);
    feed.assign("BONUS", {second});
    fixture.buy("T-2", second, {line("A", "food", 1, 3000)});
    REQUIRE(fixture.program->void_purchase("T-2").ok());
    CHECK(fixture.summary(second).points == 0);
    CHECK(fixture.summary(second).offers.size() == 1);
    CHECK(fixture.buy("T-3", second, {line("A", "food", 1, 3000)}).points_earned == 130);
    fixture.check_invariants(member);
    fixture.check_invariants(second);
}

TEST_CASE("the till picks the better of a non-stackable offer and the stackable ones, and says why") {
    CoreFixture fixture(flat());
    OfferFeed feed(*fixture.program);
    const std::string member = consenting(fixture, 1);
    feed.publish(offer_json("B50", {{"kind", "bonus_points"}, {"bonus_points", 50}}));
    feed.publish(offer_json("B20", {{"kind", "bonus_points"}, {"bonus_points", 20}}));
    feed.publish(offer_json("PCT10", {{"kind", "percent_discount"}, {"discount_percent", 10}, {"stackable", false}}));
    feed.assign("B50", {member});
    feed.assign("B20", {member});
    feed.assign("PCT10", {member});

    SECTION("a small basket: 70 bonus points (0.70) beat 10% of 5.00") {
        const PurchaseResult result = fixture.buy("T-1", member, {line("A", "food", 1, 500)});
        CHECK(result.offers.size() == 2);
        CHECK(result.points_earned == 75);
        CHECK(result.offer_discount_cents == 0);
        CHECK(decision_for(result, "PCT10").reason == "not_combinable");
        CHECK_THAT(decision_for(result, "PCT10").message, Catch::Contains("B50"));
    }
    SECTION("a large basket: 10% of 20.00 beats 70 points") {
        const PurchaseResult result = fixture.buy("T-1", member, {line("A", "food", 1, 2000)});
        REQUIRE(result.offers.size() == 1);
        CHECK(result.offers.at(0).offer_id == "PCT10");
        CHECK(result.offer_discount_cents == 200);
        CHECK(result.amount_due_cents == 1800);
        CHECK(result.points_earned == 18);
        CHECK(decision_for(result, "B50").reason == "not_combinable");
        CHECK(decision_for(result, "B20").reason == "not_combinable");
    }
}

TEST_CASE("a threshold not met is explained, paused and expired offers do not apply") {
    CoreFixture fixture(flat());
    OfferFeed feed(*fixture.program);
    const std::string member = consenting(fixture, 1);
    json bonus = offer_json("BONUS", {{"kind", "bonus_points"}, {"bonus_points", 200},
                                      {"min_spend_cents", 5000}, {"categories", {"coffee"}}});
    feed.publish(bonus);
    feed.assign("BONUS", {member});
    const PurchaseResult small = fixture.buy("T-1", member, {line("C", "coffee", 1, 3750)});
    CHECK(small.offers.empty());
    CHECK(decision_for(small, "BONUS").reason == "min_spend_not_met");
    CHECK(decision_for(small, "BONUS").message == "spend 12.50 more on coffee for 200 bonus points");

    bonus["status"] = "paused";
    feed.publish(bonus);
    CHECK(fixture.buy("T-2", member, {line("C", "coffee", 1, 6000)}).offers.empty());
    bonus["status"] = "active";
    feed.publish(bonus);
    fixture.clock.set(parse_timestamp("2026-02-01T00:00:00Z").value());
    CHECK(fixture.buy("T-3", member, {line("C", "coffee", 1, 6000)}).offers.empty());
    CHECK(fixture.summary(member).offers.empty());
}

TEST_CASE("a tier challenge shows progress and pays once the spend is reached") {
    CoreFixture fixture(flat());
    OfferFeed feed(*fixture.program);
    const std::string member = consenting(fixture, 1);
    feed.publish(offer_json("GOLD", {{"kind", "tier_challenge"}, {"min_spend_cents", 5000}, {"bonus_points", 300},
                                     {"target_tier", "Gold"}}));
    feed.assign("GOLD", {member});
    const PurchaseResult first = fixture.buy("T-1", member, {line("A", "food", 1, 3000)});
    CHECK(first.offers.empty());
    CHECK(decision_for(first, "GOLD").reason == "challenge_progress");
    CHECK_THAT(fixture.summary(member).offers.at(0).message, Catch::Contains("spend 20.00 more") &&
                                                                 Catch::Contains("to reach Gold"));
    const PurchaseResult second = fixture.buy("T-2", member, {line("A", "food", 1, 2500)});
    REQUIRE(second.offers.size() == 1);
    CHECK(second.offers.at(0).points == 300);
    CHECK(fixture.buy("T-3", member, {line("A", "food", 1, 2500)}).offers.empty());
}

TEST_CASE("an offer's budget bounds what it gives") {
    CoreFixture fixture(flat());
    OfferFeed feed(*fixture.program);
    std::vector<std::string> members;
    for (int n = 1; n <= 3; ++n) members.push_back(consenting(fixture, n));
    feed.publish(offer_json("BUDGET", {{"kind", "bonus_points"}, {"bonus_points", 100}, {"budget_points", 150}}));
    feed.assign("BUDGET", members);
    CHECK(fixture.buy("T-1", members[0], {line("A", "food", 1, 1000)}).offers.at(0).points == 100);
    CHECK(fixture.buy("T-2", members[1], {line("A", "food", 1, 1000)}).offers.at(0).points == 50);
    const PurchaseResult third = fixture.buy("T-3", members[2], {line("A", "food", 1, 1000)});
    CHECK(third.offers.empty());
    CHECK(decision_for(third, "BUDGET").reason == "budget_spent");
}

TEST_CASE("an offer used at two offline tills beyond its limit is found at head office") {
    CoreFixture hq(flat(), node("HQ"));
    CoreFixture till_a(flat(), node("S01-T1"));
    CoreFixture till_b(flat(), node("S02-T1"));
    const std::string member = consenting(till_a, 1);
    const json offer = offer_json("ONCE", {{"kind", "bonus_points"}, {"bonus_points", 100}});
    // Head office knows the member; both tills have the member and the offer before going offline.
    auto snapshot = till_a.program->member_snapshot(member);
    REQUIRE(snapshot.ok());
    REQUIRE(hq.program->import_member_snapshot(*snapshot).ok());
    REQUIRE(till_b.program->import_member_snapshot(*snapshot).ok());
    for (CoreFixture* node : {&hq, &till_a, &till_b}) {
        OfferFeed feed(*node->program);
        feed.publish(offer);
        feed.assign("ONCE", {member});
    }
    CHECK(till_a.buy("T-1", member, {line("A", "food", 1, 1000)}).offers.size() == 1);
    CHECK(till_b.buy("T-1", member, {line("A", "food", 1, 1000)}).offers.size() == 1);
    CHECK(hq.program->offer_overuses().empty());

    for (auto [node, origin] : {std::pair{&till_a, "S01-T1"}, std::pair{&till_b, "S02-T1"}})
        for (const OutboxEvent& event : node->program->outbox().pending(100))
            REQUIRE(hq.program->apply_remote_event(origin, event).ok());
    const auto overuses = hq.program->offer_overuses();
    REQUIRE(overuses.size() == 1);
    CHECK(overuses[0].member_id == member);
    CHECK(overuses[0].uses == 2);
    CHECK(overuses[0].limit == 1);
    const auto uses = hq.program->offer_uses("ONCE");
    REQUIRE(uses.size() == 2);
    CHECK(uses[0].operation_id == "S01-T1/T-1");

    // A till that imports the member's snapshot counts the same uses once, not twice.
    auto from_hq = hq.program->member_snapshot(member);
    REQUIRE(from_hq.ok());
    REQUIRE(till_a.program->import_member_snapshot(*from_hq).ok());
    CHECK(till_a.program->offer_uses("ONCE").size() == 2);
}

TEST_CASE("a member snapshot carries the member's offers to a till that never saw them") {
    CoreFixture hq(flat(), node("HQ"));
    CoreFixture till(flat(), node("S09-T1"));
    const std::string member = consenting(hq, 1);
    OfferFeed feed(*hq.program);
    feed.publish(offer_json("WELCOME", {{"kind", "bonus_points"}, {"bonus_points", 100}, {"uses_per_member", 2}}));
    feed.assign("WELCOME", {member});
    auto snapshot = hq.program->member_snapshot(member);
    REQUIRE(snapshot.ok());
    REQUIRE(till.program->import_member_snapshot(*snapshot).ok());
    const MemberSummary summary = till.summary(member);
    REQUIRE(summary.offers.size() == 1);
    CHECK(summary.offers.at(0).uses_left == 2);
    CHECK(json(summary).at("offers").at(0).at("offer_id") == "WELCOME");
    CHECK(till.buy("T-1", member, {line("A", "food", 1, 1000)}).points_earned == 110);
}

TEST_CASE("without consent to personalised offers no offer applies or shows, and the member still earns") {
    CoreFixture fixture(flat());
    OfferFeed feed(*fixture.program);
    const std::string member = fixture.enroll(1);
    CHECK_FALSE(fixture.program->find_member({member, "", ""})->consent.personalised_offers);
    feed.publish(offer_json("BONUS", {{"kind", "bonus_points"}, {"bonus_points", 100}}));
    feed.assign("BONUS", {member});
    CHECK(fixture.summary(member).offers.empty());
    const PurchaseResult sold = fixture.buy("T-1", member, {line("A", "food", 1, 1000)});
    CHECK(sold.points_earned == 10);
    CHECK(sold.offer_decisions.empty());

    REQUIRE(fixture.program->set_consent(member, true, false).ok());
    CHECK(fixture.summary(member).offers.size() == 1);
    REQUIRE(fixture.program->set_consent(member, false, false).ok());
    CHECK(fixture.buy("T-2", member, {line("A", "food", 1, 1000)}).points_earned == 10);
}

TEST_CASE("consent is recorded at enrolment, synced to other nodes, and the latest statement wins everywhere") {
    CoreFixture till_a(flat(), node("S01-T1"));
    CoreFixture till_b(flat(), node("S02-T1"));
    EnrollRequest request{testing::valid_card(1), "", "Ada", ""};
    request.consent.personalised_offers = true;
    auto enrolled = till_a.program->enroll(request);
    REQUIRE(enrolled.ok());
    const Member& member = enrolled->result;
    CHECK(member.consent.personalised_offers);
    CHECK_FALSE(member.consent.marketing);
    CHECK(member.consent.recorded_by == "S01-T1");
    CHECK(json(member).at("consent").at("membership") == true);

    auto forward = [](CoreFixture& from, const std::string& origin, CoreFixture& to) {
        for (const OutboxEvent& event : from.program->outbox().pending(100))
            REQUIRE(to.program->apply_remote_event(origin, event).ok());
    };
    forward(till_a, "S01-T1", till_b);
    CHECK(till_b.program->find_member({member.member_id, "", ""})->consent.personalised_offers);

    // The member withdraws at S02 an hour later; S01 then hears of it, and not the other way.
    till_b.clock.set(till_b.clock.now() + 3600);
    REQUIRE(till_b.program->set_consent(member.member_id, false, true).ok());
    forward(till_b, "S02-T1", till_a);
    forward(till_a, "S01-T1", till_b);  // replays: nothing older overrides the newer statement
    for (CoreFixture* node : {&till_a, &till_b}) {
        const Consent consent = node->program->find_member({member.member_id, "", ""})->consent;
        CHECK_FALSE(consent.personalised_offers);
        CHECK(consent.marketing);
        CHECK(consent.recorded_by == "S02-T1");
    }
    CHECK(*till_a.program->database().query_integer("SELECT COUNT(*) FROM consent_history") == 2);
    CHECK(till_a.program->database().query_text("PRAGMA integrity_check") == "ok");
}
