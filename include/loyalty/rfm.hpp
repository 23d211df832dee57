// RFM: recency, frequency and monetary value per member, quintile scores and named segments.
//
// Recency is days from the last purchase to as_of (whole history); frequency is the number of
// purchase days in the window; monetary is net spend in the window (cents).
//
// Quintile tie rule (deterministic, independent of input order): scored members are sorted by
// value; a member's score is 1 + floor(5 * p / n) where p is the 0-based position of the first
// member holding the same value (pandas rank(method="min")). Equal values always share a score,
// so heavy ties can leave a score unused. Higher frequency and monetary score higher; a more
// recent purchase (smaller recency) scores higher. Only members with at least one purchase are
// scored; the others get scores 0 and the never_purchased segment.
//
// Segment names come from a 5x5 grid indexed by the recency score and the "FM" score
// round_half_up((F + M) / 2), which is configurable. Pure functions; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "loyalty/member_activity.hpp"

namespace loyalty::analytics {

struct RfmConfig {
    // segment_grid[recency_score - 1][fm_score - 1]
    std::array<std::array<std::string, 5>, 5> segment_grid = {{
        {"Lost", "Lost", "Hibernating", "At Risk", "Can't Lose Them"},
        {"Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"},
        {"About to Sleep", "About to Sleep", "Need Attention", "Loyal", "Loyal"},
        {"Promising", "Potential Loyalist", "Potential Loyalist", "Loyal", "Champions"},
        {"New", "Potential Loyalist", "Potential Loyalist", "Champions", "Champions"},
    }};
    std::string never_purchased = "Never Purchased";
};

struct RfmScore {
    std::int32_t recency_days = -1;  // -1 when the member never purchased
    std::uint32_t frequency = 0;      // purchase days in the window
    std::int64_t monetary_cents = 0;  // net window spend
    std::uint8_t r_score = 0;         // 1..5, 0 when never purchased
    std::uint8_t f_score = 0;
    std::uint8_t m_score = 0;
};

// Scores 1..5 for values, higher values higher, by the tie rule above.
std::vector<std::uint8_t> quintile_scores(std::span<const std::int64_t> values);

std::vector<RfmScore> score_rfm(const ActivityTable& activity, DayNumber as_of);

// The segment name for a score (never_purchased for scores of 0).
const std::string& rfm_segment(const RfmScore& score, const RfmConfig& config);

}  // namespace loyalty::analytics
