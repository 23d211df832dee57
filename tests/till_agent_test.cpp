// The till's sync agent against a small fake head office on loopback: real mutual TLS with
// certificates made by packaging/certs/loyalty-certs, real frames, a real till database shared
// with a second Program as loyaltyd's HTTP side shares it. The fake does what loyalty-hq's
// contract says (docs/PROTOCOL.md) and can misbehave on cue: cut a connection in the middle of
// a batch, close connections at once, refuse with Error, never acknowledge, hold an Ack back,
// stop inside a batch, ignore queries.
#include "till_agent.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "support/certificates.hpp"
#include "support/core_fixture.hpp"

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace protocol = loyalty::protocol;
namespace tls = loyalty::tls;
using asio::ip::tcp;
using loyalty::Program;
using loyalty::ProgramOptions;
using loyalty::sync::TillAgent;
using loyalty::sync::TillAgentSettings;
using loyalty::testing::line;
using loyalty::testing::rules_with;
using loyalty::testing::sale;
using loyalty::testing::TempDir;
using loyalty::testing::valid_card;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* till_id = "S01-T1";

// The chain's CA, head office's certificate for 127.0.0.1 and till S01-T1's bundle, made once
// per test program by the project's own tool.
class Certificates {
  public:
    static const Certificates& get() {
        static const Certificates certificates;
        return certificates;
    }
    fs::path chain() const { return root_.path() / "chain"; }
    fs::path till() const { return chain() / "tills" / till_id; }
    fs::path hq() const { return chain() / "hq"; }

  private:
    Certificates() {
        loyalty::test::make_chain(chain());
        loyalty::test::issue_till_certificate(chain(), "S01", "T1");
    }
    loyalty::test::TempDir root_;
};

// What the fake does; set before start().
struct Behaviour {
    bool acknowledge = true;
    // On this connection (1 = the first), store the first half of the first non-empty batch,
    // then drop the TCP connection without an Ack.
    std::size_t cut_mid_batch_on = 0;
    // A batch of more events than this (0: no limit) is dropped unstored and the connection with
    // it, as when a slow link cannot carry it within the write deadline.
    std::size_t drop_batches_over = 0;
    std::size_t close_first_connections = 0;  // dropped right after the TLS handshake
    // The first batch's Ack is sent only once the next batch has arrived (a till that waits
    // for each Ack before sending more gets stuck).
    bool hold_first_ack = false;
    // The first time this seq arrives, it and the rest of its batch are not stored, as when
    // head office's ledger refuses an event (0: never).
    std::uint64_t stop_once_at = 0;
    std::optional<protocol::Error> refuse;    // answered to every Hello
    std::vector<protocol::DownstreamItem> downstream;
    bool honour_cursor = true;  // false: resend every downstream item on every connection
    std::map<std::string, json> members_by_card;
    bool answer_queries = true;
};

// What the fake saw; read through FakeHeadOffice::seen().
struct Seen {
    std::size_t connections = 0;
    std::vector<protocol::Hello> hellos;
    std::vector<std::vector<std::uint64_t>> batches;  // non-empty batches, seqs as received
    std::map<std::uint64_t, int> stored;              // seq -> times stored (must stay 1)
    std::size_t gaps = 0;                             // batches that began after a gap
    std::vector<std::uint64_t> downstream_acks;
    std::size_t queries = 0;
    std::size_t largest_batch_frame = 0;  // bytes, as encoded

    std::uint64_t highest_contiguous() const {
        std::uint64_t seq = 0;
        while (stored.count(seq + 1)) ++seq;
        return seq;
    }
};

class FakeHeadOffice {
  public:
    explicit FakeHeadOffice(Behaviour behaviour)
        : behaviour_(std::move(behaviour)),
          context_(tls::make_server_context({Certificates::get().hq() / "ca.crt",
                                             Certificates::get().hq() / "server.crt",
                                             Certificates::get().hq() / "server.key"})),
          acceptor_(io_, {asio::ip::address_v4::loopback(), 0}) {
        asio::co_spawn(io_, accept_loop(), asio::detached);
        thread_ = std::thread([this] { io_.run(); });
    }
    ~FakeHeadOffice() {
        io_.stop();
        thread_.join();
    }

    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    Seen seen() const {
        std::lock_guard lock(mutex_);
        return seen_;
    }

