#include "loyalty/member_activity.hpp"

#include <algorithm>
#include <numeric>

#include "huge_pages.hpp"

namespace loyalty::analytics {

namespace {

// Line indices in line order when the lines are already grouped by member in the order of
// their indices, as an export or a ledger read by member is; otherwise a counting sort by
// member, which keeps line order within a member and is linear in the lines.
std::vector<std::uint32_t> order_by_member(const PurchaseHistory& history) {
    const std::vector<PurchaseLine>& lines = history.lines;
    std::vector<std::uint32_t> order;
    reserve_in_huge_pages(order, lines.size());
    order.resize(lines.size());
    const auto by_member = [](const PurchaseLine& left, const PurchaseLine& right) {
        return left.member < right.member;
    };
    if (std::is_sorted(lines.begin(), lines.end(), by_member)) {
        std::iota(order.begin(), order.end(), 0);
        return order;
    }
    std::vector<std::uint32_t> next(history.members.size() + 1, 0);
    for (const PurchaseLine& line : lines) ++next[line.member + 1];
    std::partial_sum(next.begin(), next.end(), next.begin());
    for (std::uint32_t i = 0; i < lines.size(); ++i) order[next[lines[i].member]++] = i;
    return order;
}

}  // namespace

std::vector<std::uint32_t> order_by_member_and_day(const PurchaseHistory& history) {
    const std::vector<PurchaseLine>& lines = history.lines;
    std::vector<std::uint32_t> order = order_by_member(history);
    const auto by_day = [&](std::uint32_t left, std::uint32_t right) {
        return lines[left].day < lines[right].day;
    };
    for (auto first = order.begin(); first != order.end();) {
        const Index member = lines[*first].member;
        const auto last = std::find_if(first, order.end(),
                                       [&](std::uint32_t line) { return lines[line].member != member; });
        // A member's lines are mostly in date order already: checking allocates nothing, where
        // a stable sort allocated its buffer for each of a million members.
        if (!std::is_sorted(first, last, by_day)) std::stable_sort(first, last, by_day);
        first = last;
    }
    return order;
}

namespace {

// Per-category or per-store sums for one member at a time: a dense array that is reset only
// where it was touched, so a member costs time in proportion to their own lines.
class SparseTotals {
public:
    explicit SparseTotals(std::size_t size) : totals_(size, 0) {}
    void add(Index key, std::int64_t amount) {
        if (key == no_index) return;
        if (totals_[key] == 0) touched_.push_back(key);
        totals_[key] += amount;
    }
    std::int64_t operator[](Index key) const { return totals_[key]; }
    // Touched keys by descending total, ties to the lower key.
    const std::vector<Index>& ranked() {
        std::sort(touched_.begin(), touched_.end(), [&](Index left, Index right) {
            return totals_[left] != totals_[right] ? totals_[left] > totals_[right] : left < right;
        });
        return touched_;
    }
    void clear() {
        for (const Index key : touched_) totals_[key] = 0;
        touched_.clear();
    }

private:
    std::vector<std::int64_t> totals_;
    std::vector<Index> touched_;
};

struct Windows {
    DayNumber as_of;
    DayNumber window_start;   // first day inside the RFM window
    DayNumber recent_start;   // first day of the recent growth period
    DayNumber earlier_start;  // first day of the period before it

    explicit Windows(const ActivityConfig& config)
        : as_of(config.as_of),
          window_start(config.as_of - config.window_days + 1),
          recent_start(config.as_of - config.growth_days + 1),
          earlier_start(config.as_of - 2 * config.growth_days + 1) {}
};

std::vector<Index> top_chain_categories(const PurchaseHistory& history, const Windows& windows,
                                        std::size_t count) {
    SparseTotals spend(history.categories.size());
    for (const PurchaseLine& line : history.lines) {
        if (line.day >= windows.window_start && line.day <= windows.as_of && line.amount_cents > 0) {
            spend.add(line.category, line.amount_cents);
        }
    }
    const auto& ranked = spend.ranked();
    return {ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(std::min(count, ranked.size()))};
}

class MemberScanner {
public:
    MemberScanner(const PurchaseHistory& history, const ActivityConfig& config, ActivityTable& table)
        : windows_(config), table_(table), categories_(history.categories.size()),
          stores_(history.stores.size()) {}

