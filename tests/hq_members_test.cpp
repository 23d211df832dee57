// Head office's privacy duties on real Programs: consent changed by staff reaches the tills
// that know the member and stops their offers there, a member's export holds their data and
// nobody else's, and every staff action on member data is in the audit log.
#include "hq_members.hpp"

#include <sstream>

#include <catch2/catch.hpp>

#include "loyalty/json_log.hpp"
#include "support/core_fixture.hpp"

using namespace loyalty;
using namespace loyalty::testing;
using nlohmann::json;

namespace {

// How many rows of `table` hold `text` anywhere in `column`.
std::int64_t rows_holding(Program& program, const std::string& table, const std::string& column,
                          const std::string& text) {
    return *program.database().query_integer(
        "SELECT COUNT(*) FROM " + table + " WHERE instr(" + column + ", ?) > 0", text);
}

std::vector<protocol::Event> outbox_events(Program& till) {
    std::vector<protocol::Event> events;
    for (const OutboxEvent& event : till.outbox().pending(1000))
        events.push_back({static_cast<std::uint64_t>(event.seq), event.type, event.payload, event.created_at});
    return events;
}

struct HeadOfficeAndTill {
    HeadOfficeAndTill()
        : clock(test_start()),
          till(options("S01-T1"), clock, rules_with()),
          hq(options("HQ"), clock, rules_with()),
          store(hq, clock),
          members(hq, store, clock) {
        REQUIRE(store.add_till("S01", "S01-T1").ok());
    }
    ProgramOptions options(const std::string& node_id) {
        return {(dir.path() / (node_id + ".db")).string(), node_id, Durability::normal};
    }
    // The till's events to head office, and head office's feed back to the till.
    void sync() {
        REQUIRE_FALSE(store.store_batch("S01-T1", outbox_events(till)).stopped);
        for (const auto& item : store.downstream("S01-T1", fed, 1000, 1 << 20).items) {
            fed = item.version;
            if (item.kind != protocol::DownstreamKind::member || item.data.at("origin") == "S01-T1") continue;
            const json& event = item.data.at("event");
            REQUIRE(till.apply_remote_event(item.data.at("origin").get<std::string>(),
                                            {event.at("seq").get<std::int64_t>(), event.at("type").get<std::string>(),
                                             event.at("payload"), event.at("created_at").get<Timestamp>()})
                        .ok());
        }
    }
    TempDir dir;
    ManualClock clock;
    Program till, hq;
    hq::SqliteHqStore store;
    hq::MemberData members;
    std::uint64_t fed = 0;
};

std::string enroll(Program& till, int n, bool offers) {
    return till.enroll({valid_card(n), "", "Member " + std::to_string(n), "m" + std::to_string(n) + "@example.com",
                        Consent{offers, false}})
        .value()
        .result.member_id;
}

}  // namespace

TEST_CASE("consent withdrawn at head office reaches the till, and is audited", "[hq_members]") {
    HeadOfficeAndTill chain;
    const std::string member = enroll(chain.till, 1, true);
    chain.sync();
    CHECK(chain.hq.find_member({member, "", ""})->consent.personalised_offers);

    chain.clock.set(chain.clock.now() + 60);
    auto changed = chain.members.set_consent("alice", member, {{"personalised_offers", false}});
    REQUIRE(changed.ok());
    CHECK_FALSE(changed->consent.personalised_offers);
    CHECK(changed->consent.recorded_by == "HQ");
    chain.sync();
    const Consent at_till = chain.till.find_member({member, "", ""})->consent;
    CHECK_FALSE(at_till.personalised_offers);
    CHECK(at_till.recorded_by == "HQ");

    CHECK(chain.members.set_consent("alice", "S01-T1-M999", {{"personalised_offers", true}}).error().code == "unknown_member");
    const auto log = chain.members.audit_log(member);
    REQUIRE(log.size() == 1);
    CHECK(log[0].actor == "alice");
    CHECK(log[0].action == "member.consent");
    CHECK(log[0].detail.at("personalised_offers") == false);
}

