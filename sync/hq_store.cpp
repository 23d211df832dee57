#include "hq_store.hpp"

#include <limits>
#include <set>
#include <span>

#include "loyalty/erasure.hpp"
#include "loyalty/identifiers.hpp"
#include "loyalty/rules.hpp"
#include "loyalty/store.hpp"
#include "loyalty/tls.hpp"

namespace loyalty::hq {

namespace {

using nlohmann::json;

constexpr std::string_view hq_schema_v1 = R"sql(
CREATE TABLE hq_tills (
    till_id           TEXT PRIMARY KEY,
    store_id          TEXT NOT NULL,
    revoked           INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
    enrolled_at       INTEGER NOT NULL,
    last_seen         INTEGER,
    last_seq          INTEGER NOT NULL DEFAULT 0,
    downstream_cursor INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Every event received, once; also the downstream feed in version order. Rule versions pushed
-- to tills are rows with till_id 'HQ', seq = rule version, type 'rules'.
CREATE TABLE till_events (
    version    INTEGER PRIMARY KEY AUTOINCREMENT,
    till_id    TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    type       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (till_id, seq)
) STRICT;

-- Which members each feed row is about, so a till is sent only what concerns its members.
CREATE TABLE till_event_members (
    version   INTEGER NOT NULL REFERENCES till_events(version),
    member_id TEXT NOT NULL,
    PRIMARY KEY (version, member_id)
) STRICT, WITHOUT ROWID;

-- Members a till knows: it sent events about them or asked head office about them.
CREATE TABLE till_members (
    till_id   TEXT NOT NULL,
    member_id TEXT NOT NULL,
    PRIMARY KEY (till_id, member_id)
) STRICT, WITHOUT ROWID;
)sql";

// Segmentation runs (hq_segmentation.hpp). A run row is written first with finished_at NULL,
// its members in batches, then finished_at in the last commit: unfinished runs are never read
// and are removed by a later run (a crash leaves one behind). Only one finished run per
// (as_of, parameters).
constexpr std::string_view hq_schema_v2 = R"sql(
CREATE TABLE segment_runs (
    run_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    as_of       TEXT NOT NULL,
    parameters  TEXT NOT NULL,
    trigger     TEXT NOT NULL CHECK (trigger IN ('command', 'schedule')),
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    members     INTEGER NOT NULL DEFAULT 0,
    report      TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX segment_runs_key ON segment_runs(as_of, parameters) WHERE finished_at IS NOT NULL;

-- tags is ';'-joined with a ';' at both ends, so that instr(tags, ';' || tag || ';') finds a tag.
CREATE TABLE member_segments (
    run_id               INTEGER NOT NULL REFERENCES segment_runs(run_id),
    member_id            TEXT NOT NULL,
    recency_days         INTEGER,
    frequency            INTEGER NOT NULL,
    window_purchase_days INTEGER NOT NULL,
    monetary_cents       INTEGER NOT NULL,
    r_score              INTEGER NOT NULL,
    f_score              INTEGER NOT NULL,
    m_score              INTEGER NOT NULL,
    segment              TEXT NOT NULL,
    value_tier           TEXT NOT NULL,
    spending_power       TEXT NOT NULL,
    lifecycle            TEXT NOT NULL,
    frequency_class      TEXT NOT NULL,
    tags                 TEXT NOT NULL,
    p_alive              REAL,
    expected_purchases   REAL,
    clv                  REAL,
    cluster              INTEGER,
    PRIMARY KEY (run_id, member_id)
) STRICT, WITHOUT ROWID;
)sql";

// The last clock skew measured for each till (hq_server.cpp).
constexpr std::string_view hq_schema_v3 = R"sql(
ALTER TABLE hq_tills ADD COLUMN clock_skew_seconds INTEGER;
)sql";

// The expiry of the client certificate each till last connected with, for the dashboard.
constexpr std::string_view hq_schema_v4 = R"sql(
ALTER TABLE hq_tills ADD COLUMN certificate_not_after INTEGER;
)sql";

