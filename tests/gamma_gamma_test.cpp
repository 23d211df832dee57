#include "loyalty/gamma_gamma.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "loyalty/demo_chain.hpp"

using namespace loyalty::analytics;

namespace {

// `customers` spend histories drawn from `truth` with 1..max_x repeat purchases, and their fit.
struct SimulatedFit {
    std::vector<SpendHistory> customers;
    GammaGammaFit fit;
};

SimulatedFit fit_simulated(const GammaGammaParameters& truth, std::uint32_t customers, std::uint32_t max_x,
                           std::uint64_t seed) {
    std::vector<std::uint32_t> repeat_counts;
    for (std::uint32_t i = 0; i < customers; ++i) repeat_counts.push_back(1 + i % max_x);
    SimulatedFit simulated{simulate_spend_histories(truth, repeat_counts, seed), {}};
    simulated.fit = fit_gamma_gamma(simulated.customers);
    return simulated;
}

}  // namespace

TEST_CASE("Gamma-Gamma log-likelihood matches the closed form") {
    const GammaGammaParameters parameters{6.0, 4.0, 20.0};
    const std::vector<SpendHistory> customers = {{1, 35.0}, {4, 12.5}, {10, 60.0}};
    double expected = 0.0;
    for (const auto& c : customers) {
        const double px = parameters.p * c.x;
        expected += std::lgamma(px + parameters.q) - std::lgamma(px) - std::lgamma(parameters.q) +
                    parameters.q * std::log(parameters.gamma) + (px - 1) * std::log(c.average_value) +
                    px * std::log(c.x) - (px + parameters.q) * std::log(parameters.gamma + c.x * c.average_value);
    }
    CHECK(gamma_gamma_log_likelihood(parameters, customers) == Approx(expected).epsilon(1e-12));
}

TEST_CASE("Expected average value weighs own history against the population mean") {
    const GammaGammaParameters parameters{6.0, 4.0, 20.0};  // population mean 6 * 20 / 3 = 40
    CHECK(expected_average_value(parameters, {0, 0.0}) == Approx(40.0));
    // Weight of the own mean: px / (px + q - 1) = 12 / 15.
    CHECK(expected_average_value(parameters, {2, 100.0}) == Approx(0.2 * 40.0 + 0.8 * 100.0));
}

TEST_CASE("With q <= 1 the population mean is undefined and the fallbacks are used") {
    // p (gamma + x m_x) / (p x + q - 1) still holds for x >= 1 when p x + q > 1.
    const GammaGammaParameters heavy_tailed{1.0, 0.5, 1.0};
    CHECK(expected_average_value(heavy_tailed, {2, 10.0}, 25.0) == Approx(1.0 * (1.0 + 20.0) / 1.5));
    // x = 0: no population mean, the fallback (the observed mean) stands in; NaN without one.
    CHECK(expected_average_value(heavy_tailed, {0, 0.0}, 25.0) == 25.0);
    CHECK(std::isnan(expected_average_value(heavy_tailed, {0, 0.0})));
    // p x + q <= 1: the customer's own average.
    CHECK(expected_average_value({0.2, 0.5, 1.0}, {2, 10.0}, 25.0) == 10.0);
}

TEST_CASE("A heavy-tailed population fits q <= 1 and every expected value stays finite") {
    // nu ~ Gamma(0.8, 20): the spend rates are so spread that the mean spend does not exist.
    const auto [customers, fit] = fit_simulated({2.0, 0.8, 20.0}, 5'000, 6, 5);
    INFO("p=" << fit.parameters.p << " q=" << fit.parameters.q << " gamma=" << fit.parameters.gamma);
    REQUIRE(fit.parameters.q <= 1.0);
    double observed = 0.0;
    for (const SpendHistory& customer : customers) observed += customer.average_value;
    CHECK(fit.observed_mean_value == Approx(observed / static_cast<double>(customers.size())));
    CHECK(expected_average_value(fit.parameters, {0, 0.0}, fit.observed_mean_value) == fit.observed_mean_value);
    std::size_t not_finite = 0;
    for (const SpendHistory& customer : customers)
        if (!std::isfinite(expected_average_value(fit.parameters, customer, fit.observed_mean_value))) ++not_finite;
    CHECK(not_finite == 0);
}

TEST_CASE("Gamma-Gamma fit recovers simulated parameters") {
    // 20,000 customers with 1..12 repeat purchases; 15% on each parameter is several
    // standard errors (p and q are strongly correlated, the population mean is tighter).
    const GammaGammaParameters truth{6.0, 4.0, 20.0};
    const auto [customers, fit] = fit_simulated(truth, 20'000, 12, 3);
    INFO("p=" << fit.parameters.p << " q=" << fit.parameters.q << " gamma=" << fit.parameters.gamma
              << " iterations=" << fit.iterations);
    CHECK(fit.converged);
    CHECK(fit.parameters.p == Approx(truth.p).epsilon(0.15));
    CHECK(fit.parameters.q == Approx(truth.q).epsilon(0.15));
    CHECK(fit.parameters.gamma == Approx(truth.gamma).epsilon(0.15));
    const double mean = fit.parameters.p * fit.parameters.gamma / (fit.parameters.q - 1);
    CHECK(mean == Approx(40.0).epsilon(0.03));
    CHECK(fit.log_likelihood >= gamma_gamma_log_likelihood(truth, customers));
}
