// Head office's sync store: the till registry, the events every till sent (which are also the
// downstream feed, in `version` order), which members each till knows, and the rule versions
// pushed to tills. The ledger itself is the head-office Program's; this store only decides
// what to apply and records what was received.
//
// HqStore is the narrow interface the sync listener and the admin API use, so that a
// PostgreSQL backend can replace SqliteHqStore later. Not thread-safe: call it from one thread
// (loyalty-hq runs every call on its database thread). Storage failures throw StorageError.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loyalty/clock.hpp"
#include "loyalty/program.hpp"
#include "loyalty/protocol.hpp"
#include "loyalty/result.hpp"

namespace loyalty::hq {

// Config items travel in the same feed as till events under this origin; no till id can
// clash with it (till ids are STORE-TILL).
inline constexpr std::string_view config_origin = "HQ";

struct TillRecord {
    std::string till_id;
    std::string store_id;
    bool revoked = false;
    Timestamp enrolled_at = 0;
    std::optional<Timestamp> last_seen;
    std::uint64_t last_seq = 0;            // highest contiguous seq stored from this till
    std::uint64_t downstream_cursor = 0;   // highest feed version the till has applied
};

struct BatchOutcome {
    std::uint64_t highest_contiguous_seq = 0;  // what to Ack
    std::size_t stored = 0;                    // events new to head office
    std::size_t replayed = 0;                  // events already stored, skipped
    // Why the batch stopped early (a gap, or an event the ledger refuses); empty if it did not.
    std::optional<Error> stopped;
};

struct FeedPage {
    std::vector<protocol::DownstreamItem> items;
    // Every feed version up to here has been looked at for this till (items or not), so the
    // next page starts after it.
    std::uint64_t scanned_to = 0;
};

class HqStore {
  public:
    virtual ~HqStore() = default;

    // Registers till STORE-TILL of `store_id` (the id must start with the store). Registering it
    // again is harmless; a revoked till stays revoked (issue it a new id).
    virtual Result<TillRecord> add_till(const std::string& store_id, const std::string& till_id) = 0;
    virtual Result<TillRecord> revoke_till(const std::string& till_id) = 0;
    virtual std::optional<TillRecord> find_till(const std::string& till_id) = 0;
    virtual std::vector<TillRecord> tills() = 0;
    virtual void touch_till(const std::string& till_id) = 0;

    // Stores a till's events, in seq order, each exactly once (see the .cpp for crash safety).
    virtual BatchOutcome store_batch(const std::string& till_id,
                                     const std::vector<protocol::Event>& events) = 0;

    // The member's snapshot (Program::member_snapshot) or null; a member found becomes known
    // to the till, so the feed carries their later changes to it.
    virtual Result<nlohmann::json> query_member(const std::string& till_id,
                                                const protocol::MemberQuery& query) = 0;

    // Feed items for `till_id` after `after_version`: other tills' events about members the
    // till knows, and every config version. At most `max_items`, and stops before the page's
    // JSON passes `max_bytes` (always at least one item).
    virtual FeedPage downstream(const std::string& till_id, std::uint64_t after_version,
                                std::size_t max_items, std::size_t max_bytes) = 0;
    virtual void set_downstream_cursor(const std::string& till_id, std::uint64_t version) = 0;
    // How many feed items the till has not acknowledged yet.
    virtual std::uint64_t pending_downstream(const std::string& till_id) = 0;

    // Puts the Program's current rule version in the feed unless it is already there.
    virtual void publish_current_rules() = 0;
};

class SqliteHqStore final : public HqStore {
  public:
    // Adds head office's tables to the Program's database. `program` must outlive the store.
    SqliteHqStore(Program& program, const Clock& clock);

    Result<TillRecord> add_till(const std::string& store_id, const std::string& till_id) override;
    Result<TillRecord> revoke_till(const std::string& till_id) override;
    std::optional<TillRecord> find_till(const std::string& till_id) override;
    std::vector<TillRecord> tills() override;
    void touch_till(const std::string& till_id) override;
    BatchOutcome store_batch(const std::string& till_id,
                             const std::vector<protocol::Event>& events) override;
    Result<nlohmann::json> query_member(const std::string& till_id,
                                        const protocol::MemberQuery& query) override;
    FeedPage downstream(const std::string& till_id, std::uint64_t after_version,
                        std::size_t max_items, std::size_t max_bytes) override;
    void set_downstream_cursor(const std::string& till_id, std::uint64_t version) override;
    std::uint64_t pending_downstream(const std::string& till_id) override;
    void publish_current_rules() override;

  private:
    void record_event(const std::string& till_id, const protocol::Event& event);

    Program& program_;
    const Clock& clock_;
};

// Every member id an outbox event's payload mentions (member, entries, lots, result, ...).
std::vector<std::string> members_in_payload(const nlohmann::json& payload);

}  // namespace loyalty::hq
