// Integration tests of the till daemon: the real loyaltyd binary on an ephemeral loopback port
// over a temporary database, driven through its HTTP/JSON API the way a POS drives it, killed
// with SIGKILL to show acknowledged purchases survive, and checked against docs/openapi.yaml.
#include "till_api.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "loyalty/clock.hpp"
#include "loyalty/http_client.hpp"
#include "loyalty/identifiers.hpp"
#include "loyalty/rules.hpp"
#include "support/openapi_document.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using loyalty::http::ClientOptions;
using loyalty::http::ClientResponse;
using loyalty::http::HttpClient;
using loyalty::http::HttpClientError;
using loyalty::test::ChildProcess;
using loyalty::test::documented_operations;
using loyalty::test::ExitStatus;
using loyalty::test::TempDir;
using nlohmann::json;
using namespace std::chrono_literals;


// A Luhn-valid 16-digit card number, distinct for each n.
std::string card_number(int n) {
    std::string payload = std::to_string(n);
    payload = "700100" + std::string(9 - payload.size(), '0') + payload;
    return payload + loyalty::luhn_check_digit(payload);
}

// The same number with a wrong check digit.
std::string bad_luhn(const std::string& card) {
    std::string wrong = card;
    wrong.back() = wrong.back() == '9' ? '0' : static_cast<char>(wrong.back() + 1);
    return wrong;
}

void write_file(const fs::path& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
}

// One loyaltyd process listening on an ephemeral loopback port.
class Daemon {
public:
    Daemon(const fs::path& stderr_path, std::vector<std::string> args)
        : process_(LOYALTYD_PATH, with_listen(std::move(args)), {}, stderr_path),
          port_(process_.wait_for_listening_port(30s)) {}

    HttpClient client(std::optional<std::string> token = std::nullopt) const {
        return HttpClient("127.0.0.1", port_, ClientOptions{std::move(token), 20s});
    }
    ChildProcess& process() { return process_; }
    std::uint16_t port() const { return port_; }

private:
    static std::vector<std::string> with_listen(std::vector<std::string> args) {
        args.insert(args.end(), {"--listen", "127.0.0.1:0"});
        return args;
    }

    ChildProcess process_;
    std::uint16_t port_;
};

// A till: a temp directory with the database (and config), and the daemon serving it. The
// daemon can be stopped, killed and started again on the same database.
class Till {
public:
    explicit Till(std::optional<json> config = std::nullopt) {
        if (config) {
            write_file(config_path(), config->dump());
            args_ = {"--config", config_path().string()};
        }
        args_.insert(args_.end(), {"--db", database().string()});
        start();
    }

    void start() {
        daemon_.reset();
        ++starts_;
        daemon_.emplace(dir_.path() / ("loyaltyd-" + std::to_string(starts_) + ".stderr"), args_);
        client_.emplace(daemon_->client(token()));
    }

    // SIGTERM; the daemon must exit 0.
    void stop() {
        daemon_->process().terminate();
        const auto status = daemon_->process().wait_for_exit(60s);
        REQUIRE(status);
        INFO(daemon_->process().stderr_text());
        CHECK_FALSE(status->signalled);
        CHECK(status->code == 0);
    }

    void kill() {
        daemon_->process().kill();
        const auto status = daemon_->process().wait_for_exit(30s);
        REQUIRE(status);
        CHECK(status->signalled);
    }

    HttpClient& client() { return *client_; }
    Daemon& daemon() { return *daemon_; }
    fs::path database() const { return dir_.path() / "till.db"; }
    fs::path config_path() const { return dir_.path() / "till.json"; }
    const fs::path& dir() const { return dir_.path(); }
    std::optional<std::string> token() const { return token_; }
    void set_token(std::string token) {
        token_ = std::move(token);
        client_.emplace(daemon_->client(token_));
    }

private:
    TempDir dir_;
    std::vector<std::string> args_;
    int starts_ = 0;
    std::optional<std::string> token_;
    std::optional<Daemon> daemon_;
    std::optional<HttpClient> client_;
};

std::string describe(const ClientResponse& response) {
    return "HTTP " + std::to_string(response.status) + " " + response.body;
}

// The response's JSON body after checking its status.
json expect(const ClientResponse& response, int status) {
    INFO(describe(response));
    REQUIRE(response.status == status);
    return response.json();
}

// A refusal: the status, the one error shape, and the field it names (nullopt: null).
void expect_error(const ClientResponse& response, int status, const std::string& code,
                  const std::optional<std::string>& field) {
    INFO(describe(response));
    REQUIRE(response.status == status);
    CHECK(response.headers.at("content-type").find("application/json") == 0);
    const json body = response.json();
    REQUIRE(body.contains("error"));
    const json& error = body["error"];
    CHECK(error.size() == 3);
    CHECK(error.at("code") == code);
    CHECK(error.at("message").is_string());
    CHECK_FALSE(error.at("message").get<std::string>().empty());
    if (field) CHECK(error.at("field") == *field);
    else CHECK(error.at("field").is_null());
}

json line(const std::string& sku, const std::string& category, std::int64_t quantity,
          std::int64_t unit_price_cents) {
    return {{"sku", sku}, {"category", category}, {"quantity", quantity}, {"unit_price_cents", unit_price_cents}};
}

json sale(const std::string& txn_id, const std::string& member_id, json lines, std::int64_t redeem = 0) {
    json body{{"txn_id", txn_id}, {"member_id", member_id}, {"lines", std::move(lines)}};
    if (redeem != 0) body["redeem_points"] = redeem;
    return body;
}

// Enrols member n (card_number(n), phone) and returns the summary.
json enroll(HttpClient& client, int n) {
    return expect(client.request("POST", "/v1/members",
                                 json{{"card", card_number(n)},
                                      {"phone", "+44 7700 9" + std::to_string(10000 + n)},
                                      {"name", "Member " + std::to_string(n)}}),
                  201);
}

json summary(HttpClient& client, const std::string& member_id) {
    return expect(client.request("GET", "/v1/members/" + member_id), 200);
}

// Every ledger entry of a member, newest first, following the cursors.
std::vector<json> full_history(HttpClient& client, const std::string& member_id) {
    std::vector<json> entries;
    std::string cursor;
    for (int page = 0; page < 1000; ++page) {
        const json body = expect(client.request("GET", "/v1/members/" + member_id + "/history?limit=100" +
                                                           (cursor.empty() ? "" : "&cursor=" + cursor)),
                                 200);
        for (const json& entry : body.at("entries")) entries.push_back(entry);
        if (body.at("next_cursor").is_null()) return entries;
        cursor = body.at("next_cursor").get<std::string>();
    }
    FAIL("history never ended");
    return entries;
}

// What a refused request must leave unchanged.
struct MemberState {
    json summary;
    std::vector<json> history;
    std::int64_t pending_events = 0;
    bool operator==(const MemberState&) const = default;
};

MemberState member_state(HttpClient& client, const std::string& member_id) {
    const json health = expect(client.request("GET", "/v1/health"), 200);
    return {summary(client, member_id), full_history(client, member_id),
            health.at("sync").at("pending_events").get<std::int64_t>()};
}

// Read-only view of a till database, for checks after the daemon stopped (or between its
// commits: WAL lets a reader in).
class DatabaseReader {
public:
    explicit DatabaseReader(const fs::path& path) {
        const std::string uri = "file:" + path.string() + "?mode=ro";
        if (sqlite3_open_v2(uri.c_str(), &db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr) != SQLITE_OK)
            throw std::runtime_error("cannot open " + path.string() + " read-only");
        sqlite3_busy_timeout(db_, 10'000);
    }
    ~DatabaseReader() { sqlite3_close(db_); }
    DatabaseReader(const DatabaseReader&) = delete;
    DatabaseReader& operator=(const DatabaseReader&) = delete;

    // The integer column 0 of every row of `sql`, with `text` bound to ?1 if given.
    std::vector<std::int64_t> integers(const std::string& sql, const std::optional<std::string>& text = {}) {
        sqlite3_stmt* statement = nullptr;
        if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK)
            throw std::runtime_error(std::string("cannot prepare ") + sql + ": " + sqlite3_errmsg(db_));
        if (text) sqlite3_bind_text(statement, 1, text->c_str(), -1, SQLITE_TRANSIENT);
        std::vector<std::int64_t> values;
        int code = SQLITE_ROW;
        while ((code = sqlite3_step(statement)) == SQLITE_ROW) values.push_back(sqlite3_column_int64(statement, 0));
        sqlite3_finalize(statement);
        if (code != SQLITE_DONE) throw std::runtime_error("query failed: " + sql);
        return values;
    }
    std::int64_t integer(const std::string& sql, const std::optional<std::string>& text = {}) {
        const auto values = integers(sql, text);
        if (values.size() != 1) throw std::runtime_error("expected one row from " + sql);
        return values.front();
    }

    // Counts of everything a write may touch; equal snapshots mean nothing was written.
    std::vector<std::int64_t> snapshot() {
        std::vector<std::int64_t> counts;
        for (const char* sql : {"SELECT COUNT(*) FROM members", "SELECT COUNT(*) FROM cards",
                                "SELECT COUNT(*) FROM ledger", "SELECT COUNT(*) FROM lots",
                                "SELECT COALESCE(SUM(remaining), 0) FROM lots", "SELECT COUNT(*) FROM operations",
                                "SELECT COUNT(*) FROM purchases", "SELECT COUNT(*) FROM outbox",
                                "SELECT COALESCE(SUM(next), 0) FROM counters"})
            counts.push_back(integer(sql));
        return counts;
    }

private:
    sqlite3* db_ = nullptr;
};

