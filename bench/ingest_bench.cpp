// Head-office ingest: how many till events a real loyalty-hq accepts and stores durably per
// second when 50 tills send at once over mutual TLS on loopback, and how long one till that
// was offline for a week takes to catch up. The baseline, in the same run, is bare SQLite
// inserting the same event rows with the same durability (WAL, synchronous=FULL).
//
//   ingest_bench [events per till, default 400] [catch-up events, default 10000] [tills, default 50]
//
// The tills are simulated: each is a real till core (Program) that made its outbox events
// beforehand, and a FramedConnection that sends them as loyaltyd's sync agent does (batches of
// at most 500 events and 1 MiB, the next sent while the last awaits its Ack). Certificates come from
// packaging/certs/loyalty-certs and tills are enrolled with `loyalty-hq till add`, as the tests
// do. Exits non-zero only if head office does not hold exactly the events sent, once each.
#include <sqlite3.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <deque>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "loyalty/program.hpp"
#include "loyalty/tls.hpp"
#include "support/sync_chain.hpp"
#include "support/till_daemon.hpp"

namespace {

using namespace loyalty;
namespace asio = boost::asio;
namespace fs = std::filesystem;
using bench::seconds_since;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::size_t batch_size = 500;        // the sync agent's default batch_size
constexpr std::size_t batches_in_flight = 2;  // and its default batches_in_flight
constexpr int members_per_till = 20;
constexpr auto network_timeout = 300s;  // an Ack waits behind every other till's batch

struct SimulatedTill {
    std::string store;
    std::string id;  // STORE-T1
    std::vector<protocol::Event> events;
    std::optional<asio::ssl::context> context;
    std::optional<tls::FramedConnection> connection;
    std::string failure;  // empty while every step succeeded
};

// `count` outbox events of a real till core: members enrolled, then two-line purchases spread
// evenly over the `span_seconds` before now (a week for the till that was offline).
std::vector<protocol::Event> make_events(const fs::path& database, const std::string& till_id, int first_card,
                                         std::int64_t count, std::int64_t span_seconds) {
    const Timestamp start = SystemClock().now() - span_seconds;
    ManualClock clock(start);
    Program program({database.string(), till_id, Durability::normal}, clock,
                    parse_rules_text(default_rules_text()).value());
    std::vector<std::string> members;
    for (int m = 0; m < members_per_till; ++m)
        members.push_back(program.enroll({test::card_number(first_card + m), "", "Bench", ""}).value().result.member_id);
    for (std::int64_t i = 0; program.outbox().last_seq() < count; ++i) {
        clock.set(start + i * span_seconds / count);
        const PurchaseRequest sale{till_id + "-" + std::to_string(i),
                                   {members[static_cast<std::size_t>(i % members_per_till)], "", ""},
                                   {{"MILK", "fresh", 2, 129, 0}, {"BREAD", "bakery", 1, 349, 0}},
                                   0};
        if (!program.purchase(sale).ok()) throw std::runtime_error("set-up purchase refused at " + till_id);
    }
    std::vector<protocol::Event> events;
    for (const OutboxEvent& event : program.outbox().pending(count))
        events.push_back({static_cast<std::uint64_t>(event.seq), event.type, event.payload, event.created_at});
    return events;
}

SimulatedTill make_till(const test::Chain& chain, const std::string& store, int number, std::int64_t count,
                        std::int64_t span_seconds) {
    chain.add_till(store, "T1");
    SimulatedTill till{store, store + "-T1", {}, {}, {}, {}};
    till.events = make_events(chain.dir() / (till.id + ".db"), till.id, number * members_per_till, count, span_seconds);
    const fs::path bundle = chain.certs() / "tills" / till.id;
    till.context.emplace(tls::make_client_context({bundle / "ca.crt", bundle / "till.crt", bundle / "till.key", {}}));
    return till;
}

asio::awaitable<void> connect(SimulatedTill& till, std::uint16_t port) {
    auto connected = co_await tls::connect_to_server(*till.context, "127.0.0.1", port, network_timeout);
    if (auto* error = std::get_if<tls::ConnectionError>(&connected)) {
        till.failure = "connect: " + error->message;
        co_return;
    }
    till.connection.emplace(std::move(std::get<tls::FramedConnection>(connected)));
    const protocol::Hello hello{till.id, protocol::protocol_version, "ingest_bench", 0, SystemClock().now()};
    if (auto error = co_await till.connection->write(hello, network_timeout)) till.failure = "hello: " + error->message;
}

// The next batch from `first`: at most batch_size events, halved while the frame is too large.
protocol::EventBatch batch_from(const std::vector<protocol::Event>& events, std::size_t first) {
    const auto begin = events.begin() + static_cast<std::ptrdiff_t>(first);
    protocol::EventBatch batch{{begin, begin + static_cast<std::ptrdiff_t>(std::min(batch_size, events.size() - first))}};
    while (batch.events.size() > 1 && protocol::encode(batch).size() > protocol::default_max_frame_size)
        batch.events.resize(batch.events.size() / 2);
    return batch;
}

// Sends every event, at most batches_in_flight batches awaiting their Acks, each of which must
// acknowledge its batch's last seq; heartbeats and downstream items head office sends meanwhile
// are not what this measures and are skipped.
asio::awaitable<void> send_events(SimulatedTill& till) {
    std::deque<std::uint64_t> awaiting;  // the last seq of each batch sent, oldest first
    for (std::size_t first = 0; (first < till.events.size() || !awaiting.empty()) && till.failure.empty();) {
        if (first < till.events.size() && awaiting.size() < batches_in_flight) {
            const protocol::EventBatch batch = batch_from(till.events, first);
            first += batch.events.size();
            awaiting.push_back(batch.events.back().seq);
            if (auto error = co_await till.connection->write(batch, network_timeout)) till.failure = "write: " + error->message;
            continue;
        }
        auto received = co_await till.connection->read(network_timeout);
        if (auto* error = std::get_if<tls::ConnectionError>(&received)) {
            till.failure = "read: " + error->message;
            co_return;
        }
        const protocol::Message& message = std::get<protocol::Message>(received);
        if (const auto* refusal = std::get_if<protocol::Error>(&message))
            till.failure = "head office refused: " + refusal->code + " " + refusal->message;
        if (const auto* ack = std::get_if<protocol::Ack>(&message)) {
            if (ack->highest_contiguous_seq != awaiting.front())
                till.failure = "acknowledged seq " + std::to_string(ack->highest_contiguous_seq) + ", sent up to " +
                               std::to_string(awaiting.front());
            awaiting.pop_front();
        }
    }
}

// Runs `step` for every till at once on `io`; the wall time until all are done.
template <class Step>
double run_all(asio::io_context& io, std::vector<SimulatedTill*> tills, Step step) {
    for (SimulatedTill* till : tills)
        if (till->failure.empty()) asio::co_spawn(io, step(*till), asio::detached);
    const auto start = Clock::now();
    io.restart();
    io.run();
    return seconds_since(start);
}

// Bare SQLite: the same rows in a table shaped like head office's till_events, `per_commit`
// events per transaction; events per second.
double bare_sqlite(const fs::path& file, const std::vector<SimulatedTill>& tills, std::size_t per_commit) {
    sqlite3* db = nullptr;
    sqlite3_open(file.c_str(), &db);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                 "CREATE TABLE events(version INTEGER PRIMARY KEY AUTOINCREMENT, till_id TEXT NOT NULL, "
                 "seq INTEGER NOT NULL, type TEXT NOT NULL, payload TEXT NOT NULL, created_at INTEGER NOT NULL, "
                 "UNIQUE (till_id, seq)) STRICT",
                 nullptr, nullptr, nullptr);
    sqlite3_stmt* insert = nullptr;
    sqlite3_prepare_v2(db, "INSERT INTO events(till_id, seq, type, payload, created_at) VALUES (?, ?, ?, ?, ?)", -1,
                       &insert, nullptr);
    std::size_t rows = 0;
    const auto start = Clock::now();
    for (const SimulatedTill& till : tills)
        for (std::size_t i = 0; i < till.events.size(); ++i) {
            if (i % per_commit == 0) sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
            const protocol::Event& event = till.events[i];
            const std::string payload = event.payload.dump();
            sqlite3_bind_text(insert, 1, till.id.c_str(), -1, SQLITE_STATIC);
            sqlite3_bind_int64(insert, 2, static_cast<sqlite3_int64>(event.seq));
            sqlite3_bind_text(insert, 3, event.type.c_str(), -1, SQLITE_STATIC);
            sqlite3_bind_text(insert, 4, payload.c_str(), -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(insert, 5, event.created_at);
            sqlite3_step(insert);
            sqlite3_reset(insert);
            ++rows;
            if ((i + 1) % per_commit == 0 || i + 1 == till.events.size())
                sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
        }
    const double elapsed = seconds_since(start);
    sqlite3_finalize(insert);
    sqlite3_close(db);
    return static_cast<double>(rows) / elapsed;
}

// What head office holds does not match what `till` sent and had acknowledged: one line each.
std::vector<std::string> ingest_problems(const fs::path& hq_database, const SimulatedTill& till) {
    if (!till.failure.empty()) return {till.id + ": " + till.failure};
    test::ReadOnlyDatabase office(hq_database);
    std::vector<std::string> sent;
    for (const protocol::Event& event : till.events)
        sent.push_back(std::to_string(event.seq) + "|'" + event.type + "'|'" + event.payload.dump() + "'|" +
                       std::to_string(event.created_at));
    std::vector<std::string> problems;
    if (office.rows("SELECT seq, type, payload, created_at FROM till_events WHERE till_id = ? ORDER BY seq", till.id) !=
        sent)
        problems.push_back(till.id + ": head office's till_events differ from the " + std::to_string(sent.size()) +
                           " events sent");
    const auto applied = office.integer("SELECT COUNT(*) FROM applied_events WHERE origin = ?", till.id);
    if (applied != static_cast<std::int64_t>(sent.size()))
        problems.push_back(till.id + ": " + std::to_string(applied) + " events applied to the ledger, " +
                           std::to_string(sent.size()) + " sent");
    return problems;
}

std::string store_name(int n) {
    char name[16];
    std::snprintf(name, sizeof name, "S%03d", n);
    return name;
}

}  // namespace

