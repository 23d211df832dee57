// Head office's segmentation runs on a real SQLite file: a run stored and read back member by
// member, idempotent reruns and --replace, a crashed run never seen and cleaned up, the
// campaign query, the daily schedule (ManualClock, then the real thread), the admin API's
// routes and the config's "segmentation" section.
#include "hq_segmentation.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <sstream>
#include <thread>

#include "hq_admin.hpp"
#include "hq_config.hpp"
#include "support/core_fixture.hpp"

using namespace loyalty;
using namespace loyalty::testing;
using namespace std::chrono_literals;
using nlohmann::json;
namespace analytics = loyalty::analytics;

namespace {

// Head office over a real file: 40 members buying over 120 days with different habits
// (member n buys every n-th day, some stop, some never buy), in four categories.
struct HeadOffice {
    HeadOffice() : clock(parse_timestamp("2026-01-05T10:00:00Z").value()) {
        open();
        for (int n = 1; n <= 40; ++n) members.push_back(enroll(n));
        for (int day = 0; day < 120; ++day) {
            for (int n = 1; n <= 35; ++n) {
                const bool stopped = n % 4 == 0 && day > 60;
                if (day % n != 0 || stopped) continue;
                const std::string category = n % 3 == 0 ? "wine" : (day % 2 == 0 ? "bakery" : "dairy");
                REQUIRE(program->purchase(sale("T" + std::to_string(day) + "-" + std::to_string(n), members[n - 1],
                                               {line("sku-" + category, category, 1 + n % 3, 250 + 40 * n,
                                                     n % 5 == 0 ? 50 : 0),
                                                line("sku-fruit", "fruit", 1, 120)}))
                            .ok());
            }
            clock.advance_days(1);
        }
    }

    void open() {
        program.emplace(ProgramOptions{(dir.path() / "hq.db").string(), "HQ", Durability::normal}, clock, rules_with());
        store.emplace(*program, clock);
    }
    void reopen() {
        store.reset();
        program.reset();
        open();
    }
    std::string enroll(int n) { return program->enroll({valid_card(n), "", "M" + std::to_string(n), ""})->result.member_id; }

    analytics::SegmentationConfig config(int horizon_days = 365) const {
        analytics::SegmentationConfig config;
        config.as_of = static_cast<analytics::DayNumber>(day_number(clock.now()) - 1);
        config.horizon_days = horizon_days;
        return config;
    }
    hq::SegmentationOutcome segment(const analytics::SegmentationConfig& config, bool replace = false) {
        return hq::segment_and_store(*program, *store, clock, config, "command", replace);
    }
    std::int64_t count(const std::string& sql) { return program->database().query_integer(sql).value_or(-1); }

    TempDir dir;
    ManualClock clock;
    std::optional<Program> program;
    std::optional<hq::SqliteHqStore> store;
    std::vector<std::string> members;
};

std::vector<hq::MemberSegment> every_member(hq::HqStore& store) {
    hq::MemberSegmentFilter filter;
    filter.limit = 1'000'000;
    return store.members_in_latest_run(filter);
}

}  // namespace