// Each till's feed, written as events are stored (fan-out on write): the versions of other
// nodes' events about members the till knows, and under till_id '*' what every till is sent
// (each rule version, each offer definition). Reading a till's feed is then one range of this
// key; before, every till's feed read scanned every event stored since its cursor, so 50 tills
// sending at once spent a third of head office's time reading each other's events
// (docs/BENCHMARKS.md). The rows already in the feed are filled in as that scan selected them.
constexpr std::string_view hq_schema_v5 = R"sql(
CREATE TABLE till_feed (
    till_id TEXT NOT NULL,
    version INTEGER NOT NULL REFERENCES till_events(version),
    PRIMARY KEY (till_id, version)
) STRICT, WITHOUT ROWID;
CREATE INDEX till_members_by_member ON till_members(member_id);
CREATE INDEX till_event_members_by_member ON till_event_members(member_id, version);
INSERT INTO till_feed(till_id, version)
    SELECT '*', e.version FROM till_events e WHERE e.till_id = 'HQ' OR (e.till_id = 'HQ:offers'
        AND NOT EXISTS (SELECT 1 FROM till_event_members m WHERE m.version = e.version));
INSERT OR IGNORE INTO till_feed(till_id, version)
    SELECT k.till_id, m.version FROM till_event_members m JOIN till_members k ON k.member_id = m.member_id
        JOIN till_events e ON e.version = m.version WHERE e.till_id <> k.till_id;
)sql";

std::int64_t signed_of(std::uint64_t value) { return static_cast<std::int64_t>(value); }

// The till_feed rows of every till (rule versions, offer definitions); no till id can be this.
constexpr std::string_view every_till = "*";
static_assert(config_origin == "HQ" && offers_origin == "HQ:offers" && every_till == "*",
              "hq_schema_v5 fills the feed with these names");

// The feed rows till ?1 is sent, versions ?2 < v <= ?3 (see hq_schema_v5); ?4 is every_till.
constexpr const char* feed_for_till =
    "FROM till_feed f JOIN till_events e ON e.version = f.version "
    "WHERE f.till_id IN (?1, ?4) AND f.version > ?2 AND f.version <= ?3";

// Feed row `version` is about `member_id`: it goes to every till that knows the member but the
// one it came from.
void feed_about_member(Database& database, std::int64_t version, const std::string& member_id,
                       const std::string& origin) {
    database.prepare("INSERT INTO till_event_members(version, member_id) VALUES (?, ?) ON CONFLICT DO NOTHING")
        .bind(version, member_id)
        .run();
    database
        .prepare("INSERT INTO till_feed(till_id, version) SELECT till_id, ? FROM till_members "
                 "WHERE member_id = ? AND till_id <> ? ON CONFLICT DO NOTHING")
        .bind(version, member_id, origin)
        .run();
}

void feed_every_till(Database& database, std::int64_t version) {
    database.prepare("INSERT INTO till_feed(till_id, version) VALUES (?, ?)")
        .bind(std::string(every_till), version)
        .run();
}

// From now on the till knows the member. The member's rows from other nodes after what the till
// has acknowledged join its feed too, as they would have when the feed was read by scanning
// (hq_schema_v5): the till applies a row it already holds as a replay.
void till_knows_member(Database& database, const std::string& till_id, const std::string& member_id) {
    database.prepare("INSERT INTO till_members(till_id, member_id) VALUES (?, ?) ON CONFLICT DO NOTHING")
        .bind(till_id, member_id)
        .run();
    if (database.changes() == 0) return;
    database
        .prepare("INSERT INTO till_feed(till_id, version) SELECT ?1, m.version FROM till_event_members m "
                 "JOIN till_events e ON e.version = m.version WHERE m.member_id = ?2 AND e.till_id <> ?1 "
                 "AND m.version > (SELECT downstream_cursor FROM hq_tills WHERE till_id = ?1) "
                 "ON CONFLICT DO NOTHING")
        .bind(till_id, member_id)
        .run();
}

void add_member_id(const json& object, std::set<std::string>& members) {
    if (!object.is_object()) return;
    const auto found = object.find("member_id");
    if (found != object.end() && found->is_string()) members.insert(found->get<std::string>());
}

Error till_error(ErrorKind kind, std::string code, std::string message) {
    return Error{kind, std::move(code), std::move(message), "till_id"};
}

}  // namespace

