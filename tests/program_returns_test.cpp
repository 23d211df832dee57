#include "loyalty/program.hpp"

#include <catch2/catch.hpp>

#include "support/core_fixture.hpp"

using namespace loyalty;
using loyalty::testing::CoreFixture;
using loyalty::testing::line;
using loyalty::testing::rules_with;
using nlohmann::json;

namespace {

// One tier only, so that returns do not move the member between rates.
RuleSet flat(json patch = json::object()) {
    json document = {{"tiers", {{"levels", json::array({{{"name", "Member"}}})}}}};
    document.merge_patch(patch);
    return rules_with(document);
}

ReturnRequest give_back(std::string return_id, std::string txn_id,
                        std::vector<ReturnLineRequest> lines = {}) {
    return {std::move(return_id), std::move(txn_id), std::move(lines)};
}

}  // namespace

TEST_CASE("partial returns of a line add up exactly to what the line earned") {
    CoreFixture fixture(flat({{"earn", {{"points_per_unit", 1.37}}}}));
    const std::string member = fixture.enroll(1);
    const PurchaseResult sold =
        fixture.buy("T-1", member, {line("A", "x", 7, 333), line("B", "y", 3, 1001, 7)});
    Points reversed_a = 0, reversed_b = 0;
    Cents refunded = 0;
    int n = 0;
    for (const auto& [sku, quantity] : std::vector<std::pair<std::string, int>>{
             {"A", 2}, {"B", 1}, {"A", 1}, {"A", 3}, {"B", 2}, {"A", 1}}) {
        auto result = fixture.program->return_items(
            give_back("R-" + std::to_string(++n), "T-1", {{sku, quantity}}));
        REQUIRE(result.ok());
        (sku == "A" ? reversed_a : reversed_b) += result->result.points_reversed;
        refunded += result->result.refund_cents;
        CHECK(result->result.points_shortfall == 0);
        fixture.check_invariants(member);
    }
    CHECK(reversed_a == sold.lines[0].points);
    CHECK(reversed_b == sold.lines[1].points);
    CHECK(refunded == sold.net_cents);
    CHECK(fixture.summary(member).balance == 0);
    // Nothing is left to return.
    const auto before = fixture.snapshot();
    auto again = fixture.program->return_items(give_back("R-99", "T-1"));
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().kind == ErrorKind::conflict);
    CHECK(again.error().code == "already_returned");
    CHECK(fixture.snapshot() == before);
}

TEST_CASE("a refund does not let the member keep the points") {
    CoreFixture fixture(flat());
    const std::string member = fixture.enroll(1);
    fixture.buy("T-0", member, {line("A", "x", 1, 5000)});
    const Points before = fixture.summary(member).balance;
    fixture.buy("T-1", member, {line("TV", "electronics", 1, 49999)});
    auto returned = fixture.program->return_items(give_back("R-1", "T-1"));
    REQUIRE(returned.ok());
    CHECK(returned->result.points_reversed == 499);
    CHECK(returned->result.refund_cents == 49999);
    CHECK(returned->result.refund_due_cents == 49999);
    CHECK(fixture.summary(member).balance == before);
    auto page = fixture.program->history(member, 1, "");
    CHECK(page->entries[0].kind == EntryKind::earn_reversal);
    CHECK(page->entries[0].operation_id == "R-1");
    fixture.check_invariants(member);
}

TEST_CASE("redeemed points come back in proportion to the returned value") {
    CoreFixture fixture(flat());
    const std::string member = fixture.enroll(1);
    fixture.buy("T-0", member, {line("A", "x", 1, 100000)});  // 1000 points
    const PurchaseResult sold =
        fixture.buy("T-1", member, {line("A", "x", 2, 1000), line("B", "y", 1, 2000)}, 1000);
    REQUIRE(sold.redeemed_cents == 1000);
    REQUIRE(sold.points_earned == 30);
    CHECK(fixture.summary(member).balance == 30);

    auto first = fixture.program->return_items(give_back("R-1", "T-1", {{"A", 1}}));
    REQUIRE(first.ok());
    CHECK(first->result.refund_cents == 1000);
    CHECK(first->result.points_refunded == 250);     // a quarter of the basket's value
    CHECK(first->result.refund_due_cents == 750);    // the rest was paid with points
    CHECK(first->result.points_reversed == 7);       // half of A's 15, rounded down
    fixture.check_invariants(member);

    auto rest = fixture.program->return_items(give_back("R-2", "T-1"));
    REQUIRE(rest.ok());
    CHECK(rest->result.points_refunded == 750);
    CHECK(rest->result.points_reversed == 23);
    CHECK(rest->result.refund_due_cents == 3000 - 750);
    // All of T-1 undone: the member has T-0's points again, no more, no less.
    CHECK(fixture.summary(member).balance == 1000);
    CHECK(fixture.summary(member).points == 1000);
    fixture.check_invariants(member);
}

