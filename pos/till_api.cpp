#include "till_api.hpp"

#include "loyalty/identifiers.hpp"
#include "loyalty/json_log.hpp"
#include "loyalty/personal_data.hpp"
#include "loyalty_version.hpp"

namespace loyalty::pos {

namespace {

using http::Request;
using http::Response;
using nlohmann::json;

// The storage failure (disk full, I/O error) the last write met, shown by /v1/health until a
// write succeeds again. Every handler runs on the server's one handler thread: no lock.
std::optional<std::string>& last_storage_error() {
    static std::optional<std::string> error;
    return error;
}

// Unwraps a Result or turns its error into the HTTP refusal.
template <class T>
T take(Result<T> result) {
    if (!result) {
        const Error& e = result.error();
        if (e.kind == ErrorKind::unavailable) last_storage_error() = e.message;
        throw http::RequestError(status_for(e.kind), e.code, e.message,
                                 e.field.empty() ? std::nullopt : std::optional(e.field));
    }
    return std::move(result).value();
}

// 201 for a new record, 200 for a replay of the same request (the first answer unchanged).
Response recorded_response(bool replayed, const json& body, int created_status = 201) {
    if (!replayed) last_storage_error().reset();
    Response response = Response::json(replayed ? 200 : created_status, body);
    response.headers.emplace_back("Idempotent-Replay", replayed ? "true" : "false");
    return response;
}

template <class T>
Response recorded(Result<Recorded<T>> result) {
    Recorded<T> recorded = take(std::move(result));
    return recorded_response(recorded.replayed, json(recorded.result));
}

std::string path_param(const Request& request, const std::string& name) {
    return request.path_params.at(name);
}

int query_int(const Request& request, const std::string& name, int fallback, int min, int max) {
    const auto found = request.query.find(name);
    if (found == request.query.end()) return fallback;
    const std::string& text = found->second;
    if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(text) < min || std::stoi(text) > max)
        throw http::RequestError(400, "invalid_field",
                                 name + " must be a whole number from " + std::to_string(min) +
                                     " to " + std::to_string(max), name);
    return std::stoi(text);
}

json summary_json(Program& program, const std::string& member_id) {
    return json(take(program.summary(member_id)));
}

// Asks head office (when there is a sync agent) for the member `reference` names and imports
// them; true if they are now known here.
bool import_from_head_office(Program& program, const MemberRef& reference, const RemoteMemberLookup& remote) {
    if (!remote) return false;
    take(program.commit_group_writes());  // the wait for head office must not hold the write lock
    const auto [key, value] = !reference.card.empty()    ? std::pair{"card", reference.card}
                              : !reference.phone.empty() ? std::pair{"phone", reference.phone}
                                                         : std::pair{"member_id", reference.member_id};
    const auto snapshot = remote(key, value);
    if (!snapshot || !program.import_member_snapshot(*snapshot)) return false;
    record_queued_purchases(program);
    return true;
}

// The member `reference` names. One unknown here is asked of head office, imported, and found
// again; otherwise, or if head office does not know them either, the usual not_found.
Member find_member(Program& program, const MemberRef& reference, const RemoteMemberLookup& remote) {
    Result<Member> found = program.find_member(reference);
    if (found || found.error().kind != ErrorKind::not_found) return take(std::move(found));
    if (import_from_head_office(program, reference, remote)) return take(program.find_member(reference));
    return take(std::move(found));
}

// A sale for a card nobody here knows is asked of head office first. When head office does not
// know the card either (or cannot be reached), a till with sync keeps the sale in its queue and
// answers 202: the member may have enrolled at a till head office has not heard from yet. A
// standalone till has no one to learn the member from, so it answers 404.
Response record_purchase(Program& program, const Request& request, const RemoteMemberLookup& remote) {
    const PurchaseRequest sale = take(parse_purchase_request(request.json_body()));
    Result<Recorded<PurchaseResult>> result = program.purchase(sale);
    if (result || !remote || result.error().code != "unknown_card") return recorded(std::move(result));
    if (import_from_head_office(program, sale.member, remote)) return recorded(program.purchase(sale));
    const Recorded<QueuedPurchase> queued = take(program.queue_purchase(sale));
    return recorded_response(queued.replayed, json(queued.result), 202);
}

Response find_members(Program& program, const Request& request, const RemoteMemberLookup& remote) {
    MemberRef reference;
    if (const auto card = request.query.find("card"); card != request.query.end())
        reference.card = take(normalise_card(card->second));
    else if (const auto phone = request.query.find("phone"); phone != request.query.end())
        reference.phone = take(normalise_phone(phone->second));
    else
        throw http::RequestError(400, "invalid_field", "look a member up by ?card= or ?phone=", "card");
    const Member member = find_member(program, reference, remote);
    // Looked up here: the member's name and e-mail stay for another period (personal_data.hpp).
    // Dated by the wall clock, like the request log; at most one write an hour per member. A
    // failure to note it only shortens how long they are kept: the lookup still answers.
    (void)note_member_seen(program, member.member_id, SystemClock().now());
    return Response::json(200, summary_json(program, member.member_id));
}

Response history(Program& program, const Request& request) {
    const auto cursor = request.query.find("cursor");
    const HistoryPage page = take(program.history(path_param(request, "id"),
                                                  query_int(request, "limit", 20, 1, 100),
                                                  cursor == request.query.end() ? "" : cursor->second));
    return Response::json(200, {{"member_id", path_param(request, "id")},
                                {"entries", page.entries},
                                {"next_cursor", page.next_cursor.empty() ? json(nullptr)
                                                                         : json(page.next_cursor)}});
}

std::string body_text(const json& body, const std::string& key) {
    const auto found = body.find(key);
    if (found == body.end() || !found->is_string())
        throw http::RequestError(400, "invalid_field", key + " is required and must be a string", key);
    return found->get<std::string>();
}

void add_member_routes(http::Router& router, Program& program, const RemoteMemberLookup& remote) {
    router.add("POST", "/v1/members", [&program](const Request& request) {
        const auto enrolled = take(program.enroll(take(parse_enroll_request(request.json_body()))));
        record_queued_purchases(program);
        return recorded_response(enrolled.replayed, summary_json(program, enrolled.result.member_id));
    });
    router.add("GET", "/v1/members", [&program, remote](const Request& request) {
        return find_members(program, request, remote);
    });
    router.add("GET", "/v1/members/{id}", [&program, remote](const Request& request) {
        MemberRef reference;
        reference.member_id = path_param(request, "id");
        const Member member = find_member(program, reference, remote);
        return Response::json(200, summary_json(program, member.member_id));
    });
    router.add("GET", "/v1/members/{id}/history", [&program](const Request& request) {
        return history(program, request);
    });
    router.add("POST", "/v1/members/{id}/cards", [&program](const Request& request) {
        const std::string member_id = path_param(request, "id");
        take(program.add_card(member_id, body_text(request.json_body(), "card")));
        return Response::json(200, summary_json(program, member_id));
    });
    router.add("POST", "/v1/members/{id}/consent", [&program](const Request& request) {
        const std::string member_id = path_param(request, "id");
        const Member member = take(program.find_member({member_id, "", ""}));
        const Consent consent = take(parse_consent(request.json_body(), member.consent, "consent"));
        take(program.set_consent(member_id, consent.personalised_offers, consent.marketing));
        return Response::json(200, summary_json(program, member_id));
    });
    router.add("POST", "/v1/cards/{card}/block", [&program](const Request& request) {
        const Member member = take(program.block_card(path_param(request, "card")));
        return Response::json(200, json(member));
    });
    router.add("POST", "/v1/cards/{card}/replace", [&program](const Request& request) {
        const Member member = take(program.replace_card(path_param(request, "card"),
                                                        body_text(request.json_body(), "card")));
        return Response::json(200, summary_json(program, member.member_id));
    });
}

void add_points_routes(http::Router& router, Program& program, const RemoteMemberLookup& remote) {
    router.add("POST", "/v1/checkout/quote", [&program](const Request& request) {
        return Response::json(200, json(take(program.quote(take(parse_quote_request(request.json_body()))))));
    });
    router.add("POST", "/v1/purchases", [&program, remote](const Request& request) {
        return record_purchase(program, request, remote);
    });
    router.add("POST", "/v1/returns", [&program](const Request& request) {
        return recorded(program.return_items(take(parse_return_request(request.json_body()))));
    });
    router.add("POST", "/v1/purchases/{txn_id}/void", [&program](const Request& request) {
        return recorded(program.void_purchase(path_param(request, "txn_id")));
    });
    router.add("POST", "/v1/purchases/{txn_id}/satisfaction", [&program](const Request& request) {
        return recorded(program.record_satisfaction(path_param(request, "txn_id"),
                                                    take(parse_satisfaction(request.json_body()))));
    });
    router.add("POST", "/v1/admin/expiry-run", [&program](const Request&) {
        const ExpiryRun run = take(program.run_expiry());
        return Response::json(200, {{"lots_expired", run.lots_expired},
                                    {"points_expired", run.points_expired},
                                    {"entry_ids", run.entry_ids}});
    });
    router.add("POST", "/v1/admin/tier-run", [&program](const Request&) {
        const TierRun run = take(program.evaluate_tiers());
        return Response::json(200, {{"members_checked", run.members_checked}, {"changes", run.changes}});
    });
    router.add("GET", "/v1/rules", [&program](const Request&) {
        return Response::json(200, rules_to_json(program.current_rules()));
    });
}

}  // namespace

