// Clock trouble: till S01-T1's clock jumps backwards and forwards by days while it sells
// (loyaltyd's test seam LOYALTY_TEST_CLOCK_OFFSET_FILE moves its clock by the seconds written
// in a file). Ledger order follows the outbox sequence, not wall time: the outbox stays 1..n,
// head office stores the till's events in seq order, and head office and a second till end up
// with the same ledger and balances. Head office measures the skew from Hello.till_time and
// every Heartbeat.sent_at: it stores the last one per till (GET /v1/tills, `loyalty-hq till
// list`) and logs till_clock_skew, without personal data, beyond max_clock_skew_seconds.
#include <algorithm>
#include <catch2/catch.hpp>
#include <set>
#include <sstream>

#include "support/sync_chain.hpp"
#include "support/till_daemon.hpp"

namespace {

namespace fs = std::filesystem;
using loyalty::test::card_number;
using loyalty::test::Chain;
using loyalty::test::eventually;
using loyalty::test::expect;
using loyalty::test::HeadOffice;
using loyalty::test::ReadOnlyDatabase;
using loyalty::test::SyncedTill;
using loyalty::test::TillOptions;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr std::int64_t day = 86'400;
constexpr std::int64_t max_skew = 300;
constexpr std::int64_t slack = 5;  // seconds between a clock read and its measurement

// Moves the till's clock: the file is replaced at once, so loyaltyd never reads half of it.
void set_offset(const fs::path& file, std::int64_t seconds) {
    loyalty::test::write_file(file.string() + ".new", std::to_string(seconds));
    fs::rename(file.string() + ".new", file);
}

bool near(const json& value, std::int64_t wanted) {
    return value.is_number_integer() && value.get<std::int64_t>() >= wanted - slack &&
           value.get<std::int64_t>() <= wanted + slack;
}

// Head office's till_clock_skew log lines.
std::vector<json> skew_warnings(const std::string& log) {
    std::vector<json> found;
    std::istringstream lines(log);
    for (std::string line; std::getline(lines, line);) {
        const json parsed = json::parse(line, nullptr, false);
        if (parsed.is_object() && parsed.value("event", "") == "till_clock_skew") found.push_back(parsed);
    }
    return found;
}

}  // namespace

TEST_CASE("a till whose clock jumps by days keeps ledger order by seq, and head office flags the skew",
          "[reliability][clock][sync]") {
    Chain chain(json{{"max_clock_skew_seconds", max_skew}});
    HeadOffice hq(chain);
    loyalty::test::TempDir clock_dir;
    const fs::path offset_file = clock_dir.path() / "offset";
    set_offset(offset_file, 0);
    TillOptions skewed;
    skewed.env = {{"LOYALTY_TEST_CLOCK_OFFSET_FILE", offset_file.string()}};
    SyncedTill a(chain, "S01", "T1", skewed);
    SyncedTill b(chain, "S02", "T1");
    const std::string member = a.enroll(1);
    REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
    expect(b.api().request("GET", "/v1/members?card=" + card_number(1)), 200);
    REQUIRE(eventually([&] { return near(hq.till("S01-T1").at("clock_skew_seconds"), 0); }));
    CHECK(skew_warnings(hq.stderr_text()).empty());

    // Jumps back and forth by days, and one small step that is within the limit.
    const std::vector<std::int64_t> offsets{-3 * day, 2 * day, -10 * day, 120, 5 * day, 0};
    int sale = 0;
    for (const std::int64_t offset : offsets) {
        INFO("till clock moved by " << offset << " s");
        set_offset(offset_file, offset);
        for (int i = 0; i < 3; ++i) CHECK(a.buy("A-" + std::to_string(++sale), member, 1'000 + 100 * i).status == 201);
        CHECK(b.buy("B-" + std::to_string(sale), member, 2'500).status == 201);
        // Heartbeats (every second while idle) carry the till's clock to head office.
        CHECK(eventually([&] { return near(hq.till("S01-T1").at("clock_skew_seconds"), offset); }, 20s));
        const auto warnings = skew_warnings(hq.stderr_text());
        const bool flagged = std::any_of(warnings.begin(), warnings.end(), [&](const json& line) {
            return line.at("till_id") == "S01-T1" && near(line.at("skew_seconds"), offset);
        });
        CHECK(flagged == (offset > max_skew || offset < -max_skew));
    }
    // A restart with the clock a week behind: Hello itself reports it.
    a.kill();
    set_offset(offset_file, -7 * day);
    a.start();
    CHECK(eventually([&] {
        const auto warnings = skew_warnings(hq.stderr_text());
        return std::any_of(warnings.begin(), warnings.end(), [](const json& line) {
            return line.at("source") == "hello" && near(line.at("skew_seconds"), -7 * day);
        });
    }, 20s));
    for (const json& line : skew_warnings(hq.stderr_text())) {  // a till id and numbers, nothing personal
        std::set<std::string> keys;
        for (const auto& [key, value] : line.items()) keys.insert(key);
        CHECK(keys == std::set<std::string>{"ts", "level", "event", "till_id", "skew_seconds", "source",
                                            "max_clock_skew_seconds"});
    }
    bool listed = false;  // `loyalty-hq till list` shows it too
    std::istringstream lines(chain.hq_output("till list"));
    for (std::string line; std::getline(lines, line);) {
        const json till = json::parse(line);
        if (till.at("till_id") == "S01-T1") listed = near(till.at("clock_skew_seconds"), -7 * day);
    }
    CHECK(listed);

    // Ledger order is the outbox sequence: gap-free although created_at went back and forth,
    // and head office stored the till's events in that order.
    const auto problems = loyalty::test::audit_until_healed(hq, chain, {&a, &b}, {member});
    for (const std::string& problem : problems) UNSCOPED_INFO(problem);
    CHECK(problems.empty());
    ReadOnlyDatabase till(a.database());
    CHECK(till.integer("SELECT COUNT(*) FROM outbox o JOIN outbox next ON next.seq = o.seq + 1 "
                       "WHERE next.created_at < o.created_at - ?", std::to_string(day)) >= 2);
    ReadOnlyDatabase office(chain.database());
    const auto seqs = office.rows("SELECT seq FROM till_events WHERE till_id = 'S01-T1' ORDER BY version");
    for (std::size_t i = 0; i < seqs.size(); ++i) {
        INFO("feed position " << i);
        REQUIRE(seqs[i] == std::to_string(i + 1));
    }
    CHECK(seqs.size() == static_cast<std::size_t>(till.integer("SELECT MAX(seq) FROM outbox")));
}