TEST_CASE("the same units cannot be returned twice and bad returns write nothing") {
    CoreFixture fixture(flat());
    const std::string member = fixture.enroll(1);
    fixture.buy("T-1", member, {line("A", "x", 2, 1000), line("B", "y", 1, 500)});
    REQUIRE(fixture.program->return_items(give_back("R-1", "T-1", {{"A", 2}})).ok());
    const auto before = fixture.snapshot();
    const auto refused = [&](const ReturnRequest& request) {
        auto result = fixture.program->return_items(request);
        CHECK(fixture.snapshot() == before);
        REQUIRE_FALSE(result.ok());
        return result.error();
    };
    const Error twice = refused(give_back("R-2", "T-1", {{"A", 1}}));
    CHECK(twice.kind == ErrorKind::conflict);
    CHECK(twice.code == "already_returned");
    CHECK(twice.field == "lines[0].quantity");
    CHECK(refused(give_back("R-2", "T-1", {{"B", 2}})).code == "already_returned");
    CHECK(refused(give_back("R-2", "T-1", {{"C", 1}})).field == "lines[0].sku");
    const Error unknown = refused(give_back("R-2", "T-404"));
    CHECK(unknown.kind == ErrorKind::not_found);
    CHECK(unknown.field == "original_txn_id");
    CHECK(refused(give_back("R-2", "T-1", {{"B", 0}})).field == "lines[0].quantity");
    CHECK(refused(give_back("R-2", "T-1", {{"B", -1}})).field == "lines[0].quantity");
    CHECK(refused(give_back("", "T-1")).field == "return_id");
    // The same return id replays; with other lines it is a conflict.
    auto replay = fixture.program->return_items(give_back("R-1", "T-1", {{"A", 2}}));
    REQUIRE(replay.ok());
    CHECK(replay->replayed);
    CHECK(fixture.snapshot() == before);
    CHECK(refused(give_back("R-1", "T-1", {{"B", 1}})).kind == ErrorKind::conflict);
    fixture.check_invariants(member);
}

TEST_CASE("reversing points the member already spent leaves a reported debt that later earnings pay") {
    CoreFixture fixture(flat());
    const std::string member = fixture.enroll(1);
    fixture.buy("T-1", member, {line("A", "x", 1, 10000)});        // +100
    fixture.buy("T-2", member, {line("B", "x", 1, 500)}, 100);     // -100, +4
    auto returned = fixture.program->return_items(give_back("R-1", "T-1"));
    REQUIRE(returned.ok());
    CHECK(returned->result.points_reversed == 100);
    CHECK(returned->result.points_shortfall == 96);
    CHECK(returned->result.points == 0);
    auto summary = fixture.summary(member);
    CHECK(summary.balance == -96);
    CHECK(summary.points == 0);
    CHECK(fixture.debt(member) == 96);
    fixture.check_invariants(member);

    // The debt cannot be spent around.
    auto spend = fixture.program->purchase(testing::sale("T-3", member, {line("C", "x", 1, 500)}, 1));
    REQUIRE_FALSE(spend.ok());
    CHECK(spend.error().code == "insufficient_points");

    const PurchaseResult pays = fixture.buy("T-4", member, {line("C", "x", 1, 5000)});
    CHECK(pays.points_earned == 50);
    CHECK(pays.points == 0);
    CHECK(fixture.summary(member).balance == -46);
    fixture.check_invariants(member);
    const PurchaseResult clears = fixture.buy("T-5", member, {line("C", "x", 1, 10000)});
    CHECK(clears.points == 54);
    CHECK(fixture.debt(member) == 0);
    fixture.check_invariants(member);
}

TEST_CASE("a sale can be voided the same day, it undoes everything once") {
    CoreFixture fixture(flat());
    const std::string member = fixture.enroll(1);
    fixture.buy("T-0", member, {line("A", "x", 1, 100000)});
    const Points before_balance = fixture.summary(member).balance;
    const auto activity_before = fixture.summary(member).standing;
    fixture.clock.advance_days(1);
    fixture.buy("T-1", member, {line("A", "x", 3, 2000)}, 300);
    fixture.clock.set(fixture.clock.now() + 23 * 3600);
    auto voided = fixture.program->void_purchase("T-1");
    REQUIRE(voided.ok());
    CHECK_FALSE(voided->replayed);
    CHECK(voided->result.points_reversed == 57);
    CHECK(voided->result.points_refunded == 300);
    CHECK(fixture.summary(member).balance == before_balance);
    const auto activity_after = fixture.summary(member).standing;
    CHECK(activity_after.spend_cents == activity_before.spend_cents);
    CHECK(activity_after.purchases == activity_before.purchases);
    fixture.check_invariants(member);

    const auto before = fixture.snapshot();
    auto replay = fixture.program->void_purchase("T-1");
    REQUIRE(replay.ok());
    CHECK(replay->replayed);
    CHECK(fixture.snapshot() == before);
    auto returned = fixture.program->return_items(give_back("R-1", "T-1"));
    REQUIRE_FALSE(returned.ok());
    CHECK(returned.error().code == "purchase_voided");
    CHECK(fixture.snapshot() == before);
}

TEST_CASE("a void is refused after the void window and after a return") {
    CoreFixture fixture(flat());
    const std::string member = fixture.enroll(1);
    fixture.buy("T-1", member, {line("A", "x", 2, 1000)});
    fixture.buy("T-2", member, {line("A", "x", 2, 1000)});
    REQUIRE(fixture.program->return_items(give_back("R-1", "T-2", {{"A", 1}})).ok());
    const auto before = fixture.snapshot();
    auto after_return = fixture.program->void_purchase("T-2");
    REQUIRE_FALSE(after_return.ok());
    CHECK(after_return.error().code == "purchase_has_returns");
    fixture.clock.set(fixture.clock.now() + 24 * 3600 + 1);
    auto late = fixture.program->void_purchase("T-1");
    REQUIRE_FALSE(late.ok());
    CHECK(late.error().kind == ErrorKind::refused);
    CHECK(late.error().code == "void_window_over");
    CHECK(fixture.program->void_purchase("T-404").error().kind == ErrorKind::not_found);
    CHECK(fixture.program->void_purchase("").error().field == "txn_id");
    CHECK(fixture.snapshot() == before);
    fixture.check_invariants(member);
}
