// Head office's sync store on real Programs: exactly once by (till, seq), gaps refused, one
// commit per batch with a refused event rolled back alone, member
// lookups, and the downstream feed each till is sent.
#include "hq_store.hpp"

#include <catch2/catch.hpp>

#include "support/core_fixture.hpp"

using namespace loyalty;
using namespace loyalty::testing;
namespace protocol = loyalty::protocol;

namespace {

struct Node {
    Node(const std::string& node_id, ManualClock& clock, const TempDir& dir)
        : program(ProgramOptions{(dir.path() / (node_id + ".db")).string(), node_id, Durability::normal}, clock,
                  rules_with()) {}
    Program program;
};

std::vector<protocol::Event> wire_events(Program& till) {
    std::vector<protocol::Event> events;
    for (const OutboxEvent& event : till.outbox().pending(1000))
        events.push_back({static_cast<std::uint64_t>(event.seq), event.type, event.payload, event.created_at});
    return events;
}

Points balance(Program& program, const std::string& member_id) { return program.summary(member_id)->balance; }

std::int64_t feed_rows(Program& hq) { return *hq.database().query_integer("SELECT COUNT(*) FROM till_events"); }

struct Chain {
    Chain() : clock(test_start()), till_a("S01-T1", clock, dir), till_b("S02-T1", clock, dir), hq("HQ", clock, dir),
              store(hq.program, clock) {
        REQUIRE(store.add_till("S01", "S01-T1").ok());
        REQUIRE(store.add_till("S02", "S02-T1").ok());
    }
    TempDir dir;
    ManualClock clock;
    Node till_a, till_b, hq;
    hq::SqliteHqStore store;
};

// Enrols a member at till S01-T1 (outbox seq 1) who then buys `sales` times for 10 points
// (seq 2 ...); the member's id.
std::string member_buying_at_a(Chain& chain, int card, int sales) {
    const auto member = chain.till_a.program.enroll({valid_card(card), "", "Bo", ""}).value().result;
    for (int i = 1; i <= sales; ++i)
        REQUIRE(chain.till_a.program.purchase(sale("A" + std::to_string(i), member.member_id, {line("x", "food", 1, 1000)}))
                    .ok());
    return member.member_id;
}

}  // namespace

TEST_CASE("a batch is stored once, replays are skipped and the ack is the highest contiguous seq", "[hq_store]") {
    Chain chain;
    const auto member = chain.till_a.program.enroll({valid_card(1), "", "Ada", ""}).value().result;
    REQUIRE(chain.till_a.program.purchase(sale("A1", member.member_id, {line("x", "food", 1, 10000)})).ok());
    const auto events = wire_events(chain.till_a.program);
    REQUIRE(events.size() == 2);

    const hq::BatchOutcome first = chain.store.store_batch("S01-T1", events);
    CHECK(first.stored == 2);
    CHECK(first.highest_contiguous_seq == 2);
    CHECK_FALSE(first.stopped);
    for (int round = 0; round < 3; ++round) {
        const hq::BatchOutcome replay = chain.store.store_batch("S01-T1", events);
        CHECK(replay.stored == 0);
        CHECK(replay.replayed == 2);
        CHECK(replay.highest_contiguous_seq == 2);
    }
    CHECK(balance(chain.hq.program, member.member_id) == 100);
    CHECK(feed_rows(chain.hq.program) == 2);
    CHECK(chain.store.find_till("S01-T1")->last_seq == 2);
}

