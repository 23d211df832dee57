#include "loyalty/segmentation.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>

#include "loyalty/demo_chain.hpp"

using namespace loyalty::analytics;

namespace {

struct DemoRun {
    PurchaseHistory history;
    SegmentationConfig config;
    SegmentationResult result;
};

DemoRun demo_run(std::size_t members) {
    DemoChainConfig chain;
    chain.members = members;
    DemoRun run{generate_demo_chain(chain), {}, {}};
    run.config.as_of = chain.last_day;
    run.result = run_segmentation(run.history, run.config);
    return run;
}

}  // namespace

TEST_CASE("A run on the demo chain labels every member consistently") {
    const DemoRun run = demo_run(4'000);
    const SegmentationResult& result = run.result;
    REQUIRE(result.members.size() == run.history.members.size());
    CHECK(result.bgnbd.converged);
    CHECK(result.gamma_gamma.converged);
    std::size_t segment_members = 0;
    double revenue_share = 0.0;
    for (const SegmentSummary& segment : result.segments) {
        segment_members += segment.members;
        revenue_share += segment.revenue_share;
    }
    CHECK(segment_members == result.members.size());
    CHECK(revenue_share == Approx(1.0));
    std::size_t clustered = 0;
    for (std::size_t i = 0; i < result.members.size(); ++i) {
        const MemberResult& member = result.members[i];
        if (result.activity.members[i].purchase_days == 0) {
            CHECK(std::isnan(member.probability_alive));
            CHECK(member.cluster == -1);
            CHECK(result.segment_names[member.segment] == "Never Purchased");
            continue;
        }
        CHECK((member.probability_alive >= 0.0 && member.probability_alive <= 1.0));
        CHECK(member.expected_purchases >= 0.0);
        CHECK(member.clv >= 0.0);
        CHECK((member.cluster >= 0 && member.cluster < static_cast<int>(result.clusters.size())));
        clustered += member.cluster >= 0;
    }
    std::size_t cluster_members = 0;
    for (const ClusterSummary& cluster : result.clusters) {
        cluster_members += cluster.members;
        CHECK_FALSE(cluster.description.empty());
    }
    CHECK(cluster_members == clustered);
    CHECK(result.clusters.size() >= 2);
    CHECK_FALSE(result.rules.empty());
}

TEST_CASE("Champions are worth more than lost members") {
    const DemoRun run = demo_run(4'000);
    double champions = -1.0, lost = -1.0;
    for (const SegmentSummary& segment : run.result.segments) {
        if (segment.name == "Champions") champions = segment.average_clv;
        if (segment.name == "Lost") lost = segment.average_clv;
    }
    CHECK(champions > 5.0 * lost);
    CHECK(lost >= 0.0);
}

TEST_CASE("Runs are deterministic and the reports render") {
    const DemoRun first = demo_run(2'000);
    const DemoRun second = demo_run(2'000);
    std::ostringstream json_first, json_second, csv_first, csv_second, text;
    write_json_report(first.result, first.history, first.config, json_first);
    write_json_report(second.result, second.history, second.config, json_second);
    write_members_csv(first.result, first.history, first.config, csv_first);
    write_members_csv(second.result, second.history, second.config, csv_second);
    CHECK(json_first.str() == json_second.str());
    CHECK(csv_first.str() == csv_second.str());
    write_text_report(first.result, first.history, first.config, text);
    CHECK(text.str().find("BG/NBD (days): r=") != std::string::npos);
    CHECK(text.str().find("Champions") != std::string::npos);
    CHECK(text.str().find("Cross-sell rules") != std::string::npos);
}

TEST_CASE("A hand-made history gives the hand-computed summary") {
    std::istringstream csv(
        "member_id,date,amount,category\n"
        "A,2024-12-01,10.00,Dairy\nA,2024-12-21,20.00,Dairy\n"
        "B,2023-06-01,50.00,Meat\nB,2024-06-01,10.00,Meat\n");
    const auto loaded = parse_transactions_csv(csv);
    REQUIRE(loaded.errors.empty());
    SegmentationConfig config;
    config.as_of = *parse_day("2024-12-31");
    const SegmentationResult result = run_segmentation(loaded.history, config);
    const MemberResult& a = result.members[loaded.history.members.find("A")];
    const MemberResult& b = result.members[loaded.history.members.find("B")];
    CHECK((a.repeat.x == 1 && a.repeat.t_x == 20 && a.repeat.T == 30));
    CHECK((b.repeat.x == 1 && b.repeat.t_x == 366 && b.repeat.T == 579));
    CHECK(a.rfm.monetary_cents == 3000);
    CHECK(b.rfm.monetary_cents == 1000);  // the 2023 purchase is outside the window
    CHECK(a.probability_alive > b.probability_alive);
    double share_total = 0.0;
    for (const auto& segment : result.segments) share_total += segment.revenue_share;
    CHECK(share_total == Approx(1.0));
    CHECK(result.activity.window_spend_cents == 4000);
}
