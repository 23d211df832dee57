// Replication between nodes without a network: head office applies the tills' outbox events
// and forwards them; tills import snapshots. The sync layer moves exactly these events.
#include "loyalty/program.hpp"

#include <catch2/catch.hpp>

#include "support/core_fixture.hpp"

using namespace loyalty;
using namespace loyalty::testing;

namespace {

struct Node {
    Node(const std::string& node_id, ManualClock& clock, const TempDir& dir, Points offline_cap = 2000)
        : program(ProgramOptions{(dir.path() / (node_id + ".db")).string(), node_id, Durability::normal,
                                 30, 24, offline_cap},
                  clock, rules_with()) {}
    Program program;
};

// Ships every event of `from` not yet acknowledged to `to`, as the sync agent does.
void ship(Node& from, const std::string& origin, Node& to) {
    for (const OutboxEvent& event : from.program.outbox().pending(1000)) {
        auto applied = to.program.apply_remote_event(origin, event);
        REQUIRE(applied.ok());
        from.program.outbox().acknowledge(event.seq);
    }
}

// Applies events another till produced (head office's downstream feed forwards them as they are).
void forward(const std::vector<OutboxEvent>& events, const std::string& origin, Node& to) {
    for (const OutboxEvent& event : events) REQUIRE(to.program.apply_remote_event(origin, event).ok());
}

Points balance(Program& program, const std::string& member_id) {
    return program.summary(member_id).value().balance;
}

void check_consistent(Program& program, const std::string& member_id) {
    const BalanceAudit audit = program.audit(member_id);
    CHECK(audit.consistent());
    CHECK(audit.ledger_sum == balance(program, member_id));
}

}  // namespace

TEST_CASE("a member enrolled at till A earns at till B and has one balance everywhere", "[replication]") {
    TempDir dir;
    ManualClock clock(test_start());
    Node till_a("S01-T1", clock, dir), till_b("S02-T1", clock, dir), hq("HQ", clock, dir);

    const auto member = till_a.program.enroll({valid_card(1), "", "Ada", ""}).value().result;
    REQUIRE(till_a.program.purchase(sale("A1", member.member_id, {line("x", "food", 1, 10000)})).ok());
    // Head office learns A's events; till B has never seen the member and asks for a snapshot.
    ship(till_a, "S01-T1", hq);
    REQUIRE(till_b.program.find_member({"", valid_card(1), ""}).error().code == "unknown_card");
    auto snapshot = hq.program.member_snapshot(member.member_id);
    REQUIRE(snapshot.ok());
    REQUIRE(till_b.program.import_member_snapshot(*snapshot).ok());
    CHECK(balance(till_b.program, member.member_id) == 100);

    REQUIRE(till_b.program.purchase(sale("B1", member.member_id, {line("y", "food", 1, 5000)}, 30)).ok());
    const std::vector<OutboxEvent> b_events = till_b.program.outbox().pending(100);
    ship(till_b, "S02-T1", hq);
    // Till A gets B's events forwarded (head office's feed carries the original events).
    forward(b_events, "S02-T1", till_a);

    for (Program* program : {&till_a.program, &till_b.program, &hq.program}) {
        // 100 earned at A, 30 spent at B, 49 earned at B on the 49.70 not paid with points.
        CHECK(balance(*program, member.member_id) == 100 - 30 + 49);
        check_consistent(*program, member.member_id);
    }
    // The qualifying spend travelled too: every node sees two purchases for the tier.
    CHECK(till_a.program.summary(member.member_id)->standing.purchases == 2);
    CHECK(hq.program.summary(member.member_id)->standing.spend_cents == 10000 + 5000 - 30 * 1);
}

TEST_CASE("replaying events at head office changes nothing", "[replication]") {
    TempDir dir;
    ManualClock clock(test_start());
    Node till("S01-T1", clock, dir), hq("HQ", clock, dir);
    const auto member = till.program.enroll({valid_card(2), "", "Bo", ""}).value().result;
    REQUIRE(till.program.purchase(sale("T1", member.member_id, {line("x", "food", 2, 1234)})).ok());
    REQUIRE(till.program.return_items({"R1", "T1", {{"x", 1}}}).ok());
    const auto events = till.program.outbox().pending(100);
    for (int round = 0; round < 3; ++round) {
        for (const OutboxEvent& event : events) {
            const auto applied = hq.program.apply_remote_event("S01-T1", event);
            REQUIRE(applied.ok());
            CHECK(*applied == (round == 0));
        }
    }
    CHECK(balance(hq.program, member.member_id) == balance(till.program, member.member_id));
    check_consistent(hq.program, member.member_id);
}