  private:
    asio::awaitable<void> accept_loop() {
        for (;;) {
            tcp::socket socket = co_await acceptor_.async_accept(asio::use_awaitable);
            asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
        }
    }

    asio::awaitable<void> serve(tcp::socket socket) {
        auto accepted = co_await tls::accept_till(std::move(socket), context_, 5s);
        if (!std::holds_alternative<tls::AcceptedTill>(accepted)) co_return;
        tls::FramedConnection& connection = std::get<tls::AcceptedTill>(accepted).connection;
        std::size_t index = 0;
        {
            std::lock_guard lock(mutex_);
            index = ++seen_.connections;
        }
        if (index <= behaviour_.close_first_connections) {
            connection.stream().lowest_layer().close();
            co_return;
        }
        auto first = co_await connection.read(5s);
        const auto* hello = std::get_if<protocol::Message>(&first);
        if (hello == nullptr || !std::holds_alternative<protocol::Hello>(*hello)) co_return;
        const protocol::Hello greeting = std::get<protocol::Hello>(*hello);
        {
            std::lock_guard lock(mutex_);
            seen_.hellos.push_back(greeting);
        }
        if (behaviour_.refuse) {
            co_await connection.write(*behaviour_.refuse, 5s);
            co_await connection.close(1s);
            co_return;
        }
        protocol::Downstream downstream;
        for (const auto& item : behaviour_.downstream)
            if (!behaviour_.honour_cursor || item.version > greeting.downstream_version)
                downstream.items.push_back(item);
        if (!downstream.items.empty() && co_await connection.write(downstream, 5s)) co_return;
        std::optional<protocol::Message> held;
        for (int messages = 0; messages < 100'000; ++messages) {
            auto received = co_await connection.read(30s);
            if (!std::holds_alternative<protocol::Message>(received)) co_return;
            const protocol::Message& message = std::get<protocol::Message>(received);
            auto reply = answer(index, message);
            if (!reply) continue;
            if (std::holds_alternative<protocol::Error>(*reply)) {  // the cue to cut
                connection.stream().lowest_layer().close();
                co_return;
            }
            if (std::holds_alternative<protocol::EventBatch>(message) && std::exchange(hold_first_ack_, false)) {
                held = std::move(reply);
                continue;
            }
            if (held && co_await connection.write(*std::exchange(held, std::nullopt), 5s)) co_return;
            if (co_await connection.write(*reply, 5s)) co_return;
        }
    }

    // The reply to one message; an Error means "drop the connection now".
    std::optional<protocol::Message> answer(std::size_t connection, const protocol::Message& message) {
        std::lock_guard lock(mutex_);
        if (const auto* batch = std::get_if<protocol::EventBatch>(&message)) {
            std::vector<std::uint64_t> seqs;
            for (const auto& event : batch->events) seqs.push_back(event.seq);
            if (!seqs.empty()) seen_.batches.push_back(seqs);
            seen_.largest_batch_frame = std::max(seen_.largest_batch_frame, protocol::encode(message).size());
            if (behaviour_.drop_batches_over != 0 && seqs.size() > behaviour_.drop_batches_over)
                return protocol::Error{"dropped", ""};
            const bool cut = connection == behaviour_.cut_mid_batch_on && !seqs.empty();
            store(cut ? std::vector<std::uint64_t>(seqs.begin(), seqs.begin() + seqs.size() / 2) : seqs);
            if (cut) return protocol::Error{"cut", ""};
            if (!behaviour_.acknowledge) return std::nullopt;
            return protocol::Ack{seen_.highest_contiguous()};
        }
        if (const auto* ack = std::get_if<protocol::DownstreamAck>(&message)) {
            seen_.downstream_acks.push_back(ack->applied_version);
        } else if (const auto* query = std::get_if<protocol::MemberQuery>(&message)) {
            ++seen_.queries;
            if (!behaviour_.answer_queries) return std::nullopt;
            const auto found = behaviour_.members_by_card.find(query->value);
            if (found == behaviour_.members_by_card.end())
                return protocol::MemberReply{query->query_id, false, nullptr};
            return protocol::MemberReply{query->query_id, true, found->second};
        }
        return std::nullopt;
    }

