#include "schema.hpp"

namespace loyalty {

namespace {

constexpr std::string_view schema_v1 = R"sql(
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    next INTEGER NOT NULL
) STRICT;

CREATE TABLE rule_versions (
    version      INTEGER PRIMARY KEY,
    document     TEXT NOT NULL,
    installed_at INTEGER NOT NULL
) STRICT;

CREATE TABLE members (
    member_id               TEXT PRIMARY KEY,
    name                    TEXT NOT NULL,
    phone                   TEXT UNIQUE,
    email                   TEXT,
    tier                    TEXT NOT NULL,
    tier_since              INTEGER NOT NULL,
    downgrade_pending_since INTEGER,
    enrolled_at             INTEGER NOT NULL
) STRICT;

CREATE TABLE cards (
    card_number TEXT PRIMARY KEY,
    member_id   TEXT NOT NULL REFERENCES members(member_id),
    status      TEXT NOT NULL CHECK (status IN ('active', 'blocked')),
    is_primary  INTEGER NOT NULL CHECK (is_primary IN (0, 1)),
    added_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX cards_by_member ON cards(member_id);

-- Idempotency: one row per business operation key, holding the request and first answer.
CREATE TABLE operations (
    kind         TEXT NOT NULL,
    operation_id TEXT NOT NULL,
    request      TEXT NOT NULL,
    response     TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (kind, operation_id)
) STRICT;

CREATE TABLE lots (
    lot_id       TEXT PRIMARY KEY,
    member_id    TEXT NOT NULL REFERENCES members(member_id),
    points       INTEGER NOT NULL,
    remaining    INTEGER NOT NULL,
    earned_at    INTEGER NOT NULL,
    expires_at   INTEGER,
    locked_until INTEGER NOT NULL,
    is_debt      INTEGER NOT NULL CHECK (is_debt IN (0, 1)),
    CHECK (is_debt = 1 OR remaining >= 0),
    CHECK (is_debt = 0 OR remaining <= 0)
) STRICT;
CREATE INDEX open_lots ON lots(member_id, expires_at) WHERE remaining <> 0;

CREATE TABLE ledger (
    position     INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id     TEXT NOT NULL UNIQUE,
    member_id    TEXT NOT NULL REFERENCES members(member_id),
    kind         TEXT NOT NULL,
    points       INTEGER NOT NULL,
    operation_id TEXT NOT NULL,
    rule_version INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX ledger_by_member ON ledger(member_id, position);

CREATE TABLE lot_allocations (
    entry_id TEXT NOT NULL REFERENCES ledger(entry_id),
    lot_id   TEXT NOT NULL REFERENCES lots(lot_id),
    points   INTEGER NOT NULL,
    PRIMARY KEY (entry_id, lot_id)
) STRICT;
CREATE INDEX allocations_by_lot ON lot_allocations(lot_id);

CREATE TABLE purchases (
    txn_id           TEXT PRIMARY KEY,
    member_id        TEXT NOT NULL REFERENCES members(member_id),
    created_at       INTEGER NOT NULL,
    rule_version     INTEGER NOT NULL,
    net_cents        INTEGER NOT NULL,
    redeemed_points  INTEGER NOT NULL,
    redeemed_cents   INTEGER NOT NULL,
    earned_points    INTEGER NOT NULL,
    earn_lot_id      TEXT REFERENCES lots(lot_id),
    redeem_entry_id  TEXT REFERENCES ledger(entry_id),
    status           TEXT NOT NULL CHECK (status IN ('completed', 'voided'))
) STRICT;

CREATE TABLE purchase_lines (
    txn_id            TEXT NOT NULL REFERENCES purchases(txn_id),
    line              INTEGER NOT NULL,
    sku               TEXT NOT NULL,
    category          TEXT NOT NULL,
    quantity          INTEGER NOT NULL,
    unit_price_cents  INTEGER NOT NULL,
    discount_cents    INTEGER NOT NULL,
    net_cents         INTEGER NOT NULL,
    points            INTEGER NOT NULL,
    qualifying_cents  INTEGER NOT NULL,
    -- What a return gives back is derived from returned_quantity by cumulative shares, so
    -- partial returns add up exactly to the whole line.
    returned_quantity INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (txn_id, line)
) STRICT;

-- What counts for tiers: spend net of returns and of points tender, and purchases, dated by
-- the purchase they belong to so that a late return does not touch a later window.
CREATE TABLE qualifying_activity (
    member_id    TEXT NOT NULL REFERENCES members(member_id),
    purchased_at INTEGER NOT NULL,
    spend_cents  INTEGER NOT NULL,
    purchases    INTEGER NOT NULL,
    operation_id TEXT NOT NULL
) STRICT;
CREATE INDEX qualifying_by_member ON qualifying_activity(member_id, purchased_at);

CREATE TABLE tier_changes (
    member_id TEXT NOT NULL REFERENCES members(member_id),
    at        INTEGER NOT NULL,
    from_tier TEXT NOT NULL,
    to_tier   TEXT NOT NULL,
    reason    TEXT NOT NULL
) STRICT;
CREATE INDEX tier_changes_by_member ON tier_changes(member_id, at);

CREATE TABLE outbox (
    seq        INTEGER PRIMARY KEY,
    type       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
)sql";

// Replication: events applied from other nodes, and points found spent twice.
constexpr std::string_view schema_v2 = R"sql(
CREATE TABLE applied_events (
    origin     TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    type       TEXT NOT NULL,
    applied_at INTEGER NOT NULL,
    PRIMARY KEY (origin, seq)
) STRICT;

CREATE TABLE overdrafts (
    entry_id    TEXT NOT NULL,
    lot_id      TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    points      INTEGER NOT NULL,
    detected_at INTEGER NOT NULL,
    PRIMARY KEY (entry_id, lot_id)
) STRICT;
)sql";

// Purchases for cards not known here yet, recorded once the member is (queued_purchase.hpp).
constexpr std::string_view schema_v3 = R"sql(
CREATE TABLE queued_purchases (
    txn_id     TEXT PRIMARY KEY,
    card       TEXT NOT NULL,
    request    TEXT NOT NULL,
    net_cents  INTEGER NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('queued', 'recorded', 'cancelled', 'refused')),
    reason     TEXT,
    queued_at  INTEGER NOT NULL,
    settled_at INTEGER
) STRICT;
CREATE INDEX queued_purchases_waiting ON queued_purchases(status, queued_at);
)sql";

