// Minimisation on a till (loyalty/personal_data.cpp): name and e-mail stay only for members
// seen here lately (enrolled, bought or looked up here); the others lose them, in the members
// table and in the records of their enrolment, while cards, ledger and balance stay.
#include "loyalty/personal_data.hpp"

#include <catch2/catch.hpp>

#include "support/core_fixture.hpp"

using namespace loyalty;
using namespace loyalty::testing;

namespace {

std::int64_t rows_holding(Program& program, const std::string& table, const std::string& column,
                          const std::string& text) {
    return *program.database().query_integer(
        "SELECT COUNT(*) FROM " + table + " WHERE instr(" + column + ", ?) > 0", text);
}

std::string enroll(Program& program, int n, const std::string& name) {
    auto enrolled = program.enroll({valid_card(n), "", name, "m" + std::to_string(n) + "@example.com"});
    REQUIRE(enrolled.ok());
    return enrolled->result.member_id;
}

}  // namespace

TEST_CASE("a till keeps name and e-mail only for members seen there lately, cards and points stay",
          "[personal_data]") {
    CoreFixture till;
    Program elsewhere({(till.dir.path() / "S02.db").string(), "S02-T1", Durability::normal}, till.clock,
                      rules_with());
    const std::string stale = enroll(*till.program, 1, "Stale Shopper");
    till.buy("T-1", stale, {line("A", "food", 1, 2500)});
    const std::string regular = enroll(*till.program, 2, "Regular Shopper");
    // Two members enrolled at another till, known here from head office's snapshots.
    const std::string visitor = enroll(elsewhere, 3, "Passing Visitor");
    const std::string looked_up = enroll(elsewhere, 4, "Looked Up");
    for (const std::string& member : {visitor, looked_up})
        REQUIRE(till.program->import_member_snapshot(elsewhere.member_snapshot(member).value()).ok());
    till.program->outbox().acknowledge(till.program->outbox().last_seq());  // head office has them

    till.clock.advance_days(40);
    till.buy("T-2", regular, {line("A", "food", 1, 1000)});
    REQUIRE(note_member_seen(*till.program, looked_up, till.clock.now()).ok());
    const Points stale_balance = till.summary(stale).balance;

    const auto pruned = prune_personal_data(*till.program, 30, till.clock.now());
    REQUIRE(pruned.ok());
    CHECK(pruned->members == 2);  // stale and visitor
    CHECK(pruned->seen_before == till.clock.now() - 30 * seconds_per_day);
    for (const std::string& member : {stale, visitor}) {
        const Member kept = till.program->find_member(by_id(member)).value();
        CHECK(kept.name.empty());
        CHECK(kept.email.empty());
        REQUIRE(kept.cards.size() == 1);  // still recognised by card
        CHECK(till.program->find_member({"", kept.cards[0].number, ""})->member_id == member);
    }
    CHECK(till.program->find_member(by_id(regular))->name == "Regular Shopper");
    CHECK(till.program->find_member(by_id(looked_up))->email == "m4@example.com");
    CHECK(till.summary(stale).balance == stale_balance);
    till.check_invariants(stale);
    for (const std::string& secret : {std::string("Stale Shopper"), std::string("m1@example.com")}) {
        INFO(secret);
        CHECK(rows_holding(*till.program, "members", "name || ifnull(email, '')", secret) == 0);
        CHECK(rows_holding(*till.program, "operations", "request || response", secret) == 0);
        CHECK(rows_holding(*till.program, "outbox", "payload", secret) == 0);
    }
    CHECK(rows_holding(*till.program, "outbox", "payload", "Regular Shopper") == 1);  // the check can see
    CHECK(till.program->database().query_text("PRAGMA integrity_check") == "ok");

    const auto again = prune_personal_data(*till.program, 30, till.clock.now());
    REQUIRE(again.ok());
    CHECK(again->members == 0);  // idempotent
    CHECK(prune_personal_data(*till.program, 0, till.clock.now()).error().field == "personal_data_days");
}

TEST_CASE("events not yet acknowledged by head office keep the name until it has them",
          "[personal_data]") {
    CoreFixture till;
    const std::string member = enroll(*till.program, 1, "Offline Enrolment");
    till.clock.advance_days(40);
    REQUIRE(prune_personal_data(*till.program, 30, till.clock.now())->members == 1);
    CHECK(till.program->find_member(by_id(member))->name.empty());
    CHECK(rows_holding(*till.program, "outbox", "payload", "Offline Enrolment") == 1);
    // Once head office has it, the next run cleans the event too.
    till.program->outbox().acknowledge(till.program->outbox().last_seq());
    CHECK(prune_personal_data(*till.program, 30, till.clock.now())->members == 0);
    CHECK(rows_holding(*till.program, "outbox", "payload", "Offline Enrolment") == 0);
}