void record_queued_purchases(Program& program) {
    const auto replay = program.record_queued_purchases();
    if (!replay)
        http::log_event(http::LogLevel::warn, "queued_purchases_failed", {{"message", replay.error().message}});
    else if (replay->recorded + replay->refused > 0)
        http::log_event(http::LogLevel::info, "queued_purchases_recorded",
                        {{"recorded", replay->recorded}, {"refused", replay->refused}});
}

http::HandlerGroup group_commit(Program& program, std::shared_ptr<http::MetricsRegistry> metrics) {
    return {[&program, metrics] {
                metrics->increment_counter("loyalty_group_commits_total",
                                           "Groups of requests that queued together and were committed at once.");
                program.begin_group();
            },
            [&program]() -> std::optional<http::Response> {
                const Result<Done> committed = program.end_group();
                if (committed) return std::nullopt;
                last_storage_error() = committed.error().message;
                return error_response(committed.error());
            }};
}

int status_for(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::invalid: return 400;
        case ErrorKind::not_found: return 404;
        case ErrorKind::conflict: return 409;
        case ErrorKind::refused: return 422;
        case ErrorKind::unavailable: return 503;
    }
    return 500;
}

http::Response error_response(const Error& error) {
    return http::error_response(status_for(error.kind), error.code, error.message,
                                error.field.empty() ? std::nullopt
                                                    : std::optional<std::string_view>(error.field));
}

