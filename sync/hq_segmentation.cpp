#include "hq_segmentation.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <variant>

#include "hq_admin.hpp"
#include "loyalty/json_log.hpp"
#include "loyalty/segment_command.hpp"

namespace loyalty::hq {

namespace {

using nlohmann::json;
using namespace loyalty::analytics;

std::optional<double> modelled(double value) {
    return std::isfinite(value) ? std::optional(value) : std::nullopt;
}

void fill_member(const SegmentationOutcome& outcome, const SegmentationConfig& config, std::size_t index,
                 MemberSegment& row) {
    const MemberResult& member = outcome.result.members[index];
    const CustomerProfile& profile = member.profile;
    row.member_id = outcome.history.members.name(static_cast<Index>(index));
    if (member.rfm.recency_days >= 0) row.recency_days = member.rfm.recency_days;
    row.frequency = member.repeat.x;
    row.window_purchase_days = member.rfm.frequency;
    row.monetary_cents = member.rfm.monetary_cents;
    row.r_score = member.rfm.r_score;
    row.f_score = member.rfm.f_score;
    row.m_score = member.rfm.m_score;
    row.segment = outcome.result.segment_names[member.segment];
    row.value_tier = to_string(profile.value_tier);
    row.spending_power = to_string(profile.spending_power);
    row.lifecycle = to_string(profile.lifecycle);
    row.frequency_class = to_string(profile.frequency_class);
    row.tags = split_tags(
        preference_tags(outcome.result.activity.members[index], profile, outcome.history, config.value));
    row.p_alive = modelled(member.probability_alive);
    row.expected_purchases = modelled(member.expected_purchases);
    row.clv = modelled(member.clv);
    if (member.cluster >= 0) row.cluster = member.cluster;
}

json report_json(const SegmentationOutcome& outcome, const SegmentationConfig& config) {
    std::ostringstream text;
    write_json_report(outcome.result, outcome.history, config, text);
    return json::parse(text.str());
}

json optional_json(const std::optional<double>& value) { return value ? json(*value) : json(nullptr); }

void print_summary(const SegmentRun& run, bool computed, std::ostream& out) {
    out << (computed ? "Stored run " : "Run ") << run.run_id << " as of " << run.as_of << " (" << run.trigger
        << ", finished " << format_timestamp(run.finished_at) << "): " << run.members << " members";
    if (!computed) out << "; already stored, --replace computes it again";
    out << "\n\n";
}

void print_stored_segments(const SegmentRun& run, std::ostream& out) {
    char line[160];
    std::snprintf(line, sizeof line, "%-18s %9s %9s %12s\n", "Segment", "Members", "Revenue", "Avg CLV");
    out << line;
    for (const json& segment : run.report.value("segments", json::array())) {
        std::snprintf(line, sizeof line, "%-18s %9lld %8.1f%% %12.2f\n",
                      segment.at("name").get<std::string>().c_str(), segment.at("members").get<long long>(),
                      100.0 * segment.at("revenue_share").get<double>(), segment.at("average_clv").get<double>());
        out << line;
    }
}

// Takes "--replace" out of the words; the rest are the analysts' options.
bool take_replace(std::vector<std::string>& args) {
    const auto found = std::find(args.begin(), args.end(), "--replace");
    if (found == args.end()) return false;
    args.erase(found);
    return true;
}

}  // namespace

json run_parameters(const SegmentationConfig& config) {
    return {{"horizon_days", config.horizon_days},
            {"window_days", config.window_days},
            {"annual_discount_rate", config.annual_discount_rate},
            {"growth_days", config.growth_days},
            {"cluster_categories", config.cluster_categories},
            {"clustering_seed", config.clustering.seed},
            {"basket_item", config.basket_item == BasketItem::category ? "category" : "sku"}};
}

SegmentationOutcome segment_and_store(Program& program, HqStore& store, const Clock& clock,
                                      const SegmentationConfig& config, const std::string& trigger, bool replace) {
    SegmentationOutcome outcome;
    const std::string as_of = format_day(config.as_of);
    const json parameters = run_parameters(config);
    if (!replace) {
        if (auto existing = store.find_segment_run(as_of, parameters)) {
            outcome.run = std::move(*existing);
            return outcome;
        }
    }
    const Timestamp started = clock.now();
    outcome.history = load_history(program, config.as_of).history;
    outcome.result = run_segmentation(outcome.history, config);
    store_computed_run(store, config, trigger, started, replace, outcome);
    return outcome;
}

void store_computed_run(HqStore& store, const SegmentationConfig& config, const std::string& trigger,
                        Timestamp started_at, bool replace, SegmentationOutcome& outcome) {
    const SegmentRun request{
        0, format_day(config.as_of), run_parameters(config), trigger, started_at, 0, 0, report_json(outcome, config)};
    outcome.run = store.store_segment_run(
        request, outcome.result.members.size(),
        [&outcome, &config](std::size_t index, MemberSegment& row) { fill_member(outcome, config, index, row); },
        replace);
    // Even when another process stored the same run meanwhile (and that one is kept), this
    // result was computed for the same key and is what the caller reports.
    outcome.computed = true;
}

json segment_run_json(const SegmentRun& run) {
    json body = {{"run_id", run.run_id},
                 {"as_of", run.as_of},
                 {"parameters", run.parameters},
                 {"trigger", run.trigger},
                 {"started_at", format_timestamp(run.started_at)},
                 {"finished_at", format_timestamp(run.finished_at)},
                 {"members", run.members}};
    if (run.report.is_object())
        for (const char* key : {"models", "segments", "clusters", "rules"}) body[key] = run.report.value(key, json());
    return body;
}

json member_segment_json(const MemberSegment& member) {
    return {{"run_id", member.run_id},
            {"as_of", member.as_of},
            {"member_id", member.member_id},
            {"recency_days", member.recency_days ? json(*member.recency_days) : json(nullptr)},
            {"frequency", member.frequency},
            {"window_purchase_days", member.window_purchase_days},
            {"monetary", analytics::format_cents(member.monetary_cents)},
            {"rfm", {{"r", member.r_score}, {"f", member.f_score}, {"m", member.m_score}}},
            {"segment", member.segment},
            {"value_tier", member.value_tier},
            {"spending_power", member.spending_power},
            {"lifecycle", member.lifecycle},
            {"frequency_class", member.frequency_class},
            {"tags", member.tags},
            {"p_alive", optional_json(member.p_alive)},
            {"expected_purchases", optional_json(member.expected_purchases)},
            {"clv", optional_json(member.clv)},
            {"cluster", member.cluster ? json(*member.cluster) : json(nullptr)}};
}

int run_hq_segment_command(const std::vector<std::string>& words, Program& program, HqStore& store,
                           const Clock& clock, std::ostream& out, std::ostream& err) {
    std::vector<std::string> args = words;
    const bool replace = take_replace(args);
    const auto parsed = parse_segment_request(args, out, err);
    if (const int* code = std::get_if<int>(&parsed)) return *code;
    const SegmentRequest& request = std::get<SegmentRequest>(parsed);
    if (request.transactions) {
        if (replace) {
            err << "--replace is for runs over the head-office database, not --transactions; see --help\n";
            return 2;
        }
        return run_segment_command(args, out, err);
    }
    const SegmentationOutcome outcome = segment_and_store(program, store, clock, request.config, "command", replace);
    if (!outcome.computed && request.members_out) {
        err << "run " << outcome.run.run_id << " is already stored; pass --replace to compute it again and write "
            << *request.members_out << "\n";
        return 1;
    }
    if (outcome.computed && !write_members_file(request, outcome.result, outcome.history, err)) return 1;
    if (request.json) {
        json report = outcome.run.report;
        report["run"]["run_id"] = outcome.run.run_id;
        report["run"]["stored"] = outcome.computed ? "new" : "existing";
        out << report.dump() << "\n";
        return 0;
    }
    print_summary(outcome.run, outcome.computed, out);
    if (outcome.computed) {
        write_text_report(outcome.result, outcome.history, request.config, out);
    } else {
        print_stored_segments(outcome.run, out);
    }
    return 0;
}

DayNumber scheduled_as_of(const SegmentationSchedule& schedule, Timestamp now) {
    const Timestamp shifted = now - Timestamp{schedule.daily_at_minutes} * 60;
    return static_cast<DayNumber>(day_number(shifted) - 1);
}

std::optional<SegmentRun> run_scheduled_segmentation(Program& program, HqStore& store, const Clock& clock,
                                                     const SegmentationSchedule& schedule) {
    SegmentationConfig config;
    config.as_of = scheduled_as_of(schedule, clock.now());
    config.horizon_days = schedule.horizon_days;
    SegmentationOutcome outcome = segment_and_store(program, store, clock, config, "schedule", false);
    if (!outcome.computed) return std::nullopt;
    if (schedule.keep_member_results > 0) store.prune_member_segments(schedule.keep_member_results);
    return std::move(outcome.run);
}

SegmentationScheduler::SegmentationScheduler(SegmentationSchedule schedule, ProgramOptions options, RuleSet rules,
                                             const Clock& clock)
    : schedule_(schedule), options_(std::move(options)), rules_(std::move(rules)), clock_(clock) {}

SegmentationScheduler::~SegmentationScheduler() { stop(); }

void SegmentationScheduler::start() {
    stopping_ = false;
    thread_ = std::thread([this] { loop(); });
}

void SegmentationScheduler::stop() {
    {
        const std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void SegmentationScheduler::loop() {
    std::optional<Program> program;
    std::optional<SqliteHqStore> store;
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        lock.unlock();
        try {
            if (!program) {
                program.emplace(options_, clock_, rules_);
                store.emplace(*program, clock_);
            }
            if (const auto run = run_scheduled_segmentation(*program, *store, clock_, schedule_))
                http::log_event(http::LogLevel::info, "segmentation_run",
                                {{"run_id", run->run_id}, {"as_of", run->as_of}, {"members", run->members},
                                 {"seconds", run->finished_at - run->started_at}});
        } catch (const std::exception& error) {
            http::log_event(http::LogLevel::error, "segmentation_failed", {{"message", error.what()}});
        }
        lock.lock();
        wake_.wait_for(lock, schedule_.check_interval, [this] { return stopping_; });
    }
}

}  // namespace loyalty::hq
