// Issue 10: the member page and the head-office dashboard, served by a real loyalty-hq on its
// web listener. Route-level checks of sign-in, rate limits, cross-member isolation, staff
// sessions and 4xx bodies; then headless Chromium (driven over WebDriver by chromedriver, with
// the project's own HTTP client) signs in as a member and reads the balance from the page, signs
// in as staff and launches a campaign from the dashboard, and takes screenshots.
#include "hq_web.hpp"

#include <catch2/catch.hpp>

#include <fstream>

#include "loyalty/clock.hpp"
#include "loyalty/program.hpp"
#include "loyalty/rules.hpp"
#include "support/sync_chain.hpp"

namespace {

namespace fs = std::filesystem;
using loyalty::http::ClientResponse;
using loyalty::http::Headers;
using loyalty::http::HttpClient;
using loyalty::test::Chain;
using loyalty::test::expect;
using loyalty::test::HeadOffice;
using nlohmann::json;
using namespace std::chrono_literals;

const std::string staff_password = "correct horse battery";
// Staff sign-ins each run PBKDF2 (200,000 rounds): generous on a loaded CI machine.
const loyalty::http::ClientOptions web_client_options{std::nullopt, 30s};

// A chain whose head office serves the web pages on a port of its own.
struct WebChain {
    std::uint16_t web_port = loyalty::test::free_port();
    Chain chain{json{{"web_listen", "127.0.0.1:" + std::to_string(web_port)}}};
};

// `count` members enrolled at head office itself, all with consent to personalised offers, each
// with one purchase of 10.00 + n; their ids. Written before loyalty-hq starts.
std::vector<std::string> seed_members(const Chain& chain, int count) {
    const loyalty::SystemClock clock;
    loyalty::ProgramOptions options;
    options.database_path = chain.database().string();
    options.node_id = "HQ";
    options.durability = loyalty::Durability::normal;
    loyalty::Program program(options, clock, loyalty::parse_rules_text(loyalty::default_rules_text()).value());
    std::vector<std::string> members;
    for (int n = 1; n <= count; ++n) {
        loyalty::EnrollRequest enrol;
        enrol.card = loyalty::test::card_number(n);
        enrol.name = "Member " + std::to_string(n);
        enrol.consent.personalised_offers = true;
        const auto member = program.enroll(enrol);
        REQUIRE(member);
        members.push_back(member->result.member_id);
        loyalty::PurchaseRequest sale{"W" + std::to_string(n), {members.back(), "", ""},
                                      {{"SKU-" + std::to_string(n % 3), n % 2 ? "bakery" : "dairy", 1,
                                        1'000 + 100 * n, 0}},
                                      0};
        REQUIRE(program.purchase(sale));
    }
    return members;
}

void add_staff(const Chain& chain, const std::string& name) {
    const fs::path password = chain.dir() / "password.txt";
    loyalty::test::write_file(password, staff_password + "\n");
    chain.hq_output("staff add " + name + " < " + password.string());
}

std::string sign_in_code(const Chain& chain, const std::string& member_id) {
    return json::parse(chain.hq_output("member sign-in-code " + member_id)).at("code");
}

ClientResponse post(HttpClient& client, const std::string& path, const json& body, const std::string& cookie = "") {
    Headers headers;
    if (!cookie.empty()) headers["Cookie"] = cookie;
    return client.request_with("POST", path, headers, body.dump());
}

ClientResponse get(HttpClient& client, const std::string& path, const std::string& cookie) {
    return client.request_with("GET", path, {{"Cookie", cookie}});
}

// "name=value" of the response's Set-Cookie, after checking its attributes.
std::string session_cookie(const ClientResponse& response) {
    const auto found = response.headers.find("Set-Cookie");
    REQUIRE(found != response.headers.end());
    const std::string& header = found->second;
    CHECK(header.find("; HttpOnly") != std::string::npos);
    CHECK(header.find("; SameSite=Strict") != std::string::npos);
    return header.substr(0, header.find(';'));
}

json error_of(const ClientResponse& response, int status) {
    INFO(response.body);
    REQUIRE(response.status == status);
    return response.json().at("error");
}

}  // namespace

TEST_CASE("web pages are served with their content types and a strict content security policy", "[web]") {
    WebChain web;
    HeadOffice hq(web.chain);
    HttpClient client("127.0.0.1", web.web_port, web_client_options);
    for (const auto& [path, type] : {std::pair{"/", "text/html"}, {"/dashboard", "text/html"},
                                     {"/assets/style.css", "text/css"}, {"/assets/member.js", "text/javascript"},
                                     {"/assets/dashboard.js", "text/javascript"}, {"/assets/charts.js", "text/javascript"}}) {
        INFO(path);
        const ClientResponse page = client.request("GET", path);
        REQUIRE(page.status == 200);
        CHECK(page.headers.at("Content-Type").starts_with(type));
        CHECK(page.headers.at("Content-Security-Policy").find("script-src 'self'") != std::string::npos);
        CHECK(page.headers.at("X-Content-Type-Options") == "nosniff");
        CHECK(page.body.find("<script>") == std::string::npos);  // no inline script
        CHECK(page.body.find("style=") == std::string::npos);    // no inline style
    }
    CHECK(error_of(client.request("GET", "/assets/nothing.js"), 404).at("code") == "not_found");
    // The admin listener keeps its own routes and serves no pages.
    CHECK(hq.admin().request("GET", "/").status == 404);
}

TEST_CASE("a member signs in with card and one-time code and sees only their own data, sign-ins are rate-limited",
          "[web]") {
    WebChain web;
    const std::vector<std::string> members = seed_members(web.chain, 2);
    HeadOffice hq(web.chain);
    HttpClient client("127.0.0.1", web.web_port, web_client_options);
    const std::string card = loyalty::test::card_number(1);

    // Refusals name the field and change nothing.
    CHECK(error_of(client.request("GET", "/member/me"), 401).at("code") == "not_signed_in");
    CHECK(error_of(client.request_raw("POST", "/member/sign-in", "card=1&code=2", "application/x-www-form-urlencoded"), 415)
              .at("field") == "Content-Type");
    CHECK(error_of(post(client, "/member/sign-in", {{"code", "12345678"}}), 400).at("field") == "card");
    CHECK(error_of(post(client, "/member/sign-in", {{"card", card}}), 400).at("field") == "code");
    CHECK(error_of(client.request_raw("POST", "/member/sign-in", "{not json"), 400).at("code") == "malformed_json");

    const std::string code = sign_in_code(web.chain, members[0]);
    REQUIRE(code.size() == 8);
    CHECK(error_of(post(client, "/member/sign-in", {{"card", card}, {"code", "00000000"}}), 401).at("field") == "code");
    const ClientResponse signed_in = post(client, "/member/sign-in", {{"card", card}, {"code", code}});
    REQUIRE(signed_in.status == 200);
    const std::string cookie = session_cookie(signed_in);
    // Single use: the same code again is refused.
    CHECK(error_of(post(client, "/member/sign-in", {{"card", card}, {"code", code}}), 401).at("code") ==
          "wrong_card_or_code");

    const json page = expect(get(client, "/member/me", cookie), 200);
    CHECK(page.at("balance") == hq.balance(members[0]));
    CHECK(page.at("balance").get<std::int64_t>() > 0);
    CHECK(page.at("name") == "Member 1");
    CHECK(page.at("card_ending") == card.substr(card.size() - 4));
    CHECK_FALSE(page.contains("phone"));
    CHECK_FALSE(page.contains("member_id"));
    CHECK_FALSE(page.at("activity").empty());
    // The member id comes from the session only: a query naming another member changes nothing,
    // and a member's session opens no admin route.
    CHECK(expect(get(client, "/member/me?member_id=" + members[1], cookie), 200).at("name") == "Member 1");
    CHECK(error_of(get(client, "/v1/members/" + members[1], cookie), 401).at("code") == "not_signed_in");
    CHECK(error_of(get(client, "/member/me", "loyalty_member=" + std::string(64, 'a')), 401).at("code") ==
          "not_signed_in");

    // Five wrong codes for a card block it, the right code included, with a 429 naming why.
    const std::string other_card = loyalty::test::card_number(2);
    const std::string other_code = sign_in_code(web.chain, members[1]);
    for (int attempt = 0; attempt < 5; ++attempt)
        CHECK(post(client, "/member/sign-in", {{"card", other_card}, {"code", "1111111" + std::to_string(attempt)}})
                  .status == 401);
    const ClientResponse blocked = post(client, "/member/sign-in", {{"card", other_card}, {"code", other_code}});
    const json card_error = error_of(blocked, 429);
    CHECK(card_error.at("code") == "too_many_attempts_for_account");
    CHECK(card_error.at("field") == "card");
    CHECK(blocked.headers.contains("Retry-After"));

    // Twenty failures from one address block it for every card (7 so far).
    for (int n = 0; n < 13; ++n)
        CHECK(post(client, "/member/sign-in", {{"card", loyalty::test::card_number(100 + n)}, {"code", "12345678"}})
                  .status == 401);
    CHECK(error_of(post(client, "/member/sign-in", {{"card", card}, {"code", "12345678"}}), 429).at("code") ==
          "too_many_attempts_from_address");

    // Signing out ends the session.
    CHECK(post(client, "/member/sign-out", json::object(), cookie).status == 200);
    CHECK(get(client, "/member/me", cookie).status == 401);
}

TEST_CASE("staff sign in to the dashboard, their session opens the admin routes and names them in the audit log",
          "[web]") {
    WebChain web;
    const std::vector<std::string> members = seed_members(web.chain, 1);
    add_staff(web.chain, "alice");
    HeadOffice hq(web.chain);
    HttpClient client("127.0.0.1", web.web_port, web_client_options);

    CHECK(error_of(client.request("GET", "/v1/tills"), 401).at("code") == "not_signed_in");
    CHECK(error_of(post(client, "/staff/sign-in", {{"name", "alice"}, {"password", "wrong password"}}), 401)
              .at("field") == "password");
    CHECK(error_of(post(client, "/staff/sign-in", {{"name", "alice"}}), 400).at("field") == "password");
    const ClientResponse signed_in = post(client, "/staff/sign-in", {{"name", "alice"}, {"password", staff_password}});
    REQUIRE(signed_in.status == 200);
    const std::string cookie = session_cookie(signed_in);
    CHECK(expect(get(client, "/staff/me", cookie), 200).at("name") == "alice");

    // The session opens the admin API; the staff name, not a header, is the audit actor.
    expect(get(client, "/v1/tills", cookie), 200);
    expect(get(client, "/v1/chain/totals", cookie), 200);
    expect(client.request_with("GET", "/v1/members/" + members[0], {{"Cookie", cookie}, {"X-Staff", "mallory"}}), 200);
    const json audit = expect(hq.admin().request("GET", "/v1/members/" + members[0] + "/audit"), 200).at("audit");
    REQUIRE(audit.size() == 1);
    CHECK(audit[0].at("actor") == "staff:alice");
    // A state change needs a JSON request (a cross-site form cannot send one).
    CHECK(error_of(client.request_with("POST", "/v1/members/" + members[0] + "/sign-in-code", {{"Cookie", cookie}}, "",
                                       "text/plain"),
                   415)
              .at("code") == "json_required");
    const json issued = expect(post(client, "/v1/members/" + members[0] + "/sign-in-code", json::object(), cookie), 201);
    CHECK(issued.at("code").get<std::string>().size() == 8);
    // A staff session is no member session.
    CHECK(get(client, "/member/me", cookie).status == 401);

    // Five wrong passwords block the name.
    for (int attempt = 0; attempt < 5; ++attempt)
        CHECK(post(client, "/staff/sign-in", {{"name", "alice"}, {"password", "guess number " + std::to_string(attempt)}})
                  .status == 401);
    CHECK(error_of(post(client, "/staff/sign-in", {{"name", "alice"}, {"password", staff_password}}), 429).at("field") ==
          "name");

    CHECK(post(client, "/staff/sign-out", json::object(), cookie).status == 200);
    CHECK(get(client, "/v1/tills", cookie).status == 401);
}

// --- headless Chromium over WebDriver ---------------------------------------------------------

namespace {

const std::string element_key = "element-6066-11e4-a52e-4f735466cecf";

// chromedriver with one headless Chromium session; both end with the object.
class Browser {
  public:
    explicit Browser(const fs::path& dir) : dir_(dir) {
        for (const char* program : {"/usr/bin/chromium", "/usr/bin/chromedriver"})
            if (!fs::exists(program))
                FAIL(std::string(program) + " is missing: install the Debian packages chromium and chromium-driver "
                                            "(scripts/install-deps.sh lists them)");
        const std::uint16_t port = loyalty::test::free_port();
        driver_.emplace("/usr/bin/chromedriver", std::vector<std::string>{"--port=" + std::to_string(port), "--silent"},
                        std::map<std::string, std::string>{}, dir / "chromedriver.stderr");
        client_.emplace("127.0.0.1", port, loyalty::http::ClientOptions{std::nullopt, 60s});
        REQUIRE(loyalty::test::eventually(
            [&] {
                try {
                    return client_->request("GET", "/status").status == 200;
                } catch (const loyalty::http::HttpClientError&) {
                    return false;
                }
            },
            20s));
        const json arguments = {"--headless",          "--no-sandbox",
                                "--disable-gpu",       "--disable-quic",
                                "--no-first-run",      "--disable-background-networking",
                                "--disable-component-update", "--disable-sync",
                                "--window-size=1200,2100", "--user-data-dir=" + (dir / "profile").string()};
        const json capabilities = {
            {"capabilities",
             {{"alwaysMatch",
               {{"browserName", "chrome"},
                {"goog:chromeOptions", {{"binary", "/usr/bin/chromium"}, {"args", arguments}}}}}}}};
        session_ = command("POST", "/session", capabilities).at("sessionId");
    }

    ~Browser() {
        if (!session_.empty()) {
            try {
                client_->request("DELETE", "/session/" + session_);
            } catch (const std::exception&) {
                // chromedriver is killed next either way
            }
        }
    }

    json command(const std::string& method, const std::string& path, const std::optional<json>& body = std::nullopt) {
        const ClientResponse response = client_->request(method, path, body);
        INFO(method << " " << path << ": " << response.body);
        REQUIRE(response.status == 200);
        return response.json().at("value");
    }
    json session(const std::string& method, const std::string& path, const std::optional<json>& body = std::nullopt) {
        return command(method, "/session/" + session_ + path, body);
    }

    void open(const std::string& url) { session("POST", "/url", json{{"url", url}}); }

    // The element's id once `selector` matches (bounded wait).
    std::string find(const std::string& selector, std::chrono::milliseconds limit = 20s) {
        std::string found;
        const bool appeared = loyalty::test::eventually(
            [&] {
                const ClientResponse response = client_->request(
                    "POST", "/session/" + session_ + "/element", json{{"using", "css selector"}, {"value", selector}});
                if (response.status != 200) return false;
                found = response.json().at("value").at(element_key);
                return true;
            },
            limit);
        INFO("waiting for " << selector);
        REQUIRE(appeared);
        return found;
    }
    void type(const std::string& selector, const std::string& text) {
        session("POST", "/element/" + find(selector) + "/value", json{{"text", text}});
    }
    void click(const std::string& selector) { session("POST", "/element/" + find(selector) + "/click", json::object()); }
    // The text of `selector` once it is not empty (bounded wait).
    std::string text(const std::string& selector) {
        std::string value;
        REQUIRE(loyalty::test::eventually(
            [&] {
                const ClientResponse response = client_->request(
                    "GET", "/session/" + session_ + "/element/" + find(selector) + "/text");
                if (response.status != 200) return false;  // re-rendered meanwhile: find it again
                value = response.json().at("value");
                return !value.empty();
            },
            20s));
        return value;
    }

    // A screenshot saved as `name`.png; checks it is a PNG of plausible size and returns its path.
    fs::path screenshot(const std::string& name) {
        const std::string png = base64_decode(session("GET", "/screenshot"));
        const fs::path path = dir_ / (name + ".png");
        std::ofstream(path, std::ios::binary) << png;
        REQUIRE(png.size() > 5'000);
        REQUIRE(png.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
        const auto big_endian = [&png](std::size_t at) {
            std::uint32_t value = 0;
            for (std::size_t i = 0; i < 4; ++i) value = value << 8 | static_cast<unsigned char>(png[at + i]);
            return value;
        };
        CHECK(png.compare(12, 4, "IHDR") == 0);
        CHECK(big_endian(16) >= 600);  // width
        CHECK(big_endian(20) >= 400);  // height
        return path;
    }

  private:
    static std::string base64_decode(const std::string& text) {
        static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        std::string bytes;
        std::uint32_t buffer = 0;
        int bits = 0;
        for (const char c : text) {
            const auto value = alphabet.find(c);
            if (value == std::string::npos) continue;  // '=' padding and line breaks
            buffer = buffer << 6 | static_cast<std::uint32_t>(value);
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                bytes.push_back(static_cast<char>(buffer >> bits & 0xff));
            }
        }
        return bytes;
    }

    fs::path dir_;
    std::optional<loyalty::test::ChildProcess> driver_;
    std::optional<HttpClient> client_;
    std::string session_;
};

}  // namespace

TEST_CASE("in headless Chromium a member reads their balance and staff launch a campaign from the dashboard",
          "[web][browser]") {
    WebChain web;
    const std::vector<std::string> members = seed_members(web.chain, 12);
    add_staff(web.chain, "alice");
    const std::string stored = web.chain.hq_output("segment --as-of " + loyalty::format_date(loyalty::SystemClock().now()));
    REQUIRE(stored.find("Stored run") != std::string::npos);
    HeadOffice hq(web.chain);
    const std::string site = "http://127.0.0.1:" + std::to_string(web.web_port);
    Browser browser(web.chain.dir());

    // The member page: sign in, read the balance from the page.
    browser.open(site + "/");
    browser.type("#card", loyalty::test::card_number(3));
    browser.type("#code", sign_in_code(web.chain, members[2]));
    browser.click("#sign-in");
    std::string balance = browser.text("#balance");
    std::erase_if(balance, [](char c) { return c < '0' || c > '9'; });  // digit grouping of toLocaleString
    CHECK(balance == std::to_string(hq.balance(members[2])));
    CHECK(browser.text("#member-name") == "Member 3");
    browser.screenshot("member-page");

    // The dashboard: sign in as staff, create a campaign, launch it.
    browser.open(site + "/dashboard");
    browser.type("#staff-name", "alice");
    browser.type("#staff-password", staff_password);
    browser.click("#staff-sign-in");
    browser.find("body[data-loaded='true']");
    CHECK(browser.text("#run-title").find("12 members") != std::string::npos);
    browser.find("#segment-sizes svg rect");
    browser.find("#rfm-grid table");
    browser.type("#campaign-name", "Browser launch");
    browser.click("#campaign-create");
    browser.click("tr[data-campaign='C1'] button[data-action='launch']");
    browser.find("tr[data-campaign='C1'] .status-active");
    CHECK(expect(hq.admin().request("GET", "/v1/campaigns/C1"), 200).at("status") == "active");
    browser.screenshot("dashboard");
}
