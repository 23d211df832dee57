#include "loyalty/association_rules.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

namespace loyalty::analytics {

void Baskets::add(std::span<const Index> basket_items) {
    const auto start = static_cast<std::ptrdiff_t>(items.size());
    items.insert(items.end(), basket_items.begin(), basket_items.end());
    std::sort(items.begin() + start, items.end());
    items.erase(std::unique(items.begin() + start, items.end()), items.end());
    offsets.push_back(static_cast<std::uint32_t>(items.size()));
}

Baskets collect_baskets(const PurchaseHistory& history, std::span<const std::uint32_t> order,
                        BasketItem item, DayNumber from_day, DayNumber to_day) {
    Baskets baskets;
    std::vector<Index> current;
    const PurchaseLine* previous = nullptr;
    const auto flush = [&] {
        if (!current.empty()) baskets.add(current);
        current.clear();
    };
    for (const std::uint32_t line_index : order) {
        const PurchaseLine& line = history.lines[line_index];
        if (line.day < from_day || line.day > to_day || line.amount_cents <= 0) continue;
        if (previous && (previous->member != line.member || previous->day != line.day)) flush();
        previous = &line;
        const Index value = item == BasketItem::category ? line.category : line.sku;
        if (value != no_index) current.push_back(value);
    }
    flush();
    return baskets;
}

namespace {

constexpr std::uint32_t no_node = std::numeric_limits<std::uint32_t>::max();

// An FP-tree over item ranks (0 = the most frequent item), with a per-rank chain through all
// nodes of that rank. Transactions are inserted with their ranks ascending, so frequent items
// sit near the root and shared prefixes compress.
class FpTree {
public:
    explicit FpTree(std::size_t ranks) : chains_(ranks, no_node) { nodes_.push_back({0, 0, no_node, no_node, no_node, no_node}); }

    void insert(std::span<const std::uint32_t> ranks, std::uint32_t count) {
        std::uint32_t parent = 0;
        for (const std::uint32_t rank : ranks) parent = child(parent, rank, count);
    }

    std::size_t ranks() const { return chains_.size(); }

    template <typename Visit>  // visit(node_count, path ranks from the node's parent upwards)
    void for_each_path(std::uint32_t rank, Visit&& visit) const {
        for (std::uint32_t node = chains_[rank]; node != no_node; node = nodes_[node].next_same_rank) {
            path_.clear();
            for (std::uint32_t up = nodes_[node].parent; up != 0; up = nodes_[up].parent) path_.push_back(nodes_[up].rank);
            visit(nodes_[node].count, std::span<const std::uint32_t>(path_));
        }
    }

    std::uint32_t support(std::uint32_t rank) const {
        std::uint32_t total = 0;
        for (std::uint32_t node = chains_[rank]; node != no_node; node = nodes_[node].next_same_rank) total += nodes_[node].count;
        return total;
    }

private:
    struct Node {
        std::uint32_t rank, count, parent, first_child, next_sibling, next_same_rank;
    };

    std::uint32_t child(std::uint32_t parent, std::uint32_t rank, std::uint32_t count) {
        std::uint32_t node = nodes_[parent].first_child;
        while (node != no_node && nodes_[node].rank != rank) node = nodes_[node].next_sibling;
        if (node == no_node) {
            node = static_cast<std::uint32_t>(nodes_.size());
            nodes_.push_back({rank, 0, parent, no_node, nodes_[parent].first_child, chains_[rank]});
            nodes_[parent].first_child = node;
            chains_[rank] = node;
        }
        nodes_[node].count += count;
        return node;
    }

    std::vector<Node> nodes_;
    std::vector<std::uint32_t> chains_;
    mutable std::vector<std::uint32_t> path_;
};

class FpGrowth {
public:
    FpGrowth(std::vector<Index> items_by_rank, std::uint32_t min_count, std::size_t max_length,
             std::vector<FrequentItemset>& output)
        : items_by_rank_(std::move(items_by_rank)), min_count_(min_count), max_length_(max_length), output_(output) {}

    void mine(const FpTree& tree) {
        for (std::uint32_t rank = static_cast<std::uint32_t>(tree.ranks()); rank-- > 0;) {
            const std::uint32_t support = tree.support(rank);
            if (support < min_count_) continue;
            suffix_.push_back(rank);
            emit(support);
            if (suffix_.size() < max_length_) mine(conditional_tree(tree, rank));
            suffix_.pop_back();
        }
    }

private:
    // The tree of the prefixes leading to `rank`, keeping only items still frequent there.
    FpTree conditional_tree(const FpTree& tree, std::uint32_t rank) const {
        std::vector<std::uint32_t> counts(rank, 0);
        tree.for_each_path(rank, [&](std::uint32_t count, std::span<const std::uint32_t> path) {
            for (const std::uint32_t item : path) counts[item] += count;
        });
        FpTree conditional(rank);
        std::vector<std::uint32_t> kept;
        tree.for_each_path(rank, [&](std::uint32_t count, std::span<const std::uint32_t> path) {
            kept.clear();
            for (auto item = path.rbegin(); item != path.rend(); ++item) {
                if (counts[*item] >= min_count_) kept.push_back(*item);
            }
            if (!kept.empty()) conditional.insert(kept, count);
        });
        return conditional;
    }

