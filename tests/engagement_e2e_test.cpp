// Engagement on real processes: loyalty-hq serve runs the engagement rules on its own schedule,
// and the bonus reaches the member's till over mTLS, once.
#include <catch2/catch.hpp>
#include <ctime>
#include <thread>

#include "support/sync_chain.hpp"

using loyalty::test::card_number;
using loyalty::test::Chain;
using loyalty::test::eventually;
using loyalty::test::expect;
using loyalty::test::HeadOffice;
using loyalty::test::SyncedTill;
using nlohmann::json;
using namespace std::chrono_literals;

TEST_CASE("loyalty-hq serve grants a birthday bonus by itself, once, and the member's till shows it",
          "[engagement][e2e]") {
    // A birthday this month (UTC, as head office counts months).
    const std::time_t now = std::time(nullptr);
    std::tm today{};
    gmtime_r(&now, &today);
    char birthday[6];
    REQUIRE(std::strftime(birthday, sizeof birthday, "%m-01", &today) == 5);
    Chain chain(json{{"engagement", {{"birthday_points", 200}, {"run_interval_seconds", 1}}}});
    HeadOffice hq(chain);
    SyncedTill till(chain, "S01", "T1");
    const json body{{"card", card_number(1)}, {"name", "Ada"}, {"birthday", birthday}};
    const std::string member = expect(till.api().request("POST", "/v1/members", body), 201).at("member_id");

    CHECK(eventually([&] { return hq.balance(member) == 200; }, 30s));
    CHECK(eventually([&] { return till.balance(member) == 200; }, 30s));
    // Later runs (every second) find the year's bonus granted and credit nothing more.
    std::this_thread::sleep_for(3s);
    CHECK(hq.balance(member) == 200);
    CHECK(till.balance(member) == 200);
    CHECK(loyalty::test::count_log_events(hq.stderr_text(), "engagement_run") == 1);  // one run granted
}
