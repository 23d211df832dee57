// Head office's web channel on real SQLite files: a shopper enrols online; an online order earns
// with the till's rules and counts once at head office and, through the feed, at the member's
// till; redemptions are checked against head office's ledger; replays, conflicts, returns; the
// crash between the web node's commit and head office's ingest; and the shop's HTTP API (its
// token, bad bodies).
#include "hq_online.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>

#include "downstream_items.hpp"
#include "loyalty/http_client.hpp"
#include "support/core_fixture.hpp"
#include "support/openapi_document.hpp"

using namespace loyalty;
using namespace loyalty::testing;
using nlohmann::json;

namespace {

constexpr const char* till_id = "S01-T1";
constexpr const char* shop_token = "shop-token-0123456789";

ProgramOptions node_options(const TempDir& dir, const std::string& file, const std::string& node_id) {
    return ProgramOptions{(dir.path() / file).string(), node_id, Durability::normal};
}

Points balance(Program& program, const std::string& member_id) { return program.summary(member_id)->balance; }

// Head office, one till that syncs by hand (as its agent would), and the web channel.
struct OnlineChain {
    OnlineChain()
        : clock(test_start()), till(node_options(dir, "till.db", till_id), clock, rules_with()),
          hq(node_options(dir, "hq.db", "HQ"), clock, rules_with()), store(hq, clock) {
        REQUIRE(store.add_till("S01", till_id).ok());
        open_channel();
    }

    void open_channel() {
        channel.reset();
        channel = std::make_unique<hq::OnlineChannel>(web_options(), hq, store, clock);
    }
    ProgramOptions web_options() const {
        return node_options(dir, hq::online_database_path({}, (dir.path() / "hq.db").string()), "");
    }

    // Till -> head office: the outbox as one batch, acknowledged up to head office's answer.
    void sync_till_up() {
        std::vector<protocol::Event> events;
        for (const OutboxEvent& event : till.outbox().pending(1000))
            events.push_back({static_cast<std::uint64_t>(event.seq), event.type, event.payload, event.created_at});
        const hq::BatchOutcome outcome = store.store_batch(till_id, events);
        REQUIRE_FALSE(outcome.stopped);
        till.outbox().acknowledge(static_cast<std::int64_t>(outcome.highest_contiguous_seq));
    }
    // Head office -> till: the feed for the till, applied.
    void sync_till_down() {
        const hq::FeedPage page = store.downstream(till_id, till_cursor, 1000, 1 << 20);
        for (const protocol::DownstreamItem& item : page.items) REQUIRE_FALSE(sync::apply_downstream_item(till, item, till_id));
        till_cursor = page.scanned_to;
    }

    std::string enroll_at_till(int n) {
        const auto enrolled = till.enroll({valid_card(n), "", "Member " + std::to_string(n), ""});
        REQUIRE(enrolled.ok());
        sync_till_up();
        return enrolled->result.member_id;
    }

    // How many times head office holds the web node's event `seq`.
    std::int64_t stored_at_hq(std::int64_t seq) {
        return hq.database()
            .query_integer("SELECT COUNT(*) FROM till_events WHERE till_id = ? AND seq = ?",
                           std::string(hq::online_till_id), seq)
            .value_or(0);
    }

    TempDir dir;
    ManualClock clock;
    Program till;
    Program hq;
    hq::SqliteHqStore store;
    std::unique_ptr<hq::OnlineChannel> channel;
    std::uint64_t till_cursor = 0;
};

PurchaseRequest order(std::string txn_id, const std::string& member_id, Cents cents, Points redeem = 0) {
    return sale(std::move(txn_id), member_id, {line("book-1", "books", 1, cents)}, redeem);
}

}  // namespace

TEST_CASE("an online order earns with the till's rules and one balance shows at head office and the till",
          "[hq_online]") {
    OnlineChain chain;
    const std::string member = chain.enroll_at_till(1);
    const Quote at_till = chain.till.quote(order("", member, 12345)).value();

    const auto placed = chain.channel->purchase(order("W1", member, 12345));
    REQUIRE(placed.ok());
    CHECK_FALSE(placed->replayed);
    CHECK(placed->result.points_earned == at_till.points_earned);
    CHECK(placed->result.points_earned == 123);
    CHECK(placed->result.entry_ids.front().starts_with("WEB-SHOP-"));

    CHECK(balance(chain.hq, member) == 123);
    CHECK(chain.hq.audit(member).consistent());
    CHECK(chain.store.find_till(std::string(hq::online_till_id))->last_seq ==
          static_cast<std::uint64_t>(chain.channel->node().outbox().last_seq()));
    CHECK(chain.channel->node().outbox().pending_count() == 0);
    chain.sync_till_down();
    CHECK(balance(chain.till, member) == 123);
    CHECK(chain.till.audit(member).consistent());
    CHECK(chain.channel->summary(member)->balance == 123);
}

