// What a checkout costs must not grow with the rest of the chain: every operation on one member
// reads that member's rows through an index, never a whole table. SQLite counts the rows each
// prepared statement stepped through in full table scans (SQLITE_STMTSTATUS_FULLSCAN_STEP); this
// test runs each operation on a database holding other members' purchases and fails naming
// every statement that scanned more rows than a configuration table holds. A query whose index
// SQLite cannot use (a partial index whose condition the query does not state) fails here.
#include <sqlite3.h>

#include <functional>
#include <sstream>

#include <catch2/catch.hpp>

#include "support/core_fixture.hpp"

using namespace loyalty;
using loyalty::testing::CoreFixture;
using loyalty::testing::line;
using loyalty::testing::sale;

namespace {

// Configuration tables (settings, rules, counters) hold a few rows; the member tables here
// hold hundreds, so a scan of one of those steps well past this.
constexpr int most_rows_of_a_small_table = 20;

void forget_scans(sqlite3* db) {
    for (sqlite3_stmt* s = sqlite3_next_stmt(db, nullptr); s; s = sqlite3_next_stmt(db, s))
        sqlite3_stmt_status(s, SQLITE_STMTSTATUS_FULLSCAN_STEP, 1);
}

// The statements that stepped through more rows in full scans than a small table holds.
std::string long_scans(sqlite3* db) {
    std::ostringstream found;
    for (sqlite3_stmt* s = sqlite3_next_stmt(db, nullptr); s; s = sqlite3_next_stmt(db, s)) {
        const int rows = sqlite3_stmt_status(s, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0);
        if (rows > most_rows_of_a_small_table) found << rows << " rows: " << sqlite3_sql(s) << "\n";
    }
    return found.str();
}

// Runs `operation` and returns the statements of `program`'s connection that read a whole
// member table meanwhile.
std::string scans_of(Program& program, const std::function<void()>& operation) {
    sqlite3* db = program.database().handle();
    forget_scans(db);
    operation();
    return long_scans(db);
}

// A till whose other 60 members made 3 purchases each, one partly returned.
struct BusyTill {
    BusyTill() {
        for (int n = 1; n <= 60; ++n) {
            const std::string other = fixture.enroll(n);
            for (int k = 0; k < 3; ++k)
                fixture.buy("O-" + std::to_string(n) + "-" + std::to_string(k), other, {line("A", "x", 2, 1500)});
            REQUIRE(fixture.program->return_items({"OR-" + std::to_string(n), "O-" + std::to_string(n) + "-0",
                                                  {{"A", 1}}}).ok());
        }
        member = fixture.enroll(100);
        fixture.buy("M-0", member, {line("A", "x", 4, 2500)});
    }

    CoreFixture fixture;
    std::string member;
};

// Applies every event of `till` not yet applied to `office` (head office's ingest, without sync).
void apply_pending(Program& till, Program& office) {
    for (const OutboxEvent& event : till.outbox().pending(100000)) {
        REQUIRE(office.apply_remote_event("S01-T1", event).ok());
        till.outbox().acknowledge(event.seq);
    }
}

}  // namespace

TEST_CASE("a member's checkout, return and void read that member's rows only, never whole tables") {
    BusyTill till;
    Program& program = *till.fixture.program;
    const std::string& member = till.member;
    const auto quote = [&] { REQUIRE(program.quote(sale("", member, {line("B", "x", 1, 900)}, 100)).ok()); };
    const auto buy = [&] { REQUIRE(program.purchase(sale("M-1", member, {line("B", "x", 3, 900)}, 100)).ok()); };
    const auto give_back = [&] { REQUIRE(program.return_items({"MR-1", "M-0", {{"A", 4}}}).ok()); };
    const auto cancel = [&] { REQUIRE(program.void_purchase("M-1").ok()); };
    CHECK(scans_of(program, quote) == "");
    CHECK(scans_of(program, buy) == "");
    CHECK(scans_of(program, give_back) == "");
    CHECK(scans_of(program, cancel) == "");
}

TEST_CASE("a member's balance, history, lots and snapshot read that member's rows only") {
    BusyTill till;
    Program& program = *till.fixture.program;
    const std::string& member = till.member;
    CHECK(scans_of(program, [&] { REQUIRE(program.summary(member).ok()); }) == "");
    CHECK(scans_of(program, [&] { REQUIRE(program.history(member, 20, "").ok()); }) == "");
    CHECK(scans_of(program, [&] { CHECK(program.lots(member).size() == 1); }) == "");
    CHECK(scans_of(program, [&] { CHECK(program.audit(member).consistent()); }) == "");
    CHECK(scans_of(program, [&] { REQUIRE(program.member_snapshot(member).ok()); }) == "");
}

TEST_CASE("head office applies a till's purchase, return and void reading that member's rows only") {
    BusyTill till;
    CoreFixture office(loyalty::testing::rules_with(), {"", "HQ"});
    Program& program = *till.fixture.program;
    apply_pending(program, *office.program);
    REQUIRE(program.purchase(sale("M-1", till.member, {line("B", "x", 3, 900)}, 100)).ok());
    REQUIRE(program.return_items({"MR-1", "M-0", {{"A", 4}}}).ok());
    REQUIRE(program.void_purchase("M-1").ok());
    CHECK(scans_of(*office.program, [&] { apply_pending(program, *office.program); }) == "");
}