// Outbox sequence numbers are 1..n without gaps or repeats.
void check_outbox_contiguous(DatabaseReader& reader) {
    const auto seqs = reader.integers("SELECT seq FROM outbox ORDER BY seq");
    REQUIRE_FALSE(seqs.empty());
    for (std::size_t i = 0; i < seqs.size(); ++i) {
        INFO("outbox position " << i);
        REQUIRE(seqs[i] == static_cast<std::int64_t>(i) + 1);
    }
}

// Runs loyaltyd with `args` to completion; its stdout is folded into the captured stderr.
std::pair<ExitStatus, std::string> run_to_exit(const fs::path& dir, const std::vector<std::string>& args) {
    std::string command = "exec \"$0\"";
    for (std::size_t i = 0; i < args.size(); ++i) command += " \"$" + std::to_string(i + 1) + "\"";
    command += " 1>&2";
    std::vector<std::string> shell_args{"-c", command, LOYALTYD_PATH};
    shell_args.insert(shell_args.end(), args.begin(), args.end());
    ChildProcess child("/bin/sh", shell_args, {}, dir / "run.stderr");
    const auto status = child.wait_for_exit(60s);
    if (!status) throw std::runtime_error("loyaltyd did not exit");
    // With 1>&2 inside the shell, the stdout of the daemon lands in the same file.
    return {*status, child.stderr_text()};
}

}  // namespace

TEST_CASE("enrolment: 201, replay 200, duplicate card 409, bad Luhn 400 naming card", "[loyaltyd]") {
    Till till;
    HttpClient& client = till.client();
    const json request{{"card", card_number(1)}, {"phone", "+44 7700 900001"}, {"name", "Ada"},
                       {"email", "ada@example.com"}};

    const ClientResponse first = client.request("POST", "/v1/members", request);
    const json member = expect(first, 201);
    CHECK(first.headers.at("idempotent-replay") == "false");
    const std::string member_id = member.at("member_id");
    CHECK_FALSE(member_id.empty());
    CHECK(member.at("card") == card_number(1));
    CHECK(member.at("cards").size() == 1);
    CHECK(member.at("cards")[0].at("number") == card_number(1));
    CHECK(member.at("cards")[0].at("status") == "active");
    CHECK(member.at("cards")[0].at("primary") == true);
    // The till keeps the number only as a keyed hash (its key beside the database): the
    // cashier sees the last four digits to confirm with the member.
    CHECK(member.at("phone") == "+********0001");
    CHECK(std::filesystem::exists(till.database().string() + ".key"));
    CHECK(member.at("name") == "Ada");
    CHECK(member.at("tier") == "Bronze");
    CHECK(member.at("points") == 0);
    CHECK(member.at("points_pending") == 0);
    CHECK(member.at("offers").is_array());

    SECTION("the same enrolment again is a replay: 200, the same member, nothing new") {
        const ClientResponse again = client.request("POST", "/v1/members", request);
        const json replayed = expect(again, 200);
        CHECK(again.headers.at("idempotent-replay") == "true");
        CHECK(replayed.at("member_id") == member_id);
        // Spaces and dashes in the card are ignored, so this is the same enrolment too.
        json spaced = request;
        std::string card = card_number(1);
        card.insert(4, " ").insert(9, "-");
        spaced["card"] = card;
        CHECK(expect(client.request("POST", "/v1/members", spaced), 200).at("member_id") == member_id);
    }
    SECTION("the same card with other details is a conflict and changes nothing") {
        json other = request;
        other["name"] = "Someone Else";
        other["phone"] = "+44 7700 900002";
        const ClientResponse conflict = client.request("POST", "/v1/members", other);
        CHECK(conflict.status == 409);
        CHECK(conflict.json().at("error").at("code") == "idempotency_conflict");
        expect_error(client.request("GET", "/v1/members?phone=%2B447700900002"), 404, "unknown_phone", "phone");
        CHECK(summary(client, member_id).at("name") == "Ada");
    }
    SECTION("a card that belongs to another member is refused as duplicate_card") {
        const json other = expect(client.request("POST", "/v1/members",
                                                 json{{"phone", "+44 7700 900003"}, {"name", "Bob"}}),
                                  201);
        expect_error(client.request("POST", "/v1/members/" + other.at("member_id").get<std::string>() + "/cards",
                                    json{{"card", card_number(1)}}),
                     409, "duplicate_card", "card");
        expect_error(client.request("POST", "/v1/members",
                                    json{{"phone", "+44 7700 900001"}, {"name", "Ada again"}}),
                     409, "duplicate_phone", "phone");
    }
    SECTION("a card with a wrong check digit is refused naming card, and nobody is enrolled") {
        expect_error(client.request("POST", "/v1/members", json{{"card", bad_luhn(card_number(2))}, {"name", "Eve"}}),
                     400, "invalid_card", "card");
        expect_error(client.request("GET", "/v1/members?card=" + card_number(2)), 404, "unknown_card", "card");
        expect_error(client.request("POST", "/v1/members", json{{"card", card_number(2)}}), 400, "invalid_field",
                     "name");
        expect_error(client.request("POST", "/v1/members", json{{"name", "Nobody"}}), 400, "invalid_field",
                     "card");
        expect_error(client.request("POST", "/v1/members", json{{"card", card_number(2)}, {"name", "E"},
                                                                {"email", "not-an-address"}}),
                     400, "invalid_field", "email");
        expect_error(client.request("GET", "/v1/members?card=" + card_number(2)), 404, "unknown_card", "card");
    }
}

// An enrolment conflict must point the POS at the field it sent (once a core bug named txn_id).
TEST_CASE("an enrolment conflict names the card it is keyed by", "[loyaltyd]") {
    Till till;
    HttpClient& client = till.client();
    enroll(client, 1);
    expect_error(client.request("POST", "/v1/members", json{{"card", card_number(1)}, {"name", "Someone Else"}}),
                 409, "idempotency_conflict", "card");
}

TEST_CASE("members are found by id, card and phone, unknown ones are 404", "[loyaltyd]") {
    Till till;
    HttpClient& client = till.client();
    const json member = enroll(client, 7);
    const std::string member_id = member.at("member_id");

    CHECK(summary(client, member_id).at("card") == card_number(7));
    CHECK(expect(client.request("GET", "/v1/members?card=" + card_number(7)), 200).at("member_id") == member_id);
    CHECK(expect(client.request("GET", "/v1/members?phone=%2B447700910007"), 200).at("member_id") == member_id);
    CHECK(expect(client.request("GET", "/v1/members?phone=%2B44%207700%20910007"), 200).at("member_id") ==
          member_id);
    const json found = summary(client, member_id);
    for (const char* key : {"member_id", "cards", "card", "phone", "name", "tier", "points", "points_pending",
                            "points_expiring", "tier_progress", "offers", "balance"})
        CHECK(found.contains(key));
    CHECK(found.at("tier_progress").at("next_tier") == "Silver");

    expect_error(client.request("GET", "/v1/members/S01-T1-M999"), 404, "unknown_member", "member_id");
    expect_error(client.request("GET", "/v1/members/S01-T1-M999/history"), 404, "unknown_member", "member_id");
    expect_error(client.request("GET", "/v1/members?card=" + card_number(8)), 404, "unknown_card", "card");
    expect_error(client.request("GET", "/v1/members?card=" + bad_luhn(card_number(7))), 400, "invalid_card",
                 "card");
    expect_error(client.request("GET", "/v1/members?phone=%2B447700999999"), 404, "unknown_phone", "phone");
    expect_error(client.request("GET", "/v1/members"), 400, "invalid_field", "card");
    expect_error(client.request("GET", "/v1/members?card=%zz"), 400, "malformed_query", std::nullopt);
}

TEST_CASE("consent is opt-in at enrolment and changed per purpose, bad values naming the field", "[loyaltyd]") {
    Till till;
    HttpClient& client = till.client();
    const std::string member_id = enroll(client, 7).at("member_id");
    const json given = summary(client, member_id).at("consent");
    CHECK(given.at("membership") == true);
    CHECK(given.at("personalised_offers") == false);
    CHECK(given.at("marketing") == false);

    const std::string path = "/v1/members/" + member_id + "/consent";
    const json changed = expect(client.request("POST", path, json{{"personalised_offers", true}}), 200);
    CHECK(changed.at("consent").at("personalised_offers") == true);
    CHECK(changed.at("consent").at("marketing") == false);  // left out: unchanged
    CHECK(changed.at("consent").at("recorded_by") == "S01-T1");
    expect_error(client.request("POST", path, json{{"marketing", "yes"}}), 400, "invalid_field", "consent.marketing");
    expect_error(client.request("POST", path, json{{"newsletter", true}}), 400, "invalid_field", "consent.newsletter");
    expect_error(client.request("POST", "/v1/members/S01-T1-M999/consent", json{{"marketing", true}}), 404,
                 "unknown_member", "member_id");
    CHECK(summary(client, member_id).at("consent").at("personalised_offers") == true);

    const json opted_in = expect(client.request("POST", "/v1/members",
                                                json{{"card", card_number(8)},
                                                     {"name", "Member 8"},
                                                     {"consent", {{"personalised_offers", true}, {"marketing", true}}}}),
                                 201);
    CHECK(opted_in.at("consent").at("marketing") == true);
    expect_error(client.request("POST", "/v1/members",
                                json{{"card", card_number(9)}, {"name", "Member 9"}, {"consent", {{"marketing", 1}}}}),
                 400, "invalid_field", "consent.marketing");
}

