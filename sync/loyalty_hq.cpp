// loyalty-hq: head office. Parses the command line, wires the store, the sync listener and
// the admin API together, and dispatches the operator's and analysts' commands.
#include <malloc.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "backup.hpp"
#include "hq_admin.hpp"
#include "hq_campaign_api.hpp"
#include "hq_config.hpp"
#include "hq_members.hpp"
#include "hq_web.hpp"
#include "loyalty/http_server.hpp"
#include "loyalty/json_log.hpp"
#include "loyalty/segment_command.hpp"
#include "till_config.hpp"

extern char** environ;

namespace {

using namespace loyalty;
namespace fs = std::filesystem;

const char* const usage_text =
    "usage: loyalty-hq [COMMAND] [OPTIONS]\n"
    "\n"
    "Head office: the authoritative ledger of every store, the tills' sync listener (mutual TLS)\n"
    "and an admin HTTP API on loopback.\n"
    "\n"
    "commands:\n"
    "  serve [--config FILE] [--listen ADDRESS:PORT] [--db FILE]   (the default command)\n"
    "        run head office; --listen overrides sync_listen, --db the database\n"
    "  till add STORE TILL --certs DIR [--config FILE | --db FILE]\n"
    "        issue till STORE-TILL a certificate from DIR's CA (packaging/certs/loyalty-certs;\n"
    "        env LOYALTY_CERTS_TOOL overrides where it is) and register it\n"
    "  till revoke TILL_ID [--config FILE | --db FILE]   refuse the till from now on\n"
    "  till list [--config FILE | --db FILE]             the registry as JSON lines\n"
    "  segment [--config FILE | --db FILE] [--transactions FILE.csv] --as-of YYYY-MM-DD [--replace] ...\n"
    "        segmentation over the head-office database, stored as a run (or over a CSV, not\n"
    "        stored); see docs/ANALYTICS.md\n"
    "  rules install FILE [--config FILE | --db FILE]   a newer rule version, sent to every till\n"
    "  campaign create FILE.json | list | preview ID | launch ID | pause ID | end ID | report ID | playbook\n"
    "        [--config FILE | --db FILE]   campaigns from the segmentation; see docs/CAMPAIGNS.md\n"
    "  member export ID | erase ID | consent ID [--personalised-offers yes|no] [--marketing yes|no]\n"
    "        | audit ID [--actor NAME] [--config FILE | --db FILE]   a member's data, its erasure\n"
    "        (everywhere, the ledger kept under the member id), consent and the staff audit log\n"
    "        (every export, erasure and consent change is recorded with --actor, default $USER)\n"
    "  member retention [--as-of YYYY-MM-DD] [--dry-run] [--days N] [--config FILE | --db FILE]\n"
    "        erase every member inactive longer than retention_days (or N) before the date\n"
    "        (default: now); prints a JSON summary; a second run erases nobody new\n"
    "  member sign-in-code ID [--actor NAME] [--config FILE | --db FILE]\n"
    "        a one-time code (8 digits, 10 minutes) for the member page, see web_listen\n"
    "  staff add NAME | remove NAME | list [--config FILE | --db FILE]\n"
    "        dashboard accounts; add reads the password (10+ characters) from standard input\n"
    "  engagement run [--as-of YYYY-MM-DD] | reverse GRANT_ID [--config FILE | --db FILE]\n"
    "        grant the referral, birthday and anniversary bonuses due (config \"engagement\")\n"
    "        and expire bonuses past their date; a second run grants nothing new. reverse takes\n"
    "        back what is left of one grant\n"
    "  satisfaction report [--config FILE | --db FILE]   NPS overall, per store and per segment\n"
    "  backup --db FILE --to FILE                         a consistent copy of the live database\n"
    "  demo-data [--members N] [--seed S] [--until YYYY-MM-DD]   a synthetic chain as CSV\n"
    "  --help, --version\n"
    "\n"
    "config (JSON): database, durability, rules_file, sync_listen, admin_listen, admin_token,\n"
    "web_listen (member page and dashboard; absent: off), web_trusted_proxy, web_secure_cookies,\n"
    "ca_file, certificate_file, private_key_file, min_tls_version (\"1.2\"|\"1.3\"),\n"
    "heartbeat_interval_ms, idle_timeout_ms, hello_timeout_ms, feed_poll_interval_ms,\n"
    "max_clock_skew_seconds (a till's clock further off is logged as till_clock_skew),\n"
    "retention_days (members inactive longer are erased by member retention; 0: none),\n"
    "segmentation {daily_at \"HH:MM\" UTC, horizon_days, keep_member_results, check_interval_seconds},\n"
    "playbook {win_back|exclusive|second_purchase|cross_sell|value: {enabled, valid_days, target, offer, ...}},\n"
    "online {listen, token, database}   the web shop's orders and returns (docs/OPERATIONS.md)\n";

// Thrown for bad usage: printed with the usage hint, exit code 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Options {
    std::vector<std::string> positional;
    std::optional<std::string> config, listen, database, certs;
    std::vector<std::string> rest;  // words the sub-command itself parses (segment)
};

