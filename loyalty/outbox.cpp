#include "loyalty/outbox.hpp"

#include "loyalty/store.hpp"

namespace loyalty {

namespace {

constexpr std::string_view acknowledged_key = "outbox_acknowledged";

}  // namespace

std::int64_t Outbox::append(const std::string& type, const nlohmann::json& payload, Timestamp at) {
    // seq = last + 1 inside the writer's transaction: no gaps, even after a rollback.
    const std::int64_t seq = last_seq() + 1;
    database_.prepare("INSERT INTO outbox(seq, type, payload, created_at) VALUES (?, ?, ?, ?)")
        .bind(seq, type, payload.dump(), at)
        .run();
    return seq;
}

std::vector<OutboxEvent> Outbox::pending(std::int64_t limit) { return pending_after(acknowledged(), limit); }

std::vector<OutboxEvent> Outbox::pending_after(std::int64_t seq, std::int64_t limit) {
    Statement& statement = database_.prepare(
        "SELECT seq, type, payload, created_at FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?");
    statement.bind(seq, limit);
    std::vector<OutboxEvent> events;
    while (statement.step()) {
        events.push_back({statement.integer(0), statement.text(1),
                          nlohmann::json::parse(statement.text(2)), statement.integer(3)});
    }
    return events;
}

std::int64_t Outbox::pending_count() { return last_seq() - acknowledged(); }

void Outbox::acknowledge(std::int64_t seq) {
    if (forget_phones_)
        database_
            .prepare("UPDATE outbox SET payload = json_replace(payload, '$.member.phone', '') WHERE seq > ? "
                     "AND seq <= ? AND json_extract(payload, '$.member.phone') <> ''")
            .bind(acknowledged(), seq)
            .run();
    database_
        .prepare("INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                 "value = excluded.value WHERE CAST(excluded.value AS INTEGER) > CAST(value AS INTEGER)")
        .bind(acknowledged_key, std::to_string(std::min(seq, last_seq())))
        .run();
}

std::int64_t Outbox::acknowledged() {
    return database_
        .query_integer("SELECT CAST(value AS INTEGER) FROM settings WHERE key = ?", acknowledged_key)
        .value_or(0);
}

std::int64_t Outbox::last_seq() {
    return database_.query_integer("SELECT MAX(seq) FROM outbox").value_or(0);
}

}  // namespace loyalty
