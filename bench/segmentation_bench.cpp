// Head-office segmentation at chain scale (issue 5): a generated chain of N members (default
// 1,000,000, about 27 purchase lines each) segmented in full - RFM, labels, tags, BG/NBD and
// Gamma-Gamma fits and forecasts, CLV, k-means, FP-growth - then every member's results stored
// as a run in a head-office database. Prints the time of each step and the peak resident
// memory; exits non-zero only if a check fails (every member stored, the run readable back),
// never because something was slow.
//
//   segmentation_bench [--members N] [--seed S] [--no-store]
//   segmentation_bench --write-ledger FILE [--members N] [--seed S]
//   segmentation_bench --from-ledger FILE
//
// The first form segments the generated history in memory. The other two are head office's
// real path in two processes (so that the generator's memory does not count): write the chain
// into a head-office ledger as completed purchases, then read it back with load_history,
// segment it and store the run in the same file.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include "bench_support.hpp"
#include "hq_admin.hpp"
#include "hq_segmentation.hpp"
#include "loyalty/demo_chain.hpp"
#include "loyalty/segmentation.hpp"

namespace {

using namespace loyalty;
using namespace loyalty::analytics;
using Steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

using bench::cpu_seconds;
using bench::peak_mib;

// When a step began, by the wall and by the process's CPU time.
struct Start {
    Steady::time_point wall = Steady::now();
    double cpu = cpu_seconds();
};

void report(const char* step, const Start& start) {
    std::printf("| %-34s | %9.2f s | %9.2f s | %9.0f MiB |\n", step,
                std::chrono::duration<double>(Steady::now() - start.wall).count(), cpu_seconds() - start.cpu,
                peak_mib());
    std::fflush(stdout);
}

const SystemClock wall_clock;

// Stores the result as head office does (SqliteHqStore::store_segment_run through
// store_computed_run's row writer) in `program`'s database; returns false if a check fails.
bool store_run(Program& program, hq::SegmentationOutcome& outcome, const SegmentationConfig& config) {
    hq::SqliteHqStore store(program, wall_clock);
    const Start start;
    hq::store_computed_run(store, config, "command", wall_clock.now(), true, outcome);
    report("store every member's results", start);
    const auto stored = store.segment_run(outcome.run.run_id);
    const auto rows = static_cast<std::size_t>(*program.database().query_integer(
        "SELECT COUNT(*) FROM member_segments WHERE run_id = ?", outcome.run.run_id));
    const Start query;
    hq::MemberSegmentFilter filter;
    filter.segments = {"At Risk", "Can't Lose Them"};
    filter.min_clv = 100.0;
    filter.limit = 1'000'000;
    const std::size_t targeted = store.members_in_latest_run(filter).size();
    report(("campaign query (" + std::to_string(targeted) + " members)").c_str(), query);
    return stored && rows == outcome.result.members.size();
}

void open_ledger(std::optional<Program>& program, const std::string& path, Durability durability) {
    program.emplace(ProgramOptions{path, "HQ", durability}, wall_clock, load_rules_file("").value());
}

// The chain as head office's ledger holds it: members, and one completed purchase per member
// and day at a till of the day's store ("S3-T1/..."), with its lines.
void write_ledger(Program& program, const PurchaseHistory& history) {
    Database& database = program.database();
    Transaction members(database);
    Statement& member = database.prepare(
        "INSERT INTO members(member_id, name, tier, tier_since, enrolled_at) VALUES (?, '', 'Bronze', 0, 0)");
    for (Index m = 0; m < history.members.size(); ++m) member.bind(history.members.name(m)).run();
    members.commit();
    Statement& purchase = database.prepare(
        "INSERT INTO purchases(txn_id, member_id, created_at, rule_version, net_cents, redeemed_points, "
        "redeemed_cents, earned_points, status) VALUES (?, ?, ?, 1, ?, 0, 0, 0, 'completed')");
    Statement& line = database.prepare(
        "INSERT INTO purchase_lines(txn_id, line, sku, category, quantity, unit_price_cents, discount_cents, "
        "net_cents, points, qualifying_cents) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?)");
    const auto& lines = history.lines;
    for (std::size_t first = 0; first < lines.size();) {
        Transaction batch(database);
        for (std::size_t written = 0; first < lines.size() && written < 100'000;) {
            std::size_t end = first;
            std::int64_t net = 0;
            for (; end < lines.size() && lines[end].member == lines[first].member && lines[end].day == lines[first].day;
                 ++end)
                net += lines[end].amount_cents;
            const std::string& member_id = history.members.name(lines[first].member);
            const std::string txn_id = "S" + std::to_string(lines[first].store + 1) + "-T1/" + member_id + "-" +
                                       std::to_string(lines[first].day);
            purchase.bind(txn_id, member_id, Timestamp{lines[first].day} * seconds_per_day + 43'200, net).run();
            for (std::size_t i = first; i < end; ++i) {
                const PurchaseLine& l = lines[i];
                line.bind(txn_id, static_cast<std::int64_t>(i - first + 1), history.skus.name(l.sku),
                          history.categories.name(l.category), std::int64_t{l.quantity},
                          l.amount_cents / l.quantity, l.discount_cents, l.amount_cents, l.amount_cents)
                    .run();
            }
            written += end - first;
            first = end;
        }
        batch.commit();
    }
}

void print_models(const SegmentationResult& result) {
    std::printf("\nBG/NBD r=%.4f alpha=%.3f a=%.4f b=%.4f (%zu customers, %zu distinct histories)\n",
                result.bgnbd.parameters.r, result.bgnbd.parameters.alpha, result.bgnbd.parameters.a,
                result.bgnbd.parameters.b, result.bgnbd.customers, result.bgnbd.distinct_histories);
    std::printf("Gamma-Gamma p=%.4f q=%.4f gamma=%.4f; k=%zu clusters; %zu rules from %zu baskets\n\n",
                result.gamma_gamma.parameters.p, result.gamma_gamma.parameters.q, result.gamma_gamma.parameters.gamma,
                result.clusters.size(), result.rules.size(), result.baskets);
}

struct Options {
    DemoChainConfig chain;
    bool store = true;
    std::string write_ledger, from_ledger;
};

std::optional<Options> parse(int argc, char** argv) {
    Options options;
    options.chain.members = 1'000'000;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const bool valued = i + 1 < argc;
        if (arg == "--members" && valued) {
            options.chain.members = std::stoul(argv[++i]);
        } else if (arg == "--seed" && valued) {
            options.chain.seed = std::stoull(argv[++i]);
        } else if (arg == "--no-store") {
            options.store = false;
        } else if (arg == "--write-ledger" && valued) {
            options.write_ledger = argv[++i];
        } else if (arg == "--from-ledger" && valued) {
            options.from_ledger = argv[++i];
        } else {
            return std::nullopt;
        }
    }
    return options;
}

}  // namespace

