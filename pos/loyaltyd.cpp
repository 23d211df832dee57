// loyaltyd: the till's loyalty daemon. Parses options, opens the database, serves the API.
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "loyalty/http_server.hpp"
#include "loyalty/json_log.hpp"
#include "till_api.hpp"
#include "till_config.hpp"

namespace {

using namespace loyalty;

RuleSet load_rules(const pos::TillConfig& config) {
    std::string text = default_rules_text();
    if (!config.rules_file.empty()) {
        std::ifstream in(config.rules_file);
        if (!in) throw std::runtime_error("rules_file: cannot read " + config.rules_file);
        std::ostringstream content;
        content << in.rdbuf();
        text = content.str();
    }
    auto rules = parse_rules_text(text);
    if (!rules) throw std::runtime_error("rules_file: " + rules.error().message);
    return *rules;
}

ProgramOptions program_options(const pos::TillConfig& config) {
    return {config.database, config.till_id, config.durability, 30, config.void_window_hours};
}

// Runs expiry and tier evaluation every interval on its own connection, so the POS's requests
// never wait behind a long run.
class Maintenance {
public:
    Maintenance(const pos::TillConfig& config, const Clock& clock, const RuleSet& rules)
        : thread_([this, config, &clock, rules] { run(config, clock, rules); }) {}
    ~Maintenance() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        thread_.join();
    }

private:
    void run(const pos::TillConfig& config, const Clock& clock, const RuleSet& rules) {
        Program program(program_options(config), clock, rules);
        std::unique_lock lock(mutex_);
        while (!stopping_) {
            const auto expiry = program.run_expiry();
            const auto tiers = program.evaluate_tiers();
            http::log_event(http::LogLevel::info, "maintenance",
                            {{"points_expired", expiry ? expiry->points_expired : 0},
                             {"tier_changes", tiers ? tiers->changes : 0},
                             {"ok", expiry.ok() && tiers.ok()}});
            wake_.wait_for(lock, std::chrono::seconds(config.maintenance_interval_seconds),
                           [this] { return stopping_; });
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

int serve(const pos::TillConfig& config) {
    const SystemClock clock;
    const RuleSet rules = load_rules(config);
    Program program(program_options(config), clock, rules);
    auto metrics = std::make_shared<http::MetricsRegistry>();
    http::Router router;
    pos::add_till_routes(router, program, {config.till_id, config.store_id}, metrics);
    http::ServerConfig server_config;
    server_config.name = "loyaltyd";
    server_config.address = config.listen_address;
    server_config.port = config.listen_port;
    server_config.bearer_token = config.api_token;
    server_config.body_limit_bytes = config.body_limit_bytes;
    server_config.header_timeout = config.header_timeout;
    server_config.idle_timeout = config.idle_timeout;
    http::HttpServer server(server_config, std::move(router), metrics);
    Maintenance maintenance(config, clock, program.rules());
    http::log_event(http::LogLevel::info, "starting",
                    {{"till_id", config.till_id}, {"rule_version", program.rules().version}});
    server.run_until_signalled();  // starts the server, returns after SIGTERM/SIGINT
    http::log_event(http::LogLevel::info, "stopped", {{"till_id", config.till_id}});
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
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