// Takes --config/--listen/--db/--certs out of `args`; the rest stays in order.
Options take_options(const std::vector<std::string>& args, bool keep_rest) {
    Options options;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        std::optional<std::string>* slot = arg == "--config" ? &options.config
                                           : arg == "--listen" ? &options.listen
                                           : arg == "--db"     ? &options.database
                                           : arg == "--certs"  ? &options.certs
                                                               : nullptr;
        if (slot) {
            if (i + 1 >= args.size()) throw UsageError(arg + " needs a value");
            *slot = args[++i];
        } else if (keep_rest) {
            options.rest.push_back(arg);
        } else if (arg.starts_with("--")) {
            throw UsageError("unknown option " + arg);
        } else {
            options.positional.push_back(arg);
        }
    }
    return options;
}

hq::HqConfig load_config(const Options& options) {
    hq::HqConfig config;
    if (options.config) {
        auto read = hq::read_hq_config(*options.config);
        if (!read) throw UsageError("config " + read.error().field + ": " + read.error().message);
        config = *read;
    }
    auto overridden = hq::apply_overrides(config, options.listen, options.database);
    if (!overridden) throw UsageError(overridden.error().message);
    return *overridden;
}

RuleSet load_rules(const std::string& rules_file) {
    auto rules = load_rules_file(rules_file);
    if (!rules) throw std::runtime_error(rules.error().message);
    return *rules;
}

ProgramOptions program_options(const hq::HqConfig& config) {
    ProgramOptions options;
    options.database_path = config.database;
    options.node_id = "HQ";
    options.durability = config.durability;
    return options;
}

// Serves until SIGINT or SIGTERM. The admin listener starts first, so its "listening" line is
// the first one (scripts and tests read that one), then the web listener.
void run_until_signalled(http::HttpServer& admin, http::HttpServer* web) {
    if (!web) return admin.run_until_signalled();
    boost::asio::io_context signals_context;  // handlers first, as HttpServer::run_until_signalled does
    boost::asio::signal_set signals(signals_context, SIGINT, SIGTERM);
    signals.async_wait([](const boost::system::error_code&, int signal) {
        http::log_event(http::LogLevel::info, "signal_received", {{"signal", signal}});
    });
    admin.start();
    web->start();
    signals_context.run();
    web->stop();
    admin.stop();
}

ProgramOptions online_program_options(const hq::HqConfig& config) {
    ProgramOptions options = program_options(config);
    options.database_path = hq::online_database_path(config.online, config.database);
    return options;
}

// Each till batch is parsed into megabytes of small JSON nodes on the sync thread and freed once
// stored, and with many tills sending, dozens of batches wait parsed at once. With glibc's
// defaults the sync thread's own arena handed the freed memory back to the kernel and faulted
// it in again for the next batches (sysmalloc and page faults were a sixth of head office's
// ingest, docs/BENCHMARKS.md). One arena, whose top is trimmed only past 256 MiB, keeps it.
void keep_freed_memory_for_next_batches() {
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_TOP_PAD, 16 << 20);
}