TEST_CASE("a shopper who joins online shops there at once, and a card or phone a till enrolled is refused",
          "[hq_online]") {
    OnlineChain chain;
    const std::string phone = "+447700900123";
    const auto at_till = chain.till.enroll({valid_card(1), phone, "Ann", ""});
    REQUIRE(at_till.ok());
    chain.sync_till_up();

    const EnrollRequest applicant{valid_card(2), "", "Web Shopper", ""};
    const auto joined = chain.channel->enroll(applicant);
    REQUIRE(joined.ok());
    CHECK_FALSE(joined->replayed);
    const std::string member = joined->result.member.member_id;
    CHECK(member.starts_with("WEB-SHOP-"));
    CHECK(chain.hq.find_member({"", valid_card(2), ""})->member_id == member);
    const auto again = chain.channel->enroll(applicant);
    REQUIRE(again.ok());
    CHECK(again->replayed);
    CHECK(again->result.member.member_id == member);
    REQUIRE(chain.channel->purchase(order("W1", member, 5000)).ok());
    CHECK(balance(chain.hq, member) == 50);

    // The web node has never met Ann: head office is asked for each of her identifiers.
    const auto same_card = chain.channel->enroll({valid_card(1), "", "Not Ann", ""});
    REQUIRE_FALSE(same_card.ok());
    CHECK(same_card.error().code == "duplicate_card");
    const auto same_phone = chain.channel->enroll({valid_card(3), phone, "Not Ann", ""});
    REQUIRE_FALSE(same_phone.ok());
    CHECK(same_phone.error().code == "duplicate_phone");
    CHECK_FALSE(chain.hq.find_member({"", valid_card(3), ""}).ok());
    CHECK(chain.hq.audit(at_till->result.member_id).consistent());
}

TEST_CASE("a replayed online order earns once and another order under its txn_id is refused", "[hq_online]") {
    OnlineChain chain;
    const std::string member = chain.enroll_at_till(2);
    const auto first = chain.channel->purchase(order("W1", member, 5000));
    REQUIRE(first.ok());
    const std::int64_t events = *chain.hq.database().query_integer("SELECT COUNT(*) FROM till_events");
    for (int replay = 0; replay < 3; ++replay) {
        const auto again = chain.channel->purchase(order("W1", member, 5000));
        REQUIRE(again.ok());
        CHECK(again->replayed);
        CHECK(json(again->result) == json(first->result));
    }
    const auto other = chain.channel->purchase(order("W1", member, 9000));
    REQUIRE_FALSE(other.ok());
    CHECK(other.error().kind == ErrorKind::conflict);
    CHECK(balance(chain.hq, member) == 50);
    CHECK(*chain.hq.database().query_integer("SELECT COUNT(*) FROM till_events") == events);
}

TEST_CASE("points spent at a till cannot be spent again online", "[hq_online]") {
    OnlineChain chain;
    const std::string member = chain.enroll_at_till(3);
    REQUIRE(chain.till.purchase(order("T1", member, 50000)).ok());  // 500 points
    chain.sync_till_up();
    REQUIRE(chain.channel->summary(member)->balance == 500);  // the web node knows the member now

    const auto spent = chain.till.purchase(order("T2", member, 400, 400));  // 400 of them pay 4.00 in store
    REQUIRE(spent.ok());
    REQUIRE(spent->result.points_earned == 0);
    chain.sync_till_up();
    const auto refused = chain.channel->purchase(order("W1", member, 40000, 300));
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == "insufficient_points");
    CHECK(chain.stored_at_hq(1) == 0);

    const auto paid = chain.channel->purchase(order("W2", member, 40000, 100));
    REQUIRE(paid.ok());
    CHECK(paid->result.points_redeemed == 100);
    const Points expected = 500 - 400 - 100 + paid->result.points_earned;
    CHECK(balance(chain.hq, member) == expected);
    CHECK(chain.hq.overdrafts().empty());
    chain.sync_till_down();
    CHECK(balance(chain.till, member) == expected);
}

