// Phone numbers on a till as keyed hashes (loyalty/identifier_key.cpp and the Program's use of
// ProgramOptions::identifier_key): the till finds members by phone without keeping the
// number, shows a masked form, and still sends the number to head office, which keeps it.
#include "loyalty/identifier_key.hpp"

#include <sys/stat.h>

#include <fstream>

#include <catch2/catch.hpp>

#include "support/core_fixture.hpp"

using namespace loyalty;
using namespace loyalty::testing;

namespace {

const std::string phone = "+447700900123";
const std::string key(32, 'k');

ProgramOptions options(const TempDir& dir, const std::string& node, std::string identifier_key) {
    ProgramOptions o{(dir.path() / (node + ".db")).string(), node, Durability::normal};
    o.identifier_key = std::move(identifier_key);
    return o;
}

// Rows of `table` whose `column` holds the phone's last seven digits anywhere.
std::int64_t rows_with_number(Program& program, const std::string& table, const std::string& column) {
    return *program.database().query_integer(
        "SELECT COUNT(*) FROM " + table + " WHERE instr(" + column + ", '0900123') > 0");
}

std::string enroll_by_phone(Program& program, const std::string& name) {
    auto enrolled = program.enroll({"", phone, name, ""});
    REQUIRE(enrolled.ok());
    return enrolled->result.member_id;
}

}  // namespace

TEST_CASE("the identifier key is made once with mode 0600 and read back, a damaged file is refused by name",
          "[identifier_key]") {
    TempDir dir;
    const std::string path = (dir.path() / "till.db.key").string();
    const std::string made = load_or_create_identifier_key(path);
    CHECK(made.size() == 32);
    CHECK(load_or_create_identifier_key(path) == made);
    struct stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0600);
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));  // written aside, then renamed into place

    const std::string other = (dir.path() / "other.key").string();
    CHECK(load_or_create_identifier_key(other) != made);  // random, not derived
    std::ofstream(other, std::ios::trunc) << "not a key\n";
    CHECK_THROWS_WITH(load_or_create_identifier_key(other), Catch::Contains(other) && Catch::Contains("64 hex"));
}

TEST_CASE("keyed identifiers depend on the key, masks keep the last four digits", "[identifier_key]") {
    CHECK(keyed_identifier(key, phone) == keyed_identifier(key, phone));
    CHECK(keyed_identifier(key, phone) != keyed_identifier(std::string(32, 'x'), phone));
    CHECK(keyed_identifier(key, phone).size() == std::string("hmac-sha256:").size() + 64);
    CHECK(is_keyed_identifier(keyed_identifier(key, phone)));
    CHECK_FALSE(is_keyed_identifier(phone));
    CHECK(masked_phone(phone) == "+********0123");
    CHECK(masked_phone("0612345678") == "******5678");
}

TEST_CASE("a till keeps a phone only as its keyed hash, finds the member by it and shows it masked",
          "[identifier_key]") {
    TempDir dir;
    ManualClock clock(test_start());
    Program till(options(dir, "S01-T1", key), clock, rules_with());
    const std::string member_id = enroll_by_phone(till, "Phone Only");

    CHECK(till.find_member({"", "", phone})->member_id == member_id);
    CHECK(till.find_member({"", "", phone})->phone == "+********0123");
    CHECK(till.summary(member_id)->member.phone == "+********0123");
    CHECK(till.database().query_text("SELECT phone FROM members") == keyed_identifier(key, phone));
    CHECK(rows_with_number(till, "members", "ifnull(phone, '') || ifnull(phone_masked, '')") == 0);
    CHECK(rows_with_number(till, "operations", "operation_id || request || response") == 0);

    // A retry is the same enrolment; another member cannot take the number.
    auto again = till.enroll({"", phone, "Phone Only", ""});
    REQUIRE(again.ok());
    CHECK(again->replayed);
    auto other = till.enroll({"", "0044 7700 900123", "Someone Else", ""});
    CHECK_FALSE(other.ok());
    CHECK(other.error().code == "idempotency_conflict");
    auto by_card = till.enroll({valid_card(3), phone, "Card Holder", ""});
    REQUIRE_FALSE(by_card.ok());
    CHECK(by_card.error().code == "duplicate_phone");

    // A purchase identified by phone keeps the hash, not the number, in its records.
    auto bought = till.purchase({"T-1", {"", "", phone}, {line("A", "food", 1, 1500)}, 0});
    REQUIRE(bought.ok());
    CHECK(bought->result.member_id == member_id);
    CHECK(till.purchase({"T-1", {"", "", phone}, {line("A", "food", 1, 1500)}, 0})->replayed);
    CHECK(rows_with_number(till, "operations", "operation_id || request || response") == 0);

    // Head office needs the number: the enrolment event carries it until head office has it.
    CHECK(rows_with_number(till, "outbox", "payload") == 1);
    till.outbox().acknowledge(till.outbox().last_seq());
    CHECK(rows_with_number(till, "outbox", "payload") == 0);
}

