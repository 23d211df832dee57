// Issue 4's "done when": a real loyalty-hq and two real loyaltyd tills on loopback, with
// certificates made by the project's own tooling (loyalty-certs via `loyalty-hq till add`),
// driven through their HTTP APIs, killed and restarted.
//
#include "support/sync_chain.hpp"

#include <catch2/catch.hpp>
#include <optional>

namespace {

using loyalty::test::card_number;
using loyalty::test::Chain;
using loyalty::test::eventually;
using loyalty::test::expect;
using loyalty::test::HeadOffice;
using loyalty::test::SyncedTill;
using loyalty::test::TillOptions;
using nlohmann::json;

}  // namespace

TEST_CASE("a member enrolled at till A earns at till B and has one balance everywhere", "[sync][integration]") {
    Chain chain;
    HeadOffice hq(chain);
    SyncedTill a(chain, "S01", "T1"), b(chain, "S02", "T1");
    const json member = expect(a.api().request("POST", "/v1/members",
                                               json{{"card", card_number(1)}, {"name", "Ada"}}), 201);
    const std::string id = member.at("member_id");
    a.buy("A1", id, 10'000);
    // B must be on line too: offline, its lookup of an unknown card is a plain 404.
    REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
    // Till B has never seen the member: its lookup asks head office.
    const json at_b = expect(b.api().request("GET", "/v1/members?card=" + card_number(1)), 200);
    CHECK(at_b.at("member_id") == id);
    const json sold = b.buy("B1", id, 5'000).json();
    REQUIRE(sold.contains("points_earned"));
    REQUIRE(eventually([&] { return b.synced(); }));
    const auto everywhere = [&] {
        const auto at_hq = hq.balance(id);
        return at_hq > 0 && at_hq == a.balance(id) && at_hq == b.balance(id);
    };
    CHECK(eventually(everywhere));
}

TEST_CASE("events made while head office is down arrive exactly once, SIGKILL on either side loses nothing",
          "[sync][integration][crash]") {
    Chain chain;
    std::optional<HeadOffice> hq(std::in_place, chain);
    SyncedTill a(chain, "S01", "T1");
    const json member = expect(a.api().request("POST", "/v1/members",
                                               json{{"card", card_number(2)}, {"name", "Bo"}}), 201);
    const std::string id = member.at("member_id");
    REQUIRE(eventually([&] { return a.synced(); }));
    hq->kill();
    for (int i = 0; i < 30; ++i) a.buy("D" + std::to_string(i), id, 1'000);
    CHECK(eventually([&] { return a.sync_status().at("connected") == false; }));
    const std::int64_t expected = a.balance(id);
    hq->start();
    // Kill the till while it is shipping, and head office too, then let both come back.
    a.kill();
    a.start();
    hq->kill();
    hq->start();
    REQUIRE(eventually([&] { return a.synced(); }));
    CHECK(eventually([&] { return hq->balance(id) == expected; }));
    CHECK(a.balance(id) == expected);
}

TEST_CASE("an unregistered or revoked till is refused and keeps selling offline", "[sync][integration]") {
    Chain chain;
    HeadOffice hq(chain);
    TillOptions unregistered;
    unregistered.registered = false;
    SyncedTill stranger(chain, "S09", "T1", unregistered);
    CHECK(eventually([&] {
        const json sync = stranger.sync_status();
        return sync.at("last_error").is_string() &&
               sync.at("last_error").get<std::string>().find("unknown_till") != std::string::npos;
    }));
    CHECK(stranger.sync_status().at("connected") == false);
    CHECK(expect(stranger.api().request("POST", "/v1/members", json{{"card", card_number(3)}, {"name", "Cy"}}),
                 201).is_object());

    SyncedTill revoked(chain, "S01", "T2");
    REQUIRE(eventually([&] { return revoked.synced(); }));
    chain.revoke_till("S01-T2");
    revoked.kill();
    revoked.start();
    CHECK(eventually([&] {
        const json sync = revoked.sync_status();
        return sync.at("last_error").is_string() &&
               sync.at("last_error").get<std::string>().find("revoked") != std::string::npos;
    }));
}

TEST_CASE("concurrent offline redemptions at two tills are capped and the overdraft is reported",
          "[sync][integration]") {
    Chain chain;
    std::optional<HeadOffice> hq(std::in_place, chain);
    SyncedTill a(chain, "S01", "T1"), b(chain, "S02", "T1");
    const json member = expect(a.api().request("POST", "/v1/members",
                                               json{{"card", card_number(4)}, {"name", "Di"}}), 201);
    const std::string id = member.at("member_id");
    a.buy("E1", id, 150'000);  // earns points worth redeeming twice
    REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
    REQUIRE(expect(b.api().request("GET", "/v1/members?card=" + card_number(4)), 200).at("member_id") == id);
    REQUIRE(eventually([&] { return b.synced() && b.balance(id) == a.balance(id); }));
    const std::int64_t balance = a.balance(id);
    hq->kill();
    REQUIRE(eventually([&] { return a.sync_status().at("connected") == false && b.sync_status().at("connected") == false; }));
    // Offline, each till lets the member redeem at most the cap; both spend most of the balance.
    const std::int64_t spend = std::min<std::int64_t>(balance * 3 / 4, 2'000);
    const json at_a = a.buy("R1", id, 100'000, spend).json();
    const json at_b = b.buy("R2", id, 100'000, spend).json();
    INFO(at_a.dump() << "\n" << at_b.dump());
    CHECK(at_a.at("points_redeemed") == spend);
    CHECK(at_b.at("points_redeemed") == spend);
    hq->start();
    REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
    if (2 * spend > balance) {
        CHECK(eventually([&] {
            const json list = expect(hq->admin().request("GET", "/v1/overdrafts"), 200).at("overdrafts");
            return !list.empty() && list.at(0).at("member_id") == id;
        }));
    }
}

TEST_CASE("a sale for a card enrolled at an unsynced till is queued and recorded exactly once",
          "[sync][integration][queue]") {
    Chain chain;
    std::optional<HeadOffice> hq(std::in_place, chain);
    SyncedTill a(chain, "S01", "T1"), b(chain, "S02", "T1");
    REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
    hq->kill();
    // Head office is down: the member enrols at A, then shops at B, which has never heard of them.
    const json member = expect(a.api().request("POST", "/v1/members",
                                               json{{"card", card_number(5)}, {"name", "Eve"}}), 201);
    const std::string id = member.at("member_id");
    const json sale{{"txn_id", "B-Q1"},
                    {"card", card_number(5)},
                    {"lines", {{{"sku", "s"}, {"category", "food"}, {"quantity", 1}, {"unit_price_cents", 4'000}}}}};
    const json queued = expect(b.api().request("POST", "/v1/purchases", sale), 202);
    CHECK(queued.at("status") == "queued");
    CHECK(expect(b.api().request("POST", "/v1/purchases", sale), 200).at("status") == "queued");
    CHECK(expect(b.api().request("GET", "/v1/health"), 200).at("queued_purchases") == 1);

    hq->start();
    // A's enrolment reaches head office; B's retry learns the member and records the sale.
    REQUIRE(eventually([&] { return expect(b.api().request("GET", "/v1/health"), 200).at("queued_purchases") == 0; }));
    const json recorded = expect(b.api().request("POST", "/v1/purchases", sale), 200);
    CHECK(recorded.at("member_id") == id);
    const std::int64_t earned = recorded.at("points_earned");
    CHECK(earned > 0);
    REQUIRE(eventually([&] {
        return a.synced() && b.synced() && hq->balance(id) == earned && a.balance(id) == earned &&
               b.balance(id) == earned;
    }));
}

TEST_CASE("rules installed at a running head office reach every till, an older version is refused",
          "[sync][integration][rules]") {
    Chain chain;
    HeadOffice hq(chain);
    SyncedTill a(chain, "S01", "T1"), b(chain, "S02", "T1");
    json rules = expect(a.api().request("GET", "/v1/rules"), 200);
    const std::int64_t before = rules.at("version");
    rules["version"] = before + 1;
    rules["earn"]["points_per_unit"] = 3;
    loyalty::test::write_file(chain.dir() / "rules-new.json", rules.dump());
    const std::string install = "rules install " + (chain.dir() / "rules-new.json").string();
    REQUIRE(chain.hq_command(install) == 0);
    REQUIRE(chain.hq_command(install) == 0);  // installing the same version again is harmless
    REQUIRE(eventually([&] {
        return expect(a.api().request("GET", "/v1/rules"), 200).at("version") == before + 1 &&
               expect(b.api().request("GET", "/v1/rules"), 200).at("version") == before + 1;
    }));
    rules["version"] = before;  // older than what is installed now
    loyalty::test::write_file(chain.dir() / "rules-old.json", rules.dump());
    CHECK(chain.hq_command("rules install " + (chain.dir() / "rules-old.json").string()) != 0);
    CHECK(expect(a.api().request("GET", "/v1/rules"), 200).at("version") == before + 1);
}