    // As head office does: replays skipped, nothing stored after a gap or a refused event.
    void store(const std::vector<std::uint64_t>& seqs) {
        if (!seqs.empty() && seqs.front() > seen_.highest_contiguous() + 1) ++seen_.gaps;
        for (std::uint64_t seq : seqs) {
            if (seq == stop_at_) {
                stop_at_ = 0;
                return;
            }
            if (seq <= seen_.highest_contiguous()) continue;
            if (seq != seen_.highest_contiguous() + 1) return;
            ++seen_.stored[seq];
        }
    }

    Behaviour behaviour_;
    bool hold_first_ack_ = behaviour_.hold_first_ack;
    std::uint64_t stop_at_ = behaviour_.stop_once_at;
    asio::io_context io_;
    asio::ssl::context context_;
    tcp::acceptor acceptor_;
    mutable std::mutex mutex_;
    Seen seen_;
    std::thread thread_;
};

// Polls `done` every 20 ms for at most 30 s.
bool eventually(const std::function<bool()>& done) {
    for (int i = 0; i < 1'500; ++i) {
        if (done()) return true;
        std::this_thread::sleep_for(20ms);
    }
    return done();
}

// A till: its database, the POS side's Program on it, and agents started on demand.
struct Till {
    Till() : program(options(), clock, rules_with()) {}

