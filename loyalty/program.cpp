// Program: construction, rules, members and the read side (summary, history, audit).
// The points operations are in operations.cpp.
#include "loyalty/program.hpp"

#include <algorithm>

#include "loyalty/identifier_key.hpp"
#include "loyalty/identifiers.hpp"
#include "program_state.hpp"
#include "schema.hpp"

namespace loyalty {

Error storage_failure(const StorageError& error) {
    return {ErrorKind::unavailable, "storage_unavailable",
            std::string("the till's database refused the write, nothing was recorded: ") +
                error.what(),
            ""};
}

namespace {

// Runs one of the database's own steps, its storage failure as a refusal.
Result<Done> storage_step(Database& database, void (Database::*step)()) {
    try {
        (database.*step)();
        return Done{};
    } catch (const StorageError& error) {
        return storage_failure(error);
    }
}

}  // namespace

std::string idempotency_field(const std::string& kind, const std::string& operation_id) {
    if (kind == "return") return "return_id";
    if (kind == "enroll") return operation_id.rfind("phone:", 0) == 0 ? "phone" : "card";
    return "txn_id";
}

Program::State::State(ProgramOptions opts, const Clock& time)
    : options(std::move(opts)),
      clock(time),
      database(options.database_path, options.durability, program_migrations()) {
    if (!options.identifier_key.empty()) hash_stored_phones();
}

Program::Program(ProgramOptions options, const Clock& clock, const RuleSet& rules)
    : state_(std::make_unique<State>(std::move(options), clock)) {
    auto stored = state_->database.query_text(
        "SELECT document FROM rule_versions ORDER BY version DESC LIMIT 1");
    state_->rules = stored ? parse_rules_text(*stored).value() : rules;
    if (const auto installed = install_rules(rules); !installed && !stored)
        throw std::runtime_error("cannot install rules: " + installed.error().message);
}

Program::~Program() = default;

const RuleSet& Program::rules() const { return state_->rules; }

const RuleSet& Program::current_rules() {
    state_->refresh_rules();
    return state_->rules;
}

void Program::begin_group() { state_->database.begin_group(); }

Result<Done> Program::commit_group_writes() { return storage_step(state_->database, &Database::commit_group_writes); }

Result<Done> Program::end_group() { return storage_step(state_->database, &Database::end_group); }

Outbox& Program::outbox() { return state_->outbox; }
Database& Program::database() { return state_->database; }
const ProgramOptions& Program::options() const { return state_->options; }

Result<Done> Program::install_rules(const RuleSet& rules) {
    return state_->transact<Done>([&] { return state_->install_rules_in_transaction(rules); });
}

Result<Done> Program::State::install_rules_in_transaction(const RuleSet& candidate) {
    const std::string document = rules_to_json(candidate).dump();
    auto same_version = database.query_text("SELECT document FROM rule_versions WHERE version = ?",
                                            candidate.version);
    if (same_version && *same_version == document) return Done{};
    if (same_version || candidate.version < rules.version)
        return Error{ErrorKind::conflict, "rule_version_conflict",
                     "rule version " + std::to_string(candidate.version) +
                         " is older than or differs from the installed version " +
                         std::to_string(rules.version) + "; publish a new version",
                     "version"};
    database.prepare("INSERT INTO rule_versions(version, document, installed_at) VALUES (?, ?, ?)")
        .bind(candidate.version, document, clock.now())
        .run();
    rules = candidate;
    return Done{};
}

void Program::State::refresh_rules() {
    const auto newest = database.query_integer("SELECT MAX(version) FROM rule_versions");
    if (!newest || *newest == rules.version) return;
    const auto document =
        database.query_text("SELECT document FROM rule_versions WHERE version = ?", *newest);
    if (auto parsed = parse_rules_text(document.value_or(""))) rules = *parsed;
}

// --- members ---

Result<Member> Program::State::load_member(const std::string& member_id) {
    Statement& row = database.prepare(
        "SELECT member_id, name, COALESCE(phone_masked, phone), email, tier, tier_since, enrolled_at, "
        "consent_offers, consent_marketing, consent_recorded_at, consent_recorded_by FROM members "
        "WHERE member_id = ?");
    row.bind(member_id);
    if (!row.step())
        return Error{ErrorKind::not_found, "unknown_member", "no member " + member_id, "member_id"};
    Member member{row.text(0), row.text(1), row.optional_text(2).value_or(""),
                  row.optional_text(3).value_or(""), {}, row.text(4), row.integer(5), row.integer(6),
                  Consent{row.integer(7) != 0, row.integer(8) != 0, row.integer(9), row.text(10)}};
    row.reset();
    Statement& cards = database.prepare(
        "SELECT card_number, is_primary, status, added_at FROM cards WHERE member_id = ? "
        "ORDER BY added_at, card_number");
    cards.bind(member_id);
    while (cards.step())
        member.cards.push_back({cards.text(0), cards.integer(1) != 0, cards.text(2), cards.integer(3)});
    return member;
}

Result<Member> Program::State::member_by_card(const std::string& card) {
    Statement& row = database.prepare("SELECT member_id, status FROM cards WHERE card_number = ?");
    row.bind(card);
    if (!row.step())
        return Error{ErrorKind::not_found, "unknown_card", "card " + card + " is not enrolled",
                     "card"};
    const std::string member_id = row.text(0);
    const std::string status = row.text(1);
    row.reset();
    if (status != "active")
        return Error{ErrorKind::refused, "card_blocked",
                     "card " + card + " is blocked; ask for the member's new card or phone", "card"};
    return load_member(member_id);
}

Result<Member> Program::State::member_by_phone(const std::string& phone) {
    auto member_id = database.query_text("SELECT member_id FROM members WHERE phone = ?", stored_phone(phone));
    if (!member_id)
        return Error{ErrorKind::not_found, "unknown_phone", "no member has phone " + phone, "phone"};
    return load_member(*member_id);
}

std::string Program::State::stored_phone(const std::string& phone) const {
    if (phone.empty() || options.identifier_key.empty()) return phone;
    return keyed_identifier(options.identifier_key, phone);
}

void Program::State::store_phone(const std::string& member_id, const std::string& phone) {
    if (phone.empty()) return;
    const std::string stored = stored_phone(phone);
    const auto owner = database.query_text("SELECT member_id FROM members WHERE phone = ?", stored);
    if (owner && *owner != member_id) return;
    database.prepare("UPDATE members SET phone = ?, phone_masked = ? WHERE member_id = ?")
        .bind(stored, options.identifier_key.empty() ? std::nullopt : std::optional(masked_phone(phone)), member_id)
        .run();
}

void Program::State::hash_stored_phones() {
    Transaction transaction(database);
    std::vector<std::pair<std::string, std::string>> plain;  // member_id, phone
    // Numbers start with '+' or a digit, hashes with "hmac-": the range reads only the numbers
    // left, through the phone index, so a till already hashed starts at no cost.
    Statement& rows = database.prepare("SELECT member_id, phone FROM members WHERE phone < 'hmac-'");
    rows.bind();
    while (rows.step()) plain.emplace_back(rows.text(0), rows.text(1));
    for (const auto& [member_id, phone] : plain) {
        store_phone(member_id, phone);
        const std::string hashed = stored_phone(phone);
        // The enrolment's idempotency record is keyed by the number: it is hashed the same way.
        database
            .prepare("UPDATE operations SET operation_id = CASE operation_id WHEN 'phone:' || ?2 THEN "
                     "'phone:' || ?1 ELSE operation_id END, request = json_replace(request, '$.phone', ?1), "
                     "response = json_replace(response, '$.phone', ?3) "
                     "WHERE kind = 'enroll' AND json_extract(request, '$.phone') = ?2")
            .bind(hashed, phone, masked_phone(phone))
            .run();
        database
            .prepare("UPDATE operations SET request = json_replace(request, '$.member.phone', ?1) "
                     "WHERE json_extract(request, '$.member.phone') = ?2")
            .bind(hashed, phone)
            .run();
    }
    // Events head office already has keep no number either.
    if (!plain.empty())
        database
            .prepare("UPDATE outbox SET payload = json_replace(payload, '$.member.phone', '', "
                     "'$.request.member.phone', '') WHERE seq <= ? AND (json_extract(payload, '$.member.phone') "
                     "<> '' OR json_extract(payload, '$.request.member.phone') <> '')")
            .bind(outbox.acknowledged())
            .run();
    transaction.commit();
}

nlohmann::json Program::State::event_member(Member member) const {
    if (!options.identifier_key.empty()) member.phone.clear();
    return member;
}

Result<Member> Program::State::resolve(const MemberRef& reference) {
    if (!reference.card.empty()) return member_by_card(reference.card);
    if (!reference.phone.empty()) return member_by_phone(reference.phone);
    return load_member(reference.member_id);
}

void Program::State::publish(const std::string& type, nlohmann::json body, Timestamp at) {
    const Journal journal = book.take_journal();
    body["entries"] = journal.entries;
    body["lots"] = journal.lots;
    outbox.append(type, body, at);
}

Result<Recorded<Member>> Program::enroll(const EnrollRequest& raw) {
    State& s = *state_;
    // The request holds raw card and phone: normalise and check them through the one gate, so
    // that a mistyped card or an unnormalised duplicate can never be stored.
    const nlohmann::json purposes = {{"personalised_offers", raw.consent.personalised_offers},
                                     {"marketing", raw.consent.marketing}};
    auto checked = parse_enroll_request({{"card", raw.card}, {"phone", raw.phone}, {"name", raw.name},
                                         {"email", raw.email}, {"consent", purposes},
                                         {"referral_code", raw.referral_code}, {"birthday", raw.birthday}});
    if (!checked) return checked.error();
    const EnrollRequest& request = checked.value();
    const std::string phone = s.stored_phone(request.phone);
    nlohmann::json canonical = {{"card", request.card}, {"phone", phone},
                                {"name", request.name}, {"email", request.email}};
    // Only a consent, referral or birthday given is part of the request, so that enrolments
    // recorded before these existed still replay.
    if (request.consent.personalised_offers || request.consent.marketing) canonical["consent"] = purposes;
    nlohmann::json engagement = nlohmann::json::object();
    if (!request.referral_code.empty()) engagement["referred_by"] = request.referral_code;
    if (!request.birthday.empty()) engagement["birthday"] = request.birthday;
    canonical.update(engagement);
    const std::string key = request.card.empty() ? "phone:" + phone : "card:" + request.card;
    return s.idempotent<Member>("enroll", key, canonical, [&]() -> Result<Member> {
        if (!request.card.empty() &&
            s.database.query_integer("SELECT 1 FROM cards WHERE card_number = ?", request.card))
            return Error{ErrorKind::conflict, "duplicate_card",
                         "card " + request.card + " already belongs to a member", "card"};
        if (!phone.empty() && s.database.query_integer("SELECT 1 FROM members WHERE phone = ?", phone))
            return Error{ErrorKind::conflict, "duplicate_phone",
                         "phone " + request.phone + " already belongs to a member", "phone"};
        const Timestamp now = s.clock.now();
        const std::string member_id = mint_id(s.database, s.options.node_id, "M");
        s.database
            .prepare("INSERT INTO members(member_id, name, email, tier, tier_since, enrolled_at) "
                     "VALUES (?, ?, ?, ?, ?, ?)")
            .bind(member_id, request.name, request.email.empty() ? std::nullopt : std::optional(request.email),
                  s.rules.tiers.levels.front().name, now, now)
            .run();
        s.store_phone(member_id, request.phone);
        if (!request.card.empty())
            s.database
                .prepare("INSERT INTO cards(card_number, member_id, status, is_primary, added_at) "
                         "VALUES (?, ?, 'active', 1, ?)")
                .bind(request.card, member_id, now)
                .run();
        s.record_consent(member_id, {request.consent.personalised_offers, request.consent.marketing, now,
                                     s.options.node_id});
        auto member = s.load_member(member_id);
        // Head office keeps the number this node keeps only hashed: the event carries it.
        nlohmann::json event = {{"member", s.event_member(member.value())}};
        event["member"]["phone"] = request.phone;
        if (!engagement.empty()) {
            s.record_engagement(member_id, engagement);
            event["engagement"] = engagement;
        }
        s.publish("member_enrolled", std::move(event), now);
        return member;
    });
}

bool Program::State::record_consent(const std::string& member_id, const Consent& consent) {
    database
        .prepare("INSERT INTO consent_history(member_id, personalised_offers, marketing, recorded_at, recorded_by) "
                 "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
        .bind(member_id, consent.personalised_offers ? 1 : 0, consent.marketing ? 1 : 0, consent.recorded_at,
              consent.recorded_by)
        .run();
    database
        .prepare("UPDATE members SET consent_offers = ?1, consent_marketing = ?2, consent_recorded_at = ?3, "
                 "consent_recorded_by = ?4 WHERE member_id = ?5 AND (consent_recorded_at < ?3 OR "
                 "(consent_recorded_at = ?3 AND consent_recorded_by < ?4))")
        .bind(consent.personalised_offers ? 1 : 0, consent.marketing ? 1 : 0, consent.recorded_at,
              consent.recorded_by, member_id)
        .run();
    return database.changes() > 0;
}

Result<Member> Program::set_consent(const std::string& member_id, bool personalised_offers, bool marketing) {
    State& s = *state_;
    return s.transact<Member>([&]() -> Result<Member> {
        auto member = s.load_member(member_id);
        if (!member) return member.error();
        if (member->consent.personalised_offers == personalised_offers && member->consent.marketing == marketing &&
            member->consent.recorded_at > 0)
            return member;  // nothing new to record
        const Timestamp now = s.clock.now();
        const Consent consent =
            restate_consent(member->consent, personalised_offers, marketing, now, s.options.node_id);
        s.record_consent(member_id, consent);
        s.publish("consent", {{"member_id", member_id}, {"consent", consent}}, now);
        return s.load_member(member_id);
    });
}

Result<Member> Program::find_member(const MemberRef& reference) {
    return state_->transact<Member>([&] { return state_->resolve(reference); });
}

Result<Member> Program::add_card(const std::string& member_id, const std::string& raw_card) {
    State& s = *state_;
    auto card = normalise_card(raw_card, "card");
    if (!card) return card.error();
    return s.transact<Member>([&]() -> Result<Member> {
        auto member = s.load_member(member_id);
        if (!member) return member;
        auto owner = s.database.query_text("SELECT member_id FROM cards WHERE card_number = ?", *card);
        if (owner && *owner == member_id) return member;  // a replay changes nothing
        if (owner)
            return Error{ErrorKind::conflict, "duplicate_card",
                         "card " + *card + " already belongs to another member", "card"};
        const Timestamp now = s.clock.now();
        const bool first = member->primary_card().empty();
        s.database
            .prepare("INSERT INTO cards(card_number, member_id, status, is_primary, added_at) "
                     "VALUES (?, ?, 'active', ?, ?)")
            .bind(*card, member_id, first ? 1 : 0, now)
            .run();
        member = s.load_member(member_id);
        s.publish("member_updated", {{"member", s.event_member(member.value())}}, now);
        return member;
    });
}

Result<Member> Program::block_card(const std::string& raw_card) {
    State& s = *state_;
    auto card = normalise_card(raw_card, "card");
    if (!card) return card.error();
    return s.transact<Member>([&]() -> Result<Member> {
        auto member_id = s.database.query_text("SELECT member_id FROM cards WHERE card_number = ?", *card);
        if (!member_id)
            return Error{ErrorKind::not_found, "unknown_card", "card " + *card + " is not enrolled", "card"};
        s.database.prepare("UPDATE cards SET status = 'blocked', is_primary = 0 WHERE card_number = ? "
                           "AND status = 'active'")
            .bind(*card)
            .run();
        auto member = s.load_member(*member_id);
        if (s.database.changes() > 0)
            s.publish("member_updated", {{"member", s.event_member(member.value())}}, s.clock.now());
        return member;
    });
}

Result<Member> Program::replace_card(const std::string& raw_lost, const std::string& raw_new) {
    State& s = *state_;
    auto lost = normalise_card(raw_lost, "lost_card");
    if (!lost) return lost.error();
    auto replacement = normalise_card(raw_new, "card");
    if (!replacement) return replacement.error();
    return s.transact<Member>([&]() -> Result<Member> {
        auto member_id = s.database.query_text("SELECT member_id FROM cards WHERE card_number = ?", *lost);
        if (!member_id)
            return Error{ErrorKind::not_found, "unknown_card", "card " + *lost + " is not enrolled",
                         "lost_card"};
        auto owner = s.database.query_text("SELECT member_id FROM cards WHERE card_number = ?",
                                           *replacement);
        if (owner && *owner != *member_id)
            return Error{ErrorKind::conflict, "duplicate_card",
                         "card " + *replacement + " already belongs to another member", "card"};
        if (*replacement == *lost)
            return invalid("card", "the replacement card must differ from the lost card");
        const auto replacement_status = s.database.query_text(
            "SELECT status FROM cards WHERE card_number = ?", *replacement);
        if (replacement_status == "blocked")
            return Error{ErrorKind::conflict, "card_blocked",
                         "card " + *replacement + " was blocked and cannot become the new card", "card"};
        const bool done_before =
            s.database.query_text("SELECT status FROM cards WHERE card_number = ?", *lost) == "blocked" &&
            s.database.query_integer("SELECT is_primary FROM cards WHERE card_number = ?", *replacement) == 1;
        if (done_before) return s.load_member(*member_id);  // a replay changes nothing
        const Timestamp now = s.clock.now();
        s.database.prepare("UPDATE cards SET status = 'blocked', is_primary = 0 WHERE card_number = ?")
            .bind(*lost)
            .run();
        s.database.prepare("UPDATE cards SET is_primary = 0 WHERE member_id = ?").bind(*member_id).run();
        s.database
            .prepare("INSERT INTO cards(card_number, member_id, status, is_primary, added_at) "
                     "VALUES (?, ?, 'active', 1, ?) ON CONFLICT(card_number) DO UPDATE SET "
                     "is_primary = 1")
            .bind(*replacement, *member_id, now)
            .run();
        auto member = s.load_member(*member_id);
        s.publish("member_updated", {{"member", s.event_member(member.value())}}, now);
        return member;
    });
}

// --- read side ---

void to_json(nlohmann::json& out, const QualifyingActivity& activity) {
    out = {{"member_id", activity.member_id},
           {"purchased_at", format_timestamp(activity.purchased_at)},
           {"spend_cents", activity.spend_cents},
           {"purchases", activity.purchases},
           {"operation_id", activity.operation_id}};
}

void Program::State::record_qualifying(const QualifyingActivity& activity) {
    database
        .prepare("INSERT INTO qualifying_activity(member_id, purchased_at, spend_cents, purchases, "
                 "operation_id) VALUES (?, ?, ?, ?, ?)")
        .bind(activity.member_id, activity.purchased_at, activity.spend_cents, activity.purchases,
              activity.operation_id)
        .run();
    // Counted in the member's kept standing (below) if dated inside the window it is for.
    database
        .prepare("UPDATE tier_standings SET spend_cents = spend_cents + ?1, purchases = purchases + ?2 "
                 "WHERE member_id = ?3 AND window_from < ?4 AND ?4 <= window_to")
        .bind(activity.spend_cents, activity.purchases, activity.member_id, activity.purchased_at)
        .run();
}

// The member's qualifying rows dated in (a, b], negated if b < a: what moving an end of a
// window from a to b adds to its sums.
TierStanding Program::State::rows_between(const std::string& member_id, Timestamp a, Timestamp b) {
    Statement& sums = database.prepare(
        "SELECT COALESCE(SUM(spend_cents), 0), COALESCE(SUM(purchases), 0) FROM "
        "qualifying_activity WHERE member_id = ? AND purchased_at > ? AND purchased_at <= ?");
    sums.bind(member_id, std::min(a, b), std::max(a, b));
    sums.step();
    const int sign = a <= b ? 1 : -1;
    TierStanding moved{sign * sums.integer(0), sign * sums.integer(1)};
    sums.reset();
    return moved;
}

// The start of the tier window ending `now`: standing() sums from it and keep_standing() keeps
// it as the row's window_from, so the two must agree.
namespace {
Timestamp tier_window_from(const TierRules& tiers, Timestamp now) {
    return now - tiers.window_days * seconds_per_day;
}
}  // namespace

// The sums over the window (now - window_days, now] start from the member's kept standing, the
// sums over (window_from, window_to], and add the rows between the old and the new ends:
// S(from, now] = S(window_from, window_to] + S(window_to, now] - S(window_from, from]: only the
// rows bought, or gone out of the window, since then are read, where a sum over the whole window
// read every row of it on every purchase and every event head office applies (docs/BENCHMARKS.md).
// record_qualifying keeps the kept sums true as rows arrive, dated in the past or not. Reads
// only: a summary at checkout must not become a durable write.
TierStanding Program::State::standing(const std::string& member_id, Timestamp now) {
    const Timestamp from = tier_window_from(rules.tiers, now);
    Timestamp kept_from = from;  // nothing kept: an empty window, (from, from]
    Timestamp kept_to = from;
    TierStanding standing;
    Statement& kept = database.prepare(
        "SELECT window_from, window_to, spend_cents, purchases FROM tier_standings WHERE member_id = ?");
    kept.bind(member_id);
    if (kept.step()) {
        kept_from = kept.integer(0);
        kept_to = kept.integer(1);
        standing = {kept.integer(2), kept.integer(3)};
    }
    kept.reset();
    const TierStanding added = rows_between(member_id, kept_to, now);
    const TierStanding dropped = rows_between(member_id, kept_from, from);
    standing.spend_cents += added.spend_cents - dropped.spend_cents;
    standing.purchases += added.purchases - dropped.purchases;
    return standing;
}

TierStanding Program::State::keep_standing(const std::string& member_id, Timestamp now) {
    const TierStanding standing = this->standing(member_id, now);
    const Timestamp from = tier_window_from(rules.tiers, now);
    database
        .prepare("INSERT INTO tier_standings(member_id, window_from, window_to, spend_cents, purchases) "
                 "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(member_id) DO UPDATE SET window_from = ?2, "
                 "window_to = ?3, spend_cents = ?4, purchases = ?5")
        .bind(member_id, from, now, standing.spend_cents, standing.purchases)
        .run();
    return standing;
}

int Program::State::tier_index(const Member& member) const {
    // A tier dropped from newer rules counts as the entry tier until re-evaluated.
    return std::max(0, rules.tier_index(member.tier));
}

Result<MemberSummary> Program::summary(const std::string& member_id) {
    State& s = *state_;
    return s.transact<MemberSummary>([&]() -> Result<MemberSummary> {
        auto member = s.load_member(member_id);
        if (!member) return member.error();
        const Timestamp now = s.clock.now();
        MemberSummary summary;
        summary.points = s.book.spendable(member_id, now);
        summary.points_pending = s.book.pending(member_id, now);
        summary.balance = s.database
                              .query_integer("SELECT COALESCE(SUM(points), 0) FROM ledger "
                                             "WHERE member_id = ?", member_id)
                              .value_or(0);
        summary.points_expiring =
            s.book.expiring(member_id, now, now + s.options.expiring_soon_days * seconds_per_day);
        summary.standing = s.standing(member_id, now);
        summary.tier_progress = tier_progress(s.rules, s.tier_index(*member), summary.standing);
        summary.offers = s.member_offers(member_id, now);
        summary.member = std::move(member).value();
        return summary;
    });
}

Result<HistoryPage> Program::history(const std::string& member_id, int limit,
                                     const std::string& cursor) {
    State& s = *state_;
    if (limit < 1 || limit > 100) return invalid("limit", "limit must be between 1 and 100");
    std::int64_t before = std::numeric_limits<std::int64_t>::max();
    if (!cursor.empty()) {
        try {
            before = std::stoll(cursor);
        } catch (const std::exception&) {
            return invalid("cursor", "cursor must be the next_cursor of an earlier page");
        }
    }
    return s.transact<HistoryPage>([&]() -> Result<HistoryPage> {
        if (auto member = s.load_member(member_id); !member) return member.error();
        Statement& rows = s.database.prepare(
            "SELECT position, entry_id, kind, points, operation_id, rule_version, created_at "
            "FROM ledger WHERE member_id = ? AND position < ? ORDER BY position DESC LIMIT ?");
        rows.bind(member_id, before, limit + 1);
        HistoryPage page;
        std::vector<std::int64_t> positions;
        while (rows.step()) {
            positions.push_back(rows.integer(0));
            page.entries.push_back({rows.text(1), member_id,
                                    entry_kind_from_string(rows.text(2)).value_or(EntryKind::adjustment),
                                    rows.integer(3), rows.text(4), rows.integer(5), rows.integer(6), {}});
        }
        if (page.entries.size() > static_cast<std::size_t>(limit)) {
            page.entries.pop_back();
            page.next_cursor = std::to_string(positions[static_cast<std::size_t>(limit) - 1]);
        }
        return page;
    });
}

std::vector<TierChange> Program::tier_changes(const std::string& member_id) {
    Statement& rows = state_->database.prepare(
        "SELECT member_id, from_tier, to_tier, reason, at FROM tier_changes WHERE member_id = ? "
        "ORDER BY at, rowid");
    rows.bind(member_id);
    std::vector<TierChange> changes;
    while (rows.step())
        changes.push_back({rows.text(0), rows.text(1), rows.text(2), rows.text(3), rows.integer(4)});
    return changes;
}

std::vector<Lot> Program::lots(const std::string& member_id) { return state_->book.lots(member_id); }

BalanceAudit Program::audit(const std::string& member_id) {
    Database& db = state_->database;
    BalanceAudit audit;
    audit.ledger_sum =
        db.query_integer("SELECT COALESCE(SUM(points), 0) FROM ledger WHERE member_id = ?", member_id)
            .value_or(0);
    audit.lots_sum =
        db.query_integer("SELECT COALESCE(SUM(remaining), 0) FROM lots WHERE member_id = ?", member_id)
            .value_or(0);
    const auto entries_off = db.query_integer(
        "SELECT COUNT(*) FROM ledger l WHERE member_id = ? AND points <> (SELECT "
        "COALESCE(SUM(points), 0) FROM lot_allocations a WHERE a.entry_id = l.entry_id)",
        member_id);
    const auto lots_off = db.query_integer(
        "SELECT COUNT(*) FROM lots l WHERE member_id = ? AND remaining <> (SELECT "
        "COALESCE(SUM(points), 0) FROM lot_allocations a WHERE a.lot_id = l.lot_id)",
        member_id);
    audit.allocations_match = entries_off.value_or(1) == 0 && lots_off.value_or(1) == 0;
    return audit;
}

}  // namespace loyalty
