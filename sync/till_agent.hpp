// The till's sync agent: one persistent mutual-TLS connection to head office (docs/PROTOCOL.md)
// that ships the outbox upstream, applies what head office sends downstream and answers
// member look-ups for members this till has never seen.
//
// The agent owns a thread with its own io_context and its own Program on the till's database
// (SQLite WAL, BEGIN IMMEDIATE on both connections), so it never shares a Program with the
// HTTP side. Exactly-once: outbox events are acknowledged locally only up to head office's
// Ack, and every downstream item is applied with Program::apply_remote_event (idempotent by
// origin and seq) before the cursor "sync_downstream_version" is stored and acknowledged, so a
// crash anywhere causes replays, never losses or doubles.
//
// Thread-safety: start(), stop(), status(), connected() and query_member() may be called from
// any thread. The constructor throws std::runtime_error when the TLS files are unusable (a
// start-up error); after that every failure is logged, shown by status() and retried with
// exponential backoff and jitter.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "downstream_items.hpp"
#include "loyalty/clock.hpp"
#include "loyalty/program.hpp"
#include "loyalty/protocol.hpp"
#include "loyalty/rules.hpp"
#include "loyalty/tls.hpp"

namespace loyalty::sync {

struct TillAgentSettings {
    std::string till_id;           // "STORE-TILL", as in the till's certificate
    std::string host;              // where head office is reached
    std::uint16_t port = 7443;
    std::string server_name;       // the name its certificate must carry; empty: host
    tls::ClientSettings tls;
    std::string software_version;  // sent in Hello
    std::size_t batch_size = 500;  // outbox events per EventBatch (fewer if the frame is large)
    // EventBatches sent and not yet acknowledged (at least 1): with 2, the till reads and sends
    // its next batch while head office stores the last one (docs/PROTOCOL.md).
    std::size_t batches_in_flight = 2;
    std::chrono::milliseconds heartbeat_interval{15'000};
    // Nothing received for this long drops the connection (default: three heartbeats).
    std::chrono::milliseconds idle_timeout{45'000};
    std::chrono::milliseconds io_timeout{10'000};     // connect + handshake, and each write
    std::chrono::milliseconds outbox_poll{250};       // how often new outbox events are looked for
    std::chrono::milliseconds min_backoff{100};
    std::chrono::milliseconds max_backoff{30'000};
};

class TillAgent {
  public:
    // `program_options`, `clock` and `rules` open the agent's own Program on its thread;
    // `clock` must outlive the agent.
    TillAgent(TillAgentSettings settings, ProgramOptions program_options, const Clock& clock,
              RuleSet rules);
    ~TillAgent();  // stop()
    TillAgent(const TillAgent&) = delete;
    TillAgent& operator=(const TillAgent&) = delete;

    void start();
    // Closes the connection and joins the thread; bounded (a few seconds at most).
    void stop();

    // {connected, last_success (ISO 8601 or null), last_error (string or null),
    //  pending_events, downstream_version}
    nlohmann::json status() const;
    // True while head office answers on a live connection (the offline redemption cap uses it).
    bool connected() const { return connected_.load(); }

    // Asks head office for a member this till has never seen. The member snapshot
    // (Program::member_snapshot's JSON) if head office knows them; nullopt when it does not,
    // when the till is offline, or when no answer came within `timeout`.
    std::optional<nlohmann::json> query_member(protocol::MemberKey key, std::string value,
                                               std::chrono::milliseconds timeout);

    struct Impl;  // the agent thread's state

  private:
    std::unique_ptr<Impl> impl_;
    std::atomic<bool> connected_{false};
};

}  // namespace loyalty::sync
