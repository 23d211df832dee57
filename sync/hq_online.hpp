// Head office's web channel (issue 12): the chain's web shop posts orders and returns for
// members to head office, and they count exactly as a till's sales do.
//
// Head office runs one more loyalty Program in-process as the web shop's own node, till id
// "WEB-SHOP" of store "WEB" (registered in the till registry at start; it never connects over
// TLS). Each request runs on head office's DatabaseThread, like every other store call:
//   1. the node is brought up to date the way a till is: head office's feed for WEB-SHOP is
//      applied (downstream_items.hpp), and a member it has never seen is imported from head
//      office's snapshot (HqStore::query_member), so redemptions are checked against head
//      office's ledger, with every till's ingested sales;
//   2. the node's Program does the work with the same rules, idempotency (txn_id / return_id)
//      and ledger as a till's;
//   3. its new outbox events go through HqStore::store_batch under WEB-SHOP, exactly as a
//      till's batch does, and are then acknowledged in the node's outbox. Head office's feed
//      forwards them to the tills that know the member.
// A crash between the node's commit and the ingest loses nothing: the events wait in the
// node's outbox and are ingested at the next start (the constructor) or request; store_batch
// is exactly-once by (till, seq), so nothing doubles either.
//
// The node's database is a file of its own (config "online.database"; default beside head
// office's database, "<name>-web.db"). Its HTTP API is a listener of its own with the shop's
// bearer token (config "online"), so the admin token never leaves head office:
//   POST /v1/online/members        a till's /v1/members: a shopper joins on the web shop (201;
//                                  a replay 200; a card or phone head office knows: 409)
//   POST /v1/online/quote          a till's /v1/checkout/quote
//   POST /v1/online/purchases      a till's /v1/purchases (201; a replay 200, Idempotent-Replay)
//   POST /v1/online/returns        a till's /v1/returns, for orders made online
//   GET  /v1/online/members/{id}   the member's summary (balance, tier, offers)
//   GET  /v1/health                public
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "hq_server.hpp"
#include "hq_store.hpp"
#include "periodic_task.hpp"
#include "loyalty/http_server.hpp"
#include "loyalty/json_reader.hpp"
#include "loyalty/program.hpp"
#include "loyalty/router.hpp"

namespace loyalty::hq {

inline constexpr std::string_view online_store_id = "WEB";
inline constexpr std::string_view online_till_id = "WEB-SHOP";

// "online": {"listen": "127.0.0.1:8444", "token": "...", "database": "..."}; the section's
// presence turns the channel on ("enabled": false keeps it off), and then the token is required.
struct OnlineConfig {
    bool enabled = false;
    std::string address = "127.0.0.1";
    std::uint16_t port = 8444;
    std::string token;
    std::string database;  // empty: online_database_path's default
};

// Reads the "online" section into `config`; errors name the field ("online.token").
void read_online_config(JsonReader& reader, OnlineConfig& config);
// The web node's database: the configured one, else "<hq database without .db>-web.db".
std::string online_database_path(const OnlineConfig& config, const std::string& hq_database);

class OnlineChannel {
  public:
    // Opens (or creates) the web node with `web_options` (node id online_till_id), registers it
    // in `store` and ingests whatever its outbox holds that head office has not stored. Run it
    // where `hq` and `store` may be used (before other threads share them, or on the
    // DatabaseThread). Throws at start-up if the node cannot be registered or opened.
    OnlineChannel(ProgramOptions web_options, Program& hq, HqStore& store, const Clock& clock);
    ~OnlineChannel();
    OnlineChannel(const OnlineChannel&) = delete;
    OnlineChannel& operator=(const OnlineChannel&) = delete;

    // As Program's, after bringing the node up to date; writes are ingested by head office
    // before they return. ErrorKind::unavailable if head office could not store them (they are
    // recorded at the node and ingested on the next request: retry with the same key).
    Result<Recorded<MemberSummary>> enroll(const EnrollRequest& request);
    Result<Quote> quote(const PurchaseRequest& request);
    Result<Recorded<PurchaseResult>> purchase(const PurchaseRequest& request);
    Result<Recorded<ReturnResult>> return_items(const ReturnRequest& request);
    Result<MemberSummary> summary(const std::string& member_id);
    // Only the node that minted a lot expires it: expires the node's lots past their date and
    // re-evaluates the tiers of its members (downgrades), then ingests. Writes run the expiry
    // first too; loyalty-hq runs this every hour, so the points expire at head office and on
    // the tills without a web order.
    Result<Done> maintain();

    Program& node();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// The routes above; every handler runs the channel on `database`.
void add_online_routes(http::Router& router, DatabaseThread& database, OnlineChannel& channel);

// The channel and its listener, as loyalty-hq serve runs them: built before the sync thread
// shares `hq` and `store`, started at once; stopped (then closed) on destruction.
class OnlineService {
  public:
    OnlineService(const OnlineConfig& config, ProgramOptions web_options, DatabaseThread& database, Program& hq,
                  HqStore& store, const Clock& clock, std::shared_ptr<http::MetricsRegistry> metrics);
    std::uint16_t port() const { return server_->port(); }

  private:
    OnlineChannel channel_;
    std::unique_ptr<http::HttpServer> server_;  // after the channel: stops before it goes
    std::optional<PeriodicTask> maintenance_;   // last: stopped first
};

}  // namespace loyalty::hq
