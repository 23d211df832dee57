// loyalty-hq as a real process on loopback, driven by a fake till: a real till Program makes
// the outbox events and a FramedConnection over mutual TLS carries them, with certificates made
// by loyalty-certs and tills registered by `loyalty-hq till add`.
#include "hq_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <iostream>

#include "loyalty/http_client.hpp"
#include "support/certificates.hpp"
#include "support/core_fixture.hpp"
#include "support/process.hpp"

using namespace loyalty;
using namespace loyalty::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace protocol = loyalty::protocol;
namespace tls = loyalty::tls;
using nlohmann::json;

namespace {

using loyalty::test::run_command;

// The chain's certificates and head office's config; tills S01-T1 and S02-T1 registered,
// S03-T1 registered then revoked, S04-T1 certified by the CA but never registered.
class HeadOfficeFiles {
  public:
    HeadOfficeFiles() {
        test::make_chain(certs());
        write_config(json::object());
        for (const char* store : {"S01", "S02", "S03"})
            run_command(std::string(LOYALTY_HQ_PATH) + " till add " + store + " T1 --certs " + certs().string() +
                        " --config " + config().string());
        run_command(std::string(LOYALTY_HQ_PATH) + " till revoke S03-T1 --config " + config().string());
        test::issue_till_certificate(certs(), "S04", "T1");
    }

    void write_config(const json& extra) const {
        json config = {{"database", (dir_.path() / "hq.db").string()},
                       {"durability", "normal"},
                       {"sync_listen", "127.0.0.1:0"},
                       {"admin_listen", "127.0.0.1:0"},
                       {"admin_token", "admin-secret"},
                       {"ca_file", (certs() / "hq" / "ca.crt").string()},
                       {"certificate_file", (certs() / "hq" / "server.crt").string()},
                       {"private_key_file", (certs() / "hq" / "server.key").string()},
                       {"heartbeat_interval_ms", 1000},
                       {"feed_poll_interval_ms", 50}};
        config.update(extra);
        std::ofstream(config_path()) << config.dump();
    }

    fs::path certs() const { return dir_.path() / "certs"; }
    fs::path config() const { return config_path(); }
    fs::path dir() const { return dir_.path(); }

  private:
    fs::path config_path() const { return dir_.path() / "hq.json"; }
    TempDir dir_;
};

class HeadOffice {
  public:
    explicit HeadOffice(const HeadOfficeFiles& files) : files_(files) { start(); }
    // HQ_TEST_DEBUG=1 prints head office's log, to see why a conversation went wrong.
    ~HeadOffice() {
        if (std::getenv("HQ_TEST_DEBUG")) std::cerr << process_->stderr_text();
    }

    void start() {
        process_.reset();
        process_.emplace(LOYALTY_HQ_PATH, std::vector<std::string>{"serve", "--config", files_.config().string()},
                         std::map<std::string, std::string>{}, files_.dir() / ("hq-" + std::to_string(++starts_) + ".log"));
        const auto listening = process_->wait_for_log_event("sync_listening", 30s);
        REQUIRE(listening);
        sync_port = listening->at("port").get<std::uint16_t>();
        admin_port = process_->wait_for_listening_port(30s);
        admin.emplace("127.0.0.1", admin_port,
                      http::ClientOptions{"admin-secret", 10s});
    }
    void kill() {
        process_->kill();
        REQUIRE(process_->wait_for_exit(30s));
    }
    json get(const std::string& target) {
        const auto response = admin->request("GET", target);
        INFO(response.body);
        REQUIRE(response.status == 200);
        return response.json();
    }
    Points balance(const std::string& member_id) { return get("/v1/members/" + member_id).at("balance"); }
    json till(const std::string& till_id) {
        const json tills = get("/v1/tills").at("tills");
        for (const json& till : tills)
            if (till.at("till_id") == till_id) return till;
        FAIL("no till " << till_id << " in " << tills.dump());
        return nullptr;
    }
    // True once a log line with event "sync_refused" and this code has been written.
    bool logged_refusal(const std::string& code) {
        for (int i = 0; i < 100; ++i) {
            if (process_->stderr_text().find("\"code\":\"" + code + "\"") != std::string::npos) return true;
            std::this_thread::sleep_for(50ms);
        }
        return false;
    }

