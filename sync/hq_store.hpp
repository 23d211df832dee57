// Head office's sync store: the till registry, the events every till sent (which are also the
// downstream feed, in `version` order), which members each till knows, and the rule versions
// pushed to tills. The ledger itself is the head-office Program's; this store only decides
// what to apply and records what was received.
//
// It also keeps the segmentation runs and each member's results (hq_segment_store.cpp).
//
// HqStore is the narrow interface the sync listener, the admin API and segmentation use, so that a
// PostgreSQL backend can replace SqliteHqStore later. Not thread-safe: call it from one thread
// (loyalty-hq runs every call on its database thread). Storage failures throw StorageError.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
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
// Changes head office makes to members (consent) travel under this origin.
inline constexpr std::string_view members_origin = "HQ:members";

struct TillRecord {
    std::string till_id;
    std::string store_id;
    bool revoked = false;
    Timestamp enrolled_at = 0;
    std::optional<Timestamp> last_seen;
    std::uint64_t last_seq = 0;            // highest contiguous seq stored from this till
    std::uint64_t downstream_cursor = 0;   // highest feed version the till has applied
    // The till's clock minus head office's at the last measurement (Hello or Heartbeat), in
    // seconds; empty until the till has connected with a clock-reporting version.
    std::optional<std::int64_t> clock_skew_seconds;
    // The expiry of the certificate the till last connected with; empty until it has connected.
    std::optional<Timestamp> certificate_not_after;
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

// One stored segmentation run (see hq_segmentation.hpp for how runs are made). A run is
// identified by (as_of, parameters): storing the same pair again keeps the first run unless
// it is replaced on purpose, so a schedule or an operator retrying never duplicates one.
struct SegmentRun {
    std::int64_t run_id = 0;
    std::string as_of;              // YYYY-MM-DD, the last day of history used
    nlohmann::json parameters;      // the run's settings besides as_of (horizon, window, ...)
    std::string trigger;            // "command" or "schedule"
    Timestamp started_at = 0;
    Timestamp finished_at = 0;
    std::int64_t members = 0;
    nlohmann::json report;          // run, models, segments (sizes, revenue share), clusters, rules
};

// One member's results in a run. Optional values are absent for members who never purchased.
struct MemberSegment {
    std::int64_t run_id = 0;
    std::string as_of;
    std::string member_id;
    std::optional<std::int64_t> recency_days;
    std::int64_t frequency = 0;             // repeat purchase days (BG/NBD x)
    std::int64_t window_purchase_days = 0;  // purchase days in the RFM window
    std::int64_t monetary_cents = 0;        // net spend in the RFM window
    std::int64_t r_score = 0, f_score = 0, m_score = 0;  // 1..5; 0 when not scored
    std::string segment, value_tier, spending_power, lifecycle, frequency_class;
    std::vector<std::string> tags;          // "category:X", "price_sensitive", "basket:large", "store:S"
    std::optional<double> p_alive, expected_purchases, clv;
    std::optional<std::int64_t> cluster;
};

// Which members of the latest run to return: every set field must match. For campaigns.
struct MemberSegmentFilter {
    std::vector<std::string> segments;  // any of these RFM segments (empty: any)
    std::vector<std::string> tags;      // all of these tags
    std::optional<std::string> value_tier, lifecycle;
    std::optional<double> min_clv, max_clv;
    std::optional<double> min_churn_probability;  // 1 - P(alive) at least this
    std::optional<std::int64_t> cluster;
    std::string after_member_id;  // paging: only member ids after this one (ascending order)
    std::size_t limit = 1000;
};

// Writes row `index` of a run about to be stored (the run's member count is known up front).
using MemberSegmentWriter = std::function<void(std::size_t index, MemberSegment& row)>;

class HqStore {
  public:
    virtual ~HqStore() = default;

    // Registers till STORE-TILL of `store_id` (the id must start with the store). Registering it
    // again is harmless; a revoked till stays revoked (issue it a new id).
    virtual Result<TillRecord> add_till(const std::string& store_id, const std::string& till_id) = 0;
    virtual Result<TillRecord> revoke_till(const std::string& till_id) = 0;
    virtual std::optional<TillRecord> find_till(const std::string& till_id) = 0;
    virtual std::vector<TillRecord> tills() = 0;
    // Records that the till was seen now, with the expiry of the certificate it presented
    // (nullopt: not over TLS, e.g. head office's own web channel).
    virtual void touch_till(const std::string& till_id, std::optional<Timestamp> certificate_not_after) = 0;
    virtual void record_clock_skew(const std::string& till_id, std::int64_t skew_seconds) = 0;

    // Stores a till's events, in seq order, each exactly once, in one transaction that also
    // notes the till as seen (see the .cpp for crash safety).
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
    // Offers (include/loyalty/offer.hpp): applied to head office's own Program and put in the
    // feed under offers_origin. A definition (new, edited, paused, ended) goes to every till;
    // an assignment only to tills that know one of its members (the others get it in the
    // member's snapshot when they ask). Publishing again is harmless: tills upsert.
    virtual Result<Done> publish_offer(const Offer& offer) = 0;
    // Gives (assigned) or withdraws an offer for members; refused for an offer never published.
    virtual Result<Done> assign_offer(const std::string& offer_id, const std::vector<std::string>& member_ids,
                                      bool assigned) = 0;
    // A change head office itself makes (origin: offers_origin, members_origin), applied to its
    // own Program as a remote event and then put in the feed: to every till if `member_ids` is
    // empty, else to the tills that know one of them.
    virtual Result<Done> publish_event(std::string_view origin, const std::string& type,
                                       const nlohmann::json& payload, const std::vector<std::string>& member_ids) = 0;