TEST_CASE("a purchase earns once: 201, replay 200 with the same body, changed payload 409", "[loyaltyd]") {
    Till till;
    HttpClient& client = till.client();
    const std::string member_id = enroll(client, 1).at("member_id");
    // 25.00 groceries earn 25, 10.00 fresh earns double (20), gift cards earn nothing.
    const json request = sale("T-1", member_id,
                              {line("milk", "grocery", 2, 1250), line("apples", "fresh", 1, 1000),
                               line("voucher", "gift_cards", 1, 5000)});

    const ClientResponse first = client.request("POST", "/v1/purchases", request);
    const json result = expect(first, 201);
    CHECK(first.headers.at("idempotent-replay") == "false");
    CHECK(result.at("txn_id") == "T-1");
    CHECK(result.at("member_id") == member_id);
    CHECK(result.at("net_cents") == 8500);
    CHECK(result.at("eligible_cents") == 3500);
    CHECK(result.at("amount_due_cents") == 8500);
    CHECK(result.at("points_earned") == 45);
    CHECK(result.at("points_redeemed") == 0);
    CHECK(result.at("points") == 45);
    CHECK(result.at("tier") == "Bronze");
    REQUIRE(result.at("lines").size() == 3);
    CHECK(result.at("lines")[0].at("points") == 25);
    CHECK(result.at("lines")[1].at("points") == 20);
    CHECK(result.at("lines")[2].at("points") == 0);
    const MemberState after_first = member_state(client, member_id);
    CHECK(after_first.summary.at("points") == 45);
    REQUIRE(after_first.history.size() == 1);
    CHECK(after_first.history[0].at("operation_id") == "T-1");
    CHECK(after_first.history[0].at("points") == 45);

    const ClientResponse replay = client.request("POST", "/v1/purchases", request);
    CHECK(expect(replay, 200) == result);
    CHECK(replay.body == first.body);
    CHECK(replay.headers.at("idempotent-replay") == "true");

    json changed = request;
    changed["lines"][0]["quantity"] = 3;
    expect_error(client.request("POST", "/v1/purchases", changed), 409, "idempotency_conflict", "txn_id");
    json named_by_card = request;
    named_by_card.erase("member_id");
    named_by_card["card"] = card_number(1);  // the same member, named another way
    const ClientResponse by_card = client.request("POST", "/v1/purchases", named_by_card);
    CHECK((by_card.status == 200 || by_card.status == 409));
    CHECK(member_state(client, member_id) == after_first);

    // A second sale by card earns on top.
    json by_card_sale{{"txn_id", "T-2"}, {"card", card_number(1)}, {"lines", {line("bread", "grocery", 1, 399)}}};
    CHECK(expect(client.request("POST", "/v1/purchases", by_card_sale), 201).at("points") == 48);
    CHECK(summary(client, member_id).at("points") == 48);
}

TEST_CASE("a quote computes what the purchase will do and writes nothing", "[loyaltyd]") {
    Till till;
    HttpClient& client = till.client();
    const std::string member_id = enroll(client, 1).at("member_id");
    const json lines = {line("tv", "electronics", 1, 40000), line("pears", "fresh", 3, 250)};
    const MemberState before = member_state(client, member_id);
    std::vector<std::int64_t> counts_before;
    {
        DatabaseReader reader(till.database());
        counts_before = reader.snapshot();
    }

    json quote_request{{"member_id", member_id}, {"lines", lines}};
    const json quote = expect(client.request("POST", "/v1/checkout/quote", quote_request), 200);
    CHECK(quote.at("member_id") == member_id);
    CHECK(quote.at("net_cents") == 40750);
    CHECK(quote.at("points_earned") == 200 + 15);  // electronics earn half, fresh double
    CHECK(quote.at("points") == 0);
    CHECK(quote.at("max_redeemable_points") == 0);
    const json anonymous = expect(client.request("POST", "/v1/checkout/quote", json{{"lines", lines}}), 200);
    CHECK(anonymous.at("member_id") == "");
    CHECK(anonymous.at("points_earned") == quote.at("points_earned"));
    json redeeming = quote_request;
    redeeming["redeem_points"] = 100;
    expect_error(client.request("POST", "/v1/checkout/quote", redeeming), 422, "insufficient_points",
                 "redeem_points");

    CHECK(member_state(client, member_id) == before);
    {
        DatabaseReader reader(till.database());
        CHECK(reader.snapshot() == counts_before);
    }
    const json bought = expect(client.request("POST", "/v1/purchases", sale("T-1", member_id, lines)), 201);
    CHECK(bought.at("points_earned") == quote.at("points_earned"));
    CHECK(bought.at("net_cents") == quote.at("net_cents"));
}

TEST_CASE("redemption pays with points, too many points is 422 naming redeem_points", "[loyaltyd]") {
    Till till;
    HttpClient& client = till.client();
    const std::string member_id = enroll(client, 1).at("member_id");
    expect(client.request("POST", "/v1/purchases", sale("T-1", member_id, {line("food", "grocery", 3, 10000)})), 201);
    const MemberState before = member_state(client, member_id);
    REQUIRE(before.summary.at("points") == 300);

    expect_error(client.request("POST", "/v1/purchases",
                                sale("T-2", member_id, {line("food", "grocery", 1, 100000)}, 301)),
                 422, "insufficient_points", "redeem_points");
    expect_error(client.request("POST", "/v1/purchases", sale("T-2", member_id, {line("food", "grocery", 1, 100000)}, 50)),
                 422, "below_minimum_redemption", "redeem_points");
    // Points may pay at most half the basket: 300 points are 3.00, the basket 4.00.
    expect_error(client.request("POST", "/v1/purchases", sale("T-2", member_id, {line("food", "grocery", 1, 400)}, 300)),
                 422, "redemption_above_basket_share", "redeem_points");
    CHECK(member_state(client, member_id) == before);

    const json paid = expect(client.request("POST", "/v1/purchases",
                                            sale("T-2", member_id, {line("food", "grocery", 1, 10000)}, 200)),
                             201);
    CHECK(paid.at("points_redeemed") == 200);
    CHECK(paid.at("redeemed_cents") == 200);
    CHECK(paid.at("amount_due_cents") == 9800);
    const std::int64_t earned = paid.at("points_earned");
    CHECK(paid.at("points") == 300 - 200 + earned);
    CHECK(summary(client, member_id).at("points") == 300 - 200 + earned);
    const auto history = full_history(client, member_id);
    std::int64_t sum = 0;
    for (const json& entry : history) sum += entry.at("points").get<std::int64_t>();
    CHECK(sum == 300 - 200 + earned);
}

