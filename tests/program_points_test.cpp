#include "loyalty/program.hpp"

#include <catch2/catch.hpp>

#include "support/core_fixture.hpp"

using namespace loyalty;
using loyalty::testing::CoreFixture;
using loyalty::testing::line;
using loyalty::testing::rules_with;
using loyalty::testing::sale;
using nlohmann::json;

namespace {

// One tier only, so that a big purchase does not upgrade the member and change the rate.
RuleSet flat(json patch = json::object()) {
    json document = {{"tiers", {{"levels", json::array({{{"name", "Member"}}})}}}};
    document.merge_patch(patch);
    return rules_with(document);
}

}  // namespace

TEST_CASE("a purchase earns points, writes its ledger entry with the rule version and an event") {
    CoreFixture fixture;
    const std::string member = fixture.enroll(1);
    const PurchaseResult result =
        fixture.buy("T-1", member, {line("A", "food", 2, 1050), line("B", "food", 1, 99)});
    CHECK(result.net_cents == 2199);
    CHECK(result.points_earned == 21);
    CHECK(result.lines.at(0).points + result.lines.at(1).points == 21);
    CHECK(result.rule_version == 1);
    CHECK(result.tier == "Bronze");
    CHECK(result.points == 21);
    CHECK(result.amount_due_cents == 2199);
    REQUIRE(result.entry_ids.size() == 1);
    auto history = fixture.program->history(member, 10, "");
    REQUIRE(history.ok());
    REQUIRE(history->entries.size() == 1);
    CHECK(history->entries[0].entry_id == result.entry_ids[0]);
    CHECK(history->entries[0].kind == EntryKind::earn);
    CHECK(history->entries[0].points == 21);
    CHECK(history->entries[0].operation_id == "T-1");
    CHECK(history->entries[0].rule_version == 1);
    const auto events = fixture.program->outbox().pending(10);
    REQUIRE(events.size() == 2);
    CHECK(events[1].type == "purchase");
    CHECK(events[1].payload["result"]["points_earned"] == 21);
    fixture.check_invariants(member);
}

TEST_CASE("a retried purchase earns once: same request replays, another request conflicts") {
    CoreFixture fixture;
    const std::string member = fixture.enroll(1);
    const PurchaseRequest request = sale("T-1", member, {line("A", "food", 3, 1000)});
    auto first = fixture.program->purchase(request);
    REQUIRE(first.ok());
    const auto before = fixture.snapshot();

    for (int retry = 0; retry < 3; ++retry) {
        auto again = fixture.program->purchase(request);
        REQUIRE(again.ok());
        CHECK(again->replayed);
        CHECK(json(again->result) == json(first->result));
    }
    CHECK(fixture.snapshot() == before);
    CHECK(fixture.summary(member).balance == 30);

    // The same document number with another basket is refused, not accepted again.
    fixture.clock.advance_days(1);
    auto other = fixture.program->purchase(sale("T-1", member, {line("A", "food", 4, 1000)}));
    REQUIRE_FALSE(other.ok());
    CHECK(other.error().kind == ErrorKind::conflict);
    CHECK(other.error().field == "txn_id");
    CHECK(fixture.snapshot() == before);
    fixture.check_invariants(member);
}

TEST_CASE("points pay part of a basket, that part earns nothing") {
    CoreFixture fixture(flat());
    const std::string member = fixture.enroll(1);
    fixture.buy("T-1", member, {line("TV", "electronics", 1, 100000)});
    REQUIRE(fixture.summary(member).points == 1000);

    const PurchaseResult paid = fixture.buy("T-2", member, {line("A", "food", 2, 1000)}, 500);
    CHECK(paid.points_redeemed == 500);
    CHECK(paid.redeemed_cents == 500);
    CHECK(paid.amount_due_cents == 1500);
    CHECK(paid.points_earned == 15);
    CHECK(paid.points == 1000 - 500 + 15);
    REQUIRE(paid.entry_ids.size() == 2);
    fixture.check_invariants(member);
    CHECK(fixture.summary(member).balance == 515);
}

