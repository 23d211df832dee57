#include "loyalty/program.hpp"

#include <catch2/catch.hpp>
#include <random>

#include "support/core_fixture.hpp"

using namespace loyalty;
using loyalty::testing::CoreFixture;
using loyalty::testing::line;
using loyalty::testing::rules_with;
using nlohmann::json;

namespace {

Timestamp at(const char* text) { return parse_timestamp(text).value(); }

}  // namespace

TEST_CASE("a member is upgraded at once by spend, and earns at the new rate from the next sale") {
    CoreFixture fixture;
    const std::string member = fixture.enroll(1);
    const PurchaseResult first = fixture.buy("T-1", member, {line("A", "x", 1, 50000)});
    CHECK(first.tier == "Bronze");
    CHECK(first.points_earned == 500);
    CHECK(first.tier_after == "Silver");
    const auto changes = fixture.program->tier_changes(member);
    REQUIRE(changes.size() == 1);
    CHECK(changes[0].from_tier == "Bronze");
    CHECK(changes[0].to_tier == "Silver");
    CHECK(changes[0].reason.find("upgrade") != std::string::npos);
    CHECK(changes[0].at == fixture.clock.now());
    CHECK(fixture.buy("T-2", member, {line("A", "x", 1, 1000)}).points_earned == 15);
    CHECK(fixture.summary(member).member.tier == "Silver");
}

TEST_CASE("purchase count alone qualifies a member") {
    CoreFixture fixture;
    const std::string member = fixture.enroll(1);
    for (int i = 1; i <= 9; ++i)
        CHECK(fixture.buy("T-" + std::to_string(i), member, {line("A", "x", 1, 100)}).tier_after == "Bronze");
    CHECK(fixture.buy("T-10", member, {line("A", "x", 1, 100)}).tier_after == "Silver");
}

TEST_CASE("the tier never follows the points balance nor counts points or excluded goods as spend") {
    CoreFixture fixture(rules_with({{"earn", {{"category_multipliers", {{"bonus", 20}}},
                                              {"excluded_categories", {"gift_cards"}}}},
                                    {"redemption", {{"points_per_unit", 10}}}}));
    const std::string member = fixture.enroll(1);
    // 2000 points from 100.00 of bonus goods: a big balance, little spend.
    fixture.buy("T-1", member, {line("A", "bonus", 1, 10000)});
    // 1000.00 of gift cards earns nothing and is no qualifying spend.
    fixture.buy("T-2", member, {line("G", "gift_cards", 1, 100000)});
    auto summary = fixture.summary(member);
    CHECK(summary.balance == 2000);
    CHECK(summary.standing.spend_cents == 10000);
    CHECK(summary.member.tier == "Bronze");
    // 390.00 more: 490.00 qualifying.
    fixture.buy("T-3", member, {line("B", "x", 1, 39000)});
    // 15.00 of which 10.00 paid with 100 points: only 5.00 qualifies, 495.00 < 500.00.
    const PurchaseResult paid = fixture.buy("T-4", member, {line("C", "x", 1, 1500)}, 100);
    REQUIRE(paid.redeemed_cents == 1000);
    CHECK(paid.tier_after == "Bronze");
    summary = fixture.summary(member);
    CHECK(summary.standing.spend_cents == 49500);
    CHECK(summary.tier_progress.spend_needed_cents == 500);
    CHECK(summary.tier_progress.message.rfind("spend 5.00 more or make 6 more purchases for Silver", 0) == 0);
    CHECK(fixture.buy("T-5", member, {line("C", "x", 1, 500)}).tier_after == "Silver");
}

TEST_CASE("a return lowers qualifying spend, the downgrade waits for the grace period") {
    CoreFixture fixture;
    const std::string member = fixture.enroll(1);
    fixture.buy("T-1", member, {line("A", "x", 1, 60000)});
    REQUIRE(fixture.summary(member).member.tier == "Silver");
    fixture.clock.advance_days(2);
    auto returned = fixture.program->return_items({"R-1", "T-1", {}});
    REQUIRE(returned.ok());
    CHECK(returned->result.tier_after == "Silver");
    CHECK(fixture.summary(member).standing.spend_cents == 0);
    CHECK(fixture.summary(member).standing.purchases == 0);
    fixture.check_invariants(member);

    fixture.clock.advance_days(29);
    REQUIRE(fixture.program->evaluate_tiers().ok());
    CHECK(fixture.summary(member).member.tier == "Silver");
    fixture.clock.advance_days(1);
    auto run = fixture.program->evaluate_tiers();
    REQUIRE(run.ok());
    CHECK(run->changes == 1);
    CHECK(fixture.summary(member).member.tier == "Bronze");
    const auto changes = fixture.program->tier_changes(member);
    REQUIRE(changes.size() == 2);
    CHECK(changes[1].to_tier == "Bronze");
    CHECK(changes[1].reason.find("downgrade") != std::string::npos);
    CHECK(fixture.program->evaluate_tiers()->changes == 0);
}

