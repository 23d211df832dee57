// Issue 6's "done when": a real loyalty-hq and a real loyaltyd over mutual TLS on loopback. A
// segmentation run at head office, a campaign on it, the offer reaching the till over sync, a
// purchase there applying it, the use coming back to head office and counted by the report;
// the control group never gets the offer.
#include <catch2/catch.hpp>

#include "hq_campaigns.hpp"
#include "loyalty/clock.hpp"
#include "support/sync_chain.hpp"

namespace {

using loyalty::test::Chain;
using loyalty::test::eventually;
using loyalty::test::expect;
using loyalty::test::HeadOffice;
using loyalty::test::SyncedTill;
using nlohmann::json;

bool has_offer(const json& listed, const std::string& offer_id) {
    for (const json& offer : listed)
        if (offer.dump().find("\"" + offer_id + "\"") != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_CASE("a campaign on a segmentation run reaches the till, is used there and reported, control never gets it",
          "[campaigns][integration]") {
    Chain chain;
    HeadOffice hq(chain);
    SyncedTill till(chain, "S01", "T1");
    std::vector<std::string> members;
    for (int n = 1; n <= 24; ++n) {
        // Personalised offers need the member's consent, given here at enrolment.
        const json member = {{"card", loyalty::test::card_number(n)},
                             {"name", "Member " + std::to_string(n)},
                             {"consent", {{"personalised_offers", true}}}};
        members.push_back(expect(till.api().request("POST", "/v1/members", member), 201).at("member_id"));
        expect(till.buy("P" + std::to_string(n), members.back(), 1'000 + 250 * n), 201);
    }
    REQUIRE(eventually([&] { return till.synced(); }));
    REQUIRE(eventually([&] { return hq.balance(members.back()) > 0; }));

    const loyalty::Timestamp now = loyalty::SystemClock().now();
    const std::string stored = chain.hq_output("segment --as-of " + loyalty::format_date(now));
    INFO(stored);
    REQUIRE(stored.find("Stored run") != std::string::npos);

    const json body = {{"name", "Welcome back"},
                       {"control_percent", 30},
                       {"target", json::object()},  // every member of the run
                       {"offer",
                        {{"kind", "bonus_points"},
                         {"title", "150 bonus points"},
                         {"bonus_points", 150},
                         // after the purchases above, so the report's window holds only the one below
                         {"valid_from", loyalty::format_timestamp(now + 1)},
                         {"valid_until", loyalty::format_timestamp(now + 7 * 86'400)}}}};
    const json created = expect(hq.admin().request("POST", "/v1/campaigns", body), 201);
    const std::string campaign_id = created.at("campaign_id");
    const std::string offer_id = campaign_id + "-O1";
    const json preview = expect(hq.admin().request("POST", "/v1/campaigns/" + campaign_id + "/preview"), 200);
    CHECK(preview.at("targeted") == 24);
    const json launched = expect(hq.admin().request("POST", "/v1/campaigns/" + campaign_id + "/launch"), 200);
    CHECK(launched.at("status") == "active");

    std::vector<std::string> treated, control;
    for (const std::string& member : members)
        (loyalty::hq::control_group_hash(campaign_id, member) < 3000 ? control : treated).push_back(member);
    REQUIRE(!treated.empty());
    REQUIRE(!control.empty());
    CHECK(preview.at("control") == static_cast<std::int64_t>(control.size()));

    // The offer reaches the till over sync, for the treated members only (the member summary
    // lists offers live now, so this also waits for valid_from).
    const auto offers_at_till = [&till](const std::string& member) {
        return expect(till.api().request("GET", "/v1/members/" + member), 200).at("offers");
    };
    REQUIRE(eventually([&] { return has_offer(offers_at_till(treated[0]), offer_id); }));
    REQUIRE(eventually([&] { return has_offer(offers_at_till(treated.back()), offer_id); }));
    for (const std::string& member : control) {
        INFO(member);
        CHECK_FALSE(has_offer(offers_at_till(member), offer_id));
    }

    // A purchase at the till applies it; a control member's purchase does not.
    const json used = expect(till.buy("C1", treated[0], 2'000), 201);
    INFO(used.dump());
    CHECK(has_offer(used.at("offers"), offer_id));
    const json not_used = expect(till.buy("C2", control[0], 2'000), 201);
    CHECK_FALSE(has_offer(not_used.at("offers"), offer_id));
    CHECK(not_used.at("points_earned").get<std::int64_t>() + 150 == used.at("points_earned").get<std::int64_t>());
    REQUIRE(eventually([&] { return till.synced(); }));

    // The use comes back to head office and the report counts it.
    json report;
    REQUIRE(eventually([&] {
        report = expect(hq.admin().request("GET", "/v1/campaigns/" + campaign_id + "/report"), 200);
        return report.at("uses") == 1;
    }));
    INFO(report.dump());
    CHECK(report.at("redeemed") == 1);
    CHECK(report.at("points_given") == 150);
    CHECK(report.at("treated") == static_cast<std::int64_t>(treated.size()));
    CHECK(report.at("control") == static_cast<std::int64_t>(control.size()));
    CHECK(report.at("spend_per_member_cents").at("treated").get<std::int64_t>() ==
          std::llround(2'000.0 / static_cast<double>(treated.size())));
    CHECK(report.at("over_limit_uses").empty());
    for (const std::string& member : control) CHECK_FALSE(has_offer(offers_at_till(member), offer_id));
}