TEST_CASE("returns are partial and once per unit, voids undo a sale", "[loyaltyd]") {
    Till till;
    HttpClient& client = till.client();
    const std::string member_id = enroll(client, 1).at("member_id");
    // 4 x 10.00 groceries (40 points) and 1 x 5.00 fresh (10 points).
    expect(client.request("POST", "/v1/purchases",
                          sale("T-1", member_id, {line("rice", "grocery", 4, 1000), line("kiwi", "fresh", 1, 500)})),
           201);
    REQUIRE(summary(client, member_id).at("points") == 50);

    const json two_back{{"return_id", "R-1"}, {"original_txn_id", "T-1"},
                        {"lines", {{{"sku", "rice"}, {"quantity", 2}}}}};
    const ClientResponse first = client.request("POST", "/v1/returns", two_back);
    const json returned = expect(first, 201);
    CHECK(returned.at("return_id") == "R-1");
    CHECK(returned.at("original_txn_id") == "T-1");
    CHECK(returned.at("refund_cents") == 2000);
    CHECK(returned.at("points_reversed") == 20);
    CHECK(returned.at("points") == 30);
    const ClientResponse replay = client.request("POST", "/v1/returns", two_back);
    CHECK(expect(replay, 200) == returned);
    CHECK(replay.body == first.body);
    CHECK(replay.headers.at("idempotent-replay") == "true");
    CHECK(summary(client, member_id).at("points") == 30);

    const MemberState after_partial = member_state(client, member_id);
    json too_many = two_back;
    too_many["return_id"] = "R-2";
    too_many["lines"][0]["quantity"] = 3;  // only 2 are left to return
    expect_error(client.request("POST", "/v1/returns", too_many), 409, "already_returned", "lines[0].quantity");
    json unknown_sku = two_back;
    unknown_sku["return_id"] = "R-2";
    unknown_sku["lines"][0]["sku"] = "caviar";
    expect_error(client.request("POST", "/v1/returns", unknown_sku), 400, "sku_not_in_purchase", "lines[0].sku");
    expect_error(client.request("POST", "/v1/returns",
                                json{{"return_id", "R-2"}, {"original_txn_id", "T-404"}}),
                 404, "unknown_transaction", "original_txn_id");
    CHECK(member_state(client, member_id) == after_partial);

    // No lines: everything not yet returned.
    const json rest = expect(client.request("POST", "/v1/returns", json{{"return_id", "R-3"}, {"original_txn_id", "T-1"}}),
                             201);
    CHECK(rest.at("points_reversed") == 30);
    CHECK(rest.at("refund_cents") == 2500);
    CHECK(rest.at("points") == 0);
    expect_error(client.request("POST", "/v1/returns",
                                json{{"return_id", "R-4"}, {"original_txn_id", "T-1"},
                                     {"lines", {{{"sku", "rice"}, {"quantity", 1}}}}}),
                 409, "already_returned", "lines[0].quantity");
    expect_error(client.request("POST", "/v1/returns", json{{"return_id", "R-5"}, {"original_txn_id", "T-1"}}), 409,
                 "already_returned", "original_txn_id");
    CHECK(summary(client, member_id).at("points") == 0);

    // A void reverses a whole sale, once.
    expect(client.request("POST", "/v1/purchases", sale("T-2", member_id, {line("oil", "grocery", 1, 1500)})), 201);
    CHECK(summary(client, member_id).at("points") == 15);
    const ClientResponse voided = client.request("POST", "/v1/purchases/T-2/void");
    const json void_result = expect(voided, 201);
    CHECK(voided.headers.at("idempotent-replay") == "false");
    CHECK(void_result.at("txn_id") == "T-2");
    CHECK(void_result.at("points_reversed") == 15);
    CHECK(void_result.at("points") == 0);
    const ClientResponse void_again = client.request("POST", "/v1/purchases/T-2/void");
    CHECK(expect(void_again, 200) == void_result);
    CHECK(void_again.body == voided.body);
    CHECK(summary(client, member_id).at("points") == 0);
    expect_error(client.request("POST", "/v1/returns", json{{"return_id", "R-6"}, {"original_txn_id", "T-2"}}), 409,
                 "purchase_voided", "original_txn_id");
    expect_error(client.request("POST", "/v1/purchases/T-404/void"), 404, "unknown_transaction", "txn_id");
    expect_error(client.request("POST", "/v1/purchases/T-1/void"), 422, "purchase_has_returns", "txn_id");
    // A voided txn_id cannot be reused for another sale.
    const ClientResponse reuse =
        client.request("POST", "/v1/purchases", sale("T-2", member_id, {line("oil", "grocery", 1, 9900)}));
    CHECK(reuse.status == 409);
    CHECK(summary(client, member_id).at("points") == 0);
}

TEST_CASE("a blocked or replaced card keeps the member and the balance", "[loyaltyd]") {
    Till till;
    HttpClient& client = till.client();
    const std::string member_id = enroll(client, 1).at("member_id");
    expect(client.request("POST", "/v1/purchases", sale("T-1", member_id, {line("food", "grocery", 1, 4200)})), 201);

    const json added = expect(client.request("POST", "/v1/members/" + member_id + "/cards", json{{"card", card_number(2)}}),
                              200);
    CHECK(added.at("cards").size() == 2);
    CHECK(added.at("points") == 42);
    expect_error(client.request("POST", "/v1/members/" + member_id + "/cards", json{{"card", bad_luhn(card_number(3))}}),
                 400, "invalid_card", "card");
    expect_error(client.request("POST", "/v1/members/S01-T1-M999/cards", json{{"card", card_number(3)}}), 404,
                 "unknown_member", "member_id");

    const json blocked = expect(client.request("POST", "/v1/cards/" + card_number(2) + "/block"), 200);
    CHECK(blocked.at("member_id") == member_id);
    bool found_blocked = false;
    for (const json& card : blocked.at("cards"))
        if (card.at("number") == card_number(2)) found_blocked = card.at("status") == "blocked";
    CHECK(found_blocked);
    expect_error(client.request("GET", "/v1/members?card=" + card_number(2)), 422, "card_blocked", "card");
    expect_error(client.request("POST", "/v1/purchases",
                                json{{"txn_id", "T-2"}, {"card", card_number(2)}, {"lines", {line("x", "grocery", 1, 100)}}}),
                 422, "card_blocked", "card");
    expect_error(client.request("POST", "/v1/cards/" + card_number(9) + "/block"), 404, "unknown_card", "card");

    const json replaced =
        expect(client.request("POST", "/v1/cards/" + card_number(1) + "/replace", json{{"card", card_number(4)}}), 200);
    CHECK(replaced.at("member_id") == member_id);
    CHECK(replaced.at("card") == card_number(4));
    CHECK(replaced.at("points") == 42);
    const json by_new = expect(client.request("GET", "/v1/members?card=" + card_number(4)), 200);
    CHECK(by_new.at("member_id") == member_id);
    CHECK(by_new.at("points") == 42);
    expect_error(client.request("GET", "/v1/members?card=" + card_number(1)), 422, "card_blocked", "card");
    expect_error(client.request("POST", "/v1/cards/" + card_number(4) + "/replace", json::object()), 400,
                 "invalid_field", "card");
    const std::string other = enroll(client, 5).at("member_id");
    expect_error(client.request("POST", "/v1/cards/" + card_number(5) + "/replace", json{{"card", card_number(4)}}), 409,
                 "duplicate_card", "card");
    CHECK(summary(client, other).at("card") == card_number(5));
    // Earning by the new card lands on the same balance.
    expect(client.request("POST", "/v1/purchases",
                          json{{"txn_id", "T-3"}, {"card", card_number(4)}, {"lines", {line("x", "grocery", 1, 800)}}}),
           201);
    CHECK(summary(client, member_id).at("points") == 50);
}

TEST_CASE("history is newest first and pages without gaps or repeats", "[loyaltyd]") {
    Till till;
    HttpClient& client = till.client();
    const std::string member_id = enroll(client, 1).at("member_id");
    for (int i = 1; i <= 7; ++i)
        expect(client.request("POST", "/v1/purchases",
                              sale("T-" + std::to_string(i), member_id, {line("x", "grocery", 1, 100 * i)})),
               201);

    std::vector<std::string> seen;
    std::vector<std::size_t> page_sizes;
    std::string cursor;
    for (int page = 0; page < 10; ++page) {
        const json body = expect(client.request("GET", "/v1/members/" + member_id + "/history?limit=3" +
                                                           (cursor.empty() ? "" : "&cursor=" + cursor)),
                                 200);
        CHECK(body.at("member_id") == member_id);
        page_sizes.push_back(body.at("entries").size());
        for (const json& entry : body.at("entries")) {
            CHECK(entry.at("kind") == "earn");
            CHECK(entry.at("member_id") == member_id);
            seen.push_back(entry.at("operation_id"));
        }
        if (body.at("next_cursor").is_null()) break;
        cursor = body.at("next_cursor").get<std::string>();
    }
    CHECK(page_sizes == std::vector<std::size_t>{3, 3, 1});
    CHECK(seen == std::vector<std::string>{"T-7", "T-6", "T-5", "T-4", "T-3", "T-2", "T-1"});
    const json default_page = expect(client.request("GET", "/v1/members/" + member_id + "/history"), 200);
    CHECK(default_page.at("entries").size() == 7);
    CHECK(default_page.at("next_cursor").is_null());

    for (const char* limit : {"0", "101", "-1", "abc", "", "99999999999999999999"})
        expect_error(client.request("GET", "/v1/members/" + member_id + "/history?limit=" + limit), 400,
                     "invalid_field", "limit");
    expect_error(client.request("GET", "/v1/members/" + member_id + "/history?cursor=zzz"), 400, "invalid_field",
                 "cursor");
}

TEST_CASE("health, rules, admin runs and metrics", "[loyaltyd]") {
    Till till;
    HttpClient& client = till.client();
    for (int i = 0; i < 3; ++i) expect(client.request("GET", "/v1/health"), 200);
    const json health = expect(client.request("GET", "/v1/health"), 200);
    CHECK(health.at("status") == "ok");
    CHECK(health.at("till_id") == "S01-T1");
    CHECK(health.at("store_id") == "S01");
    CHECK(health.at("rule_version") == 1);
    CHECK(health.at("version").is_string());
    CHECK(health.at("sync").at("connected") == false);
    CHECK(health.at("sync").at("pending_events") == 0);

    const std::string member_id = enroll(client, 1).at("member_id");
    enroll(client, 2);
    expect(client.request("POST", "/v1/purchases", sale("T-1", member_id, {line("x", "grocery", 1, 1000)})), 201);
    // Two enrolments and a purchase: three events waiting for head office.
    CHECK(expect(client.request("GET", "/v1/health"), 200).at("sync").at("pending_events") == 3);

    const json rules = expect(client.request("GET", "/v1/rules"), 200);
    CHECK(rules.at("version") == 1);
    CHECK(rules.at("unit_cents") == 100);
    CHECK(rules.at("earn").at("category_multipliers").at("fresh") == 2.0);
    CHECK(rules.at("earn").at("excluded_categories") == json{"gift_cards", "tobacco"});
    CHECK(rules.at("redemption").at("points_per_unit") == 100);
    REQUIRE(rules.at("tiers").at("levels").size() == 3);
    CHECK(rules.at("tiers").at("levels")[2].at("name") == "Gold");

    const json expiry = expect(client.request("POST", "/v1/admin/expiry-run"), 200);
    CHECK(expiry.at("lots_expired") == 0);
    CHECK(expiry.at("points_expired") == 0);
    CHECK(expiry.at("entry_ids").empty());
    const json tiers = expect(client.request("POST", "/v1/admin/tier-run"), 200);
    CHECK(tiers.at("members_checked") == 2);
    CHECK(tiers.at("changes") == 0);
    CHECK(summary(client, member_id).at("points") == 10);
    expect_error(client.request("GET", "/v1/admin/tier-run"), 405, "method_not_allowed", std::nullopt);

    expect_error(client.request("POST", "/v1/purchases", json{{"txn_id", "T-2"}}), 400, "invalid_field", "lines");
    const ClientResponse metrics = client.request("GET", "/metrics");
    REQUIRE(metrics.status == 200);
    CHECK(metrics.headers.at("content-type").find("text/plain") == 0);
    INFO(metrics.body);
    const auto count_of = [&](const std::string& series) -> std::optional<std::string> {
        std::istringstream lines(metrics.body);
        for (std::string text; std::getline(lines, text);)
            if (text.rfind(series + " ", 0) == 0) return text.substr(series.size() + 1);
        return std::nullopt;
    };
    CHECK(count_of(R"(loyalty_http_requests_total{method="GET",route="/v1/health",status="200"})") == "5");
    CHECK(count_of(R"(loyalty_http_requests_total{method="POST",route="/v1/members",status="201"})") == "2");
    CHECK(count_of(R"(loyalty_http_requests_total{method="POST",route="/v1/purchases",status="201"})") == "1");
    CHECK(count_of(R"(loyalty_http_requests_total{method="POST",route="/v1/purchases",status="400"})") == "1");
    CHECK(metrics.body.find("# TYPE loyalty_http_request_duration_seconds histogram") != std::string::npos);
    CHECK(count_of("loyalty_outbox_pending_events") == "3");
}