TEST_CASE("tiers across years: the rolling window drops old spend, a new purchase in grace keeps the tier") {
    CoreFixture fixture;
    const std::string member = fixture.enroll(1);
    fixture.buy("T-1", member, {line("A", "x", 1, 200000)});
    REQUIRE(fixture.summary(member).member.tier == "Gold");

    // A year later the purchase leaves the 365-day window: the grace period starts.
    fixture.clock.set(at("2027-01-05T10:00:00Z"));
    REQUIRE(fixture.program->evaluate_tiers().ok());
    CHECK(fixture.summary(member).member.tier == "Gold");
    // Two weeks later a big purchase qualifies again: no downgrade.
    fixture.clock.set(at("2027-01-19T10:00:00Z"));
    CHECK(fixture.buy("T-2", member, {line("A", "x", 1, 200000)}).tier_after == "Gold");
    fixture.clock.set(at("2027-03-01T10:00:00Z"));
    REQUIRE(fixture.program->evaluate_tiers().ok());
    CHECK(fixture.summary(member).member.tier == "Gold");

    // Two years on, nothing in the window: the member falls straight to the qualifying level.
    fixture.clock.set(at("2028-01-20T10:00:00Z"));
    REQUIRE(fixture.program->evaluate_tiers().ok());
    CHECK(fixture.summary(member).member.tier == "Gold");
    fixture.clock.set(at("2028-02-19T10:00:00Z"));
    REQUIRE(fixture.program->evaluate_tiers().ok());
    CHECK(fixture.summary(member).member.tier == "Bronze");
    const auto changes = fixture.program->tier_changes(member);
    REQUIRE(changes.size() == 2);
    CHECK(format_date(changes[1].at) == "2028-02-19");
    CHECK(changes[1].reason.find("since 2028-01-20") != std::string::npos);
}

TEST_CASE("the kept tier standing is always the sum over the window as the clock, returns and rules move") {
    CoreFixture fixture;
    const std::string member = fixture.enroll(1);
    Database& database = fixture.program->database();
    const auto window_sum = [&](const std::string& column) {
        const Timestamp now = fixture.clock.now();
        const Timestamp from = now - fixture.program->rules().tiers.window_days * seconds_per_day;
        return *database.query_integer("SELECT COALESCE(SUM(" + column + "), 0) FROM qualifying_activity "
                                       "WHERE member_id = ? AND purchased_at > ? AND purchased_at <= ?",
                                       member, from, now);
    };
    std::mt19937 random(8);
    std::vector<std::string> sales;
    for (int step = 0; step < 300; ++step) {
        if (step == 150)  // a shorter window moves only the window's start
            REQUIRE(fixture.program->install_rules(rules_with({{"version", 2}, {"tiers", {{"window_days", 30}}}})).ok());
        const auto choice = random() % 9;
        if (choice < 5) {
            sales.push_back("T-" + std::to_string(step));
            fixture.buy(sales.back(), member, {line("A", "x", 1, static_cast<Cents>(1000 + random() % 90000))});
        } else if (choice < 7 && !sales.empty()) {
            // Dated at the sale, often outside the window last computed: counted when it is in.
            const std::string sale = sales[random() % sales.size()];
            static_cast<void>(fixture.program->return_items({"R-" + std::to_string(step), sale, {}}));
        } else {
            // Forward by up to 200 days, back by up to 100.
            fixture.clock.set(fixture.clock.now() + (static_cast<Timestamp>(random() % 300) - 100) * seconds_per_day);
        }
        const MemberSummary summary = fixture.summary(member);
        INFO("step " << step);
        REQUIRE(summary.standing.spend_cents == window_sum("spend_cents"));
        REQUIRE(summary.standing.purchases == window_sum("purchases"));
    }
}