int serve(const hq::HqConfig& config) {
    keep_freed_memory_for_next_batches();
    const SystemClock clock;
    hq::DatabaseThread database;  // first in, last out: it runs every store call below
    Program program(program_options(config), clock, load_rules(config.rules_file));
    hq::SqliteHqStore store(program, clock);
    store.publish_current_rules();
    // Their tables are made before the sync thread shares the Program.
    hq::Campaigns campaigns(program, store, clock);
    hq::MemberData members(program, store, clock);
    hq::WebAccounts accounts(program, clock);
    auto metrics = std::make_shared<http::MetricsRegistry>();
    std::optional<hq::OnlineService> online;  // the web shop's orders (hq_online.hpp)
    if (config.online.enabled)
        online.emplace(config.online, online_program_options(config), database, program, store, clock, metrics);
    hq::SyncServer sync(config.sync, database, store, metrics);
    sync.start();
    http::Router router;
    hq::add_admin_routes(router, database, program, store, metrics);
    hq::add_member_data_routes(router, database, program, store, members, config.retention_days);
    hq::add_campaign_routes(router, database, campaigns, config.playbook);
    hq::add_engagement_routes(router, database, program, store, config.engagement, clock);
    const auto engagement = hq::schedule_engagement(database, program, store, config.engagement, clock);
    hq::add_web_admin_routes(router, database, program, accounts, members, clock);
    const http::Router admin_routes = router;  // the web listener serves them to signed-in staff
    hq::WebSessions sessions(clock);
    std::optional<http::HttpServer> web;
    if (config.web.enabled) {
        http::ServerConfig web_config;
        web_config.name = "loyalty-hq-web";
        web_config.address = config.web.address;
        web_config.port = config.web.port;
        web_config.body_limit_bytes = 64 * 1024;
        web.emplace(web_config, hq::web_router(admin_routes, database, program, accounts, sessions, config.web),
                    metrics);
    }
    http::ServerConfig admin;
    admin.name = "loyalty-hq-admin";
    admin.address = config.admin_address;
    admin.port = config.admin_port;
    admin.bearer_token = config.admin_token;
    http::HttpServer server(admin, std::move(router), metrics);
    std::optional<hq::SegmentationScheduler> segmentation;
    if (config.segmentation.enabled) {
        segmentation.emplace(config.segmentation, program_options(config), program.rules(), clock);
        segmentation->start();
    }
    http::log_event(http::LogLevel::info, "starting", {{"rule_version", program.rules().version}});
    run_until_signalled(server, web ? &*web : nullptr);
    if (segmentation) segmentation->stop();
    sync.stop();
    http::log_event(http::LogLevel::info, "stopped");
    return 0;
}

fs::path certs_tool(const char* argv0) {
    if (const char* configured = std::getenv("LOYALTY_CERTS_TOOL")) return configured;
    std::error_code ignored;
    const fs::path self = fs::canonical("/proc/self/exe", ignored);
    const fs::path here = self.empty() ? fs::path(argv0).parent_path() : self.parent_path();
    for (const fs::path& candidate :
         {here / "loyalty-certs", here / "../share/loyalty/loyalty-certs", here / "../libexec/loyalty/loyalty-certs",
          fs::path(LOYALTY_SOURCE_DIR) / "packaging/certs/loyalty-certs"})
        if (fs::exists(candidate, ignored)) return candidate;
    throw std::runtime_error("cannot find loyalty-certs; set LOYALTY_CERTS_TOOL to its path");
}

