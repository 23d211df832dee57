#include "hq_online.hpp"

#include <chrono>
#include <filesystem>
#include <functional>

#include "downstream_items.hpp"
#include "loyalty/json_log.hpp"
#include "loyalty/store.hpp"
#include "till_api.hpp"
#include "till_config.hpp"

namespace loyalty::hq {

namespace {

using http::Request;
using http::Response;
using nlohmann::json;

constexpr std::size_t feed_page_items = 200;
constexpr std::size_t feed_page_bytes = 512 * 1024;
constexpr std::int64_t ingest_batch = 500;
constexpr auto maintenance_interval = std::chrono::hours(1);

// The member head office is asked for when the node does not know them yet.
protocol::MemberQuery member_query(const MemberRef& reference) {
    if (!reference.card.empty()) return {0, protocol::MemberKey::card, reference.card};
    if (!reference.phone.empty()) return {0, protocol::MemberKey::phone, reference.phone};
    return {0, protocol::MemberKey::member_id, reference.member_id};
}

// 201 for a new record, 200 with the first answer for a replay, as a till answers.
template <class T>
Response recorded_response(const Result<Recorded<T>>& result) {
    if (!result) return pos::error_response(result.error());
    Response response = Response::json(result->replayed ? 200 : 201, json(result->result));
    response.headers.emplace_back("Idempotent-Replay", result->replayed ? "true" : "false");
    return response;
}

}  // namespace

void read_online_config(JsonReader& reader, OnlineConfig& config) {
    const json* section = reader.object("online");
    if (!section) return;
    JsonReader nested(*section, reader.path("online"));
    config.enabled = nested.boolean("enabled", true);
    const std::string listen = nested.text("listen", 300, "");
    config.token = nested.text("token", 512, config.enabled ? std::nullopt : std::optional<std::string>(""));
    config.database = nested.text("database", 4096, config.database);
    nested.only({"enabled", "listen", "token", "database"});
    if (nested.ok() && config.enabled && config.token.size() < 16)
        nested.fail("token", "the web shop's bearer token must be at least 16 characters");
    if (nested.ok() && !listen.empty()) {
        const auto parsed = pos::parse_listen(listen, nested.path("listen"));
        if (parsed)
            std::tie(config.address, config.port) = *parsed;
        else
            nested.fail("listen", parsed.error().message);
    }
    reader.adopt(nested);
}

std::string online_database_path(const OnlineConfig& config, const std::string& hq_database) {
    if (!config.database.empty()) return config.database;
    std::filesystem::path path(hq_database);
    const std::string stem = path.extension() == ".db" ? path.stem().string() : path.filename().string();
    return (path.parent_path() / (stem + "-web.db")).string();
}

struct OnlineChannel::Impl {
    Impl(ProgramOptions web_options, const Program& hq, HqStore& hq_store, const Clock& clock)
        : store(hq_store), web(web_node(std::move(web_options)), clock, hq.rules()) {}

    static ProgramOptions web_node(ProgramOptions options) {
        options.node_id = std::string(online_till_id);
        return options;
    }

    // Applies head office's feed for the node, page by page, as a till's agent does. Applying
    // is idempotent, so a failure before the cursor is stored only applies items again.
    Result<Done> apply_feed() {
        const std::uint64_t start = sync::stored_downstream_version(web);
        std::uint64_t cursor = start;
        for (;;) {
            const FeedPage page = store.downstream(till_id, cursor, feed_page_items, feed_page_bytes);
            for (const protocol::DownstreamItem& item : page.items) {
                if (item.version <= cursor) continue;
                if (auto error = sync::apply_downstream_item(web, item, till_id))
                    return Error{ErrorKind::unavailable, "feed_failed",
                                 "the web channel cannot apply head office's feed item " +
                                     std::to_string(item.version) + ": " + *error,
                                 ""};
                cursor = item.version;
            }
            cursor = std::max(cursor, page.scanned_to);
            if (page.items.empty()) break;
        }
        if (cursor != start) {
            sync::store_downstream_version(web, cursor);
            store.set_downstream_cursor(till_id, cursor);
        }
        return Done{};
    }