TEST_CASE("an event after a gap is refused and nothing after it is applied", "[hq_store]") {
    Chain chain;
    const std::string member_id = member_buying_at_a(chain, 2, 3);
    auto events = wire_events(chain.till_a.program);  // seq 1..4
    const std::vector<protocol::Event> without_second{events[0], events[2], events[3]};
    const hq::BatchOutcome outcome = chain.store.store_batch("S01-T1", without_second);
    CHECK(outcome.highest_contiguous_seq == 1);
    CHECK(outcome.stored == 1);
    REQUIRE(outcome.stopped);
    CHECK(outcome.stopped->code == "gap");
    CHECK(balance(chain.hq.program, member_id) == 0);
    // The till resends from the ack: everything lands once.
    const hq::BatchOutcome resent = chain.store.store_batch("S01-T1", events);
    CHECK(resent.highest_contiguous_seq == 4);
    CHECK(resent.stored == 3);
    CHECK(balance(chain.hq.program, member_id) == 30);
}

TEST_CASE("an event the ledger refuses is rolled back alone and the batch is acked up to the one before",
          "[hq_store]") {
    Chain chain;
    const std::string member_id = member_buying_at_a(chain, 4, 3);
    const auto events = wire_events(chain.till_a.program);  // seq 1 enrolment, 2..4 purchases
    auto broken = events;
    // Its lots and entries are applied before the bad date is read: the rollback takes them back.
    broken[2].payload["result"]["created_at"] = "not a time";
    const hq::BatchOutcome outcome = chain.store.store_batch("S01-T1", broken);
    REQUIRE(outcome.stopped);
    CHECK(outcome.stopped->code == "malformed_event");
    CHECK(outcome.stored == 2);
    CHECK(outcome.highest_contiguous_seq == 2);
    CHECK(chain.store.find_till("S01-T1")->last_seq == 2);
    CHECK(feed_rows(chain.hq.program) == 2);
    CHECK(*chain.hq.program.database().query_integer("SELECT COUNT(*) FROM applied_events WHERE origin = 'S01-T1'") ==
          2);
    CHECK(balance(chain.hq.program, member_id) == 10);
    CHECK(chain.hq.program.audit(member_id).consistent());

    const hq::BatchOutcome resent = chain.store.store_batch("S01-T1", events);
    CHECK(resent.replayed == 2);
    CHECK(resent.stored == 2);
    CHECK(resent.highest_contiguous_seq == 4);
    CHECK(balance(chain.hq.program, member_id) == 30);
}

TEST_CASE("a refused event right after replays keeps what head office held and applies nothing of its batch",
          "[hq_store]") {
    Chain chain;
    const std::string member_id = member_buying_at_a(chain, 6, 3);
    const auto events = wire_events(chain.till_a.program);  // seq 1 enrolment, 2..4 purchases
    REQUIRE(chain.store.store_batch("S01-T1", {events[0], events[1]}).highest_contiguous_seq == 2);
    auto broken = events;
    broken[2].payload["result"]["created_at"] = "not a time";  // the first new event

    const hq::BatchOutcome outcome = chain.store.store_batch("S01-T1", broken);
    REQUIRE(outcome.stopped);
    CHECK(outcome.stopped->code == "malformed_event");
    CHECK(outcome.replayed == 2);
    CHECK(outcome.stored == 0);
    CHECK(outcome.highest_contiguous_seq == 2);
    CHECK(chain.store.find_till("S01-T1")->last_seq == 2);
    CHECK(feed_rows(chain.hq.program) == 2);
    Database& database = chain.hq.program.database();
    CHECK(*database.query_integer("SELECT COUNT(*) FROM applied_events WHERE origin = 'S01-T1'") == 2);
    CHECK(*database.query_integer("SELECT COUNT(*) FROM ledger WHERE member_id = ?", member_id) == 1);
    CHECK(*database.query_integer("SELECT COUNT(*) FROM qualifying_activity WHERE member_id = ?", member_id) == 1);
    CHECK(balance(chain.hq.program, member_id) == 10);

    const hq::BatchOutcome resent = chain.store.store_batch("S01-T1", events);
    CHECK(resent.stored == 2);
    CHECK(resent.highest_contiguous_seq == 4);
    CHECK(balance(chain.hq.program, member_id) == 30);
    CHECK(chain.hq.program.audit(member_id).consistent());
}

