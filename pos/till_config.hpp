// loyaltyd's configuration: a JSON file, then command-line flags on top. Invalid values are
// refused at start with a message naming the field, so a till never runs half-configured.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "loyalty/result.hpp"
#include "loyalty/store.hpp"

namespace loyalty::pos {

// The "sync" section: how to reach head office. Without it the till runs standalone.
struct SyncConfig {
    std::string host;         // from "server": "hq.example:7443"
    std::uint16_t port = 0;
    std::string server_name;  // the name head office's certificate must carry; default host
    std::string ca_file;
    std::string certificate_file;
    std::string private_key_file;
    std::vector<std::string> pinned_public_keys;
    std::string min_tls_version = "1.2";  // "1.2" or "1.3"
    int batch_size = 500;
    int heartbeat_seconds = 15;
    int query_timeout_ms = 500;  // how long a lookup of an unknown member waits for head office
    // Reconnection waits grow from the first to the second, doubling, with jitter.
    int min_backoff_ms = 100;
    int max_backoff_ms = 30'000;
    // How often cards with queued purchases are asked of head office.
    int queued_retry_seconds = 60;
};

struct TillConfig {
    std::string till_id = "S01-T1";
    std::string store_id = "S01";
    std::string listen_address = "127.0.0.1";
    std::uint16_t listen_port = 8080;
    std::string database = "loyalty-till.db";
    // The secret under which phone numbers are kept as keyed hashes (identifier_key.hpp),
    // made on first start; empty: the database's path and ".key".
    std::string identifier_key_file;
    std::string rules_file;  // empty: the built-in demo rules
    std::optional<std::string> api_token;
    Durability durability = Durability::full;
    std::size_t body_limit_bytes = 256 * 1024;
    std::chrono::milliseconds header_timeout{5'000};
    std::chrono::milliseconds idle_timeout{60'000};
    int void_window_hours = 24;
    int maintenance_interval_seconds = 3600;  // expiry and tier runs
    // Name and e-mail are kept only for members seen here within this many days; the
    // maintenance run blanks the others' (personal_data.hpp). 0: kept.
    int personal_data_days = 0;
    // A purchase queued for a card head office still does not know after this many days is
    // refused and its card forgotten (Program::refuse_stale_queued_purchases).
    int queued_purchase_days = 30;
    // Points one member may redeem a day here while head office cannot be reached.
    std::int64_t offline_redemption_cap_points = 2'000;
    std::optional<SyncConfig> sync;
};

// What the command line asked for.
struct TillCommandLine {
    TillConfig config;
    bool show_help = false;
    bool show_version = false;
};

// Reads the config file named by --config (if any), then applies --listen and --db.
Result<TillCommandLine> parse_till_command_line(const std::vector<std::string>& args);
Result<TillConfig> parse_till_config(const std::string& json_text, TillConfig defaults = {});
// "127.0.0.1:8080" -> address and port; the field name is used in errors.
Result<std::pair<std::string, std::uint16_t>> parse_listen(const std::string& text,
                                                           const std::string& field);

std::string till_usage();
std::string version_string(const std::string& program);

}  // namespace loyalty::pos