std::vector<std::string> members_in_payload(const json& payload) {
    std::set<std::string> members;
    if (!payload.is_object()) return {};
    add_member_id(payload, members);
    for (const char* key : {"member", "result", "qualifying"})
        if (payload.contains(key)) add_member_id(payload.at(key), members);
    for (const char* key : {"entries", "lots"}) {
        const auto list = payload.find(key);
        if (list == payload.end() || !list->is_array()) continue;
        for (const json& item : *list) add_member_id(item, members);
    }
    return {members.begin(), members.end()};
}

SqliteHqStore::SqliteHqStore(Program& program, const Clock& clock) : program_(program), clock_(clock) {
    program_.database().migrate_component(
        "hq", {{1, hq_schema_v1}, {2, hq_schema_v2}, {3, hq_schema_v3}, {4, hq_schema_v4}, {5, hq_schema_v5}});
}

std::optional<TillRecord> SqliteHqStore::find_till(const std::string& till_id) {
    Statement& row = program_.database().prepare(
        "SELECT till_id, store_id, revoked, enrolled_at, last_seen, last_seq, downstream_cursor, "
        "clock_skew_seconds, certificate_not_after FROM hq_tills WHERE till_id = ?");
    row.bind(till_id);
    if (!row.step()) return std::nullopt;
    TillRecord till{row.text(0),
                    row.text(1),
                    row.integer(2) != 0,
                    row.integer(3),
                    row.optional_integer(4),
                    static_cast<std::uint64_t>(row.integer(5)),
                    static_cast<std::uint64_t>(row.integer(6)),
                    row.optional_integer(7),
                    row.optional_integer(8)};
    row.reset();
    return till;
}

std::vector<TillRecord> SqliteHqStore::tills() {
    std::vector<std::string> ids;
    Statement& rows = program_.database().prepare("SELECT till_id FROM hq_tills ORDER BY till_id");
    rows.bind();
    while (rows.step()) ids.push_back(rows.text(0));
    std::vector<TillRecord> result;
    for (const std::string& id : ids) result.push_back(*find_till(id));
    return result;
}

Result<TillRecord> SqliteHqStore::add_till(const std::string& store_id, const std::string& till_id) {
    if (!tls::till_id_from_uri("urn:loyalty:till:" + till_id) || till_id.rfind(store_id + "-", 0) != 0)
        return till_error(ErrorKind::invalid, "invalid_till_id",
                          "till id " + till_id + " must be STORE-TILL with store " + store_id);
    Transaction transaction(program_.database());
    if (auto existing = find_till(till_id)) return *existing;  // the id names its store: same till
    program_.database()
        .prepare("INSERT INTO hq_tills(till_id, store_id, enrolled_at) VALUES (?, ?, ?)")
        .bind(till_id, store_id, clock_.now())
        .run();
    transaction.commit();
    return *find_till(till_id);
}

Result<TillRecord> SqliteHqStore::revoke_till(const std::string& till_id) {
    Transaction transaction(program_.database());
    program_.database().prepare("UPDATE hq_tills SET revoked = 1 WHERE till_id = ?").bind(till_id).run();
    if (program_.database().changes() == 0)
        return till_error(ErrorKind::not_found, "unknown_till", "till " + till_id + " is not registered");
    transaction.commit();
    return *find_till(till_id);
}

void SqliteHqStore::touch_till(const std::string& till_id, std::optional<Timestamp> certificate_not_after) {
    Transaction transaction(program_.database());
    program_.database()
        .prepare("UPDATE hq_tills SET last_seen = ?, certificate_not_after = COALESCE(?, certificate_not_after) "
                 "WHERE till_id = ?")
        .bind(clock_.now(), certificate_not_after, till_id)
        .run();
    transaction.commit();
}

void SqliteHqStore::record_clock_skew(const std::string& till_id, std::int64_t skew_seconds) {
    Transaction transaction(program_.database());
    program_.database()
        .prepare("UPDATE hq_tills SET clock_skew_seconds = ? WHERE till_id = ?")
        .bind(skew_seconds, till_id)
        .run();
    transaction.commit();
}