TEST_CASE("head office keeps the number a till sent, and a till hashes the numbers it hears of",
          "[identifier_key]") {
    TempDir dir;
    ManualClock clock(test_start());
    Program till(options(dir, "S01-T1", key), clock, rules_with());
    Program hq(options(dir, "HQ", ""), clock, rules_with());
    Program other_till(options(dir, "S02-T1", std::string(32, 'o')), clock, rules_with());
    const std::string member_id = enroll_by_phone(till, "Travelling Member");
    REQUIRE(till.add_card(member_id, valid_card(5)).ok());  // a member_updated event: masked phone only
    for (const OutboxEvent& event : till.outbox().pending(100)) {
        REQUIRE(hq.apply_remote_event("S01-T1", event).ok());
        REQUIRE(other_till.apply_remote_event("S01-T1", event).ok());
    }
    CHECK(hq.find_member(by_id(member_id))->phone == phone);
    CHECK(hq.find_member({"", "", phone})->member_id == member_id);
    CHECK(other_till.find_member({"", "", phone})->member_id == member_id);
    CHECK(other_till.database().query_text("SELECT phone FROM members") ==
          keyed_identifier(std::string(32, 'o'), phone));
    CHECK(rows_with_number(other_till, "members", "ifnull(phone, '') || ifnull(phone_masked, '')") == 0);

    // A snapshot from head office (a lookup at a third till) is hashed the same way.
    Program third(options(dir, "S03-T1", key), clock, rules_with());
    REQUIRE(third.import_member_snapshot(hq.member_snapshot(member_id).value()).ok());
    CHECK(third.find_member({"", "", phone})->member_id == member_id);
    CHECK(rows_with_number(third, "members", "ifnull(phone, '') || ifnull(phone_masked, '')") == 0);
}

TEST_CASE("a till opened with a key for the first time hashes the numbers it kept, and retries still replay",
          "[identifier_key]") {
    TempDir dir;
    ManualClock clock(test_start());
    std::string member_id;
    {
        Program before(options(dir, "S01-T1", ""), clock, rules_with());
        member_id = enroll_by_phone(before, "Early Member");
        REQUIRE(before.purchase({"T-1", {"", "", phone}, {line("A", "food", 1, 1500)}, 0}).ok());
        before.outbox().acknowledge(before.outbox().last_seq());
        CHECK(rows_with_number(before, "members", "phone") == 1);
    }
    Program after(options(dir, "S01-T1", key), clock, rules_with());
    CHECK(after.find_member({"", "", phone})->member_id == member_id);
    CHECK(after.find_member(by_id(member_id))->phone == "+********0123");
    CHECK(rows_with_number(after, "members", "ifnull(phone, '') || ifnull(phone_masked, '')") == 0);
    CHECK(rows_with_number(after, "operations", "operation_id || request || response") == 0);
    CHECK(rows_with_number(after, "outbox", "payload") == 0);
    auto replayed = after.enroll({"", phone, "Early Member", ""});
    REQUIRE(replayed.ok());
    CHECK(replayed->replayed);
    CHECK(after.purchase({"T-1", {"", "", phone}, {line("A", "food", 1, 1500)}, 0})->replayed);
}