TEST_CASE("bad input gets a 4xx JSON error naming the field and changes nothing", "[loyaltyd]") {
    Till till;
    HttpClient& client = till.client();
    const std::string member_id = enroll(client, 1).at("member_id");
    expect(client.request("POST", "/v1/purchases", sale("T-1", member_id, {line("x", "grocery", 2, 1000)})), 201);
    const MemberState before = member_state(client, member_id);
    std::vector<std::int64_t> counts_before;
    {
        DatabaseReader reader(till.database());
        counts_before = reader.snapshot();
    }
    const std::string good_line = R"({"sku":"x","category":"grocery","quantity":1,"unit_price_cents":100})";
    const std::string member = "\"member_id\":\"" + member_id + "\"";
    const auto purchase_with_line = [&](const std::string& line_json) {
        return "{\"txn_id\":\"T-9\"," + member + ",\"lines\":[" + line_json + "]}";
    };
    struct Case {
        std::string target;
        std::string body;
        int status;
        std::string code;
        std::optional<std::string> field;
    };
    const std::vector<Case> cases{
        {"/v1/purchases", "{", 400, "malformed_json", std::nullopt},
        {"/v1/purchases", "", 400, "malformed_json", std::nullopt},
        {"/v1/purchases", "[]", 400, "malformed_json", std::nullopt},
        {"/v1/purchases", "null", 400, "malformed_json", std::nullopt},
        {"/v1/purchases", "{\"txn_id\":\"T-9\"}{}", 400, "malformed_json", std::nullopt},
        {"/v1/purchases", "{" + member + ",\"lines\":[" + good_line + "]}", 400, "invalid_field", "txn_id"},
        {"/v1/purchases", "{\"txn_id\":5," + member + ",\"lines\":[" + good_line + "]}", 400, "invalid_field", "txn_id"},
        {"/v1/purchases", "{\"txn_id\":\"\"," + member + ",\"lines\":[" + good_line + "]}", 400, "invalid_field",
         "txn_id"},
        {"/v1/purchases", "{\"txn_id\":\"" + std::string(65, 'T') + "\"," + member + ",\"lines\":[" + good_line + "]}",
         400, "invalid_field", "txn_id"},
        {"/v1/purchases", "{\"txn_id\":\"T-9\"," + member + "}", 400, "invalid_field", "lines"},
        {"/v1/purchases", "{\"txn_id\":\"T-9\"," + member + ",\"lines\":{}}", 400, "invalid_field", "lines"},
        {"/v1/purchases", "{\"txn_id\":\"T-9\"," + member + ",\"lines\":[]}", 400, "invalid_field", "lines"},
        {"/v1/purchases", "{\"txn_id\":\"T-9\",\"lines\":[" + good_line + "]}", 400, "invalid_field", "member_id"},
        {"/v1/purchases",
         "{\"txn_id\":\"T-9\"," + member + ",\"card\":\"" + card_number(1) + "\",\"lines\":[" + good_line + "]}", 400,
         "invalid_field", "member_id"},
        {"/v1/purchases", "{\"txn_id\":\"T-9\",\"card\":\"" + bad_luhn(card_number(1)) + "\",\"lines\":[" + good_line + "]}",
         400, "invalid_card", "card"},
        {"/v1/purchases", "{\"txn_id\":\"T-9\",\"member_id\":7,\"lines\":[" + good_line + "]}", 400, "invalid_field",
         "member_id"},
        {"/v1/purchases", "{\"txn_id\":\"T-9\",\"member_id\":\"S01-T1-M999\",\"lines\":[" + good_line + "]}", 404,
         "unknown_member", "member_id"},
        {"/v1/purchases", purchase_with_line("5"), 400, "invalid_field", "lines[0]"},
        {"/v1/purchases", purchase_with_line(R"({"category":"grocery","quantity":1,"unit_price_cents":100})"), 400,
         "invalid_field", "lines[0].sku"},
        {"/v1/purchases", purchase_with_line(R"({"sku":"","category":"grocery","quantity":1,"unit_price_cents":100})"),
         400, "invalid_field", "lines[0].sku"},
        {"/v1/purchases", purchase_with_line(R"({"sku":"x","quantity":1,"unit_price_cents":100})"), 400,
         "invalid_field", "lines[0].category"},
        {"/v1/purchases", purchase_with_line(R"({"sku":"x","category":"grocery","unit_price_cents":100})"), 400,
         "invalid_field", "lines[0].quantity"},
        {"/v1/purchases", purchase_with_line(R"({"sku":"x","category":"grocery","quantity":"2","unit_price_cents":100})"),
         400, "invalid_field", "lines[0].quantity"},
        {"/v1/purchases", purchase_with_line(R"({"sku":"x","category":"grocery","quantity":0,"unit_price_cents":100})"),
         400, "invalid_field", "lines[0].quantity"},
        {"/v1/purchases", purchase_with_line(R"({"sku":"x","category":"grocery","quantity":2.5,"unit_price_cents":100})"),
         400, "invalid_field", "lines[0].quantity"},
        {"/v1/purchases",
         purchase_with_line(R"({"sku":"x","category":"grocery","quantity":9223372036854775808,"unit_price_cents":100})"),
         400, "invalid_field", "lines[0].quantity"},
        {"/v1/purchases", purchase_with_line(R"({"sku":"x","category":"grocery","quantity":1,"unit_price_cents":-100})"),
         400, "invalid_field", "lines[0].unit_price_cents"},
        {"/v1/purchases", purchase_with_line(R"({"sku":"x","category":"grocery","quantity":1,"unit_price_cents":1e30})"),
         400, "invalid_field", "lines[0].unit_price_cents"},
        {"/v1/purchases",
         purchase_with_line(
             R"({"sku":"x","category":"grocery","quantity":1,"unit_price_cents":18446744073709551615})"),
         400, "invalid_field", "lines[0].unit_price_cents"},
        {"/v1/purchases",
         purchase_with_line(R"({"sku":"x","category":"grocery","quantity":1,"unit_price_cents":"100"})"), 400,
         "invalid_field", "lines[0].unit_price_cents"},
        {"/v1/purchases",
         purchase_with_line(R"({"sku":"x","category":"grocery","quantity":1,"unit_price_cents":100,"discount_cents":-1})"),
         400, "invalid_field", "lines[0].discount_cents"},
        {"/v1/purchases",
         purchase_with_line(R"({"sku":"x","category":"grocery","quantity":1,"unit_price_cents":100,"discount_cents":101})"),
         400, "invalid_field", "lines[0].discount_cents"},
        {"/v1/purchases",
         "{\"txn_id\":\"T-9\"," + member + ",\"lines\":[" + good_line + "," +
             R"({"sku":"y","category":"grocery","quantity":100000,"unit_price_cents":100000000})" + "," +
             R"({"sku":"z","category":"grocery","quantity":100000,"unit_price_cents":100000000})" + "]}",
         400, "invalid_field", "lines"},
        {"/v1/purchases", "{\"txn_id\":\"T-9\"," + member + ",\"lines\":[" + good_line + "],\"redeem_points\":-5}", 400,
         "invalid_field", "redeem_points"},
        {"/v1/purchases", "{\"txn_id\":\"T-9\"," + member + ",\"lines\":[" + good_line + "],\"redeem_points\":1e30}",
         400, "invalid_field", "redeem_points"},
        {"/v1/purchases",
         "{\"txn_id\":\"T-9\"," + member + ",\"lines\":[" + good_line + "],\"redeem_points\":18446744073709551615}", 400,
         "invalid_field", "redeem_points"},
        {"/v1/purchases", "{\"txn_id\":\"T-9\"," + member + ",\"lines\":[" + good_line + "],\"redeem_points\":true}",
         400, "invalid_field", "redeem_points"},
        {"/v1/checkout/quote", "{\"lines\":[]}", 400, "invalid_field", "lines"},
        {"/v1/checkout/quote", purchase_with_line(R"({"sku":"x","category":"grocery","quantity":1e30,"unit_price_cents":1})"),
         400, "invalid_field", "lines[0].quantity"},
        {"/v1/checkout/quote", "{\"lines\":[" + good_line + "],\"redeem_points\":100}", 400, "invalid_field",
         "member_id"},
        {"/v1/returns", "{\"original_txn_id\":\"T-1\"}", 400, "invalid_field", "return_id"},
        {"/v1/returns", "{\"return_id\":\"R-1\"}", 400, "invalid_field", "original_txn_id"},
        {"/v1/returns", R"({"return_id":"R-1","original_txn_id":"T-1","lines":[{"sku":"x","quantity":0}]})", 400,
         "invalid_field", "lines[0].quantity"},
        {"/v1/returns", R"({"return_id":"R-1","original_txn_id":"T-1","lines":[{"sku":"x","quantity":-2}]})", 400,
         "invalid_field", "lines[0].quantity"},
        {"/v1/returns", R"({"return_id":"R-1","original_txn_id":"T-1","lines":[{"sku":"x","quantity":1e30}]})", 400,
         "invalid_field", "lines[0].quantity"},
        {"/v1/returns", R"({"return_id":"R-1","original_txn_id":"T-1","lines":"all"})", 400, "invalid_field", "lines"},
        {"/v1/returns", R"({"return_id":"R-1","original_txn_id":"T-1","lines":[{"quantity":1}]})", 400,
         "invalid_field", "lines[0].sku"},
        {"/v1/members", "{\"name\":5,\"card\":\"" + card_number(2) + "\"}", 400, "invalid_field", "name"},
        {"/v1/members", "{\"name\":\"Ann\",\"card\":\"abc\"}", 400, "invalid_field", "card"},
        {"/v1/members", "{\"name\":\"Ann\",\"card\":" + card_number(2) + "}", 400, "invalid_field", "card"},
        {"/v1/members", "{\"name\":\"Ann\",\"phone\":\"12\"}", 400, "invalid_field", "phone"},
        {"/v1/members/" + member_id + "/cards", "{}", 400, "invalid_field", "card"},
        {"/v1/members/" + member_id + "/cards", "{\"card\":12345678}", 400, "invalid_field", "card"},
    };
    for (const Case& bad : cases) {
        INFO("POST " << bad.target << " " << bad.body);
        expect_error(client.request_raw("POST", bad.target, bad.body), bad.status, bad.code, bad.field);
    }
    CHECK(member_state(client, member_id) == before);
    DatabaseReader reader(till.database());
    CHECK(reader.snapshot() == counts_before);
}

