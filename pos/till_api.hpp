// The till's HTTP/JSON API (docs/openapi.yaml): routes that turn POS requests into Program
// calls and Program answers into JSON. Refusals map to status codes by ErrorKind:
// invalid 400, not_found 404, conflict 409, refused 422, unavailable 503.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "loyalty/http_server.hpp"
#include "loyalty/metrics.hpp"
#include "loyalty/program.hpp"
#include "loyalty/router.hpp"

namespace loyalty::pos {

struct TillIdentity {
    std::string till_id;
    std::string store_id;
};

// What /v1/health says about sync; supplied by the sync agent when there is one.
using SyncStatusProvider = std::function<nlohmann::json()>;

// Asks head office about a member this till has never seen, by key "card", "phone" or
// "member_id" (normalised value). Returns the member's snapshot (Program::member_snapshot's
// JSON) or nullopt when head office does not know them, is unreachable or slow; it bounds its
// own wait, since a checkout is waiting. Supplied by the sync agent when there is one.
using RemoteMemberLookup =
    std::function<std::optional<nlohmann::json>(std::string_view key, const std::string& value)>;

// Registers every /v1 route and /metrics. `program` must outlive the router; the handlers
// run on the server's single handler thread, which serialises all access to it.
void add_till_routes(http::Router& router, Program& program, TillIdentity identity,
                     std::shared_ptr<http::MetricsRegistry> metrics,
                     SyncStatusProvider sync_status = {}, RemoteMemberLookup remote_lookup = {});

// Sales queued for cards now known here become ordinary purchases. A failure only delays them
// to the next member that arrives or the next periodic pass, so it is logged, not raised.
void record_queued_purchases(Program& program);

// Group commit for loyaltyd's handler thread (http::HandlerGroup): the requests that queued
// while it was busy are written in one transaction and fsynced once, then answered; if that
// commit fails, each of them is answered 503 storage_unavailable, as one failing alone is.
// Counts the groups in loyalty_group_commits_total.
http::HandlerGroup group_commit(Program& program, std::shared_ptr<http::MetricsRegistry> metrics);

int status_for(ErrorKind kind);
http::Response error_response(const Error& error);

}  // namespace loyalty::pos