TEST_CASE("expiry takes only what is left of a lot that was partly spent") {
    json patch = {{"earn", {{"expiry_months", 12}}},
                  {"tiers", {{"levels", json::array({{{"name", "Member"}}})}}}};
    CoreFixture fixture(rules_with(patch));
    const std::string member = fixture.enroll(1);
    fixture.buy("T-1", member, {line("A", "x", 1, 10000)});          // lot 1: 100
    fixture.buy("T-2", member, {line("B", "x", 1, 1000)}, 30);       // spends 30 of lot 1, lot 2: 9
    fixture.clock.set(at("2026-07-05T10:00:00Z"));
    fixture.buy("T-3", member, {line("C", "x", 1, 5000)});           // lot 3: 50, expires 2027-07
    CHECK(fixture.summary(member).balance == 129);

    fixture.clock.set(at("2026-12-20T10:00:00Z"));
    auto soon = fixture.summary(member);
    CHECK(soon.points_expiring.points == 79);
    CHECK(soon.points_expiring.date == "2027-01-05");

    fixture.clock.set(at("2027-01-05T10:00:00Z"));
    CHECK(fixture.summary(member).points == 50);  // expired lots are no longer spendable
    auto run = fixture.program->run_expiry();
    REQUIRE(run.ok());
    CHECK(run->lots_expired == 2);
    CHECK(run->points_expired == 79);
    CHECK(run->entry_ids.size() == 2);
    auto summary = fixture.summary(member);
    CHECK(summary.balance == 50);
    CHECK(summary.points == 50);
    fixture.check_invariants(member);
    // The spend that used lot 1 stays and stays consistent with it.
    const auto lots = fixture.program->lots(member);
    REQUIRE(lots.size() == 3);
    CHECK(lots[0].remaining == 0);
    CHECK(lots[1].remaining == 0);
    CHECK(lots[2].remaining == 50);
    auto page = fixture.program->history(member, 10, "");
    Points redeemed = 0, expired = 0;
    for (const LedgerEntry& entry : page->entries) {
        if (entry.kind == EntryKind::redeem) redeemed += entry.points;
        if (entry.kind == EntryKind::expire) expired += entry.points;
    }
    CHECK(redeemed == -30);
    CHECK(expired == -79);

    const auto before = fixture.snapshot();
    auto second = fixture.program->run_expiry();
    REQUIRE(second.ok());
    CHECK(second->lots_expired == 0);
    CHECK(second->points_expired == 0);
    CHECK(fixture.snapshot() == before);
}

TEST_CASE("expiry across years takes lots oldest first and never the live ones") {
    CoreFixture fixture(rules_with({{"earn", {{"expiry_months", 24}}}}));
    const std::string member = fixture.enroll(1);
    const std::string other = fixture.enroll(2);
    fixture.buy("T-1", member, {line("A", "x", 1, 10000)});   // 2026-01-05 -> 2028-01-05
    fixture.buy("T-2", other, {line("A", "x", 1, 20000)});
    fixture.clock.set(at("2027-02-28T12:00:00Z"));
    fixture.buy("T-3", member, {line("A", "x", 1, 30000)});   // -> 2029-02-28
    fixture.clock.set(at("2028-01-05T09:59:59Z"));
    CHECK(fixture.program->run_expiry()->lots_expired == 0);  // one second early
    fixture.clock.set(at("2028-01-05T10:00:00Z"));
    auto first = fixture.program->run_expiry();
    CHECK(first->lots_expired == 2);
    CHECK(first->points_expired == 300);
    CHECK(fixture.summary(member).balance == 300);
    CHECK(fixture.summary(other).balance == 0);
    fixture.clock.set(at("2029-03-01T00:00:00Z"));
    CHECK(fixture.program->run_expiry()->points_expired == 300);
    CHECK(fixture.summary(member).balance == 0);
    fixture.check_invariants(member);
    fixture.check_invariants(other);
}

TEST_CASE("points that never expire are never touched by the expiry run") {
    CoreFixture fixture;  // expiry_months 0
    const std::string member = fixture.enroll(1);
    fixture.buy("T-1", member, {line("A", "x", 1, 10000)});
    fixture.clock.set(at("2036-01-01T00:00:00Z"));
    CHECK(fixture.program->run_expiry()->lots_expired == 0);
    CHECK(fixture.summary(member).points == 100);
    CHECK(fixture.summary(member).points_expiring.date.empty());
}

TEST_CASE("a member summary reads the tier standing without writing, so a lookup at checkout commits nothing",
          "[tiers]") {
    CoreFixture till;
    const std::string member = till.enroll(1);
    till.buy("T-1", member, {line("A", "food", 1, 60'000)});
    till.clock.advance_days(3);
    const auto changes_before = till.program->database().query_integer("SELECT total_changes()");
    const MemberSummary summary = till.summary(member);
    CHECK(summary.standing.spend_cents == 60'000);
    CHECK(till.program->database().query_integer("SELECT total_changes()") == changes_before);
}
