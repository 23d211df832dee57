#include "hq_admin.hpp"

#include "loyalty/clock.hpp"
#include "loyalty/store.hpp"
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
            {"pending_downstream", pending}};
}

Response tills(HqStore& store) {
    json list = json::array();
    for (const TillRecord& till : store.tills()) list.push_back(till_json(till, store.pending_downstream(till.till_id)));
    return Response::json(200, {{"tills", list}});
}

Response member(Program& program, const std::string& member_id) {
    auto summary = program.summary(member_id);
    if (!summary) return pos::error_response(summary.error());
    return Response::json(200, json(*summary));
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

std::string store_of(const std::string& txn_id) {
    const auto slash = txn_id.find('/');
    if (slash == std::string::npos) return "HQ";
    const std::string till = txn_id.substr(0, slash);
    return till.substr(0, till.find('-'));
}

}  // namespace

void add_admin_routes(http::Router& router, DatabaseThread& database, Program& program, HqStore& store,
                      std::shared_ptr<http::MetricsRegistry> metrics) {
    router.add("GET", "/v1/health", [](const Request&) { return Response::json(200, {{"status", "ok"}}); },
               {.is_public = true});
    router.add("GET", "/v1/tills", [&database, &store](const Request&) {
        return database.call([&store] { return tills(store); });
    });
    router.add("GET", "/v1/members/{id}", [&database, &program](const Request& request) {
        const std::string id = request.path_params.at("id");
        return database.call([&program, id] { return member(program, id); });
    });
    router.add("GET", "/v1/overdrafts", [&database, &program](const Request&) {
        return database.call([&program] { return overdrafts(program); });
    });
    http::add_metrics_route(router, std::move(metrics));
}

analytics::LoadResult load_history(Program& program, analytics::DayNumber as_of) {
    analytics::LoadResult result;
    analytics::PurchaseHistory& history = result.history;
    Database& database = program.database();
    Statement& members = database.prepare("SELECT member_id FROM members WHERE enrolled_at < ? ORDER BY member_id");
    const Timestamp end = (static_cast<Timestamp>(as_of) + 1) * seconds_per_day;
    members.bind(end);
    while (members.step()) history.members.intern(members.text(0));
    Statement& lines = database.prepare(
        "SELECT p.txn_id, p.member_id, p.created_at, l.sku, l.category, l.quantity, l.returned_quantity, "
        "l.net_cents, l.discount_cents FROM purchases p JOIN purchase_lines l ON l.txn_id = p.txn_id "
        "WHERE p.status = 'completed' AND p.created_at < ? ORDER BY p.created_at, p.txn_id, l.line");
    lines.bind(end);
    while (lines.step()) {
        const std::int64_t quantity = lines.integer(5);
        const std::int64_t kept = quantity - lines.integer(6);
        if (quantity <= 0 || kept <= 0) continue;  // wholly returned: not a purchase any more
        analytics::PurchaseLine line;
        line.member = history.members.intern(lines.text(1));
        line.day = static_cast<analytics::DayNumber>(day_number(lines.integer(2)));
        line.amount_cents = lines.integer(7) * kept / quantity;
        line.discount_cents = lines.integer(8) * kept / quantity;
        line.sku = history.skus.intern(lines.text(3));
        line.category = history.categories.intern(lines.text(4));
        line.store = history.stores.intern(store_of(lines.text(0)));
        line.quantity = static_cast<std::uint32_t>(kept);
        history.lines.push_back(line);
    }
    return result;
}

}  // namespace loyalty::hq
