// Crash safety of a real loyalty-hq during ingest: two real tills sell without pause and stream
// their outboxes while head office is SIGKILLed at random moments (seeded), 24 times, and
// restarted on the same database each time. Once the tills have caught up, head office holds
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

    std::mt19937 random(20'261'123);
    constexpr int kills = 24;
    {
        Cashier at_a(a, members, 1), at_b(b, members, 2);
        for (int kill = 0; kill < kills; ++kill) {
            // Up to 600 ms of ingest (tills reconnect within 50 ms to 1 s of backoff), then a kill.
            std::this_thread::sleep_for(std::chrono::milliseconds(random() % 600));
            const auto status = hq.kill();
            INFO("kill " << kill);
            CHECK(status.signalled);
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
    // Every till must have lived through kills mid-stream: each reconnected many times.
    const auto connections = [](const std::string& log) {
        std::size_t count = 0;
        for (std::size_t at = log.find("\"sync_connected\""); at != std::string::npos;
             at = log.find("\"sync_connected\"", at + 1))
            ++count;
        return count;
    };
    INFO("connections: A " << connections(a.stderr_text()) << ", B " << connections(b.stderr_text()));
    CHECK(connections(a.stderr_text()) >= kills / 4);
    CHECK(connections(b.stderr_text()) >= kills / 4);

    const auto problems = loyalty::test::audit_until_healed(hq, chain, {&a, &b}, members);
    for (const std::string& problem : problems) UNSCOPED_INFO(problem);
    CHECK(problems.empty());
    for (SyncedTill* till : {&a, &b}) {
        const json entry = hq.till(till->till_id());
        CHECK(entry.at("last_acked_seq") ==
              loyalty::test::ReadOnlyDatabase(till->database()).integer("SELECT MAX(seq) FROM outbox"));
    }
}