// Exactly once, crash-safe, one commit per batch: every new event is applied to the ledger
// (Program::apply_remote_event_in_transaction, idempotent by (till_id, seq) in applied_events)
// and recorded in the feed (its till_events row and members) in one transaction, which also
// moves hq_tills.last_seq to the last of them. last_seq is thus the highest contiguous seq
// whose events are both applied and in the feed, and the Ack (sent only after the commit)
// never runs ahead of it. A crash before the commit loses the whole batch, which the till,
// never acked, resends. Events at or below last_seq are replays and skipped whole; an event
// after a gap is never applied. An event the ledger refuses may have written part of itself:
// the transaction is rolled back whole and the events before it applied again in a new one.
// Refusals are rare, and this spares every event a savepoint (whose statement journal was a
// quarter of ingest's time, docs/BENCHMARKS.md).
BatchOutcome SqliteHqStore::store_batch(const std::string& till_id,
                                        const std::vector<protocol::Event>& events) {
    std::span<const protocol::Event> applying(events);
    std::optional<Error> refusal;
    for (;;) {
        std::optional<std::size_t> refused_at;
        BatchOutcome outcome = apply_batch(till_id, applying, refused_at);
        if (!refused_at) {
            if (refusal) outcome.stopped = std::move(refusal);
            return outcome;
        }
        // Each pass is shorter, so this ends; the earliest refusal is the one reported.
        refusal = std::move(outcome.stopped);
        applying = applying.first(*refused_at);
    }
}

// One pass of store_batch: commits unless the ledger refused an event, whose index it then
// gives in `refused_at` (the transaction is rolled back).
BatchOutcome SqliteHqStore::apply_batch(const std::string& till_id, std::span<const protocol::Event> events,
                                        std::optional<std::size_t>& refused_at) {
    BatchOutcome outcome;
    Database& database = program_.database();
    Transaction transaction(database);
    const auto till = find_till(till_id);
    if (!till) {
        outcome.stopped = till_error(ErrorKind::not_found, "unknown_till", "till " + till_id + " is not registered");
        return outcome;
    }
    std::uint64_t last = till->last_seq;
    for (const protocol::Event& event : events) {
        if (event.seq <= last) {
            if (reuses_sequence(till_id, event)) {
                outcome.stopped = Error{ErrorKind::conflict, "sequence_reused",
                                        "till " + till_id + " sent seq " + std::to_string(event.seq) +
                                            " with other content than head office holds (a till restored "
                                            "from a backup?); enrol it again as a new till",
                                        "seq"};
                break;
            }
            ++outcome.replayed;
            continue;
        }
        if (event.seq != last + 1) {
            outcome.stopped = Error{ErrorKind::conflict, "gap",
                                    "till " + till_id + " sent seq " + std::to_string(event.seq) +
                                        " but head office holds only up to " + std::to_string(last),
                                    "seq"};
            break;
        }
        const Result<bool> applied = program_.apply_remote_event_in_transaction(till_id, signed_of(event.seq),
                                                                                event.type, event.payload);
        if (!applied) {
            outcome.stopped = applied.error();
            refused_at = static_cast<std::size_t>(&event - events.data());
            return outcome;  // rolled back: the caller applies the events before it again
        }
        record_event(till_id, event);
        last = event.seq;
        ++outcome.stored;
    }
    database.prepare("UPDATE hq_tills SET last_seq = MAX(last_seq, ?), last_seen = ? WHERE till_id = ?")
        .bind(signed_of(last), clock_.now(), till_id)
        .run();
    transaction.commit();
    outcome.highest_contiguous_seq = last;
    return outcome;
}

// A replay must repeat what head office holds. A till restored from a backup numbers its new
// sales from the backup's sequence: taking those as replays would drop the sales silently.
// An event erased here (or at the till) since it was sent is compared by type only.
bool SqliteHqStore::reuses_sequence(const std::string& till_id, const protocol::Event& event) {
    Statement& stored = program_.database().prepare(
        "SELECT type, payload, json_extract(payload, '$.erased') IS NOT NULL FROM till_events "
        "WHERE till_id = ? AND seq = ?");
    stored.bind(till_id, signed_of(event.seq));
    bool differs = false;
    if (stored.step())
        differs = stored.text(0) != event.type ||
                  (stored.integer(2) == 0 && !event.payload.contains("erased") &&
                   stored.text(1) != protocol::payload_text(event));
    stored.reset();
    return differs;
}

