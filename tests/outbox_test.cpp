#include "loyalty/outbox.hpp"

#include <catch2/catch.hpp>

#include "support/core_fixture.hpp"

using namespace loyalty;
using loyalty::testing::CoreFixture;
using loyalty::testing::line;
using loyalty::testing::valid_card;

namespace {

void check_gapless(Outbox& outbox) {
    const auto events = outbox.pending(1'000'000);
    for (std::size_t i = 0; i < events.size(); ++i)
        CHECK(events[i].seq == outbox.acknowledged() + static_cast<std::int64_t>(i) + 1);
    CHECK(outbox.pending_count() == static_cast<std::int64_t>(events.size()));
}

}  // namespace

TEST_CASE("every state change writes one event, numbered without gaps, refusals and replays none") {
    CoreFixture fixture;
    Outbox& outbox = fixture.program->outbox();
    std::vector<std::string> types;
    // Records the events one operation must have written, and checks that it wrote those only.
    const auto expect = [&](std::initializer_list<const char*> written) {
        types.insert(types.end(), written.begin(), written.end());
        CHECK(outbox.last_seq() == static_cast<std::int64_t>(types.size()));
    };
    const std::string member = fixture.enroll(1);
    expect({"member_enrolled"});
    REQUIRE(fixture.program->add_card(member, valid_card(2)).ok());
    expect({"member_updated"});
    REQUIRE(fixture.program->replace_card(valid_card(2), valid_card(3)).ok());
    expect({"member_updated"});
    fixture.buy("T-1", member, {line("A", "x", 1, 60000)});  // upgrades to Silver too
    expect({"tier_changed", "purchase"});
    fixture.buy("T-2", member, {line("A", "x", 1, 1000)});
    expect({"purchase"});
    REQUIRE(fixture.program->return_items({"R-1", "T-1", {}}).ok());
    expect({"return"});
    REQUIRE(fixture.program->void_purchase("T-2").ok());
    expect({"void"});

    // Refusals and replays write no event.
    CHECK_FALSE(fixture.program->purchase(testing::sale("T-3", "S01-T1-M404", {line("A", "x", 1, 1)})).ok());
    CHECK(fixture.program->purchase(testing::sale("T-1", member, {line("A", "x", 1, 60000)}))->replayed);
    CHECK_FALSE(fixture.program->return_items({"R-2", "T-1", {}}).ok());
    CHECK(fixture.program->void_purchase("T-2")->replayed);
    CHECK(fixture.program->enroll({valid_card(1), "", "Member 1", ""})->replayed);
    CHECK_FALSE(fixture.program->enroll({valid_card(3), "", "Someone", ""}).ok());
    CHECK(outbox.last_seq() == static_cast<std::int64_t>(types.size()));

    const auto events = outbox.pending(100);
    REQUIRE(events.size() == types.size());
    for (std::size_t i = 0; i < events.size(); ++i) {
        CHECK(events[i].seq == static_cast<std::int64_t>(i) + 1);
        CHECK(events[i].type == types[i]);
    }
    // The purchase event carries the ledger entries and lots it wrote.
    CHECK(events[4].payload["entries"].size() == 1);
    CHECK(events[4].payload["lots"].size() == 1);
    CHECK(events[4].payload["result"]["txn_id"] == "T-1");
    check_gapless(outbox);
}

TEST_CASE("acknowledge never moves backwards nor past the last event, and survives a restart") {
    CoreFixture fixture;
    for (int i = 1; i <= 5; ++i) fixture.enroll(i);
    Outbox& outbox = fixture.program->outbox();
    CHECK(outbox.acknowledged() == 0);
    CHECK(outbox.pending_count() == 5);
    outbox.acknowledge(3);
    CHECK(outbox.acknowledged() == 3);
    CHECK(outbox.pending(10).front().seq == 4);
    outbox.acknowledge(1);
    CHECK(outbox.acknowledged() == 3);
    outbox.acknowledge(99);
    CHECK(outbox.acknowledged() == 5);
    CHECK(outbox.pending(10).empty());
    fixture.enroll(6);
    CHECK(outbox.pending(10).size() == 1);
    CHECK(outbox.pending(10).front().seq == 6);
    fixture.reopen();
    CHECK(fixture.program->outbox().acknowledged() == 5);
    CHECK(fixture.program->outbox().last_seq() == 6);
    check_gapless(fixture.program->outbox());
}

TEST_CASE("pending returns events in order up to the limit") {
    CoreFixture fixture;
    for (int i = 1; i <= 7; ++i) fixture.enroll(i);
    Outbox& outbox = fixture.program->outbox();
    const auto first = outbox.pending(3);
    REQUIRE(first.size() == 3);
    CHECK(first[2].seq == 3);
    CHECK(first[0].created_at == fixture.clock.now());
    outbox.acknowledge(first.back().seq);
    const auto next = outbox.pending(3);
    REQUIRE(next.size() == 3);
    CHECK(next[0].seq == 4);
}