// Personalised offers (offer.hpp), as head office publishes them: the definitions, who was
// given which, and every use seen here. A use is keyed by "<node>/<txn_id>" wherever it is
// stored, so a use arriving twice (the sale's event, then a member snapshot) counts once.
constexpr std::string_view schema_v4 = R"sql(
CREATE TABLE offers (
    offer_id    TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('active', 'paused', 'ended')),
    valid_from  INTEGER NOT NULL,
    valid_until INTEGER NOT NULL,
    definition  TEXT NOT NULL
) STRICT;

CREATE TABLE member_offers (
    member_id   TEXT NOT NULL,
    offer_id    TEXT NOT NULL,
    assigned_at INTEGER NOT NULL,
    PRIMARY KEY (member_id, offer_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE offer_uses (
    operation_id   TEXT NOT NULL,
    offer_id       TEXT NOT NULL,
    member_id      TEXT NOT NULL,
    points         INTEGER NOT NULL,
    discount_cents INTEGER NOT NULL,
    used_at        INTEGER NOT NULL,
    voided         INTEGER NOT NULL DEFAULT 0 CHECK (voided IN (0, 1)),
    PRIMARY KEY (operation_id, offer_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX offer_uses_by_offer ON offer_uses(offer_id, member_id);
)sql";

// Consent (member.hpp): the latest statement on the member's row, and every statement kept.
constexpr std::string_view schema_v5 = R"sql(
ALTER TABLE members ADD COLUMN consent_offers INTEGER NOT NULL DEFAULT 0 CHECK (consent_offers IN (0, 1));
ALTER TABLE members ADD COLUMN consent_marketing INTEGER NOT NULL DEFAULT 0 CHECK (consent_marketing IN (0, 1));
ALTER TABLE members ADD COLUMN consent_recorded_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN consent_recorded_by TEXT NOT NULL DEFAULT '';

-- The key's columns come first: SQLite 3.40's integrity_check misreads a WITHOUT ROWID table
-- whose key columns follow others (it reports NULLs that are not there).
CREATE TABLE consent_history (
    member_id           TEXT NOT NULL,
    recorded_at         INTEGER NOT NULL,
    recorded_by         TEXT NOT NULL,
    personalised_offers INTEGER NOT NULL,
    marketing           INTEGER NOT NULL,
    PRIMARY KEY (member_id, recorded_at, recorded_by)
) STRICT, WITHOUT ROWID;
)sql";

// Erasure (erasure.hpp): when the member's personal data was erased here.
constexpr std::string_view schema_v6 = R"sql(
ALTER TABLE members ADD COLUMN erased_at INTEGER;
)sql";

// Minimisation on tills (personal_data.hpp): when the member was last looked up here.
constexpr std::string_view schema_v7 = R"sql(
ALTER TABLE members ADD COLUMN seen_here_at INTEGER;
)sql";

