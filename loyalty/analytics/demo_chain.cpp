#include "loyalty/demo_chain.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <string>

#include "random.hpp"

namespace loyalty::analytics {
namespace {

constexpr double days_per_year = 365.25;
constexpr DayNumber seasonal_peak = 20'070;  // a mid-December day; only its phase matters

// The BG/NBD purchase process of one member over (0, age] days after their first purchase at
// day 0, thinned by a yearly seasonality. Returns distinct purchase days, relative to day 0.
void draw_purchase_days(Random& random, double rate, double dropout, DayNumber start,
                        std::int32_t age, double seasonality, std::vector<std::int32_t>& days) {
    days.assign(1, 0);
    double time = 0.0;
    while (true) {
        time += random.exponential(rate * (1.0 + seasonality));
        if (time > age) return;
        const auto day = static_cast<std::int32_t>(time);
        const double phase = 2.0 * std::numbers::pi * (start + day - seasonal_peak) / days_per_year;
        if (!random.chance((1.0 + seasonality * std::cos(phase)) / (1.0 + seasonality))) continue;
        if (day != days.back()) days.push_back(day);
        if (random.chance(dropout)) return;
    }
}

struct Tastes {
    std::array<Index, 3> favourite_categories;
    double price_sensitivity;  // chance that a line carries a discount
    Index home_store;
    double spend_rate;         // nu of the Gamma-Gamma model
    double lines_per_day;
};

class ChainGenerator {
public:
    explicit ChainGenerator(const DemoChainConfig& config) : config_(config), random_(config.seed) {
        for (std::size_t c = 0; c < config.categories; ++c) {
            history_.categories.intern("category-" + std::to_string(c + 1));
            for (std::size_t s = 0; s < config.skus_per_category; ++s) {
                history_.skus.intern("sku-" + std::to_string(c + 1) + "-" + std::to_string(s + 1));
            }
        }
        for (std::size_t s = 0; s < config.stores; ++s) history_.stores.intern("store-" + std::to_string(s + 1));
    }

    PurchaseHistory run() && {
        for (std::size_t m = 0; m < config_.members; ++m) add_member(m);
        return std::move(history_);
    }

private:
    void add_member(std::size_t number) {
        const Index member = history_.members.intern("M" + std::to_string(100'000 + number));
        const auto start = static_cast<DayNumber>(
            config_.first_day + random_.below(static_cast<std::uint64_t>(config_.last_day - config_.first_day + 1)));
        if (random_.chance(config_.never_purchased_share)) return;
        const BgnbdParameters& purchasing = config_.purchasing;
        const double rate = random_.gamma(purchasing.r, purchasing.alpha);
        const double dropout = random_.beta(purchasing.a, purchasing.b);
        const Tastes tastes = draw_tastes();
        draw_purchase_days(random_, rate, dropout, start, config_.last_day - start, config_.seasonality, days_);
        for (const std::int32_t day : days_) add_purchase_day(member, start + day, tastes);
    }

    Tastes draw_tastes() {
        Tastes tastes{};
        for (Index& category : tastes.favourite_categories) {
            category = static_cast<Index>(random_.below(config_.categories));
        }
        tastes.price_sensitivity = random_.beta(1.0, 4.0);
        tastes.home_store = static_cast<Index>(random_.below(config_.stores));
        tastes.spend_rate = random_.gamma(config_.spending.q, config_.spending.gamma);
        tastes.lines_per_day = 1.0 + random_.gamma(2.0, 0.4);  // mean 6 lines
        return tastes;
    }

    void add_purchase_day(Index member, DayNumber day, const Tastes& tastes) {
        const double value = random_.gamma(config_.spending.p, tastes.spend_rate);
        const auto lines = 1 + static_cast<std::size_t>(random_.exponential(1.0 / (tastes.lines_per_day - 1.0)));
        const Index store = random_.chance(0.8) ? tastes.home_store
                                                : static_cast<Index>(random_.below(config_.stores));
        // Exponential weights split the day's value into lines (a flat Dirichlet split).
        weights_.clear();
        double total_weight = 0.0;
        for (std::size_t i = 0; i < lines; ++i) total_weight += weights_.emplace_back(random_.exponential(1.0));
        for (const double weight : weights_) {
            add_line(member, day, store, value * weight / total_weight, tastes);
        }
    }

    void add_line(Index member, DayNumber day, Index store, double value, const Tastes& tastes) {
        PurchaseLine line;
        line.member = member;
        line.day = day;
        line.store = store;
        line.amount_cents = std::max<std::int64_t>(1, std::llround(value * 100.0));
        line.category = random_.chance(0.7) ? tastes.favourite_categories[random_.below(3)]
                                            : static_cast<Index>(random_.below(config_.categories));
        line.sku = static_cast<Index>(line.category * config_.skus_per_category +
                                      random_.below(config_.skus_per_category));
        line.quantity = 1 + static_cast<std::uint32_t>(random_.below(3));
        if (random_.chance(tastes.price_sensitivity)) {
            line.discount_cents = line.amount_cents * static_cast<std::int64_t>(10 + random_.below(21)) / 100;
        }
        history_.lines.push_back(line);
    }

    const DemoChainConfig& config_;
    Random random_;
    PurchaseHistory history_;
    std::vector<std::int32_t> days_;
    std::vector<double> weights_;
};

}  // namespace

PurchaseHistory generate_demo_chain(const DemoChainConfig& config) { return ChainGenerator(config).run(); }

std::vector<RepeatHistory> simulate_repeat_histories(const BgnbdParameters& parameters,
                                                     std::size_t customers,
                                                     std::int32_t max_age_days, std::uint64_t seed) {
    Random random(seed);
    std::vector<RepeatHistory> histories;
    histories.reserve(customers);
    std::vector<std::int32_t> days;
    for (std::size_t i = 0; i < customers; ++i) {
        const auto age = static_cast<std::int32_t>(1 + random.below(static_cast<std::uint64_t>(max_age_days)));
        const double rate = random.gamma(parameters.r, parameters.alpha);
        const double dropout = random.beta(parameters.a, parameters.b);
        draw_purchase_days(random, rate, dropout, 0, age, 0.0, days);
        histories.push_back({static_cast<std::uint32_t>(days.size() - 1), days.back(), age});
    }
    return histories;
}

std::vector<SpendHistory> simulate_spend_histories(const GammaGammaParameters& parameters,
                                                   std::span<const std::uint32_t> repeat_counts,
                                                   std::uint64_t seed) {
    Random random(seed);
    std::vector<SpendHistory> histories;
    histories.reserve(repeat_counts.size());
    for (const std::uint32_t x : repeat_counts) {
        const double spend_rate = random.gamma(parameters.q, parameters.gamma);
        double total = 0.0;
        for (std::uint32_t i = 0; i < x; ++i) total += random.gamma(parameters.p, spend_rate);
        histories.push_back({x, total / x});
    }
    return histories;
}

}  // namespace loyalty::analytics
