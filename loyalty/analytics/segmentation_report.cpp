// The three renderings of a segmentation run. The JSON keys and CSV columns are a public
// contract (issue 5): analysts' scripts and head office read them by name.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "loyalty/segmentation.hpp"

namespace loyalty::analytics {
namespace {

using nlohmann::json;

std::string fixed(double value, int decimals) {
    if (!std::isfinite(value)) return "";
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
    return buffer;
}

std::string item_names(const PurchaseHistory& history, BasketItem item, const std::vector<Index>& items) {
    const Dictionary& names = item == BasketItem::category ? history.categories : history.skus;
    std::string text;
    for (const Index i : items) text += (text.empty() ? "" : ", ") + names.name(i);
    return text;
}

json names_json(const PurchaseHistory& history, BasketItem item, const std::vector<Index>& items) {
    const Dictionary& names = item == BasketItem::category ? history.categories : history.skus;
    json array = json::array();
    for (const Index i : items) array.push_back(names.name(i));
    return array;
}

// p gamma / (q - 1), or null when q <= 1 (then expected values fall back to observed means).
json population_mean(const GammaGammaFit& fit) {
    const auto [p, q, gamma] = fit.parameters;
    return q > 1.0 ? json(p * gamma / (q - 1.0)) : json(nullptr);
}

json models_json(const SegmentationResult& result) {
    const BgnbdFit& bgnbd = result.bgnbd;
    const GammaGammaFit& gamma_gamma = result.gamma_gamma;
    return {{"bgnbd",
             {{"r", bgnbd.parameters.r}, {"alpha", bgnbd.parameters.alpha}, {"a", bgnbd.parameters.a},
              {"b", bgnbd.parameters.b}, {"time_unit", "day"}, {"log_likelihood", bgnbd.log_likelihood},
              {"customers", bgnbd.customers}, {"distinct_histories", bgnbd.distinct_histories},
              {"converged", bgnbd.converged}}},
            {"gamma_gamma",
             {{"p", gamma_gamma.parameters.p}, {"q", gamma_gamma.parameters.q},
              {"gamma", gamma_gamma.parameters.gamma}, {"currency_unit", "major"},
              {"population_mean", population_mean(gamma_gamma)},
              {"observed_mean_value", gamma_gamma.observed_mean_value},
              {"log_likelihood", gamma_gamma.log_likelihood}, {"customers", gamma_gamma.customers},
              {"converged", gamma_gamma.converged}}}};
}

json segments_json(const SegmentationResult& result) {
    json segments = json::array();
    for (const SegmentSummary& s : result.segments) {
        segments.push_back({{"name", s.name}, {"members", s.members}, {"revenue_share", s.revenue_share},
                            {"average_clv", s.average_clv}, {"average_recency_days", s.average_recency_days}});
    }
    return segments;
}

json clusters_json(const SegmentationResult& result) {
    json clusters = json::array();
    for (std::size_t c = 0; c < result.clusters.size(); ++c) {
        json centroid = json::object();
        for (std::size_t d = 0; d < result.cluster_features.size(); ++d) {
            centroid[result.cluster_features[d]] = result.clusters[c].centroid[d];
        }
        clusters.push_back({{"id", c}, {"members", result.clusters[c].members},
                            {"description", result.clusters[c].description}, {"centroid", centroid}});
    }
    return clusters;
}

json rules_json(const SegmentationResult& result, const PurchaseHistory& history, BasketItem item) {
    json rules = json::array();
    for (const AssociationRule& rule : result.rules) {
        rules.push_back({{"antecedent", names_json(history, item, rule.antecedent)},
                         {"consequent", names_json(history, item, rule.consequent)},
                         {"support", rule.support}, {"confidence", rule.confidence}, {"lift", rule.lift},
                         {"count", rule.count}});
    }
    return rules;
}

}  // namespace

void write_json_report(const SegmentationResult& result, const PurchaseHistory& history,
                       const SegmentationConfig& config, std::ostream& output) {
    const json report = {
        {"run",
         {{"as_of", format_day(result.as_of)}, {"horizon_days", result.horizon_days},
          {"window_days", config.window_days}, {"members", result.members.size()},
          {"purchasing_members", result.bgnbd.customers}, {"lines", history.lines.size()},
          {"lines_after_as_of", result.activity.lines_after_as_of}, {"baskets", result.baskets},
          {"basket_item", config.basket_item == BasketItem::category ? "category" : "sku"},
          {"silhouette", result.silhouette}}},
        {"models", models_json(result)},
        {"segments", segments_json(result)},
        {"clusters", clusters_json(result)},
        {"rules", rules_json(result, history, config.basket_item)}};
    output << report.dump() << '\n';
}

namespace {

void write_csv_field(std::ostream& output, std::string_view text) {
    if (text.find_first_of(",\"\n") == std::string_view::npos) {
        output << text;
        return;
    }
    std::string quoted = "\"";
    for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    output << quoted << '"';
}

}  // namespace

void write_members_csv(const SegmentationResult& result, const PurchaseHistory& history,
                       const SegmentationConfig& config, std::ostream& output) {
    output << "member_id,recency_days,frequency,monetary,r_score,f_score,m_score,rfm_segment,value_tier,"
              "lifecycle,p_alive,expected_purchases,clv,cluster,tags,spending_power,frequency_class,"
              "window_purchase_days\n";
    for (std::size_t i = 0; i < result.members.size(); ++i) {
        const MemberResult& m = result.members[i];
        write_csv_field(output, history.members.name(static_cast<Index>(i)));
        output << ',' << (m.rfm.recency_days >= 0 ? std::to_string(m.rfm.recency_days) : "") << ','
               << m.repeat.x << ',' << format_cents(m.rfm.monetary_cents) << ',' << int{m.rfm.r_score} << ','
               << int{m.rfm.f_score} << ',' << int{m.rfm.m_score} << ',';
        write_csv_field(output, result.segment_names[m.segment]);
        output << ',' << to_string(m.profile.value_tier) << ',' << to_string(m.profile.lifecycle) << ','
               << fixed(m.probability_alive, 4) << ',' << fixed(m.expected_purchases, 4) << ','
               << fixed(m.clv, 2) << ',' << (m.cluster >= 0 ? std::to_string(m.cluster) : "") << ',';
        write_csv_field(output, preference_tags(result.activity.members[i], m.profile, history, config.value));
        output << ',' << to_string(m.profile.spending_power) << ',' << to_string(m.profile.frequency_class)
               << ',' << m.rfm.frequency << '\n';
    }
}

namespace {

template <typename Label>
void write_counts(std::ostream& output, const char* title, const SegmentationResult& result, Label label) {
    std::vector<std::pair<std::string, std::size_t>> counts;
    for (const MemberResult& member : result.members) {
        const std::string name(label(member));
        auto found = std::find_if(counts.begin(), counts.end(), [&](const auto& entry) { return entry.first == name; });
        if (found == counts.end()) found = counts.insert(counts.end(), {name, 0});
        ++found->second;
    }
    output << title << ":";
    for (const auto& [name, count] : counts) output << "  " << name << " " << count;
    output << "\n";
}

void write_models(std::ostream& output, const SegmentationResult& result) {
    const auto& bg = result.bgnbd;
    const auto& gg = result.gamma_gamma;
    output << "BG/NBD (days): r=" << fixed(bg.parameters.r, 4) << " alpha=" << fixed(bg.parameters.alpha, 3)
           << " a=" << fixed(bg.parameters.a, 4) << " b=" << fixed(bg.parameters.b, 4)
           << " log-likelihood=" << fixed(bg.log_likelihood, 1) << (bg.converged ? "" : "  (NOT CONVERGED)")
           << "\nGamma-Gamma: p=" << fixed(gg.parameters.p, 4) << " q=" << fixed(gg.parameters.q, 4)
           << " gamma=" << fixed(gg.parameters.gamma, 4) << " (" << gg.customers << " repeat customers)"
           << (gg.converged ? "" : "  (NOT CONVERGED)") << "\n\n";
}

void write_segments(std::ostream& output, const SegmentationResult& result) {
    char line[160];
    std::snprintf(line, sizeof line, "%-18s %9s %9s %12s %13s\n", "Segment", "Members", "Revenue", "Avg CLV",
                  "Avg recency");
    output << line;
    for (const SegmentSummary& s : result.segments) {
        std::snprintf(line, sizeof line, "%-18s %9zu %8.1f%% %12.2f %11.0f d\n", s.name.c_str(), s.members,
                      100.0 * s.revenue_share, s.average_clv, s.average_recency_days);
        output << line;
    }
    output << "\n";
}

}  // namespace

void write_text_report(const SegmentationResult& result, const PurchaseHistory& history,
                       const SegmentationConfig& config, std::ostream& output) {
    output << "Segmentation as of " << format_day(result.as_of) << ": " << result.members.size() << " members, "
           << history.lines.size() << " lines";
    if (result.activity.lines_after_as_of > 0) output << " (" << result.activity.lines_after_as_of << " after as-of ignored)";
    output << ", horizon " << result.horizon_days << " days\n\n";
    write_models(output, result);
    write_segments(output, result);
    write_counts(output, "Value tiers", result, [](const MemberResult& m) { return to_string(m.profile.value_tier); });
    write_counts(output, "Lifecycle", result, [](const MemberResult& m) { return to_string(m.profile.lifecycle); });
    output << "\nClusters (k=" << result.clusters.size() << ", silhouette " << fixed(result.silhouette, 3) << "):\n";
    for (std::size_t c = 0; c < result.clusters.size(); ++c) {
        output << "  " << c << ": " << result.clusters[c].members << " members - " << result.clusters[c].description << "\n";
    }
    output << "\nCross-sell rules (" << result.rules.size() << " from " << result.baskets << " baskets, best first):\n";
    for (std::size_t r = 0; r < result.rules.size() && r < 10; ++r) {
        const AssociationRule& rule = result.rules[r];
        output << "  {" << item_names(history, config.basket_item, rule.antecedent) << "} -> {"
               << item_names(history, config.basket_item, rule.consequent) << "}  support " << fixed(rule.support, 3)
               << "  confidence " << fixed(rule.confidence, 3) << "  lift " << fixed(rule.lift, 2) << "\n";
    }
}

}  // namespace loyalty::analytics
