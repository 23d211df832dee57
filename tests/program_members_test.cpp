#include "loyalty/program.hpp"

#include <catch2/catch.hpp>

#include "support/core_fixture.hpp"

using namespace loyalty;
using loyalty::testing::CoreFixture;
using loyalty::testing::valid_card;

namespace {

std::string spaced(const std::string& card) {
    return card.substr(0, 4) + " " + card.substr(4, 4) + "-" + card.substr(8);
}

}  // namespace

TEST_CASE("enrolling gives a member id from this node, the entry tier and an outbox event") {
    CoreFixture fixture;
    auto enrolled = fixture.program->enroll({valid_card(1), "+44 20 7946 0958", "Ada", "ada@example.com"});
    REQUIRE(enrolled.ok());
    CHECK_FALSE(enrolled->replayed);
    const Member& member = enrolled->result;
    CHECK(member.member_id.rfind("S01-T1-M", 0) == 0);
    CHECK(member.tier == "Bronze");
    CHECK(member.primary_card() == valid_card(1));
    CHECK(member.phone == "+442079460958");
    CHECK(member.enrolled_at == fixture.clock.now());
    const auto events = fixture.program->outbox().pending(10);
    REQUIRE(events.size() == 1);
    CHECK(events[0].type == "member_enrolled");
    CHECK(events[0].payload["member"]["member_id"] == member.member_id);
    fixture.check_invariants(member.member_id);
    CHECK(fixture.summary(member.member_id).balance == 0);
}

TEST_CASE("the member is found by card, normalised phone or id") {
    CoreFixture fixture;
    const auto member = fixture.program->enroll({valid_card(1), "020 7946 0958", "Ada", ""})->result;
    CHECK(fixture.program->find_member({"", valid_card(1), ""})->member_id == member.member_id);
    CHECK(fixture.program->find_member({"", "", "02079460958"})->member_id == member.member_id);
    CHECK(fixture.program->find_member({member.member_id, "", ""})->name == "Ada");
    auto unknown = fixture.program->find_member({"S01-T1-M999", "", ""});
    REQUIRE_FALSE(unknown.ok());
    CHECK(unknown.error().kind == ErrorKind::not_found);
    CHECK(fixture.program->find_member({"", valid_card(2), ""}).error().kind == ErrorKind::not_found);
    CHECK(fixture.program->find_member({"", "", "0123456789"}).error().kind == ErrorKind::not_found);
}

TEST_CASE("an enrollment replay returns the same member, other data is a conflict") {
    CoreFixture fixture;
    const EnrollRequest request{valid_card(1), "", "Ada", ""};
    const auto first = fixture.program->enroll(request);
    REQUIRE(first.ok());
    const auto before = fixture.snapshot();

    const auto again = fixture.program->enroll(request);
    REQUIRE(again.ok());
    CHECK(again->replayed);
    CHECK(again->result.member_id == first->result.member_id);
    CHECK(fixture.snapshot() == before);

    const auto other = fixture.program->enroll({valid_card(1), "", "Bob", ""});
    REQUIRE_FALSE(other.ok());
    CHECK(other.error().kind == ErrorKind::conflict);
    CHECK(fixture.snapshot() == before);
}

TEST_CASE("cards and phones belong to one member only") {
    CoreFixture fixture;
    REQUIRE(fixture.program->enroll({valid_card(1), "0201234567", "Ada", ""}).ok());
    const auto before = fixture.snapshot();

    SECTION("a second member with the same phone") {
        auto duplicate = fixture.program->enroll({valid_card(2), "020-123-4567", "Bob", ""});
        // Raw phone is normalised before the uniqueness check.
        REQUIRE_FALSE(duplicate.ok());
        CHECK(duplicate.error().kind == ErrorKind::conflict);
        CHECK(duplicate.error().field == "phone");
    }
    SECTION("a second member with the same card and another phone") {
        auto duplicate = fixture.program->enroll({valid_card(1), "0209999999", "Bob", ""});
        REQUIRE_FALSE(duplicate.ok());
        CHECK(duplicate.error().kind == ErrorKind::conflict);
    }
    SECTION("a card written with spaces is the same card") {
        auto duplicate = fixture.program->enroll({spaced(valid_card(1)), "", "Bob", ""});
        REQUIRE_FALSE(duplicate.ok());
        CHECK(duplicate.error().kind == ErrorKind::conflict);
    }
    SECTION("adding another member's card") {
        const std::string bob = fixture.enroll(2);
        const auto with_bob = fixture.snapshot();
        auto taken = fixture.program->add_card(bob, valid_card(1));
        REQUIRE_FALSE(taken.ok());
        CHECK(taken.error().kind == ErrorKind::conflict);
        CHECK(taken.error().code == "duplicate_card");
        CHECK(fixture.snapshot() == with_bob);
        return;
    }
    CHECK(fixture.snapshot() == before);
}