// Inside store_batch's transaction.
void SqliteHqStore::record_event(const std::string& till_id, const protocol::Event& event) {
    Database& database = program_.database();
    database
        .prepare("INSERT INTO till_events(till_id, seq, type, payload, created_at) VALUES (?, ?, ?, ?, ?) "
                 "ON CONFLICT(till_id, seq) DO NOTHING")
        .bind(till_id, signed_of(event.seq), event.type, protocol::payload_text(event), event.created_at)
        .run();
    if (database.changes() > 0) {
        const std::int64_t version = *database.query_integer("SELECT last_insert_rowid()");
        for (const std::string& member_id : members_in_payload(event.payload)) {
            feed_about_member(database, version, member_id, till_id);
            till_knows_member(database, till_id, member_id);
        }
        // Recorded before an erasure at the till, arriving after it here: blanked as it is kept.
        database
            .prepare("UPDATE till_events SET payload = " + scrub_personal_data_sql("payload") +
                     " WHERE version = ?1 AND EXISTS (SELECT 1 FROM till_event_members m JOIN members x "
                     "ON x.member_id = m.member_id WHERE m.version = ?1 AND x.erased_at IS NOT NULL)")
            .bind(version)
            .run();
    }
}

Result<json> SqliteHqStore::query_member(const std::string& till_id, const protocol::MemberQuery& query) {
    MemberRef reference;
    if (query.key == protocol::MemberKey::card) {
        auto card = normalise_card(query.value);
        if (!card) return card.error();
        reference.card = *card;
    } else if (query.key == protocol::MemberKey::phone) {
        auto phone = normalise_phone(query.value);
        if (!phone) return phone.error();
        reference.phone = *phone;
    } else {
        reference.member_id = query.value;
    }
    const Result<Member> member = program_.find_member(reference);
    if (!member) return member.error();
    // Known before the snapshot is taken, on the same thread: any change after the snapshot is
    // in the feed with a version the till has not been sent yet.
    {
        Transaction transaction(program_.database());
        till_knows_member(program_.database(), till_id, member->member_id);
        transaction.commit();
    }
    return program_.member_snapshot(member->member_id);
}

FeedPage SqliteHqStore::downstream(const std::string& till_id, std::uint64_t after_version,
                                   std::size_t max_items, std::size_t max_bytes) {
    Database& database = program_.database();
    FeedPage page;
    const std::uint64_t head =
        static_cast<std::uint64_t>(database.query_integer("SELECT MAX(version) FROM till_events").value_or(0));
    page.scanned_to = std::max(after_version, head);
    Statement& rows = database.prepare(std::string("SELECT e.version, e.till_id, e.seq, e.type, e.payload, "
                                                   "e.created_at ") +
                                       feed_for_till + " ORDER BY f.version");
    rows.bind(till_id, signed_of(after_version), signed_of(head), std::string(every_till));
    std::size_t bytes = 0;
    while (rows.step()) {
        const std::uint64_t version = static_cast<std::uint64_t>(rows.integer(0));
        const std::string origin = rows.text(1);
        json payload = json::parse(rows.text(4));
        protocol::DownstreamItem item;
        item.version = version;
        if (origin == config_origin) {
            item.kind = protocol::DownstreamKind::config;
            item.data = std::move(payload);  // {"rules": ...}
        } else if (origin == offers_origin) {
            item.kind = protocol::DownstreamKind::offer;
            item.data = {{"seq", rows.integer(2)}, {"type", rows.text(3)}, {"payload", std::move(payload)}};
        } else {
            item.kind = protocol::DownstreamKind::member;
            item.data = {{"origin", origin},
                         {"event",
                          {{"seq", rows.integer(2)},
                           {"type", rows.text(3)},
                           {"payload", std::move(payload)},
                           {"created_at", rows.integer(5)}}}};
        }
        const std::size_t size = item.data.dump().size() + 64;
        if (!page.items.empty() && (page.items.size() >= max_items || bytes + size > max_bytes)) {
            page.scanned_to = page.items.back().version;
            break;
        }
        bytes += size;
        page.items.push_back(std::move(item));
    }
    rows.reset();
    return page;
}

