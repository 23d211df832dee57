#include "loyalty/bgnbd.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include <boost/math/special_functions/hypergeometric_pFq.hpp>

#include "optimizer.hpp"
#include "special_functions.hpp"

namespace loyalty::analytics {
namespace {

using special::digamma;
using special::log_gamma;

struct Group {
    std::uint32_t x_index;  // into GroupedHistories::xs
    std::int32_t t_x;
    std::int32_t T;
    double weight;
};

struct GroupedHistories {
    std::vector<std::uint32_t> xs;  // distinct x values
    std::vector<Group> groups;
    std::int32_t max_T = 0;
    double total_weight = 0.0;
};

GroupedHistories group_histories(std::span<const RepeatHistory> customers) {
    // Pack each history into one integer so that a sort groups identical ones.
    std::vector<std::uint64_t> keys;
    keys.reserve(customers.size());
    for (const RepeatHistory& h : customers) {
        keys.push_back(std::uint64_t{h.x} << 42 | std::uint64_t(std::uint32_t(h.t_x)) << 21 |
                       std::uint32_t(h.T));
    }
    std::sort(keys.begin(), keys.end());
    GroupedHistories grouped;
    for (std::size_t i = 0; i < keys.size();) {
        std::size_t j = i;
        while (j < keys.size() && keys[j] == keys[i]) ++j;
        const auto x = static_cast<std::uint32_t>(keys[i] >> 42);
        if (grouped.xs.empty() || grouped.xs.back() != x) grouped.xs.push_back(x);
        const auto T = static_cast<std::int32_t>(keys[i] & 0x1FFFFF);
        grouped.groups.push_back({static_cast<std::uint32_t>(grouped.xs.size() - 1),
                                  static_cast<std::int32_t>((keys[i] >> 21) & 0x1FFFFF), T,
                                  static_cast<double>(j - i)});
        grouped.max_T = std::max(grouped.max_T, T);
        grouped.total_weight += static_cast<double>(j - i);
        i = j;
    }
    return grouped;
}

// Terms of the log-likelihood that depend on x but not on t_x or T, with their derivatives.
struct XTerms {
    double constant;   // ln G(r+x) - ln G(r) + r ln(alpha) + ln B(a, b+x) - ln B(a, b)
    double d_r, d_alpha, d_a, d_b;
    double log_dropout;  // ln(a / (b + x - 1)), for x > 0
    double d_b_dropout;  // its derivative in b
};

XTerms x_terms(const BgnbdParameters& p, std::uint32_t x) {
    const double r_x = p.r + x, b_x = p.b + x, ab = p.a + p.b, ab_x = ab + x;
    XTerms terms{};
    terms.constant = log_gamma(r_x) - log_gamma(p.r) + p.r * std::log(p.alpha) + log_gamma(ab) + log_gamma(b_x) -
                     log_gamma(p.b) - log_gamma(ab_x);
    terms.d_r = digamma(r_x) - digamma(p.r) + std::log(p.alpha);
    terms.d_alpha = p.r / p.alpha;
    terms.d_a = digamma(ab) - digamma(ab_x);
    terms.d_b = digamma(ab) + digamma(b_x) - digamma(p.b) - digamma(ab_x);
    if (x > 0) {
        terms.log_dropout = std::log(p.a) - std::log(b_x - 1.0);
        terms.d_b_dropout = -1.0 / (b_x - 1.0);
    }
    return terms;
}

// Mean log-likelihood per customer and its gradient in log-parameters.
class BgnbdObjective {
public:
    explicit BgnbdObjective(const GroupedHistories& data) : data_(data) {}

    double operator()(const std::vector<double>& log_parameters, std::vector<double>& gradient) {
        const BgnbdParameters p{std::exp(log_parameters[0]), std::exp(log_parameters[1]),
                                std::exp(log_parameters[2]), std::exp(log_parameters[3])};
        prepare(p);
        double total = 0.0, d_r = 0.0, d_alpha = 0.0, d_a = 0.0, d_b = 0.0;
        for (const Group& group : data_.groups) {
            const XTerms& terms = x_terms_[group.x_index];
            const double r_x = p.r + data_.xs[group.x_index];
            // ln L = constant + ln(exp(A3) + [x > 0] exp(A4)), by log-sum-exp.
            const double a3 = -r_x * log_alpha_plus_[group.T];
            double log_sum = a3, alive_weight = 0.0;
            if (data_.xs[group.x_index] > 0) {
                const double a4 = terms.log_dropout - r_x * log_alpha_plus_[group.t_x];
                log_sum = std::max(a3, a4) + std::log1p(std::exp(-std::abs(a3 - a4)));
                alive_weight = std::exp(a4 - log_sum);
            }
            const double w = group.weight;
            const double dead_weight = 1.0 - alive_weight;
            total += w * (terms.constant + log_sum);
            d_r += w * (terms.d_r - dead_weight * log_alpha_plus_[group.T] -
                        alive_weight * log_alpha_plus_[group.t_x]);
            d_alpha += w * (terms.d_alpha - r_x * (dead_weight * inverse_alpha_plus_[group.T] +
                                                   alive_weight * inverse_alpha_plus_[group.t_x]));
            d_a += w * (terms.d_a + alive_weight / p.a);
            d_b += w * (terms.d_b + alive_weight * terms.d_b_dropout);
        }
        const double scale = -1.0 / data_.total_weight;  // minimise the mean negative
        gradient = {scale * d_r * p.r, scale * d_alpha * p.alpha, scale * d_a * p.a, scale * d_b * p.b};
        return scale * total;
    }

private:
    // Everything that depends only on x or on a day count is computed once per evaluation.
    void prepare(const BgnbdParameters& p) {
        x_terms_.clear();
        for (const std::uint32_t x : data_.xs) x_terms_.push_back(x_terms(p, x));
        log_alpha_plus_.resize(static_cast<std::size_t>(data_.max_T) + 1);
        inverse_alpha_plus_.resize(log_alpha_plus_.size());
        for (std::size_t day = 0; day < log_alpha_plus_.size(); ++day) {
            log_alpha_plus_[day] = std::log(p.alpha + static_cast<double>(day));
            inverse_alpha_plus_[day] = 1.0 / (p.alpha + static_cast<double>(day));
        }
    }

