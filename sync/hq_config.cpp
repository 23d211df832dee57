#include "hq_config.hpp"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "loyalty/json_reader.hpp"
#include "till_config.hpp"

namespace loyalty::hq {

namespace {

using std::chrono::milliseconds;

// Fills address and port from "ADDRESS:PORT" if the text is not empty.
Result<Done> listen_into(const std::string& text, const std::string& field, std::string& address,
                         std::uint16_t& port) {
    if (text.empty()) return Done{};
    auto parsed = pos::parse_listen(text, field);
    if (!parsed) return parsed.error();
    std::tie(address, port) = *parsed;
    return Done{};
}

// "segmentation": {"daily_at": "HH:MM" (UTC), "horizon_days", "keep_member_results",
// "check_interval_seconds", "enabled"}; the section's presence turns the schedule on.
void read_segmentation(JsonReader& reader, SegmentationSchedule& schedule) {
    const nlohmann::json* section = reader.object("segmentation");
    if (!section) return;
    JsonReader nested(*section, reader.path("segmentation"));
    schedule.enabled = nested.boolean("enabled", true);
    const std::string daily_at = nested.text("daily_at", 5, "02:00");
    schedule.horizon_days = static_cast<std::int32_t>(nested.integer("horizon_days", 1, 3650, schedule.horizon_days));
    schedule.keep_member_results = static_cast<std::size_t>(
        nested.integer("keep_member_results", 0, 100'000, static_cast<std::int64_t>(schedule.keep_member_results)));
    schedule.check_interval =
        std::chrono::seconds(nested.integer("check_interval_seconds", 1, 86'400, schedule.check_interval.count()));
    nested.only({"enabled", "daily_at", "horizon_days", "keep_member_results", "check_interval_seconds"});
    unsigned hours = 24, minutes = 60;
    char colon = 0;
    std::istringstream time(daily_at);
    if (nested.ok() && (daily_at.size() != 5 || !(time >> hours >> colon >> minutes) || colon != ':' ||
                        hours > 23 || minutes > 59))
        nested.fail("daily_at", "must be a UTC time of day written HH:MM, e.g. \"02:00\"");
    schedule.daily_at_minutes = static_cast<std::int32_t>(hours * 60 + minutes);
    reader.adopt(nested);
}

}  // namespace

Result<HqConfig> parse_hq_config(const std::string& json_text, HqConfig config) {
    const auto document = nlohmann::json::parse(json_text, nullptr, false);
    if (document.is_discarded() || !document.is_object())
        return Error{ErrorKind::invalid, "malformed_json", "the config file is not a JSON object", "config"};
    JsonReader reader(document, "");
    config.database = reader.text("database", 4096, config.database);
    config.rules_file = reader.text("rules_file", 4096, config.rules_file);
    const std::string durability = reader.text("durability", 16, "full");
    const std::string sync_listen = reader.text("sync_listen", 300, "");
    const std::string admin_listen = reader.text("admin_listen", 300, "");
    const std::string token = reader.text("admin_token", 512, config.admin_token.value_or(""));
    const std::string web_listen = reader.text("web_listen", 300, "");
    config.web.trusted_proxy = reader.text("web_trusted_proxy", 64, config.web.trusted_proxy);
    config.web.secure_cookies = reader.boolean("web_secure_cookies", config.web.secure_cookies);
    SyncServerConfig& sync = config.sync;
    sync.tls.ca_file = reader.text("ca_file", 4096, sync.tls.ca_file.string());
    sync.tls.certificate_file = reader.text("certificate_file", 4096, sync.tls.certificate_file.string());
    sync.tls.private_key_file = reader.text("private_key_file", 4096, sync.tls.private_key_file.string());
    const std::string min_tls = reader.text("min_tls_version", 8, "1.2");
    sync.heartbeat_interval =
        milliseconds(reader.integer("heartbeat_interval_ms", 100, 3'600'000, sync.heartbeat_interval.count()));
    sync.idle_timeout = milliseconds(reader.integer("idle_timeout_ms", 200, 3'600'000, sync.idle_timeout.count()));
    sync.hello_timeout = milliseconds(reader.integer("hello_timeout_ms", 100, 600'000, sync.hello_timeout.count()));
    sync.feed_poll_interval =
        milliseconds(reader.integer("feed_poll_interval_ms", 10, 60'000, sync.feed_poll_interval.count()));
    sync.max_clock_skew = std::chrono::seconds(
        reader.integer("max_clock_skew_seconds", 1, 366 * 86'400, sync.max_clock_skew.count()));
    config.retention_days = reader.integer("retention_days", 0, 100 * 366, config.retention_days);
    reader.only({"database", "rules_file", "durability", "sync_listen", "admin_listen", "admin_token",
                 "web_listen", "web_trusted_proxy", "web_secure_cookies", "ca_file", "certificate_file", "private_key_file", "min_tls_version",
                 "heartbeat_interval_ms", "idle_timeout_ms", "hello_timeout_ms", "feed_poll_interval_ms",
                 "max_clock_skew_seconds", "segmentation", "playbook", "retention_days", "engagement", "online"});
    read_segmentation(reader, config.segmentation);
    read_playbook(reader, config.playbook);
    read_online_config(reader, config.online);
    if (const nlohmann::json* engagement = reader.object("engagement")) {
        JsonReader nested(*engagement, reader.path("engagement"));
        config.engagement = read_engagement_rules(nested);
        reader.adopt(nested);
    }
    if (!reader.ok()) return reader.error();
    if (durability != "full" && durability != "normal")
        return invalid("durability", "durability must be \"full\" or \"normal\"");
    config.durability = durability == "full" ? Durability::full : Durability::normal;
    const auto version = tls::parse_tls_version(min_tls);
    if (!version) return invalid("min_tls_version", "min_tls_version must be \"1.2\" or \"1.3\"");
    sync.tls.min_version = *version;
    if (sync.idle_timeout <= sync.heartbeat_interval)
        return invalid("idle_timeout_ms", "idle_timeout_ms must be longer than heartbeat_interval_ms");
    if (!token.empty()) config.admin_token = token;
    if (auto done = listen_into(sync_listen, "sync_listen", sync.address, sync.port); !done) return done.error();
    if (auto done = listen_into(admin_listen, "admin_listen", config.admin_address, config.admin_port); !done)
        return done.error();
    if (auto done = listen_into(web_listen, "web_listen", config.web.address, config.web.port); !done)
        return done.error();
    config.web.enabled = config.web.enabled || !web_listen.empty();
    return config;
}

Result<HqConfig> read_hq_config(const std::string& path) {
    std::ifstream in(path);
    if (!in) return invalid("config", "cannot read the config file " + path);
    std::ostringstream text;
    text << in.rdbuf();
    return parse_hq_config(text.str());
}

Result<HqConfig> apply_overrides(HqConfig config, const std::optional<std::string>& listen,
                                 const std::optional<std::string>& database) {
    if (listen)
        if (auto done = listen_into(*listen, "--listen", config.sync.address, config.sync.port); !done)
            return done.error();
    if (database) config.database = *database;
    return config;
}

}  // namespace loyalty::hq