TEST_CASE("a run is stored with its id and date and every member reads back as computed", "[hq_segmentation]") {
    HeadOffice hq;
    const auto config = hq.config();
    const hq::SegmentationOutcome outcome = hq.segment(config);
    REQUIRE(outcome.computed);
    const hq::SegmentRun& run = outcome.run;
    CHECK(run.run_id > 0);
    CHECK(run.as_of == "2026-05-04");
    CHECK(run.trigger == "command");
    CHECK(run.members == 40);
    CHECK(run.parameters.at("horizon_days") == 365);
    CHECK(run.finished_at >= run.started_at);
    CHECK(run.report.at("segments").size() >= 2);
    CHECK(run.report.at("models").at("bgnbd").contains("r"));

    const auto read = hq.store->segment_run(run.run_id);
    REQUIRE(read);
    CHECK(read->report == run.report);
    const auto listed = hq.store->segment_runs(10);
    REQUIRE(listed.size() == 1);
    CHECK(listed[0].run_id == run.run_id);
    CHECK(listed[0].report.is_null());  // lists leave reports out

    const auto rows = every_member(*hq.store);
    REQUIRE(rows.size() == 40);
    std::size_t never_purchased = 0;
    for (const hq::MemberSegment& row : rows) {
        const analytics::Index index = outcome.history.members.find(row.member_id);
        REQUIRE(index != analytics::no_index);
        const analytics::MemberResult& member = outcome.result.members[index];
        INFO(row.member_id);
        CHECK(row.run_id == run.run_id);
        CHECK(row.as_of == "2026-05-04");
        CHECK(row.segment == outcome.result.segment_names[member.segment]);
        CHECK(row.r_score == static_cast<std::int64_t>(member.rfm.r_score));
        CHECK(row.monetary_cents == member.rfm.monetary_cents);
        CHECK(row.frequency == static_cast<std::int64_t>(member.repeat.x));
        CHECK(row.value_tier == analytics::to_string(member.profile.value_tier));
        CHECK(row.lifecycle == analytics::to_string(member.profile.lifecycle));
        if (member.rfm.recency_days < 0) {
            ++never_purchased;
            CHECK_FALSE(row.recency_days);
            CHECK_FALSE(row.p_alive);
            CHECK_FALSE(row.clv);
            CHECK_FALSE(row.cluster);
            CHECK(row.segment == "Never Purchased");
        } else {
            CHECK(row.recency_days == member.rfm.recency_days);
            CHECK(row.p_alive == member.probability_alive);
            CHECK(row.expected_purchases == member.expected_purchases);
            CHECK(row.clv == member.clv);
            CHECK(std::isfinite(*row.clv));
            CHECK(row.cluster == member.cluster);
            CHECK_FALSE(row.tags.empty());
        }
    }
    CHECK(never_purchased == 5);
    const auto latest = hq.store->latest_member_segment(hq.members[0]);
    REQUIRE(latest);
    CHECK(latest->run_id == run.run_id);
    CHECK_FALSE(hq.store->latest_member_segment("no-such-member"));
}

TEST_CASE("a run is stored once per as-of date and parameters, --replace makes a new one", "[hq_segmentation]") {
    HeadOffice hq;
    const auto first = hq.segment(hq.config());
    REQUIRE(first.computed);

    SECTION("the same key returns the stored run without computing") {
        const auto again = hq.segment(hq.config());
        CHECK_FALSE(again.computed);
        CHECK(again.run.run_id == first.run.run_id);
        CHECK(again.run.report == first.run.report);
        CHECK(hq.count("SELECT COUNT(*) FROM segment_runs") == 1);
        CHECK(hq.count("SELECT COUNT(*) FROM member_segments") == 40);
    }
    SECTION("other parameters or another day are other runs; the latest is the highest as-of") {
        const auto shorter = hq.segment(hq.config(90));
        CHECK(shorter.computed);
        CHECK(shorter.run.run_id != first.run.run_id);
        auto earlier_config = hq.config();
        earlier_config.as_of -= 7;
        const auto earlier = hq.segment(earlier_config);
        CHECK(earlier.computed);
        CHECK(hq.store->segment_runs(10).size() == 3);
        CHECK(hq.store->segment_runs(10).front().run_id == shorter.run.run_id);  // same day, finished last
        CHECK(hq.store->latest_member_segment(hq.members[0])->run_id == shorter.run.run_id);
        CHECK(every_member(*hq.store).front().run_id == shorter.run.run_id);
    }
    SECTION("replace stores a new run in the old one's place") {
        // A late purchase for a day before as-of (a till that was offline) changes the result.
        const auto replaced = hq.segment(hq.config(), true);
        CHECK(replaced.computed);
        CHECK(replaced.run.run_id > first.run.run_id);
        CHECK_FALSE(hq.store->segment_run(first.run.run_id));
        CHECK(hq.count("SELECT COUNT(*) FROM segment_runs") == 1);
        CHECK(hq.count("SELECT COUNT(*) FROM member_segments") == 40);
        CHECK(hq.store->find_segment_run(first.run.as_of, first.run.parameters)->run_id == replaced.run.run_id);
    }
}