TEST_CASE("an online return takes the order's points back everywhere", "[hq_online]") {
    OnlineChain chain;
    const std::string member = chain.enroll_at_till(4);
    REQUIRE(chain.channel->purchase(order("W1", member, 20000)).ok());
    ReturnRequest request{"R1", "W1", {}};
    const auto returned = chain.channel->return_items(request);
    REQUIRE(returned.ok());
    CHECK(returned->result.points_reversed == 200);
    CHECK(chain.channel->return_items(request)->replayed);
    CHECK(balance(chain.hq, member) == 0);
    chain.sync_till_down();
    CHECK(balance(chain.till, member) == 0);
    CHECK(chain.hq.audit(member).consistent());
    CHECK_FALSE(chain.channel->return_items({"R2", "nope", {}}).ok());
}

TEST_CASE("an order committed by the web node but not stored by head office is stored once at the next start",
          "[hq_online]") {
    OnlineChain chain;
    const std::string member = chain.enroll_at_till(5);
    REQUIRE(chain.channel->summary(member).ok());
    // The crash window: the web node commits, head office has not taken it in yet.
    REQUIRE(chain.channel->node().purchase(order("W1", member, 7000)).ok());
    const std::int64_t seq = chain.channel->node().outbox().last_seq();
    CHECK(chain.stored_at_hq(seq) == 0);
    chain.open_channel();
    CHECK(chain.stored_at_hq(seq) == 1);
    CHECK(balance(chain.hq, member) == 70);

    // Stored, but the acknowledgement lost: the next start replays, nothing doubles.
    REQUIRE(chain.channel->node().purchase(order("W2", member, 3000)).ok());
    std::vector<protocol::Event> events;
    for (const OutboxEvent& event : chain.channel->node().outbox().pending(10))
        events.push_back({static_cast<std::uint64_t>(event.seq), event.type, event.payload, event.created_at});
    REQUIRE(chain.store.store_batch(std::string(hq::online_till_id), events).stored == 1);
    chain.open_channel();
    CHECK(chain.channel->node().outbox().pending_count() == 0);
    CHECK(chain.stored_at_hq(seq + 1) == 1);
    CHECK(balance(chain.hq, member) == 100);
    CHECK(chain.hq.audit(member).consistent());
}

TEST_CASE("points minted online expire at head office and at the till by the web node's maintenance",
          "[hq_online]") {
    OnlineChain chain;
    const std::string member = chain.enroll_at_till(7);
    REQUIRE(chain.hq.install_rules(rules_with({{"version", 2}, {"earn", {{"expiry_months", 1}}}})).ok());
    chain.store.publish_current_rules();  // reaches the web node through the feed, as a till
    const auto placed = chain.channel->purchase(order("W1", member, 9000));
    REQUIRE(placed.ok());
    CHECK(placed->result.rule_version == 2);
    CHECK(balance(chain.hq, member) == 90);
    chain.clock.advance_days(40);
    REQUIRE(chain.channel->maintain().ok());
    CHECK(balance(chain.hq, member) == 0);
    CHECK(chain.hq.audit(member).consistent());
    chain.sync_till_down();
    CHECK(balance(chain.till, member) == 0);
    REQUIRE(chain.channel->maintain().ok());  // nothing left to expire: nothing changes
    CHECK(chain.store.find_till(std::string(hq::online_till_id))->last_seq == 2);
}

TEST_CASE("the online config needs a token and derives the web node's database from head office's", "[hq_online]") {
    hq::OnlineConfig defaults;
    CHECK(hq::online_database_path(defaults, "/var/lib/loyalty/loyalty-hq.db") == "/var/lib/loyalty/loyalty-hq-web.db");
    defaults.database = "/data/web.db";
    CHECK(hq::online_database_path(defaults, "/var/lib/loyalty/loyalty-hq.db") == "/data/web.db");

    const auto read = [](const json& document) {
        hq::OnlineConfig config;
        JsonReader reader(document, "");
        hq::read_online_config(reader, config);
        return std::pair{config, reader.ok() ? std::string() : reader.error().field};
    };
    CHECK_FALSE(read(json::object()).first.enabled);
    CHECK(read({{"online", {{"listen", "127.0.0.1:9000"}}}}).second == "online.token");
    CHECK(read({{"online", {{"token", "short"}}}}).second == "online.token");
    CHECK(read({{"online", {{"token", shop_token}, {"listen", "nowhere"}}}}).second == "online.listen");
    CHECK(read({{"online", {{"token", shop_token}, {"colour", 1}}}}).second == "online.colour");
    const auto [config, field] = read({{"online", {{"token", shop_token}, {"listen", "127.0.0.1:9000"}}}});
    CHECK(field.empty());
    CHECK(config.enabled);
    CHECK(config.port == 9000);
    CHECK_FALSE(read({{"online", {{"enabled", false}}}}).first.enabled);
}