TEST_CASE("the same points cannot be redeemed twice") {
    CoreFixture fixture(flat());
    const std::string member = fixture.enroll(1);
    fixture.buy("T-1", member, {line("A", "food", 1, 100000)});  // 1000 points
    fixture.buy("T-2", member, {line("B", "food", 1, 1000)}, 600);
    const auto before = fixture.snapshot();
    // A replay of the redeeming sale spends nothing more.
    auto replay = fixture.program->purchase(sale("T-2", member, {line("B", "food", 1, 1000)}, 600));
    REQUIRE(replay.ok());
    CHECK(replay->replayed);
    CHECK(fixture.snapshot() == before);
    // Another sale cannot spend what is gone.
    auto twice = fixture.program->purchase(sale("T-3", member, {line("C", "food", 1, 1000)}, 600));
    REQUIRE_FALSE(twice.ok());
    CHECK(twice.error().kind == ErrorKind::refused);
    CHECK(twice.error().code == "insufficient_points");
    CHECK(twice.error().field == "redeem_points");
    CHECK(fixture.snapshot() == before);
    CHECK(fixture.summary(member).points == 1000 - 600 + 4);
    fixture.check_invariants(member);
}

TEST_CASE("spending takes the soonest-expiring lots first and records them") {
    CoreFixture fixture(flat({{"earn", {{"expiry_months", 12}}}}));
    const std::string member = fixture.enroll(1);
    fixture.buy("T-1", member, {line("A", "food", 1, 10000)});  // 100, expires first
    fixture.clock.advance_days(30);
    fixture.buy("T-2", member, {line("B", "food", 1, 20000)});  // 200
    fixture.clock.advance_days(1);
    fixture.buy("T-3", member, {line("C", "food", 1, 10000)}, 150);  // spends 100 + 50, earns 98
    const auto lots = fixture.program->lots(member);
    REQUIRE(lots.size() == 3);
    CHECK(lots[2].remaining == 98);
    CHECK(lots[0].points == 100);
    CHECK(lots[0].remaining == 0);
    CHECK(lots[1].points == 200);
    CHECK(lots[1].remaining == 150);
    CHECK(lots[0].expires_at.value() < lots[1].expires_at.value());
    CHECK(format_date(*lots[0].expires_at) == "2027-01-05");
    fixture.check_invariants(member);
}

TEST_CASE("points lock for the return period and are pending until then") {
    CoreFixture fixture(rules_with({{"earn", {{"lock_days", 14}}}}));
    const std::string member = fixture.enroll(1);
    const PurchaseResult result = fixture.buy("T-1", member, {line("A", "food", 1, 5000)});
    CHECK(result.points == 0);
    CHECK(result.points_pending == 50);
    CHECK(result.points_available_from == "2026-01-19");
    auto summary = fixture.summary(member);
    CHECK(summary.points == 0);
    CHECK(summary.points_pending == 50);
    CHECK(summary.balance == 50);

    const auto before = fixture.snapshot();
    auto early = fixture.program->purchase(sale("T-2", member, {line("B", "food", 1, 5000)}, 10));
    REQUIRE_FALSE(early.ok());
    CHECK(early.error().code == "insufficient_points");
    CHECK(fixture.snapshot() == before);

    fixture.clock.advance_days(14);
    summary = fixture.summary(member);
    CHECK(summary.points == 50);
    CHECK(summary.points_pending == 0);
    CHECK(fixture.program->purchase(sale("T-2", member, {line("B", "food", 1, 5000)}, 10)).ok());
    fixture.check_invariants(member);
}

TEST_CASE("redemption rules are enforced at the till and a refusal writes nothing") {
    CoreFixture fixture(flat(
        {{"redemption", {{"points_per_unit", 300}, {"minimum_points", 30}, {"max_basket_share_percent", 50}}}}));
    const std::string member = fixture.enroll(1);
    fixture.buy("T-1", member, {line("A", "food", 1, 100000)});  // 1000 points
    const auto before = fixture.snapshot();
    const auto refused = [&](Points points, Cents basket) {
        auto result = fixture.program->purchase(sale("T-X", member, {line("B", "food", 1, basket)}, points));
        CHECK(fixture.snapshot() == before);
        return result.ok() ? std::string("(accepted)") : result.error().code;
    };
    CHECK(refused(31, 10000) == "invalid_field");   // 31 points pay 10.33 1/3
    CHECK(refused(27, 10000) == "below_minimum_redemption");
    CHECK(refused(153, 100) == "redemption_above_basket_share");  // 0.51 of 1.00
    CHECK(refused(1002, 100000) == "insufficient_points");
    auto ok = fixture.program->purchase(sale("T-2", member, {line("B", "food", 1, 1000)}, 150));
    REQUIRE(ok.ok());
    CHECK(ok->result.redeemed_cents == 50);
    fixture.check_invariants(member);
}