// Engagement (engagement.hpp): the referral code and birthday given at enrolment, and the
// satisfaction scores given after purchases, keyed "<node>/<txn_id>".
constexpr std::string_view schema_v8 = R"sql(
CREATE TABLE member_engagement (
    member_id    TEXT PRIMARY KEY REFERENCES members(member_id),
    referred_by  TEXT NOT NULL,
    birthday     TEXT NOT NULL
) STRICT;
CREATE INDEX member_engagement_by_referrer ON member_engagement(referred_by) WHERE referred_by <> '';

CREATE TABLE satisfaction_scores (
    purchase_key  TEXT PRIMARY KEY,
    member_id     TEXT NOT NULL REFERENCES members(member_id),
    score         INTEGER NOT NULL CHECK (score BETWEEN 0 AND 10),
    comment       TEXT NOT NULL,
    recorded_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX satisfaction_by_member ON satisfaction_scores(member_id, recorded_at);
)sql";

// Phone numbers kept as keyed hashes (identifier_key.hpp): the masked number a till shows.
constexpr std::string_view schema_v9 = R"sql(
ALTER TABLE members ADD COLUMN phone_masked TEXT;
)sql";

// Every purchase (and every event head office applies) sums the member's rows in a time window:
// the tier standing over qualifying_activity and the earning caps over the earn entries. These
// indexes hold the summed columns, so each sum reads the window's index entries alone instead
// of looking up each of the member's rows, whose number grows with the member's history. kind is
// in the key as well as the condition: without it SQLite 3.40 still reads each row for kind.
constexpr std::string_view schema_v10 = R"sql(
DROP INDEX qualifying_by_member;
CREATE INDEX qualifying_window ON qualifying_activity(member_id, purchased_at, spend_cents, purchases);
CREATE INDEX earned_by_member ON ledger(member_id, kind, created_at, points) WHERE kind = 'earn';

-- Each member's tier standing as last computed (Program::State::standing): the sums of their
-- qualifying_activity rows dated in (window_from, window_to]. Derived data, kept in the same
-- transactions as the rows; the next standing moves it to its own window.
CREATE TABLE tier_standings (
    member_id   TEXT PRIMARY KEY,
    window_from INTEGER NOT NULL,
    window_to   INTEGER NOT NULL,
    spend_cents INTEGER NOT NULL,
    purchases   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
)sql";

// Every lot of one member, whatever its remaining points: the member's debt lot, the lots a
// member snapshot carries to another store, the audit. Without it each of these read the whole
// lots table, every lot of every member (on head office, the chain's).
constexpr std::string_view schema_v11 = R"sql(
CREATE INDEX lots_by_member ON lots(member_id);
)sql";

// A member's open lots with every column a checkout reads from them (the spendable, pending
// and expiring sums, the lots to spend from or take back, the debts to settle), so that each
// of those reads the index alone. Without them in the index, each open lot cost a lookup of its
// row: a member who shops weekly holds about fifty open lots, and a checkout reads them several
// times (a fifth of loyaltyd's purchase time with eight connections, docs/BENCHMARKS.md).
constexpr std::string_view schema_v12 = R"sql(
DROP INDEX open_lots;
CREATE INDEX open_lots ON lots(member_id, expires_at, earned_at, lot_id, remaining, is_debt, locked_until)
    WHERE remaining <> 0;
)sql";

}  // namespace

const std::vector<Migration>& program_migrations() {
    static const std::vector<Migration> migrations = {
        {1, schema_v1}, {2, schema_v2}, {3, schema_v3}, {4, schema_v4}, {5, schema_v5}, {6, schema_v6},
        {7, schema_v7}, {8, schema_v8}, {9, schema_v9}, {10, schema_v10}, {11, schema_v11}, {12, schema_v12}};
    return migrations;
}

}  // namespace loyalty