TEST_CASE("unknown routes are 404, wrong methods 405, oversized bodies 413", "[loyaltyd]") {
    Till till(json{{"body_limit_bytes", 2048}});
    HttpClient& client = till.client();
    const std::string member_id = enroll(client, 1).at("member_id");
    const MemberState before = member_state(client, member_id);

    expect_error(client.request("GET", "/v1/nothing-here"), 404, "not_found", std::nullopt);
    expect_error(client.request("GET", "/v2/health"), 404, "not_found", std::nullopt);
    expect_error(client.request("POST", "/v1/members/" + member_id + "/history/extra"), 404, "not_found", std::nullopt);
    const ClientResponse wrong_method = client.request("DELETE", "/v1/purchases");
    expect_error(wrong_method, 405, "method_not_allowed", std::nullopt);
    CHECK(wrong_method.headers.at("allow") == "POST");
    expect_error(client.request("GET", "/v1/purchases"), 405, "method_not_allowed", std::nullopt);
    const ClientResponse put_member = client.request("PUT", "/v1/members/" + member_id);
    expect_error(put_member, 405, "method_not_allowed", std::nullopt);
    CHECK(put_member.headers.at("allow") == "GET");
    expect_error(client.request("POST", "/v1/health"), 405, "method_not_allowed", std::nullopt);
    expect_error(client.request("POST", "/v1/purchases/T-1/void/now"), 404, "not_found", std::nullopt);

    // A basket padded past the limit is refused whole; the same basket under it is taken.
    const auto padded_sale = [&](std::size_t sku_length, const std::string& txn_id) {
        return sale(txn_id, member_id, {line(std::string(sku_length, 's'), "grocery", 1, 1000)}).dump();
    };
    expect_error(client.request_raw("POST", "/v1/purchases", padded_sale(100, "T-1") + std::string(3000, ' ')), 413,
                 "body_too_large", std::nullopt);
    CHECK(member_state(client, member_id) == before);
    expect(client.request_raw("POST", "/v1/purchases", padded_sale(100, "T-1") + std::string(1500, ' ')), 201);
    CHECK(summary(client, member_id).at("points") == 10);
}

TEST_CASE("a bearer token guards every route but health", "[loyaltyd]") {
    Till till(json{{"api_token", "till-secret-42"}, {"till_id", "S07-T3"}, {"store_id", "S07"}});
    HttpClient& anonymous = till.client();
    const json health = expect(anonymous.request("GET", "/v1/health"), 200);
    CHECK(health.at("till_id") == "S07-T3");
    CHECK(health.at("store_id") == "S07");

    for (const std::optional<std::string>& token :
         {std::optional<std::string>{}, std::optional<std::string>{"wrong"},
          std::optional<std::string>{"till-secret-4"}, std::optional<std::string>{"till-secret-42x"}}) {
        INFO("token " << token.value_or("(none)"));
        HttpClient client = till.daemon().client(token);
        const ClientResponse refused = client.request(
            "POST", "/v1/members", json{{"card", card_number(1)}, {"name", "Mallory"}});
        expect_error(refused, 401, "unauthorized", std::nullopt);
        CHECK(refused.headers.at("www-authenticate") == "Bearer");
        expect_error(client.request("GET", "/metrics"), 401, "unauthorized", std::nullopt);
        expect_error(client.request("GET", "/v1/rules"), 401, "unauthorized", std::nullopt);
        expect_error(client.request("GET", "/v1/nothing-here"), 401, "unauthorized", std::nullopt);
        CHECK(client.request("GET", "/v1/health").status == 200);
    }
    till.set_token("till-secret-42");
    expect_error(till.client().request("GET", "/v1/members?card=" + card_number(1)), 404, "unknown_card", "card");
    const std::string member_id = enroll(till.client(), 1).at("member_id");
    CHECK(till.client().request("GET", "/metrics").status == 200);
    CHECK(summary(till.client(), member_id).at("points") == 0);
    CHECK(member_id.rfind("S07-T3-", 0) == 0);
}

TEST_CASE("loyaltyd answers --help and --version and refuses invalid configuration", "[loyaltyd]") {
    TempDir dir;
    SECTION("--help prints the usage and exits 0") {
        const auto [status, output] = run_to_exit(dir.path(), {"--help"});
        CHECK(status.code == 0);
        CHECK(output.find("usage: loyaltyd") != std::string::npos);
        CHECK(output.find("--listen") != std::string::npos);
        CHECK(output.find("--db") != std::string::npos);
    }
    SECTION("--version prints the version and exits 0") {
        const auto [status, output] = run_to_exit(dir.path(), {"--version"});
        CHECK(status.code == 0);
        CHECK(output.rfind("loyaltyd ", 0) == 0);
    }
    SECTION("invalid options and configs are refused at start, naming the field") {
        const auto refused = [&](const std::vector<std::string>& args, const std::string& field) {
            const auto [status, output] = run_to_exit(dir.path(), args);
            INFO(output);
            CHECK_FALSE(status.signalled);
            CHECK(status.code != 0);
            CHECK(output.find(field) != std::string::npos);
            CHECK(output.find("\"listening\"") == std::string::npos);
        };
        const auto config = [&](const std::string& text) {
            write_file(dir.path() / "bad.json", text);
            return std::vector<std::string>{"--config", (dir.path() / "bad.json").string(), "--listen",
                                            "127.0.0.1:0", "--db", (dir.path() / "till.db").string()};
        };
        refused({"--frobnicate"}, "--frobnicate");
        refused({"--listen"}, "--listen");
        refused({"--listen", "localhost"}, "--listen");
        refused({"--listen", "127.0.0.1:70000"}, "--listen");
        refused({"--config", (dir.path() / "missing.json").string()}, "config");
        refused(config("{not json"), "config");
        refused(config(R"({"durability": "sometimes"})"), "durability");
        refused(config(R"({"till_id": 5})"), "till_id");
        refused(config(R"({"till_id": ""})"), "till_id");
        refused(config(R"({"body_limit_bytes": 10})"), "body_limit_bytes");
        refused(config(R"({"body_limit_bytes": 1e30})"), "body_limit_bytes");
        refused(config(R"({"listen": "nowhere"})"), "listen");
        refused(config(R"({"tills_id": "S01-T1"})"), "tills_id");
        refused(config(R"({"rules_file": ")" + (dir.path() / "no-rules.json").string() + "\"}"), "rules_file");
        write_file(dir.path() / "rules.json", R"({"version": 1, "unit_cents": 0})");
        refused(config(R"({"rules_file": ")" + (dir.path() / "rules.json").string() + "\"}"), "unit_cents");
    }
}

