// Head office's admin HTTP API (plain HTTP on loopback, bearer token) and the purchase history
// the `segment` command reads from the head-office database.
//
//   GET /v1/health         public; {"status":"ok"}
//   GET /v1/tills          the registry with last seen, last acked seq, pending feed items and
//                          the expiry of the certificate each till last connected with
//   GET /v1/members/{id}   the member's summary, as a till shows it, with "segmentation": their
//                          row in the latest segmentation run (null before one)
//   GET /v1/segments/runs  finished segmentation runs, newest as-of first (?limit=N, default 100)
//   GET /v1/segments/runs/{id}  one run: parameters, models, segment sizes and revenue shares,
//                          clusters, cross-sell rules
//   GET /v1/segments/members    the latest run's members by segment, tag, value tier, lifecycle,
//                          CLV, churn probability or cluster (HqStore::members_in_latest_run)
//   GET /v1/overdrafts     points found spent twice, now owed
//   GET /metrics           Prometheus text (events ingested, connections, refusals, ...)
//   /v1/campaigns...       campaigns (hq_campaign_api.hpp, added beside these routes)
//
// Every handler runs its store work on the DatabaseThread, the only thread touching the Program.
#pragma once

#include <memory>

#include "hq_members.hpp"
#include "hq_server.hpp"
#include "loyalty/program.hpp"
#include "loyalty/router.hpp"
#include "loyalty/transactions.hpp"

namespace loyalty::hq {

void add_admin_routes(http::Router& router, DatabaseThread& database, Program& program, HqStore& store,
                      std::shared_ptr<http::MetricsRegistry> metrics);
// The routes on one member's data, each audited (hq_members.hpp); the actor is the X-Staff
// header, else "admin_api":
//   GET  /v1/members/{id}          (above)
//   GET  /v1/members/{id}/export   everything held about the member, as one JSON document
//   POST /v1/members/{id}/consent  {"personalised_offers": bool, "marketing": bool}, each optional
//   GET  /v1/members/{id}/audit    the staff actions on the member's data
//   POST /v1/admin/retention-run   {"as_of": "YYYY-MM-DD", "dry_run": bool}, each optional: erases
//                                  the members inactive longer than `retention_days` (the config's;
//                                  0 refuses naming retention_days) as MemberData::run_retention
void add_member_data_routes(http::Router& router, DatabaseThread& database, Program& program, HqStore& store,
                            MemberData& members, std::int64_t retention_days = 0);

// Every member and every purchase line up to `as_of`, from the ledger head office keeps:
// voided purchases are left out, returned quantities taken off their lines, and the store is
// the till's store (purchases from tills are kept as "<STORE-TILL>/<txn_id>").
analytics::LoadResult load_history(Program& program, analytics::DayNumber as_of);

}  // namespace loyalty::hq
