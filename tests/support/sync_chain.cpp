#include "support/sync_chain.hpp"

#include <sys/wait.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "loyalty/identifiers.hpp"
#include "support/till_daemon.hpp"

namespace loyalty::test {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

void write_file(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

std::uint16_t free_port() {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::address_v4::loopback(), 0});
    return acceptor.local_endpoint().port();
}

std::string card_number(int n) {
    std::string payload = std::to_string(n);
    payload = "700200" + std::string(9 - payload.size(), '0') + payload;
    return payload + luhn_check_digit(payload);
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (done()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return done();
}

json expect(const http::ClientResponse& response, int status) {
    if (response.status != status)
        throw std::runtime_error("expected HTTP " + std::to_string(status) + ", got " +
                                 std::to_string(response.status) + ": " + response.body);
    return response.json();
}

Chain::Chain(const json& hq_settings) : sync_port_(free_port()) {
    make_chain(certs());
    const fs::path hq = certs() / "hq";
    json settings{{"database", database().string()},
                  {"durability", "normal"},
                  {"sync_listen", "127.0.0.1:" + std::to_string(sync_port_)},
                  {"admin_listen", "127.0.0.1:0"},
                  {"ca_file", (hq / "ca.crt").string()},
                  {"certificate_file", (hq / "server.crt").string()},
                  {"private_key_file", (hq / "server.key").string()},
                  {"heartbeat_interval_ms", 1000},
                  {"feed_poll_interval_ms", 100}};
    settings.update(hq_settings);
    write_file(config(), settings.dump());
}

void Chain::add_till(const std::string& store, const std::string& till) const {
    run_command(std::string(LOYALTY_HQ_PATH) + " till add " + store + " " + till + " --certs " + certs().string() +
                " --config " + config().string());
}

void Chain::certify_till(const std::string& store, const std::string& till) const {
    issue_till_certificate(certs(), store, till);
}

void Chain::revoke_till(const std::string& till_id) const {
    run_command(std::string(LOYALTY_HQ_PATH) + " till revoke " + till_id + " --config " + config().string());
}

int Chain::hq_command(const std::string& arguments) const {
    const std::string command = std::string(LOYALTY_HQ_PATH) + " " + arguments + " --config " +
                                config().string() + " > /dev/null 2>&1";
    const int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Chain::hq_output(const std::string& arguments) const {
    return run_command(std::string(LOYALTY_HQ_PATH) + " " + arguments + " --config " + config().string());
}

HeadOffice::HeadOffice(const Chain& chain) : chain_(chain) { start(); }

void HeadOffice::start() {
    process_.reset();
    process_.emplace(LOYALTY_HQ_PATH, std::vector<std::string>{"serve", "--config", chain_.config().string()},
                     std::map<std::string, std::string>{},
                     chain_.dir() / ("hq-" + std::to_string(++starts_) + ".stderr"));
    if (!process_->wait_for_log_event("sync_listening", 30s))
        throw std::runtime_error("loyalty-hq did not listen for tills; its log:\n" + process_->stderr_text());
    admin_.emplace("127.0.0.1", process_->wait_for_listening_port(30s, "loyalty-hq-admin"),
                   http::ClientOptions{std::nullopt, 20s});
}

namespace {

ExitStatus kill_and_reap(ChildProcess& process, const std::string& name) {
    process.kill();
    const auto status = process.wait_for_exit(30s);
    if (!status) throw std::runtime_error(name + " survived SIGKILL for 30 s");
    return *status;
}

}  // namespace

ExitStatus HeadOffice::kill() { return kill_and_reap(*process_, "loyalty-hq"); }

std::int64_t HeadOffice::balance(const std::string& member_id) {
    const http::ClientResponse response = admin_->request("GET", "/v1/members/" + member_id);
    return response.status == 200 ? response.json().at("balance").get<std::int64_t>() : -1;
}

json HeadOffice::till(const std::string& till_id) {
    const json tills = expect(admin_->request("GET", "/v1/tills"), 200).at("tills");
    for (const json& till : tills)
        if (till.at("till_id") == till_id) return till;
    throw std::runtime_error("no till " + till_id + " in " + tills.dump());
}

SyncedTill::SyncedTill(const Chain& chain, const std::string& store, const std::string& till, TillOptions options)
    : till_id_(store + "-" + till), options_(std::move(options)) {
    if (options_.registered) chain.add_till(store, till);
    else chain.certify_till(store, till);
    const fs::path bundle = chain.certs() / "tills" / till_id_;
    const std::uint16_t port = options_.sync_port ? options_.sync_port : chain.sync_port();
    json settings{{"till_id", till_id_},
                {"store_id", store},
                {"listen", "127.0.0.1:0"},
                {"database", database().string()},
                {"durability", "normal"},
                {"sync",
                 {{"server", "127.0.0.1:" + std::to_string(port)},
                  {"ca_file", (bundle / "ca.crt").string()},
                  {"certificate_file", (bundle / "till.crt").string()},
                  {"private_key_file", (bundle / "till.key").string()},
                  {"heartbeat_seconds", 1},
                  {"min_backoff_ms", 50},
                  {"max_backoff_ms", 1000},
                  {"queued_retry_seconds", 1},
                  {"query_timeout_ms", 2000}}}};
    settings.update(options_.settings);
    write_file(config(), settings.dump());
    start();
}

void SyncedTill::start() {
    process_.reset();
    process_.emplace(LOYALTYD_PATH, std::vector<std::string>{"--config", config().string()}, options_.env,
                     dir_.path() / ("loyaltyd-" + std::to_string(++starts_) + ".stderr"));
    client_.emplace("127.0.0.1", process_->wait_for_listening_port(30s), http::ClientOptions{std::nullopt, 20s});
}

ExitStatus SyncedTill::kill() { return kill_and_reap(*process_, "loyaltyd " + till_id_); }

json SyncedTill::sync_status() { return expect(api().request("GET", "/v1/health"), 200).at("sync"); }

bool SyncedTill::synced() {
    const json sync = sync_status();
    return sync.at("connected") == true && sync.at("pending_events") == 0;
}

std::int64_t SyncedTill::balance(const std::string& member_id) {
    const http::ClientResponse response = api().request("GET", "/v1/members/" + member_id);
    return response.status == 200 ? response.json().at("balance").get<std::int64_t>() : -1;
}

std::string SyncedTill::enroll(int n) {
    const json body{{"card", card_number(n)}, {"name", "Member " + std::to_string(n)}};
    return expect(api().request("POST", "/v1/members", body), 201).at("member_id");
}

http::ClientResponse SyncedTill::buy(const std::string& txn_id, const std::string& member_id, std::int64_t cents,
                                     std::int64_t redeem) {
    json body{{"txn_id", txn_id},
              {"member_id", member_id},
              {"lines", {{{"sku", "s"}, {"category", "food"}, {"quantity", 1}, {"unit_price_cents", cents}}}}};
    if (redeem) body["redeem_points"] = redeem;
    return api().request("POST", "/v1/purchases", body);
}

Cashier::Cashier(SyncedTill& till, std::vector<std::string> members, unsigned seed)
    : till_(till), members_(std::move(members)), random_(seed), thread_([this] { run(); }) {}

Cashier::~Cashier() { stop(); }

void Cashier::stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
}

void Cashier::run() {
    for (int n = 0; n < 5'000 && !stopping_; ++n) {
        const std::string txn_id = till_.till_id() + "-" + std::to_string(n);
        const std::int64_t cents = 100 + random_() % 9'900;
        try {
            const http::ClientResponse response = till_.buy(txn_id, members_[n % members_.size()], cents);
            if (response.status == 201) ++acknowledged_;
            else failures_.push_back(txn_id + ": " + std::to_string(response.status) + " " + response.body);
        } catch (const std::exception& error) {
            failures_.push_back(txn_id + ": " + error.what());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(random_() % 20));
    }
}

std::vector<std::string> audit_until_healed(HeadOffice& hq, const Chain& chain, const std::vector<SyncedTill*>& tills,
                                            const std::vector<std::string>& members) {
    std::vector<std::string> problems;
    eventually([&] {
        problems = audit_chain(hq, chain, tills, members);
        return problems.empty();
    });
    return problems;
}

namespace {

// "NAME exited (signal N)" with the end of its log, or nothing while it runs.
std::optional<std::string> exited(const std::string& name, ChildProcess& process) {
    const auto status = process.wait_for_exit(std::chrono::milliseconds(0));
    if (!status) return std::nullopt;
    const std::string log = process.stderr_text();
    return name + " exited (" + (status->signalled ? "signal " + std::to_string(status->signal)
                                                   : "code " + std::to_string(status->code)) +
           "), its log ends: " + log.substr(log.size() > 2'000 ? log.size() - 2'000 : 0);
}

std::vector<std::string> audit_databases(HeadOffice& hq, const Chain& chain, const std::vector<SyncedTill*>& tills,
                                         const std::vector<std::string>& members);

}  // namespace

std::vector<std::string> audit_chain(HeadOffice& hq, const Chain& chain, const std::vector<SyncedTill*>& tills,
                                     const std::vector<std::string>& members) {
    std::vector<std::string> problems;
    if (auto gone = exited("loyalty-hq", hq.process())) problems.push_back(*gone);
    for (SyncedTill* till : tills)
        if (auto gone = exited("loyaltyd " + till->till_id(), till->process())) problems.push_back(*gone);
    if (!problems.empty()) return problems;
    try {
        return audit_databases(hq, chain, tills, members);
    } catch (const std::exception& error) {
        return {std::string("audit failed: ") + error.what()};
    }
}

namespace {

std::vector<std::string> audit_databases(HeadOffice& hq, const Chain& chain, const std::vector<SyncedTill*>& tills,
                                         const std::vector<std::string>& members) {
    std::vector<std::string> problems;
    const auto expect_equal = [&](const std::string& what, const auto& found, const auto& wanted) {
        if (found != wanted) {
            std::ostringstream line;
            line << what << ": " << found << ", expected " << wanted;
            problems.push_back(line.str());
        }
    };
    ReadOnlyDatabase office(chain.database());
    for (SyncedTill* till : tills) {
        const std::string& id = till->till_id();
        ReadOnlyDatabase local(till->database());
        const std::int64_t last = local.integer("SELECT COALESCE(MAX(seq), 0) FROM outbox");
        expect_equal(id + " outbox events (1..last, no gap)", local.integer("SELECT COUNT(*) FROM outbox"), last);
        expect_equal(id + " acknowledged seq at the till",
                     local.integer("SELECT COALESCE(MAX(CAST(value AS INTEGER)), 0) FROM settings "
                                   "WHERE key = 'outbox_acknowledged'"),
                     last);
        expect_equal(id + " events at head office", office.integer("SELECT COUNT(*) FROM till_events WHERE till_id = ?", id),
                     last);
        expect_equal(id + " distinct seqs at head office",
                     office.integer("SELECT COUNT(DISTINCT seq) FROM till_events WHERE till_id = ?", id), last);
        expect_equal(id + " highest seq at head office",
                     office.integer("SELECT COALESCE(MAX(seq), 0) FROM till_events WHERE till_id = ?", id), last);
        expect_equal(id + " events applied to head office's ledger",
                     office.integer("SELECT COUNT(*) FROM applied_events WHERE origin = ?", id), last);
        expect_equal(id + " last_seq in hq_tills", office.integer("SELECT last_seq FROM hq_tills WHERE till_id = ?", id),
                     last);
        expect_equal(id + " purchases at head office",
                     office.integer("SELECT COUNT(*) FROM purchases WHERE txn_id LIKE ? || '/%'", id),
                     local.integer("SELECT COUNT(*) FROM purchases WHERE txn_id NOT LIKE '%/%'"));
    }
    const std::string entries = "SELECT entry_id || ' ' || points FROM ledger WHERE member_id = ? ORDER BY entry_id";
    const std::string sum = "SELECT COALESCE(SUM(points), 0) FROM ledger WHERE member_id = ?";
    for (const std::string& member : members) {
        const std::vector<std::string> at_office = office.rows(entries, member);
        const std::int64_t office_sum = office.integer(sum, member);
        expect_equal(member + " balance at head office", hq.balance(member), office_sum);
        expect_equal(member + " lots at head office",
                     office.integer("SELECT COALESCE(SUM(remaining), 0) FROM lots WHERE member_id = ?", member),
                     office_sum);
        for (SyncedTill* till : tills) {
            ReadOnlyDatabase local(till->database());
            const std::vector<std::string> at_till = local.rows(entries, member);
            if (at_till != at_office)
                problems.push_back(member + " ledger at " + till->till_id() + ": " + std::to_string(at_till.size()) +
                                   " entries, head office has " + std::to_string(at_office.size()) +
                                   (at_till.size() == at_office.size() ? " (different ones)" : ""));
            expect_equal(member + " balance at " + till->till_id(), till->balance(member), office_sum);
        }
    }
    return problems;
}

}  // namespace

}  // namespace loyalty::test
