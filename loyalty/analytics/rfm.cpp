#include "loyalty/rfm.hpp"

#include <algorithm>
#include <numeric>

namespace loyalty::analytics {

std::vector<std::uint8_t> quintile_scores(std::span<const std::int64_t> values) {
    std::vector<std::uint32_t> order(values.size());
    std::iota(order.begin(), order.end(), 0u);
    std::sort(order.begin(), order.end(), [&](std::uint32_t left, std::uint32_t right) {
        return values[left] < values[right];
    });
    std::vector<std::uint8_t> scores(values.size());
    std::size_t tie_start = 0;
    for (std::size_t position = 0; position < order.size(); ++position) {
        if (values[order[position]] != values[order[tie_start]]) tie_start = position;
        scores[order[position]] = static_cast<std::uint8_t>(1 + 5 * tie_start / order.size());
    }
    return scores;
}

std::vector<RfmScore> score_rfm(const ActivityTable& activity, DayNumber as_of) {
    std::vector<RfmScore> scores(activity.members.size());
    std::vector<std::uint32_t> scored;
    std::vector<std::int64_t> recency_values, frequency_values, monetary_values;
    for (std::uint32_t member = 0; member < activity.members.size(); ++member) {
        const MemberActivity& facts = activity.members[member];
        if (facts.purchase_days == 0) continue;
        RfmScore& score = scores[member];
        score.recency_days = as_of - facts.last_day;
        score.frequency = facts.window_purchase_days;
        score.monetary_cents = facts.window_spend_cents;
        scored.push_back(member);
        recency_values.push_back(-std::int64_t{score.recency_days});  // recent is better
        frequency_values.push_back(score.frequency);
        monetary_values.push_back(score.monetary_cents);
    }
    const auto r_scores = quintile_scores(recency_values);
    const auto f_scores = quintile_scores(frequency_values);
    const auto m_scores = quintile_scores(monetary_values);
    for (std::size_t i = 0; i < scored.size(); ++i) {
        scores[scored[i]].r_score = r_scores[i];
        scores[scored[i]].f_score = f_scores[i];
        scores[scored[i]].m_score = m_scores[i];
    }
    return scores;
}

const std::string& rfm_segment(const RfmScore& score, const RfmConfig& config) {
    if (score.r_score == 0) return config.never_purchased;
    const int fm_score = (score.f_score + score.m_score + 1) / 2;
    return config.segment_grid[score.r_score - 1][fm_score - 1];
}

}  // namespace loyalty::analytics
