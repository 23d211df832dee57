// Partitions and flapping links: two real tills reach a real loyalty-hq each through its own
// FlakyProxy (tests/support/flaky_proxy.hpp), which follows a seeded, bounded schedule of
// faults: partitions (bytes held until they heal or the ends give up), lost bytes, delays past
// the heartbeat, refused connections, connections cut part-way through a TLS record, resets. The tills keep selling to members both of them
// know the whole time. Once the links heal, head office holds exactly the union of the tills'
// events, each (till, seq) once, every balance is its ledger's sum, and both tills hold the
// same ledger as head office for every member (audit_chain in sync_chain.hpp).
#include "support/flaky_proxy.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <optional>
#include <random>
#include <thread>

#include "support/sync_chain.hpp"

namespace {

using loyalty::test::card_number;
using loyalty::test::Cashier;
using loyalty::test::Chain;
using loyalty::test::eventually;
using loyalty::test::expect;
using loyalty::test::FlakyProxy;
using loyalty::test::HeadOffice;
using loyalty::test::ProxyFault;
using loyalty::test::SyncedTill;
using loyalty::test::TillOptions;
using Kind = loyalty::test::ProxyFault::Kind;
using namespace std::chrono_literals;

// One step of a link's schedule: a fault held for a while, or a reset of every connection.
struct Step {
    ProxyFault fault;
    bool reset = false;
    std::chrono::milliseconds hold{0};
};

// A link's schedule from `seed`: every kind of fault three times and six healthy spells (for
// the tills to get some events through), shuffled; each held 100 to 700 ms, partitions up to
// 4 s and refusals 1 to 2 s (the tills retry within 1 s, so each refusal meets them).
// Partitions and delays reach past the tills' heartbeat (1 s) and idle timeout (3 s) only
// sometimes, so both links that recover and links the ends give up on occur.
std::vector<Step> schedule(unsigned seed) {
    std::mt19937 random(seed);
    std::vector<Step> result;
    for (int round = 0; round < 3; ++round) {
        for (const Kind kind : {Kind::partition, Kind::drop, Kind::refuse, Kind::delay, Kind::cut}) {
            Step step;
            step.fault.kind = kind;
            result.push_back(step);
        }
        Step reset;
        reset.reset = true;
        result.push_back(reset);
        result.insert(result.end(), 2, Step{});
    }
    std::shuffle(result.begin(), result.end(), random);
    for (Step& step : result) {
        step.hold = std::chrono::milliseconds(100 + random() % 600);
        if (step.fault.kind == Kind::partition) step.hold *= 1 + random() % 6;
        if (step.fault.kind == Kind::refuse) step.hold = std::chrono::milliseconds(1'000 + random() % 1'000);
        if (step.fault.kind == Kind::delay) step.fault.delay = std::chrono::milliseconds(20 + random() % 1'500);
    }
    return result;
}

// How often a fault of `kind` has bitten the link so far; nullopt for delays and healthy spells.
std::optional<std::size_t> bites(const loyalty::test::ProxyStats& stats, Kind kind) {
    switch (kind) {
        case Kind::partition: return stats.bytes_held;
        case Kind::drop: return stats.bytes_dropped;
        case Kind::refuse: return stats.refused;
        case Kind::cut: return stats.cuts;
        case Kind::none:
        case Kind::delay: return std::nullopt;
    }
    return std::nullopt;
}

void play(FlakyProxy& proxy, const std::vector<Step>& steps) {
    for (const Step& step : steps) {
        if (step.reset) proxy.reset_all();
        const std::optional<std::size_t> before = bites(proxy.stats(), step.fault.kind);
        proxy.set_fault(step.fault);
        std::this_thread::sleep_for(step.hold);
        // A fault that fell on a quiet link (its till backing off after a refusal) did nothing:
        // it is held up to 3 s longer, so that every kind in the schedule really happens.
        const auto quiet = [&] { return before && bites(proxy.stats(), step.fault.kind) == before; };
        for (auto extra = 0ms; extra < 3s && quiet(); extra += 50ms) std::this_thread::sleep_for(50ms);
    }
    proxy.set_fault({});
}

}  // namespace

TEST_CASE("after partitions, delays, cuts and resets head office holds exactly the union of the tills' events",
          "[reliability][partition][sync]") {
    Chain chain;
    HeadOffice hq(chain);
    FlakyProxy link_a(chain.sync_port()), link_b(chain.sync_port());
    const auto through = [](const FlakyProxy& link) {
        TillOptions options;
        options.sync_port = link.port();
        return options;
    };
    SyncedTill a(chain, "S01", "T1", through(link_a)), b(chain, "S02", "T1", through(link_b));
    const std::vector<std::string> members{a.enroll(1), b.enroll(2), a.enroll(3)};
    REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
    for (int n : {1, 3}) expect(b.api().request("GET", "/v1/members?card=" + card_number(n)), 200);
    expect(a.api().request("GET", "/v1/members?card=" + card_number(2)), 200);

    {
        Cashier at_a(a, members, 11), at_b(b, members, 12);
        std::thread flapping_a([&] { play(link_a, schedule(101)); });  // about 15 s each
        play(link_b, schedule(202));
        flapping_a.join();
        at_a.stop();
        at_b.stop();
        INFO("A: " << at_a.acknowledged() << " sales, B: " << at_b.acknowledged());
        for (const std::string& failure : at_a.failures()) UNSCOPED_INFO(failure);
        for (const std::string& failure : at_b.failures()) UNSCOPED_INFO(failure);
        CHECK(at_a.failures().empty());
        CHECK(at_b.failures().empty());
        CHECK(at_a.acknowledged() > 50);
        CHECK(at_b.acknowledged() > 50);
    }
    // The schedule really hurt: connections were cut, reset and refused, bytes were lost.
    for (FlakyProxy* link : {&link_a, &link_b}) {
        const auto stats = link->stats();
        INFO("connections " << stats.connections << ", refused " << stats.refused << ", cuts " << stats.cuts
                            << ", resets " << stats.resets << ", held " << stats.bytes_held << ", dropped "
                            << stats.bytes_dropped);
        CHECK(stats.connections > 3);
        CHECK(stats.cuts + stats.resets > 0);
        CHECK(stats.refused > 0);
        CHECK(stats.bytes_held > 0);
        CHECK(stats.bytes_dropped > 0);
    }

    const auto problems = loyalty::test::audit_until_healed(hq, chain, {&a, &b}, members);
    for (const std::string& problem : problems) UNSCOPED_INFO(problem);
    CHECK(problems.empty());
}
