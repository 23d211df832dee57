// Hostile input against a real loyaltyd: for every route, bodies, paths and queries that are
// malformed, of the wrong type, missing, huge, negative, overlong, not UTF-8 or full of SQL
// metacharacters, plus raw HTTP no client would send and slow-loris connections. Each must get a
// 4xx JSON error (naming the field when one is at fault) or be dropped by a timeout; the daemon
// stays up and every table holds exactly what it held before (only valid requests write).
#include "support/till_daemon.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <future>
#include <thread>

#include "support/core_fixture.hpp"

namespace {

namespace fs = std::filesystem;
using loyalty::referral_code;
using loyalty::http::ClientResponse;
using loyalty::http::HttpClient;
using loyalty::test::TillDaemon;
using loyalty::testing::TempDir;
using loyalty::testing::valid_card;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr auto header_timeout = 1000ms;
constexpr auto idle_timeout = 2000ms;

json till_config() {
    return {{"header_timeout_ms", header_timeout.count()}, {"idle_timeout_ms", idle_timeout.count()}};
}

// A route with a body that the daemon accepts as well-formed but that writes nothing (an unknown
// member, purchase or card; an existing card with other details), so every mutation of it that
// still parses is refused too, or (for a quote) only read.
struct BodyRoute {
    std::string target;
    json body;
    bool read_only = false;  // a quote: 200 is a fine answer
};

// "/lines/0/sku" -> "lines[0].sku", the way errors name fields.
std::string field_name(const json::json_pointer& pointer) {
    std::string name;
    std::string rest = pointer.to_string();
    while (!rest.empty()) {
        rest.erase(0, 1);  // the '/'
        const std::size_t slash = rest.find('/');
        const std::string token = rest.substr(0, slash);
        rest = slash == std::string::npos ? "" : rest.substr(slash);
        const bool index = !token.empty() && token.find_first_not_of("0123456789") == std::string::npos;
        name += index ? "[" + token + "]" : (name.empty() ? token : "." + token);
    }
    return name;
}

// Every leaf of `document` (objects and arrays are walked).
void leaves(const json& document, const json::json_pointer& at, std::vector<json::json_pointer>& out) {
    if (document.is_object()) {
        for (const auto& [key, value] : document.items()) leaves(value, at / key, out);
    } else if (document.is_array()) {
        for (std::size_t i = 0; i < document.size(); ++i) leaves(document[i], at / i, out);
    } else {
        out.push_back(at);
    }
}

// Values of every wrong kind, and right kinds with hostile content.
std::vector<json> hostile_values() {
    return {nullptr,
            true,
            0,
            -1,
            -9223372036854775807LL - 1,
            9223372036854775807LL,
            json::parse("18446744073709551615"),
            json::parse("18446744073709551616"),
            json::parse("-1e308"),
            1.5,
            "",
            " ",
            std::string(100'000, '9'),
            std::string(5'000, 'x'),
            "'; DROP TABLE members; --",
            "\" OR 1=1 --",
            "S01-T1-M1' OR '1'='1",
            std::string("nul\0byte", 8),
            "\u202e\u0000\uffff",
            json::array(),
            json::array({1, 2}),
            json::object(),
            json{{"$gt", ""}}};
}

struct Attempt {
    std::string description;
    std::string target;
    std::string body;
    std::string field;  // the field at fault when the refusal is 400 invalid input; "" if none
    bool read_only = false;
};

std::vector<Attempt> body_attempts(const std::vector<BodyRoute>& routes) {
    std::vector<Attempt> attempts;
    for (const BodyRoute& route : routes) {
        std::vector<json::json_pointer> fields;
        leaves(route.body, json::json_pointer(), fields);
        for (const auto& pointer : fields) {
            const std::string name = field_name(pointer);
            json without = route.body;
            without[pointer.parent_pointer()].erase(pointer.back());
            attempts.push_back({"without " + name, route.target, without.dump(), name, route.read_only});
            for (const json& value : hostile_values()) {
                json changed = route.body;
                changed[pointer] = value;
                attempts.push_back({name + " = " + value.dump().substr(0, 40), route.target, changed.dump(), name,
                                    route.read_only});
            }
            // A string field holding bytes that are not UTF-8: the JSON itself is invalid.
            json marked = route.body;
            marked[pointer] = "@@BAD@@";
            std::string raw = marked.dump();
            raw.replace(raw.find("@@BAD@@"), 7, "\xff\xfe\xc0\xaf");
            attempts.push_back({name + " not UTF-8", route.target, raw, "", route.read_only});
        }
        json extra = route.body;
        extra["unexpected_field"] = json::array({json::object()});
        attempts.push_back({"an unknown field", route.target, extra.dump(), "unexpected_field", route.read_only});
        const std::string text = route.body.dump();
        for (const std::string& broken : std::vector<std::string>{text.substr(0, text.size() / 2), text + "}", text + text, "[" + text + "]", std::string("null"),
              std::string("\"a string\""), std::string("12"), std::string("{\"a\":}"), std::string("{'a':1}"),
              std::string(200'000, '['), std::string(100'000, '{'), "\xef\xbb\xbf" + text, text + std::string(1, '\0')}) {
            attempts.push_back({"malformed " + broken.substr(0, 30), route.target, broken, "", route.read_only});
        }
        // Numbers JSON cannot hold exactly, in every integer position.
        for (const auto& pointer : fields) {
            if (!route.body[pointer].is_number()) continue;
            json marked = route.body;
            marked[pointer] = "@@NUM@@";
            for (const std::string& number : std::vector<std::string>{"1e999", "-0", "0x10", "1" + std::string(400, '0'), "NaN", "Infinity"}) {
                std::string raw = marked.dump();
                raw.replace(raw.find("\"@@NUM@@\""), 9, number);
                attempts.push_back({field_name(pointer) + " = " + number.substr(0, 20), route.target, raw,
                                    field_name(pointer), route.read_only});
            }
        }
    }
    return attempts;
}

// What every refusal must look like: a 4xx with the one error shape; 400s for input at fault
// name it (a parent such as "lines" counts for "lines[0].quantity").
void check_refusal(const Attempt& attempt, const ClientResponse& response) {
    INFO(attempt.target << " " << attempt.description << "\n  -> HTTP " << response.status << " "
                        << response.body.substr(0, 300));
    if (attempt.read_only && response.status == 200) return;
    CHECK(response.status >= 400);
    CHECK(response.status < 500);
    const json body = json::parse(response.body, nullptr, false);
    CHECK((body.is_object() && body.contains("error")));
    if (!body.is_object() || !body.contains("error")) return;
    CHECK(body["error"]["code"].is_string());
    CHECK_FALSE(body["error"]["message"].get<std::string>().empty());
    const json& field = body["error"]["field"];
    CHECK((field.is_null() || field.is_string()));
    const std::string code = body["error"]["code"];
    if (response.status == 400 && !attempt.field.empty() && code != "malformed_json") {
        CHECK(field.is_string());
        if (!field.is_string()) return;
        const std::string named = field;
        // The field itself, a parent ("lines" for a total) or a child; or a sibling that the
        // change made inconsistent ("lines[0].discount_cents" above a lowered price).
        const auto parent = [](const std::string& name) { return name.substr(0, name.find_last_of('.') + 1); };
        CHECK((attempt.field.rfind(named, 0) == 0 || named.rfind(attempt.field, 0) == 0 ||
               (!parent(named).empty() && parent(named) == parent(attempt.field))));
    }
}

}  // namespace

TEST_CASE("hostile requests to every route get a 4xx naming the field and change no table", "[reliability][hostile]") {
    TempDir directory;
    TillDaemon till(LOYALTYD_PATH, directory.path(), till_config());
    HttpClient client = till.client();
    const ClientResponse enrolled = client.request("POST", "/v1/members", json{{"card", valid_card(1)}, {"name", "Ann"}});
    REQUIRE(enrolled.status == 201);
    const std::string member_id = enrolled.json().at("member_id");
    const json good_line = {{"sku", "x"}, {"category", "grocery"}, {"quantity", 2}, {"unit_price_cents", 1000},
                            {"discount_cents", 10}};
    REQUIRE(client.request("POST", "/v1/purchases", json{{"txn_id", "T-1"}, {"member_id", member_id},
                                                         {"lines", {good_line}}})
                .status == 201);
    const auto before = loyalty::test::dump_database(till.database());

    const std::string unknown_member = "S01-T1-M999";
    const std::vector<BodyRoute> routes{
        {"/v1/members",
         {{"card", valid_card(1)}, {"name", "Somebody Else"}, {"email", "b@example.com"}, {"birthday", "07-14"},
          {"referral_code", referral_code(member_id)}}},
        {"/v1/members/" + unknown_member + "/cards", {{"card", valid_card(2)}}},
        {"/v1/cards/" + valid_card(3) + "/replace", {{"card", valid_card(4)}}},
        {"/v1/checkout/quote", {{"member_id", member_id}, {"lines", {good_line}}, {"redeem_points", 0}}, true},
        {"/v1/purchases",
         {{"txn_id", "T-2"}, {"member_id", unknown_member}, {"lines", {good_line}}, {"redeem_points", 0}}},
        {"/v1/returns", {{"return_id", "R-1"}, {"original_txn_id", "T-404"}, {"lines", {{{"sku", "x"}, {"quantity", 1}}}}}},
        {"/v1/purchases/T-404/satisfaction", {{"score", 9}, {"comment", "fine"}}},
    };
    std::vector<Attempt> attempts = body_attempts(routes);
    // Paths and queries: SQL, overlong, not UTF-8, bad escapes, out-of-range numbers.
    for (const std::string& target : std::vector<std::string>{
             "/v1/members/%27%20OR%201%3D1%20--", "/v1/members/" + std::string(5000, 'M'), "/v1/members/%FF%FE",
          "/v1/members/%00", "/v1/members/%zz", "/v1/members?card=%27%3B%20DROP%20TABLE%20cards",
          "/v1/members?phone=" + std::string(3000, '7'), "/v1/members?card=%C0%AF", "/v1/members",
          "/v1/members/" + member_id + "/history?limit=0", "/v1/members/" + member_id + "/history?limit=-1",
          "/v1/members/" + member_id + "/history?limit=99999999999999999999",
          "/v1/members/" + member_id + "/history?limit=1e3", "/v1/members/" + member_id + "/history?cursor=%27%3B--",
          "/v1/members/" + member_id + "/history?cursor=" + std::string(4000, '9'),
          "/v1/members/" + member_id + "/history?cursor=-1"}) {
        attempts.push_back({"GET", target, "", "", true});
    }
    for (const std::string& card : {std::string("%27%20OR%201%3D1"), valid_card(5), std::string(3000, '4'),
                                    std::string("%FF")}) {
        attempts.push_back({"block", "/v1/cards/" + card + "/block", "{}", "", false});
    }
    for (const std::string& txn : {std::string("%27%3B%20DELETE%20FROM%20ledger%3B--"), std::string(3000, 'T'),
                                   std::string("T-404"), std::string("%FF%FE")}) {
        attempts.push_back({"void", "/v1/purchases/" + txn + "/void", "", "", false});
    }

    for (const Attempt& attempt : attempts) {
        const bool get = attempt.description == "GET";
        const ClientResponse response =
            get ? client.request("GET", attempt.target) : client.request_raw("POST", attempt.target, attempt.body);
        if (get && response.status == 200) continue;  // a read that found something is fine
        check_refusal(attempt, response);
    }
    INFO(attempts.size() << " hostile requests");
    CHECK(client.request("GET", "/v1/health").status == 200);
    const auto after = loyalty::test::dump_database(till.database());
    INFO("tables changed: " << json(loyalty::test::differing_tables(before, after)).dump());
    CHECK(after == before);
    CHECK(loyalty::test::integrity_check(till.database()) == "ok");
    // The log says what was refused, never whose data it was.
    const std::string log = till.process().stderr_text();
    for (const std::string& personal : {valid_card(1), valid_card(2), std::string("Somebody Else"),
                                        std::string("b@example.com"), std::string("DROP TABLE")}) {
        INFO(personal);
        CHECK(log.find(personal) == std::string::npos);
    }
}

TEST_CASE("SQL metacharacters in a valid sale are stored as text, never run", "[reliability][hostile]") {
    TempDir directory;
    TillDaemon till(LOYALTYD_PATH, directory.path(), till_config());
    HttpClient client = till.client();
    const std::string name = "Robert'); DROP TABLE members;--";
    const ClientResponse enrolled = client.request("POST", "/v1/members", json{{"card", valid_card(1)}, {"name", name}});
    REQUIRE(enrolled.status == 201);
    const std::string member_id = enrolled.json().at("member_id");
    const std::string sku = "x' OR '1'='1\"; DELETE FROM ledger; --";
    const std::string txn = "T'; UPDATE lots SET remaining = 1000000; --";
    const ClientResponse sold = client.request(
        "POST", "/v1/purchases",
        json{{"txn_id", txn}, {"member_id", member_id},
             {"lines", {{{"sku", sku}, {"category", "gro'cery"}, {"quantity", 1}, {"unit_price_cents", 1000}}}}});
    INFO(sold.body);
    REQUIRE(sold.status == 201);
    const auto dump = loyalty::test::dump_database(till.database());
    for (const char* table : {"members", "cards", "ledger", "lots", "purchases", "purchase_lines", "outbox"})
        CHECK_FALSE(dump.at(table).empty());
    CHECK(client.request("GET", "/v1/members/" + member_id).json().at("points") == sold.json().at("points"));
    CHECK(dump.at("members").front().find(name) != std::string::npos);
    CHECK(dump.at("purchase_lines").front().find(sku) != std::string::npos);
    CHECK(loyalty::test::integrity_check(till.database()) == "ok");
}

TEST_CASE("raw HTTP abuse gets a 4xx or a closed connection, slow-loris is dropped", "[reliability][hostile]") {
    TempDir directory;
    TillDaemon till(LOYALTYD_PATH, directory.path(), till_config());
    HttpClient client = till.client();
    REQUIRE(client.request("POST", "/v1/members", json{{"card", valid_card(1)}, {"name", "Ann"}}).status == 201);
    const auto before = loyalty::test::dump_database(till.database());
    using loyalty::test::raw_exchange;

    // Slow senders first, in the background: they must be cut off by the server's timeouts
    // while everyone else is served.
    const std::string slow_header = "POST /v1/purchases HTTP/1.1\r\nHost: till\r\nContent-Type: application/json\r\n"
                                    "X-Padding: " + std::string(200, 'p') + "\r\n\r\n";
    std::vector<std::future<loyalty::test::RawExchange>> slow;
    for (int i = 0; i < 8; ++i)
        slow.push_back(std::async(std::launch::async, [&] {
            return raw_exchange(till.port(), slow_header, 20s, 1, 50ms);  // 1 byte per 50 ms: ~14 s
        }));
    const std::string slow_body_header =
        "POST /v1/purchases HTTP/1.1\r\nHost: till\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n";
    auto slow_body = std::async(std::launch::async, [&] {
        return raw_exchange(till.port(), slow_body_header + std::string(100'000, ' '), 45s, 16, 100ms);
    });
    auto silent = std::async(std::launch::async, [&] { return raw_exchange(till.port(), "", 10s); });

    struct Raw {
        std::string description;
        std::string bytes;
        std::vector<int> statuses;  // acceptable statuses; empty: the connection is simply closed
    };
    const std::string body = R"({"txn_id":"T-1","member_id":"S01-T1-M1","lines":[{"sku":"\xff\xfe","category":"g","quantity":1,"unit_price_cents":1}]})";
    const auto post = [](const std::string& headers, const std::string& payload) {
        return "POST /v1/purchases HTTP/1.1\r\nHost: till\r\n" + headers + "\r\n" + payload;
    };
    const std::vector<Raw> cases{
        {"invalid UTF-8 in a JSON string",
         post("Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n", body), {400}},
        {"Content-Length past the body limit", post("Content-Length: 999999999\r\n", ""), {413}},
        {"negative Content-Length", post("Content-Length: -5\r\n", ""), {400}},
        {"Content-Length that is not a number", post("Content-Length: ten\r\n", ""), {400}},
        {"two different Content-Lengths", post("Content-Length: 2\r\nContent-Length: 3\r\n", "{}x"), {400}},
        {"Content-Length past 2^64", post("Content-Length: 184467440737095516160\r\n", ""), {400, 413}},
        {"a bad chunk size", post("Transfer-Encoding: chunked\r\n", "zz\r\n{}\r\n0\r\n\r\n"), {400}},
        {"chunks past the body limit",
         post("Transfer-Encoding: chunked\r\n", "FFFFFFFF\r\n" + std::string(1000, ' ')), {400, 413}},
        {"headers past the header limit", "GET /v1/health HTTP/1.1\r\nX-Big: " + std::string(64 * 1024, 'h') + "\r\n\r\n",
         {431, 400}},
        {"a garbage request line", "HELLO THERE\r\n\r\n", {400}},
        {"a binary request line", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + "\r\n\r\n", {400}},
        {"a request line without a version", "GET /v1/health\r\n\r\n", {400}},
        {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", {400, 404, 405}},
        {"a target with a NUL", std::string("GET /v1/he\0alth HTTP/1.1\r\nHost: t\r\n\r\n", 37), {400, 404}},
        {"a header without a colon", "GET /v1/health HTTP/1.1\r\nHost till\r\n\r\n", {400}},
        {"an absolute target for another host", "GET http://evil.example/v1/members HTTP/1.1\r\nHost: t\r\n\r\n",
         {400, 404}},
        {"a path that climbs out", "GET /v1/../../etc/passwd HTTP/1.1\r\nHost: t\r\n\r\n", {400, 404}},
        {"an overlong target", "GET /" + std::string(20'000, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n", {400, 404, 414, 431}},
    };
    for (const Raw& abuse : cases) {
        INFO(abuse.description);
        const auto exchange = raw_exchange(till.port(), abuse.bytes, 10s);
        const int status = loyalty::test::http_status_of(exchange.received);
        INFO("received: " << exchange.received.substr(0, 300));
        if (abuse.statuses.empty() || status == 0) {
            CHECK(exchange.closed_by_peer);
            CHECK(abuse.statuses.empty());
            continue;
        }
        CHECK(std::find(abuse.statuses.begin(), abuse.statuses.end(), status) != abuse.statuses.end());
        if (status >= 400) {
            const json error = json::parse(loyalty::test::http_body_of(exchange.received), nullptr, false);
            CHECK((error.is_object() && error.contains("error")));
        }
        CHECK(till.client().request("GET", "/v1/health").status == 200);
    }

    // Meanwhile the slow ones were dropped, each at its deadline, not served.
    for (auto& connection : slow) {
        const auto exchange = connection.get();
        INFO("slow header: " << exchange.received);
        CHECK(exchange.closed_by_peer);
        CHECK(exchange.elapsed < header_timeout + 5s);
        CHECK(loyalty::test::http_status_of(exchange.received) != 201);
    }
    const auto idle = silent.get();
    CHECK(idle.closed_by_peer);
    CHECK(idle.elapsed < header_timeout + 5s);
    const auto trickle = slow_body.get();
    CHECK(trickle.closed_by_peer);
    CHECK(trickle.elapsed < 40s);  // loyaltyd's body timeout is 30 s
    CHECK(loyalty::test::http_status_of(trickle.received) != 201);

    CHECK(till.client().request("GET", "/v1/health").status == 200);
    CHECK(loyalty::test::dump_database(till.database()) == before);
    CHECK(loyalty::test::integrity_check(till.database()) == "ok");
}
