// Test support for a whole chain on loopback: a CA and head office's certificate made by the
// project's own tool (packaging/certs/loyalty-certs), a real loyalty-hq process, and real
// loyaltyd tills enrolled with `loyalty-hq till add` and syncing over mutual TLS. Used by the
// integration and reliability tests that kill, partition and skew these processes.
//
// Failures throw std::runtime_error naming what went wrong (Catch reports them); every wait
// is bounded; processes still running at destruction are SIGKILLed and reaped.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "loyalty/http_client.hpp"
#include "support/certificates.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace loyalty::test {

void write_file(const std::filesystem::path& path, const std::string& text);

// A loopback port nobody listens on right now.
std::uint16_t free_port();
// A Luhn-valid card number, distinct for each n (and from core_fixture's valid_card).
std::string card_number(int n);
// Polls `done` every 50 ms until it holds or `limit` passed; the last answer.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = std::chrono::seconds(60));
// The response's JSON if its status is `status`; otherwise throws with the body.
nlohmann::json expect(const http::ClientResponse& response, int status);

// The chain's CA, head office's certificate for 127.0.0.1, its config and database. Head
// office's sync port is chosen once and kept across restarts.
class Chain {
  public:
    // `hq_settings` is merged into head office's config (e.g. max_clock_skew_seconds).
    explicit Chain(const nlohmann::json& hq_settings = nlohmann::json::object());

    std::filesystem::path certs() const { return dir_.path() / "certs"; }
    std::filesystem::path config() const { return dir_.path() / "hq.json"; }
    std::filesystem::path database() const { return dir_.path() / "hq.db"; }
    const std::filesystem::path& dir() const { return dir_.path(); }
    std::uint16_t sync_port() const { return sync_port_; }

    // `loyalty-hq till add STORE TILL`: certificate and registry entry in one command.
    void add_till(const std::string& store, const std::string& till) const;
    // A certificate from the chain's CA without a registry entry.
    void certify_till(const std::string& store, const std::string& till) const;
    void revoke_till(const std::string& till_id) const;
    // `loyalty-hq` with `arguments` and --config; its exit code.
    int hq_command(const std::string& arguments) const;
    // `loyalty-hq` with `arguments` and --config; its standard output (throws if it fails).
    std::string hq_output(const std::string& arguments) const;

  private:
    TempDir dir_;
    std::uint16_t sync_port_;
};

// loyalty-hq serve on the chain's config; an admin client without a token.
class HeadOffice {
  public:
    explicit HeadOffice(const Chain& chain);
    void start();
    ExitStatus kill();
    http::HttpClient& admin() { return *admin_; }
    std::string stderr_text() const { return process_->stderr_text(); }
    ChildProcess& process() { return *process_; }
    // The member's balance at head office, or -1 when it does not know them.
    std::int64_t balance(const std::string& member_id);
    // The till's entry in GET /v1/tills; throws when absent.
    nlohmann::json till(const std::string& till_id);

  private:
    const Chain& chain_;
    int starts_ = 0;
    std::optional<ChildProcess> process_;
    std::optional<http::HttpClient> admin_;
};

struct TillOptions {
    bool registered = true;  // false: certified by the CA but never added at head office
    // Where the till's sync connects; 0: head office's own port (a proxy's port otherwise).
    std::uint16_t sync_port = 0;
    std::map<std::string, std::string> env;  // added to loyaltyd's environment
    nlohmann::json settings = nlohmann::json::object();  // merged into loyaltyd's config
};

// loyaltyd with a "sync" section: heartbeats every second, backoff 50 ms to 1 s.
class SyncedTill {
  public:
    SyncedTill(const Chain& chain, const std::string& store, const std::string& till, TillOptions options = {});
    void start();
    ExitStatus kill();
    http::HttpClient& api() { return *client_; }
    const std::string& till_id() const { return till_id_; }
    std::filesystem::path database() const { return dir_.path() / "till.db"; }
    const std::filesystem::path& dir() const { return dir_.path(); }
    std::string stderr_text() const { return process_->stderr_text(); }
    ChildProcess& process() { return *process_; }

    nlohmann::json sync_status();
    // Connected, with nothing left to send.
    bool synced();
    // The member's balance here, or -1 when the till does not know them.
    std::int64_t balance(const std::string& member_id);
    // Enrols a member with card_number(n); the member id.
    std::string enroll(int n);
    // POST /v1/purchases of one line of `cents`, optionally paying `redeem` points.
    http::ClientResponse buy(const std::string& txn_id, const std::string& member_id, std::int64_t cents,
                             std::int64_t redeem = 0);

  private:
    std::filesystem::path config() const { return dir_.path() / "loyaltyd.json"; }
    TempDir dir_;
    std::string till_id_;
    TillOptions options_;
    int starts_ = 0;
    std::optional<ChildProcess> process_;
    std::optional<http::HttpClient> client_;
};

// A cashier at one till on its own thread: purchases of 1.00 to 99.99 for the members in
// turn, a few ms apart, until stop() (or 5000 sales). Every sale must be acknowledged (201):
// a till sells whatever happens to head office or the network.
class Cashier {
  public:
    Cashier(SyncedTill& till, std::vector<std::string> members, unsigned seed);
    ~Cashier();  // stop()
    Cashier(const Cashier&) = delete;
    Cashier& operator=(const Cashier&) = delete;

    void stop();
    int acknowledged() const { return acknowledged_; }
    // Sales not acknowledged, with the answer; read after stop().
    const std::vector<std::string>& failures() const { return failures_; }

  private:
    void run();

    SyncedTill& till_;
    std::vector<std::string> members_;
    std::mt19937 random_;
    std::atomic<bool> stopping_{false};
    std::atomic<int> acknowledged_{0};
    std::vector<std::string> failures_;
    std::thread thread_;
};

// What must hold once a chain has healed: for every till, head office holds each of its outbox
// events exactly once ((till, seq) stored once, applied to the ledger once, 1..last with no
// gap), head office's and the till's acknowledged seq are the till's last seq, and its
// purchases are at head office once each; for every member in `members`, head office and every
// till hold the same ledger entries, and each balance (admin API, till API) is the ledger's
// sum. Returns what does not hold, one line each (empty: all holds), so tests can poll it; a
// daemon that has exited, or a request that failed, is one of those lines.
std::vector<std::string> audit_chain(HeadOffice& hq, const Chain& chain, const std::vector<SyncedTill*>& tills,
                                     const std::vector<std::string>& members);
// audit_chain, polled until all holds or 60 s passed (a chain heals in its own time): what
// still does not hold.
std::vector<std::string> audit_until_healed(HeadOffice& hq, const Chain& chain, const std::vector<SyncedTill*>& tills,
                                            const std::vector<std::string>& members);

}  // namespace loyalty::test
