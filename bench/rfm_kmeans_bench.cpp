// RFM scores and k-means in C++ against pandas and numpy (bench/segmentation_baseline.py) on
// the same purchase lines. Two steps, each in a process of its own so that peak memory is the
// step's own:
//
//   rfm_kmeans_bench --write-csv FILE [--members N] [--seed S]   the demo chain as a CSV export
//   rfm_kmeans_bench --csv FILE --out DIR [--k K]                read, score, cluster; results in DIR
//
// The second step times reading the CSV (parse_transactions_csv), the member scan
// (summarise_members), the RFM scores (score_rfm) and Lloyd's k-means (loyalty's kmeans) on
// three standardised features - recency in days, log(1 + purchase days in the window),
// log(1 + window spend) - from k-means++ seeds drawn first and not timed. It writes for the
// Python script: DIR/params.json (as-of day, window, k, the seeds, the inertia, timings) and
// DIR/rfm.csv (every scored member's values and scores). The Python side checks agreement.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "bench_support.hpp"
#include "loyalty/demo_chain.hpp"
#include "loyalty/kmeans.hpp"
#include "loyalty/member_activity.hpp"
#include "loyalty/rfm.hpp"

namespace {

using namespace loyalty::analytics;
namespace bench = loyalty::bench;
namespace fs = std::filesystem;

constexpr std::size_t dimensions = 3;
constexpr std::size_t max_iterations = 100;
constexpr std::uint64_t seed = 1;

struct Options {
    DemoChainConfig chain;
    std::string write_csv, csv, out;
    std::size_t k = 5;
};

std::optional<Options> parse(int argc, char** argv) {
    Options options;
    options.chain.members = 100'000;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string arg = argv[i], value = argv[i + 1];
        if (arg == "--members") options.chain.members = std::stoul(value);
        else if (arg == "--seed") options.chain.seed = std::stoull(value);
        else if (arg == "--write-csv") options.write_csv = value;
        else if (arg == "--csv") options.csv = value;
        else if (arg == "--out") options.out = value;
        else if (arg == "--k") options.k = std::stoul(value);
        else return std::nullopt;
    }
    if (argc % 2 == 0 || options.write_csv.empty() == (options.csv.empty() || options.out.empty())) return std::nullopt;
    return options;
}

// One row per scored member (a purchase up to as_of), as k-means sees them.
std::vector<double> features(const std::vector<RfmScore>& scores) {
    std::vector<double> points;
    points.reserve(scores.size() * dimensions);  // growing it copied 23 MiB twice over at 1M members
    for (const RfmScore& score : scores) {
        if (score.r_score == 0) continue;
        const double monetary = static_cast<double>(score.monetary_cents) / 100.0;
        points.insert(points.end(), {static_cast<double>(score.recency_days),
                                     std::log1p(static_cast<double>(score.frequency)), std::log1p(std::max(monetary, 0.0))});
    }
    standardise_columns(points, dimensions);
    return points;
}

double inertia(const std::vector<double>& points, const Clustering& clustering) {
    double sum = 0.0;
    for (std::size_t i = 0; i < clustering.assignment.size(); ++i)
        for (std::size_t d = 0; d < dimensions; ++d) {
            const double difference = points[i * dimensions + d] - clustering.centroids[clustering.assignment[i] * dimensions + d];
            sum += difference * difference;
        }
    return sum;
}

void write_scores(const fs::path& file, const PurchaseHistory& history, const std::vector<RfmScore>& scores) {
    std::ofstream out(file);
    out << "member_id,recency_days,frequency,monetary_cents,r,f,m\n";
    for (std::size_t m = 0; m < scores.size(); ++m) {
        const RfmScore& score = scores[m];
        if (score.r_score == 0) continue;
        out << history.members.name(static_cast<Index>(m)) << ',' << score.recency_days << ',' << score.frequency << ','
            << score.monetary_cents << ',' << int{score.r_score} << ',' << int{score.f_score} << ','
            << int{score.m_score} << '\n';
    }
}

int score_and_cluster(const Options& options) {
    bench::Stopwatch step;
    std::ifstream input(options.csv);
    LoadResult loaded = parse_transactions_csv(input);
    if (!loaded.errors.empty()) {
        std::cerr << options.csv << ":" << loaded.errors.front().line << ": " << loaded.errors.front().message << "\n";
        return 1;
    }
    const PurchaseHistory& history = loaded.history;
    nlohmann::ordered_json timings;
    timings["read_csv"] = step.lap();
    const ActivityConfig activity_config{options.chain.last_day};
    const ActivityTable activity = summarise_members(history, order_by_member_and_day(history), activity_config);
    timings["member_scan"] = step.lap();
    const std::vector<RfmScore> scores = score_rfm(activity, activity_config.as_of);
    timings["rfm_scores"] = step.lap();
    const std::vector<double> points = features(scores);
    timings["features"] = step.lap();
    const Clustering seeds = kmeans(points, dimensions, options.k, seed, 0);  // k-means++ only
    step.lap();
    const Clustering clustering = kmeans(points, dimensions, options.k, seed, max_iterations, seeds.centroids);
    timings["kmeans"] = step.lap();
    double total = 0;
    for (const auto& seconds : timings) total += seconds.get<double>();
    const double peak = bench::peak_mib();

    const fs::path out = options.out;
    fs::create_directories(out);
    write_scores(out / "rfm.csv", history, scores);
    const nlohmann::ordered_json params{{"as_of_day", activity_config.as_of},   {"window_days", activity_config.window_days},
                                {"k", options.k},                       {"max_iterations", max_iterations},
                                {"seeds", seeds.centroids},             {"inertia", inertia(points, clustering)},
                                {"lines", history.lines.size()},        {"scored_members", points.size() / dimensions},
                                {"seconds", timings},                   {"total_seconds", total},
                                {"peak_mib", peak}};
    std::ofstream(out / "params.json") << params.dump(2) << '\n';
    std::printf("C++ (loyalty::analytics), %zu lines, %zu scored members, k=%zu\n", history.lines.size(),
                points.size() / dimensions, options.k);
    for (const auto& [name, seconds] : timings.items()) std::printf("  %-12s %8.2f s\n", name.c_str(), seconds.get<double>());
    std::printf("  %-12s %8.2f s, peak RSS %.0f MiB, inertia %.6f\n", "total", total, peak, params["inertia"].get<double>());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const auto options = parse(argc, argv);
    if (!options) {
        std::cerr << "usage: rfm_kmeans_bench --write-csv FILE [--members N] [--seed S]\n"
                     "       rfm_kmeans_bench --csv FILE --out DIR [--k K]\n";
        return 2;
    }
    if (!options->write_csv.empty()) {
        const PurchaseHistory history = generate_demo_chain(options->chain);
        std::ofstream out(options->write_csv);
        write_transactions_csv(history, out);
        std::printf("wrote %zu lines of %zu members to %s\n", history.lines.size(), options->chain.members,
                    options->write_csv.c_str());
        return out ? 0 : 1;
    }
    return score_and_cluster(*options);
}
