#include "downstream_items.hpp"

#include "loyalty/store.hpp"

namespace loyalty::sync {

namespace {

using nlohmann::json;

// Config versions are applied as "rules" events of this pseudo-origin, so they share the
// (origin, seq) exactly-once record with every other remote event.
constexpr std::string_view config_origin = "HQ-config";

}  // namespace

std::optional<std::string> apply_downstream_item(Program& program, const protocol::DownstreamItem& item,
                                                 std::string_view own_till_id) {
    std::string origin;
    OutboxEvent event;
    try {
        switch (item.kind) {
            case protocol::DownstreamKind::member: {
                origin = item.data.at("origin").get<std::string>();
                const json& body = item.data.at("event");
                event = {body.at("seq").get<std::int64_t>(), body.at("type").get<std::string>(),
                         body.at("payload"), body.at("created_at").get<Timestamp>()};
                // This node's own events are already in its ledger; they carry no news.
                if (origin == own_till_id) return std::nullopt;
                break;
            }
            case protocol::DownstreamKind::config:
                origin = config_origin;
                event = {static_cast<std::int64_t>(item.version), "rules",
                         json{{"rules", item.data.at("rules")}}, 0};
                break;
            case protocol::DownstreamKind::offer:
                origin = offers_origin;
                event = {item.data.at("seq").get<std::int64_t>(), item.data.at("type").get<std::string>(),
                         item.data.at("payload"), 0};
                break;
        }
    } catch (const json::exception& error) {
        return std::string("malformed item: ") + error.what();
    }
    const Result<bool> applied = program.apply_remote_event(origin, event);
    if (!applied) return applied.error().code + ": " + applied.error().message;
    return std::nullopt;
}

std::uint64_t stored_downstream_version(Program& program) {
    return static_cast<std::uint64_t>(
        program.database()
            .query_integer("SELECT CAST(value AS INTEGER) FROM settings WHERE key = ?", downstream_version_key)
            .value_or(0));
}

void store_downstream_version(Program& program, std::uint64_t version) {
    Database& database = program.database();
    Transaction transaction(database);
    database
        .prepare("INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                 "value = excluded.value "
                 "WHERE CAST(excluded.value AS INTEGER) > CAST(value AS INTEGER)")
        .bind(downstream_version_key, std::to_string(version))
        .run();
    transaction.commit();
}

}  // namespace loyalty::sync
