#include "loyalty/segment_command.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "loyalty/demo_chain.hpp"

using namespace loyalty::analytics;
namespace fs = std::filesystem;

namespace {

struct Outcome {
    int code;
    std::string out;
    std::string err;
};

Outcome segment(const std::vector<std::string>& args, const HistorySource& source = {}) {
    std::ostringstream out, err;
    const int code = run_segment_command(args, out, err, source);
    return {code, out.str(), err.str()};
}

// A scratch directory for one test, removed afterwards.
struct ScratchDirectory {
    fs::path path = fs::temp_directory_path() / ("segment_command_test_" + std::to_string(::getpid()));
    ScratchDirectory() { fs::create_directories(path); }
    ~ScratchDirectory() { fs::remove_all(path); }
    std::string file(const std::string& name, const std::string& contents = "") const {
        std::ofstream(path / name) << contents;
        return (path / name).string();
    }
};

std::string demo_csv(std::size_t members) {
    DemoChainConfig config;
    config.members = members;
    std::ostringstream out;
    write_transactions_csv(generate_demo_chain(config), out);
    return out.str();
}

}  // namespace

TEST_CASE("segment --format json prints the contracted keys") {
    const ScratchDirectory scratch;
    const auto transactions = scratch.file("t.csv", demo_csv(1'500));
    const auto members = (scratch.path / "members.csv").string();
    const Outcome outcome = segment({"--transactions", transactions, "--as-of", "2024-12-31", "--horizon-days",
                                     "90", "--members-out", members, "--format=json"});
    INFO(outcome.err);
    REQUIRE(outcome.code == 0);
    const auto report = nlohmann::json::parse(outcome.out);
    const auto& bgnbd = report.at("models").at("bgnbd");
    for (const char* key : {"r", "alpha", "a", "b", "log_likelihood"}) CHECK(bgnbd.at(key).is_number());
    CHECK(bgnbd.at("time_unit") == "day");
    for (const char* key : {"p", "q", "gamma"}) CHECK(report.at("models").at("gamma_gamma").at(key).is_number());
    for (const char* key : {"segments", "clusters", "rules"}) CHECK(report.at(key).is_array());
    CHECK(report.at("segments").at(0).contains("average_clv"));
    CHECK(report.at("run").at("horizon_days") == 90);

    std::ifstream rows(members);
    std::string header;
    std::getline(rows, header);
    CHECK(header.rfind("member_id,recency_days,frequency,monetary,r_score,f_score,m_score,rfm_segment,"
                       "value_tier,lifecycle,p_alive,expected_purchases,clv,cluster,tags",
                       0) == 0);
    std::size_t count = 0;
    for (std::string row; std::getline(rows, row);) ++count;
    CHECK(count > 1'000);
}

TEST_CASE("segment prints a text report by default") {
    const ScratchDirectory scratch;
    const Outcome outcome = segment({"--transactions", scratch.file("t.csv", demo_csv(500)), "--as-of", "2024-12-31"});
    REQUIRE(outcome.code == 0);
    CHECK(outcome.out.rfind("Segmentation as of 2024-12-31", 0) == 0);
}

TEST_CASE("segment refuses bad rows and names them") {
    const ScratchDirectory scratch;
    const auto transactions = scratch.file("bad.csv", "member_id,date,amount\nA,2024-01-01,1.00\nB,2024-01-02,x\n");
    const Outcome outcome = segment({"--transactions", transactions, "--as-of", "2024-12-31"});
    CHECK(outcome.code == 1);
    CHECK(outcome.err.find(transactions + ":3: column amount:") != std::string::npos);
    CHECK(outcome.out.empty());
}

TEST_CASE("segment reports usage errors") {
    CHECK(segment({"--transactions", "x.csv"}).code == 2);                          // no --as-of
    CHECK(segment({"--as-of", "2024-02-30", "--transactions", "x.csv"}).code == 2);  // no such day
    CHECK(segment({"--as-of", "2024-12-31", "--format", "xml"}).code == 2);
    CHECK(segment({"--as-of", "2024-12-31", "--horizon-days", "0"}).code == 2);
    CHECK(segment({"--as-of", "2024-12-31", "--bogus", "1"}).code == 2);
    CHECK(segment({"--as-of"}).code == 2);
    const Outcome missing = segment({"--as-of", "2024-12-31", "--transactions", "/nonexistent/x.csv"});
    CHECK(missing.code == 1);
    CHECK(missing.err.find("cannot open") != std::string::npos);
    const Outcome no_source = segment({"--as-of", "2024-12-31"});
    CHECK(no_source.code == 1);
    CHECK(no_source.err.find("--transactions") != std::string::npos);
    const Outcome help = segment({"--help"});
    CHECK(help.code == 0);
    CHECK(help.out.find("--members-out FILE") != std::string::npos);
}

TEST_CASE("Without --transactions the caller's source supplies the history") {
    DayNumber asked = 0;
    const HistorySource source = [&](DayNumber as_of) {
        asked = as_of;
        std::istringstream csv(demo_csv(300));
        return parse_transactions_csv(csv);
    };
    const Outcome outcome = segment({"--as-of", "2024-12-31", "--format", "json"}, source);
    REQUIRE(outcome.code == 0);
    CHECK(asked == *parse_day("2024-12-31"));
    const HistorySource failing = [](DayNumber) {
        LoadResult result;
        result.errors.push_back({0, "", "database is locked"});
        return result;
    };
    const Outcome failed = segment({"--as-of", "2024-12-31"}, failing);
    CHECK(failed.code == 1);
    CHECK(failed.err.find("database: database is locked") != std::string::npos);
}

TEST_CASE("demo-data writes a CSV that segment reads") {
    std::ostringstream out, err;
    REQUIRE(run_demo_data_command({"--members", "200", "--seed", "9", "--until", "2025-06-30"}, out, err) == 0);
    std::istringstream csv(out.str());
    const auto loaded = parse_transactions_csv(csv);
    CHECK(loaded.errors.empty());
    CHECK(loaded.history.members.size() > 150);
    CHECK(run_demo_data_command({"--members", "zero"}, out, err) == 2);
}
