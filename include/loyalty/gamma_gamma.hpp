// The Gamma-Gamma model of spend per purchase (Fader & Hardie 2013, "The Gamma-Gamma model
// of monetary value"), used with BG/NBD for customer lifetime value.
//
// Each purchase of a customer is worth z ~ Gamma(p, nu), with nu ~ Gamma(q, gamma) across
// customers; the model sees a customer as (x, m_x): repeat purchase days and their average
// net value in currency units (the first purchase day is left out, as in the BG/NBD pairing).
// Customers with x = 0 or m_x <= 0 carry no information and are left out of the fit by
// spend_histories-style callers. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <limits>
#include <span>

namespace loyalty::analytics {

struct SpendHistory {
    std::uint32_t x = 0;         // repeat purchase days, >= 1
    double average_value = 0.0;  // mean value of those days, currency units, > 0
};

struct GammaGammaParameters {
    double p = 1.0;
    double q = 2.0;
    double gamma = 1.0;  // currency units
};

struct GammaGammaFit {
    GammaGammaParameters parameters;
    double log_likelihood = 0.0;
    std::size_t customers = 0;
    std::size_t iterations = 0;
    bool converged = false;
    // Mean of the customers' m_x: the stand-in for the population mean p gamma / (q - 1) when
    // the fit gives q <= 1 (a spend distribution so heavy-tailed that its mean does not exist).
    double observed_mean_value = 0.0;
};

// Maximum likelihood; an empty population returns defaults with converged == false.
GammaGammaFit fit_gamma_gamma(std::span<const SpendHistory> customers);

double gamma_gamma_log_likelihood(const GammaGammaParameters& parameters,
                                  std::span<const SpendHistory> customers);

// E[value of a future purchase | x, m_x] = p (gamma + x m_x) / (p x + q - 1): a
// credibility-weighted mix of the population mean p gamma / (q - 1) and the customer's own m_x.
// For x = 0 it is the population mean. The formula needs p x + q > 1; where it does not hold
// (q <= 1 and x = 0, or a tiny p x) the value is undefined and the fallback is used instead:
// the customer's own m_x when x >= 1, else `population_mean_fallback` (callers pass the fit's
// observed_mean_value; the default, NaN, marks the value as unknown).
double expected_average_value(const GammaGammaParameters& parameters, const SpendHistory& customer,
                              double population_mean_fallback = std::numeric_limits<double>::quiet_NaN());

}  // namespace loyalty::analytics