void add_till_routes(http::Router& router, Program& program, TillIdentity identity,
                     std::shared_ptr<http::MetricsRegistry> metrics, SyncStatusProvider sync_status,
                     RemoteMemberLookup remote_lookup) {
    router.add(
        "GET", "/v1/health",
        [&program, identity, metrics, sync_status](const Request&) {
            const std::int64_t pending = program.outbox().pending_count();
            metrics->set_gauge("loyalty_outbox_pending_events",
                               "Events not yet acknowledged by head office", static_cast<double>(pending));
            json sync = sync_status ? sync_status()
                                    : json{{"connected", false}, {"last_success", nullptr}};
            sync["pending_events"] = pending;
            const std::optional<std::string>& storage_error = last_storage_error();
            const json storage{{"ok", !storage_error},
                               {"last_error", storage_error ? json(*storage_error) : json(nullptr)}};
            return Response::json(storage_error ? 503 : 200,
                                  {{"status", storage_error ? "storage_failing" : "ok"},
                                   {"storage", storage},
                                   {"till_id", identity.till_id},
                                   {"store_id", identity.store_id},
                                   {"version", LOYALTY_VERSION},
                                   {"git_revision", LOYALTY_GIT_REVISION},
                                   {"rule_version", program.current_rules().version},
                                   {"queued_purchases", program.queued_purchase_count()},
                                   {"sync", sync}});
        },
        {.is_public = true});
    add_member_routes(router, program, remote_lookup);
    add_points_routes(router, program, remote_lookup);
    http::add_metrics_route(router, metrics);
}

}  // namespace loyalty::pos
