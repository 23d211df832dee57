// loyaltyd: the till's loyalty daemon. Parses options, opens the database, serves the API.
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "backup.hpp"
#include "loyalty/http_server.hpp"
#include "loyalty/identifier_key.hpp"
#include "loyalty/json_log.hpp"
#include "loyalty/personal_data.hpp"
#include "loyalty_version.hpp"
#include "till_agent.hpp"
#include "till_api.hpp"
#include "till_config.hpp"

namespace {

using namespace loyalty;

RuleSet load_rules(const pos::TillConfig& config) {
    auto rules = load_rules_file(config.rules_file);
    if (!rules) throw std::runtime_error(rules.error().message);
    return *rules;
}

// Throws naming the file when the identifier key cannot be read or made.
ProgramOptions program_options(const pos::TillConfig& config) {
    const std::string key_file =
        config.identifier_key_file.empty() ? config.database + ".key" : config.identifier_key_file;
    return {config.database,
            config.till_id,
            config.durability,
            30,
            config.void_window_hours,
            config.offline_redemption_cap_points,
            load_or_create_identifier_key(key_file)};
}

// The system clock moved by the number of seconds written in a file, read at every call: the
// test seam for a till whose clock jumps (LOYALTY_TEST_CLOCK_OFFSET_FILE, see
// tests/reliability_clock_test.cpp). A missing or unreadable file means no offset.
class OffsetFileClock final : public Clock {
public:
    explicit OffsetFileClock(std::string path) : path_(std::move(path)) {}
    Timestamp now() const override {
        std::int64_t offset = 0;
        std::ifstream(path_) >> offset;
        return system_.now() + offset;
    }

private:
    std::string path_;
    SystemClock system_;
};

std::unique_ptr<Clock> make_clock() {
    if (const char* path = std::getenv("LOYALTY_TEST_CLOCK_OFFSET_FILE"))
        return std::make_unique<OffsetFileClock>(path);
    return std::make_unique<SystemClock>();
}

// Runs `work` at once and then every `interval` on its own thread until destroyed. Each task
// opens its own Program (its own database connection), so the POS's requests never wait
// behind a long run.
class PeriodicTask {
public:
    PeriodicTask(std::chrono::seconds interval, std::function<void()> work)
        : thread_([this, interval, work = std::move(work)] { run(interval, work); }) {}
    ~PeriodicTask() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        thread_.join();
    }

private:
    void run(std::chrono::seconds interval, const std::function<void()>& work) {
        std::unique_lock lock(mutex_);
        while (!stopping_) {
            lock.unlock();
            work();
            lock.lock();
            wake_.wait_for(lock, interval, [this] { return stopping_; });
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

// Expiry and tier evaluation, and the pruning of personal data when personal_data_days is set.
std::function<void()> maintenance(std::shared_ptr<Program> program, const Clock& clock, int personal_data_days) {
    return [program, &clock, personal_data_days] {
        const auto expiry = program->run_expiry();
        const auto tiers = program->evaluate_tiers();
        const auto pruned = personal_data_days > 0
                                ? prune_personal_data(*program, personal_data_days, clock.now())
                                : Result<PersonalDataPrune>(PersonalDataPrune{});
        http::log_event(http::LogLevel::info, "maintenance",
                        {{"points_expired", expiry ? expiry->points_expired : 0},
                         {"tier_changes", tiers ? tiers->changes : 0},
                         {"personal_data_pruned", pruned ? pruned->members : 0},
                         {"ok", expiry.ok() && tiers.ok() && pruned.ok()}});
    };
}

// Asks head office for every card with queued purchases; members it knows are imported and
// their queued sales recorded. Sales head office still cannot place after queued_purchase_days
// are refused, their cards forgotten: decided only just after asking, while connected, so a
// till that was offline for longer first hears of the members enrolled meanwhile.
std::function<void()> queued_purchase_retry(std::shared_ptr<Program> program, sync::TillAgent& agent,
                                            const Clock& clock, const pos::TillConfig& config) {
    const std::chrono::milliseconds query_timeout(config.sync->query_timeout_ms);
    const std::int64_t queued_seconds = std::int64_t{config.queued_purchase_days} * seconds_per_day;
    return [program, &agent, &clock, query_timeout, queued_seconds] {
        if (!agent.connected()) return;
        for (const std::string& card : program->queued_cards()) {
            if (const auto snapshot = agent.query_member(protocol::MemberKey::card, card, query_timeout))
                (void)program->import_member_snapshot(*snapshot);
        }
        pos::record_queued_purchases(*program);
        if (!agent.connected()) return;
        const auto refused = program->refuse_stale_queued_purchases(clock.now() - queued_seconds);
        if (!refused)
            http::log_event(http::LogLevel::warn, "queued_purchases_failed", {{"message", refused.error().message}});
        else if (*refused > 0)
            http::log_event(http::LogLevel::info, "queued_purchases_refused",
                            {{"refused", *refused}, {"reason", "card_unknown"}});
    };
}

// The sync agent for the config's "sync" section; throws naming the field when a TLS file or
// pin is unusable, so a till never starts half-configured.
std::unique_ptr<sync::TillAgent> make_agent(const pos::TillConfig& config, const ProgramOptions& options,
                                            const Clock& clock, const RuleSet& rules) {
    const pos::SyncConfig& section = *config.sync;
    sync::TillAgentSettings settings;
    settings.till_id = config.till_id;
    settings.host = section.host;
    settings.port = section.port;
    settings.server_name = section.server_name;
    settings.min_backoff = std::chrono::milliseconds(section.min_backoff_ms);
    settings.max_backoff = std::chrono::milliseconds(section.max_backoff_ms);
    settings.tls = {section.ca_file, section.certificate_file, section.private_key_file,
                    section.pinned_public_keys,
                    tls::parse_tls_version(section.min_tls_version).value_or(tls::TlsVersion::tls1_2)};
    settings.software_version = std::string(LOYALTY_VERSION) + " (" + LOYALTY_GIT_REVISION + ")";
    settings.batch_size = static_cast<std::size_t>(section.batch_size);
    settings.heartbeat_interval = std::chrono::seconds(section.heartbeat_seconds);
    settings.idle_timeout = 3 * settings.heartbeat_interval;
    try {
        return std::make_unique<sync::TillAgent>(settings, options, clock, rules);
    } catch (const std::exception& error) {
        throw std::runtime_error(std::string("sync: ") + error.what());
    }
}

protocol::MemberKey member_key(std::string_view key) {
    if (key == "card") return protocol::MemberKey::card;
    if (key == "phone") return protocol::MemberKey::phone;
    return protocol::MemberKey::member_id;
}

int serve(const pos::TillConfig& config) {
    const std::unique_ptr<Clock> owned_clock = make_clock();
    const Clock& clock = *owned_clock;
    const RuleSet rules = load_rules(config);
    // The till's connections share these options (the identifier key is read once).
    const ProgramOptions options = program_options(config);
    Program program(options, clock, rules);
    std::unique_ptr<sync::TillAgent> agent = config.sync ? make_agent(config, options, clock, rules) : nullptr;
    pos::SyncStatusProvider sync_status;
    pos::RemoteMemberLookup remote_lookup;
    if (agent) {
        program.set_online_probe([&agent] { return agent->connected(); });
        sync_status = [&agent] { return agent->status(); };
        const std::chrono::milliseconds query_timeout(config.sync->query_timeout_ms);
        remote_lookup = [&agent, query_timeout](std::string_view key, const std::string& value) {
            return agent->query_member(member_key(key), value, query_timeout);
        };
    }
    auto metrics = std::make_shared<http::MetricsRegistry>();
    http::Router router;
    pos::add_till_routes(router, program, {config.till_id, config.store_id}, metrics, sync_status,
                         remote_lookup);
    http::ServerConfig server_config;
    server_config.name = "loyaltyd";
    server_config.address = config.listen_address;
    server_config.port = config.listen_port;
    server_config.bearer_token = config.api_token;
    server_config.body_limit_bytes = config.body_limit_bytes;
    server_config.header_timeout = config.header_timeout;
    server_config.idle_timeout = config.idle_timeout;
    server_config.handler_group = pos::group_commit(program, metrics);
    http::HttpServer server(server_config, std::move(router), metrics);
    PeriodicTask maintenance_task(std::chrono::seconds(config.maintenance_interval_seconds),
                                  maintenance(std::make_shared<Program>(options, clock, program.rules()),
                                              clock, config.personal_data_days));
    std::optional<PeriodicTask> queue_task;
    if (agent)
        queue_task.emplace(std::chrono::seconds(config.sync->queued_retry_seconds),
                           queued_purchase_retry(std::make_shared<Program>(options, clock, program.rules()),
                                                 *agent, clock, config));
    http::log_event(http::LogLevel::info, "starting",
                    {{"till_id", config.till_id}, {"rule_version", program.rules().version},
                     {"sync", agent != nullptr}});
    if (agent) agent->start();
    server.run_until_signalled();  // starts the server, returns after SIGTERM/SIGINT
    if (agent) agent->stop();
    http::log_event(http::LogLevel::info, "stopped", {{"till_id", config.till_id}});
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::string_view(argv[1]) == "backup")
        return pos::run_backup("loyaltyd", std::vector<std::string>(argv + 2, argv + argc));
    auto command = pos::parse_till_command_line(std::vector<std::string>(argv + 1, argv + argc));
    if (!command) {
        std::cerr << "loyaltyd: " << command.error().message << "\n";
        return 2;
    }
    if (command->show_help) {
        std::cout << pos::till_usage();
        return 0;
    }
    if (command->show_version) {
        std::cout << pos::version_string("loyaltyd") << "\n";
        return 0;
    }
    try {
        return serve(command->config);
    } catch (const std::exception& error) {
        http::log_event(http::LogLevel::error, "fatal", {{"message", error.what()}});
        return 1;
    }
}