    void emit(std::uint32_t support) {
        FrequentItemset itemset{{}, support};
        for (const std::uint32_t rank : suffix_) itemset.items.push_back(items_by_rank_[rank]);
        std::sort(itemset.items.begin(), itemset.items.end());
        output_.push_back(std::move(itemset));
    }

    std::vector<Index> items_by_rank_;
    std::uint32_t min_count_;
    std::size_t max_length_;
    std::vector<FrequentItemset>& output_;
    std::vector<std::uint32_t> suffix_;
};

std::uint32_t min_count_for(const Baskets& baskets, double min_support) {
    return std::max<std::uint32_t>(1, static_cast<std::uint32_t>(std::ceil(min_support * static_cast<double>(baskets.size()))));
}

}  // namespace

std::vector<FrequentItemset> frequent_itemsets(const Baskets& baskets, double min_support, std::size_t max_length) {
    const std::uint32_t min_count = min_count_for(baskets, min_support);
    std::vector<std::uint32_t> counts;
    for (const Index item : baskets.items) {
        if (item >= counts.size()) counts.resize(item + 1, 0);
        ++counts[item];
    }
    std::vector<Index> items_by_rank;
    for (Index item = 0; item < counts.size(); ++item) {
        if (counts[item] >= min_count) items_by_rank.push_back(item);
    }
    std::stable_sort(items_by_rank.begin(), items_by_rank.end(),
                     [&](Index left, Index right) { return counts[left] > counts[right]; });
    std::vector<std::uint32_t> rank_of(counts.size(), no_node);
    for (std::uint32_t rank = 0; rank < items_by_rank.size(); ++rank) rank_of[items_by_rank[rank]] = rank;

    FpTree tree(items_by_rank.size());
    std::vector<std::uint32_t> ranks;
    for (std::size_t b = 0; b < baskets.size(); ++b) {
        ranks.clear();
        for (std::uint32_t i = baskets.offsets[b]; i < baskets.offsets[b + 1]; ++i) {
            if (rank_of[baskets.items[i]] != no_node) ranks.push_back(rank_of[baskets.items[i]]);
        }
        std::sort(ranks.begin(), ranks.end());
        if (!ranks.empty()) tree.insert(ranks, 1);
    }
    std::vector<FrequentItemset> itemsets;
    if (max_length > 0) FpGrowth(std::move(items_by_rank), min_count, max_length, itemsets).mine(tree);
    return itemsets;
}

namespace {

bool better_rule(const AssociationRule& left, const AssociationRule& right) {
    if (left.lift != right.lift) return left.lift > right.lift;
    if (left.confidence != right.confidence) return left.confidence > right.confidence;
    if (left.count != right.count) return left.count > right.count;
    if (left.antecedent != right.antecedent) return left.antecedent < right.antecedent;
    return left.consequent < right.consequent;
}

}  // namespace

std::vector<AssociationRule> association_rules(const Baskets& baskets, const RuleConfig& config) {
    std::vector<AssociationRule> rules;
    if (baskets.size() == 0) return rules;
    const auto itemsets = frequent_itemsets(baskets, config.min_support, config.max_length);
    std::map<std::vector<Index>, std::uint32_t> counts;  // every subset of a frequent set is here
    for (const auto& itemset : itemsets) counts.emplace(itemset.items, itemset.count);
    const auto total = static_cast<double>(baskets.size());
    for (const auto& itemset : itemsets) {
        const std::size_t length = itemset.items.size();
        if (length < std::max<std::size_t>(2, config.min_length)) continue;
        for (std::uint32_t mask = 1; mask + 1 < (1u << length); ++mask) {
            AssociationRule rule;
            for (std::size_t i = 0; i < length; ++i) {
                (mask >> i & 1u ? rule.consequent : rule.antecedent).push_back(itemset.items[i]);
            }
            if (config.right_hand_side == RightHandSide::single_item && rule.consequent.size() != 1) continue;
            rule.count = itemset.count;
            rule.support = itemset.count / total;
            rule.confidence = static_cast<double>(itemset.count) / counts.at(rule.antecedent);
            rule.lift = rule.confidence / (counts.at(rule.consequent) / total);
            if (rule.confidence >= config.min_confidence) rules.push_back(std::move(rule));
        }
    }
    std::sort(rules.begin(), rules.end(), better_rule);
    if (config.max_rules > 0 && rules.size() > config.max_rules) rules.resize(config.max_rules);
    return rules;
}

}  // namespace loyalty::analytics
