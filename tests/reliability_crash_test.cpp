// Crash safety of a real loyaltyd: a stream of purchases, redemptions and returns from a POS while
// the daemon is SIGKILLed at random moments, at least 50 times. After every kill, straight from
// the database file: every acknowledged operation is there exactly once, every member's ledger
// sum equals their lots and allocations, and the outbox sequence has no gap. After each restart
// the operation in flight at the kill is settled by resending it (a replay or a first commit,
// never both), and at the end every acknowledged answer replays byte for byte.
#include "support/till_daemon.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "support/core_fixture.hpp"

namespace {

namespace fs = std::filesystem;
using loyalty::http::ClientResponse;
using loyalty::http::HttpClient;
using loyalty::http::HttpClientError;
using loyalty::test::TillDaemon;
using loyalty::testing::TempDir;
using loyalty::testing::valid_card;
using nlohmann::json;
using namespace std::chrono_literals;

struct Operation {
    std::string kind;  // "purchase" or "return": the operations table's kind and the route
    std::string id;    // txn_id or return_id
    json request;
    std::string target() const { return kind == "purchase" ? "/v1/purchases" : "/v1/returns"; }
};

// The POS's script: purchases (a third of them paying partly with points) and returns of units
// of earlier purchases, over three members, from a fixed seed.
class Script {
  public:
    explicit Script(std::vector<std::string> members) : members_(std::move(members)) {}

    Operation next() {
        const int n = count_++;
        if (n % 5 == 4 && !purchases_.empty()) {
            const std::string& original = purchases_[random_() % purchases_.size()];
            return {"return", "R-" + std::to_string(n),
                    {{"return_id", "R-" + std::to_string(n)},
                     {"original_txn_id", original},
                     {"lines", {{{"sku", "sku-" + std::to_string(random_() % 2)}, {"quantity", 1}}}}}};
        }
        const std::string txn_id = "T-" + std::to_string(n);
        purchases_.push_back(txn_id);
        json lines = json::array();
        for (int line = 0; line < 2; ++line)
            lines.push_back({{"sku", "sku-" + std::to_string(line)},
                             {"category", line == 0 ? "grocery" : "fresh"},
                             {"quantity", 1 + random_() % 3},
                             {"unit_price_cents", 200 + random_() % 5000}});
        json request{{"txn_id", txn_id}, {"member_id", members_[random_() % members_.size()]}, {"lines", lines}};
        if (n % 3 == 2) request["redeem_points"] = 1 + random_() % 60;
        return {"purchase", txn_id, std::move(request)};
    }

  private:
    std::vector<std::string> members_;
    std::vector<std::string> purchases_;
    std::mt19937 random_{20'260'105};
    int count_ = 0;
};

// The POS's record: what the till acknowledged (first answer), and what it refused.
struct Record {
    std::map<std::string, std::pair<Operation, std::string>> acknowledged;  // kind/id -> op, body
    std::set<std::string> refused;
    std::optional<Operation> in_doubt;  // sent, no answer before the kill

    static std::string key(const Operation& operation) { return operation.kind + "/" + operation.id; }

    // Files an answer; false when there was none worth filing (the daemon is going away).
    bool file(const Operation& operation, const ClientResponse& response) {
        if (response.status == 200 || response.status == 201) {
            acknowledged.emplace(key(operation), std::pair{operation, response.body});
            return true;
        }
        if (response.status >= 400 && response.status < 500) {  // e.g. too few points, all returned
            refused.insert(key(operation));
            return true;
        }
        return false;  // 503 while dying: in doubt
    }
};

// What must hold in the file after any crash, whatever was in flight.
void check_database(const fs::path& path, const Record& record) {
    loyalty::test::ReadOnlyDatabase db(path);
    for (const auto& [key, acknowledged] : record.acknowledged) {
        INFO("acknowledged " << key);
        CHECK(db.integer("SELECT COUNT(*) FROM operations WHERE kind || '/' || operation_id = ?", key) == 1);
    }
    for (const auto& [kind, count] :
         std::map<std::string, std::int64_t>{{"purchase", 0}, {"return", 0}}) {
        std::int64_t expected = 0;
        for (const auto& [key, acknowledged] : record.acknowledged) expected += acknowledged.first.kind == kind;
        const std::int64_t stored = db.integer("SELECT COUNT(*) FROM operations WHERE kind = ?", kind);
        INFO(kind << ": " << expected << " acknowledged, " << stored << " stored");
        const bool in_flight = record.in_doubt && record.in_doubt->kind == kind;
        CHECK((stored == expected || (in_flight && stored == expected + 1)));
    }
    CHECK(db.integer("SELECT COUNT(*) FROM (SELECT member_id, SUM(points) AS s FROM ledger GROUP BY member_id) l "
                     "LEFT JOIN (SELECT member_id, SUM(remaining) AS s FROM lots GROUP BY member_id) o "
                     "USING (member_id) WHERE l.s IS NOT COALESCE(o.s, 0)") == 0);
    CHECK(db.integer("SELECT COUNT(*) FROM ledger e WHERE e.points <> "
                     "(SELECT COALESCE(SUM(points), 0) FROM lot_allocations a WHERE a.entry_id = e.entry_id)") == 0);
    CHECK(db.integer("SELECT COUNT(*) FROM lots o WHERE o.remaining <> "
                     "(SELECT COALESCE(SUM(points), 0) FROM lot_allocations a WHERE a.lot_id = o.lot_id)") == 0);
    const auto seqs = db.rows("SELECT seq FROM outbox ORDER BY seq");
    for (std::size_t i = 0; i < seqs.size(); ++i) {
        INFO("outbox position " << i);
        REQUIRE(seqs[i] == std::to_string(i + 1));
    }
    CHECK(db.integer("SELECT COUNT(*) FROM outbox WHERE type IN ('purchase', 'return')") ==
          db.integer("SELECT COUNT(*) FROM operations WHERE kind IN ('purchase', 'return')"));
    CHECK(loyalty::test::integrity_check(path) == "ok");
}

void write_plain_rules(const fs::path& path) {
    std::ofstream(path) << loyalty::testing::plain_rules_json().dump();
}

}  // namespace

