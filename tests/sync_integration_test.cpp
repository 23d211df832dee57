// Issue 4's "done when": a real loyalty-hq and two real loyaltyd tills on loopback, with
// certificates made by the project's own tooling (loyalty-certs via `loyalty-hq till add`),
// driven through their HTTP APIs, killed and restarted.
//
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <thread>

#include "loyalty/http_client.hpp"
#include "loyalty/identifiers.hpp"
#include "support/process.hpp"

namespace {

namespace fs = std::filesystem;
using loyalty::http::ClientOptions;
using loyalty::http::ClientResponse;
using loyalty::http::HttpClient;
using loyalty::test::ChildProcess;
using nlohmann::json;
using namespace std::chrono_literals;

class TempDir {
  public:
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "loyalty-sync-it-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    const fs::path& path() const { return path_; }

  private:
    fs::path path_;
};

void write_file(const fs::path& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
}

void run(const std::string& command) {
    if (std::system((command + " > /dev/null 2>&1").c_str()) != 0)
        throw std::runtime_error("test set-up failed: " + command);
}

// A loopback port nobody listens on right now; head office keeps it across restarts.
std::uint16_t free_port() {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::address_v4::loopback(), 0});
    return acceptor.local_endpoint().port();
}

std::string card_number(int n) {
    std::string payload = std::to_string(n);
    payload = "700200" + std::string(9 - payload.size(), '0') + payload;
    return payload + loyalty::luhn_check_digit(payload);
}

