// Head-office segmentation at chain scale (issue 5): a generated chain of N members (default
// 1,000,000, about 20 purchase lines each) segmented in full - RFM, labels, tags, BG/NBD and
// Gamma-Gamma fits and forecasts, CLV, k-means, FP-growth - then every member's results stored
// as a run in a head-office database. Prints the time of each step and the peak resident
// memory; exits non-zero only if a check fails (every member stored, the run readable back),
// never because something was slow.
//
//   segmentation_bench [--members N] [--seed S] [--no-store]
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include "bench_support.hpp"
#include "hq_segmentation.hpp"
#include "loyalty/demo_chain.hpp"
#include "loyalty/segmentation.hpp"

namespace {

using namespace loyalty;
using namespace loyalty::analytics;
using Steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

double peak_mib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

double seconds_since(Steady::time_point start) { return std::chrono::duration<double>(Steady::now() - start).count(); }

void report(const char* step, Steady::time_point start) {
    std::printf("| %-34s | %9.2f s | %9.0f MiB |\n", step, seconds_since(start), peak_mib());
    std::fflush(stdout);
}

// Stores the result as head office does (SqliteHqStore::store_segment_run through
// segment_and_store's row writer) in a fresh database; returns false if a check fails.
bool store_run(hq::SegmentationOutcome& outcome, const SegmentationConfig& config) {
    const fs::path dir = bench::scratch_dir();
    bool ok = true;
    {
        const SystemClock clock;
        Program program(ProgramOptions{(dir / "hq.db").string(), "HQ", Durability::full}, clock,
                        load_rules_file("").value());
        hq::SqliteHqStore store(program, clock);
        const Steady::time_point start = Steady::now();
        hq::store_computed_run(store, config, "command", clock.now(), false, outcome);
        report("store every member's results", start);
        const auto stored = store.segment_run(outcome.run.run_id);
        const std::size_t rows = static_cast<std::size_t>(
            *program.database().query_integer("SELECT COUNT(*) FROM member_segments WHERE run_id = ?",
                                              outcome.run.run_id));
        ok = stored && rows == outcome.result.members.size();
        const Steady::time_point query = Steady::now();
        hq::MemberSegmentFilter filter;
        filter.segments = {"At Risk", "Can't Lose Them"};
        filter.min_clv = 100.0;
        filter.limit = 1'000'000;
        const std::size_t targeted = store.members_in_latest_run(filter).size();
        report(("campaign query (" + std::to_string(targeted) + " members)").c_str(), query);
        std::printf("\ndatabase: %.0f MiB for %zu member rows\n",
                    static_cast<double>(fs::file_size(dir / "hq.db") + fs::file_size(dir / "hq.db-wal")) / 1048576.0,
                    rows);
    }
    fs::remove_all(dir);
    return ok;
}

}  // namespace

int main(int argc, char** argv) {
    DemoChainConfig chain;
    chain.members = 1'000'000;
    bool store = true;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--members" && i + 1 < argc) {
            chain.members = std::stoul(argv[++i]);
        } else if (arg == "--seed" && i + 1 < argc) {
            chain.seed = std::stoull(argv[++i]);
        } else if (arg == "--no-store") {
            store = false;
        } else {
            std::cerr << "usage: segmentation_bench [--members N] [--seed S] [--no-store]\n";
            return 2;
        }
    }
    std::printf("segmentation_bench: %zu members, seed %llu\nmachine: %s\n\n", chain.members,
                static_cast<unsigned long long>(chain.seed), bench::machine().c_str());
    std::printf("| %-34s | %11s | %13s |\n| --- | ---: | ---: |\n", "step", "time", "peak RSS");

    hq::SegmentationOutcome outcome;
    Steady::time_point start = Steady::now();
    outcome.history = generate_demo_chain(chain);
    report(("generate " + std::to_string(outcome.history.lines.size()) + " lines").c_str(), start);

    SegmentationConfig config;
    config.as_of = chain.last_day;
    start = Steady::now();
    outcome.result = run_segmentation(outcome.history, config);
    report("segment (whole pipeline)", start);
    const bool stored_ok = !store || store_run(outcome, config);

    const bool models_ok = outcome.result.bgnbd.converged && outcome.result.gamma_gamma.converged;
    std::printf("\nBG/NBD r=%.4f alpha=%.3f a=%.4f b=%.4f (%zu customers, %zu distinct histories)\n",
                outcome.result.bgnbd.parameters.r, outcome.result.bgnbd.parameters.alpha,
                outcome.result.bgnbd.parameters.a, outcome.result.bgnbd.parameters.b, outcome.result.bgnbd.customers,
                outcome.result.bgnbd.distinct_histories);
    std::printf("Gamma-Gamma p=%.4f q=%.4f gamma=%.4f; k=%zu clusters; %zu rules from %zu baskets\n\n",
                outcome.result.gamma_gamma.parameters.p, outcome.result.gamma_gamma.parameters.q,
                outcome.result.gamma_gamma.parameters.gamma, outcome.result.clusters.size(),
                outcome.result.rules.size(), outcome.result.baskets);
    std::printf("peak resident memory: %.0f MiB\n", peak_mib());
    if (!models_ok) std::cerr << "a model fit did not converge\n";
    if (!stored_ok) std::cerr << "the stored run does not match the result\n";
    return models_ok && stored_ok ? 0 : 1;
}
