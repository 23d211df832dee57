// Synthetic but realistic purchase histories: for tests, the demo and benchmarks.
//
// Members follow the BG/NBD story (Poisson purchasing at a Gamma-distributed rate, dropping
// out after a purchase with a Beta-distributed probability) with a yearly seasonality, and
// spend per purchase day follows the Gamma-Gamma story; each purchase day is split into lines
// over categories (each member has favourites), SKUs, prices, discounts (each member has a
// price sensitivity) and stores (each member has a home store). Some members enrol and never
// buy. Everything is a function of the seed: the same config gives the same history on every
// platform. Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "loyalty/bgnbd.hpp"
#include "loyalty/gamma_gamma.hpp"
#include "loyalty/transactions.hpp"

namespace loyalty::analytics {

struct DemoChainConfig {
    std::uint64_t seed = 1;
    std::size_t members = 10'000;
    DayNumber first_day = 19'358;  // 2023-01-01: members enrol uniformly from here...
    DayNumber last_day = 20'088;   // 2024-12-31: ...to here, the end of the history
    BgnbdParameters purchasing{0.75, 30.0, 0.8, 4.0};   // mean rate 1 purchase day in 40
    GammaGammaParameters spending{6.0, 4.0, 20.0};      // mean 40 currency units per day
    double seasonality = 0.3;  // yearly rate swing, peaking mid-December; 0 for none
    double never_purchased_share = 0.05;
    std::size_t categories = 12;
    std::size_t skus_per_category = 25;
    std::size_t stores = 8;
};

PurchaseHistory generate_demo_chain(const DemoChainConfig& config);

// Direct draws from the two models, for checking the estimators: customers of uniformly
// random age 1..max_age_days days (purchase times floored to whole days, one purchase per day),
// and average spend over x purchases for each given x.
std::vector<RepeatHistory> simulate_repeat_histories(const BgnbdParameters& parameters,
                                                     std::size_t customers,
                                                     std::int32_t max_age_days, std::uint64_t seed);
std::vector<SpendHistory> simulate_spend_histories(const GammaGammaParameters& parameters,
                                                   std::span<const std::uint32_t> repeat_counts,
                                                   std::uint64_t seed);

}  // namespace loyalty::analytics
