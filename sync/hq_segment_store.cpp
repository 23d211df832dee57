// SqliteHqStore's segmentation runs: segment_runs and member_segments (schema in hq_store.cpp).
#include "hq_store.hpp"

#include <algorithm>

#include "loyalty/store.hpp"

namespace loyalty::hq {

namespace {

using nlohmann::json;

// Member rows per commit: short enough that till ingest waits milliseconds for the write lock.
constexpr std::size_t rows_per_commit = 5'000;
// An unfinished run older than this was left by a crash (a million members take a minute or
// two), so the next run removes it.
constexpr Timestamp stale_run_seconds = 6 * 3600;

constexpr const char* run_columns =
    "r.run_id, r.as_of, r.parameters, r.trigger, r.started_at, r.finished_at, r.members";
constexpr const char* member_columns =
    "m.run_id, r.as_of, m.member_id, m.recency_days, m.frequency, m.window_purchase_days, m.monetary_cents, "
    "m.r_score, m.f_score, m.m_score, m.segment, m.value_tier, m.spending_power, m.lifecycle, "
    "m.frequency_class, m.tags, m.p_alive, m.expected_purchases, m.clv, m.cluster";
// Finished runs, the latest first: highest as_of, then the last finished.
constexpr const char* latest_first = "r.as_of DESC, r.finished_at DESC, r.run_id DESC";

std::string sql(std::initializer_list<std::string_view> parts) {
    std::string text;
    for (const std::string_view part : parts) text += part;
    return text;
}

SegmentRun read_run(const Statement& row) {
    return {row.integer(0),  row.text(1), json::parse(row.text(2)), row.text(3), row.integer(4),
            row.integer(5),  row.integer(6), json()};
}

std::string joined_tags(const std::vector<std::string>& tags) {
    if (tags.empty()) return "";
    std::string text = ";";
    for (const std::string& tag : tags) text += tag + ";";
    return text;
}

MemberSegment read_member(const Statement& row) {
    MemberSegment member;
    member.run_id = row.integer(0);
    member.as_of = row.text(1);
    member.member_id = row.text(2);
    member.recency_days = row.optional_integer(3);
    member.frequency = row.integer(4);
    member.window_purchase_days = row.integer(5);
    member.monetary_cents = row.integer(6);
    member.r_score = row.integer(7);
    member.f_score = row.integer(8);
    member.m_score = row.integer(9);
    member.segment = row.text(10);
    member.value_tier = row.text(11);
    member.spending_power = row.text(12);
    member.lifecycle = row.text(13);
    member.frequency_class = row.text(14);
    member.tags = split_tags(row.text(15));
    member.p_alive = row.optional_real(16);
    member.expected_purchases = row.optional_real(17);
    member.clv = row.optional_real(18);
    member.cluster = row.optional_integer(19);
    return member;
}

void insert_member(Database& database, std::int64_t run_id, const MemberSegment& m) {
    database
        .prepare("INSERT INTO member_segments(run_id, member_id, recency_days, frequency, window_purchase_days, "
                 "monetary_cents, r_score, f_score, m_score, segment, value_tier, spending_power, lifecycle, "
                 "frequency_class, tags, p_alive, expected_purchases, clv, cluster) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(run_id, m.member_id, m.recency_days, m.frequency, m.window_purchase_days, m.monetary_cents, m.r_score,
              m.f_score, m.m_score, m.segment, m.value_tier, m.spending_power, m.lifecycle, m.frequency_class,
              joined_tags(m.tags), m.p_alive, m.expected_purchases, m.clv, m.cluster)
        .run();
}

// Member rows first: they refer to the run.
void delete_run(Database& database, std::int64_t run_id) {
    database.prepare("DELETE FROM member_segments WHERE run_id = ?").bind(run_id).run();
    database.prepare("DELETE FROM segment_runs WHERE run_id = ?").bind(run_id).run();
}

// Best effort after a failure part-way (the failure is what the caller hears about); what
// cannot be removed now is removed as stale by a later run.
void discard_run(Database& database, std::int64_t run_id) noexcept {
    try {
        Transaction transaction(database);
        delete_run(database, run_id);
        transaction.commit();
    } catch (...) {
    }
}

std::vector<std::int64_t> stale_runs(Database& database, Timestamp started_before) {
    std::vector<std::int64_t> runs;
    Statement& rows = database.prepare("SELECT run_id FROM segment_runs WHERE finished_at IS NULL AND started_at < ?");
    rows.bind(started_before);
    while (rows.step()) runs.push_back(rows.integer(0));
    return runs;
}

}  // namespace

std::vector<std::string> split_tags(std::string_view joined) {
    std::vector<std::string> tags;
    std::size_t start = 0;
    while (start < joined.size()) {
        const std::size_t stop = std::min(joined.find(';', start), joined.size());
        if (stop > start) tags.emplace_back(joined.substr(start, stop - start));
        start = stop + 1;
    }
    return tags;
}

std::optional<SegmentRun> SqliteHqStore::find_segment_run(const std::string& as_of, const json& parameters) {
    const auto run_id = program_.database().query_integer(
        "SELECT run_id FROM segment_runs WHERE as_of = ? AND parameters = ? AND finished_at IS NOT NULL", as_of,
        parameters.dump());
    if (!run_id) return std::nullopt;
    return segment_run(*run_id);
}

SegmentRun SqliteHqStore::store_segment_run(const SegmentRun& run, std::size_t members,
                                            const MemberSegmentWriter& row, bool replace) {
    if (!replace)
        if (auto existing = find_segment_run(run.as_of, run.parameters)) return *existing;
    Database& database = program_.database();
    std::int64_t run_id = 0;
    {
        Transaction transaction(database);
        for (const std::int64_t stale : stale_runs(database, clock_.now() - stale_run_seconds))
            delete_run(database, stale);
        database
            .prepare("INSERT INTO segment_runs(as_of, parameters, trigger, started_at, members, report) "
                     "VALUES (?, ?, ?, ?, ?, ?)")
            .bind(run.as_of, run.parameters.dump(), run.trigger, run.started_at,
                  static_cast<std::int64_t>(members), run.report.dump())
            .run();
        run_id = *database.query_integer("SELECT last_insert_rowid()");
        transaction.commit();
    }
    try {
        MemberSegment member;
        for (std::size_t first = 0; first < members; first += rows_per_commit) {
            Transaction transaction(database);
            for (std::size_t index = first; index < std::min(members, first + rows_per_commit); ++index) {
                member = MemberSegment{};
                row(index, member);
                insert_member(database, run_id, member);
            }
            transaction.commit();
        }
    } catch (...) {
        discard_run(database, run_id);
        throw;
    }
    Transaction transaction(database);
    if (const auto existing = find_segment_run(run.as_of, run.parameters)) {
        if (!replace) {  // another process stored the same run meanwhile: keep the first
            delete_run(database, run_id);
            transaction.commit();
            return *existing;
        }
        delete_run(database, existing->run_id);
    }
    database.prepare("UPDATE segment_runs SET finished_at = ? WHERE run_id = ?").bind(clock_.now(), run_id).run();
    transaction.commit();
    return *segment_run(run_id);
}

std::vector<SegmentRun> SqliteHqStore::segment_runs(std::size_t limit) {
    Statement& rows = program_.database().prepare(sql({"SELECT ", run_columns,
                                                       " FROM segment_runs r WHERE r.finished_at IS NOT NULL "
                                                       "ORDER BY ",
                                                       latest_first, " LIMIT ?"}));
    rows.bind(static_cast<std::int64_t>(limit));
    std::vector<SegmentRun> runs;
    while (rows.step()) runs.push_back(read_run(rows));
    return runs;
}

std::optional<SegmentRun> SqliteHqStore::segment_run(std::int64_t run_id) {
    Statement& row = program_.database().prepare(
        sql({"SELECT ", run_columns, ", r.report FROM segment_runs r WHERE r.run_id = ? AND r.finished_at IS NOT NULL"}));
    row.bind(run_id);
    if (!row.step()) return std::nullopt;
    SegmentRun run = read_run(row);
    run.report = json::parse(row.text(7));
    row.reset();
    return run;
}

std::optional<MemberSegment> SqliteHqStore::latest_member_segment(const std::string& member_id) {
    // Few runs: the planner walks them latest first and looks the member up by primary key.
    Statement& row = program_.database().prepare(
        sql({"SELECT ", member_columns,
             " FROM segment_runs r JOIN member_segments m ON m.run_id = r.run_id AND m.member_id = ? "
             "WHERE r.finished_at IS NOT NULL ORDER BY ",
             latest_first, " LIMIT 1"}));
    row.bind(member_id);
    if (!row.step()) return std::nullopt;
    MemberSegment member = read_member(row);
    row.reset();
    return member;
}

std::vector<MemberSegment> SqliteHqStore::members_in_latest_run(const MemberSegmentFilter& filter) {
    // One statement for every filter: an unset filter binds NULL (or an empty list) and passes.
    Statement& rows = program_.database().prepare(sql(
        {"SELECT ", member_columns,
         " FROM member_segments m JOIN segment_runs r ON r.run_id = m.run_id "
         "WHERE m.run_id = (SELECT r.run_id FROM segment_runs r WHERE r.finished_at IS NOT NULL ORDER BY ",
         latest_first,
         " LIMIT 1) AND m.member_id > ?1 "
         "AND (?2 IS NULL OR m.segment IN (SELECT value FROM json_each(?2))) "
         "AND NOT EXISTS (SELECT 1 FROM json_each(?3) t WHERE instr(m.tags, ';' || t.value || ';') = 0) "
         "AND (?4 IS NULL OR m.value_tier = ?4) AND (?5 IS NULL OR m.lifecycle = ?5) "
         "AND (?6 IS NULL OR m.clv >= ?6) AND (?7 IS NULL OR m.clv <= ?7) "
         "AND (?8 IS NULL OR 1.0 - m.p_alive >= ?8) AND (?9 IS NULL OR m.cluster = ?9) "
         "ORDER BY m.member_id LIMIT ?10"}));
    const std::optional<std::string> segments =
        filter.segments.empty() ? std::nullopt : std::optional(json(filter.segments).dump());
    rows.bind(filter.after_member_id, segments, json(filter.tags).dump(), filter.value_tier, filter.lifecycle,
              filter.min_clv, filter.max_clv, filter.min_churn_probability, filter.cluster,
              static_cast<std::int64_t>(filter.limit));
    std::vector<MemberSegment> members;
    while (rows.step()) members.push_back(read_member(rows));
    return members;
}

std::size_t SqliteHqStore::prune_member_segments(std::size_t keep) {
    Database& database = program_.database();
    std::vector<std::int64_t> older;
    Statement& rows = database.prepare(sql({"SELECT r.run_id FROM segment_runs r WHERE r.finished_at IS NOT NULL "
                                            "ORDER BY ",
                                            latest_first, " LIMIT -1 OFFSET ?"}));
    rows.bind(static_cast<std::int64_t>(keep));
    while (rows.step()) older.push_back(rows.integer(0));
    std::size_t removed = 0;
    for (const std::int64_t run_id : older) {
        Transaction transaction(database);
        database.prepare("DELETE FROM member_segments WHERE run_id = ?").bind(run_id).run();
        removed += static_cast<std::size_t>(database.changes());
        transaction.commit();
    }
    return removed;
}

}  // namespace loyalty::hq