TEST_CASE("a mistyped card or bad contact data is refused at enrolment and nothing is written") {
    CoreFixture fixture;
    const auto before = fixture.snapshot();
    std::string mistyped = valid_card(1);
    mistyped.back() = mistyped.back() == '9' ? '0' : static_cast<char>(mistyped.back() + 1);
    REQUIRE_FALSE(luhn_valid(mistyped));
    auto refused = fixture.program->enroll({mistyped, "", "Ada", ""});
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().kind == ErrorKind::invalid);
    CHECK(refused.error().field == "card");
    CHECK(fixture.program->enroll({"", "12", "Ada", ""}).error().field == "phone");
    CHECK(fixture.program->enroll({"", "", "Ada", ""}).error().kind == ErrorKind::invalid);
    CHECK(fixture.program->enroll({valid_card(1), "", "", ""}).error().field == "name");
    CHECK(fixture.snapshot() == before);

    // The JSON gate says the same.
    auto parsed = parse_enroll_request({{"card", mistyped}, {"name", "Ada"}});
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().field == "card");
    CHECK(parse_enroll_request({{"phone", "0201234567"}, {"name", "Ada"}, {"email", "nope"}})
              .error().field == "email");
    CHECK(parse_enroll_request({{"phone", "0201234567"}}).error().field == "name");
    CHECK(parse_enroll_request({{"phone", "0201234567"}, {"name", "Ada"}})->phone == "0201234567");
}

TEST_CASE("a lost card is replaced: the old one is blocked, member and balance stay") {
    CoreFixture fixture;
    const std::string member = fixture.enroll(1);
    fixture.buy("T-1", member, {testing::line("A", "food", 1, 12345)});
    const Points balance = fixture.summary(member).balance;
    REQUIRE(balance == 123);

    auto replaced = fixture.program->replace_card(spaced(valid_card(1)), valid_card(2));
    REQUIRE(replaced.ok());
    CHECK(replaced->member_id == member);
    CHECK(replaced->primary_card() == valid_card(2));
    CHECK(fixture.summary(member).balance == balance);

    auto old_card = fixture.program->find_member({"", valid_card(1), ""});
    REQUIRE_FALSE(old_card.ok());
    CHECK(old_card.error().code == "card_blocked");
    CHECK(fixture.program->find_member({"", valid_card(2), ""})->member_id == member);

    // The blocked card cannot buy; nothing is written.
    const auto before = fixture.snapshot();
    PurchaseRequest stolen{"T-2", {"", valid_card(1), ""}, {testing::line("A", "food", 1, 100)}, 0};
    CHECK_FALSE(fixture.program->purchase(stolen).ok());
    CHECK(fixture.snapshot() == before);

    // The blocked card cannot be handed to someone else either.
    auto reuse = fixture.program->enroll({valid_card(1), "", "Mallory", ""});
    REQUIRE_FALSE(reuse.ok());
    CHECK(reuse.error().kind == ErrorKind::conflict);
    fixture.check_invariants(member);
}

TEST_CASE("replacing into a card another member holds is a conflict") {
    CoreFixture fixture;
    fixture.enroll(1);
    fixture.enroll(2);
    const auto before = fixture.snapshot();
    auto refused = fixture.program->replace_card(valid_card(1), valid_card(2));
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().kind == ErrorKind::conflict);
    CHECK(fixture.snapshot() == before);
    CHECK(fixture.program->replace_card(valid_card(3), valid_card(4)).error().kind == ErrorKind::not_found);
    CHECK(fixture.program->replace_card("1234", valid_card(4)).error().field == "lost_card");
}

TEST_CASE("a member may hold several cards, block_card blocks one") {
    CoreFixture fixture;
    const std::string member = fixture.enroll(1);
    auto added = fixture.program->add_card(member, valid_card(2));
    REQUIRE(added.ok());
    CHECK(added->cards.size() == 2);
    CHECK(added->primary_card() == valid_card(1));
    const auto before = fixture.snapshot();
    CHECK(fixture.program->add_card(member, valid_card(2)).ok());  // a replay
    CHECK(fixture.snapshot() == before);
    CHECK(fixture.program->add_card("S01-T1-M404", valid_card(3)).error().kind == ErrorKind::not_found);
    CHECK(fixture.program->add_card(member, "4111111111111112").error().kind == ErrorKind::invalid);

    REQUIRE(fixture.program->block_card(valid_card(2)).ok());
    CHECK(fixture.program->find_member({"", valid_card(2), ""}).error().code == "card_blocked");
    CHECK(fixture.program->find_member({"", valid_card(1), ""})->member_id == member);
    const auto blocked = fixture.snapshot();
    CHECK(fixture.program->block_card(valid_card(2)).ok());  // blocking twice changes nothing
    CHECK(fixture.snapshot() == blocked);
    CHECK(fixture.program->block_card(valid_card(9)).error().kind == ErrorKind::not_found);
}

TEST_CASE("the summary of an unknown member is not found") {
    CoreFixture fixture;
    CHECK(fixture.program->summary("S01-T1-M1").error().kind == ErrorKind::not_found);
    CHECK(fixture.program->history("S01-T1-M1", 10, "").error().kind == ErrorKind::not_found);
}