void SqliteHqStore::set_downstream_cursor(const std::string& till_id, std::uint64_t version) {
    Transaction transaction(program_.database());
    program_.database()
        .prepare("UPDATE hq_tills SET downstream_cursor = ? WHERE till_id = ?")
        .bind(signed_of(version), till_id)
        .run();
    transaction.commit();
}

std::uint64_t SqliteHqStore::pending_downstream(const std::string& till_id) {
    const auto till = find_till(till_id);
    if (!till) return 0;
    return static_cast<std::uint64_t>(
        program_.database()
            .query_integer(std::string("SELECT COUNT(*) ") + feed_for_till, till_id,
                           signed_of(till->downstream_cursor), std::numeric_limits<std::int64_t>::max(),
                           std::string(every_till))
            .value_or(0));
}

void SqliteHqStore::publish_current_rules() {
    const RuleSet& rules = program_.rules();
    Transaction transaction(program_.database());
    program_.database()
        .prepare("INSERT INTO till_events(till_id, seq, type, payload, created_at) VALUES (?, ?, 'rules', ?, ?) "
                 "ON CONFLICT(till_id, seq) DO NOTHING")
        .bind(std::string(config_origin), rules.version, json{{"rules", rules_to_json(rules)}}.dump(),
              clock_.now())
        .run();
    if (program_.database().changes() > 0)
        feed_every_till(program_.database(), *program_.database().query_integer("SELECT last_insert_rowid()"));
    transaction.commit();
}

void SqliteHqStore::erase_member_events(const std::string& member_id) {
    Transaction transaction(program_.database());
    program_.database()
        .prepare("UPDATE till_events SET payload = " + scrub_personal_data_sql("payload") +
                 " WHERE version IN (SELECT version FROM till_event_members WHERE member_id = ?)")
        .bind(member_id)
        .run();
    transaction.commit();
}

Result<Done> SqliteHqStore::publish_offer(const Offer& offer) {
    auto checked = parse_offer(json(offer));
    if (!checked) return checked.error();
    return publish_event(offers_origin, "offer", {{"offer", *checked}}, {});
}

Result<Done> SqliteHqStore::assign_offer(const std::string& offer_id, const std::vector<std::string>& member_ids,
                                         bool assigned) {
    if (!program_.database().query_integer("SELECT 1 FROM offers WHERE offer_id = ?", offer_id))
        return Error{ErrorKind::not_found, "unknown_offer", "offer " + offer_id + " has not been published",
                     "offer_id"};
    if (member_ids.empty()) return Done{};
    return publish_event(offers_origin, "offer_assignment",
                         {{"offer_id", offer_id}, {"member_ids", member_ids}, {"assigned", assigned}}, member_ids);
}

// One transaction, like store_batch: head office's own Program and the feed row commit together.
// The seq is past both the feed's and the ledger's (a head office before this one committed them
// apart, and may have crashed between), so it is never one head office has already applied.
Result<Done> SqliteHqStore::publish_event(std::string_view origin_name, const std::string& type, const json& payload,
                                          const std::vector<std::string>& member_ids) {
    Database& database = program_.database();
    const std::string origin(origin_name);
    Transaction transaction(database);
    const std::int64_t seq =
        1 + std::max(database.query_integer("SELECT COALESCE(MAX(seq), 0) FROM till_events WHERE till_id = ?", origin)
                         .value_or(0),
                     database.query_integer("SELECT COALESCE(MAX(seq), 0) FROM applied_events WHERE origin = ?", origin)
                         .value_or(0));
    const Timestamp now = clock_.now();
    const Result<bool> applied = program_.apply_remote_event_in_transaction(origin, seq, type, payload);
    if (!applied) return applied.error();
    database.prepare("INSERT INTO till_events(till_id, seq, type, payload, created_at) VALUES (?, ?, ?, ?, ?)")
        .bind(origin, seq, type, payload.dump(), now)
        .run();
    const std::int64_t version = *database.query_integer("SELECT last_insert_rowid()");
    if (member_ids.empty()) feed_every_till(database, version);
    for (const std::string& member_id : member_ids) feed_about_member(database, version, member_id, origin);
    transaction.commit();
    return Done{};
}

}  // namespace loyalty::hq