TEST_CASE("60 SIGKILLs during purchases, redemptions and returns lose and double nothing",
          "[reliability][crash]") {
    TempDir directory;
    write_plain_rules(directory.path() / "rules.json");
    TillDaemon till(LOYALTYD_PATH, directory.path(), {{"rules_file", (directory.path() / "rules.json").string()}});
    std::vector<std::string> members;
    {
        HttpClient client = till.client();
        for (int n = 1; n <= 3; ++n) {
            const ClientResponse enrolled =
                client.request("POST", "/v1/members", json{{"card", valid_card(n)}, {"name", "Member"}});
            REQUIRE(enrolled.status == 201);
            members.push_back(enrolled.json().at("member_id"));
        }
    }
    Script script(members);
    Record record;
    std::mt19937 random(42);
    constexpr int kills = 60;
    int sent_total = 0;

    for (int kill = 0; kill < kills; ++kill) {
        std::atomic<int> answered{0};
        std::thread pos([&] {
            HttpClient client = till.client(10s);
            for (int i = 0; i < 200; ++i) {  // bounded: the kill comes long before
                const Operation operation = script.next();
                ++sent_total;
                try {
                    if (!record.file(operation, client.request("POST", operation.target(), operation.request))) {
                        record.in_doubt = operation;
                        return;
                    }
                    ++answered;
                } catch (const HttpClientError&) {
                    record.in_doubt = operation;
                    return;
                }
            }
        });
        // Random moments: right away, mid-stream, or after a burst of answers.
        const auto delay = std::chrono::microseconds(random() % 80'000);
        std::this_thread::sleep_for(delay);
        const auto status = till.kill();
        pos.join();
        CHECK(status.signalled);
        INFO("kill " << kill << " after " << delay.count() << " us, " << answered << " answers");
        check_database(till.database(), record);

        till.start();
        if (record.in_doubt) {  // committed before the kill (a replay now) or not (a first commit)
            HttpClient client = till.client();
            const Operation operation = *record.in_doubt;
            const ClientResponse retry = client.request("POST", operation.target(), operation.request);
            INFO("settling " << Record::key(operation) << ": " << retry.status << " " << retry.body);
            REQUIRE(record.file(operation, retry));
            record.in_doubt.reset();
        }
    }
    INFO(sent_total << " operations sent, " << record.acknowledged.size() << " acknowledged");
    CHECK(record.acknowledged.size() >= 60);

    // Every acknowledged answer replays unchanged; balances are the ledger sums.
    HttpClient client = till.client();
    for (const auto& [key, acknowledged] : record.acknowledged) {
        const auto& [operation, body] = acknowledged;
        INFO(key);
        const ClientResponse replay = client.request("POST", operation.target(), operation.request);
        CHECK(replay.status == 200);
        CHECK(replay.body == body);
    }
    loyalty::test::ReadOnlyDatabase db(till.database());
    for (const std::string& member_id : members) {
        const json summary = client.request("GET", "/v1/members/" + member_id).json();
        CHECK(summary.at("balance") ==
              db.integer("SELECT COALESCE(SUM(points), 0) FROM ledger WHERE member_id = ?", member_id));
    }
    CHECK(till.stop().code == 0);
    check_database(till.database(), record);
}