TEST_CASE("a batch is one commit: a failure recording its feed rows keeps none of its events in the ledger",
          "[hq_store]") {
    Chain chain;
    const std::string member_id = member_buying_at_a(chain, 5, 2);
    const auto events = wire_events(chain.till_a.program);  // seq 1..3
    Database& database = chain.hq.program.database();
    // A storage failure on the third event's feed row, after the first two were applied and recorded.
    database.execute("CREATE TEMP TRIGGER failing_feed BEFORE INSERT ON till_events WHEN NEW.seq = 3 "
                     "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
    CHECK_THROWS_AS(chain.store.store_batch("S01-T1", events), StorageError);
    CHECK(chain.store.find_till("S01-T1")->last_seq == 0);
    CHECK(feed_rows(chain.hq.program) == 0);
    CHECK(*database.query_integer("SELECT COUNT(*) FROM applied_events") == 0);
    CHECK_FALSE(chain.hq.program.find_member({member_id, "", ""}).ok());

    database.execute("DROP TRIGGER failing_feed");
    const hq::BatchOutcome resent = chain.store.store_batch("S01-T1", events);
    CHECK(resent.stored == 3);
    CHECK(resent.highest_contiguous_seq == 3);
    CHECK(balance(chain.hq.program, member_id) == 20);
    CHECK(chain.hq.program.audit(member_id).consistent());
}

TEST_CASE("an event already in the ledger but not in the feed (an older head office's crash) is recorded once",
          "[hq_store]") {
    Chain chain;
    const auto member = chain.till_a.program.enroll({valid_card(3), "", "Cy", ""}).value().result;
    REQUIRE(chain.till_a.program.purchase(sale("A1", member.member_id, {line("x", "food", 1, 5000)})).ok());
    const auto events = wire_events(chain.till_a.program);
    REQUIRE(chain.store.store_batch("S01-T1", {events[0]}).highest_contiguous_seq == 1);
    // What a crash between the two commits of a head office before one commit per batch left:
    // the ledger has seq 2, the feed not.
    const OutboxEvent second{static_cast<std::int64_t>(events[1].seq), events[1].type, events[1].payload,
                             events[1].created_at};
    REQUIRE(*chain.hq.program.apply_remote_event("S01-T1", second));
    CHECK(chain.store.find_till("S01-T1")->last_seq == 1);
    CHECK(feed_rows(chain.hq.program) == 1);

    const hq::BatchOutcome resent = chain.store.store_batch("S01-T1", events);
    CHECK(resent.highest_contiguous_seq == 2);
    CHECK(feed_rows(chain.hq.program) == 2);
    CHECK(balance(chain.hq.program, member.member_id) == 50);  // applied once, not twice
    CHECK(chain.hq.program.audit(member.member_id).consistent());
}

TEST_CASE("a member query returns a snapshot and makes the member known to the till", "[hq_store]") {
    Chain chain;
    const auto member = chain.till_a.program.enroll({valid_card(4), "", "Di", ""}).value().result;
    REQUIRE(chain.till_a.program.purchase(sale("A1", member.member_id, {line("x", "food", 1, 10000)})).ok());
    REQUIRE(chain.store.store_batch("S01-T1", wire_events(chain.till_a.program)).highest_contiguous_seq == 2);
    chain.store.publish_current_rules();

    // Before the query, till B is sent only the rule version.
    hq::FeedPage before = chain.store.downstream("S02-T1", 0, 100, 1 << 20);
    REQUIRE(before.items.size() == 1);
    CHECK(before.items[0].kind == protocol::DownstreamKind::config);
    CHECK(before.items[0].data.at("rules").at("version") == chain.hq.program.rules().version);

    CHECK_FALSE(chain.store.query_member("S02-T1", {1, protocol::MemberKey::card, valid_card(99)}).ok());
    const auto snapshot = chain.store.query_member("S02-T1", {2, protocol::MemberKey::card, valid_card(4)});
    REQUIRE(snapshot.ok());
    REQUIRE(chain.till_b.program.import_member_snapshot(*snapshot).ok());
    CHECK(balance(chain.till_b.program, member.member_id) == 100);

    // A's next sale reaches B through the feed, as the event A made; B applies it once.
    REQUIRE(chain.till_a.program.purchase(sale("A2", member.member_id, {line("y", "food", 1, 2000)})).ok());
    REQUIRE(chain.store.store_batch("S01-T1", wire_events(chain.till_a.program)).highest_contiguous_seq == 3);
    const hq::FeedPage page = chain.store.downstream("S02-T1", before.scanned_to, 100, 1 << 20);
    REQUIRE(page.items.size() == 1);
    const protocol::DownstreamItem& item = page.items[0];
    CHECK(item.kind == protocol::DownstreamKind::member);
    CHECK(item.data.at("origin") == "S01-T1");
    const nlohmann::json& event = item.data.at("event");
    CHECK(event.at("seq") == 3);
    const OutboxEvent forwarded{event.at("seq").get<std::int64_t>(), event.at("type").get<std::string>(),
                                event.at("payload"), event.at("created_at").get<std::int64_t>()};
    REQUIRE(*chain.till_b.program.apply_remote_event("S01-T1", forwarded));
    CHECK(balance(chain.till_b.program, member.member_id) == 120);
    // Till A is never sent its own events.
    for (const auto& own : chain.store.downstream("S01-T1", 0, 100, 1 << 20).items)
        CHECK(own.kind == protocol::DownstreamKind::config);
    chain.store.set_downstream_cursor("S02-T1", page.scanned_to);
    CHECK(chain.store.pending_downstream("S02-T1") == 0);
}

TEST_CASE("the feed is paged by items and bytes", "[hq_store]") {
    Chain chain;
    const auto member = chain.till_a.program.enroll({valid_card(5), "", "Ed", ""}).value().result;
    REQUIRE(chain.store.query_member("S02-T1", {1, protocol::MemberKey::member_id, member.member_id}).ok() == false);
    for (int i = 0; i < 5; ++i)
        REQUIRE(chain.till_a.program.purchase(sale("A" + std::to_string(i), member.member_id,
                                                   {line("x", "food", 1, 1000)})).ok());
    REQUIRE(chain.store.store_batch("S01-T1", wire_events(chain.till_a.program)).highest_contiguous_seq == 6);
    REQUIRE(chain.store.query_member("S02-T1", {2, protocol::MemberKey::member_id, member.member_id}).ok());
    std::uint64_t after = 0;
    std::vector<std::uint64_t> versions;
    for (int page = 0; page < 10; ++page) {
        const hq::FeedPage next = chain.store.downstream("S02-T1", after, 2, 1 << 20);
        CHECK(next.items.size() <= 2);
        for (const auto& item : next.items) versions.push_back(item.version);
        if (next.scanned_to == after) break;
        after = next.scanned_to;
    }
    CHECK(versions == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6});
    CHECK(chain.store.downstream("S02-T1", 0, 100, 1).items.size() == 1);  // always one item
}

