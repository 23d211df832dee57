// One scan of a purchase history into dense per-member arrays: the facts every segmentation
// computation starts from (purchase days, spend in the window, category and store habits).
//
// Members are the history's dense indices 0..n-1. A purchase occasion is a day on which the
// member bought something (at least one line with a positive amount): several receipts on one
// day count once, the BG/NBD convention. Returns lower spend but do not make an occasion.
// Lines after as_of are ignored and counted. Pure function; thread-safe on distinct inputs.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "loyalty/transactions.hpp"

namespace loyalty::analytics {

struct ActivityConfig {
    DayNumber as_of = 0;             // the last day that counts
    std::int32_t window_days = 365;  // RFM frequency, monetary and the habits use this window
    std::int32_t growth_days = 90;   // spend in the last growth_days vs the growth_days before
    std::size_t tracked_categories = 5;  // chain's top categories whose shares feed clustering
};

constexpr std::size_t max_top_categories = 3;

struct MemberActivity {
    std::uint32_t purchase_days = 0;  // distinct purchase days up to as_of (whole history)
    DayNumber first_day = 0;          // first and last purchase day; valid if purchase_days > 0
    DayNumber last_day = 0;
    std::uint32_t window_purchase_days = 0;
    std::int64_t window_spend_cents = 0;      // net: returns subtract
    std::int64_t repeat_spend_cents = 0;      // net spend on purchase days after the first
    std::int64_t recent_spend_cents = 0;      // last growth_days
    std::int64_t earlier_spend_cents = 0;     // the growth_days before those
    std::int64_t discounted_spend_cents = 0;  // window spend on lines carrying a discount
    std::uint64_t window_items = 0;           // quantities bought in the window
    Index preferred_store = no_index;         // most window spend; ties to the lower index
    // Categories by descending share of window spend (ties to the lower index), no_index
    // padded; shares are of positive window spend.
    std::array<Index, max_top_categories> top_categories{no_index, no_index, no_index};
    std::array<float, max_top_categories> top_category_shares{};
};

struct ActivityTable {
    std::vector<MemberActivity> members;  // indexed by the history's member index
    std::vector<Index> tracked_categories;  // the chain's top categories by window spend
    std::vector<float> tracked_shares;  // members.size() x tracked_categories.size(), row-major
    std::int64_t window_spend_cents = 0;  // whole chain
    std::size_t lines_after_as_of = 0;
};

// Line indices sorted by (member, day, line order): each member's lines are contiguous.
std::vector<std::uint32_t> order_by_member_and_day(const PurchaseHistory& history);

ActivityTable summarise_members(const PurchaseHistory& history,
                                const std::vector<std::uint32_t>& order,
                                const ActivityConfig& config);

}  // namespace loyalty::analytics