    std::uint16_t sync_port = 0;
    std::uint16_t admin_port = 0;
    std::optional<http::HttpClient> admin;

  private:
    const HeadOfficeFiles& files_;
    std::optional<test::ChildProcess> process_;
    int starts_ = 0;
};

// A till's side of the connection, driven step by step from the test.
class FakeTill {
  public:
    FakeTill(const HeadOfficeFiles& files, const std::string& certificate_till)
        : context_(tls::make_client_context({files.certs() / "ca.crt",
                                             files.certs() / "tills" / certificate_till / "till.crt",
                                             files.certs() / "tills" / certificate_till / "till.key",
                                             {}})) {}

    void connect(std::uint16_t port) {
        connection_.reset();
        auto result = wait(tls::connect_to_server(context_, "127.0.0.1", port, 5s));
        REQUIRE(std::holds_alternative<tls::FramedConnection>(result));
        connection_.emplace(std::move(std::get<tls::FramedConnection>(result)));
    }
    void hello(const std::string& till_id, std::uint64_t downstream_version = 0) {
        send(protocol::Hello{till_id, 1, "hq_server_test", downstream_version, std::nullopt});
    }
    void send(const protocol::Message& message) {
        auto failure = wait(connection_->write(message, 5s));
        REQUIRE_FALSE(failure);
    }
    std::variant<protocol::Message, tls::ConnectionError> read() { return wait(connection_->read(5s)); }
    // The next message of type T, skipping heartbeats; Downstream messages read meanwhile are
    // kept for a later next<protocol::Downstream>().
    template <class T>
    T next() {
        if constexpr (std::is_same_v<T, protocol::Downstream>) {
            if (!skipped_.empty()) {
                protocol::Downstream first = std::move(skipped_.front());
                skipped_.pop_front();
                return first;
            }
        }
        for (int i = 0; i < 20; ++i) {
            auto received = read();
            if (auto* failure = std::get_if<tls::ConnectionError>(&received)) FAIL(failure->message);
            auto& message = std::get<protocol::Message>(received);
            if (auto* wanted = std::get_if<T>(&message)) return *wanted;
            if (auto* downstream = std::get_if<protocol::Downstream>(&message)) skipped_.push_back(*downstream);
        }
        FAIL("no message of the expected type");
        return {};
    }

  private:
    template <class T>
    T wait(asio::awaitable<T> operation) {
        std::optional<T> result;
        io_.restart();
        asio::co_spawn(io_, [&]() -> asio::awaitable<void> { result.emplace(co_await std::move(operation)); },
                       asio::detached);
        io_.run_for(20s);
        REQUIRE(result);
        return std::move(*result);
    }