TEST_CASE("a head office from before the kept feed fills each till's feed with what the scan sent it",
          "[hq_store]") {
    Chain chain;
    const std::string member = member_buying_at_a(chain, 6, 2);
    REQUIRE(chain.store.store_batch("S01-T1", wire_events(chain.till_a.program)).highest_contiguous_seq == 3);
    REQUIRE(chain.store.query_member("S02-T1", {1, protocol::MemberKey::member_id, member}).ok());
    chain.store.publish_current_rules();
    const Offer offer = parse_offer({{"offer_id", "C1-O1"}, {"campaign_id", "C1"}, {"kind", "bonus_points"},
                                     {"title", "bonus"}, {"bonus_points", 100},
                                     {"valid_from", "2026-01-01T00:00:00Z"}, {"valid_until", "2026-02-01T00:00:00Z"}})
                            .value();
    REQUIRE(chain.store.publish_offer(offer).ok());
    REQUIRE(chain.till_a.program.purchase(sale("A9", member, {line("x", "food", 1, 1000)})).ok());
    REQUIRE(chain.store.store_batch("S01-T1", wire_events(chain.till_a.program)).highest_contiguous_seq == 4);
    const auto versions = [&](const std::string& till_id) {
        std::vector<std::uint64_t> found;
        for (const auto& item : chain.store.downstream(till_id, 0, 100, 1 << 20).items) found.push_back(item.version);
        return found;
    };
    const auto to_a = versions("S01-T1"), to_b = versions("S02-T1");
    CHECK(to_a.size() == 2);  // the rules and the offer
    CHECK(to_b.size() == 6);  // those, and A's four events about the member B asked for

    // The database as head office schema 4 left it: no till_feed. Opening it fills the feed.
    chain.hq.program.database().execute(
        "DROP TABLE till_feed; DROP INDEX till_members_by_member; DROP INDEX till_event_members_by_member; "
        "UPDATE schema_versions SET version = 4 WHERE component = 'hq'");
    hq::SqliteHqStore reopened(chain.hq.program, chain.clock);
    CHECK(versions("S01-T1") == to_a);
    CHECK(versions("S02-T1") == to_b);
    CHECK(reopened.pending_downstream("S02-T1") == to_b.size());
}

