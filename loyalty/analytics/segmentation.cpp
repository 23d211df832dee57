#include "loyalty/segmentation.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace loyalty::analytics {
namespace {

constexpr double not_modelled = std::numeric_limits<double>::quiet_NaN();

double currency(std::int64_t cents) { return static_cast<double>(cents) / 100.0; }

// Segment names from the best grid cell (R 5, FM 5) to the worst, then never purchased, so
// that reports list segments in a stable, meaningful order.
std::vector<std::string> segment_names(const RfmConfig& config) {
    std::vector<std::string> names;
    for (auto row = config.segment_grid.rbegin(); row != config.segment_grid.rend(); ++row) {
        for (auto cell = row->rbegin(); cell != row->rend(); ++cell) {
            if (std::find(names.begin(), names.end(), *cell) == names.end()) names.push_back(*cell);
        }
    }
    names.push_back(config.never_purchased);
    return names;
}

void label_members(const SegmentationConfig& config, SegmentationResult& result) {
    const auto scores = score_rfm(result.activity, config.as_of);
    const auto profiles = profile_customers(result.activity, config.as_of, config.value);
    result.segment_names = segment_names(config.rfm);
    for (std::size_t i = 0; i < result.members.size(); ++i) {
        MemberResult& member = result.members[i];
        member.rfm = scores[i];
        member.profile = profiles[i];
        const std::string& name = rfm_segment(scores[i], config.rfm);
        const auto found = std::find(result.segment_names.begin(), result.segment_names.end(), name);
        member.segment = static_cast<std::uint16_t>(found - result.segment_names.begin());
    }
}

// Average net value of a member's repeat purchase days; x = 0 tells Gamma-Gamma to use the
// population mean, which is also right when returns leave no positive repeat spend.
SpendHistory spend_history(const MemberActivity& activity, std::uint32_t x) {
    if (x == 0 || activity.repeat_spend_cents <= 0) return {0, 0.0};
    return {x, currency(activity.repeat_spend_cents) / x};
}

void fit_models(SegmentationResult& result) {
    std::vector<RepeatHistory> repeats;
    std::vector<SpendHistory> spends;
    for (std::size_t i = 0; i < result.members.size(); ++i) {
        const MemberActivity& activity = result.activity.members[i];
        if (activity.purchase_days == 0) continue;
        RepeatHistory& repeat = result.members[i].repeat;
        repeat = {activity.purchase_days - 1, activity.last_day - activity.first_day,
                  result.as_of - activity.first_day};
        repeats.push_back(repeat);
        if (const SpendHistory spend = spend_history(activity, repeat.x); spend.x > 0) spends.push_back(spend);
    }
    result.bgnbd = fit_bgnbd(repeats);
    result.gamma_gamma = fit_gamma_gamma(spends);
}

std::uint64_t history_key(const RepeatHistory& h) {
    return std::uint64_t{h.x} << 42 | std::uint64_t(std::uint32_t(h.t_x)) << 21 | std::uint32_t(h.T);
}

// Forecasts are computed once per distinct (x, t_x, T): the hypergeometric series is the
// costliest step of a run and most histories repeat.
void forecast_members(const SegmentationConfig& config, SegmentationResult& result) {
    std::vector<std::uint32_t> modelled;
    for (std::uint32_t i = 0; i < result.members.size(); ++i) {
        if (result.activity.members[i].purchase_days > 0) {
            modelled.push_back(i);
        } else {
            MemberResult& member = result.members[i];
            member.probability_alive = member.expected_purchases = member.expected_value = member.clv = not_modelled;
        }
    }
    std::sort(modelled.begin(), modelled.end(), [&](std::uint32_t left, std::uint32_t right) {
        return history_key(result.members[left].repeat) < history_key(result.members[right].repeat);
    });
    BgnbdForecast forecast;
    for (std::size_t position = 0; position < modelled.size(); ++position) {
        MemberResult& member = result.members[modelled[position]];
        if (position == 0 || history_key(member.repeat) != history_key(result.members[modelled[position - 1]].repeat)) {
            forecast = forecast_bgnbd(result.bgnbd.parameters, member.repeat, config.horizon_days,
                                      config.annual_discount_rate);
        }
        member.probability_alive = forecast.probability_alive;
        member.expected_purchases = forecast.expected_purchases;
        member.expected_value =
            expected_average_value(result.gamma_gamma.parameters,
                                   spend_history(result.activity.members[modelled[position]], member.repeat.x),
                                   result.gamma_gamma.observed_mean_value);
        member.clv = member.expected_value * forecast.discounted_purchases;
    }
}

struct FeatureTable {
    std::vector<std::string> names;
    std::vector<FeatureWords> words;
    std::vector<double> raw;           // members x features, original units
    std::vector<double> standardised;  // transformed for distance, then z-scored
    std::vector<std::uint32_t> members;
};

FeatureTable describe_features(const PurchaseHistory& history, const SegmentationResult& result) {
    FeatureTable table;
    table.names = {"recency_days", "window_purchase_days", "monetary", "clv"};
    table.words = {{"bought recently", "long since last purchase"},
                   {"infrequent buyers", "frequent buyers"},
                   {"low spend", "high spend"},
                   {"low predicted value", "high predicted value"}};
    for (const Index category : result.activity.tracked_categories) {
        const std::string& name = history.categories.name(category);
        table.names.push_back("share:" + name);
        table.words.push_back({"little " + name, "much " + name});
    }
    return table;
}

// Counts and money are heavy-tailed, so they enter the distance as log(1 + value): otherwise
// a handful of big spenders would take a cluster each.
FeatureTable cluster_features(const PurchaseHistory& history, const SegmentationResult& result) {
    FeatureTable table = describe_features(history, result);
    const std::size_t tracked = result.activity.tracked_categories.size();
    for (std::uint32_t i = 0; i < result.members.size(); ++i) {
        const MemberResult& member = result.members[i];
        if (member.rfm.r_score == 0) continue;
        table.members.push_back(i);
        const double clv = std::isfinite(member.clv) ? std::max(member.clv, 0.0) : 0.0;
        const double monetary = currency(member.rfm.monetary_cents);
        const double values[] = {static_cast<double>(member.rfm.recency_days),
                                 static_cast<double>(member.rfm.frequency), monetary, clv};
        const double transformed[] = {values[0], std::log1p(values[1]), std::log1p(std::max(monetary, 0.0)),
                                      std::log1p(clv)};
        table.raw.insert(table.raw.end(), std::begin(values), std::end(values));
        table.standardised.insert(table.standardised.end(), std::begin(transformed), std::end(transformed));
        const auto shares = result.activity.tracked_shares.begin() + static_cast<std::ptrdiff_t>(i * tracked);
        table.raw.insert(table.raw.end(), shares, shares + static_cast<std::ptrdiff_t>(tracked));
        table.standardised.insert(table.standardised.end(), shares, shares + static_cast<std::ptrdiff_t>(tracked));
    }
    standardise_columns(table.standardised, table.names.size());
    return table;
}

void cluster_members(const PurchaseHistory& history, const SegmentationConfig& config, SegmentationResult& result) {
    FeatureTable table = cluster_features(history, result);
    const std::size_t dimensions = table.names.size();
    const Clustering clustering = cluster_choosing_k(table.standardised, dimensions, config.clustering);
    result.cluster_features = table.names;
    result.silhouette = clustering.silhouette;
    result.clusters.assign(clustering.k, ClusterSummary{0, std::vector<double>(dimensions, 0.0), ""});
    for (std::size_t row = 0; row < table.members.size(); ++row) {
        const std::uint32_t cluster = clustering.assignment[row];
        result.members[table.members[row]].cluster = static_cast<std::int32_t>(cluster);
        ClusterSummary& summary = result.clusters[cluster];
        ++summary.members;
        for (std::size_t d = 0; d < dimensions; ++d) summary.centroid[d] += table.raw[row * dimensions + d];
    }
    for (std::size_t c = 0; c < clustering.k; ++c) {
        ClusterSummary& summary = result.clusters[c];
        for (double& value : summary.centroid) value /= std::max<double>(1.0, static_cast<double>(summary.members));
        summary.description = describe_centroid(
            std::span(clustering.centroids).subspan(c * dimensions, dimensions), table.words);
    }
}

void summarise_segments(SegmentationResult& result) {
    std::vector<SegmentSummary> summaries(result.segment_names.size());
    std::vector<std::int64_t> spend(summaries.size(), 0);
    std::vector<std::size_t> modelled(summaries.size(), 0), purchased(summaries.size(), 0);
    for (std::size_t i = 0; i < result.members.size(); ++i) {
        const MemberResult& member = result.members[i];
        SegmentSummary& summary = summaries[member.segment];
        ++summary.members;
        spend[member.segment] += member.rfm.monetary_cents;
        if (std::isfinite(member.clv)) {
            summary.average_clv += member.clv;
            ++modelled[member.segment];
        }
        if (member.rfm.recency_days >= 0) {
            summary.average_recency_days += member.rfm.recency_days;
            ++purchased[member.segment];
        }
    }
    const double chain_spend = static_cast<double>(result.activity.window_spend_cents);
    for (std::size_t s = 0; s < summaries.size(); ++s) {
        SegmentSummary& summary = summaries[s];
        if (summary.members == 0) continue;
        summary.name = result.segment_names[s];
        summary.revenue_share = chain_spend != 0.0 ? static_cast<double>(spend[s]) / chain_spend : 0.0;
        summary.average_clv /= std::max<double>(1.0, static_cast<double>(modelled[s]));
        summary.average_recency_days /= std::max<double>(1.0, static_cast<double>(purchased[s]));
        result.segments.push_back(std::move(summary));
    }
}

void find_rules(const PurchaseHistory& history, const std::vector<std::uint32_t>& order,
                const SegmentationConfig& config, SegmentationResult& result) {
    const Baskets baskets = collect_baskets(history, order, config.basket_item,
                                            config.as_of - config.window_days + 1, config.as_of);
    result.baskets = baskets.size();
    result.rules = association_rules(baskets, config.rules);
}

}  // namespace

SegmentationResult run_segmentation(const PurchaseHistory& history, const SegmentationConfig& config) {
    SegmentationResult result;
    result.as_of = config.as_of;
    result.horizon_days = config.horizon_days;
    const std::vector<std::uint32_t> order = order_by_member_and_day(history);
    result.activity = summarise_members(
        history, order, {config.as_of, config.window_days, config.growth_days, config.cluster_categories});
    result.members.resize(history.members.size());
    label_members(config, result);
    fit_models(result);
    forecast_members(config, result);
    cluster_members(history, config, result);
    summarise_segments(result);
    find_rules(history, order, config, result);
    return result;
}

}  // namespace loyalty::analytics