    asio::io_context io_;
    asio::ssl::context context_;
    std::optional<tls::FramedConnection> connection_;
    std::deque<protocol::Downstream> skipped_;
};

struct TillNode {
    TillNode(const std::string& till_id, ManualClock& clock, const TempDir& dir)
        : program(ProgramOptions{(dir.path() / (till_id + ".db")).string(), till_id, Durability::normal}, clock,
                  rules_with()) {}
    std::vector<protocol::Event> events(std::uint64_t after = 0) {
        std::vector<protocol::Event> out;
        for (const OutboxEvent& event : program.outbox().pending(100'000))
            if (static_cast<std::uint64_t>(event.seq) > after)
                out.push_back({static_cast<std::uint64_t>(event.seq), event.type, event.payload, event.created_at});
        return out;
    }
    Points balance(const std::string& member_id) { return program.summary(member_id)->balance; }
    Program program;
};

const HeadOfficeFiles& files() {
    static const HeadOfficeFiles files;
    return files;
}

// One Program per till for the whole test program, as a real till keeps its database: its
// seq and ids continue from one test case to the next, as head office's registry does.
TillNode& node(const std::string& till_id) {
    static TempDir dir;
    static ManualClock clock(test_start());
    static std::map<std::string, std::unique_ptr<TillNode>> nodes;
    auto& found = nodes[till_id];
    if (!found) found = std::make_unique<TillNode>(till_id, clock, dir);
    return *found;
}

protocol::Error refusal_for(FakeTill& till) {
    auto received = till.read();
    REQUIRE(std::holds_alternative<protocol::Message>(received));
    const auto* error = std::get_if<protocol::Error>(&std::get<protocol::Message>(received));
    REQUIRE(error);
    // Then head office closes the connection.
    CHECK(std::holds_alternative<tls::ConnectionError>(till.read()));
    return *error;
}

// The Acks and MemberReplies of the next `count` of them, in the order they came.
std::vector<protocol::Message> answers(FakeTill& till, std::size_t count) {
    std::vector<protocol::Message> answers;
    for (int i = 0; i < 40 && answers.size() < count; ++i) {
        auto received = till.read();
        REQUIRE(std::holds_alternative<protocol::Message>(received));
        auto& message = std::get<protocol::Message>(received);
        if (std::holds_alternative<protocol::Ack>(message) || std::holds_alternative<protocol::MemberReply>(message))
            answers.push_back(std::move(message));
    }
    REQUIRE(answers.size() == count);
    return answers;
}

std::uint64_t acked(const protocol::Message& message) {
    const auto* ack = std::get_if<protocol::Ack>(&message);
    REQUIRE(ack);
    return ack->highest_contiguous_seq;
}

}  // namespace

TEST_CASE("events are stored once across replays and reconnects, gaps are refused", "[hq_server]") {
    HeadOffice hq(files());
    TillNode& till_node = node("S01-T1");
    const std::uint64_t start = hq.till("S01-T1").at("last_acked_seq");
    REQUIRE(static_cast<std::int64_t>(start) == till_node.program.outbox().last_seq());
    const auto member = till_node.program.enroll({valid_card(11), "", "Ada", ""}).value().result;
    for (const char* txn : {"A1", "A2"})
        REQUIRE(till_node.program.purchase(sale(txn, member.member_id, {line("x", "food", 1, 10000)})).ok());
    const auto events = till_node.events(start);  // 3 events

    FakeTill till(files(), "S01-T1");
    till.connect(hq.sync_port);
    till.hello("S01-T1");
    till.send(protocol::EventBatch{{events[0], events[1]}});
    CHECK(till.next<protocol::Ack>().highest_contiguous_seq == start + 2);
    for (int replay = 0; replay < 2; ++replay) {
        till.send(protocol::EventBatch{events});
        CHECK(till.next<protocol::Ack>().highest_contiguous_seq == start + 3);
    }
    REQUIRE(till_node.program.purchase(sale("A3", member.member_id, {line("x", "food", 1, 10000)})).ok());
    REQUIRE(till_node.program.purchase(sale("A4", member.member_id, {line("x", "food", 1, 10000)})).ok());
    const auto later = till_node.events(start + 3);  // 2 events
    till.send(protocol::EventBatch{{later[1]}});
    CHECK(till.next<protocol::Ack>().highest_contiguous_seq == start + 3);  // a gap: refused

    FakeTill again(files(), "S01-T1");
    again.connect(hq.sync_port);
    again.hello("S01-T1");
    again.send(protocol::EventBatch{till_node.events(start)});
    CHECK(again.next<protocol::Ack>().highest_contiguous_seq == start + 5);
    CHECK(hq.balance(member.member_id) == till_node.balance(member.member_id));
    CHECK(hq.balance(member.member_id) == 400);
    CHECK(hq.till("S01-T1").at("last_acked_seq") == start + 5);
    again.send(protocol::Heartbeat{1});
    CHECK(again.next<protocol::Heartbeat>().sent_at > 0);
}

TEST_CASE("batches sent before the last one's Ack are stored and acked in order, and one behind a refused event "
          "meets a gap",
          "[hq_server]") {
    HeadOffice hq(files());
    TillNode& till_node = node("S01-T1");
    const std::uint64_t start = hq.till("S01-T1").at("last_acked_seq");
    const auto member = till_node.program.enroll({valid_card(14), "", "Bo", ""}).value().result;
    for (int i = 0; i < 5; ++i)
        REQUIRE(till_node.program.purchase(sale("P" + std::to_string(i), member.member_id,
                                                {line("x", "food", 1, 1000)})).ok());
    const auto events = till_node.events(start);  // 6 events
    REQUIRE(events.size() == 6);

    FakeTill till(files(), "S01-T1");
    till.connect(hq.sync_port);
    till.hello("S01-T1");
    for (std::size_t first = 0; first < 6; first += 2)
        till.send(protocol::EventBatch{{events[first], events[first + 1]}});
    // Asked behind the batches, answered after them: the member is known by then.
    till.send(protocol::MemberQuery{1, protocol::MemberKey::card, valid_card(14)});
    const auto in_order = answers(till, 4);
    CHECK(acked(in_order[0]) == start + 2);
    CHECK(acked(in_order[1]) == start + 4);
    CHECK(acked(in_order[2]) == start + 6);
    const auto* reply = std::get_if<protocol::MemberReply>(&in_order[3]);
    REQUIRE(reply);
    CHECK(reply->found);

    for (int i = 5; i < 8; ++i)
        REQUIRE(till_node.program.purchase(sale("P" + std::to_string(i), member.member_id,
                                                {line("x", "food", 1, 1000)})).ok());
    const auto later = till_node.events(start + 6);  // 3 purchases
    auto broken = later;
    broken[1].payload["result"]["created_at"] = "not a time";
    till.send(protocol::EventBatch{{broken[0], broken[1]}});
    till.send(protocol::EventBatch{{broken[2]}});
    const auto stopped = answers(till, 2);
    CHECK(acked(stopped[0]) == start + 7);  // up to the refused event
    CHECK(acked(stopped[1]) == start + 7);  // the batch behind it met a gap
    till.send(protocol::EventBatch{{later[1], later[2]}});
    CHECK(acked(answers(till, 1)[0]) == start + 9);
    CHECK(hq.balance(member.member_id) == till_node.balance(member.member_id));
    CHECK(hq.till("S01-T1").at("last_acked_seq") == start + 9);
}

TEST_CASE("the tills list shows the expiry of the certificate each till connected with", "[hq_server]") {
    HeadOffice hq(files());
    FakeTill till(files(), "S01-T1");
    till.connect(hq.sync_port);
    till.hello("S01-T1");
    till.send(protocol::Heartbeat{1});
    REQUIRE(till.next<protocol::Heartbeat>().sent_at > 0);  // the Hello has been checked
    // loyalty-certs issues till certificates for 825 days (packaging/certs/loyalty-certs).
    const json listed = hq.till("S01-T1").at("certificate_not_after");
    REQUIRE(listed.is_string());
    const auto not_after = parse_timestamp(listed.get<std::string>());
    REQUIRE(not_after);
    const std::int64_t days_left = (*not_after - std::time(nullptr)) / seconds_per_day;
    CHECK(days_left >= 823);
    CHECK(days_left <= 825);
}

TEST_CASE("a member query answers a snapshot and the feed then carries the other till's events", "[hq_server]") {
    HeadOffice hq(files());
    TillNode& node_a = node("S01-T1");
    TillNode& node_b = node("S02-T1");
    FakeTill a(files(), "S01-T1");
    a.connect(hq.sync_port);
    a.hello("S01-T1");
    const std::uint64_t base = hq.till("S01-T1").at("last_acked_seq");
    const auto member = node_a.program.enroll({valid_card(12), "", "Bo", ""}).value().result;
    REQUIRE(node_a.program.purchase(sale("B1", member.member_id, {line("x", "food", 1, 10000)})).ok());
    a.send(protocol::EventBatch{node_a.events(base)});
    REQUIRE(a.next<protocol::Ack>().highest_contiguous_seq == base + 2);

    FakeTill b(files(), "S02-T1");
    b.connect(hq.sync_port);
    const std::uint64_t b_cursor = hq.till("S02-T1").at("downstream_version");
    b.hello("S02-T1", b_cursor);
    b.send(protocol::MemberQuery{7, protocol::MemberKey::card, valid_card(99)});
    const protocol::MemberReply unknown = b.next<protocol::MemberReply>();
    CHECK(unknown.query_id == 7);
    CHECK_FALSE(unknown.found);
    CHECK(unknown.member.is_null());
    b.send(protocol::MemberQuery{8, protocol::MemberKey::card, valid_card(12)});
    const protocol::MemberReply reply = b.next<protocol::MemberReply>();
    CHECK(reply.query_id == 8);
    REQUIRE(reply.found);
    REQUIRE(node_b.program.import_member_snapshot(reply.member).ok());
    CHECK(node_b.balance(member.member_id) == 100);

    REQUIRE(node_a.program.purchase(sale("B2", member.member_id, {line("y", "food", 1, 3000)})).ok());
    a.send(protocol::EventBatch{node_a.events(base + 2)});
    REQUIRE(a.next<protocol::Ack>().highest_contiguous_seq == base + 3);

    // B is sent the rule version and A's new sale (never its own events); applies each once.
    std::uint64_t applied = b_cursor;
    bool saw_config = b_cursor > 0, saw_sale = false;
    for (int i = 0; i < 10 && !(saw_config && saw_sale); ++i) {
        for (const protocol::DownstreamItem& item : b.next<protocol::Downstream>().items) {
            CHECK(item.version > applied);
            applied = item.version;
            if (item.kind == protocol::DownstreamKind::config) {
                saw_config = item.data.at("rules").contains("version");
                continue;
            }
            REQUIRE(item.kind == protocol::DownstreamKind::member);
            CHECK(item.data.at("origin") == "S01-T1");
            const json& event = item.data.at("event");
            const OutboxEvent forwarded{event.at("seq").get<std::int64_t>(), event.at("type").get<std::string>(),
                                        event.at("payload"), event.at("created_at").get<std::int64_t>()};
            REQUIRE(node_b.program.apply_remote_event("S01-T1", forwarded).ok());
            saw_sale = saw_sale || event.at("seq") == base + 3;
        }
        b.send(protocol::DownstreamAck{applied});
    }
    CHECK(saw_config);
    CHECK(saw_sale);
    CHECK(node_b.balance(member.member_id) == 130);
    CHECK(hq.balance(member.member_id) == 130);
    for (int i = 0; i < 100 && hq.till("S02-T1").at("downstream_version") != applied; ++i)
        std::this_thread::sleep_for(20ms);
    CHECK(hq.till("S02-T1").at("downstream_version") == applied);
    CHECK(hq.till("S02-T1").at("pending_downstream") == 0);
}

TEST_CASE("a till is refused for another till's id, when unknown and when revoked", "[hq_server]") {
    HeadOffice hq(files());
    SECTION("Hello names another till than the certificate") {
        FakeTill till(files(), "S01-T1");
        till.connect(hq.sync_port);
        till.hello("S02-T1");
        CHECK(refusal_for(till).code == "till_id_mismatch");
        CHECK(hq.logged_refusal("till_id_mismatch"));
    }
    SECTION("a certificate from the chain's CA, but the till was never registered") {
        FakeTill till(files(), "S04-T1");
        till.connect(hq.sync_port);
        till.hello("S04-T1");
        CHECK(refusal_for(till).code == "unknown_till");
        CHECK(hq.logged_refusal("unknown_till"));
    }
    SECTION("a revoked till") {
        FakeTill till(files(), "S03-T1");
        till.connect(hq.sync_port);
        till.hello("S03-T1");
        CHECK(refusal_for(till).code == "revoked");
        CHECK(hq.logged_refusal("revoked"));
        const std::string metrics = hq.admin->request("GET", "/metrics").body;
        CHECK(metrics.find("loyalty_hq_sync_refusals_total 1") != std::string::npos);
    }
    SECTION("the admin API wants the token") {
        http::HttpClient anonymous("127.0.0.1", hq.admin_port, {std::nullopt, 5s});
        CHECK(anonymous.request("GET", "/v1/tills").status == 401);
        CHECK(anonymous.request("GET", "/v1/health").status == 200);
    }
}

TEST_CASE("SIGKILL of head office mid-batch loses and duplicates nothing", "[hq_server]") {
    HeadOffice hq(files());
    TillNode& till_node = node("S02-T1");
    FakeTill till(files(), "S02-T1");
    till.connect(hq.sync_port);
    till.hello("S02-T1");
    const std::uint64_t base = hq.till("S02-T1").at("last_acked_seq");
    const auto member = till_node.program.enroll({valid_card(13), "", "Cy", ""}).value().result;
    for (int i = 0; i < 150; ++i)
        REQUIRE(till_node.program.purchase(sale("K" + std::to_string(i), member.member_id,
                                                {line("x", "food", 1, 1000)})).ok());
    const auto events = till_node.events(base);
    till.send(protocol::EventBatch{events});
    std::this_thread::sleep_for(30ms);  // head office is in the middle of storing the batch
    hq.kill();

    hq.start();
    FakeTill again(files(), "S02-T1");
    again.connect(hq.sync_port);
    again.hello("S02-T1");
    again.send(protocol::EventBatch{events});
    CHECK(again.next<protocol::Ack>().highest_contiguous_seq == base + events.size());
    again.send(protocol::EventBatch{events});
    CHECK(again.next<protocol::Ack>().highest_contiguous_seq == base + events.size());
    CHECK(hq.balance(member.member_id) == till_node.balance(member.member_id));
    CHECK(hq.till("S02-T1").at("last_acked_seq") == base + events.size());
}

TEST_CASE("the daily segmentation runs inside serve and the admin API shows it", "[hq_server]") {
    HeadOfficeFiles own;  // its own database: members who bought at head office before it starts
    std::vector<std::string> members;
    {
        // About 400 days of purchases, all before yesterday: the schedule's as-of date.
        ManualClock clock(SystemClock().now() - 500 * seconds_per_day);
        Program program(ProgramOptions{(own.dir() / "hq.db").string(), "HQ", Durability::normal}, clock, rules_with());
        for (int n = 1; n <= 12; ++n) {
            members.push_back(program.enroll({valid_card(500 + n), "", "Seg", ""}).value().result.member_id);
            for (int day = 0; day < 30; day += n) {
                REQUIRE(program.purchase(sale("SEG" + std::to_string(n) + "-" + std::to_string(day), members.back(),
                                              {line("x", n % 2 ? "food" : "wine", 1, 1000 + 100 * n)}))
                            .ok());
                clock.advance_days(n);
            }
        }
    }
    own.write_config({{"segmentation", {{"daily_at", "00:00"}, {"check_interval_seconds", 1}}}});
    HeadOffice hq(own);
    json runs = json::array();
    for (int i = 0; i < 300 && runs.empty(); ++i) {
        runs = hq.get("/v1/segments/runs").at("runs");
        if (runs.empty()) std::this_thread::sleep_for(100ms);
    }
    REQUIRE(runs.size() == 1);
    CHECK(runs[0].at("trigger") == "schedule");
    CHECK(runs[0].at("members") == 12);
    const json run = hq.get("/v1/segments/runs/" + std::to_string(runs[0].at("run_id").get<int>()));
    CHECK_FALSE(run.at("segments").empty());
    CHECK(run.at("models").at("bgnbd").contains("r"));
    const json member = hq.get("/v1/members/" + members[0]);
    CHECK(member.at("segmentation").at("run_id") == runs[0].at("run_id"));
    CHECK(member.at("segmentation").at("lifecycle").is_string());
    CHECK(hq.get("/v1/segments/members?limit=5").at("members").size() == 5);
    CHECK(hq.admin->request("GET", "/v1/segments/runs/12345").status == 404);
}