    // Blanks the personal data of an erased member (include/loyalty/erasure.hpp) in the events
    // head office keeps; events about them that arrive later are blanked as they are stored.
    virtual void erase_member_events(const std::string& member_id) = 0;

    // Segmentation runs. Only finished runs are ever returned.
    // The finished run for (as_of, parameters), if any.
    virtual std::optional<SegmentRun> find_segment_run(const std::string& as_of,
                                                       const nlohmann::json& parameters) = 0;
    // Stores a run with `members` rows from `row`, committing in batches so that the write lock
    // is never held for long; readers see the run only once every row is in. If a finished run
    // with the same key exists, it is kept and returned (nothing stored) unless `replace`, in
    // which case the new run takes its place (a new run id). `run` gives as_of, parameters,
    // trigger, started_at and report. If `row` or the storage fails part-way, the partial run
    // is removed and the error rethrown (after a crash, a later run removes it once stale).
    virtual SegmentRun store_segment_run(const SegmentRun& run, std::size_t members,
                                         const MemberSegmentWriter& row, bool replace) = 0;
    // Finished runs, newest as-of first (then newest finished first), without their reports.
    virtual std::vector<SegmentRun> segment_runs(std::size_t limit) = 0;
    virtual std::optional<SegmentRun> segment_run(std::int64_t run_id) = 0;
    // The member's row in the latest run (highest as_of, then last finished) that has one.
    virtual std::optional<MemberSegment> latest_member_segment(const std::string& member_id) = 0;
    // The latest run's members matching `filter`, by member id, at most filter.limit.
    virtual std::vector<MemberSegment> members_in_latest_run(const MemberSegmentFilter& filter) = 0;
    // Removes member rows of all but the `keep` latest runs (their summaries stay).
    virtual std::size_t prune_member_segments(std::size_t keep) = 0;
};

class SqliteHqStore final : public HqStore {
  public:
    // Adds head office's tables to the Program's database. `program` must outlive the store.
    SqliteHqStore(Program& program, const Clock& clock);

    Result<TillRecord> add_till(const std::string& store_id, const std::string& till_id) override;
    Result<TillRecord> revoke_till(const std::string& till_id) override;
    std::optional<TillRecord> find_till(const std::string& till_id) override;
    std::vector<TillRecord> tills() override;
    void touch_till(const std::string& till_id, std::optional<Timestamp> certificate_not_after) override;
    void record_clock_skew(const std::string& till_id, std::int64_t skew_seconds) override;
    BatchOutcome store_batch(const std::string& till_id,
                             const std::vector<protocol::Event>& events) override;
    Result<nlohmann::json> query_member(const std::string& till_id,
                                        const protocol::MemberQuery& query) override;
    FeedPage downstream(const std::string& till_id, std::uint64_t after_version,
                        std::size_t max_items, std::size_t max_bytes) override;
    void set_downstream_cursor(const std::string& till_id, std::uint64_t version) override;
    std::uint64_t pending_downstream(const std::string& till_id) override;
    void publish_current_rules() override;
    Result<Done> publish_offer(const Offer& offer) override;
    Result<Done> assign_offer(const std::string& offer_id, const std::vector<std::string>& member_ids,
                              bool assigned) override;
    Result<Done> publish_event(std::string_view origin, const std::string& type, const nlohmann::json& payload,
                               const std::vector<std::string>& member_ids) override;
    void erase_member_events(const std::string& member_id) override;
    std::optional<SegmentRun> find_segment_run(const std::string& as_of, const nlohmann::json& parameters) override;
    SegmentRun store_segment_run(const SegmentRun& run, std::size_t members, const MemberSegmentWriter& row,
                                 bool replace) override;
    std::vector<SegmentRun> segment_runs(std::size_t limit) override;
    std::optional<SegmentRun> segment_run(std::int64_t run_id) override;
    std::optional<MemberSegment> latest_member_segment(const std::string& member_id) override;
    std::vector<MemberSegment> members_in_latest_run(const MemberSegmentFilter& filter) override;
    std::size_t prune_member_segments(std::size_t keep) override;

  private:
    BatchOutcome apply_batch(const std::string& till_id, std::span<const protocol::Event> events,
                             std::optional<std::size_t>& refused_at);
    bool reuses_sequence(const std::string& till_id, const protocol::Event& event);
    void record_event(const std::string& till_id, const protocol::Event& event);

    Program& program_;
    const Clock& clock_;
};

// "a;b;;c" -> {"a", "b", "c"}: tags as analytics::preference_tags joins them and as
// member_segments stores them (with a ';' at both ends).
std::vector<std::string> split_tags(std::string_view joined);

// Every member id an outbox event's payload mentions (member, entries, lots, result, ...).
std::vector<std::string> members_in_payload(const nlohmann::json& payload);

}  // namespace loyalty::hq