    const GroupedHistories& data_;
    std::vector<XTerms> x_terms_;
    std::vector<double> log_alpha_plus_, inverse_alpha_plus_;
};

std::vector<double> starting_point(const GroupedHistories& data) {
    double repeat_sum = 0.0, age_sum = 0.0;
    for (const Group& group : data.groups) {
        repeat_sum += group.weight * data.xs[group.x_index];
        age_sum += group.weight * group.T;
    }
    // r = 1 and alpha matched to the observed repeat rate; a = b = 1 is a flat dropout prior.
    const double rate = std::max(repeat_sum, 1.0) / std::max(age_sum, 1.0);
    return {0.0, std::log(1.0 / rate), 0.0, 0.0};
}

}  // namespace

BgnbdFit fit_bgnbd(std::span<const RepeatHistory> customers) {
    BgnbdFit fit;
    fit.customers = customers.size();
    if (customers.empty()) return fit;
    const GroupedHistories data = group_histories(customers);
    fit.distinct_histories = data.groups.size();
    BgnbdObjective objective(data);
    const Minimum minimum = minimize_bfgs(std::ref(objective), starting_point(data));
    fit.parameters = {std::exp(minimum.x[0]), std::exp(minimum.x[1]), std::exp(minimum.x[2]),
                      std::exp(minimum.x[3])};
    fit.log_likelihood = -minimum.value * data.total_weight;
    fit.iterations = minimum.iterations;
    fit.converged = minimum.converged;
    return fit;
}

double bgnbd_log_likelihood(const BgnbdParameters& parameters, std::span<const RepeatHistory> customers) {
    if (customers.empty()) return 0.0;
    const GroupedHistories data = group_histories(customers);
    BgnbdObjective objective(data);
    std::vector<double> gradient;
    return -objective({std::log(parameters.r), std::log(parameters.alpha), std::log(parameters.a),
                       std::log(parameters.b)},
                      gradient) *
           data.total_weight;
}

namespace {

// E[purchases in (T, T + t] | alive at T], the bracket of FHL (2005) equation 10 times its
// leading factor; multiplied by P(alive) it is the conditional expectation.
double expected_if_alive(const BgnbdParameters& p, const RepeatHistory& h, double t) {
    const double r_x = p.r + h.x, age = p.alpha + h.T;
    const double z = t / (age + t);
    const double hypergeometric =
        boost::math::hypergeometric_pFq({r_x, p.b + h.x}, {p.a + p.b + h.x - 1.0}, z);
    return (p.a + p.b + h.x - 1.0) / (p.a - 1.0) *
           (1.0 - std::pow(age / (age + t), r_x) * hypergeometric);
}

}  // namespace

BgnbdForecast forecast_bgnbd(const BgnbdParameters& p, const RepeatHistory& h,
                             std::int32_t horizon_days, double annual_discount_rate,
                             std::int32_t step_days) {
    BgnbdForecast forecast;
    const double odds_dead =
        h.x == 0 ? 0.0
                 : p.a / (p.b + h.x - 1.0) * std::pow((p.alpha + h.T) / (p.alpha + h.t_x), p.r + h.x);
    forecast.probability_alive = 1.0 / (1.0 + odds_dead);
    double previous = 0.0;
    for (std::int32_t end = 0; end < horizon_days;) {
        end = std::min(end + step_days, horizon_days);
        const double cumulative = forecast.probability_alive * expected_if_alive(p, h, end);
        forecast.discounted_purchases +=
            (cumulative - previous) / std::pow(1.0 + annual_discount_rate, end / 365.0);
        previous = cumulative;
    }
    forecast.expected_purchases = previous;
    return forecast;
}

}  // namespace loyalty::analytics