TEST_CASE("the quote shows what a purchase would do and writes nothing") {
    CoreFixture fixture(flat({{"redemption", {{"max_basket_share_percent", 50}}}}));
    const std::string member = fixture.enroll(1);
    fixture.buy("T-1", member, {line("A", "food", 1, 100000)});
    const auto before = fixture.snapshot();
    PurchaseRequest request = sale("", member, {line("B", "food", 3, 1999)}, 500);
    auto quote = fixture.program->quote(request);
    REQUIRE(quote.ok());
    CHECK(fixture.snapshot() == before);
    CHECK(quote->max_redeemable_points == 1000);  // the whole balance, below half of 59.97
    CHECK(quote->points == 1000);

    CHECK(quote->points_earned == 54);  // 59.97 - 5.00
    CHECK(quote->redeemed_cents == 500);
    // Half of 19.99 is 9.99 (whole cents down): max_redeemable stops at the basket share.
    auto tiny = fixture.program->quote(sale("", member, {line("B", "food", 1, 1999)}));
    CHECK(tiny->max_redeemable_points == 999);

    request.txn_id = "T-2";
    auto bought = fixture.program->purchase(request);
    REQUIRE(bought.ok());
    CHECK(bought->result.points_earned == quote->points_earned);
    CHECK(bought->result.redeemed_cents == quote->redeemed_cents);
    CHECK(bought->result.amount_due_cents == quote->amount_due_cents);

    auto anonymous = fixture.program->quote({"", {}, {line("B", "food", 1, 1999)}, 0});
    REQUIRE(anonymous.ok());
    CHECK(anonymous->member_id.empty());
    CHECK(anonymous->points_earned == 19);
}

TEST_CASE("below the minimum spend a purchase earns nothing but is recorded") {
    CoreFixture fixture(rules_with({{"earn", {{"minimum_spend_cents", 500},
                                              {"excluded_categories", {"tobacco"}}}}}));
    const std::string member = fixture.enroll(1);
    const PurchaseResult small =
        fixture.buy("T-1", member, {line("A", "food", 1, 499), line("C", "tobacco", 1, 900)});
    CHECK_FALSE(small.minimum_spend_met);
    CHECK(small.points_earned == 0);
    CHECK(small.entry_ids.empty());
    CHECK(small.eligible_cents == 499);
    const PurchaseResult enough = fixture.buy("T-2", member, {line("A", "food", 1, 500)});
    CHECK(enough.minimum_spend_met);
    CHECK(enough.points_earned == 5);
    fixture.check_invariants(member);
}

TEST_CASE("earning caps per day, week (from Monday) and month cut the points") {
    SECTION("day") {
        CoreFixture fixture(rules_with({{"earn", {{"cap_per_day", 50}}}}));
        const std::string member = fixture.enroll(1);
        CHECK(fixture.buy("T-1", member, {line("A", "x", 1, 4000)}).points_earned == 40);
        const PurchaseResult capped = fixture.buy("T-2", member, {line("A", "x", 1, 3000)});
        CHECK(capped.points_earned == 10);
        CHECK(capped.points_capped == 20);
        CHECK(fixture.buy("T-3", member, {line("A", "x", 1, 3000)}).points_earned == 0);
        fixture.clock.set(parse_timestamp("2026-01-06T00:00:00Z").value());
        CHECK(fixture.buy("T-4", member, {line("A", "x", 1, 3000)}).points_earned == 30);
        CHECK(fixture.summary(member).balance == 80);
        fixture.check_invariants(member);
    }
    SECTION("week") {
        CoreFixture fixture(rules_with({{"earn", {{"cap_per_week", 100}}}}));
        const std::string member = fixture.enroll(1);
        fixture.clock.set(parse_timestamp("2026-01-05T00:00:00Z").value());  // Monday
        CHECK(fixture.buy("T-1", member, {line("A", "x", 1, 6000)}).points_earned == 60);
        fixture.clock.set(parse_timestamp("2026-01-11T23:59:59Z").value());  // Sunday
        CHECK(fixture.buy("T-2", member, {line("A", "x", 1, 6000)}).points_earned == 40);
        fixture.clock.set(parse_timestamp("2026-01-12T00:00:00Z").value());  // next Monday
        CHECK(fixture.buy("T-3", member, {line("A", "x", 1, 6000)}).points_earned == 60);
        fixture.check_invariants(member);
    }
    SECTION("month") {
        CoreFixture fixture(rules_with({{"earn", {{"cap_per_month", 100}}}}));
        const std::string member = fixture.enroll(1);
        CHECK(fixture.buy("T-1", member, {line("A", "x", 1, 8000)}).points_earned == 80);
        fixture.clock.set(parse_timestamp("2026-01-31T23:00:00Z").value());
        const PurchaseResult capped = fixture.buy("T-2", member, {line("A", "x", 1, 8000)});
        CHECK(capped.points_earned == 20);
        CHECK(capped.points_capped == 60);
        fixture.clock.set(parse_timestamp("2026-02-01T00:00:00Z").value());
        CHECK(fixture.buy("T-3", member, {line("A", "x", 1, 8000)}).points_earned == 80);
        fixture.check_invariants(member);
    }
}