TEST_CASE("SIGTERM stops gracefully and the data stays", "[loyaltyd]") {
    Till till;
    const std::string member_id = enroll(till.client(), 1).at("member_id");
    const json bought =
        expect(till.client().request("POST", "/v1/purchases", sale("T-1", member_id, {line("x", "grocery", 1, 1234)})),
               201);
    till.stop();
    CHECK(till.daemon().process().wait_for_log_event("stopped", 1s));
    till.start();
    CHECK(summary(till.client(), member_id).at("points") == 12);
    const ClientResponse replay =
        till.client().request("POST", "/v1/purchases", sale("T-1", member_id, {line("x", "grocery", 1, 1234)}));
    CHECK(expect(replay, 200) == bought);
}

TEST_CASE("acknowledged purchases survive SIGKILL", "[loyaltyd][crash]") {
    Till till;
    const std::string member_id = enroll(till.client(), 1).at("member_id");
    std::map<std::string, std::string> acknowledged;  // txn_id -> response body
    std::map<std::string, json> requests;
    std::int64_t earned = 0;
    constexpr int purchases = 25;
    for (int i = 0; i < purchases; ++i) {
        const std::string txn_id = "K-" + std::to_string(i);
        requests[txn_id] = sale(txn_id, member_id, {line("x", i % 3 == 0 ? "fresh" : "grocery", 1 + i % 4, 137 + 31 * i)});
        const ClientResponse response = till.client().request("POST", "/v1/purchases", requests[txn_id]);
        earned += expect(response, 201).at("points_earned").get<std::int64_t>();
        acknowledged[txn_id] = response.body;
    }
    till.kill();  // right after the last acknowledgement
    {
        DatabaseReader reader(till.database());
        CHECK(reader.integer("SELECT COUNT(*) FROM purchases") == purchases);
        CHECK(reader.integer("SELECT COALESCE(SUM(points), 0) FROM ledger") == earned);
        check_outbox_contiguous(reader);
        CHECK(reader.integer("SELECT COUNT(*) FROM outbox WHERE type = 'purchase'") == purchases);
    }
    till.start();
    for (const auto& [txn_id, body] : acknowledged) {
        INFO(txn_id);
        const ClientResponse replay = till.client().request("POST", "/v1/purchases", requests[txn_id]);
        CHECK(replay.status == 200);
        CHECK(replay.body == body);
    }
    CHECK(summary(till.client(), member_id).at("points") == earned);
    CHECK(full_history(till.client(), member_id).size() == purchases);
    till.stop();
    DatabaseReader reader(till.database());
    for (const auto& [txn_id, body] : acknowledged)
        CHECK(reader.integer("SELECT COUNT(*) FROM purchases WHERE txn_id = ?1", txn_id) == 1);
    CHECK(reader.integer("SELECT COALESCE(SUM(points), 0) FROM ledger") == earned);
    CHECK(reader.integer("SELECT COALESCE(SUM(remaining), 0) FROM lots") == earned);
    check_outbox_contiguous(reader);
}

namespace {

// The value of an unlabelled counter in Prometheus text; 0 when it was never counted.
std::int64_t metric_value(const std::string& text, const std::string& name) {
    const std::string prefix = "\n" + name + " ";
    const std::size_t at = text.find(prefix);
    return at == std::string::npos ? 0 : std::stoll(text.substr(at + prefix.size()));
}

}  // namespace

