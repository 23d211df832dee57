#include "loyalty/member_activity.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace loyalty::analytics;

TEST_CASE("One scan turns a hand-made history into per-member facts") {
    // A buys twice on 1 Dec (one occasion), once on 21 Dec and returns on 25 Dec; B bought
    // once, outside the window; C only has a line after as-of.
    std::istringstream csv(
        "member_id,date,amount,category,store,quantity,discount\n"
        "A,2024-12-21,20.00,Dairy,South,1,\n"
        "B,2023-06-01,50.00,Meat,North,1,\n"
        "A,2024-12-01,10.00,Dairy,North,2,1.00\n"
        "C,2025-01-02,9.00,Meat,North,1,\n"
        "A,2024-12-25,-5.00,Dairy,South,1,\n"
        "A,2024-12-01,5.00,Bakery,North,1,\n");
    const auto loaded = parse_transactions_csv(csv);
    REQUIRE(loaded.errors.empty());
    const PurchaseHistory& history = loaded.history;
    const DayNumber as_of = *parse_day("2024-12-31");
    const auto order = order_by_member_and_day(history);
    REQUIRE(order.size() == 6);
    CHECK(order == std::vector<std::uint32_t>{2, 5, 0, 4, 1, 3});

    const ActivityTable table = summarise_members(history, order, {as_of, 365, 90, 1});
    const MemberActivity& a = table.members[history.members.find("A")];
    CHECK(a.purchase_days == 2);
    CHECK(a.first_day == *parse_day("2024-12-01"));
    CHECK(a.last_day == *parse_day("2024-12-21"));
    CHECK(a.window_purchase_days == 2);
    CHECK(a.window_spend_cents == 3000);
    CHECK(a.repeat_spend_cents == 1500);
    CHECK(a.recent_spend_cents == 3000);
    CHECK(a.earlier_spend_cents == 0);
    CHECK(a.discounted_spend_cents == 1000);
    CHECK(a.window_items == 4);
    CHECK(history.stores.name(a.preferred_store) == "South");
    CHECK(history.categories.name(a.top_categories[0]) == "Dairy");
    CHECK(a.top_category_shares[0] == Approx(30.0 / 35.0));
    CHECK(history.categories.name(a.top_categories[1]) == "Bakery");
    CHECK(a.top_categories[2] == no_index);

    const MemberActivity& b = table.members[history.members.find("B")];
    CHECK(b.purchase_days == 1);
    CHECK(b.window_purchase_days == 0);
    CHECK(b.window_spend_cents == 0);
    CHECK(b.preferred_store == no_index);

    CHECK(table.members[history.members.find("C")].purchase_days == 0);
    CHECK(table.lines_after_as_of == 1);
    CHECK(table.window_spend_cents == 3000);
    REQUIRE(table.tracked_categories.size() == 1);
    CHECK(history.categories.name(table.tracked_categories[0]) == "Dairy");
    CHECK(table.tracked_shares[history.members.find("A")] == Approx(30.0 / 35.0));
}

TEST_CASE("Lines already grouped by member are ordered by day, equal days in line order") {
    std::istringstream csv(
        "member_id,date,amount\n"
        "A,2024-12-02,1.00\n"
        "A,2024-12-01,2.00\n"
        "A,2024-12-02,3.00\n"
        "B,2024-12-01,4.00\n"
        "B,2024-12-03,5.00\n"
        "C,2024-12-05,6.00\n");
    const auto loaded = parse_transactions_csv(csv);
    REQUIRE(loaded.errors.empty());
    CHECK(order_by_member_and_day(loaded.history) == std::vector<std::uint32_t>{1, 0, 2, 3, 4, 5});
}
