// Shared fixture for the core (loyalty/) tests: a Program over a real SQLite file in a fresh
// temporary directory, a ManualClock, rules written as JSON patches over a plain programme,
// valid card numbers, and the invariant checks every test leans on.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "loyalty/clock.hpp"
#include "loyalty/identifiers.hpp"
#include "loyalty/program.hpp"
#include "loyalty/rules.hpp"
#include "loyalty/store.hpp"
#include "temp_dir.hpp"

namespace loyalty::testing {

using TempDir = loyalty::test::TempDir;

// A plain programme: 1 point per 1.00, floor, no minimum, no caps, no lock, no expiry,
// 100 points pay 1.00 with no minimum and no basket cap; Bronze/Silver/Gold by spend or visits.
inline nlohmann::json plain_rules_json() {
    return nlohmann::json::parse(R"({
      "version": 1,
      "unit_cents": 100,
      "earn": {"points_per_unit": 1, "rounding": "floor"},
      "redemption": {"points_per_unit": 100, "minimum_points": 0, "max_basket_share_percent": 100},
      "tiers": {
        "window_days": 365,
        "downgrade_grace_days": 30,
        "levels": [
          {"name": "Bronze", "multiplier": 1},
          {"name": "Silver", "min_spend_cents": 50000, "min_purchases": 10, "multiplier": 1.5},
          {"name": "Gold", "min_spend_cents": 200000, "min_purchases": 40, "multiplier": 2}
        ]
      }
    })");
}

// The plain programme with `patch` merged in (RFC 7386: null removes a field).
inline RuleSet rules_with(const nlohmann::json& patch = nlohmann::json::object()) {
    nlohmann::json document = plain_rules_json();
    document.merge_patch(patch);
    auto rules = parse_rules(document);
    if (!rules) throw std::runtime_error("test rules refused: " + rules.error().message);
    return rules.value();
}

// 2026-01-05 is a Monday; 10:00 UTC keeps a whole working day ahead.
inline Timestamp test_start() { return parse_timestamp("2026-01-05T10:00:00Z").value(); }

// A Luhn-valid 16-digit card number, distinct for each n.
inline std::string valid_card(int n) {
    std::string payload = std::to_string(n);
    payload = "600100" + std::string(9 - payload.size(), '0') + payload;
    return payload + luhn_check_digit(payload);
}

inline BasketLine line(std::string sku, std::string category, std::int64_t quantity, Cents unit_price,
                       Cents discount = 0) {
    return {std::move(sku), std::move(category), quantity, unit_price, discount};
}

inline MemberRef by_id(const std::string& member_id) { return {member_id, "", ""}; }

inline PurchaseRequest sale(std::string txn_id, const std::string& member_id,
                            std::vector<BasketLine> lines, Points redeem_points = 0) {
    return {std::move(txn_id), by_id(member_id), std::move(lines), redeem_points};
}

// Counts of everything a write may touch; two equal snapshots mean nothing was written.
struct DatabaseSnapshot {
    std::int64_t members = 0, cards = 0, active_cards = 0, ledger = 0, lots = 0, lots_remaining = 0, allocations = 0,
                 operations = 0, purchases = 0, returned_units = 0, activity = 0, tier_changes = 0,
                 outbox_seq = 0, counters = 0;
    bool operator==(const DatabaseSnapshot&) const = default;
};

inline std::ostream& operator<<(std::ostream& out, const DatabaseSnapshot& s) {
    return out << "{members " << s.members << ", cards " << s.cards << "/" << s.active_cards << ", ledger " << s.ledger
               << ", lots " << s.lots << ", lots_remaining " << s.lots_remaining << ", allocations "
               << s.allocations << ", operations " << s.operations << ", purchases " << s.purchases
               << ", returned_units " << s.returned_units << ", activity " << s.activity
               << ", tier_changes " << s.tier_changes << ", outbox_seq " << s.outbox_seq
               << ", counters " << s.counters << "}";
}

class CoreFixture {
public:
    explicit CoreFixture(RuleSet rules = rules_with(), ProgramOptions options = {})
        : clock(test_start()), rules_(std::move(rules)), options_(std::move(options)) {
        options_.database_path = (dir.path() / "till.db").string();
        if (options_.node_id.empty()) options_.node_id = "S01-T1";
        open();
    }

