#include "loyalty/gamma_gamma.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "loyalty/demo_chain.hpp"

using namespace loyalty::analytics;

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
    CHECK(std::isinf(expected_average_value({1.0, 0.5, 1.0}, {2, 10.0})));
}

TEST_CASE("Gamma-Gamma fit recovers simulated parameters") {
    // 20,000 customers with 1..12 repeat purchases; 15% on each parameter is several
    // standard errors (p and q are strongly correlated, the population mean is tighter).
    const GammaGammaParameters truth{6.0, 4.0, 20.0};
    std::vector<std::uint32_t> repeat_counts;
    for (std::uint32_t i = 0; i < 20'000; ++i) repeat_counts.push_back(1 + i % 12);
    const auto customers = simulate_spend_histories(truth, repeat_counts, 3);
    const GammaGammaFit fit = fit_gamma_gamma(customers);
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
