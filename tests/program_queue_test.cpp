// Purchases for cards a till does not know yet: queued, then recorded exactly once when the
// member becomes known, never credited after a void, never redeeming points nobody has seen.
#include "support/core_fixture.hpp"

using namespace loyalty;
using namespace loyalty::testing;

namespace {

PurchaseRequest card_sale(std::string txn_id, int card, Cents cents, Points redeem = 0) {
    return {std::move(txn_id), {"", valid_card(card), ""}, {line("BREAD", "bakery", 2, cents)}, redeem};
}

Recorded<QueuedPurchase> queue(CoreFixture& till, const PurchaseRequest& request) {
    auto queued = till.program->queue_purchase(request);
    INFO((queued ? "" : queued.error().message));
    REQUIRE(queued.ok());
    return queued.value();
}

QueueReplay record_queue(CoreFixture& till) {
    auto replay = till.program->record_queued_purchases();
    REQUIRE(replay.ok());
    return replay.value();
}

}  // namespace

TEST_CASE("a purchase for an unknown card is queued and recorded once the member enrolls", "[queue]") {
    CoreFixture till;
    REQUIRE(till.program->purchase(card_sale("Q1", 7, 1'000)).error().code == "unknown_card");
    const Recorded<QueuedPurchase> first = queue(till, card_sale("Q1", 7, 1'000));
    CHECK_FALSE(first.replayed);
    CHECK(first.result.status == "queued");
    CHECK(first.result.net_cents == 2'000);
    CHECK(queue(till, card_sale("Q1", 7, 1'000)).replayed);  // the POS retried
    CHECK(till.program->queued_purchase_count() == 1);
    CHECK(till.program->queued_cards() == std::vector<std::string>{valid_card(7)});

    SECTION("nothing is recorded while the card is still unknown") {
        CHECK(record_queue(till).recorded == 0);
        CHECK(till.program->queued_purchase_count() == 1);
    }
    SECTION("the queue survives a restart and is recorded exactly once") {
        till.reopen();
        const std::string member = till.enroll(7);
        CHECK(till.program->queued_cards().empty());
        CHECK(record_queue(till).recorded == 1);
        CHECK(record_queue(till).recorded == 0);
        CHECK(till.summary(member).balance == 20);
        CHECK(till.program->queued_purchase_count() == 0);
        // The POS retrying the sale now gets the recorded purchase, not a second one.
        auto retried = till.program->purchase(card_sale("Q1", 7, 1'000));
        REQUIRE(retried.ok());
        CHECK(retried->replayed);
        CHECK(retried->result.points_earned == 20);
        CHECK(till.summary(member).balance == 20);
        till.check_invariants(member);
    }
    SECTION("the POS posting the sale again once the member is known records it, and the queue agrees") {
        const std::string member = till.enroll(7);
        auto recorded = till.program->purchase(card_sale("Q1", 7, 1'000));
        REQUIRE(recorded.ok());
        CHECK_FALSE(recorded->replayed);
        CHECK(record_queue(till).recorded == 0);
        CHECK(till.summary(member).balance == 20);
    }
}

TEST_CASE("a queued purchase is refused what it cannot do", "[queue]") {
    CoreFixture till;
    SECTION("redeeming points of a member nobody here knows") {
        auto refused = till.program->queue_purchase(card_sale("Q2", 8, 1'000, 100));
        REQUIRE_FALSE(refused.ok());
        CHECK(refused.error().field == "redeem_points");
    }
    SECTION("a member named by id or phone rather than a card") {
        auto refused = till.program->queue_purchase(sale("Q3", "S09-T1-M1", {line("X", "food", 1, 100)}));
        REQUIRE_FALSE(refused.ok());
        CHECK(refused.error().field == "card");
    }
    SECTION("a known card: record the purchase instead") {
        till.enroll(9);
        auto refused = till.program->queue_purchase(card_sale("Q4", 9, 1'000));
        REQUIRE_FALSE(refused.ok());
        CHECK(refused.error().code == "member_known");
    }
    SECTION("the same txn_id with another basket") {
        queue(till, card_sale("Q5", 8, 1'000));
        auto refused = till.program->queue_purchase(card_sale("Q5", 8, 5'000));
        REQUIRE_FALSE(refused.ok());
        CHECK(refused.error().code == "idempotency_conflict");
    }
    CHECK(till.program->database().query_integer("SELECT COUNT(*) FROM ledger") == 0);
}

TEST_CASE("a sale voided while queued never earns, and a queued sale cannot be returned yet", "[queue]") {
    CoreFixture till;
    queue(till, card_sale("Q6", 10, 1'000));
    auto returned = till.program->return_items({"R6", "Q6", {}});
    REQUIRE_FALSE(returned.ok());
    CHECK(returned.error().code == "purchase_queued");

    auto voided = till.program->void_purchase("Q6");
    REQUIRE(voided.ok());
    CHECK(voided->result.points_reversed == 0);
    CHECK(till.program->queued_purchase_count() == 0);

    const std::string member = till.enroll(10);
    CHECK(record_queue(till).recorded == 0);
    auto late = till.program->purchase(card_sale("Q6", 10, 1'000));
    REQUIRE_FALSE(late.ok());
    CHECK(late.error().code == "purchase_voided");
    CHECK(till.summary(member).balance == 0);
}

TEST_CASE("a queued sale for a blocked card is kept as refused, with the reason", "[queue]") {
    CoreFixture till;
    queue(till, card_sale("Q7", 11, 1'000));
    const std::string member = till.enroll(11);
    REQUIRE(till.program->block_card(valid_card(11)).ok());
    const QueueReplay replay = record_queue(till);
    CHECK(replay.recorded == 0);
    CHECK(replay.refused == 1);
    CHECK(record_queue(till).refused == 0);  // decided once
    CHECK(till.program->database().query_text("SELECT reason FROM queued_purchases WHERE txn_id = 'Q7'")
              ->find("block") != std::string::npos);
    CHECK(till.summary(member).balance == 0);
}

TEST_CASE("a sale queued for a card unknown too long is refused and its card forgotten, the amounts stay",
          "[queue][personal_data]") {
    CoreFixture till;
    queue(till, card_sale("Q8", 12, 1'000));
    till.clock.advance_days(20);
    queue(till, card_sale("Q9", 13, 500));
    const Timestamp cutoff = till.clock.now() - 10 * seconds_per_day;
    auto refused = till.program->refuse_stale_queued_purchases(cutoff);
    REQUIRE(refused.ok());
    CHECK(*refused == 1);  // Q8 only: Q9 is younger than the cutoff
    CHECK(*till.program->refuse_stale_queued_purchases(cutoff) == 0);  // decided once
    Database& database = till.program->database();
    CHECK(database.query_text("SELECT status || ' ' || reason || ' ' || net_cents FROM queued_purchases "
                              "WHERE txn_id = 'Q8'") == "refused card_unknown 2000");
    CHECK(*database.query_integer("SELECT COUNT(*) FROM queued_purchases WHERE instr(card || request, ?) > 0",
                                  valid_card(12)) == 0);
    CHECK(*database.query_integer("SELECT COUNT(*) FROM operations WHERE instr(request || response, ?) > 0",
                                  valid_card(12)) == 0);
    CHECK(*database.query_integer("SELECT COUNT(*) FROM operations WHERE instr(request || response, ?) > 0",
                                  valid_card(13)) == 1);  // the check sees what is there
    CHECK(till.program->queued_cards() == std::vector<std::string>{valid_card(13)});
    // The member turning up later does not revive the refused sale.
    const std::string member = till.enroll(12);
    CHECK(record_queue(till).recorded == 0);
    CHECK(till.summary(member).balance == 0);
}
