#include "till_config.hpp"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "loyalty/json_reader.hpp"
#include "loyalty_version.hpp"

namespace loyalty::pos {

namespace {

using std::chrono::milliseconds;

Result<std::string> read_file(const std::string& path, const std::string& field) {
    std::ifstream in(path);
    if (!in) return invalid(field, "cannot read " + field + " file " + path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// The "sync" section; every error names its field as "sync.<key>".
Result<SyncConfig> parse_sync_config(const nlohmann::json& section) {
    JsonReader reader(section, "sync");
    SyncConfig sync;
    const std::string server = reader.text("server", 300);
    sync.server_name = reader.text("server_name", 253, "");
    sync.ca_file = reader.text("ca_file", 4096);
    sync.certificate_file = reader.text("certificate_file", 4096);
    sync.private_key_file = reader.text("private_key_file", 4096);
    if (const nlohmann::json* pins = reader.array("pinned_public_keys")) {
        for (const nlohmann::json& pin : *pins) {
            if (!pin.is_string() || pin.get<std::string>().empty() || pin.get<std::string>().size() > 200) {
                reader.fail("pinned_public_keys", "must list SHA-256 pins as strings (loyalty-certs pin CERT)");
                break;
            }
            sync.pinned_public_keys.push_back(pin.get<std::string>());
        }
    }
    sync.min_tls_version = reader.text("min_tls_version", 8, sync.min_tls_version);
    sync.batch_size = static_cast<int>(reader.integer("batch_size", 1, 5'000, sync.batch_size));
    sync.heartbeat_seconds =
        static_cast<int>(reader.integer("heartbeat_seconds", 1, 3'600, sync.heartbeat_seconds));
    sync.query_timeout_ms =
        static_cast<int>(reader.integer("query_timeout_ms", 0, 10'000, sync.query_timeout_ms));
    sync.min_backoff_ms = static_cast<int>(reader.integer("min_backoff_ms", 10, 600'000, sync.min_backoff_ms));
    sync.max_backoff_ms = static_cast<int>(reader.integer("max_backoff_ms", 10, 3'600'000, sync.max_backoff_ms));
    sync.queued_retry_seconds =
        static_cast<int>(reader.integer("queued_retry_seconds", 1, 86'400, sync.queued_retry_seconds));
    reader.only({"server", "server_name", "ca_file", "certificate_file", "private_key_file",
                 "pinned_public_keys", "min_tls_version", "batch_size", "heartbeat_seconds",
                 "query_timeout_ms", "min_backoff_ms", "max_backoff_ms", "queued_retry_seconds"});
    if (!reader.ok()) return reader.error();
    auto address = parse_listen(server, "sync.server");
    if (!address) return invalid("sync.server", "sync.server must be HOST:PORT, e.g. hq.example:7443");
    std::tie(sync.host, sync.port) = *address;
    if (sync.port == 0) return invalid("sync.server", "sync.server needs a port from 1 to 65535");
    if (sync.server_name.empty()) sync.server_name = sync.host;
    if (sync.min_backoff_ms > sync.max_backoff_ms)
        return invalid("sync.min_backoff_ms", "sync.min_backoff_ms must not exceed sync.max_backoff_ms");
    if (sync.min_tls_version != "1.2" && sync.min_tls_version != "1.3")
        return invalid("sync.min_tls_version", "sync.min_tls_version must be \"1.2\" or \"1.3\"");
    return sync;
}

}  // namespace

Result<std::pair<std::string, std::uint16_t>> parse_listen(const std::string& text,
                                                           const std::string& field) {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0)
        return invalid(field, field + " must be ADDRESS:PORT, e.g. 127.0.0.1:8080");
    const std::string port_text = text.substr(colon + 1);
    if (port_text.empty() || port_text.size() > 5 ||
        port_text.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(port_text) > 65535)
        return invalid(field, field + " has a port that is not a number from 0 to 65535");
    return std::pair{text.substr(0, colon), static_cast<std::uint16_t>(std::stoi(port_text))};
}

Result<TillConfig> parse_till_config(const std::string& json_text, TillConfig config) {
    const auto document = nlohmann::json::parse(json_text, nullptr, false);
    if (document.is_discarded())
        return Error{ErrorKind::invalid, "malformed_json", "the config file is not valid JSON", "config"};
    JsonReader reader(document, "");
    config.till_id = reader.text("till_id", 64, config.till_id);
    config.store_id = reader.text("store_id", 64, config.store_id);
    const std::string listen = reader.text("listen", 300, "");
    config.database = reader.text("database", 4096, config.database);
    config.identifier_key_file = reader.text("identifier_key_file", 4096, config.identifier_key_file);
    config.rules_file = reader.text("rules_file", 4096, config.rules_file);
    const std::string token = reader.text("api_token", 512, config.api_token.value_or(""));
    const std::string durability = reader.text("durability", 16, "full");
    config.body_limit_bytes = static_cast<std::size_t>(
        reader.integer("body_limit_bytes", 1024, 64 * 1024 * 1024, config.body_limit_bytes));
    config.header_timeout = milliseconds(
        reader.integer("header_timeout_ms", 100, 600'000, config.header_timeout.count()));
    config.idle_timeout =
        milliseconds(reader.integer("idle_timeout_ms", 100, 3'600'000, config.idle_timeout.count()));
    config.void_window_hours =
        static_cast<int>(reader.integer("void_window_hours", 0, 24 * 7, config.void_window_hours));
    config.maintenance_interval_seconds = static_cast<int>(reader.integer(
        "maintenance_interval_seconds", 1, 86'400, config.maintenance_interval_seconds));
    config.personal_data_days =
        static_cast<int>(reader.integer("personal_data_days", 0, 3650, config.personal_data_days));
    config.queued_purchase_days =
        static_cast<int>(reader.integer("queued_purchase_days", 1, 3650, config.queued_purchase_days));
    config.offline_redemption_cap_points = reader.integer(
        "offline_redemption_cap_points", 0, 1'000'000'000, config.offline_redemption_cap_points);
    const nlohmann::json* sync = reader.object("sync");
    reader.only({"till_id", "store_id", "listen", "database", "identifier_key_file", "rules_file", "api_token",
                 "durability", "body_limit_bytes", "header_timeout_ms", "idle_timeout_ms",
                 "void_window_hours", "maintenance_interval_seconds",
                 "offline_redemption_cap_points", "personal_data_days", "queued_purchase_days", "sync"});
    if (!reader.ok()) return reader.error();
    if (config.till_id.empty()) return invalid("till_id", "till_id must not be empty");
    if (durability != "full" && durability != "normal")
        return invalid("durability", "durability must be \"full\" or \"normal\"");
    config.durability = durability == "full" ? Durability::full : Durability::normal;
    if (!token.empty()) config.api_token = token;
    if (!listen.empty()) {
        auto parsed = parse_listen(listen, "listen");
        if (!parsed) return parsed.error();
        std::tie(config.listen_address, config.listen_port) = *parsed;
    }
    if (sync) {
        auto parsed = parse_sync_config(*sync);
        if (!parsed) return parsed.error();
        config.sync = *parsed;
    }
    return config;
}

Result<TillCommandLine> parse_till_command_line(const std::vector<std::string>& args) {
    TillCommandLine command;
    std::optional<std::string> listen, database;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        const auto value = [&](const std::string& flag) -> Result<std::string> {
            if (i + 1 >= args.size()) return invalid(flag, flag + " needs a value");
            return args[++i];
        };
        if (arg == "--help" || arg == "-h") {
            command.show_help = true;
        } else if (arg == "--version") {
            command.show_version = true;
        } else if (arg == "--config" || arg == "--listen" || arg == "--db") {
            auto text = value(arg);
            if (!text) return text.error();
            if (arg == "--listen") listen = *text;
            else if (arg == "--db") database = *text;
            else {
                auto file = read_file(*text, "config");
                if (!file) return file.error();
                auto config = parse_till_config(*file);
                if (!config) return config.error();
                command.config = *config;
            }
        } else {
            return invalid(arg, "unknown option " + arg + "; see --help");
        }
    }
    if (listen) {
        auto parsed = parse_listen(*listen, "--listen");
        if (!parsed) return parsed.error();
        std::tie(command.config.listen_address, command.config.listen_port) = *parsed;
    }
    if (database) command.config.database = *database;
    return command;
}

std::string till_usage() {
    return "usage: loyaltyd [--config FILE] [--listen ADDRESS:PORT] [--db FILE] [--help] [--version]\n"
           "\n"
           "The till's loyalty daemon: a local HTTP/JSON API for the POS (see docs/openapi.yaml).\n"
           "  --config FILE          JSON config (till_id, store_id, listen, database, rules_file,\n"
           "                         api_token, durability, body_limit_bytes, ...,\n"
           "                         sync: {server, ca_file, certificate_file, private_key_file, ...})\n"
           "  --listen ADDRESS:PORT  where to serve the API (default 127.0.0.1:8080; port 0 picks one)\n"
           "  --db FILE              the SQLite database (created if missing)\n"
           "\n"
           "       loyaltyd backup --db FILE --to FILE\n"
           "  Copies the live database to FILE (consistent while loyaltyd runs); see docs/OPERATIONS.md.\n";
}

std::string version_string(const std::string& program) {
    return program + " " + LOYALTY_VERSION + " (git " + LOYALTY_GIT_REVISION + ")";
}

}  // namespace loyalty::pos
