#include "loyalty/association_rules.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <sstream>

using namespace loyalty::analytics;

namespace {

enum Item : Index { bread, milk, diapers, beer, cola, eggs, item_count };

// The textbook market-basket example (Tan, Steinbach & Kumar).
Baskets textbook_baskets() {
    Baskets baskets;
    baskets.add(std::vector<Index>{bread, milk});
    baskets.add(std::vector<Index>{bread, diapers, beer, eggs});
    baskets.add(std::vector<Index>{milk, diapers, beer, cola});
    baskets.add(std::vector<Index>{bread, milk, diapers, beer});
    baskets.add(std::vector<Index>{bread, milk, diapers, cola});
    return baskets;
}

// Every itemset counted by brute force over all subsets of the items.
std::map<std::vector<Index>, std::uint32_t> brute_force(const Baskets& baskets, Index items,
                                                        std::uint32_t min_count, std::size_t max_length) {
    std::map<std::vector<Index>, std::uint32_t> found;
    for (std::uint32_t mask = 1; mask < (1u << items); ++mask) {
        std::vector<Index> set;
        for (Index i = 0; i < items; ++i) {
            if (mask >> i & 1u) set.push_back(i);
        }
        if (set.size() > max_length) continue;
        std::uint32_t count = 0;
        for (std::size_t b = 0; b < baskets.size(); ++b) {
            const auto begin = baskets.items.begin() + baskets.offsets[b];
            const auto end = baskets.items.begin() + baskets.offsets[b + 1];
            count += std::includes(begin, end, set.begin(), set.end());
        }
        if (count >= min_count) found[set] = count;
    }
    return found;
}

std::map<std::vector<Index>, std::uint32_t> as_map(const std::vector<FrequentItemset>& itemsets) {
    std::map<std::vector<Index>, std::uint32_t> map;
    for (const auto& itemset : itemsets) map[itemset.items] = itemset.count;
    return map;
}

const AssociationRule* find_rule(const std::vector<AssociationRule>& rules, std::vector<Index> antecedent,
                                 std::vector<Index> consequent) {
    for (const auto& rule : rules) {
        if (rule.antecedent == antecedent && rule.consequent == consequent) return &rule;
    }
    return nullptr;
}

}  // namespace

TEST_CASE("FP-growth finds exactly the frequent itemsets of the textbook example") {
    const Baskets baskets = textbook_baskets();
    const auto itemsets = frequent_itemsets(baskets, 0.4, 3);
    CHECK(as_map(itemsets) == brute_force(baskets, item_count, 2, 3));
    CHECK(as_map(itemsets).at({bread, milk, diapers}) == 2);
    CHECK(as_map(frequent_itemsets(baskets, 0.4, 1)).size() == 5);  // eggs is infrequent
}

TEST_CASE("FP-growth agrees with brute force on random baskets") {
    std::mt19937_64 engine(5);
    Baskets baskets;
    for (int b = 0; b < 400; ++b) {
        std::vector<Index> items;
        for (Index i = 0; i < 9; ++i) {
            if (engine() % 100 < 20 + 5 * i) items.push_back(i);
        }
        baskets.add(items);
    }
    CHECK(as_map(frequent_itemsets(baskets, 0.05, 4)) == brute_force(baskets, 9, 20, 4));
}

TEST_CASE("Rules carry support, confidence and lift, single-item right-hand side by default") {
    RuleConfig config;
    config.min_support = 0.4;
    config.min_confidence = 0.6;
    const auto rules = association_rules(textbook_baskets(), config);
    const AssociationRule* beer_diapers = find_rule(rules, {beer}, {diapers});
    REQUIRE(beer_diapers);
    CHECK(beer_diapers->support == Approx(0.6));
    CHECK(beer_diapers->confidence == Approx(1.0));
    CHECK(beer_diapers->lift == Approx(1.25));
    const AssociationRule* diapers_beer = find_rule(rules, {diapers}, {beer});
    REQUIRE(diapers_beer);
    CHECK(diapers_beer->confidence == Approx(0.75));
    for (const auto& rule : rules) {
        CHECK(rule.consequent.size() == 1);
        CHECK(rule.confidence >= 0.6);
    }
    CHECK(rules.front().lift >= rules.back().lift);
    CHECK_FALSE(find_rule(rules, {beer}, {diapers, milk}));
}

TEST_CASE("Multiple-item right-hand sides when asked for") {
    RuleConfig config;
    config.min_support = 0.4;
    config.min_confidence = 0.6;
    config.right_hand_side = RightHandSide::multiple_items;
    const auto rules = association_rules(textbook_baskets(), config);
    const AssociationRule* rule = find_rule(rules, {beer}, {milk, diapers});
    REQUIRE(rule);
    CHECK(rule->confidence == Approx(2.0 / 3.0));
    CHECK(rule->lift == Approx((2.0 / 3.0) / 0.6));
    config.max_rules = 2;
    CHECK(association_rules(textbook_baskets(), config).size() == 2);
}

TEST_CASE("Baskets are purchase occasions: one member on one day, positive lines only") {
    std::istringstream csv(
        "member_id,date,amount,category\n"
        "A,2024-01-01,1.00,Dairy\nB,2024-01-01,1.00,Fruit\nA,2024-01-01,2.00,Bakery\n"
        "A,2024-01-02,1.00,Dairy\nA,2024-01-02,-1.00,Meat\nA,2024-01-01,1.00,Dairy\n"
        "A,2023-12-01,1.00,Meat\n");
    const auto loaded = parse_transactions_csv(csv);
    REQUIRE(loaded.errors.empty());
    const auto& history = loaded.history;
    const std::vector<std::uint32_t> order = {6, 0, 2, 5, 3, 4, 1};  // by member, then day
    const Baskets baskets = collect_baskets(history, order, BasketItem::category, *parse_day("2024-01-01"),
                                            *parse_day("2024-12-31"));
    REQUIRE(baskets.size() == 3);
    const Index dairy = history.categories.find("Dairy"), bakery = history.categories.find("Bakery");
    CHECK(std::vector<Index>(baskets.items.begin(), baskets.items.begin() + baskets.offsets[1]) ==
          std::vector<Index>{std::min(dairy, bakery), std::max(dairy, bakery)});
    CHECK(baskets.offsets[2] - baskets.offsets[1] == 1);  // the return is not bought
}