// Runs the tool without a shell (the arguments are the operator's, not to be interpreted).
int run_tool(const fs::path& tool, const std::vector<std::string>& args) {
    std::vector<std::string> words{tool.string()};
    words.insert(words.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& word : words) argv.push_back(word.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0)
        throw std::runtime_error("cannot run " + tool.string());
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

void print_till(const hq::TillRecord& till) {
    std::cout << nlohmann::json{{"till_id", till.till_id},      {"store_id", till.store_id},
                                {"revoked", till.revoked},      {"last_acked_seq", till.last_seq},
                                {"downstream_version", till.downstream_cursor},
                                {"clock_skew_seconds", till.clock_skew_seconds ? nlohmann::json(*till.clock_skew_seconds)
                                                                               : nlohmann::json(nullptr)}}
                     .dump()
              << "\n";
}

int till_command(const std::vector<std::string>& args, const char* argv0) {
    const Options options = take_options(args, false);
    const auto& words = options.positional;
    if (words.empty()) throw UsageError("till needs add, revoke or list");
    const hq::HqConfig config = load_config(options);
    const auto open_store = [&](auto&& use) {
        const SystemClock clock;
        Program program(program_options(config), clock, load_rules(""));
        hq::SqliteHqStore store(program, clock);
        return use(store);
    };
    const auto report = [](const Result<hq::TillRecord>& result) {
        if (!result) {
            std::cerr << "loyalty-hq: " << result.error().message << "\n";
            return 1;
        }
        print_till(*result);
        return 0;
    };
    if (words[0] == "add") {
        if (words.size() != 3 || !options.certs) throw UsageError("usage: till add STORE TILL --certs DIR");
        const std::string till_id = words[1] + "-" + words[2];
        if (till_id == hq::online_till_id) throw UsageError(till_id + " is the web shop's node, which never connects");
        if (!tls::till_id_from_uri("urn:loyalty:till:" + till_id))
            throw UsageError("STORE and TILL must be 1-32 letters, digits or _");
        const fs::path bundle = fs::path(*options.certs) / "tills" / till_id;
        if (!fs::exists(bundle / "till.crt") &&
            run_tool(certs_tool(argv0), {"till", *options.certs, words[1], words[2]}) != 0) {
            std::cerr << "loyalty-hq: loyalty-certs could not issue the certificate; till not registered\n";
            return 1;
        }
        return open_store([&](hq::HqStore& store) { return report(store.add_till(words[1], till_id)); });
    }
    if (words[0] == "revoke") {
        if (words.size() != 2) throw UsageError("usage: till revoke TILL_ID");
        return open_store([&](hq::HqStore& store) { return report(store.revoke_till(words[1])); });
    }
    if (words[0] == "list") {
        return open_store([&](hq::HqStore& store) {
            for (const hq::TillRecord& till : store.tills()) print_till(till);
            return 0;
        });
    }
    throw UsageError("unknown till command " + words[0]);
}

// Installs a newer rule version in the head-office database and queues it for every till; a
// running server sends it on with its next feed poll. An older or equal version is refused.
int rules_command(const std::vector<std::string>& args) {
    const Options options = take_options(args, false);
    if (options.positional.size() != 2 || options.positional[0] != "install")
        throw UsageError("usage: rules install FILE [--config FILE | --db FILE]");
    const RuleSet candidate = load_rules(options.positional[1]);
    const hq::HqConfig config = load_config(options);
    const SystemClock clock;
    Program program(program_options(config), clock, load_rules(""));
    if (const auto installed = program.install_rules(candidate); !installed) {
        std::cerr << "loyalty-hq: " << installed.error().message << "\n";
        return 1;
    }
    hq::SqliteHqStore store(program, clock);
    store.publish_current_rules();
    std::cout << nlohmann::json{{"rule_version", program.rules().version}}.dump() << "\n";
    return 0;
}

int segment_command(const std::vector<std::string>& args) {
    const Options options = take_options(args, true);
    const auto analysts_only = [&options](const char* word) {
        return std::find(options.rest.begin(), options.rest.end(), word) != options.rest.end();
    };
    if (analysts_only("--transactions") || analysts_only("--help") || analysts_only("-h"))
        return analytics::run_segment_command(options.rest, std::cout, std::cerr);
    const hq::HqConfig config = load_config(options);
    const SystemClock clock;
    Program program(program_options(config), clock, load_rules(""));
    hq::SqliteHqStore store(program, clock);
    return hq::run_hq_segment_command(options.rest, program, store, clock, std::cout, std::cerr);
}

int campaign_command(const std::vector<std::string>& args) {
    const Options options = take_options(args, false);
    const hq::HqConfig config = load_config(options);
    const SystemClock clock;
    Program program(program_options(config), clock, load_rules(""));
    hq::SqliteHqStore store(program, clock);
    hq::Campaigns campaigns(program, store, clock);
    return hq::run_campaign_command(options.positional, campaigns, config.playbook, std::cout, std::cerr);
}

int member_command(const std::vector<std::string>& args) {
    const Options options = take_options(args, true);  // the member command's own flags stay in rest
    const hq::HqConfig config = load_config(options);
    const SystemClock clock;
    Program program(program_options(config), clock, load_rules(""));
    hq::SqliteHqStore store(program, clock);
    hq::MemberData members(program, store, clock);
    if (!options.rest.empty() && options.rest[0] == "sign-in-code") {
        hq::WebAccounts accounts(program, clock);
        return hq::run_sign_in_code_command(options.rest, accounts, members, std::cout, std::cerr);
    }
    return hq::run_member_command(options.rest, members, std::cout, std::cerr,
                                  config.retention_days ? std::optional(config.retention_days) : std::nullopt);
}

// "engagement run ..." and "satisfaction report" (hq_engagement.hpp).
int engagement_command(const std::string& command, const std::vector<std::string>& args) {
    const Options options = take_options(args, true);
    const hq::HqConfig config = load_config(options);
    const SystemClock clock;
    Program program(program_options(config), clock, load_rules(""));
    hq::SqliteHqStore store(program, clock);
    std::vector<std::string> words{command};
    words.insert(words.end(), options.rest.begin(), options.rest.end());
    return hq::run_engagement_command(words, program, store, config.engagement, clock, std::cout, std::cerr);
}

int staff_command(const std::vector<std::string>& args) {
    const Options options = take_options(args, false);
    const hq::HqConfig config = load_config(options);
    const SystemClock clock;
    Program program(program_options(config), clock, load_rules(""));
    hq::WebAccounts accounts(program, clock);
    return hq::run_staff_command(options.positional, accounts, std::cin, std::cout, std::cerr);
}

int run(const std::vector<std::string>& args, const char* argv0) {
    const std::string command = args.empty() || args[0].starts_with("-") ? "serve" : args[0];
    const std::vector<std::string> rest(args.begin() + (command == "serve" && (args.empty() || args[0] != "serve") ? 0 : 1),
                                        args.end());
    if (command == "serve") {
        for (const std::string& arg : rest) {
            if (arg == "--help" || arg == "-h") {
                std::cout << usage_text;
                return 0;
            }
            if (arg == "--version") {
                std::cout << pos::version_string("loyalty-hq") << "\n";
                return 0;
            }
        }
        const Options options = take_options(rest, false);
        if (!options.positional.empty()) throw UsageError("unknown command " + options.positional[0]);
        return serve(load_config(options));
    }
    if (command == "till") return till_command(rest, argv0);
    if (command == "segment") return segment_command(rest);
    if (command == "rules") return rules_command(rest);
    if (command == "campaign") return campaign_command(rest);
    if (command == "member") return member_command(rest);
    if (command == "staff") return staff_command(rest);
    if (command == "engagement" || command == "satisfaction") return engagement_command(command, rest);
    if (command == "backup") return pos::run_backup("loyalty-hq", rest);
    if (command == "demo-data") return analytics::run_demo_data_command(rest, std::cout, std::cerr);
    throw UsageError("unknown command " + command);
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(std::vector<std::string>(argv + 1, argv + argc), argv[0]);
    } catch (const UsageError& error) {
        std::cerr << "loyalty-hq: " << error.what() << "; see --help\n";
        return 2;
    } catch (const std::exception& error) {
        http::log_event(http::LogLevel::error, "fatal", {{"message", error.what()}});
        return 1;
    }
}
