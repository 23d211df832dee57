#include "loyalty/purchase.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/core_fixture.hpp"

using namespace loyalty;
using nlohmann::json;

namespace {

json purchase_body() {
    return {{"txn_id", "T-1"},
            {"card", testing::valid_card(1)},
            {"lines", json::array({{{"sku", "A"}, {"category", "food"}, {"quantity", 1},
                                    {"unit_price_cents", 100}}})}};
}

}  // namespace

TEST_CASE("a purchase request parses with a normalised card") {
    json body = purchase_body();
    const std::string card = testing::valid_card(1);
    body["card"] = card.substr(0, 4) + " " + card.substr(4, 4) + "-" + card.substr(8);
    body["redeem_points"] = 300;
    auto request = parse_purchase_request(body);
    REQUIRE(request.ok());
    CHECK(request->txn_id == "T-1");
    CHECK(request->member.card == card);
    CHECK(request->redeem_points == 300);
    CHECK(request->lines.size() == 1);
}

TEST_CASE("purchase requests are refused with the field named") {
    const auto field_of = [](json body) {
        auto request = parse_purchase_request(body);
        return request.ok() ? std::string("(accepted)") : request.error().field;
    };
    json body = purchase_body();
    body.erase("txn_id");
    CHECK(field_of(body) == "txn_id");
    body = purchase_body();
    body["txn_id"] = "";
    CHECK(field_of(body) == "txn_id");
    body["txn_id"] = std::string(max_operation_id_length + 1, 'x');
    CHECK(field_of(body) == "txn_id");
    body = purchase_body();
    body["redeem_points"] = -100;
    CHECK(field_of(body) == "redeem_points");
    body["redeem_points"] = std::numeric_limits<std::uint64_t>::max();
    CHECK(field_of(body) == "redeem_points");
    body = purchase_body();
    body["member_id"] = "S01-T1-M1";
    CHECK(field_of(body) == "member_id");  // two ways to name the member
    body = purchase_body();
    body.erase("card");
    CHECK(field_of(body) == "member_id");  // none
    body = purchase_body();
    std::string mistyped = testing::valid_card(1);
    mistyped.back() = mistyped.back() == '9' ? '0' : static_cast<char>(mistyped.back() + 1);
    body["card"] = mistyped;
    CHECK(field_of(body) == "card");
    body = purchase_body();
    body["lines"][0]["quantity"] = 0;
    CHECK(field_of(body) == "lines[0].quantity");
    body = purchase_body();
    body.erase("lines");
    CHECK(field_of(body) == "lines");
    CHECK(field_of(json::array()) == "body");
}

TEST_CASE("a quote may omit the member but cannot redeem without one") {
    json body = purchase_body();
    body.erase("txn_id");
    body.erase("card");
    auto anonymous = parse_quote_request(body);
    REQUIRE(anonymous.ok());
    CHECK(anonymous->member.member_id.empty());
    body["redeem_points"] = 100;
    auto refused = parse_quote_request(body);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().field == "member_id");
}

TEST_CASE("return requests name their lines and refuse zero quantities") {
    auto whole = parse_return_request({{"return_id", "R-1"}, {"original_txn_id", "T-1"}});
    REQUIRE(whole.ok());
    CHECK(whole->lines.empty());

    auto some = parse_return_request({{"return_id", "R-1"}, {"original_txn_id", "T-1"},
                                      {"lines", json::array({{{"sku", "A"}, {"quantity", 2}}})}});
    REQUIRE(some.ok());
    REQUIRE(some->lines.size() == 1);
    CHECK(some->lines[0].quantity == 2);

    auto zero = parse_return_request({{"return_id", "R-1"}, {"original_txn_id", "T-1"},
                                      {"lines", json::array({{{"sku", "A"}, {"quantity", 0}}})}});
    REQUIRE_FALSE(zero.ok());
    CHECK(zero.error().field == "lines[0].quantity");

    auto no_original = parse_return_request({{"return_id", "R-1"}});
    REQUIRE_FALSE(no_original.ok());
    CHECK(no_original.error().field == "original_txn_id");
}