TEST_CASE("a member's export holds their data and nobody else's, and is itself audited", "[hq_members]") {
    HeadOfficeAndTill chain;
    const std::string member = enroll(chain.till, 1, false);
    const std::string other = enroll(chain.till, 2, false);
    REQUIRE(chain.till.purchase(sale("T-1", member, {line("A", "food", 2, 1000)})).ok());
    REQUIRE(chain.till.purchase(sale("T-2", other, {line("B", "toys", 1, 5000)})).ok());
    chain.sync();

    auto exported = chain.members.export_member("bob", member);
    REQUIRE(exported.ok());
    const json& document = *exported;
    CHECK(document.at("member").at("email") == "m1@example.com");
    CHECK(document.at("member").at("balance") == 20);
    REQUIRE(document.at("purchases").size() == 1);
    CHECK(document.at("purchases").at(0).at("txn_id") == "S01-T1/T-1");
    CHECK(document.at("purchase_lines").at(0).at("quantity") == 2);
    CHECK(document.at("ledger").size() == 1);
    CHECK(document.at("consent_history").size() == 1);
    CHECK(document.at("tills").at(0).at("till_id") == "S01-T1");
    CHECK(document.at("audit").at(0).at("action") == "member.export");
    const std::string text = document.dump();
    CHECK(text.find(other) == std::string::npos);
    CHECK(text.find("m2@example.com") == std::string::npos);
    CHECK(chain.members.export_member("bob", "S01-T1-M999").error().code == "unknown_member");
}

TEST_CASE("loyalty-hq member prints JSON, and refuses bad usage with exit code 2", "[hq_members]") {
    HeadOfficeAndTill chain;
    const std::string member = enroll(chain.till, 1, false);
    chain.sync();
    const auto run = [&](std::vector<std::string> words) {
        std::ostringstream out, err;
        const int code = hq::run_member_command(words, chain.members, out, err);
        return std::tuple{code, out.str(), err.str()};
    };
    const auto [consent_code, consent_out, consent_err] =
        run({"consent", member, "--marketing", "yes", "--actor", "carol"});
    CHECK(consent_code == 0);
    CHECK(json::parse(consent_out).at("consent").at("marketing") == true);
    CHECK(std::get<0>(run({"consent", member, "--marketing", "maybe"})) == 2);
    CHECK(std::get<0>(run({"export"})) == 2);
    CHECK(std::get<0>(run({"forget", member})) == 2);
    CHECK(std::get<0>(run({"export", "S01-T1-M999"})) == 1);
    const auto [audit_code, audit_out, audit_err] = run({"audit", member});
    CHECK(audit_code == 0);
    CHECK(json::parse(audit_out).at(0).at("actor") == "carol");
}

TEST_CASE("an erasure reaches a till that was offline, keeps the ledger, and late events never bring the data back",
          "[hq_members]") {
    HeadOfficeAndTill chain;
    const std::string card = valid_card(1);
    const std::string member = enroll(chain.till, 1, true);
    REQUIRE(chain.till.purchase(sale("T-1", member, {line("A", "food", 1, 2500)})).ok());
    chain.sync();
    const std::vector<protocol::Event> sent = outbox_events(chain.till);

    // The till is offline while head office erases; meanwhile it adds a card and sells.
    REQUIRE(chain.members.erase_member("dana", member).ok());
    const std::string second_card = valid_card(2);
    REQUIRE(chain.till.add_card(member, second_card).ok());
    REQUIRE(chain.till.purchase(sale("T-2", member, {line("A", "food", 1, 1500)})).ok());
    chain.sync();  // the till's late events go up, the erasure comes down

    for (Program* node : {&chain.hq, &chain.till}) {
        const Member erased = node->find_member({member, "", ""}).value();
        CHECK(erased.name.empty());
        CHECK(erased.phone.empty());
        CHECK(erased.email.empty());
        CHECK(erased.cards.empty());
        CHECK(node->summary(member)->balance == 40);  // the ledger is kept under the member id
        CHECK(node->audit(member).consistent());
        CHECK(node->database().query_text("PRAGMA integrity_check") == "ok");
        CHECK(node->find_member({"", card, ""}).error().code == "unknown_card");
        for (const std::string& secret : {card, second_card, std::string("Member 1"), std::string("m1@example.com")}) {
            INFO(secret);
            CHECK(rows_holding(*node, "members", "name || ifnull(email, '')", secret) == 0);
            CHECK(rows_holding(*node, "cards", "card_number", secret) == 0);
            CHECK(rows_holding(*node, "outbox", "payload", secret) == 0);
            CHECK(rows_holding(*node, "operations", "operation_id || request || response", secret) == 0);
        }
    }
    for (const std::string& secret : {card, second_card, std::string("Member 1")})
        CHECK(rows_holding(chain.hq, "till_events", "payload", secret) == 0);
    // Nobody can find the member by the old card at head office either, so a sale queued for
    // it at another till is never recorded.
    CHECK(chain.store.query_member("S01-T1", {1, protocol::MemberKey::card, card}).error().code == "unknown_card");
    // A till resending what it sent before the erasure is a replay, not a conflict.
    const hq::BatchOutcome resent = chain.store.store_batch("S01-T1", sent);
    CHECK_FALSE(resent.stopped);
    CHECK(resent.replayed == sent.size());
    CHECK(chain.members.audit_log(member).back().action == "member.erase");
    auto exported = chain.members.export_member("dana", member);
    REQUIRE(exported.ok());
    CHECK(exported->dump().find("Member 1") == std::string::npos);
    CHECK(chain.members.erase_member("dana", member).ok());  // again: harmless
}

