// What a campaign did, from what head office has seen: its members and groups, the offer's
// uses the tills sent (offer_uses), and every member's purchases during the offer's window.
//
// Incremental effects compare the treated group with the control group held out at launch:
// the difference of the means per member, with a 95% confidence interval by Welch's t-test
// (unequal variances, Welch-Satterthwaite degrees of freedom). docs/CAMPAIGNS.md explains the
// numbers. Money is in cents; means and intervals are computed in double and shown rounded
// to whole cents.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hq_campaigns.hpp"

namespace loyalty::hq {

// Mean and sample variance of one group's values, accumulated one member at a time (Welford).
class Sample {
  public:
    void add(double value);
    std::int64_t count() const { return count_; }
    double mean() const { return mean_; }
    double variance() const;  // n - 1 in the denominator; 0 below two values

  private:
    std::int64_t count_ = 0;
    double mean_ = 0.0, squares_ = 0.0;
};

// treated mean - control mean, with Welch's 95% interval (absent when a group has fewer than
// two members).
struct Difference {
    double estimate = 0.0;
    std::optional<double> low, high, degrees_of_freedom;
};
Difference welch_difference(const Sample& treated, const Sample& control);

// A member who used the offer more often than uses_per_member (at two tills while offline).
struct OverLimitUse {
    std::string member_id;
    std::int64_t uses = 0;
    std::vector<std::string> operation_ids;  // "<till_id>/<txn_id>" of every use
};

struct CampaignReport {
    Campaign campaign;
    Timestamp window_from = 0, window_until = 0;  // the offer's window up to now, end exclusive
    std::int64_t targeted = 0, treated = 0, control = 0;
    std::int64_t redeemed = 0;  // treated members with at least one use (not voided)
    double redemption_rate = 0.0;
    std::int64_t uses = 0;
    Points points_given = 0;
    Cents discount_cents_given = 0;
    Cents cost_cents = 0;  // discounts plus the points at what they pay when redeemed
    Sample treated_spend, control_spend;    // per member, net of returns, in cents
    Sample treated_visits, control_visits;  // per member: days with a completed purchase
    Difference incremental_spend, incremental_visits;
    double incremental_revenue_cents = 0.0;  // incremental spend per member x treated members
    std::optional<double> cost_per_incremental_revenue;  // cost / incremental revenue, if positive
    std::vector<OverLimitUse> over_limit;
};

// The report as of now. Ends the campaign first when its offer's budget is spent.
Result<CampaignReport> campaign_report(Campaigns& campaigns, const std::string& campaign_id);
nlohmann::json report_json(const CampaignReport& report);

}  // namespace loyalty::hq