TEST_CASE("purchases in flight across repeated SIGKILLs are never lost or doubled", "[loyaltyd][crash]") {
    Till till;
    const std::string member_id = enroll(till.client(), 1).at("member_id");
    std::map<std::string, json> requests;               // every txn_id ever sent
    std::map<std::string, std::string> acknowledged;    // txn_id -> first acknowledged body
    std::set<std::string> in_doubt;                     // sent, no answer before the kill
    constexpr int rounds = 3;
    // Several POS connections at once, so that purchases queue together and are committed as
    // groups (group commit): a kill then lands inside a group as well as between them.
    constexpr int writers = 4;
    constexpr int max_purchases_per_writer = 200;
    std::int64_t groups_committed = 0;

    for (int round = 0; round < rounds; ++round) {
        std::mutex mutex;
        std::atomic<int> acknowledged_this_round{0};
        std::vector<std::thread> pos;
        for (int writer = 0; writer < writers; ++writer) {
            pos.emplace_back([&, round, writer] {
                HttpClient client = till.daemon().client();
                for (int i = 0; i < max_purchases_per_writer; ++i) {
                    const std::string txn_id =
                        "F-" + std::to_string(round) + "-" + std::to_string(writer) + "-" + std::to_string(i);
                    const json request = sale(txn_id, member_id, {line("x", "grocery", 1, 100 + 7 * (i % 50))});
                    {
                        std::lock_guard lock(mutex);
                        requests[txn_id] = request;
                    }
                    try {
                        const ClientResponse response = client.request("POST", "/v1/purchases", request);
                        std::lock_guard lock(mutex);
                        if (response.status != 201) {
                            in_doubt.insert(txn_id);  // e.g. 503 while dying; settled after the restart
                            break;
                        }
                        acknowledged[txn_id] = response.body;
                        ++acknowledged_this_round;
                    } catch (const HttpClientError&) {
                        std::lock_guard lock(mutex);
                        in_doubt.insert(txn_id);
                        break;  // the daemon is gone
                    }
                }
            });
        }
        // Kill while the writers are mid-stream: after some acknowledgements, bounded wait.
        const auto deadline = std::chrono::steady_clock::now() + 60s;
        while (acknowledged_this_round < 20 + 10 * round && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(1ms);
        groups_committed += metric_value(till.client().request("GET", "/metrics").body, "loyalty_group_commits_total");
        till.kill();
        for (std::thread& writer : pos) writer.join();
        CHECK(acknowledged_this_round >= 20 + 10 * round);
        till.start();

        // Every acknowledged purchase is there with its first answer.
        for (const auto& [txn_id, body] : acknowledged) {
            INFO(txn_id);
            const ClientResponse replay = till.client().request("POST", "/v1/purchases", requests.at(txn_id));
            CHECK(replay.status == 200);
            CHECK(replay.body == body);
        }
        // What was in flight either committed (replay) or not (now committed): never both.
        for (const std::string& txn_id : in_doubt) {
            INFO(txn_id);
            const ClientResponse retry = till.client().request("POST", "/v1/purchases", requests.at(txn_id));
            CHECK((retry.status == 200 || retry.status == 201));
            acknowledged[txn_id] = retry.body;
        }
        in_doubt.clear();
    }
    std::int64_t earned = 0;
    for (const auto& [txn_id, body] : acknowledged) earned += json::parse(body).at("points_earned").get<std::int64_t>();
    CHECK(acknowledged.size() == requests.size());
    CHECK(groups_committed > 0);  // the kills met group commits, not only purchases committed alone
    CHECK(summary(till.client(), member_id).at("points") == earned);
    CHECK(full_history(till.client(), member_id).size() == acknowledged.size());
    till.stop();
    DatabaseReader reader(till.database());
    CHECK(reader.integer("SELECT COUNT(*) FROM purchases") == static_cast<std::int64_t>(acknowledged.size()));
    for (const auto& [txn_id, body] : acknowledged)
        CHECK(reader.integer("SELECT COUNT(*) FROM purchases WHERE txn_id = ?1", txn_id) == 1);
    CHECK(reader.integer("SELECT COALESCE(SUM(points), 0) FROM ledger") == earned);
    check_outbox_contiguous(reader);
    CHECK(reader.integer("SELECT COUNT(*) FROM outbox WHERE type = 'purchase'") ==
          static_cast<std::int64_t>(acknowledged.size()));
}

TEST_CASE("eight connections at once: refused sales take nothing, each recorded sale is there once",
          "[loyaltyd]") {
    Till till;
    const std::string member_id = enroll(till.client(), 1).at("member_id");
    // Eight POS connections, sending at once so that their sales queue together and are committed
    // as groups. Connections w and w + 4 send the same sales (a POS retrying on a second
    // connection): one of each pair is recorded, the other answered as its replay. Every third
    // sale asks for more points than anyone has: refused inside its group, the others kept.
    constexpr int connections = 8;
    constexpr int sales_each = 40;
    struct Answer {
        int status;
        std::string body;
    };
    std::vector<std::vector<Answer>> answers(connections);
    std::vector<std::thread> pos;
    for (int connection = 0; connection < connections; ++connection) {
        pos.emplace_back([&, connection] {
            HttpClient client = till.daemon().client();
            for (int i = 0; i < sales_each; ++i) {
                const std::string txn_id = "G-" + std::to_string(connection % 4) + "-" + std::to_string(i);
                const json request = sale(txn_id, member_id, {line("x", "grocery", 1, 200 + i)},
                                          i % 3 == 2 ? 1'000'000'000 : 0);
                const ClientResponse response = client.request("POST", "/v1/purchases", request);
                answers[connection].push_back({response.status, response.body});
            }
        });
    }
    for (std::thread& connection : pos) connection.join();
    const std::int64_t groups = metric_value(till.client().request("GET", "/metrics").body, "loyalty_group_commits_total");
    CHECK(groups > 0);  // the connections' sales did queue together

    std::int64_t earned = 0;
    int recorded = 0;
    for (int connection = 0; connection < 4; ++connection) {
        for (int i = 0; i < sales_each; ++i) {
            const Answer& one = answers[connection][i];
            const Answer& other = answers[connection + 4][i];
            INFO("sale G-" << connection << "-" << i << ": " << one.body << " / " << other.body);
            if (i % 3 == 2) {
                CHECK(one.status == 422);
                CHECK(other.status == 422);
                continue;
            }
            CHECK(std::set<int>{one.status, other.status} == std::set<int>{200, 201});
            CHECK(one.body == other.body);  // the replay answers what the first was answered
            earned += json::parse(one.body).at("points_earned").get<std::int64_t>();
            ++recorded;
        }
    }
    CHECK(summary(till.client(), member_id).at("points") == earned);
    till.stop();
    DatabaseReader reader(till.database());
    CHECK(reader.integer("SELECT COUNT(*) FROM purchases") == recorded);
    CHECK(reader.integer("SELECT COUNT(DISTINCT txn_id) FROM purchases") == recorded);
    CHECK(reader.integer("SELECT COALESCE(SUM(points), 0) FROM ledger") == earned);
    CHECK(reader.integer("SELECT COALESCE(SUM(remaining), 0) FROM lots") == earned);
    check_outbox_contiguous(reader);
    CHECK(reader.integer("SELECT COUNT(*) FROM outbox WHERE type = 'purchase'") == recorded);
}

// --- docs/openapi.yaml is true to the routes the daemon serves ---

namespace {

// The direct property names of components.schemas.<name> (the first `properties:` level).
std::set<std::string> documented_properties(const std::string& yaml, const std::string& schema) {
    std::istringstream lines(yaml);
    std::set<std::string> names;
    bool in_schema = false;
    std::size_t properties_indent = std::string::npos;
    bool in_properties = false;
    const std::regex key_line(R"(^( *)([A-Za-z_]+):.*$)");
    for (std::string text; std::getline(lines, text);) {
        std::smatch match;
        if (!std::regex_match(text, match, key_line)) continue;
        const std::size_t indent = match[1].length();
        if (indent == 4) {
            in_schema = match[2] == schema;
            continue;
        }
        if (!in_schema || indent < 4) {
            if (indent < 4) in_schema = false;
            continue;
        }
        if (match[2] == "properties" && (properties_indent == std::string::npos || indent == properties_indent)) {
            properties_indent = indent;
            in_properties = true;
        } else if (indent <= properties_indent) {
            in_properties = false;
        } else if (in_properties && indent == properties_indent + 2) {
            names.insert(match[2]);
        }
    }
    return names;
}

std::set<std::string> keys_of(const json& object) {
    std::set<std::string> keys;
    for (const auto& item : object.items()) keys.insert(item.key());
    return keys;
}

std::string read_text(const fs::path& path) {
    std::ifstream in(path);
    REQUIRE(in);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

fs::path openapi_path() { return fs::path(LOYALTY_SOURCE_DIR) / "docs" / "openapi.yaml"; }

// The till's routes in this process, over a Program on a fresh database, without a socket.
struct InProcessTill {
    explicit InProcessTill(loyalty::pos::RemoteMemberLookup remote_lookup = {})
        : rules(loyalty::parse_rules_text(loyalty::default_rules_text()).value()),
          program({(dir.path() / "till.db").string(), "S01-T1"}, clock, rules) {
        loyalty::pos::add_till_routes(router, program, {"S01-T1", "S01"},
                                      std::make_shared<loyalty::http::MetricsRegistry>(), {},
                                      std::move(remote_lookup));
    }
    TempDir dir;
    const loyalty::SystemClock clock;
    const loyalty::RuleSet rules;
    loyalty::Program program;
    loyalty::http::Router router;
};

}  // namespace

TEST_CASE("docs/openapi.yaml lists exactly the routes the daemon serves", "[loyaltyd][openapi]") {
    const InProcessTill till;
    std::set<std::string> served;
    for (const auto& route : till.router.routes()) served.insert(route.method + " " + route.pattern);
    const std::set<std::string> documented = documented_operations(read_text(openapi_path()));
    REQUIRE(served.size() >= 16);
    for (const std::string& operation : served) {
        INFO("served but not in docs/openapi.yaml: " << operation);
        CHECK(documented.contains(operation));
    }
    for (const std::string& operation : documented) {
        INFO("in docs/openapi.yaml but not served: " << operation);
        CHECK(served.contains(operation));
    }
}

TEST_CASE("docs/openapi.yaml names the fields the daemon emits", "[loyaltyd][openapi]") {
    const std::string yaml = read_text(openapi_path());
    CHECK(documented_properties(yaml, "LineResult") ==
          std::set<std::string>{"line", "sku", "category", "quantity", "net_cents", "points"});

    Till till;
    HttpClient& client = till.client();
    const json member = enroll(client, 1);
    const std::string member_id = member.at("member_id");
    std::set<std::string> summary_fields = documented_properties(yaml, "Member");
    summary_fields.merge(documented_properties(yaml, "MemberSummary"));
    CHECK(keys_of(member) == summary_fields);
    CHECK(keys_of(member.at("cards")[0]) == documented_properties(yaml, "Card"));
    CHECK(keys_of(expect(client.request("GET", "/v1/health"), 200)) == documented_properties(yaml, "Health"));
    const json lines = {line("x", "grocery", 2, 1000)};
    CHECK(keys_of(expect(client.request("POST", "/v1/checkout/quote", json{{"lines", lines}}), 200)) ==
          documented_properties(yaml, "Quote"));
    CHECK(keys_of(expect(client.request("POST", "/v1/purchases", sale("T-1", member_id, lines)), 201)) ==
          documented_properties(yaml, "PurchaseResult"));
    CHECK(keys_of(expect(client.request("POST", "/v1/returns",
                                        json{{"return_id", "R-1"}, {"original_txn_id", "T-1"},
                                             {"lines", {{{"sku", "x"}, {"quantity", 1}}}}}),
                         201)) == documented_properties(yaml, "ReturnResult"));
    expect(client.request("POST", "/v1/purchases", sale("T-2", member_id, lines)), 201);
    CHECK(keys_of(expect(client.request("POST", "/v1/purchases/T-2/void"), 201)) ==
          documented_properties(yaml, "VoidResult"));
    const json history = expect(client.request("GET", "/v1/members/" + member_id + "/history"), 200);
    CHECK(keys_of(history) == documented_properties(yaml, "HistoryPage"));
    REQUIRE_FALSE(history.at("entries").empty());
    CHECK(keys_of(history.at("entries")[0]) == documented_properties(yaml, "LedgerEntry"));
    CHECK(keys_of(expect(client.request("POST", "/v1/admin/expiry-run"), 200)) ==
          documented_properties(yaml, "ExpiryRun"));
    CHECK(keys_of(expect(client.request("POST", "/v1/admin/tier-run"), 200)) == documented_properties(yaml, "TierRun"));
    CHECK(keys_of(expect(client.request("GET", "/v1/rules"), 200)) == documented_properties(yaml, "Rules"));
    CHECK(keys_of(expect(client.request("GET", "/v1/nothing"), 404)) == documented_properties(yaml, "Error"));
}

TEST_CASE("a till with sync queues a sale for a card nobody knows and records it once the member enrols",
          "[loyaltyd][queue][openapi]") {
    int lookups = 0;  // head office is asked, and does not know the card
    InProcessTill till([&lookups](std::string_view, const std::string&) {
        ++lookups;
        return std::optional<json>();
    });
    const auto call = [&till](const std::string& method, const std::string& path, const json& body) {
        loyalty::http::Request request{method, path, path, {}, {}, {}, body.dump(), {}};
        const auto match = till.router.match(method, path);
        REQUIRE(match.handler != nullptr);
        request.path_params = match.path_params;
        loyalty::http::Response response;
        try {
            response = (*match.handler)(request);
        } catch (const loyalty::http::RequestError& refusal) {  // as the server answers it
            response = loyalty::http::error_response(refusal);
        }
        return std::pair{response.status, json::parse(response.body)};
    };
    const json lines = {line("BREAD", "bakery", 1, 500)};
    const json body{{"txn_id", "Q-1"}, {"card", card_number(42)}, {"lines", lines}};
    const auto [status, queued] = call("POST", "/v1/purchases", body);
    CHECK(status == 202);
    CHECK(lookups == 1);
    CHECK(keys_of(queued) == documented_properties(read_text(openapi_path()), "QueuedPurchase"));
    CHECK(call("POST", "/v1/purchases", body).first == 200);  // a POS retry: the same answer

    json with_points = body;
    with_points["txn_id"] = "Q-2";
    with_points["redeem_points"] = 100;
    const auto [refused_status, refused] = call("POST", "/v1/purchases", with_points);
    CHECK(refused_status == 422);
    CHECK(refused.at("error").at("field") == "redeem_points");

    const auto [enrolled_status, member] =
        call("POST", "/v1/members", json{{"card", card_number(42)}, {"name", "Queued Member"}});
    REQUIRE(enrolled_status == 201);
    const auto [replayed_status, recorded] = call("POST", "/v1/purchases", body);
    CHECK(replayed_status == 200);
    CHECK(recorded.at("member_id") == member.at("member_id"));
    CHECK(recorded.at("points_earned").get<std::int64_t>() > 0);
    CHECK(till.program.queued_purchase_count() == 0);
}
