// Crash safety of a real loyalty-hq during ingest: two real tills sell without pause and stream
// their outboxes while head office is SIGKILLed 24 times, at seeded random moments, half of them once both
// tills are streaming to it again, and restarted on the same database each time. Once the tills have caught up, head office holds
// every event of every till exactly once, each till's acknowledged seq is its last seq, the
// purchases the tills acknowledged are at head office once each, and every balance is its
// ledger's sum, the same at head office and at both tills (audit_chain in sync_chain.hpp).
#include <catch2/catch.hpp>
#include <random>
#include <thread>

#include "support/sync_chain.hpp"
#include "support/till_daemon.hpp"

namespace {

using loyalty::test::card_number;
using loyalty::test::Cashier;
using loyalty::test::Chain;
using loyalty::test::eventually;
using loyalty::test::expect;
using loyalty::test::HeadOffice;
using loyalty::test::SyncedTill;
using nlohmann::json;
using namespace std::chrono_literals;

}  // namespace

TEST_CASE("24 SIGKILLs of head office during ingest lose and double nothing", "[reliability][crash][sync]") {
    Chain chain;
    HeadOffice hq(chain);
    SyncedTill a(chain, "S01", "T1"), b(chain, "S02", "T1");
    // Two members, one enrolled at each till; each till looks the other's up, so both know both.
    const std::vector<std::string> members{a.enroll(1), b.enroll(2)};
    REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
    expect(a.api().request("GET", "/v1/members?card=" + card_number(2)), 200);
    expect(b.api().request("GET", "/v1/members?card=" + card_number(1)), 200);

    // How many sessions a till has had with head office so far: its "sync_connected" log lines.
    const auto connections = [](SyncedTill& till) {
        return loyalty::test::count_log_events(till.stderr_text(), "sync_connected");
    };
    std::mt19937 random(20'261'123);
    constexpr int kills = 24;
    {
        Cashier at_a(a, members, 1), at_b(b, members, 2);
        std::size_t seen_a = 0, seen_b = 0;  // sessions each till had before the current head office
        for (int kill = 0; kill < kills; ++kill) {
            INFO("kill " << kill);
            if (kill % 2 == 0) {
                // Every other kill lands mid-stream: both tills have opened a new session with this
                // head office (however slow a loaded machine makes its start), then up to 300 ms of
                // ingest. The others land anywhere, handshakes and start-up included.
                REQUIRE(eventually([&] { return connections(a) > seen_a && connections(b) > seen_b; }));
                std::this_thread::sleep_for(std::chrono::milliseconds(random() % 300));
            } else {
                std::this_thread::sleep_for(std::chrono::milliseconds(random() % 600));
            }
            const auto status = hq.kill();
            CHECK(status.signalled);
            seen_a = connections(a);
            seen_b = connections(b);
            if (random() % 3 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(random() % 300));  // down a while
            hq.start();
        }
        at_a.stop();
        at_b.stop();
        INFO("A: " << at_a.acknowledged() << " sales, B: " << at_b.acknowledged());
        CHECK(at_a.failures().empty());
        CHECK(at_b.failures().empty());
        CHECK(at_a.acknowledged() > 50);
        CHECK(at_b.acknowledged() > 50);
    }

    const auto problems = loyalty::test::audit_until_healed(hq, chain, {&a, &b}, members);
    for (const std::string& problem : problems) UNSCOPED_INFO(problem);
    CHECK(problems.empty());
    for (SyncedTill* till : {&a, &b}) {
        const json entry = hq.till(till->till_id());
        CHECK(entry.at("last_acked_seq") ==
              loyalty::test::ReadOnlyDatabase(till->database()).integer("SELECT MAX(seq) FROM outbox"));
    }
}
