// A whole segmentation run over a purchase history: per-member RFM, value and lifecycle labels,
// tags, BG/NBD churn and purchase forecasts, Gamma-Gamma spend, CLV and clusters, plus the
// segment summary and the chain's cross-sell rules; and the three ways to write it out.
//
// The run is a pure function of (history, config): same input, same output, bit for bit.
// Money per member is int64 cents; model outputs (P(alive), expected purchases, CLV in currency
// units) are double. Members who never purchased have NaN model outputs and cluster -1.
// Thread-safe on distinct inputs.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "loyalty/association_rules.hpp"
#include "loyalty/bgnbd.hpp"
#include "loyalty/customer_value.hpp"
#include "loyalty/gamma_gamma.hpp"
#include "loyalty/kmeans.hpp"
#include "loyalty/member_activity.hpp"
#include "loyalty/rfm.hpp"
#include "loyalty/transactions.hpp"

namespace loyalty::analytics {

struct SegmentationConfig {
    DayNumber as_of = 0;
    std::int32_t horizon_days = 365;    // expected purchases and CLV
    double annual_discount_rate = 0.10;  // CLV discounting, per 30-day step
    std::int32_t window_days = 365;     // RFM, habits, tags and baskets
    std::int32_t growth_days = 90;
    std::size_t cluster_categories = 5;  // the chain's top categories as clustering features
    RfmConfig rfm;
    CustomerValueConfig value;
    KMeansConfig clustering;
    BasketItem basket_item = BasketItem::category;
    RuleConfig rules;
};

struct MemberResult {
    RfmScore rfm;
    std::uint16_t segment = 0;  // index into SegmentationResult::segment_names
    CustomerProfile profile;
    RepeatHistory repeat;        // (x, t_x, T) in days; all 0 when never purchased
    double probability_alive = 0.0;
    double expected_purchases = 0.0;  // over horizon_days
    double expected_value = 0.0;      // Gamma-Gamma expected value per purchase day, currency
    double clv = 0.0;                 // discounted, currency units
    std::int32_t cluster = -1;
};

struct SegmentSummary {
    std::string name;
    std::size_t members = 0;
    double revenue_share = 0.0;  // of the chain's net window spend
    double average_clv = 0.0;    // over members with a model output
    double average_recency_days = 0.0;  // over members who purchased
};

struct ClusterSummary {
    std::size_t members = 0;
    std::vector<double> centroid;  // feature means in original units, see cluster_features
    std::string description;
};

struct SegmentationResult {
    DayNumber as_of = 0;
    std::int32_t horizon_days = 0;
    ActivityTable activity;
    std::vector<MemberResult> members;  // indexed by the history's member index
    std::vector<std::string> segment_names;
    BgnbdFit bgnbd;
    GammaGammaFit gamma_gamma;
    std::vector<SegmentSummary> segments;  // in segment_names order, empty ones left out
    std::vector<std::string> cluster_features;
    std::vector<ClusterSummary> clusters;
    double silhouette = 0.0;
    std::size_t baskets = 0;
    std::vector<AssociationRule> rules;
};

SegmentationResult run_segmentation(const PurchaseHistory& history, const SegmentationConfig& config);

// {"run": {...}, "models": {"bgnbd": {"r", "alpha", "a", "b", "time_unit": "day",
// "log_likelihood", ...}, "gamma_gamma": {"p", "q", "gamma", ...}}, "segments": [...],
// "clusters": [...], "rules": [...]} on one line.
void write_json_report(const SegmentationResult& result, const PurchaseHistory& history,
                       const SegmentationConfig& config, std::ostream& output);

// One row per member: member_id,recency_days,frequency,monetary,r_score,f_score,m_score,
// rfm_segment,value_tier,lifecycle,p_alive,expected_purchases,clv,cluster,tags, then
// spending_power,frequency_class,window_purchase_days. frequency is repeat purchase days (x);
// monetary is net window spend in currency units.
void write_members_csv(const SegmentationResult& result, const PurchaseHistory& history,
                       const SegmentationConfig& config, std::ostream& output);

// A readable report: models, segments, value tiers, lifecycle, clusters and top rules.
void write_text_report(const SegmentationResult& result, const PurchaseHistory& history,
                       const SegmentationConfig& config, std::ostream& output);

}  // namespace loyalty::analytics
