// Issue 12's online orders end to end: a real loyalty-hq with its web channel and a real till
// syncing over mutual TLS. The shop's order earns with the chain's rules, spends points the till
// earned, shows the same balance at head office and at the member's till, and survives a
// SIGKILL of head office right after it was acknowledged: nothing lost, nothing doubled.
#include <catch2/catch.hpp>

#include "support/sync_chain.hpp"

using namespace loyalty;
using namespace loyalty::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* shop_token = "shop-token-0123456789";

json online_settings(std::uint16_t port) {
    return {{"online", {{"listen", "127.0.0.1:" + std::to_string(port)}, {"token", shop_token}}}};
}

json order(const std::string& txn_id, const std::string& member_id, std::int64_t cents, std::int64_t redeem) {
    return {{"txn_id", txn_id},
            {"member_id", member_id},
            {"lines", {{{"sku", "basket"}, {"category", "fresh"}, {"quantity", 1}, {"unit_price_cents", cents}}}},
            {"redeem_points", redeem}};
}

}  // namespace

TEST_CASE("an online order counts once at head office and at the member's till, across a SIGKILL of head office",
          "[hq_online_e2e]") {
    const std::uint16_t online_port = free_port();
    Chain chain(online_settings(online_port));
    chain.add_till("S01", "T1");
    HeadOffice hq(chain);
    hq.start();
    SyncedTill till(chain, "S01", "T1");
    till.start();
    std::optional<http::HttpClient> shop;  // the shop's connection, opened again after the kill
    shop.emplace("127.0.0.1", online_port, http::ClientOptions{std::string(shop_token), 20s});

    const std::string member = till.enroll(1);
    expect(till.buy("T-1", member, 30000), 201);  // 300 points, food
    REQUIRE(eventually([&] { return hq.balance(member) == 300; }));

    const json first = expect(shop->request("POST", "/v1/online/purchases", order("W-1", member, 10000, 200)), 201);
    CHECK(first["points_redeemed"] == 200);
    CHECK(first["points_earned"].get<std::int64_t>() > 0);
    const std::int64_t after = 300 - 200 + first["points_earned"].get<std::int64_t>();
    CHECK(first["points"] == after);

    hq.kill();  // right after the order was acknowledged
    hq.start();
    shop.emplace("127.0.0.1", online_port, http::ClientOptions{std::string(shop_token), 20s});
    const auto replay = shop->request("POST", "/v1/online/purchases", order("W-1", member, 10000, 200));
    CHECK(replay.status == 200);
    CHECK(json::parse(replay.body) == first);
    CHECK(hq.balance(member) == after);
    CHECK(hq.till("WEB-SHOP")["last_acked_seq"] == 1);
    REQUIRE(eventually([&] { return till.balance(member) == after; }));

    // What is left, not what the till's earn once was, is what the shop may spend.
    const auto greedy = shop->request("POST", "/v1/online/purchases", order("W-2", member, 100000, after + 100));
    CHECK(greedy.status == 422);
    CHECK(expect(shop->request("GET", "/v1/online/members/" + member), 200)["balance"] == after);
    CHECK(audit_until_healed(hq, chain, {&till}, {member}).empty());
}
