// Cross-sell rules between basket items (categories or SKUs) by FP-growth (Han, Pei & Yin
// 2000): frequent itemsets without candidate generation, then rules X -> Y with
//   support = n(X u Y) / N, confidence = n(X u Y) / n(X), lift = confidence / (n(Y) / N).
//
// Right-hand side: arules (R) allows one item, mlxtend (Python) several. Both are offered:
// RightHandSide::single_item (the default) emits only |Y| = 1; multiple_items emits every
// non-empty proper subset of a frequent itemset as Y. Rules are ordered by lift, confidence,
// support (descending), then by their item indices, so the order is deterministic.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "loyalty/transactions.hpp"

namespace loyalty::analytics {

// Baskets in compressed rows: basket b holds items[offsets[b] .. offsets[b + 1]), each item
// once, ascending.
struct Baskets {
    std::vector<std::uint32_t> offsets{0};
    std::vector<Index> items;
    std::size_t size() const { return offsets.size() - 1; }
    void add(std::span<const Index> basket_items);  // sorts and de-duplicates a copy
};

enum class BasketItem : std::uint8_t { category, sku };
enum class RightHandSide : std::uint8_t { single_item, multiple_items };

// One basket per purchase occasion (member, day) in [from_day, to_day], holding the
// categories or SKUs of its lines with a positive amount. `order` is from
// order_by_member_and_day.
Baskets collect_baskets(const PurchaseHistory& history, std::span<const std::uint32_t> order,
                        BasketItem item, DayNumber from_day, DayNumber to_day);

struct FrequentItemset {
    std::vector<Index> items;  // ascending
    std::uint32_t count = 0;   // baskets containing all of them
};

// FP-growth: every itemset of 1..max_length items in at least min_support of the baskets.
std::vector<FrequentItemset> frequent_itemsets(const Baskets& baskets, double min_support,
                                               std::size_t max_length);

struct RuleConfig {
    double min_support = 0.01;
    double min_confidence = 0.2;
    std::size_t min_length = 2;  // items in antecedent and consequent together
    std::size_t max_length = 3;
    RightHandSide right_hand_side = RightHandSide::single_item;
    std::size_t max_rules = 100;  // the best ones; 0 keeps all
};

struct AssociationRule {
    std::vector<Index> antecedent;
    std::vector<Index> consequent;
    std::uint32_t count = 0;
    double support = 0.0;
    double confidence = 0.0;
    double lift = 0.0;
};

std::vector<AssociationRule> association_rules(const Baskets& baskets, const RuleConfig& config);

}  // namespace loyalty::analytics
