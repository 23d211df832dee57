#include "loyalty/gamma_gamma.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "optimizer.hpp"
#include "special_functions.hpp"

namespace loyalty::analytics {
namespace {

using special::digamma;
using special::log_gamma;

struct Customer {
    std::uint32_t x_index;  // into Prepared::xs
    double x;
    double value;          // m_x
    double log_value;      // ln m_x
    double log_x;
};

struct Prepared {
    std::vector<std::uint32_t> xs;  // distinct x, ascending
    std::vector<Customer> customers;
};

Prepared prepare(std::span<const SpendHistory> input) {
    Prepared prepared;
    std::vector<SpendHistory> sorted(input.begin(), input.end());
    std::sort(sorted.begin(), sorted.end(),
              [](const SpendHistory& left, const SpendHistory& right) { return left.x < right.x; });
    for (const SpendHistory& customer : sorted) {
        if (prepared.xs.empty() || prepared.xs.back() != customer.x) prepared.xs.push_back(customer.x);
        const double x = customer.x;
        prepared.customers.push_back({static_cast<std::uint32_t>(prepared.xs.size() - 1), x,
                                      customer.average_value, std::log(customer.average_value),
                                      std::log(x)});
    }
    return prepared;
}

// Mean log-likelihood per customer and its gradient in log-parameters. The gamma-function terms
// depend on x only, so they are computed once per distinct x.
class GammaGammaObjective {
public:
    explicit GammaGammaObjective(const Prepared& data) : data_(data) {}

    double operator()(const std::vector<double>& log_parameters, std::vector<double>& gradient) {
        const double p = std::exp(log_parameters[0]), q = std::exp(log_parameters[1]),
                     gamma = std::exp(log_parameters[2]);
        prepare_x_terms(p, q);
        const double log_gamma_scale = std::log(gamma);
        const double constant = q * log_gamma_scale - log_gamma(q);
        const double d_q_constant = log_gamma_scale - digamma(q);
        double total = 0.0, d_p = 0.0, d_q = 0.0, d_gamma = 0.0;
        for (const Customer& c : data_.customers) {
            const XTerms& terms = x_terms_[c.x_index];
            const double px = p * c.x;
            const double log_pooled = std::log(gamma + c.x * c.value);
            total += terms.log_gamma_ratio + constant + (px - 1.0) * c.log_value + px * c.log_x -
                     (px + q) * log_pooled;
            d_p += c.x * (terms.digamma_sum - terms.digamma_px + c.log_value + c.log_x - log_pooled);
            d_q += terms.digamma_sum + d_q_constant - log_pooled;
            d_gamma += q / gamma - (px + q) / (gamma + c.x * c.value);
        }
        const double scale = -1.0 / static_cast<double>(data_.customers.size());
        gradient = {scale * d_p * p, scale * d_q * q, scale * d_gamma * gamma};
        return scale * total;
    }

private:
    struct XTerms {
        double log_gamma_ratio;  // ln G(px + q) - ln G(px)
        double digamma_sum;      // psi(px + q)
        double digamma_px;       // psi(px)
    };

    void prepare_x_terms(double p, double q) {
        x_terms_.clear();
        for (const std::uint32_t x : data_.xs) {
            const double px = p * x;
            x_terms_.push_back({log_gamma(px + q) - log_gamma(px), digamma(px + q), digamma(px)});
        }
    }

    const Prepared& data_;
    std::vector<XTerms> x_terms_;
};

std::vector<double> starting_point(const Prepared& data) {
    double sum = 0.0;
    for (const Customer& c : data.customers) sum += c.value;
    // p = 1, q = 2 makes the population mean equal gamma; start it at the observed mean.
    return {0.0, std::log(2.0), std::log(sum / static_cast<double>(data.customers.size()))};
}

}  // namespace

GammaGammaFit fit_gamma_gamma(std::span<const SpendHistory> customers) {
    GammaGammaFit fit;
    fit.customers = customers.size();
    if (customers.empty()) return fit;
    const Prepared data = prepare(customers);
    GammaGammaObjective objective(data);
    const Minimum minimum = minimize_bfgs(std::ref(objective), starting_point(data));
    fit.parameters = {std::exp(minimum.x[0]), std::exp(minimum.x[1]), std::exp(minimum.x[2])};
    fit.log_likelihood = -minimum.value * static_cast<double>(customers.size());
    fit.iterations = minimum.iterations;
    fit.converged = minimum.converged;
    for (const SpendHistory& customer : customers) fit.observed_mean_value += customer.average_value;
    fit.observed_mean_value /= static_cast<double>(customers.size());
    return fit;
}

double gamma_gamma_log_likelihood(const GammaGammaParameters& parameters,
                                  std::span<const SpendHistory> customers) {
    if (customers.empty()) return 0.0;
    const Prepared data = prepare(customers);
    GammaGammaObjective objective(data);
    std::vector<double> gradient;
    return -objective({std::log(parameters.p), std::log(parameters.q), std::log(parameters.gamma)},
                      gradient) *
           static_cast<double>(customers.size());
}

double expected_average_value(const GammaGammaParameters& parameters, const SpendHistory& customer,
                              double population_mean_fallback) {
    const auto [p, q, gamma] = parameters;
    const double px = p * customer.x;
    // The posterior of the customer's scale is Gamma(px + q, gamma + x m_x), whose inverse has
    // a mean only when px + q > 1.
    if (px + q <= 1.0) return customer.x > 0 ? customer.average_value : population_mean_fallback;
    return p * (gamma + customer.x * customer.average_value) / (px + q - 1.0);
}

}  // namespace loyalty::analytics
