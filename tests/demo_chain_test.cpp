#include "loyalty/demo_chain.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <sstream>

using namespace loyalty::analytics;

namespace {

std::string as_csv(const PurchaseHistory& history) {
    std::ostringstream out;
    write_transactions_csv(history, out);
    return out.str();
}

DemoChainConfig small_chain(std::uint64_t seed) {
    DemoChainConfig config;
    config.seed = seed;
    config.members = 3'000;
    return config;
}

}  // namespace

TEST_CASE("The demo chain is a function of its seed") {
    CHECK(as_csv(generate_demo_chain(small_chain(7))) == as_csv(generate_demo_chain(small_chain(7))));
    CHECK(as_csv(generate_demo_chain(small_chain(7))) != as_csv(generate_demo_chain(small_chain(8))));
}

TEST_CASE("The demo chain looks like a chain") {
    const DemoChainConfig config = small_chain(3);
    const PurchaseHistory history = generate_demo_chain(config);
    CHECK(history.members.size() == config.members);
    CHECK(history.categories.size() == config.categories);
    CHECK(history.stores.size() == config.stores);
    std::set<Index> buyers;
    std::size_t discounted = 0, december = 0, june = 0;
    for (const PurchaseLine& line : history.lines) {
        buyers.insert(line.member);
        CHECK((line.day >= config.first_day && line.day <= config.last_day));
        CHECK(line.amount_cents > 0);
        discounted += line.discount_cents > 0;
        const std::string month = format_day(line.day).substr(5, 2);
        december += month == "12";
        june += month == "06";
    }
    // About 5% never buy; seasonality puts clearly more lines in December than in June.
    CHECK(buyers.size() < config.members * 0.97);
    CHECK(buyers.size() > config.members * 0.92);
    CHECK(december > june * 1.2);
    CHECK(discounted > history.lines.size() / 10);
    CHECK(discounted < history.lines.size() / 2);
}

TEST_CASE("Simulated repeat histories are consistent") {
    const auto histories = simulate_repeat_histories({0.5, 20.0, 1.0, 3.0}, 1'000, 365, 1);
    REQUIRE(histories.size() == 1'000);
    for (const RepeatHistory& h : histories) {
        CHECK((h.t_x >= 0 && h.t_x <= h.T && h.T >= 1 && h.T <= 365));
        CHECK(h.x <= static_cast<std::uint32_t>(h.t_x));  // one purchase per day at most
    }
}