TEST_CASE("every ledger entry records the rule version that earned it") {
    CoreFixture fixture;
    const std::string member = fixture.enroll(1);
    fixture.buy("T-1", member, {line("A", "x", 1, 1000)});
    REQUIRE(fixture.program->install_rules(rules_with({{"version", 2}, {"earn", {{"points_per_unit", 3}}}})).ok());
    const PurchaseResult second = fixture.buy("T-2", member, {line("A", "x", 1, 1000)});
    CHECK(second.rule_version == 2);
    CHECK(second.points_earned == 30);
    auto page = fixture.program->history(member, 10, "");
    REQUIRE(page->entries.size() == 2);
    CHECK(page->entries[0].rule_version == 2);  // newest first
    CHECK(page->entries[1].rule_version == 1);
    // An older version cannot come back changed, and re-sending it changes nothing.
    CHECK(fixture.program->install_rules(rules_with({{"earn", {{"points_per_unit", 9}}}})).error().kind ==
          ErrorKind::conflict);
    CHECK(fixture.program->install_rules(rules_with()).ok());
    CHECK(fixture.program->rules().version == 2);
}

TEST_CASE("history pages from newest to oldest") {
    CoreFixture fixture;
    const std::string member = fixture.enroll(1);
    for (int i = 1; i <= 5; ++i) fixture.buy("T-" + std::to_string(i), member, {line("A", "x", i, 100)});
    auto first = fixture.program->history(member, 2, "");
    REQUIRE(first->entries.size() == 2);
    CHECK(first->entries[0].operation_id == "T-5");
    REQUIRE_FALSE(first->next_cursor.empty());
    auto second = fixture.program->history(member, 2, first->next_cursor);
    CHECK(second->entries[0].operation_id == "T-3");
    auto last = fixture.program->history(member, 2, second->next_cursor);
    REQUIRE(last->entries.size() == 1);
    CHECK(last->entries[0].operation_id == "T-1");
    CHECK(last->next_cursor.empty());
    CHECK(fixture.program->history(member, 0, "").error().field == "limit");
    CHECK(fixture.program->history(member, 2, "abc").error().field == "cursor");
}

TEST_CASE("bad purchases are refused with the field named and nothing changes") {
    CoreFixture fixture;
    const std::string member = fixture.enroll(1);
    fixture.buy("T-0", member, {line("A", "x", 1, 1000)});
    const auto before = fixture.snapshot();
    const auto refused = [&](const PurchaseRequest& request) {
        auto result = fixture.program->purchase(request);
        CHECK(fixture.snapshot() == before);
        REQUIRE_FALSE(result.ok());
        return result.error();
    };
    CHECK(refused(sale("T-1", "S01-T1-M999", {line("A", "x", 1, 100)})).kind == ErrorKind::not_found);
    CHECK(refused({"T-1", {"", testing::valid_card(5), ""}, {line("A", "x", 1, 100)}, 0}).kind ==
          ErrorKind::not_found);
    // The core does not trust its caller to have validated the basket.
    CHECK(refused(sale("T-1", member, {line("A", "x", -1, 100)})).field == "lines[0].quantity");
    CHECK(refused(sale("T-1", member, {line("A", "x", 0, 100)})).field == "lines[0].quantity");
    CHECK(refused(sale("T-1", member, {line("A", "x", 1, 100), line("B", "x", 1, -100)})).field ==
          "lines[1].unit_price_cents");
    CHECK(refused(sale("T-1", member, {line("A", "x", max_line_quantity, max_unit_price_cents * 1000)}))
              .field == "lines[0].unit_price_cents");
    CHECK(refused(sale("T-1", member, {line("A", "x", 1, 100, 101)})).field == "lines[0].discount_cents");
    CHECK(refused(sale("T-1", member, {})).field == "lines");
    CHECK(refused(sale("", member, {line("A", "x", 1, 100)})).field == "txn_id");
    CHECK(refused(sale("T-1", member, {line("A", "x", 1, 100)}, -5)).field == "redeem_points");
    fixture.check_invariants(member);
}
