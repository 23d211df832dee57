#include "hq_admin.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>

#include "hq_segmentation.hpp"
#include "loyalty/clock.hpp"
#include "loyalty/json_reader.hpp"
#include "loyalty/store.hpp"
#include "loyalty/transactions.hpp"
#include "till_api.hpp"

namespace loyalty::hq {

namespace {

using http::Request;
using http::Response;
using nlohmann::json;

json till_json(const TillRecord& till, std::uint64_t pending) {
    return {{"till_id", till.till_id},
            {"store_id", till.store_id},
            {"revoked", till.revoked},
            {"enrolled_at", format_timestamp(till.enrolled_at)},
            {"last_seen", till.last_seen ? json(format_timestamp(*till.last_seen)) : json(nullptr)},
            {"last_acked_seq", till.last_seq},
            {"downstream_version", till.downstream_cursor},
            {"pending_downstream", pending},
            {"clock_skew_seconds", till.clock_skew_seconds ? json(*till.clock_skew_seconds) : json(nullptr)},
            {"certificate_not_after",
             till.certificate_not_after ? json(format_timestamp(*till.certificate_not_after)) : json(nullptr)}};
}

Response tills(HqStore& store) {
    json list = json::array();
    for (const TillRecord& till : store.tills()) list.push_back(till_json(till, store.pending_downstream(till.till_id)));
    return Response::json(200, {{"tills", list}});
}

// The member's summary with their latest segmentation (null before their first run).
Response member(Program& program, HqStore& store, const std::string& member_id) {
    auto summary = program.summary(member_id);
    if (!summary) return pos::error_response(summary.error());
    json body = *summary;
    const auto segmentation = store.latest_member_segment(member_id);
    body["segmentation"] = segmentation ? member_segment_json(*segmentation) : json(nullptr);
    return Response::json(200, body);
}

std::int64_t whole_number(const std::string& text, const std::string& name, std::int64_t low, std::int64_t high) {
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size() || value < low || value > high)
        throw http::RequestError(400, "invalid_parameter",
                                 name + " must be a whole number from " + std::to_string(low) + " to " +
                                     std::to_string(high),
                                 name);
    return value;
}

std::int64_t whole_number(const Request& request, const std::string& name, std::int64_t low, std::int64_t high,
                          std::int64_t fallback) {
    const auto found = request.query.find(name);
    return found == request.query.end() ? fallback : whole_number(found->second, name, low, high);
}

std::optional<double> decimal(const Request& request, const std::string& name) {
    const auto found = request.query.find(name);
    if (found == request.query.end()) return std::nullopt;
    double value = 0.0;
    const auto [end, error] = std::from_chars(found->second.data(), found->second.data() + found->second.size(), value);
    if (error != std::errc{} || end != found->second.data() + found->second.size() || !std::isfinite(value))
        throw http::RequestError(400, "invalid_parameter", name + " must be a number", name);
    return value;
}

std::optional<std::string> word(const Request& request, const std::string& name) {
    const auto found = request.query.find(name);
    return found == request.query.end() ? std::nullopt : std::optional(found->second);
}

std::vector<std::string> comma_list(const Request& request, const std::string& name) {
    std::vector<std::string> items;
    std::istringstream text(word(request, name).value_or(""));
    for (std::string item; std::getline(text, item, ',');)
        if (!item.empty()) items.push_back(item);
    return items;
}

// GET /v1/segments/members?segment=A,B&tag=x,y&value_tier=&lifecycle=&min_clv=&max_clv=
// &min_churn_probability=&cluster=&after=&limit= (checked here, on the I/O side).
MemberSegmentFilter member_filter(const Request& request) {
    MemberSegmentFilter filter;
    filter.segments = comma_list(request, "segment");
    filter.tags = comma_list(request, "tag");
    filter.value_tier = word(request, "value_tier");
    filter.lifecycle = word(request, "lifecycle");
    filter.min_clv = decimal(request, "min_clv");
    filter.max_clv = decimal(request, "max_clv");
    filter.min_churn_probability = decimal(request, "min_churn_probability");
    if (request.query.contains("cluster")) filter.cluster = whole_number(request, "cluster", 0, 1000, 0);
    filter.after_member_id = word(request, "after").value_or("");
    filter.limit = static_cast<std::size_t>(whole_number(request, "limit", 1, 10'000, 1000));
    return filter;
}

Response segment_members(HqStore& store, const MemberSegmentFilter& filter) {
    json list = json::array();
    for (const MemberSegment& member : store.members_in_latest_run(filter)) list.push_back(member_segment_json(member));
    return Response::json(200, {{"members", list}});
}

Response segment_runs(HqStore& store, std::size_t limit) {
    json list = json::array();
    for (const SegmentRun& run : store.segment_runs(limit)) list.push_back(segment_run_json(run));
    return Response::json(200, {{"runs", list}});
}

Response segment_run(HqStore& store, std::int64_t run_id) {
    const auto run = store.segment_run(run_id);
    if (!run)
        return pos::error_response(Error{ErrorKind::not_found, "unknown_run",
                                         "no finished segmentation run " + std::to_string(run_id), "id"});
    return Response::json(200, segment_run_json(*run));
}

Response overdrafts(Program& program) {
    json list = json::array();
    for (const Overdraft& overdraft : program.overdrafts())
        list.push_back({{"entry_id", overdraft.entry_id},
                        {"lot_id", overdraft.lot_id},
                        {"member_id", overdraft.member_id},
                        {"points", overdraft.points},
                        {"detected_at", format_timestamp(overdraft.detected_at)}});
    return Response::json(200, {{"overdrafts", list}});
}

std::string_view store_of(std::string_view txn_id) {
    const auto slash = txn_id.find('/');
    if (slash == std::string_view::npos) return "HQ";
    const std::string_view till = txn_id.substr(0, slash);
    return till.substr(0, till.find('-'));
}

// Who is acting, for the audit log: the X-Staff header the admin front end sends, else the
// API token's holder.
std::string staff_of(const Request& request) {
    const std::string* staff = request.header("X-Staff");
    return staff && !staff->empty() && staff->size() <= 128 ? *staff : "admin_api";
}

}  // namespace

void add_admin_routes(http::Router& router, DatabaseThread& database, Program& program, HqStore& store,
                      std::shared_ptr<http::MetricsRegistry> metrics) {
    router.add("GET", "/v1/health", [](const Request&) { return Response::json(200, {{"status", "ok"}}); },
               {.is_public = true});
    router.add("GET", "/v1/tills", [&database, &store](const Request&) {
        return database.call([&store] { return tills(store); });
    });
    router.add("GET", "/v1/segments/runs", [&database, &store](const Request& request) {
        const auto limit = static_cast<std::size_t>(whole_number(request, "limit", 1, 1000, 100));
        return database.call([&store, limit] { return segment_runs(store, limit); });
    });
    router.add("GET", "/v1/segments/runs/{id}", [&database, &store](const Request& request) {
        const std::int64_t run_id =
            whole_number(request.path_params.at("id"), "id", 1, std::numeric_limits<std::int64_t>::max());
        return database.call([&store, run_id] { return segment_run(store, run_id); });
    });
    router.add("GET", "/v1/segments/members", [&database, &store](const Request& request) {
        const MemberSegmentFilter filter = member_filter(request);
        return database.call([&store, filter] { return segment_members(store, filter); });
    });
    router.add("GET", "/v1/overdrafts", [&database, &program](const Request&) {
        return database.call([&program] { return overdrafts(program); });
    });
    http::add_metrics_route(router, std::move(metrics));
}

void add_member_data_routes(http::Router& router, DatabaseThread& database, Program& program, HqStore& store,
                            MemberData& members, std::int64_t retention_days) {
    router.add("GET", "/v1/members/{id}", [&database, &program, &store, &members](const Request& request) {
        const std::string id = request.path_params.at("id");
        const std::string actor = staff_of(request);
        return database.call([&program, &store, &members, id, actor] {
            Response response = member(program, store, id);
            if (response.status == 200) members.audit(actor, "member.view", id);
            return response;
        });
    });
    router.add("GET", "/v1/members/{id}/export", [&database, &members](const Request& request) {
        const std::string id = request.path_params.at("id");
        const std::string actor = staff_of(request);
        return database.call([&members, id, actor] {
            auto document = members.export_member(actor, id);
            return document ? Response::json(200, *document) : pos::error_response(document.error());
        });
    });
    router.add("POST", "/v1/members/{id}/consent", [&database, &members](const Request& request) {
        const std::string id = request.path_params.at("id");
        const std::string actor = staff_of(request);
        const json body = request.json_body();
        return database.call([&members, id, actor, body] {
            auto member = members.set_consent(actor, id, body);
            return member ? Response::json(200, json(*member)) : pos::error_response(member.error());
        });
    });
    router.add("GET", "/v1/members/{id}/audit", [&database, &members](const Request& request) {
        const std::string id = request.path_params.at("id");
        return database.call([&members, id] { return Response::json(200, {{"audit", members.audit_log(id)}}); });
    });
    router.add("POST", "/v1/admin/retention-run", [&database, &members, retention_days](const Request& request) {
        const json body = request.body.empty() ? json::object() : request.json_body();
        JsonReader reader(body, "");
        const std::string as_of_text = reader.text("as_of", 10, "");
        const bool dry_run = reader.boolean("dry_run", false);
        reader.only({"as_of", "dry_run"});
        if (!reader.ok()) return pos::error_response(reader.error());
        const auto day = as_of_text.empty() ? std::nullopt : analytics::parse_day(as_of_text);
        if (!as_of_text.empty() && !day)
            return pos::error_response(invalid("as_of", "as_of must be a date written YYYY-MM-DD"));
        return database.call([&members, retention_days, day, dry_run] {
            const Timestamp as_of = day ? Timestamp{*day} * seconds_per_day : members.now();
            auto run = members.run_retention(retention_days, as_of, dry_run);
            return run ? Response::json(200, json(*run)) : pos::error_response(run.error());
        });
    });
}

analytics::LoadResult load_history(Program& program, analytics::DayNumber as_of) {
    analytics::LoadResult result;
    analytics::PurchaseHistory& history = result.history;
    Database& database = program.database();
    Statement& members = database.prepare("SELECT member_id FROM members WHERE enrolled_at < ? ORDER BY member_id");
    const Timestamp end = (static_cast<Timestamp>(as_of) + 1) * seconds_per_day;
    members.bind(end);
    while (members.step()) history.members.intern(members.text(0));
    // In the order of purchase_lines' primary key, which SQLite scans without sorting (a sort
    // of every line took half the time); the order is the same for the same ledger, so runs
    // stay deterministic. A purchase's lines come together: member and store are looked up
    // once per purchase, and no text is copied.
    Statement& lines = database.prepare(
        "SELECT l.txn_id, p.member_id, p.created_at, l.sku, l.category, l.quantity, l.returned_quantity, "
        "l.net_cents, l.discount_cents FROM purchases p JOIN purchase_lines l ON l.txn_id = p.txn_id "
        "WHERE p.status = 'completed' AND p.created_at < ? ORDER BY l.txn_id, l.line");
    // Room for every line at once: growing a vector of 20M lines would copy it and, for a
    // moment, hold it one and a half times.
    history.lines.reserve(static_cast<std::size_t>(database.query_integer("SELECT COUNT(*) FROM purchase_lines").value_or(0)));
    lines.bind(end);
    std::string purchase;
    analytics::PurchaseLine line;
    while (lines.step()) {
        const std::int64_t quantity = lines.integer(5);
        const std::int64_t kept = quantity - lines.integer(6);
        if (quantity <= 0 || kept <= 0) continue;  // wholly returned: not a purchase any more
        if (const std::string_view txn_id = lines.text_view(0); txn_id != purchase) {
            purchase = txn_id;
            line.member = history.members.intern(lines.text_view(1));
            line.day = static_cast<analytics::DayNumber>(day_number(lines.integer(2)));
            line.store = history.stores.intern(store_of(purchase));
        }
        line.amount_cents = lines.integer(7) * kept / quantity;
        line.discount_cents = lines.integer(8) * kept / quantity;
        line.sku = history.skus.intern(lines.text_view(3));
        line.category = history.categories.intern(lines.text_view(4));
        line.quantity = static_cast<std::uint32_t>(kept);
        history.lines.push_back(line);
    }
    return result;
}

}  // namespace loyalty::hq
