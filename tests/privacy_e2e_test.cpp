// Issue 11 end to end, on a real loyalty-hq and real loyaltyd tills over mutual TLS: an erasure
// at head office while a till is offline (and the sale it takes meanwhile) ends with nothing
// personal in the till's SQLite file; a retention run erases the members inactive too long,
// here and at the till; and no log line or metric carries a member's personal data.
#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>

#include "support/flaky_proxy.hpp"
#include "support/sync_chain.hpp"
#include "support/till_daemon.hpp"

namespace {

namespace fs = std::filesystem;
using loyalty::test::card_number;
using loyalty::test::Chain;
using loyalty::test::eventually;
using loyalty::test::expect;
using loyalty::test::FlakyProxy;
using loyalty::test::HeadOffice;
using loyalty::test::ProxyFault;
using loyalty::test::ReadOnlyDatabase;
using loyalty::test::SyncedTill;
using loyalty::test::TillOptions;
using nlohmann::json;
using namespace std::chrono_literals;

// A member's personal data as the till receives it, and as it may be stored.
struct Person {
    std::string card, name, phone, email;
    std::vector<std::string> secrets() const { return {card, name, phone, email}; }
};

Person person(int n) {
    const std::string digits = std::to_string(7'700'900'100 + n);
    return {card_number(n), "Ada Erasure" + std::to_string(n), "+44" + digits,
            "ada.erasure" + std::to_string(n) + "@example.com"};
}

std::string enroll(SyncedTill& till, const Person& who) {
    const json body{{"card", who.card}, {"name", who.name}, {"phone", who.phone}, {"email", who.email}};
    return expect(till.api().request("POST", "/v1/members", body), 201).at("member_id");
}

loyalty::http::ClientResponse buy_by_card(SyncedTill& till, const std::string& txn_id, const std::string& card,
                                          std::int64_t cents) {
    const json body{{"txn_id", txn_id},
                    {"card", card},
                    {"lines", {{{"sku", "s"}, {"category", "food"}, {"quantity", 1}, {"unit_price_cents", cents}}}}};
    return till.api().request("POST", "/v1/purchases", body);
}

std::string file_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The secrets found in the till's database files (the main file and any WAL), byte for byte.
std::vector<std::string> secrets_in_files(const fs::path& database, const Person& who) {
    std::string bytes = file_bytes(database);
    for (const char* suffix : {"-wal", "-journal"})
        if (fs::exists(database.string() + suffix)) bytes += file_bytes(database.string() + suffix);
    std::vector<std::string> found;
    for (const std::string& secret : who.secrets())
        if (bytes.find(secret) != std::string::npos) found.push_back(secret);
    return found;
}

bool name_gone_at_till(SyncedTill& till, const std::string& member_id) {
    const auto response = till.api().request("GET", "/v1/members/" + member_id);
    return response.status == 200 && response.json().at("name") == "";
}

// loyaltyd's clock moved by a number of seconds (its test seam LOYALTY_TEST_CLOCK_OFFSET_FILE),
// changeable while it runs.
class TillClock {
  public:
    explicit TillClock(std::int64_t offset_seconds) { move_to(offset_seconds); }
    void move_to(std::int64_t offset_seconds) const {
        loyalty::test::write_file(file_, std::to_string(offset_seconds));
    }
    TillOptions options() const {
        TillOptions options;
        options.env = {{"LOYALTY_TEST_CLOCK_OFFSET_FILE", file_.string()}};
        return options;
    }

  private:
    loyalty::test::TempDir dir_;
    fs::path file_ = dir_.path() / "offset";
};

constexpr std::int64_t day = 86'400;

// SIGTERM and wait: loyaltyd checkpoints its WAL into the main file as it closes.
void stop_gracefully(SyncedTill& till) {
    till.process().terminate();
    REQUIRE(till.process().wait_for_exit(30s));
}

}  // namespace

TEST_CASE("an erasure at head office reaches a till that was offline, and its offline sale does not bring the member back",
          "[privacy][integration]") {
    Chain chain;
    HeadOffice hq(chain);
    FlakyProxy proxy(chain.sync_port());
    TillOptions through_proxy;
    through_proxy.sync_port = proxy.port();
    SyncedTill till(chain, "S01", "T1", through_proxy);
    const TillClock other_clock(0);
    SyncedTill other(chain, "S02", "T1", other_clock.options());
    const Person ada = person(1), bob = person(2);
    const std::string member = enroll(till, ada);
    const std::string kept = enroll(till, bob);
    expect(till.buy("P1", member, 2'500), 201);
    expect(till.buy("P2", kept, 1'000), 201);
    REQUIRE(eventually([&] { return till.synced() && hq.balance(member) == till.balance(member); }));
    const std::int64_t balance_before = hq.balance(member);
    // Looked up by card and phone, the member appears in no log line and no metric, at either end.
    expect(till.api().request("GET", "/v1/members?card=" + ada.card), 200);
    expect(till.api().request("GET", "/v1/members?phone=%2B" + ada.phone.substr(1)), 200);
    CHECK(till.api().request("GET", "/v1/members?phone=%2B" + person(9).phone.substr(1)).status == 404);
    expect(other.api().request("GET", "/v1/members?card=" + bob.card), 200);  // asked of head office
    for (const std::string& text : {till.stderr_text(), other.stderr_text(), hq.stderr_text(),
                                    till.api().request("GET", "/metrics").body,
                                    hq.admin().request("GET", "/metrics").body}) {
        REQUIRE(text.size() > 100);
        for (const Person& who : {ada, bob}) {
            for (const std::string& secret : who.secrets()) CHECK(text.find(secret) == std::string::npos);
            CHECK(text.find(who.phone.substr(3)) == std::string::npos);  // nor the number without its prefix
        }
    }

    // The till goes down and stays cut off from head office while head office erases.
    till.kill();
    proxy.set_fault({ProxyFault::Kind::refuse});
    const json erased = json::parse(chain.hq_output("member erase " + member + " --actor dpo"));
    CHECK(erased.at("erased") == true);
    till.start();
    // Still offline, the till knows the card: the sale is recorded under the member id.
    expect(buy_by_card(till, "OFF-1", ada.card, 1'500), 201);
    CHECK(till.sync_status().at("connected") == false);
    // A till that never knew the member asks head office, which knows the card no more: queued.
    CHECK(buy_by_card(other, "OTHER-1", ada.card, 900).status == 202);

    proxy.set_fault({});
    REQUIRE(eventually([&] { return name_gone_at_till(till, member) && till.synced(); }));
    const auto problems = loyalty::test::audit_until_healed(hq, chain, {&till}, {member, kept});
    for (const std::string& problem : problems) FAIL_CHECK(problem);
    CHECK(loyalty::test::audit_until_healed(hq, chain, {&other}, {kept}).empty());
    // The offline sale is on the ledger at both ends, under the pseudonymous id.
    CHECK(hq.balance(member) > balance_before);
    CHECK(till.balance(member) == hq.balance(member));
    const json at_till = expect(till.api().request("GET", "/v1/members/" + member), 200);
    CHECK(at_till.at("name") == "");
    CHECK(at_till.at("cards").empty());
    CHECK(till.api().request("GET", "/v1/members?card=" + ada.card).status == 404);
    CHECK(till.api().request("GET", "/v1/members?phone=%2B" + bob.phone.substr(1)).status == 200);  // others stay
    CHECK(ReadOnlyDatabase(other.database()).rows("SELECT status FROM queued_purchases") ==
          std::vector<std::string>{"'queued'"});

    // Head office's export shows the erasure and holds nothing personal.
    const std::string exported = chain.hq_output("member export " + member + " --actor dpo");
    const json document = json::parse(exported);
    CHECK(document.at("member").at("name") == "");
    CHECK(document.at("erased_at").is_string());
    bool audited = false;
    for (const json& record : document.at("audit")) audited |= record.at("action") == "member.erase";
    CHECK(audited);
    for (const std::string& secret : ada.secrets()) CHECK(exported.find(secret) == std::string::npos);

    // Nothing of the member is left in the till's file, not even in freed pages.
    stop_gracefully(till);
    CHECK(secrets_in_files(till.database(), ada).empty());
    // The check sees what is there: card, name, e-mail. Never the phone number: a till keeps
    // its keyed hash (found by it above), head office the number the enrolment event carried.
    CHECK(secrets_in_files(till.database(), bob) == std::vector<std::string>{bob.card, bob.name, bob.email});
    CHECK(secrets_in_files(other.database(), bob) == std::vector<std::string>{bob.card, bob.name, bob.email});
    CHECK(json::parse(chain.hq_output("member export " + kept)).at("member").at("phone") == bob.phone);

    // The till that never knew the member keeps the queued sale while head office may still hear
    // of the card; queued_purchase_days (30) later it refuses the sale and forgets the card.
    other_clock.move_to(31 * day);
    REQUIRE(eventually(
        [&] {
            return ReadOnlyDatabase(other.database()).rows("SELECT status || ' ' || reason FROM queued_purchases") ==
                   std::vector<std::string>{"'refused card_unknown'"};
        },
        20s));
    // The log line follows the commit the query above saw, so it may still be on its way.
    const auto logged = other.process().wait_for_log_event("queued_purchases_refused", 10s);
    REQUIRE(logged);
    CHECK(logged->at("refused") == 1);
    stop_gracefully(other);
    CHECK(secrets_in_files(other.database(), ada).empty());
    ReadOnlyDatabase local(till.database());
    CHECK(local.rows("PRAGMA integrity_check") == std::vector<std::string>{"'ok'"});
}

TEST_CASE("a retention run at head office erases the member inactive too long, and the till follows",
          "[privacy][integration]") {
    Chain chain(json{{"retention_days", 365}});
    HeadOffice hq(chain);
    const TillClock clock(-400 * day);
    SyncedTill till(chain, "S01", "T1", clock.options());
    // Enrolled and last seen 400 days ago (by the till's clock), then one shopping today.
    const Person old = person(3), recent = person(4);
    const std::string inactive = enroll(till, old);
    expect(till.buy("OLD-1", inactive, 2'000), 201);
    clock.move_to(0);
    const std::string active = enroll(till, recent);
    expect(till.buy("NEW-1", active, 1'000), 201);
    REQUIRE(eventually([&] { return till.synced() && hq.balance(active) == till.balance(active); }));
    const std::int64_t balance = hq.balance(inactive);

    const json dry = json::parse(chain.hq_output("member retention --dry-run"));
    CHECK(dry.at("member_ids") == json::array({inactive}));
    CHECK(dry.at("erased") == 0);
    const json run = json::parse(chain.hq_output("member retention"));
    CHECK(run.at("member_ids") == json::array({inactive}));
    CHECK(run.at("erased") == 1);
    CHECK(json::parse(chain.hq_output("member retention")).at("erased") == 0);  // nobody new
    // The admin route runs the same, with the config's period.
    const json routed = expect(hq.admin().request("POST", "/v1/admin/retention-run", json{{"dry_run", true}}), 200);
    CHECK(routed.at("inactive") == 0);
    CHECK(routed.at("retention_days") == 365);
    const auto refused = hq.admin().request("POST", "/v1/admin/retention-run", json{{"as_of", "soon"}});
    CHECK(refused.status == 400);
    CHECK(refused.json().at("error").at("field") == "as_of");

    REQUIRE(eventually([&] { return name_gone_at_till(till, inactive); }));
    CHECK(expect(till.api().request("GET", "/v1/members/" + active), 200).at("name") == recent.name);
    const auto problems = loyalty::test::audit_until_healed(hq, chain, {&till}, {inactive, active});
    for (const std::string& problem : problems) FAIL_CHECK(problem);
    CHECK(hq.balance(inactive) == balance);
    const json exported = json::parse(chain.hq_output("member export " + inactive));
    CHECK(exported.at("erased_at").is_string());
    bool audited = false;
    for (const json& record : exported.at("audit"))
        audited |= record.at("action") == "member.erase" && record.at("actor") == "retention";
    CHECK(audited);
    // The retention run's log line at head office carries counts, never a member's data.
    const std::string hq_log = hq.stderr_text();
    CHECK(hq_log.find("\"retention_run\"") != std::string::npos);
    for (const std::string& secret : old.secrets()) CHECK(hq_log.find(secret) == std::string::npos);
    stop_gracefully(till);
    CHECK(secrets_in_files(till.database(), old).empty());
}

TEST_CASE("a till forgets the name and e-mail of members it has not seen for personal_data_days, head office keeps them",
          "[privacy][integration]") {
    Chain chain;
    HeadOffice hq(chain);
    const TillClock clock(-40 * day);
    TillOptions options = clock.options();
    options.settings = {{"personal_data_days", 30}, {"maintenance_interval_seconds", 1}};
    SyncedTill till(chain, "S01", "T1", options);
    const Person gone = person(5), regular = person(6);
    const std::string absent = enroll(till, gone);  // 40 days ago by the till's clock
    clock.move_to(0);
    const std::string present = enroll(till, regular);
    REQUIRE(eventually([&] { return till.synced() && hq.balance(absent) == 0; }));

    // The next maintenance run (every second here) forgets the member not seen for 40 days.
    REQUIRE(eventually([&] { return name_gone_at_till(till, absent); }, 20s));
    const json at_till = expect(till.api().request("GET", "/v1/members/" + absent), 200);
    CHECK(at_till.at("email") == "");
    CHECK(at_till.at("cards").size() == 1);  // still served by card
    CHECK(expect(till.api().request("GET", "/v1/members?card=" + gone.card), 200).at("member_id") == absent);
    CHECK(expect(till.api().request("GET", "/v1/members/" + present), 200).at("name") == regular.name);
    // The maintenance run logs after its commit, which the name's absence above has shown.
    CHECK(eventually([&] { return till.stderr_text().find("\"personal_data_pruned\":1") != std::string::npos; }, 10s));
    // Head office keeps the full record.
    const json exported = json::parse(chain.hq_output("member export " + absent));
    CHECK(exported.at("member").at("name") == gone.name);
    CHECK(exported.at("member").at("email") == gone.email);
    CHECK(exported.at("erased_at").is_null());
    REQUIRE(eventually([&] {  // the enrolment event too, once head office has acknowledged it
        return ReadOnlyDatabase(till.database())
                   .rows("SELECT count(*) FROM outbox WHERE instr(payload, ?) > 0", gone.name) ==
               std::vector<std::string>{"0"};
    }, 20s));
    stop_gracefully(till);
    ReadOnlyDatabase local(till.database());
    CHECK(local.rows("SELECT count(*) FROM members WHERE instr(name || ifnull(email, ''), ?) > 0", gone.email) ==
          std::vector<std::string>{"0"});
    CHECK(local.rows("SELECT count(*) FROM operations WHERE instr(request || response, ?) > 0", gone.name) ==
          std::vector<std::string>{"0"});
}