TEST_CASE("the shop's API wants its own token and names the field of a bad body, storing nothing", "[hq_online]") {
    OnlineChain chain;
    const std::string member = chain.enroll_at_till(6);
    chain.channel.reset();
    hq::DatabaseThread database;
    hq::OnlineConfig config;
    config.enabled = true;
    config.port = 0;
    config.token = shop_token;
    hq::OnlineService service(config, chain.web_options(), database, chain.hq, chain.store, chain.clock, nullptr);
    http::HttpClient shop("127.0.0.1", service.port(), {shop_token});
    http::HttpClient stranger("127.0.0.1", service.port(), {std::string("admin-token-0123456789")});
    http::HttpClient anonymous("127.0.0.1", service.port());
    const json body{{"txn_id", "W1"},
                    {"member_id", member},
                    {"lines", {{{"sku", "book-1"}, {"category", "books"}, {"quantity", 1}, {"unit_price_cents", 2500}}}}};

    CHECK(anonymous.request("GET", "/v1/health").status == 200);
    CHECK(anonymous.request("POST", "/v1/online/purchases", body).status == 401);
    CHECK(stranger.request("POST", "/v1/online/purchases", body).status == 401);
    CHECK(stranger.request("GET", "/v1/online/members/" + member).status == 401);

    json bad = body;
    bad["lines"][0]["quantity"] = -1;
    const auto refused = shop.request("POST", "/v1/online/purchases", bad);
    CHECK(refused.status == 400);
    CHECK(refused.json()["error"]["field"] == "lines[0].quantity");
    CHECK(shop.request_raw("POST", "/v1/online/purchases", "{not json").status == 400);
    CHECK(shop.request("POST", "/v1/online/returns", json{{"return_id", "R1"}}).json()["error"]["field"] ==
          "original_txn_id");
    CHECK(database.call([&] { return chain.stored_at_hq(1); }) == 0);

    const auto created = shop.request("POST", "/v1/online/purchases", body);
    CHECK(created.status == 201);
    CHECK(created.json()["points_earned"] == 25);
    const auto replay = shop.request("POST", "/v1/online/purchases", body);
    CHECK(replay.status == 200);
    CHECK(replay.body == created.body);
    json changed = body;
    changed["lines"][0]["unit_price_cents"] = 9900;
    CHECK(shop.request("POST", "/v1/online/purchases", changed).status == 409);
    const auto quote = shop.request("POST", "/v1/online/quote", json{{"member_id", member}, {"lines", body["lines"]}});
    CHECK(quote.status == 200);
    CHECK(quote.json()["points"] == 25);
    const json applicant{{"card", valid_card(7)}, {"name", "Web Shopper"}};
    CHECK(shop.request("POST", "/v1/online/members", json{{"card", valid_card(7)}}).json()["error"]["field"] ==
          "name");
    const auto joined = shop.request("POST", "/v1/online/members", applicant);
    CHECK(joined.status == 201);
    CHECK(joined.json()["balance"] == 0);
    CHECK(shop.request("POST", "/v1/online/members", applicant).status == 200);
    const auto summary = shop.request("GET", "/v1/online/members/" + member);
    CHECK(summary.status == 200);
    CHECK(summary.json()["balance"] == 25);
    CHECK(shop.request("GET", "/v1/online/members/M-nobody").status == 404);
    CHECK(database.call([&] { return balance(chain.hq, member); }) == 25);
}

TEST_CASE("docs/online-api.yaml lists exactly the routes the web channel serves", "[hq_online]") {
    OnlineChain chain;
    hq::DatabaseThread database;
    http::Router router;
    hq::add_online_routes(router, database, *chain.channel);
    std::set<std::string> served;
    for (const auto& route : router.routes()) served.insert(route.method + " " + route.pattern);
    std::ifstream in(std::filesystem::path(LOYALTY_SOURCE_DIR) / "docs" / "online-api.yaml");
    REQUIRE(in);
    const std::string yaml{std::istreambuf_iterator<char>(in), {}};
    CHECK(test::documented_operations(yaml) == served);
}