TEST_CASE("the registry refuses bad ids, other stores' ids and unknown tills", "[hq_store]") {
    Chain chain;
    CHECK(chain.store.add_till("S01", "S01-T1").ok());  // again: harmless
    CHECK(chain.store.add_till("S03", "S01-T1").error().code == "invalid_till_id");
    CHECK(chain.store.add_till("S01", "S02-T9").error().code == "invalid_till_id");
    CHECK(chain.store.add_till("S01", "S01-T 1").error().code == "invalid_till_id");
    CHECK(chain.store.revoke_till("S09-T1").error().code == "unknown_till");
    REQUIRE(chain.store.revoke_till("S02-T1").ok());
    CHECK(chain.store.find_till("S02-T1")->revoked);
    CHECK(chain.store.store_batch("S09-T1", {}).stopped->code == "unknown_till");
    CHECK(chain.store.tills().size() == 2);
}

TEST_CASE("members_in_payload finds every member an event is about", "[hq_store]") {
    const nlohmann::json payload = {{"member", {{"member_id", "m1"}}},
                                    {"entries", {{{"member_id", "m2"}}, {{"member_id", "m1"}}}},
                                    {"lots", {{{"member_id", "m3"}}}},
                                    {"result", {{"member_id", "m4"}}}};
    CHECK(hq::members_in_payload(payload) == std::vector<std::string>{"m1", "m2", "m3", "m4"});
    CHECK(hq::members_in_payload({{"member_id", "m5"}}) == std::vector<std::string>{"m5"});
    CHECK(hq::members_in_payload(nullptr).empty());
}

TEST_CASE("a till that reuses a sequence number with other content is refused, not taken as a replay",
          "[hq_store]") {
    Chain chain;
    const auto member = chain.till_a.program.enroll({valid_card(9), "", "Cy", ""}).value().result;
    REQUIRE(chain.till_a.program.purchase(sale("A1", member.member_id, {line("x", "food", 1, 10000)})).ok());
    auto events = wire_events(chain.till_a.program);
    REQUIRE(chain.store.store_batch("S01-T1", events).stored == 2);
    // As after a restore from a backup taken before A1: seq 2 now carries another sale.
    events[1].payload["request"]["txn_id"] = "A1-after-restore";
    const hq::BatchOutcome outcome = chain.store.store_batch("S01-T1", events);
    REQUIRE(outcome.stopped);
    CHECK(outcome.stopped->code == "sequence_reused");
    CHECK(outcome.highest_contiguous_seq == 2);
    CHECK(balance(chain.hq.program, member.member_id) == 100);
}

