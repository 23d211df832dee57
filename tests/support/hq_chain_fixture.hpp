// Head office and tills as real Programs over real SQLite files in one process, synced by hand:
// each till's outbox goes to SqliteHqStore::store_batch, and head office's feed for the till is
// applied there as the sync agent would. For tests of head-office rules that reach the tills
// (engagement, offers, privacy) without sockets; the mTLS path has its own tests.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core_fixture.hpp"
#include "downstream_items.hpp"
#include "hq_store.hpp"

namespace loyalty::testing {

class HeadOfficeWithTills {
  public:
    // `till_ids` like "S01-T1": store S01, each registered at head office.
    explicit HeadOfficeWithTills(const std::vector<std::string>& till_ids, RuleSet rules = rules_with())
        : clock(test_start()), rules_(std::move(rules)) {
        hq = std::make_unique<Program>(options("HQ"), clock, rules_);
        store = std::make_unique<hq::SqliteHqStore>(*hq, clock);
        for (const std::string& till_id : till_ids) {
            tills_.emplace(till_id, std::make_unique<Program>(options(till_id), clock, rules_));
            REQUIRE(store->add_till(till_id.substr(0, till_id.find('-')), till_id).ok());
        }
    }

    Program& till(const std::string& till_id) { return *tills_.at(till_id); }

    // The till's new events to head office, then head office's feed back to the till.
    void sync(const std::string& till_id) {
        Program& program = till(till_id);
        std::vector<protocol::Event> events;
        for (const OutboxEvent& event : program.outbox().pending(100'000))
            events.push_back({static_cast<std::uint64_t>(event.seq), event.type, event.payload, event.created_at});
        const auto outcome = store->store_batch(till_id, events);
        REQUIRE_FALSE(outcome.stopped);
        if (outcome.highest_contiguous_seq > 0)
            program.outbox().acknowledge(static_cast<std::int64_t>(outcome.highest_contiguous_seq));
        std::uint64_t& fed = fed_[till_id];
        for (const auto& item : store->downstream(till_id, fed, 100'000, 1 << 24).items) {
            const auto refused = sync::apply_downstream_item(program, item, till_id);
            INFO(refused.value_or(""));
            REQUIRE_FALSE(refused);
            fed = item.version;
        }
    }
    void sync_all() {
        for (int round = 0; round < 2; ++round)  // the second round brings each till the others' events
            for (const auto& [till_id, program] : tills_) sync(till_id);
    }

    TempDir dir;
    ManualClock clock;
    std::unique_ptr<Program> hq;
    std::unique_ptr<hq::SqliteHqStore> store;

  private:
    ProgramOptions options(const std::string& node_id) {
        return {(dir.path() / (node_id + ".db")).string(), node_id, Durability::normal};
    }

    RuleSet rules_;
    std::map<std::string, std::unique_ptr<Program>> tills_;
    std::map<std::string, std::uint64_t> fed_;
};

}  // namespace loyalty::testing
