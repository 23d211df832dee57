#include "loyalty/bgnbd.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "loyalty/demo_chain.hpp"

using namespace loyalty::analytics;

namespace {

// The likelihood of FHL (2005) equation 6 written out plainly, to check the grouped and
// precomputed one.
double plain_log_likelihood(const BgnbdParameters& p, const RepeatHistory& h) {
    const double x = h.x;
    const double common = std::lgamma(p.r + x) - std::lgamma(p.r) + p.r * std::log(p.alpha);
    const double beta_ratio = std::lgamma(p.a + p.b) + std::lgamma(p.b + x) - std::lgamma(p.b) -
                              std::lgamma(p.a + p.b + x);
    double likelihood = std::exp(beta_ratio - (p.r + x) * std::log(p.alpha + h.T));
    if (h.x > 0) {
        likelihood += std::exp(std::lgamma(p.a + 1) + std::lgamma(p.b + x - 1) - std::lgamma(p.a + p.b + x) -
                               (std::lgamma(p.a) + std::lgamma(p.b) - std::lgamma(p.a + p.b)) -
                               (p.r + x) * std::log(p.alpha + h.t_x));
    }
    return common + std::log(likelihood);
}

}  // namespace

TEST_CASE("BG/NBD log-likelihood matches the closed form of FHL equation 6") {
    const BgnbdParameters parameters{0.5, 20.0, 0.8, 2.5};
    const std::vector<RepeatHistory> customers = {{0, 0, 30}, {2, 25, 40}, {2, 25, 40}, {7, 100, 180}};
    double expected = 0.0;
    for (const auto& customer : customers) expected += plain_log_likelihood(parameters, customer);
    CHECK(bgnbd_log_likelihood(parameters, customers) == Approx(expected).epsilon(1e-12));
}

TEST_CASE("P(alive) is 1 without repeat purchases and falls with silence") {
    const BgnbdParameters parameters{0.5, 20.0, 0.8, 2.5};
    CHECK(forecast_bgnbd(parameters, {0, 0, 100}, 30, 0.0).probability_alive == 1.0);
    // a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x) = 0.8 / 3.5 * (120 / 70)^2.5
    const double odds = 0.8 / 3.5 * std::pow(120.0 / 70.0, 2.5);
    CHECK(forecast_bgnbd(parameters, {2, 50, 100}, 30, 0.0).probability_alive ==
          Approx(1.0 / (1.0 + odds)).epsilon(1e-12));
    CHECK(forecast_bgnbd(parameters, {2, 50, 300}, 30, 0.0).probability_alive <
          forecast_bgnbd(parameters, {2, 50, 100}, 30, 0.0).probability_alive);
}

TEST_CASE("Conditional forecasts match a Monte Carlo integral over the prior") {
    // Independent of the closed form: draw (lambda, p) from the prior, weight each draw by the
    // individual likelihood of the history, and average the individual-level quantities
    // P(alive | lambda, p) and E[purchases in t | alive] = (1 - exp(-lambda p t)) / p.
    const BgnbdParameters parameters{0.9, 30.0, 1.5, 3.0};
    const RepeatHistory history{3, 80, 120};
    const double horizon = 60.0;
    std::mt19937_64 engine(11);
    std::gamma_distribution<double> rate_prior(parameters.r, 1.0 / parameters.alpha);
    std::gamma_distribution<double> beta_a(parameters.a, 1.0), beta_b(parameters.b, 1.0);
    double alive_sum = 0.0, likelihood_sum = 0.0, purchases_sum = 0.0;
    for (int draw = 0; draw < 2'000'000; ++draw) {
        const double lambda = rate_prior(engine);
        const double first = beta_a(engine);
        const double p = first / (first + beta_b(engine));
        const double x = history.x;
        const double alive = std::pow(1 - p, x) * std::pow(lambda, x) * std::exp(-lambda * history.T);
        const double dead = p * std::pow(1 - p, x - 1) * std::pow(lambda, x) * std::exp(-lambda * history.t_x);
        alive_sum += alive;
        likelihood_sum += alive + dead;
        purchases_sum += alive * (1 - std::exp(-lambda * p * horizon)) / p;
    }
    const auto forecast = forecast_bgnbd(parameters, history, static_cast<std::int32_t>(horizon), 0.0);
    CHECK(forecast.probability_alive == Approx(alive_sum / likelihood_sum).epsilon(0.01));
    CHECK(forecast.expected_purchases == Approx(purchases_sum / likelihood_sum).epsilon(0.02));
}

TEST_CASE("Discounting lowers the forecast and a longer horizon raises it") {
    const BgnbdParameters parameters{0.9, 30.0, 1.5, 3.0};
    const RepeatHistory history{3, 80, 120};
    const auto undiscounted = forecast_bgnbd(parameters, history, 365, 0.0);
    CHECK(undiscounted.discounted_purchases == Approx(undiscounted.expected_purchases));
    CHECK(forecast_bgnbd(parameters, history, 365, 0.2).discounted_purchases <
          undiscounted.expected_purchases);
    CHECK(forecast_bgnbd(parameters, history, 730, 0.0).expected_purchases >
          undiscounted.expected_purchases);
}

TEST_CASE("BG/NBD fit recovers simulated parameters") {
    // 30,000 customers aged up to two years. The tolerance (15% on each parameter) is several
    // standard errors at this size; a wrong gradient or likelihood misses it by far.
    const BgnbdParameters truth{0.6, 40.0, 0.8, 3.0};
    const auto customers = simulate_repeat_histories(truth, 30'000, 730, 42);
    const BgnbdFit fit = fit_bgnbd(customers);
    INFO("r=" << fit.parameters.r << " alpha=" << fit.parameters.alpha << " a=" << fit.parameters.a
              << " b=" << fit.parameters.b << " iterations=" << fit.iterations);
    CHECK(fit.converged);
    CHECK(fit.customers == customers.size());
    CHECK(fit.distinct_histories < customers.size());
    CHECK(fit.parameters.r == Approx(truth.r).epsilon(0.15));
    CHECK(fit.parameters.alpha == Approx(truth.alpha).epsilon(0.15));
    CHECK(fit.parameters.a == Approx(truth.a).epsilon(0.15));
    CHECK(fit.parameters.b == Approx(truth.b).epsilon(0.15));
    CHECK(fit.log_likelihood == Approx(bgnbd_log_likelihood(fit.parameters, customers)));
    CHECK(fit.log_likelihood >= bgnbd_log_likelihood(truth, customers));
}
