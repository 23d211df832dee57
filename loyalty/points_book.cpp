#include "points_book.hpp"

#include <algorithm>

namespace loyalty {

namespace {

constexpr std::string_view lot_columns =
    "lot_id, member_id, points, remaining, earned_at, expires_at, locked_until, is_debt";

Lot read_lot(const Statement& row) {
    return {row.text(0),    row.text(1),          row.integer(2),        row.integer(3),
            row.integer(4), row.optional_integer(5), row.integer(6), row.integer(7) != 0};
}

// A checkout reads the member's lots with points left through the open_lots index, named in
// each query: lots_by_member would also serve, but reads every lot the member ever had, and a
// member of years has hundreds of spent ones. Each query states the index's condition,
// `remaining <> 0`: SQLite uses a partial index only then (it does not derive it from
// `remaining > 0`), and refuses to prepare a query that names an index it cannot use.

// Spendable lots: unlocked, unexpired, soonest expiry first (never-expiring last).
const std::string spendable_lots_sql =
    "SELECT lot_id, remaining FROM lots INDEXED BY open_lots "
    "WHERE member_id = ?1 AND remaining <> 0 AND remaining > 0 AND is_debt = 0 "
    "AND locked_until <= ?2 AND (expires_at IS NULL OR expires_at > ?2) "
    "ORDER BY expires_at IS NULL, expires_at, earned_at, lot_id";

// Any live lot, locked or not, for taking back earned points: soonest expiry first. Lots past
// their expiry date are left to the expiry run, so the result never depends on its timing.
const std::string live_lots_sql =
    "SELECT lot_id, remaining FROM lots INDEXED BY open_lots "
    "WHERE member_id = ?1 AND remaining <> 0 AND remaining > 0 AND is_debt = 0 "
    "AND (expires_at IS NULL OR expires_at > ?2) "
    "ORDER BY expires_at IS NULL, expires_at, earned_at, lot_id";

}  // namespace

std::string mint_id(Database& database, const std::string& node_id, const std::string& prefix) {
    database
        .prepare("INSERT INTO counters(name, next) VALUES (?, 2) "
                 "ON CONFLICT(name) DO UPDATE SET next = next + 1")
        .bind(prefix)
        .run();
    const std::int64_t next =
        database.query_integer("SELECT next FROM counters WHERE name = ?", prefix).value();
    return node_id + "-" + prefix + std::to_string(next - 1);
}

void to_json(nlohmann::json& out, const Journal& journal) {
    out = {{"entries", journal.entries}, {"lots", journal.lots}};
}

LedgerEntry PointsBook::post(const Posting& posting, EntryKind kind, Points points,
                             std::vector<LotAllocation> allocations) {
    LedgerEntry entry{mint_id(database_, node_id_, "E"), posting.member_id, kind, points,
                      posting.operation_id, posting.rule_version, posting.at, std::move(allocations)};
    database_
        .prepare("INSERT INTO ledger(entry_id, member_id, kind, points, operation_id, "
                 "rule_version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
        .bind(entry.entry_id, entry.member_id, to_string(kind), points, entry.operation_id,
              entry.rule_version, entry.created_at)
        .run();
    Statement& insert =
        database_.prepare("INSERT INTO lot_allocations(entry_id, lot_id, points) VALUES (?, ?, ?)");
    for (const LotAllocation& allocation : entry.allocations) {
        insert.bind(entry.entry_id, allocation.lot_id, allocation.points).run();
        adjust_lot(allocation.lot_id, allocation.points);
    }
    journal_.entries.push_back(entry);
    return entry;
}

void PointsBook::adjust_lot(const std::string& lot_id, Points delta) {
    database_.prepare("UPDATE lots SET remaining = remaining + ? WHERE lot_id = ?")
        .bind(delta, lot_id)
        .run();
}

Points PointsBook::settle_debt(const std::string& member_id, Points points,
                               std::vector<LotAllocation>& allocations) {
    Statement& debts = database_.prepare(
        "SELECT lot_id, remaining FROM lots INDEXED BY open_lots WHERE member_id = ? AND remaining <> 0 "
        "AND is_debt = 1 AND remaining < 0");
    debts.bind(member_id);
    while (points > 0 && debts.step()) {
        const Points paid = std::min(points, -debts.integer(1));
        allocations.push_back({debts.text(0), paid});
        points -= paid;
    }
    debts.reset();
    return points;
}

LedgerEntry PointsBook::credit(const Posting& posting, EntryKind kind, Points points,
                               std::optional<Timestamp> expires_at, Timestamp locked_until,
                               std::string* new_lot_id) {
    std::vector<LotAllocation> allocations;
    const Points left = settle_debt(posting.member_id, points, allocations);
    if (left > 0) {
        const Lot lot{mint_id(database_, node_id_, "L"), posting.member_id, left, 0, posting.at,
                      expires_at, locked_until, false};
        database_
            .prepare("INSERT INTO lots(lot_id, member_id, points, remaining, earned_at, "
                     "expires_at, locked_until, is_debt) VALUES (?, ?, ?, 0, ?, ?, ?, 0)")
            .bind(lot.lot_id, lot.member_id, lot.points, lot.earned_at, lot.expires_at,
                  lot.locked_until)
            .run();
        journal_.lots.push_back(lot);
        allocations.push_back({lot.lot_id, left});
        if (new_lot_id) *new_lot_id = lot.lot_id;
    }
    return post(posting, kind, points, std::move(allocations));
}

Points PointsBook::drain(const std::string& sql, const std::string& member_id, Timestamp now,
                         Points points, std::vector<LotAllocation>& allocations) {
    Statement& lots = database_.prepare(sql);
    lots.bind(member_id, now);
    while (points > 0 && lots.step()) {
        const std::string lot_id = lots.text(0);
        const bool already_taken = std::any_of(allocations.begin(), allocations.end(),
                                               [&](const auto& a) { return a.lot_id == lot_id; });
        if (already_taken) continue;
        const Points taken = std::min(points, lots.integer(1));
        allocations.push_back({lot_id, -taken});
        points -= taken;
    }
    lots.reset();
    return points;
}

LedgerEntry PointsBook::spend(const Posting& posting, Points points) {
    std::vector<LotAllocation> allocations;
    const Points missing = drain(spendable_lots_sql, posting.member_id, posting.at, points, allocations);
    if (missing > 0) throw std::logic_error("spend of more points than are spendable");
    return post(posting, EntryKind::redeem, -points, std::move(allocations));
}

LedgerEntry PointsBook::take_back(const Posting& posting, Points points,
                                  const std::string& preferred_lot, Points& shortfall) {
    std::vector<LotAllocation> allocations;
    // The sale's own lot first, unless it is past its expiry date (left to the expiry run, as
    // in live_lots_sql, so the outcome never depends on when that run happens).
    const Points in_lot =
        database_
            .query_integer("SELECT remaining FROM lots WHERE lot_id = ? AND is_debt = 0 AND "
                           "(expires_at IS NULL OR expires_at > ?)", preferred_lot, posting.at)
            .value_or(0);
    if (in_lot > 0) allocations.push_back({preferred_lot, -std::min(points, in_lot)});
    const Points from_others = points - std::min(points, std::max<Points>(in_lot, 0));
    shortfall = drain(live_lots_sql, posting.member_id, posting.at, from_others, allocations);
    if (shortfall > 0) allocations.push_back({debt_lot(posting.member_id, posting.at), -shortfall});
    return post(posting, EntryKind::earn_reversal, -points, std::move(allocations));
}

std::string PointsBook::debt_lot(const std::string& member_id, Timestamp at) {
    if (auto existing = database_.query_text(
            "SELECT lot_id FROM lots WHERE member_id = ? AND is_debt = 1", member_id))
        return *existing;
    const Lot lot{mint_id(database_, node_id_, "L"), member_id, 0, 0, at, std::nullopt, at, true};
    database_
        .prepare("INSERT INTO lots(lot_id, member_id, points, remaining, earned_at, expires_at, "
                 "locked_until, is_debt) VALUES (?, ?, 0, 0, ?, NULL, ?, 1)")
        .bind(lot.lot_id, lot.member_id, lot.earned_at, lot.locked_until)
        .run();
    journal_.lots.push_back(lot);
    return lot.lot_id;
}

std::vector<LedgerEntry> PointsBook::expire_due(const Posting& context, std::int64_t& lots_expired) {
    Statement& due = database_.prepare(
        "SELECT lot_id, member_id, remaining FROM lots WHERE remaining > 0 AND is_debt = 0 "
        "AND expires_at <= ? AND substr(lot_id, 1, length(?)) = ? ORDER BY expires_at, lot_id");
    // Only the node that minted a lot expires it; the others learn of it by replication, so a
    // lot never expires twice.
    const std::string own_prefix = node_id_ + "-";
    due.bind(context.at, own_prefix, own_prefix);
    std::vector<Lot> lots;
    while (due.step())
        lots.push_back({due.text(0), due.text(1), 0, due.integer(2), 0, std::nullopt, 0, false});
    due.reset();
    std::vector<LedgerEntry> entries;
    for (const Lot& lot : lots) {
        Posting posting = context;
        posting.member_id = lot.member_id;
        entries.push_back(
            post(posting, EntryKind::expire, -lot.remaining, {{lot.lot_id, -lot.remaining}}));
    }
    lots_expired = static_cast<std::int64_t>(lots.size());
    return entries;
}

Points PointsBook::spendable(const std::string& member_id, Timestamp now) {
    return database_
        .query_integer("SELECT COALESCE(SUM(remaining), 0) FROM lots INDEXED BY open_lots "
                       "WHERE member_id = ?1 AND remaining <> 0 AND remaining > 0 AND is_debt = 0 "
                       "AND locked_until <= ?2 "
                       "AND (expires_at IS NULL OR expires_at > ?2)",
                       member_id, now)
        .value_or(0);
}

Points PointsBook::pending(const std::string& member_id, Timestamp now) {
    return database_
        .query_integer("SELECT COALESCE(SUM(remaining), 0) FROM lots INDEXED BY open_lots "
                       "WHERE member_id = ?1 AND remaining <> 0 AND remaining > 0 AND is_debt = 0 "
                       "AND locked_until > ?2 "
                       "AND (expires_at IS NULL OR expires_at > ?2)",
                       member_id, now)
        .value_or(0);
}

PointsExpiring PointsBook::expiring(const std::string& member_id, Timestamp now, Timestamp horizon) {
    Statement& statement = database_.prepare(
        "SELECT COALESCE(SUM(remaining), 0), MIN(expires_at) FROM lots INDEXED BY open_lots "
        "WHERE member_id = ? AND remaining <> 0 AND remaining > 0 AND is_debt = 0 AND expires_at > ? "
        "AND expires_at <= ?");
    statement.bind(member_id, now, horizon);
    statement.step();
    PointsExpiring expiring{statement.integer(0), ""};
    if (const auto first = statement.optional_integer(1)) expiring.date = format_date(*first);
    statement.reset();
    return expiring;
}

std::vector<Lot> PointsBook::lots(const std::string& member_id) {
    Statement& statement = database_.prepare("SELECT " + std::string(lot_columns) +
                                             " FROM lots WHERE member_id = ? ORDER BY earned_at, lot_id");
    statement.bind(member_id);
    std::vector<Lot> lots;
    while (statement.step()) lots.push_back(read_lot(statement));
    return lots;
}

void PointsBook::add_foreign_lot(const Lot& lot) {
    database_
        .prepare("INSERT INTO lots(lot_id, member_id, points, remaining, earned_at, expires_at, "
                 "locked_until, is_debt) VALUES (?, ?, ?, 0, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
        .bind(lot.lot_id, lot.member_id, lot.points, lot.earned_at, lot.expires_at,
              lot.locked_until, lot.debt ? 1 : 0)
        .run();
}

bool PointsBook::apply_foreign_entry(const LedgerEntry& entry, Timestamp now) {
    database_
        .prepare("INSERT INTO ledger(entry_id, member_id, kind, points, operation_id, rule_version, "
                 "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
        .bind(entry.entry_id, entry.member_id, to_string(entry.kind), entry.points,
              entry.operation_id, entry.rule_version, entry.created_at)
        .run();
    if (database_.changes() == 0) return false;
    std::vector<LotAllocation> applied;
    for (const LotAllocation& allocation : entry.allocations) {
        Statement& lot = database_.prepare("SELECT remaining, is_debt FROM lots WHERE lot_id = ?");
        lot.bind(allocation.lot_id);
        if (!lot.step())
            throw StorageError(0, "entry " + entry.entry_id + " refers to unknown lot " + allocation.lot_id);
        const Points remaining = lot.integer(0);
        const bool debt = lot.integer(1) != 0;
        lot.reset();
        if (debt || allocation.points >= 0 || remaining + allocation.points >= 0) {
            applied.push_back(allocation);
            continue;
        }
        // Spent here and elsewhere while apart: take what is left, owe the rest.
        const Points overdrawn = -(remaining + allocation.points);
        if (remaining > 0) applied.push_back({allocation.lot_id, -remaining});
        applied.push_back({debt_lot(entry.member_id, now), -overdrawn});
        database_
            .prepare("INSERT INTO overdrafts(entry_id, lot_id, member_id, points, detected_at) "
                     "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
            .bind(entry.entry_id, allocation.lot_id, entry.member_id, overdrawn, now)
            .run();
    }
    Statement& insert =
        database_.prepare("INSERT INTO lot_allocations(entry_id, lot_id, points) VALUES (?, ?, ?) "
                          "ON CONFLICT(entry_id, lot_id) DO UPDATE SET points = points + excluded.points");
    for (const LotAllocation& allocation : applied) {
        insert.bind(entry.entry_id, allocation.lot_id, allocation.points).run();
        adjust_lot(allocation.lot_id, allocation.points);
    }
    return true;
}

Journal PointsBook::take_journal() { return std::exchange(journal_, {}); }

}  // namespace loyalty
