// The BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005, "Counting your customers
// the easy way"), with time measured in days.
//
// While alive a customer buys at Poisson rate lambda ~ Gamma(r, alpha); after each purchase
// they drop out with probability p ~ Beta(a, b). A customer's history is (x, t_x, T): repeat
// purchase days after the first, the day of the last one and the age, both counted from the
// first purchase. The fit maximises the likelihood over the population; identical histories
// are grouped and weighted, so the cost grows with distinct histories, not customers.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <span>

namespace loyalty::analytics {

struct RepeatHistory {
    std::uint32_t x = 0;   // repeat purchase days
    std::int32_t t_x = 0;  // days from the first to the last purchase day
    std::int32_t T = 0;    // days from the first purchase day to the end of observation
};

struct BgnbdParameters {
    double r = 1.0;
    double alpha = 1.0;  // days
    double a = 1.0;
    double b = 1.0;
};

struct BgnbdFit {
    BgnbdParameters parameters;
    double log_likelihood = 0.0;  // sum over customers, at the estimate
    std::size_t customers = 0;
    std::size_t distinct_histories = 0;
    std::size_t iterations = 0;
    bool converged = false;
};

// Maximum likelihood over customers with 0 <= t_x <= T (others are a programming error).
// An empty population returns the default parameters with converged == false.
BgnbdFit fit_bgnbd(std::span<const RepeatHistory> customers);

double bgnbd_log_likelihood(const BgnbdParameters& parameters, std::span<const RepeatHistory> customers);

struct BgnbdForecast {
    double probability_alive = 0.0;
    double expected_purchases = 0.0;    // over the horizon
    double discounted_purchases = 0.0;  // expected purchases in each step, discounted to as_of
};

// Conditional forecast for one customer over horizon_days. Purchases expected in each
// step_days slice are discounted by (1 + annual_discount_rate)^(end of slice / 365).
BgnbdForecast forecast_bgnbd(const BgnbdParameters& parameters, const RepeatHistory& history,
                             std::int32_t horizon_days, double annual_discount_rate,
                             std::int32_t step_days = 30);

}  // namespace loyalty::analytics