// Polls `done` every 50 ms for at most 60 s.
bool eventually(const std::function<bool()>& done) {
    for (int i = 0; i < 1'200; ++i) {
        if (done()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return done();
}

json expect(const ClientResponse& response, int status) {
    INFO(response.body);
    REQUIRE(response.status == status);
    return response.json();
}

// The chain: CA, head office's certificate for 127.0.0.1, head office's config and database.
class Chain {
  public:
    Chain() : sync_port_(free_port()) {
        run(tool() + " ca " + certs().string());
        run(tool() + " server " + certs().string() + " localhost 127.0.0.1");
        const fs::path hq = certs() / "hq";
        write_file(config(), json{{"database", (dir_.path() / "hq.db").string()},
                                  {"durability", "normal"},
                                  {"sync_listen", "127.0.0.1:" + std::to_string(sync_port_)},
                                  {"admin_listen", "127.0.0.1:0"},
                                  {"ca_file", (hq / "ca.crt").string()},
                                  {"certificate_file", (hq / "server.crt").string()},
                                  {"private_key_file", (hq / "server.key").string()},
                                  {"heartbeat_interval_ms", 1000},
                                  {"feed_poll_interval_ms", 100}}
                                 .dump());
    }

    static std::string tool() { return std::string(LOYALTY_SOURCE_DIR) + "/packaging/certs/loyalty-certs"; }
    fs::path certs() const { return dir_.path() / "certs"; }
    fs::path config() const { return dir_.path() / "hq.json"; }
    const fs::path& dir() const { return dir_.path(); }
    std::uint16_t sync_port() const { return sync_port_; }

    // `loyalty-hq till add STORE TILL`: certificate and registry entry in one command.
    void add_till(const std::string& store, const std::string& till) {
        run(std::string(LOYALTY_HQ_PATH) + " till add " + store + " " + till + " --certs " +
            certs().string() + " --config " + config().string());
    }
    void revoke_till(const std::string& till_id) {
        run(std::string(LOYALTY_HQ_PATH) + " till revoke " + till_id + " --config " + config().string());
    }

  private:
    TempDir dir_;
    std::uint16_t sync_port_;
};

class HeadOffice {
  public:
    explicit HeadOffice(const Chain& chain) : chain_(chain) { start(); }
    void start() {
        process_.reset();
        process_.emplace(LOYALTY_HQ_PATH, std::vector<std::string>{"serve", "--config", chain_.config().string()},
                         std::map<std::string, std::string>{},
                         chain_.dir() / ("hq-" + std::to_string(++starts_) + ".stderr"));
        REQUIRE(process_->wait_for_log_event("sync_listening", 30s));
        admin_.emplace("127.0.0.1", process_->wait_for_listening_port(30s), ClientOptions{std::nullopt, 20s});
    }
    void kill() {
        process_->kill();
        REQUIRE(process_->wait_for_exit(30s));
    }
    HttpClient& admin() { return *admin_; }
    std::string stderr_text() const { return process_->stderr_text(); }
    std::int64_t balance(const std::string& member_id) {
        const ClientResponse response = admin_->request("GET", "/v1/members/" + member_id);
        return response.status == 200 ? response.json().at("balance").get<std::int64_t>() : -1;
    }

  private:
    const Chain& chain_;
    int starts_ = 0;
    std::optional<ChildProcess> process_;
    std::optional<HttpClient> admin_;
};

class Till {
  public:
    using Points = std::int64_t;
    Till(const Chain& chain, const std::string& store, const std::string& till, bool registered = true)
        : till_id_(store + "-" + till) {
        if (registered) {
            const_cast<Chain&>(chain).add_till(store, till);
        } else {
            run(Chain::tool() + " till " + chain.certs().string() + " " + store + " " + till);
        }
        const fs::path bundle = chain.certs() / "tills" / till_id_;
        write_file(config(), json{{"till_id", till_id_},
                                  {"store_id", store},
                                  {"listen", "127.0.0.1:0"},
                                  {"database", (dir_.path() / "till.db").string()},
                                  {"durability", "normal"},
                                  {"sync",
                                   {{"server", "127.0.0.1:" + std::to_string(chain.sync_port())},
                                    {"ca_file", (bundle / "ca.crt").string()},
                                    {"certificate_file", (bundle / "till.crt").string()},
                                    {"private_key_file", (bundle / "till.key").string()},
                                    {"heartbeat_seconds", 1},
                                    {"min_backoff_ms", 50},
                                    {"max_backoff_ms", 1000},
                                    {"queued_retry_seconds", 1},
                                    {"query_timeout_ms", 2000}}}}
                                 .dump());
        start();
    }
    void start() {
        process_.reset();
        process_.emplace(LOYALTYD_PATH, std::vector<std::string>{"--config", config().string()},
                         std::map<std::string, std::string>{},
                         dir_.path() / ("loyaltyd-" + std::to_string(++starts_) + ".stderr"));
        client_.emplace("127.0.0.1", process_->wait_for_listening_port(30s), ClientOptions{std::nullopt, 20s});
    }
    void kill() {
        process_->kill();
        REQUIRE(process_->wait_for_exit(30s));
    }
    HttpClient& api() { return *client_; }
    json sync_status() { return expect(api().request("GET", "/v1/health"), 200).at("sync"); }
    bool synced() {
        const json sync = sync_status();
        return sync.at("connected") == true && sync.at("pending_events") == 0;
    }
    Points balance(const std::string& member_id) {
        const ClientResponse response = api().request("GET", "/v1/members/" + member_id);
        return response.status == 200 ? response.json().at("balance").get<Points>() : -1;
    }
    json buy(const std::string& txn_id, const std::string& member_id, std::int64_t cents, std::int64_t redeem = 0) {
        json body{{"txn_id", txn_id},
                  {"member_id", member_id},
                  {"lines", {{{"sku", "s"}, {"category", "food"}, {"quantity", 1}, {"unit_price_cents", cents}}}}};
        if (redeem) body["redeem_points"] = redeem;
        return api().request("POST", "/v1/purchases", body).json();
    }
    std::string stderr_text() const { return process_->stderr_text(); }

  private:
    fs::path config() const { return dir_.path() / "loyaltyd.json"; }
    TempDir dir_;
    std::string till_id_;
    int starts_ = 0;
    std::optional<ChildProcess> process_;
    std::optional<HttpClient> client_;
};

}  // namespace

TEST_CASE("a member enrolled at till A earns at till B and has one balance everywhere", "[sync][integration]") {
    Chain chain;
    HeadOffice hq(chain);
    Till a(chain, "S01", "T1"), b(chain, "S02", "T1");
    const json member = expect(a.api().request("POST", "/v1/members",
                                               json{{"card", card_number(1)}, {"name", "Ada"}}), 201);
    const std::string id = member.at("member_id");
    a.buy("A1", id, 10'000);
    // B must be on line too: offline, its lookup of an unknown card is a plain 404.
    REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
    // Till B has never seen the member: its lookup asks head office.
    const json at_b = expect(b.api().request("GET", "/v1/members?card=" + card_number(1)), 200);
    CHECK(at_b.at("member_id") == id);
    const json sold = b.buy("B1", id, 5'000);
    REQUIRE(sold.contains("points_earned"));
    REQUIRE(eventually([&] { return b.synced(); }));
    const auto everywhere = [&] {
        const auto at_hq = hq.balance(id);
        return at_hq > 0 && at_hq == a.balance(id) && at_hq == b.balance(id);
    };
    CHECK(eventually(everywhere));
}

TEST_CASE("events made while head office is down arrive exactly once, SIGKILL on either side loses nothing",
          "[sync][integration][crash]") {
    Chain chain;
    std::optional<HeadOffice> hq(std::in_place, chain);
    Till a(chain, "S01", "T1");
    const json member = expect(a.api().request("POST", "/v1/members",
                                               json{{"card", card_number(2)}, {"name", "Bo"}}), 201);
    const std::string id = member.at("member_id");
    REQUIRE(eventually([&] { return a.synced(); }));
    hq->kill();
    for (int i = 0; i < 30; ++i) a.buy("D" + std::to_string(i), id, 1'000);
    CHECK(eventually([&] { return a.sync_status().at("connected") == false; }));
    const std::int64_t expected = a.balance(id);
    hq->start();
    // Kill the till while it is shipping, and head office too, then let both come back.
    a.kill();
    a.start();
    hq->kill();
    hq->start();
    REQUIRE(eventually([&] { return a.synced(); }));
    CHECK(eventually([&] { return hq->balance(id) == expected; }));
    CHECK(a.balance(id) == expected);
}

TEST_CASE("an unregistered or revoked till is refused and keeps selling offline", "[sync][integration]") {
    Chain chain;
    HeadOffice hq(chain);
    Till stranger(chain, "S09", "T1", false);
    CHECK(eventually([&] {
        const json sync = stranger.sync_status();
        return sync.at("last_error").is_string() &&
               sync.at("last_error").get<std::string>().find("unknown_till") != std::string::npos;
    }));
    CHECK(stranger.sync_status().at("connected") == false);
    CHECK(expect(stranger.api().request("POST", "/v1/members", json{{"card", card_number(3)}, {"name", "Cy"}}),
                 201).is_object());

    Till revoked(chain, "S01", "T2");
    REQUIRE(eventually([&] { return revoked.synced(); }));
    chain.revoke_till("S01-T2");
    revoked.kill();
    revoked.start();
    CHECK(eventually([&] {
        const json sync = revoked.sync_status();
        return sync.at("last_error").is_string() &&
               sync.at("last_error").get<std::string>().find("revoked") != std::string::npos;
    }));
}

TEST_CASE("concurrent offline redemptions at two tills are capped and the overdraft is reported",
          "[sync][integration]") {
    Chain chain;
    std::optional<HeadOffice> hq(std::in_place, chain);
    Till a(chain, "S01", "T1"), b(chain, "S02", "T1");
    const json member = expect(a.api().request("POST", "/v1/members",
                                               json{{"card", card_number(4)}, {"name", "Di"}}), 201);
    const std::string id = member.at("member_id");
    a.buy("E1", id, 150'000);  // earns points worth redeeming twice
    REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
    REQUIRE(expect(b.api().request("GET", "/v1/members?card=" + card_number(4)), 200).at("member_id") == id);
    REQUIRE(eventually([&] { return b.synced() && b.balance(id) == a.balance(id); }));
    const std::int64_t balance = a.balance(id);
    hq->kill();
    REQUIRE(eventually([&] { return a.sync_status().at("connected") == false && b.sync_status().at("connected") == false; }));
    // Offline, each till lets the member redeem at most the cap; both spend most of the balance.
    const std::int64_t spend = std::min<std::int64_t>(balance * 3 / 4, 2'000);
    const json at_a = a.buy("R1", id, 100'000, spend);
    const json at_b = b.buy("R2", id, 100'000, spend);
    INFO(at_a.dump() << "\n" << at_b.dump());
    CHECK(at_a.at("points_redeemed") == spend);
    CHECK(at_b.at("points_redeemed") == spend);
    hq->start();
    REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
    if (2 * spend > balance) {
        CHECK(eventually([&] {
            const json list = expect(hq->admin().request("GET", "/v1/overdrafts"), 200).at("overdrafts");
            return !list.empty() && list.at(0).at("member_id") == id;
        }));
    }
}

TEST_CASE("a sale for a card enrolled at an unsynced till is queued and recorded exactly once",
          "[sync][integration][queue]") {
    Chain chain;
    std::optional<HeadOffice> hq(std::in_place, chain);
    Till a(chain, "S01", "T1"), b(chain, "S02", "T1");
    REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
    hq->kill();
    // Head office is down: the member enrols at A, then shops at B, which has never heard of them.
    const json member = expect(a.api().request("POST", "/v1/members",
                                               json{{"card", card_number(5)}, {"name", "Eve"}}), 201);
    const std::string id = member.at("member_id");
    const json sale{{"txn_id", "B-Q1"},
                    {"card", card_number(5)},
                    {"lines", {{{"sku", "s"}, {"category", "food"}, {"quantity", 1}, {"unit_price_cents", 4'000}}}}};
    const json queued = expect(b.api().request("POST", "/v1/purchases", sale), 202);
    CHECK(queued.at("status") == "queued");
    CHECK(expect(b.api().request("POST", "/v1/purchases", sale), 200).at("status") == "queued");
    CHECK(expect(b.api().request("GET", "/v1/health"), 200).at("queued_purchases") == 1);

    hq->start();
    // A's enrolment reaches head office; B's retry learns the member and records the sale.
    REQUIRE(eventually([&] { return expect(b.api().request("GET", "/v1/health"), 200).at("queued_purchases") == 0; }));
    const json recorded = expect(b.api().request("POST", "/v1/purchases", sale), 200);
    CHECK(recorded.at("member_id") == id);
    const std::int64_t earned = recorded.at("points_earned");
    CHECK(earned > 0);
    REQUIRE(eventually([&] {
        return a.synced() && b.synced() && hq->balance(id) == earned && a.balance(id) == earned &&
               b.balance(id) == earned;
    }));
}

TEST_CASE("rules installed at a running head office reach every till, an older version is refused",
          "[sync][integration][rules]") {
    Chain chain;
    HeadOffice hq(chain);
    Till a(chain, "S01", "T1"), b(chain, "S02", "T1");
    json rules = expect(a.api().request("GET", "/v1/rules"), 200);
    const std::int64_t before = rules.at("version");
    rules["version"] = before + 1;
    rules["earn"]["points_per_unit"] = 3;
    write_file(chain.dir() / "rules-new.json", rules.dump());
    const std::string install = std::string(LOYALTY_HQ_PATH) + " rules install " +
                                (chain.dir() / "rules-new.json").string() + " --config " + chain.config().string();
    run(install);
    run(install);  // installing the same version again is harmless
    REQUIRE(eventually([&] {
        return expect(a.api().request("GET", "/v1/rules"), 200).at("version") == before + 1 &&
               expect(b.api().request("GET", "/v1/rules"), 200).at("version") == before + 1;
    }));
    rules["version"] = before;  // older than what is installed now
    write_file(chain.dir() / "rules-old.json", rules.dump());
    CHECK(std::system((std::string(LOYALTY_HQ_PATH) + " rules install " + (chain.dir() / "rules-old.json").string() +
                       " --config " + chain.config().string() + " > /dev/null 2>&1").c_str()) != 0);
    CHECK(expect(a.api().request("GET", "/v1/rules"), 200).at("version") == before + 1);
}
