// loyalty-hq's configuration: a JSON file, then command-line flags on top. Invalid values are
// refused at start with a message naming the field, so head office never runs half-configured.
//
//   {"database": "loyalty-hq.db", "sync_listen": "127.0.0.1:7443",
//    "admin_listen": "127.0.0.1:8443", "admin_token": "...",
//    "web_listen": "127.0.0.1:8080", "web_trusted_proxy": "127.0.0.1", "web_secure_cookies": true,
//    "ca_file": ".../hq/ca.crt", "certificate_file": ".../hq/server.crt",
//    "private_key_file": ".../hq/server.key", "min_tls_version": "1.2",
//    "rules_file": "rules.json", "durability": "full",
//    "heartbeat_interval_ms": 30000, "idle_timeout_ms": 90000, "hello_timeout_ms": 10000,
//    "max_clock_skew_seconds": 300, "retention_days": 1095,
//    "engagement": {"referral": {"referrer_points": 500, ...}, "birthday_points": 200},
//    "segmentation": {"daily_at": "02:00", "horizon_days": 365, "keep_member_results": 7,
//                     "check_interval_seconds": 60},
//    "playbook": {"value": {"offer": {"discount_percent": 15}}, "cross_sell": {"enabled": false}},
//    "online": {"listen": "127.0.0.1:8444", "token": "...", "database": "loyalty-hq-web.db"}}
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "hq_engagement.hpp"
#include "hq_online.hpp"
#include "hq_playbook.hpp"
#include "hq_segmentation.hpp"
#include "hq_server.hpp"
#include "hq_web.hpp"
#include "loyalty/result.hpp"
#include "loyalty/store.hpp"

namespace loyalty::hq {

struct HqConfig {
    std::string database = "loyalty-hq.db";
    Durability durability = Durability::full;
    std::string rules_file;  // empty: keep the stored rules (the built-in ones at first start)
    SyncServerConfig sync;   // sync_listen, TLS files and timeouts
    std::string admin_address = "127.0.0.1";
    std::uint16_t admin_port = 8443;
    std::optional<std::string> admin_token;
    WebSettings web;  // "web_listen" (absent: no web pages), "web_trusted_proxy", "web_secure_cookies"
    SegmentationSchedule segmentation;  // "segmentation": {"daily_at": "02:00", ...}; absent: off
    Playbook playbook = default_playbook();  // "playbook": {"win_back": {"enabled": false}, ...}
    OnlineConfig online;  // "online": {"listen", "token", "database"}; absent: no web channel
    // Members inactive longer than this are erased by `loyalty-hq member retention` (and
    // POST /v1/admin/retention-run); 0: no period set, so no retention run.
    std::int64_t retention_days = 0;
    EngagementRules engagement;  // "engagement": referral, birthday and anniversary bonuses; absent: off
};

Result<HqConfig> parse_hq_config(const std::string& json_text, HqConfig defaults = {});
// The file at `path`, parsed; errors name the field (or "config" for an unreadable file).
Result<HqConfig> read_hq_config(const std::string& path);
// "--listen ADDRESS:PORT" (the sync port) and "--db FILE" on top of a config.
Result<HqConfig> apply_overrides(HqConfig config, const std::optional<std::string>& listen,
                                 const std::optional<std::string>& database);

}  // namespace loyalty::hq