    // The feed, then the member (if named) from head office's snapshot when the node has never
    // seen them. A member head office does not know is left to the Program's own not_found.
    Result<Done> catch_up(const MemberRef* member) {
        if (auto applied = apply_feed(); !applied) return applied.error();
        if (!member || (member->member_id.empty() && member->card.empty() && member->phone.empty())) return Done{};
        const Result<Member> known = web.find_member(*member);
        if (known || known.error().kind != ErrorKind::not_found) return Done{};
        const Result<json> snapshot = store.query_member(till_id, member_query(*member));
        if (!snapshot) return Done{};
        if (auto imported = web.import_member_snapshot(*snapshot); !imported) return imported.error();
        return Done{};
    }

    // Stores the node's unacknowledged events at head office (store_batch, as for a till's
    // batch), then acknowledges them in the node's outbox.
    Result<Done> ingest() {
        try {
            for (;;) {
                const std::vector<OutboxEvent> pending = web.outbox().pending(ingest_batch);
                if (pending.empty()) return Done{};
                std::vector<protocol::Event> events;
                for (const OutboxEvent& event : pending)
                    events.push_back({static_cast<std::uint64_t>(event.seq), event.type, event.payload,
                                      event.created_at});
                const BatchOutcome outcome = store.store_batch(till_id, events);
                web.outbox().acknowledge(static_cast<std::int64_t>(outcome.highest_contiguous_seq));
                if (outcome.stopped) return not_ingested(outcome.stopped->message);
                if (outcome.highest_contiguous_seq < events.back().seq)
                    return not_ingested("head office stored up to seq " +
                                        std::to_string(outcome.highest_contiguous_seq));
                store.touch_till(till_id, std::nullopt);
            }
        } catch (const StorageError& error) {
            return not_ingested(error.what());
        }
    }

    static Error not_ingested(const std::string& why) {
        http::log_event(http::LogLevel::error, "online_ingest_failed", {{"message", why}});
        return Error{ErrorKind::unavailable, "not_ingested",
                     "recorded by the web channel but not yet by head office (" + why +
                         "); retry with the same id",
                     ""};
    }

    // Runs a write after catching up, then ingests it (and anything left from before).
    template <class T>
    Result<T> write(const MemberRef* member, const std::function<Result<T>()>& operation) {
        if (auto ready = catch_up(member); !ready) return ready.error();
        if (auto expired = web.run_expiry(); !expired) return expired.error();
        Result<T> result = operation();
        if (auto ingested = ingest(); !ingested) return ingested.error();
        return result;
    }

    HqStore& store;
    const std::string till_id{online_till_id};
    Program web;
};

OnlineChannel::OnlineChannel(ProgramOptions web_options, Program& hq, HqStore& store, const Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(web_options), hq, store, clock)) {
    if (auto registered = store.add_till(std::string(online_store_id), impl_->till_id); !registered)
        throw std::runtime_error("online: cannot register " + impl_->till_id + ": " + registered.error().message);
    impl_->web.set_online(true);  // the node is head office: no offline redemption cap
    if (auto ingested = impl_->ingest(); !ingested)
        throw std::runtime_error("online: " + ingested.error().message);
}

OnlineChannel::~OnlineChannel() = default;

// The card and the phone are each looked up at head office first, so that one a till enrolled
// is refused here as a duplicate, as the till that holds it would refuse it.
Result<Recorded<MemberSummary>> OnlineChannel::enroll(const EnrollRequest& request) {
    for (const MemberRef& key : {MemberRef{"", request.card, ""}, MemberRef{"", "", request.phone}})
        if (auto ready = impl_->catch_up(&key); !ready) return ready.error();
    Program& web = impl_->web;
    return impl_->write<Recorded<MemberSummary>>(nullptr, [&]() -> Result<Recorded<MemberSummary>> {
        const Result<Recorded<Member>> enrolled = web.enroll(request);
        if (!enrolled) return enrolled.error();
        Result<MemberSummary> summary = web.summary(enrolled->result.member_id);
        if (!summary) return summary.error();
        return Recorded<MemberSummary>{std::move(*summary), enrolled->replayed};
    });
}