TEST_CASE("a run cut short is never visible and is removed", "[hq_segmentation]") {
    HeadOffice hq;
    const auto config = hq.config();
    const json parameters = hq::run_parameters(config);
    hq::SegmentRun partial{0, "2026-05-04", parameters, "schedule", hq.clock.now(), 0, 0, json::object()};
    const auto rows = [](std::size_t index, hq::MemberSegment& row) {
        row.member_id = "M" + std::to_string(index);
        row.segment = "Lost";
    };

    SECTION("a failure part-way takes its rows with it") {
        struct Failure {};
        CHECK_THROWS_AS(hq.store->store_segment_run(partial, 10'000,
                                                    [&](std::size_t index, hq::MemberSegment& row) {
                                                        if (index == 7'000) throw Failure{};
                                                        rows(index, row);
                                                    },
                                                    false),
                        Failure);
        CHECK(hq.count("SELECT COUNT(*) FROM segment_runs") == 0);
        CHECK(hq.count("SELECT COUNT(*) FROM member_segments") == 0);
    }
    SECTION("a crash part-way leaves an unfinished run that nobody reads, removed once stale") {
        // What SIGKILL after the first batch leaves: the run row and 5,000 committed rows.
        Database& database = hq.program->database();
        database.prepare("INSERT INTO segment_runs(as_of, parameters, trigger, started_at, report) VALUES (?, ?, ?, ?, '{}')")
            .bind(partial.as_of, parameters.dump(), partial.trigger, partial.started_at)
            .run();
        const std::int64_t run_id = *database.query_integer("SELECT last_insert_rowid()");
        for (int i = 0; i < 5'000; ++i)
            database.prepare("INSERT INTO member_segments(run_id, member_id, frequency, window_purchase_days, "
                             "monetary_cents, r_score, f_score, m_score, segment, value_tier, spending_power, "
                             "lifecycle, frequency_class, tags) VALUES (?, ?, 0, 0, 0, 0, 0, 0, 'Lost', '', '', '', '', '')")
                .bind(run_id, "M" + std::to_string(i))
                .run();
        hq.reopen();
        CHECK(hq.store->segment_runs(10).empty());
        CHECK_FALSE(hq.store->find_segment_run("2026-05-04", parameters));
        CHECK_FALSE(hq.store->latest_member_segment("M1"));
        CHECK(every_member(*hq.store).empty());

        hq.segment(config);  // a run under way elsewhere is left alone while it is young
        CHECK(hq.count("SELECT COUNT(*) FROM segment_runs WHERE finished_at IS NULL") == 1);
        hq.clock.set(hq.clock.now() + 7 * 3600);
        auto later = config;
        later.as_of += 1;
        const auto run = hq.segment(later);
        CHECK(run.computed);
        CHECK(hq.count("SELECT COUNT(*) FROM segment_runs WHERE finished_at IS NULL") == 0);
        CHECK(hq.count("SELECT COUNT(*) FROM member_segments") == 80);
    }
}

TEST_CASE("campaigns select the latest run's members by segment, tags, tier, CLV and churn", "[hq_segmentation]") {
    HeadOffice hq;
    hq.segment(hq.config());
    const auto all = every_member(*hq.store);
    REQUIRE(all.size() == 40);
    const auto matching = [&](auto predicate) {
        std::vector<std::string> ids;
        for (const hq::MemberSegment& row : all)
            if (predicate(row)) ids.push_back(row.member_id);
        return ids;
    };
    const auto ids = [](const std::vector<hq::MemberSegment>& rows) {
        std::vector<std::string> result;
        for (const hq::MemberSegment& row : rows) result.push_back(row.member_id);
        return result;
    };
    hq::MemberSegmentFilter filter;
    filter.segments = {all[0].segment, "Never Purchased"};
    CHECK(ids(hq.store->members_in_latest_run(filter)) == matching([&](const hq::MemberSegment& row) {
              return row.segment == all[0].segment || row.segment == "Never Purchased";
          }));

    filter = {};
    filter.tags = {"category:wine"};
    const auto wine = hq.store->members_in_latest_run(filter);
    CHECK_FALSE(wine.empty());
    CHECK(ids(wine) == matching([](const hq::MemberSegment& row) {
              return std::find(row.tags.begin(), row.tags.end(), "category:wine") != row.tags.end();
          }));
    filter.tags = {"category:wine", "price_sensitive"};  // every tag must be there
    CHECK(ids(hq.store->members_in_latest_run(filter)) == matching([](const hq::MemberSegment& row) {
              const auto has = [&](const char* tag) {
                  return std::find(row.tags.begin(), row.tags.end(), tag) != row.tags.end();
              };
              return has("category:wine") && has("price_sensitive");
          }));

    filter = {};
    filter.value_tier = "high_value";
    filter.min_clv = 10.0;
    CHECK(ids(hq.store->members_in_latest_run(filter)) == matching([](const hq::MemberSegment& row) {
              return row.value_tier == "high_value" && row.clv && *row.clv >= 10.0;
          }));

    filter = {};
    filter.min_churn_probability = 0.5;
    const auto churning = hq.store->members_in_latest_run(filter);
    CHECK(ids(churning) == matching([](const hq::MemberSegment& row) { return row.p_alive && *row.p_alive <= 0.5; }));
    CHECK_FALSE(churning.empty());  // the members who stopped buying after day 60

    filter = {};
    filter.limit = 15;  // pages by member id
    auto page = hq.store->members_in_latest_run(filter);
    std::vector<std::string> paged = ids(page);
    filter.after_member_id = page.back().member_id;
    for (const auto& row : hq.store->members_in_latest_run(filter)) paged.push_back(row.member_id);
    CHECK(paged.size() == 30);
    const std::vector<std::string> everyone = ids(all);
    CHECK(paged == std::vector<std::string>(everyone.begin(), everyone.begin() + 30));
}

TEST_CASE("the schedule runs yesterday's segmentation once a day after its time", "[hq_segmentation]") {
    hq::SegmentationSchedule schedule;
    schedule.enabled = true;
    schedule.daily_at_minutes = 2 * 60;
    schedule.keep_member_results = 2;
    const auto at = [](const char* time) { return parse_timestamp(time).value(); };
    CHECK(analytics::format_day(hq::scheduled_as_of(schedule, at("2026-05-05T01:59:59Z"))) == "2026-05-03");
    CHECK(analytics::format_day(hq::scheduled_as_of(schedule, at("2026-05-05T02:00:00Z"))) == "2026-05-04");
    CHECK(analytics::format_day(hq::scheduled_as_of(schedule, at("2026-05-05T23:59:59Z"))) == "2026-05-04");

    HeadOffice hq;  // the clock stands at 2026-05-05T10:00Z
    const auto first = hq::run_scheduled_segmentation(*hq.program, *hq.store, hq.clock, schedule);
    REQUIRE(first);
    CHECK(first->as_of == "2026-05-04");
    CHECK(first->trigger == "schedule");
    CHECK_FALSE(hq::run_scheduled_segmentation(*hq.program, *hq.store, hq.clock, schedule));  // done today
    hq.clock.set(at("2026-05-06T01:00:00Z"));
    CHECK_FALSE(hq::run_scheduled_segmentation(*hq.program, *hq.store, hq.clock, schedule));  // not yet time
    hq.clock.set(at("2026-05-06T02:30:00Z"));
    const auto second = hq::run_scheduled_segmentation(*hq.program, *hq.store, hq.clock, schedule);
    REQUIRE(second);
    CHECK(second->as_of == "2026-05-05");
    // Down for three days: one catch-up run for the last day, not one per missed day.
    hq.clock.set(at("2026-05-09T12:00:00Z"));
    const auto third = hq::run_scheduled_segmentation(*hq.program, *hq.store, hq.clock, schedule);
    REQUIRE(third);
    CHECK(third->as_of == "2026-05-08");
    CHECK(hq.store->segment_runs(10).size() == 3);
    // Member rows of all but the two latest runs are pruned; every summary stays.
    CHECK(hq.count("SELECT COUNT(DISTINCT run_id) FROM member_segments") == 2);
    CHECK(hq.count("SELECT COUNT(*) FROM member_segments WHERE run_id = " + std::to_string(first->run_id)) == 0);
    CHECK(hq.store->segment_run(first->run_id));
}

TEST_CASE("the scheduler thread runs on its own connection while head office keeps writing", "[hq_segmentation]") {
    HeadOffice hq;
    const SystemClock clock;
    hq::SegmentationSchedule schedule;
    schedule.enabled = true;
    schedule.check_interval = 1s;
    hq::SegmentationScheduler scheduler(schedule, hq.program->options(), hq.program->rules(), clock);
    scheduler.start();
    std::vector<hq::SegmentRun> runs;
    for (int i = 0; i < 300 && runs.empty(); ++i) {
        // Head office's own thread keeps enrolling meanwhile (the write lock is shared).
        REQUIRE(hq.program->enroll({valid_card(1000 + i), "", "Late", ""}).ok());
        std::this_thread::sleep_for(100ms);
        runs = hq.store->segment_runs(10);
    }
    scheduler.stop();
    REQUIRE(runs.size() == 1);
    CHECK(runs[0].trigger == "schedule");
    CHECK(runs[0].as_of == analytics::format_day(hq::scheduled_as_of(schedule, clock.now())));
    CHECK(runs[0].members >= 40);
}

TEST_CASE("a head office without members stores an empty run", "[hq_segmentation]") {
    TempDir dir;
    ManualClock clock(test_start());
    Program program(ProgramOptions{(dir.path() / "hq.db").string(), "HQ", Durability::normal}, clock, rules_with());
    hq::SqliteHqStore store(program, clock);
    analytics::SegmentationConfig config;
    config.as_of = static_cast<analytics::DayNumber>(day_number(clock.now()));
    const auto outcome = hq::segment_and_store(program, store, clock, config, "schedule", false);
    CHECK(outcome.run.members == 0);
    CHECK(store.segment_run(outcome.run.run_id));
}

TEST_CASE("the admin API lists runs, shows one and adds the latest segmentation to a member", "[hq_segmentation]") {
    HeadOffice hq;
    const auto run = hq.segment(hq.config()).run;
    hq::DatabaseThread database;
    http::Router router;
    hq::add_admin_routes(router, database, *hq.program, *hq.store, std::make_shared<http::MetricsRegistry>());
    hq::MemberData member_data(*hq.program, *hq.store, hq.clock);
    hq::add_member_data_routes(router, database, *hq.program, *hq.store, member_data);
    const auto get = [&router](const std::string& path, http::QueryParams query = {}) {
        const http::RouteMatch match = router.match("GET", path);
        REQUIRE(match.outcome == http::RouteMatch::Outcome::found);
        http::Request request;
        request.method = "GET";
        request.path = path;
        request.path_params = match.path_params;
        request.query = std::move(query);
        try {
            return (*match.handler)(request);
        } catch (const http::RequestError& error) {
            return http::Response::json(error.status(), {{"code", error.code()}});
        }
    };

    const http::Response runs = get("/v1/segments/runs");
    REQUIRE(runs.status == 200);
    const json listed = json::parse(runs.body).at("runs");
    REQUIRE(listed.size() == 1);
    CHECK(listed[0].at("run_id") == run.run_id);
    CHECK(listed[0].at("as_of") == "2026-05-04");
    CHECK(listed[0].at("members") == 40);

    const http::Response one = get("/v1/segments/runs/" + std::to_string(run.run_id));
    REQUIRE(one.status == 200);
    const json body = json::parse(one.body);
    double share = 0.0;
    std::int64_t members = 0;
    for (const json& segment : body.at("segments")) {
        share += segment.at("revenue_share").get<double>();
        members += segment.at("members").get<std::int64_t>();
    }
    CHECK(share == Approx(1.0));
    CHECK(members == 40);
    CHECK(body.at("models").at("gamma_gamma").contains("q"));
    CHECK(body.at("parameters").at("horizon_days") == 365);
    CHECK(get("/v1/segments/runs/999").status == 404);
    CHECK(get("/v1/segments/runs/x").status == 400);
    CHECK(get("/v1/segments/runs", {{"limit", "0"}}).status == 400);

    const http::Response member = get("/v1/members/" + hq.members[0]);
    REQUIRE(member.status == 200);
    const json segmentation = json::parse(member.body).at("segmentation");
    CHECK(segmentation.at("run_id") == run.run_id);
    CHECK(segmentation.at("as_of") == "2026-05-04");
    CHECK(segmentation.at("segment").is_string());
    CHECK(segmentation.at("p_alive").is_number());

    const http::Response selected = get("/v1/segments/members", {{"lifecycle", "never_purchased"}, {"limit", "3"}});
    REQUIRE(selected.status == 200);
    const json chosen = json::parse(selected.body).at("members");
    CHECK(chosen.size() == 3);
    for (const json& row : chosen) CHECK(row.at("clv").is_null());
    CHECK(get("/v1/segments/members", {{"min_clv", "lots"}}).status == 400);
}

TEST_CASE("loyalty-hq segment over the database stores the run and says so on a rerun", "[hq_segmentation]") {
    HeadOffice hq;
    const auto segment = [&](const std::vector<std::string>& args) {
        std::ostringstream out, err;
        const int code = hq::run_hq_segment_command(args, *hq.program, *hq.store, hq.clock, out, err);
        return std::tuple{code, out.str(), err.str()};
    };
    const auto [code, out, err] = segment({"--as-of", "2026-05-04"});
    INFO(err);
    REQUIRE(code == 0);
    CHECK(out.rfind("Stored run 1 as of 2026-05-04 (command", 0) == 0);
    CHECK(out.find("Segment") != std::string::npos);
    const auto [again_code, again, again_err] = segment({"--as-of", "2026-05-04"});
    CHECK(again_code == 0);
    CHECK(again.find("already stored, --replace computes it again") != std::string::npos);
    const auto [json_code, json_out, json_err] = segment({"--as-of", "2026-05-04", "--format", "json", "--replace"});
    REQUIRE(json_code == 0);
    const json report = json::parse(json_out);
    CHECK(report.at("run").at("run_id") == 2);
    CHECK(report.at("run").at("stored") == "new");
    CHECK(report.at("models").at("bgnbd").at("time_unit") == "day");
    const auto [bad_code, bad_out, bad_err] = segment({"--as-of", "2026-05-04", "--replace", "--transactions", "x.csv"});
    CHECK(bad_code == 2);
}

TEST_CASE("the config's segmentation section turns the schedule on and names bad fields", "[hq_segmentation]") {
    const auto parsed = hq::parse_hq_config(
        R"({"segmentation": {"daily_at": "03:30", "horizon_days": 180, "keep_member_results": 3,
            "check_interval_seconds": 5}})");
    REQUIRE(parsed.ok());
    CHECK(parsed->segmentation.enabled);
    CHECK(parsed->segmentation.daily_at_minutes == 210);
    CHECK(parsed->segmentation.horizon_days == 180);
    CHECK(parsed->segmentation.keep_member_results == 3);
    CHECK(parsed->segmentation.check_interval == 5s);
    CHECK_FALSE(hq::parse_hq_config("{}")->segmentation.enabled);
    CHECK_FALSE(hq::parse_hq_config(R"({"segmentation": {"enabled": false}})")->segmentation.enabled);
    for (const char* bad : {R"({"segmentation": {"daily_at": "25:00"}})", R"({"segmentation": {"daily_at": "2am"}})",
                            R"({"segmentation": {"every": 3}})", R"({"segmentation": {"horizon_days": 0}})"}) {
        const auto refused = hq::parse_hq_config(bad);
        INFO(bad);
        REQUIRE_FALSE(refused.ok());
        CHECK(refused.error().field.rfind("segmentation", 0) == 0);
    }
}