int main(int argc, char** argv) {
    const std::int64_t per_till = argc > 1 ? std::stoll(argv[1]) : 400;
    const std::int64_t catch_up_events = argc > 2 ? std::stoll(argv[2]) : 10'000;
    const int till_count = argc > 3 ? std::stoi(argv[3]) : 50;
    std::printf("ingest_bench: %d tills x %lld events, catch-up of %lld events, on %s\n\n", till_count,
                static_cast<long long>(per_till), static_cast<long long>(catch_up_events), bench::machine().c_str());

    asio::io_context io;  // outlives the tills' connections
    const test::Chain chain(nlohmann::json{{"durability", "full"}});
    bench::Stopwatch set_up;
    std::vector<SimulatedTill> tills;
    for (int n = 1; n <= till_count; ++n) tills.push_back(make_till(chain, store_name(n), n, per_till, 3'600));
    SimulatedTill offline = make_till(chain, store_name(till_count + 1), till_count + 1, catch_up_events, 7 * 86'400);
    std::printf("set-up: certificates and %lld events made by till cores in %.1f s\n",
                static_cast<long long>(per_till * till_count + catch_up_events), set_up.lap());
    std::fflush(stdout);  // the runs below take minutes

    test::HeadOffice head_office(chain);
    std::vector<SimulatedTill*> online;
    for (SimulatedTill& till : tills) online.push_back(&till);
    const std::uint16_t port = chain.sync_port();
    const double connect_seconds = run_all(io, online, [port](SimulatedTill& till) { return connect(till, port); });
    const double ingest_seconds = run_all(io, online, send_events);
    const double events = static_cast<double>(per_till * till_count);
    const double catch_up_seconds = run_all(io, {&offline}, [port](SimulatedTill& till) -> asio::awaitable<void> {
        co_await connect(till, port);
        if (till.failure.empty()) co_await send_events(till);
    });
    head_office.process().terminate();
    head_office.process().wait_for_exit(30s);

    const double bare_batched = bare_sqlite(chain.dir() / "bare-batched.db", tills, batch_size);
    const double bare_each = bare_sqlite(chain.dir() / "bare-each.db", tills, 1);
    std::printf("%d tills connected over mutual TLS in %.2f s\n\n", till_count, connect_seconds);
    std::printf("%-58s %12s\n", "events stored per second (synchronous=FULL)", "events/s");
    std::printf("%-58s %12.0f\n", "bare SQLite, one commit per batch of 500 (baseline)", bare_batched);
    std::printf("%-58s %12.0f\n", "bare SQLite, one commit per event", bare_each);
    std::printf("%-58s %12.0f   (%.0f events in %.2f s; %.3f of the baseline)\n", "loyalty-hq, tills sending at once",
                events / ingest_seconds, events, ingest_seconds, events / ingest_seconds / bare_batched);
    std::printf("\ncatch-up: one till offline for a week, %lld events: %.2f s (connect, Hello, every Ack)\n",
                static_cast<long long>(catch_up_events), catch_up_seconds);

    std::vector<std::string> problems;
    tills.push_back(std::move(offline));
    for (const SimulatedTill& till : tills)
        for (std::string& problem : ingest_problems(chain.database(), till)) problems.push_back(std::move(problem));
    for (const std::string& problem : problems) std::printf("CHECK FAILED: %s\n", problem.c_str());
    std::printf("%s\n", problems.empty() ? "correctness check passed: head office holds exactly the events sent, once each"
                                         : "CORRECTNESS CHECK FAILED");
    return problems.empty() ? 0 : 1;
}