Result<Quote> OnlineChannel::quote(const PurchaseRequest& request) {
    if (auto ready = impl_->catch_up(&request.member); !ready) return ready.error();
    return impl_->web.quote(request);
}

Result<Recorded<PurchaseResult>> OnlineChannel::purchase(const PurchaseRequest& request) {
    return impl_->write<Recorded<PurchaseResult>>(&request.member, [&] { return impl_->web.purchase(request); });
}

Result<Recorded<ReturnResult>> OnlineChannel::return_items(const ReturnRequest& request) {
    return impl_->write<Recorded<ReturnResult>>(nullptr, [&] { return impl_->web.return_items(request); });
}

Result<MemberSummary> OnlineChannel::summary(const std::string& member_id) {
    const MemberRef member{member_id, "", ""};
    if (auto ready = impl_->catch_up(&member); !ready) return ready.error();
    return impl_->web.summary(member_id);
}

Result<Done> OnlineChannel::maintain() {
    if (auto ready = impl_->catch_up(nullptr); !ready) return ready.error();
    if (auto expired = impl_->web.run_expiry(); !expired) return expired.error();
    if (auto tiers = impl_->web.evaluate_tiers(); !tiers) return tiers.error();
    return impl_->ingest();
}

Program& OnlineChannel::node() { return impl_->web; }

void add_online_routes(http::Router& router, DatabaseThread& database, OnlineChannel& channel) {
    router.add("GET", "/v1/health", [](const Request&) { return Response::json(200, {{"status", "ok"}}); },
               {.is_public = true});
    router.add("POST", "/v1/online/members", [&database, &channel](const Request& request) {
        const Result<EnrollRequest> applicant = parse_enroll_request(request.json_body());
        if (!applicant) return pos::error_response(applicant.error());
        return database.call([&channel, &applicant] { return recorded_response(channel.enroll(*applicant)); });
    });
    router.add("POST", "/v1/online/quote", [&database, &channel](const Request& request) {
        const Result<PurchaseRequest> basket = parse_quote_request(request.json_body());
        if (!basket) return pos::error_response(basket.error());
        return database.call([&channel, &basket] {
            const Result<Quote> quote = channel.quote(*basket);
            return quote ? Response::json(200, json(*quote)) : pos::error_response(quote.error());
        });
    });
    router.add("POST", "/v1/online/purchases", [&database, &channel](const Request& request) {
        const Result<PurchaseRequest> order = parse_purchase_request(request.json_body());
        if (!order) return pos::error_response(order.error());
        return database.call([&channel, &order] { return recorded_response(channel.purchase(*order)); });
    });
    router.add("POST", "/v1/online/returns", [&database, &channel](const Request& request) {
        const Result<ReturnRequest> refund = parse_return_request(request.json_body());
        if (!refund) return pos::error_response(refund.error());
        return database.call([&channel, &refund] { return recorded_response(channel.return_items(*refund)); });
    });
    router.add("GET", "/v1/online/members/{id}", [&database, &channel](const Request& request) {
        const std::string member_id = request.path_params.at("id");
        return database.call([&channel, &member_id] {
            const Result<MemberSummary> summary = channel.summary(member_id);
            return summary ? Response::json(200, json(*summary)) : pos::error_response(summary.error());
        });
    });
}

OnlineService::OnlineService(const OnlineConfig& config, ProgramOptions web_options, DatabaseThread& database,
                             Program& hq, HqStore& store, const Clock& clock,
                             std::shared_ptr<http::MetricsRegistry> metrics)
    : channel_(std::move(web_options), hq, store, clock) {
    http::Router router;
    add_online_routes(router, database, channel_);
    http::ServerConfig server;
    server.name = "loyalty-hq-online";
    server.address = config.address;
    server.port = config.port;
    server.bearer_token = config.token;
    server_ = std::make_unique<http::HttpServer>(server, std::move(router), std::move(metrics));
    server_->start();
    maintenance_.emplace(maintenance_interval, "online_maintenance_failed",
                         [this, &database] { return database.call([this] { return channel_.maintain(); }); });
}

}  // namespace loyalty::hq