int main(int argc, char** argv) {
    const auto options = parse(argc, argv);
    if (!options) {
        std::cerr << "usage: segmentation_bench [--members N] [--seed S] [--no-store]\n"
                     "       segmentation_bench --write-ledger FILE [--members N] [--seed S]\n"
                     "       segmentation_bench --from-ledger FILE\n";
        return 2;
    }
    std::printf("segmentation_bench: %s\nmachine: %s\n\n",
                options->from_ledger.empty()
                    ? (std::to_string(options->chain.members) + " members, seed " + std::to_string(options->chain.seed)).c_str()
                    : ("head-office ledger " + options->from_ledger).c_str(),
                bench::machine().c_str());
    std::printf("| %-34s | %11s | %11s | %13s |\n| --- | ---: | ---: | ---: |\n", "step", "wall time", "CPU time",
                "peak RSS");

    hq::SegmentationOutcome outcome;
    SegmentationConfig config;
    config.as_of = options->chain.last_day;
    Start start;
    if (options->from_ledger.empty()) {
        outcome.history = generate_demo_chain(options->chain);
        report(("generate " + std::to_string(outcome.history.lines.size()) + " lines").c_str(), start);
    }
    if (!options->write_ledger.empty()) {
        std::optional<Program> ledger;
        open_ledger(ledger, options->write_ledger, Durability::normal);
        start = Start{};
        write_ledger(*ledger, outcome.history);
        report("write the head-office ledger", start);
        return 0;
    }
    const fs::path scratch = bench::scratch_dir();
    std::optional<Program> program;
    if (!options->from_ledger.empty()) {
        open_ledger(program, options->from_ledger, Durability::full);
        start = Start{};
        outcome.history = hq::load_history(*program, config.as_of).history;
        report(("load_history: " + std::to_string(outcome.history.lines.size()) + " lines").c_str(), start);
    }
    start = Start{};
    outcome.result = run_segmentation(outcome.history, config);
    report("segment (whole pipeline)", start);
    bool stored_ok = true;
    if (options->store) {
        if (!program) open_ledger(program, (scratch / "hq.db").string(), Durability::full);
        stored_ok = store_run(*program, outcome, config);
    }
    print_models(outcome.result);
    std::printf("peak resident memory: %.0f MiB\n", peak_mib());
    program.reset();
    fs::remove_all(scratch);
    const bool models_ok = outcome.result.bgnbd.converged && outcome.result.gamma_gamma.converged;
    if (!models_ok) std::cerr << "a model fit did not converge\n";
    if (!stored_ok) std::cerr << "the stored run does not match the result\n";
    return models_ok && stored_ok ? 0 : 1;
}
