// Head office's segmentation runs: the whole membership segmented from the head-office ledger
// (loyalty/analytics) and stored with a run id and its as-of date, so that offers and reports
// read them and runs can be compared over time.
//
// Runs are idempotent per (as-of date, parameters): asking again for a run that is stored
// returns the stored one without computing (so a schedule that fires twice, or an operator
// retrying, never duplicates a run). A run is a snapshot of what head office knew when it ran;
// `replace` computes it again (after late till data, say) and the new run, with a new run id,
// takes the old one's place.
//
// Two ways in: `loyalty-hq segment --as-of DATE` (run_hq_segment_command) and a daily schedule
// inside `loyalty-hq serve` (SegmentationScheduler, on its own thread and database connection).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "hq_store.hpp"
#include "loyalty/segmentation.hpp"

namespace loyalty::hq {

// The config's "segmentation" section: {"daily_at": "02:00", "horizon_days": 365,
// "keep_member_results": 7, "check_interval_seconds": 60}. Absent: no schedule.
struct SegmentationSchedule {
    bool enabled = false;
    std::int32_t daily_at_minutes = 2 * 60;  // UTC minutes after midnight
    std::int32_t horizon_days = 365;
    std::size_t keep_member_results = 7;     // runs whose member rows are kept; 0 keeps all
    std::chrono::seconds check_interval{60}; // how often the thread looks whether a run is due
};

// The settings besides as_of that identify a run (stored as segment_runs.parameters).
nlohmann::json run_parameters(const analytics::SegmentationConfig& config);

struct SegmentationOutcome {
    SegmentRun run;
    bool computed = false;  // false: the run was already stored and is returned as it was
    // When computed: what the run was made from, for the command's full report.
    analytics::PurchaseHistory history;
    analytics::SegmentationResult result;
};

// Loads the history up to config.as_of from the head-office ledger, segments it and stores the
// run, unless a run with the same key is stored and `replace` is false. `trigger` is "command"
// or "schedule". Storage failures throw StorageError.
SegmentationOutcome segment_and_store(Program& program, HqStore& store, const Clock& clock,
                                      const analytics::SegmentationConfig& config, const std::string& trigger,
                                      bool replace);

// The storing half of segment_and_store, for a result computed elsewhere (the benchmark):
// outcome.history and outcome.result made with `config`; fills outcome.run.
void store_computed_run(HqStore& store, const analytics::SegmentationConfig& config, const std::string& trigger,
                        Timestamp started_at, bool replace, SegmentationOutcome& outcome);

// The run as the admin API shows it: run_id, as_of, parameters, trigger, started_at,
// finished_at, members, and (with its report) the report's models, segments, clusters, rules.
nlohmann::json segment_run_json(const SegmentRun& run);
nlohmann::json member_segment_json(const MemberSegment& member);

// `loyalty-hq segment` over the head-office database: the analysts' options (segment_command.hpp)
// plus --replace; the run is stored and a summary printed before the report. With
// --transactions FILE it is the analysts' command unchanged (nothing is stored).
int run_hq_segment_command(const std::vector<std::string>& args, Program& program, HqStore& store,
                           const Clock& clock, std::ostream& out, std::ostream& err);

// The as-of day the schedule wants at `now`: yesterday once today's daily_at has passed, the day
// before otherwise (the last run that should exist). A head office that was down catches up
// with that one run, not with every day it missed.
analytics::DayNumber scheduled_as_of(const SegmentationSchedule& schedule, Timestamp now);

// Runs and stores the scheduled run if it is not stored yet, then prunes old member rows.
// Returns the new run, or nullopt when it was already there.
std::optional<SegmentRun> run_scheduled_segmentation(Program& program, HqStore& store, const Clock& clock,
                                                     const SegmentationSchedule& schedule);

// The schedule inside `loyalty-hq serve`: a thread with its own Program (database connection) on
// the head-office file, so that a run never holds up the tills' ingest thread; its writes are
// committed in small batches. Logs segmentation_run / segmentation_failed; a failure is
// retried at the next check. `clock` must be thread-safe (SystemClock) and outlive it.
class SegmentationScheduler {
  public:
    SegmentationScheduler(SegmentationSchedule schedule, ProgramOptions options, RuleSet rules, const Clock& clock);
    ~SegmentationScheduler();  // stops
    SegmentationScheduler(const SegmentationScheduler&) = delete;
    SegmentationScheduler& operator=(const SegmentationScheduler&) = delete;

    void start();
    // Returns once the thread has ended; a run under way finishes its current step first
    // (the unfinished run is never visible and is cleaned up by a later run).
    void stop();

  private:
    void loop();

    SegmentationSchedule schedule_;
    ProgramOptions options_;
    RuleSet rules_;
    const Clock& clock_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace loyalty::hq