TEST_CASE("points spent at two offline tills are detected as an overdraft", "[replication]") {
    TempDir dir;
    ManualClock clock(test_start());
    Node till_a("S01-T1", clock, dir, 500), till_b("S02-T1", clock, dir, 500), hq("HQ", clock, dir);
    const auto member = till_a.program.enroll({valid_card(3), "", "Cy", ""}).value().result;
    REQUIRE(till_a.program.purchase(sale("A1", member.member_id, {line("x", "food", 1, 100000)})).ok());
    ship(till_a, "S01-T1", hq);
    REQUIRE(till_b.program.import_member_snapshot(*hq.program.member_snapshot(member.member_id)).ok());

    // Both tills lose head office; the cap bounds what each lets the member redeem.
    till_a.program.set_online(false);
    till_b.program.set_online(false);
    const auto capped = till_a.program.purchase(sale("A2", member.member_id, {line("y", "food", 1, 10000)}, 800));
    REQUIRE_FALSE(capped.ok());
    CHECK(capped.error().code == "offline_redemption_cap");
    REQUIRE(till_a.program.purchase(sale("A3", member.member_id, {line("y", "food", 1, 10000)}, 500)).ok());
    REQUIRE(till_a.program.purchase(sale("A4", member.member_id, {line("y", "food", 1, 10000)}, 100)).error().code ==
            "offline_redemption_cap");
    REQUIRE(till_b.program.purchase(sale("B1", member.member_id, {line("z", "food", 1, 10000)}, 500)).ok());
    // Still apart the next day: each till lets the member spend another 500 of the same points.
    clock.advance_days(1);
    REQUIRE(till_a.program.purchase(sale("A5", member.member_id, {line("y", "food", 1, 10000)}, 500)).ok());
    REQUIRE(till_b.program.purchase(sale("B2", member.member_id, {line("z", "food", 1, 10000)}, 500)).ok());

    const auto a_events = till_a.program.outbox().pending(100);
    const auto b_events = till_b.program.outbox().pending(100);
    ship(till_a, "S01-T1", hq);
    ship(till_b, "S02-T1", hq);
    forward(a_events, "S01-T1", till_b);
    forward(b_events, "S02-T1", till_a);

    // 1000 earned, then 4 x 142 (95.00 at Silver's 1.5x), 2000 spent: the member owes 432
    // points, the same at every node.
    const Points earned = 1000 + 4 * 142;
    const Points spent = 4 * 500;
    for (Program* program : {&till_a.program, &till_b.program, &hq.program}) {
        CHECK(balance(*program, member.member_id) == earned - spent);
        check_consistent(*program, member.member_id);
    }
    // B's two spends took 500 each from a lot A had already emptied.
    Points overdrawn = 0;
    for (const Overdraft& overdraft : hq.program.overdrafts()) {
        CHECK(overdraft.member_id == member.member_id);
        overdrawn += overdraft.points;
    }
    CHECK(overdrawn == 1000);
}

TEST_CASE("a lot expires once, at the node that minted it", "[replication]") {
    TempDir dir;
    ManualClock clock(test_start());
    ProgramOptions options_a{(dir.path() / "a.db").string(), "S01-T1", Durability::normal};
    Program till(options_a, clock, rules_with({{"earn", {{"expiry_months", 12}}}}));
    Program hq(ProgramOptions{(dir.path() / "hq.db").string(), "HQ", Durability::normal}, clock,
               rules_with({{"earn", {{"expiry_months", 12}}}}));
    const auto member = till.enroll({valid_card(4), "", "Di", ""}).value().result;
    REQUIRE(till.purchase(sale("T1", member.member_id, {line("x", "food", 1, 5000)})).ok());
    clock.advance_days(400);
    CHECK(hq.run_expiry()->lots_expired == 0);  // head office holds no lots of its own yet
    for (const OutboxEvent& event : till.outbox().pending(100)) REQUIRE(hq.apply_remote_event("S01-T1", event).ok());
    CHECK(hq.run_expiry()->lots_expired == 0);  // the till's lot is the till's to expire
    CHECK(till.run_expiry()->lots_expired == 1);
    for (const OutboxEvent& event : till.outbox().pending(100)) REQUIRE(hq.apply_remote_event("S01-T1", event).ok());
    CHECK(hq.summary(member.member_id)->balance == 0);
    CHECK(hq.audit(member.member_id).consistent());
}

TEST_CASE("a malformed remote event is refused and leaves nothing behind", "[replication]") {
    TempDir dir;
    ManualClock clock(test_start());
    Node hq("HQ", clock, dir);
    const OutboxEvent bad{1, "purchase", nlohmann::json{{"entries", {{{"entry_id", "x"}}}}}, 0};
    const auto applied = hq.program.apply_remote_event("S01-T1", bad);
    REQUIRE_FALSE(applied.ok());
    CHECK(applied.error().code == "malformed_event");
    // Not marked as applied: a corrected replay of seq 1 is still taken.
    CHECK(hq.program.database().query_integer("SELECT COUNT(*) FROM applied_events").value() == 0);
}