TEST_CASE("a retention run erases the members inactive longer than the period, once, logged, ledger kept",
          "[hq_members]") {
    HeadOfficeAndTill chain;
    const std::string inactive = enroll(chain.till, 1, false);
    const std::string active = enroll(chain.till, 2, false);
    REQUIRE(chain.till.purchase(sale("T-1", inactive, {line("A", "food", 1, 2500)})).ok());
    chain.clock.advance_days(200);
    REQUIRE(chain.till.purchase(sale("T-2", active, {line("A", "food", 1, 1000)})).ok());
    chain.sync();
    chain.clock.advance_days(200);  // inactive: 400 days since the last sale, active: 200
    const Points balance_before = chain.hq.summary(inactive)->balance;
    const auto total_points = [&](Program& node) {
        return *node.database().query_integer("SELECT SUM(points) FROM ledger");
    };
    const std::int64_t total_before = total_points(chain.hq);

    std::vector<json> logged;
    const auto previous = http::set_log_sink([&](std::string_view line) { logged.push_back(json::parse(line)); });
    const auto dry = chain.members.run_retention(365, chain.clock.now(), true);
    const auto run = chain.members.run_retention(365, chain.clock.now(), false);
    const auto again = chain.members.run_retention(365, chain.clock.now(), false);
    http::set_log_sink(previous);

    REQUIRE(dry.ok());
    CHECK(dry->member_ids == std::vector<std::string>{inactive});
    CHECK(dry->erased == 0);
    REQUIRE(run.ok());
    CHECK(run->member_ids == std::vector<std::string>{inactive});
    CHECK(run->erased == 1);
    REQUIRE(again.ok());
    CHECK(again->member_ids.empty());  // idempotent: nobody new
    CHECK(again->erased == 0);
    REQUIRE(logged.size() == 3);
    CHECK(logged[1].at("event") == "retention_run");
    CHECK(logged[1].at("inactive") == 1);
    CHECK(logged[1].at("erased") == 1);
    CHECK(logged[0].at("dry_run") == true);
    CHECK(logged[2].at("erased") == 0);

    chain.sync();  // the erasure reaches the till through the feed
    for (Program* node : {&chain.hq, &chain.till}) {
        CHECK(node->find_member({inactive, "", ""})->name.empty());
        CHECK(node->find_member({inactive, "", ""})->cards.empty());
        CHECK(node->find_member({active, "", ""})->name == "Member 2");
        CHECK(node->summary(inactive)->balance == balance_before);
        CHECK(node->audit(inactive).consistent());
        CHECK(node->database().query_text("PRAGMA integrity_check") == "ok");
    }
    CHECK(total_points(chain.hq) == total_before);
    CHECK(total_points(chain.till) == total_before);
    const hq::AuditRecord erased = chain.members.audit_log(inactive).back();
    CHECK(erased.actor == "retention");
    CHECK(erased.action == "member.erase");
    CHECK(erased.detail.at("reason") == "retention");
    CHECK(chain.members.audit_log(active).empty());
    CHECK(chain.members.run_retention(0, chain.clock.now(), false).error().field == "retention_days");
}

TEST_CASE("loyalty-hq member retention needs a period, and prints its summary as JSON", "[hq_members]") {
    HeadOfficeAndTill chain;
    const std::string member = enroll(chain.till, 1, false);
    chain.sync();
    const auto run = [&](std::vector<std::string> words, std::optional<std::int64_t> days) {
        std::ostringstream out, err;
        const int code = hq::run_member_command(words, chain.members, out, err, days);
        return std::pair{code, out.str()};
    };
    CHECK(run({"retention"}, std::nullopt).first == 2);
    CHECK(run({"retention", member}, 30).first == 2);
    CHECK(run({"retention", "--as-of", "tomorrow"}, 30).first == 2);
    CHECK(run({"retention", "--days", "0"}, std::nullopt).first == 2);
    const auto [dry_code, dry_out] = run({"retention", "--as-of", "2030-01-01", "--dry-run"}, 30);
    CHECK(dry_code == 0);
    const json dry = json::parse(dry_out);
    CHECK(dry.at("inactive") == 1);
    CHECK(dry.at("erased") == 0);
    CHECK(dry.at("as_of") == "2030-01-01T00:00:00Z");
    CHECK(json::parse(run({"retention", "--as-of", "2030-01-01", "--days", "36500"}, 30).second).at("inactive") == 0);
    CHECK(json::parse(run({"retention", "--as-of", "2030-01-01"}, 30).second).at("erased") == 1);
    CHECK(chain.hq.find_member({member, "", ""})->name.empty());
}
