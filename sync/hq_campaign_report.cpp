#include "hq_campaign_report.hpp"

#include <algorithm>
#include <cmath>

#include <boost/math/distributions/students_t.hpp>

#include "loyalty/store.hpp"

namespace loyalty::hq {

namespace {

using nlohmann::json;

json cents(double value) { return std::llround(value); }

json optional_cents(const std::optional<double>& value) { return value ? cents(*value) : json(nullptr); }

json optional_number(const std::optional<double>& value) { return value ? json(*value) : json(nullptr); }

json difference_json(const Difference& difference, bool in_cents) {
    if (in_cents)
        return {{"estimate", cents(difference.estimate)},
                {"ci95_low", optional_cents(difference.low)},
                {"ci95_high", optional_cents(difference.high)},
                {"degrees_of_freedom", optional_number(difference.degrees_of_freedom)}};
    return {{"estimate", difference.estimate},
            {"ci95_low", optional_number(difference.low)},
            {"ci95_high", optional_number(difference.high)},
            {"degrees_of_freedom", optional_number(difference.degrees_of_freedom)}};
}

// Uses of the offer seen here (not voided), and the treated members among the users.
void add_uses(Database& database, CampaignReport& report) {
    const Campaign& campaign = report.campaign;
    Statement& totals = database.prepare(
        "SELECT COUNT(*), COALESCE(SUM(points), 0), COALESCE(SUM(discount_cents), 0) FROM offer_uses "
        "WHERE offer_id = ? AND voided = 0");
    totals.bind(campaign.offer.offer_id);
    totals.step();
    report.uses = totals.integer(0);
    report.points_given = totals.integer(1);
    report.discount_cents_given = totals.integer(2);
    totals.reset();
    report.redeemed = database
                          .query_integer("SELECT COUNT(DISTINCT u.member_id) FROM offer_uses u JOIN campaign_members m "
                                         "ON m.campaign_id = ? AND m.member_id = u.member_id AND m.treated = 1 "
                                         "WHERE u.offer_id = ? AND u.voided = 0",
                                         campaign.campaign_id, campaign.offer.offer_id)
                          .value_or(0);
    Statement& over = database.prepare(
        "SELECT member_id, COUNT(*), group_concat(operation_id, char(10)) FROM offer_uses "
        "WHERE offer_id = ? AND voided = 0 GROUP BY member_id HAVING COUNT(*) > ? ORDER BY member_id");
    over.bind(campaign.offer.offer_id, campaign.offer.uses_per_member);
    while (over.step()) {
        OverLimitUse use{over.text(0), over.integer(1), {}};
        const std::string operations = over.text(2);
        for (std::size_t start = 0; start <= operations.size();) {
            const std::size_t stop = std::min(operations.find('\n', start), operations.size());
            use.operation_ids.push_back(operations.substr(start, stop - start));
            start = stop + 1;
        }
        std::sort(use.operation_ids.begin(), use.operation_ids.end());
        report.over_limit.push_back(std::move(use));
    }
}

// Every member's spend (net of returns) and visits in the window, members without a purchase
// counted as 0: the groups are compared whole, as they were drawn.
void add_outcomes(Database& database, CampaignReport& report) {
    Statement& members = database.prepare(
        "SELECT m.treated, COALESCE(SUM(p.spend), 0), COUNT(DISTINCT p.day) FROM campaign_members m "
        "LEFT JOIN (SELECT b.member_id, b.created_at / 86400 AS day, "
        "  (SELECT COALESCE(SUM(CASE WHEN l.quantity > 0 "
        "     THEN l.net_cents * (l.quantity - l.returned_quantity) / l.quantity ELSE 0 END), 0) "
        "   FROM purchase_lines l WHERE l.txn_id = b.txn_id) AS spend "
        "  FROM purchases b WHERE b.status = 'completed' AND b.created_at >= ?2 AND b.created_at < ?3) p "
        "ON p.member_id = m.member_id WHERE m.campaign_id = ?1 GROUP BY m.member_id");
    members.bind(report.campaign.campaign_id, report.window_from, report.window_until);
    while (members.step()) {
        const bool treated = members.integer(0) != 0;
        (treated ? report.treated_spend : report.control_spend).add(static_cast<double>(members.integer(1)));
        (treated ? report.treated_visits : report.control_visits).add(static_cast<double>(members.integer(2)));
    }
    report.treated = report.treated_spend.count();
    report.control = report.control_spend.count();
    report.targeted = report.treated + report.control;
}

}  // namespace

void Sample::add(double value) {
    ++count_;
    const double delta = value - mean_;
    mean_ += delta / static_cast<double>(count_);
    squares_ += delta * (value - mean_);
}

double Sample::variance() const { return count_ < 2 ? 0.0 : squares_ / static_cast<double>(count_ - 1); }

Difference welch_difference(const Sample& treated, const Sample& control) {
    Difference difference;
    difference.estimate = treated.mean() - control.mean();
    if (treated.count() < 2 || control.count() < 2) return difference;
    const double treated_part = treated.variance() / static_cast<double>(treated.count());
    const double control_part = control.variance() / static_cast<double>(control.count());
    const double standard_error = std::sqrt(treated_part + control_part);
    if (standard_error == 0.0) {  // every member alike in both groups: no spread to be unsure about
        difference.low = difference.high = difference.estimate;
        return difference;
    }
    const double degrees = (treated_part + control_part) * (treated_part + control_part) /
                           (treated_part * treated_part / static_cast<double>(treated.count() - 1) +
                            control_part * control_part / static_cast<double>(control.count() - 1));
    const double t = boost::math::quantile(boost::math::students_t(degrees), 0.975);
    difference.degrees_of_freedom = degrees;
    difference.low = difference.estimate - t * standard_error;
    difference.high = difference.estimate + t * standard_error;
    return difference;
}

Result<CampaignReport> campaign_report(Campaigns& campaigns, const std::string& campaign_id) {
    if (auto ended = campaigns.end_if_budget_spent(campaign_id); !ended) return ended.error();
    auto campaign = campaigns.get(campaign_id);
    if (!campaign) return campaign.error();
    CampaignReport report;
    report.campaign = std::move(*campaign);
    const Offer& offer = report.campaign.offer;
    const Timestamp now = campaigns.clock().now();
    const Timestamp stop = report.campaign.ended_at ? std::min(*report.campaign.ended_at, offer.valid_until)
                                                    : offer.valid_until;
    report.window_from = offer.valid_from;
    // Up to and including the current second (window ends are exclusive).
    report.window_until = std::max(offer.valid_from, std::min(now + 1, stop));
    Database& database = campaigns.program().database();
    add_uses(database, report);
    add_outcomes(database, report);
    report.redemption_rate =
        report.treated > 0 ? static_cast<double>(report.redeemed) / static_cast<double>(report.treated) : 0.0;
    report.cost_cents = report.discount_cents_given +
                        std::llround(static_cast<double>(report.points_given) *
                                     point_value_cents(campaigns.program().rules()));
    report.incremental_spend = welch_difference(report.treated_spend, report.control_spend);
    report.incremental_visits = welch_difference(report.treated_visits, report.control_visits);
    report.incremental_revenue_cents = report.incremental_spend.estimate * static_cast<double>(report.treated);
    if (report.incremental_revenue_cents >= 1.0)
        report.cost_per_incremental_revenue = static_cast<double>(report.cost_cents) / report.incremental_revenue_cents;
    return report;
}

json report_json(const CampaignReport& report) {
    json over_limit = json::array();
    for (const OverLimitUse& use : report.over_limit)
        over_limit.push_back({{"member_id", use.member_id},
                              {"uses", use.uses},
                              {"uses_per_member", report.campaign.offer.uses_per_member},
                              {"operation_ids", use.operation_ids}});
    return {{"campaign_id", report.campaign.campaign_id},
            {"offer_id", report.campaign.offer.offer_id},
            {"status", to_string(report.campaign.status)},
            {"end_reason", report.campaign.end_reason.empty() ? json(nullptr) : json(report.campaign.end_reason)},
            {"window", {{"from", format_timestamp(report.window_from)}, {"until", format_timestamp(report.window_until)}}},
            {"targeted", report.targeted},
            {"treated", report.treated},
            {"control", report.control},
            {"redeemed", report.redeemed},
            {"redemption_rate", report.redemption_rate},
            {"uses", report.uses},
            {"points_given", report.points_given},
            {"discount_cents_given", report.discount_cents_given},
            {"cost_cents", report.cost_cents},
            {"spend_per_member_cents",
             {{"treated", cents(report.treated_spend.mean())}, {"control", cents(report.control_spend.mean())}}},
            {"visits_per_member", {{"treated", report.treated_visits.mean()}, {"control", report.control_visits.mean()}}},
            {"incremental_spend_per_member_cents", difference_json(report.incremental_spend, true)},
            {"incremental_visits_per_member", difference_json(report.incremental_visits, false)},
            {"incremental_revenue_cents", cents(report.incremental_revenue_cents)},
            {"cost_per_incremental_revenue", optional_number(report.cost_per_incremental_revenue)},
            {"over_limit_uses", over_limit}};
}

}  // namespace loyalty::hq