    void open() { program = std::make_unique<Program>(options_, clock, rules_); }
    // Closes the database and opens the same file again, as after a restart.
    void reopen() {
        program.reset();
        open();
    }
    std::string database_path() const { return options_.database_path; }

    // Enrolls member n with card valid_card(n) and returns the member id.
    std::string enroll(int n) {
        auto enrolled = program->enroll({valid_card(n), "", "Member " + std::to_string(n), ""});
        REQUIRE(enrolled.ok());
        return enrolled->result.member_id;
    }

    PurchaseResult buy(const std::string& txn_id, const std::string& member_id,
                       std::vector<BasketLine> lines, Points redeem_points = 0) {
        auto result = program->purchase(sale(txn_id, member_id, std::move(lines), redeem_points));
        INFO(txn_id << ": " << (result.ok() ? "" : result.error().message));
        REQUIRE(result.ok());
        REQUIRE_FALSE(result->replayed);
        return result->result;
    }

    MemberSummary summary(const std::string& member_id) {
        auto found = program->summary(member_id);
        REQUIRE(found.ok());
        return found.value();
    }

    Points ledger_sum(const std::string& member_id) {
        return program->database()
            .query_integer("SELECT COALESCE(SUM(points), 0) FROM ledger WHERE member_id = ?", member_id)
            .value_or(0);
    }

    // The three views of a balance agree, and the summary shows the same balance.
    void check_invariants(const std::string& member_id) {
        const BalanceAudit audit = program->audit(member_id);
        INFO("member " << member_id << ": ledger " << audit.ledger_sum << ", lots " << audit.lots_sum
                       << ", allocations match " << audit.allocations_match);
        CHECK(audit.consistent());
        const MemberSummary now = summary(member_id);
        CHECK(now.balance == audit.ledger_sum);
        CHECK(now.points >= 0);
        CHECK(now.points_pending >= 0);
        // Without debt, the balance is what is spendable plus what is locked (plus lots past
        // their date that the next expiry run will take).
        if (debt(member_id) == 0) CHECK(now.balance >= now.points + now.points_pending);
        else CHECK(now.points == 0);
    }

    // Points owed by the member (positive), from the debt lot.
    Points debt(const std::string& member_id) {
        return -program->database()
                    .query_integer("SELECT COALESCE(SUM(remaining), 0) FROM lots WHERE member_id = ? "
                                   "AND is_debt = 1", member_id)
                    .value_or(0);
    }

    DatabaseSnapshot snapshot() {
        Database& db = program->database();
        const auto count = [&](const char* sql) { return db.query_integer(sql).value_or(0); };
        DatabaseSnapshot s;
        s.members = count("SELECT COUNT(*) FROM members");
        s.cards = count("SELECT COUNT(*) FROM cards");
        s.active_cards = count("SELECT COUNT(*) FROM cards WHERE status = 'active'");
        s.ledger = count("SELECT COUNT(*) FROM ledger");
        s.lots = count("SELECT COUNT(*) FROM lots");
        s.lots_remaining = count("SELECT COALESCE(SUM(remaining), 0) FROM lots");
        s.allocations = count("SELECT COUNT(*) FROM lot_allocations");
        s.operations = count("SELECT COUNT(*) FROM operations");
        s.purchases = count("SELECT COUNT(*) FROM purchases WHERE status = 'completed'");
        s.returned_units = count("SELECT COALESCE(SUM(returned_quantity), 0) FROM purchase_lines");
        s.activity = count("SELECT COUNT(*) FROM qualifying_activity");
        s.tier_changes = count("SELECT COUNT(*) FROM tier_changes");
        s.outbox_seq = program->outbox().last_seq();
        s.counters = count("SELECT COALESCE(SUM(next), 0) FROM counters");
        return s;
    }

    TempDir dir;
    ManualClock clock;
    std::unique_ptr<Program> program;

private:
    RuleSet rules_;
    ProgramOptions options_;
};

}  // namespace loyalty::testing