    ProgramOptions options() const {
        return {(dir.path() / "till.db").string(), till_id, loyalty::Durability::normal, 30, 24, 2'000};
    }

    std::unique_ptr<TillAgent> agent(std::uint16_t port, std::size_t batch_size = 500,
                                     std::size_t batches_in_flight = 2) {
        TillAgentSettings settings;
        settings.till_id = till_id;
        settings.host = "127.0.0.1";
        settings.port = port;
        const fs::path bundle = Certificates::get().till();
        settings.tls = {bundle / "ca.crt", bundle / "till.crt", bundle / "till.key", {}, tls::TlsVersion::tls1_2};
        settings.software_version = "test";
        settings.batch_size = batch_size;
        settings.batches_in_flight = batches_in_flight;
        settings.heartbeat_interval = 1s;
        settings.idle_timeout = 10s;
        settings.io_timeout = 5s;
        settings.outbox_poll = 20ms;
        settings.min_backoff = 10ms;
        settings.max_backoff = 200ms;
        auto made = std::make_unique<TillAgent>(settings, options(), clock, rules_with());
        made->start();
        return made;
    }

    // `count` members, each with one purchase: 2 * count outbox events.
    void sell(int count, int first = 1) {
        for (int n = first; n < first + count; ++n) {
            auto member = program.enroll({valid_card(n), "", "Member " + std::to_string(n), ""});
            REQUIRE(member.ok());
            REQUIRE(program
                        .purchase(sale("T" + std::to_string(n), member->result.member_id,
                                       {line("sku", "food", 1, 1'000)}))
                        .ok());
        }
    }

    TempDir dir;
    loyalty::SystemClock clock;
    Program program;
};

// Another till's events, as head office forwards them: member items with origin S02-T1.
struct OtherTill {
    OtherTill()
        : program({(dir.path() / "other.db").string(), "S02-T1", loyalty::Durability::normal, 30, 24, 2'000},
                  clock, rules_with()) {
        auto enrolled = program.enroll({valid_card(900), "", "Grace", ""});
        REQUIRE(enrolled.ok());
        member_id = enrolled->result.member_id;
        REQUIRE(program.purchase(sale("B1", member_id, {line("sku", "food", 2, 2'500)})).ok());
    }

    std::vector<protocol::DownstreamItem> items(std::uint64_t first_version) {
        std::vector<protocol::DownstreamItem> items;
        for (const auto& event : program.outbox().pending(100))
            items.push_back({first_version++, protocol::DownstreamKind::member,
                             {{"origin", "S02-T1"},
                              {"event", {{"seq", event.seq}, {"type", event.type},
                                         {"payload", event.payload}, {"created_at", event.created_at}}}}});
        return items;
    }

    TempDir dir;
    loyalty::SystemClock clock;
    Program program;
    std::string member_id;
};

}  // namespace

TEST_CASE("outbox events go upstream in seq order, in batches, acknowledged only on Ack", "[till_agent]") {
    Till till;
    till.sell(4);  // seq 1..8
    FakeHeadOffice hq({});
    auto agent = till.agent(hq.port(), 3);
    REQUIRE(eventually([&] { return till.program.outbox().acknowledged() == 8; }));
    const Seen seen = hq.seen();
    std::uint64_t expected = 1;
    for (const auto& batch : seen.batches) {
        CHECK(batch.size() <= 3);
        for (std::uint64_t seq : batch) CHECK(seq == expected++);
    }
    CHECK(expected == 9);
    CHECK(seen.hellos.at(0).till_id == till_id);
    CHECK(seen.hellos.at(0).downstream_version == 0);

    // Events made while connected follow without a reconnect.
    till.sell(1, 10);
    REQUIRE(eventually([&] { return till.program.outbox().acknowledged() == 10; }));
    CHECK(hq.seen().connections == 1);
    for (const auto& [seq, times] : hq.seen().stored) CHECK(times == 1);
}

TEST_CASE("without an Ack nothing is marked as sent", "[till_agent]") {
    Till till;
    till.sell(2);
    Behaviour silent;
    silent.acknowledge = false;
    FakeHeadOffice hq(silent);
    auto agent = till.agent(hq.port());
    REQUIRE(eventually([&] { return !hq.seen().batches.empty(); }));
    CHECK(hq.seen().batches.front() == std::vector<std::uint64_t>{1, 2, 3, 4});
    agent->stop();
    CHECK(till.program.outbox().acknowledged() == 0);
    CHECK(agent->status()["pending_events"] == 4);
}

TEST_CASE("a connection cut in the middle of a batch loses and duplicates nothing", "[till_agent]") {
    Till till;
    till.sell(5);  // seq 1..10
    Behaviour cutting;
    cutting.cut_mid_batch_on = 1;
    FakeHeadOffice hq(cutting);
    auto agent = till.agent(hq.port());
    REQUIRE(eventually([&] { return till.program.outbox().acknowledged() == 10; }));
    const Seen seen = hq.seen();
    CHECK(seen.connections >= 2);
    // The first batch was cut after seq 5 was stored; all of it came again on reconnect.
    REQUIRE(seen.batches.size() >= 2);
    CHECK(seen.batches[0].front() == 1);
    CHECK(seen.batches[1].front() == 1);
    CHECK(seen.stored.size() == 10);
    for (const auto& [seq, times] : seen.stored) CHECK(times == 1);
}

TEST_CASE("a batch too big to get through goes again in halves, and grows back once acknowledged", "[till_agent]") {
    Till till;
    till.sell(10);  // seq 1..20
    Behaviour narrow;
    narrow.drop_batches_over = 3;
    FakeHeadOffice hq(narrow);
    auto agent = till.agent(hq.port(), 16, 1);  // one batch at a time: the sizes come in a fixed order
    REQUIRE(eventually([&] { return till.program.outbox().acknowledged() == 20; }));
    const Seen seen = hq.seen();
    std::vector<std::size_t> sizes;
    for (const auto& batch : seen.batches) sizes.push_back(batch.size());
    REQUIRE(sizes.size() >= 5);
    // Dropped at 16, 8 and 4 events; 2 got through, so the next batch doubled (and was dropped).
    CHECK(std::vector<std::size_t>(sizes.begin(), sizes.begin() + 5) == std::vector<std::size_t>{16, 8, 4, 2, 4});
    CHECK(seen.stored.size() == 20);
    for (const auto& [seq, times] : seen.stored) CHECK(times == 1);
}

TEST_CASE("events whose frame would pass the frame limit go in smaller batches, each under it", "[till_agent]") {
    Till till;
    // 12 purchases of 1,000 lines: about 2 MiB of events, more than one frame may carry.
    std::vector<loyalty::BasketLine> lines;
    for (int n = 0; n < 1'000; ++n) lines.push_back(line("sku-" + std::to_string(n), "food", 1, 100));
    auto member = till.program.enroll({valid_card(1), "", "Member 1", ""});
    REQUIRE(member.ok());
    for (int n = 0; n < 12; ++n)
        REQUIRE(till.program.purchase(sale("BIG-" + std::to_string(n), member->result.member_id, lines)).ok());
    const auto events = static_cast<std::int64_t>(till.program.outbox().pending(100).size());
    FakeHeadOffice hq({});
    auto agent = till.agent(hq.port());
    REQUIRE(eventually([&] { return till.program.outbox().acknowledged() == events; }));
    const Seen seen = hq.seen();
    CHECK(seen.connections == 1);  // no frame over the limit, which would have cost the connection
    CHECK(seen.batches.size() >= 2);
    CHECK(seen.largest_batch_frame <= protocol::default_max_frame_size);
    CHECK(seen.largest_batch_frame > protocol::default_max_frame_size / 4);  // halved, not cut to one event
    CHECK(seen.stored.size() == static_cast<std::size_t>(events));
    for (const auto& [seq, times] : seen.stored) CHECK(times == 1);
}

TEST_CASE("the next batch goes out before the last one's Ack, and each Ack is taken in order", "[till_agent]") {
    Till till;
    till.sell(6);  // seq 1..12
    Behaviour holding;
    holding.hold_first_ack = true;
    FakeHeadOffice hq(holding);
    auto agent = till.agent(hq.port(), 4);
    REQUIRE(eventually([&] { return till.program.outbox().acknowledged() == 12; }));
    const Seen seen = hq.seen();
    CHECK(seen.connections == 1);
    REQUIRE(seen.batches.size() == 3);
    CHECK(seen.batches[0] == std::vector<std::uint64_t>{1, 2, 3, 4});
    CHECK(seen.batches[1] == std::vector<std::uint64_t>{5, 6, 7, 8});
    CHECK(seen.batches[2] == std::vector<std::uint64_t>{9, 10, 11, 12});
    CHECK(seen.stored.size() == 12);
    CHECK(seen.gaps == 0);
}

TEST_CASE("a batch acknowledged in part is sent again from there, and the one behind it ends nothing",
          "[till_agent]") {
    Till till;
    till.sell(6);  // seq 1..12
    Behaviour stopping;
    stopping.hold_first_ack = true;  // so the second batch is on its way when the first is acked
    stopping.stop_once_at = 3;
    FakeHeadOffice hq(stopping);
    auto agent = till.agent(hq.port(), 4);
    REQUIRE(eventually([&] { return till.program.outbox().acknowledged() == 12; }));
    const Seen seen = hq.seen();
    CHECK(seen.connections == 1);  // the second batch's low Ack did not end the session
    REQUIRE(seen.batches.size() >= 3);
    CHECK(seen.batches[0] == std::vector<std::uint64_t>{1, 2, 3, 4});
    CHECK(seen.batches[1] == std::vector<std::uint64_t>{5, 6, 7, 8});  // met a gap: Ack 2
    CHECK(seen.batches[2].front() == 3);
    CHECK(seen.gaps == 1);
    CHECK(seen.stored.size() == 12);
    for (const auto& [seq, times] : seen.stored) CHECK(times == 1);
}

TEST_CASE("connections dropped at once are retried with backoff until one holds", "[till_agent]") {
    Till till;
    till.sell(1);
    Behaviour flaky;
    flaky.close_first_connections = 3;
    FakeHeadOffice hq(flaky);
    auto agent = till.agent(hq.port());
    REQUIRE(eventually([&] { return till.program.outbox().acknowledged() == 2; }));
    CHECK(hq.seen().connections >= 4);
    CHECK(agent->connected());
    const json status = agent->status();
    CHECK(status["connected"] == true);
    CHECK(status["last_success"].is_string());
    CHECK(status["pending_events"] == 0);
}

TEST_CASE("a head office that is down is retried, the agent reports it offline meanwhile", "[till_agent]") {
    Till till;
    till.sell(1);
    std::uint16_t closed_port = 0;
    {
        asio::io_context io;
        tcp::acceptor probe(io, {asio::ip::address_v4::loopback(), 0});
        closed_port = probe.local_endpoint().port();
    }
    auto agent = till.agent(closed_port);
    REQUIRE(eventually([&] { return agent->status()["last_error"].is_string(); }));
    CHECK_FALSE(agent->connected());
    CHECK(agent->status()["last_success"].is_null());
    CHECK_FALSE(agent->query_member(protocol::MemberKey::card, valid_card(1), 100ms));
    agent->stop();
    CHECK(till.program.outbox().acknowledged() == 0);
}

TEST_CASE("downstream items are applied once, in order, and the cursor survives a restart", "[till_agent]") {
    Till till;
    OtherTill other;
    Behaviour feed;
    feed.downstream = other.items(1);  // versions 1..n: the other till's enrolment and purchase
    const std::uint64_t config_version = feed.downstream.size() + 1;
    json rules = loyalty::rules_to_json(rules_with({{"version", 7}}));
    feed.downstream.push_back({config_version, protocol::DownstreamKind::config, {{"rules", rules}}});
    feed.honour_cursor = false;  // every connection replays the whole feed
    FakeHeadOffice hq(feed);

    auto agent = till.agent(hq.port());
    REQUIRE(eventually([&] {
        const auto acks = hq.seen().downstream_acks;
        return !acks.empty() && acks.back() == config_version;
    }));
    CHECK(agent->status()["downstream_version"] == config_version);
    const auto member = till.program.find_member({"", valid_card(900), ""});
    REQUIRE(member.ok());
    CHECK(member->member_id == other.member_id);
    const loyalty::Points balance = till.program.summary(other.member_id)->balance;
    CHECK(balance == other.program.summary(other.member_id)->balance);
    CHECK(till.program.rules().version == 7);  // the POS side's Program picked the rules up

    agent.reset();  // restart: the cursor comes from the database
    agent = till.agent(hq.port());
    REQUIRE(eventually([&] { return hq.seen().downstream_acks.size() >= 2; }));
    const Seen seen = hq.seen();
    CHECK(seen.hellos.back().downstream_version == config_version);
    CHECK(seen.downstream_acks.back() == config_version);
    CHECK(till.program.summary(other.member_id)->balance == balance);
    CHECK(till.program.audit(other.member_id).consistent());
    CHECK(till.program.database()
              .query_integer("SELECT CAST(value AS INTEGER) FROM settings WHERE key = ?",
                             loyalty::sync::downstream_version_key)
              .value_or(0) == static_cast<std::int64_t>(config_version));
}

TEST_CASE("a member unknown here is asked of head office, within the caller's timeout", "[till_agent]") {
    Till till;
    OtherTill other;
    Behaviour directory;
    directory.members_by_card[valid_card(900)] = other.program.member_snapshot(other.member_id).value();
    FakeHeadOffice hq(directory);
    auto agent = till.agent(hq.port());
    REQUIRE(eventually([&] { return agent->connected(); }));

    const auto snapshot = agent->query_member(protocol::MemberKey::card, valid_card(900), 10s);
    REQUIRE(snapshot);
    REQUIRE(till.program.import_member_snapshot(*snapshot).ok());
    CHECK(till.program.summary(other.member_id)->balance ==
          other.program.summary(other.member_id)->balance);
    CHECK_FALSE(agent->query_member(protocol::MemberKey::card, valid_card(901), 10s));
    CHECK(hq.seen().queries == 2);

    Behaviour mute;
    mute.answer_queries = false;
    FakeHeadOffice silent(mute);
    auto waiting = till.agent(silent.port());
    REQUIRE(eventually([&] { return waiting->connected(); }));
    CHECK_FALSE(waiting->query_member(protocol::MemberKey::card, valid_card(900), 100ms));
    CHECK(eventually([&] { return silent.seen().queries == 1; }));
}

TEST_CASE("an Error from head office is logged, shown in status and retried later", "[till_agent]") {
    Till till;
    till.sell(1);
    Behaviour revoked;
    revoked.refuse = protocol::Error{"revoked", "till S01-T1 is revoked"};
    FakeHeadOffice hq(revoked);
    auto agent = till.agent(hq.port());
    REQUIRE(eventually([&] { return hq.seen().hellos.size() >= 2; }));
    const json status = agent->status();
    CHECK_FALSE(agent->connected());
    CHECK(status["connected"] == false);
    CHECK(status["last_error"].get<std::string>().find("revoked") != std::string::npos);
    CHECK(status["last_success"].is_null());
    CHECK(hq.seen().batches.empty());
    agent->stop();
    CHECK(till.program.outbox().acknowledged() == 0);
}
