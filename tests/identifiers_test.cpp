#include "loyalty/identifiers.hpp"

#include <catch2/catch.hpp>

using namespace loyalty;

TEST_CASE("luhn_valid accepts the textbook numbers and refuses one-digit slips") {
    CHECK(luhn_valid("79927398713"));
    CHECK(luhn_valid("4111111111111111"));
    CHECK_FALSE(luhn_valid("79927398710"));
    CHECK_FALSE(luhn_valid("4111111111111112"));
    CHECK_FALSE(luhn_valid(""));
    CHECK_FALSE(luhn_valid("7992739871a"));
    // A transposition of adjacent digits (the commonest typing slip) is caught.
    CHECK_FALSE(luhn_valid("79927398731"));
}

TEST_CASE("luhn_check_digit makes every payload valid, and only that digit does") {
    for (const std::string payload : {"7992739871", "411111111111111", "0", "600100000000042"}) {
        const char digit = luhn_check_digit(payload);
        CHECK(luhn_valid(payload + digit));
        int valid_digits = 0;
        for (char d = '0'; d <= '9'; ++d) valid_digits += luhn_valid(payload + d);
        CHECK(valid_digits == 1);
    }
    CHECK(luhn_check_digit("7992739871") == '3');
}

TEST_CASE("normalise_card strips separators and checks length and check digit") {
    CHECK(normalise_card("4111 1111-1111 1111").value() == "4111111111111111");
    CHECK(normalise_card("79927398713").value() == "79927398713");

    auto short_card = normalise_card("1234567", "lost_card");
    REQUIRE_FALSE(short_card.ok());
    CHECK(short_card.error().kind == ErrorKind::invalid);
    CHECK(short_card.error().field == "lost_card");

    CHECK_FALSE(normalise_card(std::string(20, '0')).ok());
    CHECK_FALSE(normalise_card("4111x11111111111").ok());
    CHECK_FALSE(normalise_card("").ok());

    auto mistyped = normalise_card("4111 1111 1111 1112");
    REQUIRE_FALSE(mistyped.ok());
    CHECK(mistyped.error().code == "invalid_card");
    CHECK(mistyped.error().field == "card");
}

TEST_CASE("normalise_phone keeps digits and an international prefix") {
    CHECK(normalise_phone("+44 (20) 7946-0958").value() == "+442079460958");
    CHECK(normalise_phone("0044 20 7946 0958").value() == "+442079460958");
    CHECK(normalise_phone("020.7946.0958").value() == "02079460958");
    CHECK_FALSE(normalise_phone("123456").ok());                // too short
    CHECK_FALSE(normalise_phone("+1234567890123456").ok());     // 16 digits
    CHECK_FALSE(normalise_phone("call me").ok());
    auto refused = normalise_phone("12ab567890", "contact");
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().field == "contact");
}
