#include "loyalty/rfm.hpp"

#include <catch2/catch.hpp>

using namespace loyalty::analytics;

TEST_CASE("Quintile scores split distinct values into fifths") {
    const std::vector<std::int64_t> values = {50, 10, 40, 20, 30};
    CHECK(quintile_scores(values) == std::vector<std::uint8_t>{5, 1, 4, 2, 3});
}

TEST_CASE("Ties share the score of the tie group's first position") {
    // Sorted: 1 2 3 4 5 5 5 6 7 8 -> positions 0..9, score 1 + 5p/10; the 5s start at p = 4.
    const std::vector<std::int64_t> values = {5, 5, 5, 1, 2, 3, 4, 6, 7, 8};
    CHECK(quintile_scores(values) == std::vector<std::uint8_t>{3, 3, 3, 1, 1, 2, 2, 4, 5, 5});
    const std::vector<std::int64_t> all_equal(7, 42);
    CHECK(quintile_scores(all_equal) == std::vector<std::uint8_t>(7, 1));
}

TEST_CASE("RFM scores: recent is better, never purchased is unscored") {
    ActivityTable table;
    table.members.resize(3);
    table.members[0].purchase_days = 2;  // recent, frequent, big
    table.members[0].last_day = 990;
    table.members[0].window_purchase_days = 2;
    table.members[0].window_spend_cents = 3000;
    table.members[1].purchase_days = 1;  // long ago
    table.members[1].last_day = 400;
    const auto scores = score_rfm(table, 1000);
    CHECK(scores[0].recency_days == 10);
    CHECK((scores[0].r_score == 3 && scores[0].f_score == 3 && scores[0].m_score == 3));
    CHECK(scores[1].recency_days == 600);
    CHECK((scores[1].r_score == 1 && scores[1].f_score == 1 && scores[1].m_score == 1));
    CHECK(scores[2].recency_days == -1);
    CHECK(scores[2].r_score == 0);

    const RfmConfig config;
    CHECK(rfm_segment(scores[0], config) == "Need Attention");
    CHECK(rfm_segment(scores[1], config) == "Lost");
    CHECK(rfm_segment(scores[2], config) == "Never Purchased");
    CHECK(rfm_segment({0, 0, 0, 5, 5, 4}, config) == "Champions");  // FM rounds 4.5 up
    CHECK(rfm_segment({0, 0, 0, 5, 1, 1}, config) == "New");
    CHECK(rfm_segment({0, 0, 0, 1, 5, 5}, config) == "Can't Lose Them");
}