    void add(const PurchaseLine& line, MemberActivity& member) {
        if (line.day > windows_.as_of) {
            ++table_.lines_after_as_of;
            return;
        }
        add_occasion(line, member);
        if (member.purchase_days > 0 && line.day > member.first_day) {
            member.repeat_spend_cents += line.amount_cents;
        }
        if (line.day >= windows_.recent_start) {
            member.recent_spend_cents += line.amount_cents;
        } else if (line.day >= windows_.earlier_start) {
            member.earlier_spend_cents += line.amount_cents;
        }
        if (line.day >= windows_.window_start) add_to_window(line, member);
    }

    void finish(std::size_t member_index, MemberActivity& member) {
        const auto& ranked_categories = categories_.ranked();
        std::int64_t positive_spend = 0;
        for (const Index category : ranked_categories) positive_spend += categories_[category];
        for (std::size_t i = 0; i < max_top_categories && i < ranked_categories.size(); ++i) {
            member.top_categories[i] = ranked_categories[i];
            member.top_category_shares[i] = share(categories_[ranked_categories[i]], positive_spend);
        }
        const std::size_t tracked = table_.tracked_categories.size();
        for (std::size_t i = 0; i < tracked; ++i) {
            table_.tracked_shares[member_index * tracked + i] =
                share(categories_[table_.tracked_categories[i]], positive_spend);
        }
        const auto& ranked_stores = stores_.ranked();
        if (!ranked_stores.empty()) member.preferred_store = ranked_stores.front();
        categories_.clear();
        stores_.clear();
    }

private:
    static float share(std::int64_t part, std::int64_t whole) {
        return whole > 0 ? static_cast<float>(static_cast<double>(part) / static_cast<double>(whole)) : 0.0f;
    }

    void add_occasion(const PurchaseLine& line, MemberActivity& member) {
        if (line.amount_cents <= 0 || (member.purchase_days > 0 && line.day == member.last_day)) return;
        if (member.purchase_days == 0) member.first_day = line.day;
        member.last_day = line.day;
        ++member.purchase_days;
        if (line.day >= windows_.window_start) ++member.window_purchase_days;
    }

    void add_to_window(const PurchaseLine& line, MemberActivity& member) {
        member.window_spend_cents += line.amount_cents;
        table_.window_spend_cents += line.amount_cents;
        if (line.discount_cents > 0) member.discounted_spend_cents += line.amount_cents;
        if (line.amount_cents <= 0) return;
        member.window_items += line.quantity;
        categories_.add(line.category, line.amount_cents);
        stores_.add(line.store, line.amount_cents);
    }

    Windows windows_;
    ActivityTable& table_;
    SparseTotals categories_;
    SparseTotals stores_;
};

}  // namespace

ActivityTable summarise_members(const PurchaseHistory& history,
                                const std::vector<std::uint32_t>& order,
                                const ActivityConfig& config) {
    ActivityTable table;
    reserve_in_huge_pages(table.members, history.members.size());
    table.members.resize(history.members.size());
    table.tracked_categories = top_chain_categories(history, Windows(config), config.tracked_categories);
    table.tracked_shares.assign(table.members.size() * table.tracked_categories.size(), 0.0f);
    MemberScanner scanner(history, config, table);
    std::size_t position = 0;
    for (std::size_t member = 0; member < table.members.size(); ++member) {
        for (; position < order.size() && history.lines[order[position]].member == member; ++position) {
            scanner.add(history.lines[order[position]], table.members[member]);
        }
        scanner.finish(member, table.members[member]);
    }
    return table;
}

}  // namespace loyalty::analytics
