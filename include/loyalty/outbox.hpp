// The outbox: every state change writes an event row in the same transaction as the change
// itself, numbered by a per-node sequence without gaps, so the sync agent can ship exactly
// what happened, in order, and resume after any failure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loyalty/clock.hpp"

namespace loyalty {

class Database;

struct OutboxEvent {
    std::int64_t seq = 0;  // 1, 2, 3... per node, no gaps
    std::string type;      // "member_enrolled", "purchase", "return", "void", ...
    nlohmann::json payload;
    Timestamp created_at = 0;
};

class Outbox {
public:
    // `forget_phones`: once head office has an event, the member phone number it carries is
    // blanked here (a till keeps numbers only as keyed hashes, identifier_key.hpp).
    explicit Outbox(Database& database, bool forget_phones = false)
        : database_(database), forget_phones_(forget_phones) {}

    // Appends an event; call inside the transaction of the change it describes.
    std::int64_t append(const std::string& type, const nlohmann::json& payload, Timestamp at);
    // Events after the acknowledged sequence, oldest first, at most `limit`.
    std::vector<OutboxEvent> pending(std::int64_t limit);
    // Events after `seq`, oldest first, at most `limit` (the sync agent's next batch starts
    // after those already sent).
    std::vector<OutboxEvent> pending_after(std::int64_t seq, std::int64_t limit);
    std::int64_t pending_count();
    // Records that head office stored everything up to `seq`. Never moves backwards.
    void acknowledge(std::int64_t seq);
    std::int64_t acknowledged();
    std::int64_t last_seq();

private:
    Database& database_;
    bool forget_phones_;
};

}  // namespace loyalty