namespace {

// The batch as head office receives it when a frame carries this body.
std::vector<protocol::Event> decoded_batch(const std::string& body) {
    auto decoded = protocol::decode(protocol::Frame{protocol::MessageType::event_batch, body});
    REQUIRE(std::holds_alternative<protocol::Message>(decoded));
    return std::get<protocol::EventBatch>(std::get<protocol::Message>(decoded)).events;
}

std::vector<std::string> stored_payloads(Program& hq) {
    std::vector<std::string> payloads;
    Statement& rows =
        hq.database().prepare("SELECT payload FROM till_events WHERE till_id = 'S01-T1' ORDER BY seq");
    while (rows.step()) payloads.push_back(rows.text(0));
    rows.reset();
    return payloads;
}

// The payloads' keys in reverse order (the order a till's dump() never writes).
nlohmann::ordered_json keys_reversed(const nlohmann::ordered_json& object) {
    nlohmann::ordered_json reversed = nlohmann::ordered_json::object();
    for (auto field = object.end(); field != object.begin();) {
        --field;
        reversed[field.key()] = *field;
    }
    return reversed;
}

}  // namespace

TEST_CASE("the feed holds each payload as dump() writes it, whatever form its frame carried it in",
          "[hq_store]") {
    // A real till's events: an enrolment with a non-ASCII name and a purchase.
    ManualClock till_clock(test_start());
    TempDir till_dir;
    Node till("S01-T1", till_clock, till_dir);
    const auto member = till.program.enroll({valid_card(4), "", "Zoë", ""}).value().result;
    REQUIRE(till.program.purchase(sale("A1", member.member_id, {line("x", "food", 1, 10000)})).ok());
    const protocol::Bytes frame = protocol::encode(protocol::EventBatch{wire_events(till.program)});
    const std::string canonical(frame.begin() + protocol::frame_header_size, frame.end());
    auto reordered = nlohmann::ordered_json::parse(canonical);
    for (auto& event : reordered["events"]) event["payload"] = keys_reversed(event["payload"]);
    std::string odd = canonical;
    for (std::size_t at = 0; (at = odd.find("\"payload\":{", at)) != std::string::npos; ++at)
        odd.insert(at + 11, R"("zz":1,"zz":2,"yy":1e2,"xx":1.0,"ww":-0,"vv":"\u0041\/",)");

    struct Form {
        const char* name;
        std::string body;
        bool same_content;  // the same events in another form, not other events
    };
    const std::vector<Form> forms{{"as a till writes it", canonical, true},
                                  {"indented", nlohmann::json::parse(canonical).dump(1), true},
                                  {"non-ASCII escaped", nlohmann::json::parse(canonical).dump(-1, ' ', true), true},
                                  {"payload keys reversed", reordered.dump(), true},
                                  {"odd members added", odd, false}};
    for (std::size_t i = 0; i < forms.size(); ++i) {
        INFO(forms[i].name);
        const bool as_sent = i == 0;
        REQUIRE((forms[i].body == canonical) == as_sent);
        Chain chain;
        const std::vector<protocol::Event> events = decoded_batch(forms[i].body);
        REQUIRE(events.size() == 2);
        for (const protocol::Event& event : events) CHECK(event.payload_text.has_value() == as_sent);
        const hq::BatchOutcome outcome = chain.store.store_batch("S01-T1", events);
        CHECK(outcome.stored == 2);
        CHECK_FALSE(outcome.stopped);
        CHECK(stored_payloads(chain.hq.program) ==
              std::vector<std::string>{events[0].payload.dump(), events[1].payload.dump()});
        // The same events in the till's own form are replays; with other members, other content.
        const hq::BatchOutcome replay = chain.store.store_batch("S01-T1", decoded_batch(canonical));
        CHECK(replay.replayed == (forms[i].same_content ? 2u : 0u));
        CHECK(replay.stopped.has_value() == !forms[i].same_content);
    }
}

TEST_CASE("offers published at head office reach every till, their assignments only the tills that know the member",
          "[hq_store]") {
    Chain chain;
    const auto member =
        chain.till_a.program.enroll({valid_card(1), "", "Ada", "", Consent{true, false}}).value().result;
    REQUIRE(chain.store.store_batch("S01-T1", wire_events(chain.till_a.program)).highest_contiguous_seq == 1);
    const nlohmann::json definition = {{"offer_id", "C1-O1"}, {"campaign_id", "C1"}, {"kind", "bonus_points"},
                                       {"title", "100 bonus points"}, {"bonus_points", 100},
                                       {"valid_from", "2026-01-01T00:00:00Z"}, {"valid_until", "2026-02-01T00:00:00Z"}};
    const Offer offer = parse_offer(definition).value();

    CHECK(chain.store.assign_offer("C1-O1", {member.member_id}, true).error().code == "unknown_offer");
    Offer broken = offer;
    broken.valid_until = broken.valid_from;
    CHECK(chain.store.publish_offer(broken).error().field == "offer.valid_until");
    const std::int64_t rows_before = feed_rows(chain.hq.program);
    REQUIRE(chain.store.publish_offer(offer).ok());
    REQUIRE(chain.store.assign_offer("C1-O1", {member.member_id}, true).ok());
    CHECK(feed_rows(chain.hq.program) == rows_before + 2);
    // Head office's own ledger holds the offer, so its member view shows it.
    REQUIRE(chain.hq.program.summary(member.member_id)->offers.size() == 1);

    auto offer_items = [&](const std::string& till_id) {
        std::vector<protocol::DownstreamItem> items;
        for (const auto& item : chain.store.downstream(till_id, 0, 100, 1 << 20).items)
            if (item.kind == protocol::DownstreamKind::offer) items.push_back(item);
        return items;
    };
    const auto to_a = offer_items("S01-T1");
    REQUIRE(to_a.size() == 2);
    CHECK(to_a[0].data.at("type") == "offer");
    CHECK(to_a[1].data.at("type") == "offer_assignment");
    const auto to_b = offer_items("S02-T1");
    REQUIRE(to_b.size() == 1);  // the definition; S02 does not know the member
    CHECK(to_b[0].data.at("type") == "offer");

    // Applied as the till agent applies them, the offer prices the member's next sale.
    for (const auto& item : to_a)
        REQUIRE(chain.till_a.program
                    .apply_remote_event(std::string(offers_origin),
                                        {item.data.at("seq").get<std::int64_t>(), item.data.at("type").get<std::string>(),
                                         item.data.at("payload"), 0})
                    .ok());
    auto sold = chain.till_a.program.purchase(sale("A1", member.member_id, {line("x", "food", 1, 1000)}));
    REQUIRE(sold.ok());
    CHECK(sold->result.points_earned == 110);

    // S02 learns of the member by asking: the snapshot carries the offer and its use.
    REQUIRE(chain.store.store_batch("S01-T1", wire_events(chain.till_a.program)).stopped == std::nullopt);
    auto snapshot = chain.store.query_member("S02-T1", {1, protocol::MemberKey::member_id, member.member_id});
    REQUIRE(snapshot.ok());
    REQUIRE(chain.till_b.program.import_member_snapshot(*snapshot).ok());
    CHECK(chain.till_b.program.offer_uses("C1-O1").size() == 1);
    CHECK(chain.till_b.program.summary(member.member_id)->offers.empty());  // used up
    CHECK(chain.hq.program.offer_uses("C1-O1").at(0).operation_id == "S01-T1/A1");
}
