// Data minimisation on a till (personal_data.hpp).
#include "loyalty/personal_data.hpp"

#include "loyalty/store.hpp"
#include "program_state.hpp"

namespace loyalty {

namespace {

// A member is "seen here" when they enrolled here (their id carries this node's prefix), bought
// here (this node's purchases keep their bare txn_id), stated consent here, or were looked up
// here (seen_here_at).
constexpr const char* last_seen_here_sql =
    "max(ifnull(m.seen_here_at, 0), "
    "    CASE WHEN substr(m.member_id, 1, length(?1) + 2) = ?1 || '-M' THEN m.enrolled_at ELSE 0 END, "
    "    CASE WHEN m.consent_recorded_by = ?1 THEN m.consent_recorded_at ELSE 0 END, "
    "    ifnull((SELECT max(p.created_at) FROM purchases p "
    "            WHERE p.member_id = m.member_id AND instr(p.txn_id, '/') = 0), 0))";

// The JSON document in `column` without names and e-mails wherever the product puts them.
std::string without_name_and_email(const std::string& column) {
    return "json_replace(" + column +
           ", '$.member.name', '', '$.member.email', '', '$.request.member.name', '', "
           "'$.request.member.email', '', '$.name', '', '$.email', '')";
}

}  // namespace

Result<Done> note_member_seen(Program& program, const std::string& member_id, Timestamp now) {
    Database& database = program.database();
    try {
        Transaction transaction(database);
        database
            .prepare("UPDATE members SET seen_here_at = ?1 WHERE member_id = ?2 AND erased_at IS NULL "
                     "AND (seen_here_at IS NULL OR seen_here_at < ?1 - 3600)")
            .bind(now, member_id)
            .run();
        transaction.commit();
    } catch (const StorageError& error) {
        return storage_failure(error);
    }
    return Done{};
}

Result<PersonalDataPrune> prune_personal_data(Program& program, std::int64_t keep_days, Timestamp now) {
    if (keep_days < 1) return invalid("personal_data_days", "personal data must be kept at least one day");
    PersonalDataPrune run{now - keep_days * seconds_per_day};
    Database& database = program.database();
    const std::string node = program.options().node_id;
    try {
        Transaction transaction(database);
        database.execute("CREATE TEMP TABLE IF NOT EXISTS pruned_members (member_id TEXT PRIMARY KEY)");
        database.execute("DELETE FROM temp.pruned_members");
        database
            .prepare(std::string("INSERT INTO temp.pruned_members SELECT m.member_id FROM members m "
                                 "WHERE m.erased_at IS NULL AND (m.name <> '' OR m.email IS NOT NULL) AND ") +
                     last_seen_here_sql + " < ?2")
            .bind(node, run.seen_before)
            .run();
        run.members = database.changes();
        database.execute("UPDATE members SET name = '', email = NULL "
                         "WHERE member_id IN (SELECT member_id FROM temp.pruned_members)");
        database.execute("UPDATE operations SET request = " + without_name_and_email("request") +
                         ", response = " + without_name_and_email("response") +
                         " WHERE kind = 'enroll' AND json_extract(response, '$.member_id') IN "
                         "(SELECT member_id FROM temp.pruned_members)");
        // Every member without a name here, not only this run's: an event head office
        // acknowledged only after the member was pruned is cleaned by the next run.
        database
            .prepare("UPDATE outbox SET payload = " + without_name_and_email("payload") +
                     " WHERE seq <= ? AND json_extract(payload, '$.member.name') <> '' AND "
                     "json_extract(payload, '$.member.member_id') IN "
                     "(SELECT member_id FROM members WHERE name = '' AND erased_at IS NULL)")
            .bind(program.outbox().acknowledged())
            .run();
        transaction.commit();
    } catch (const StorageError& error) {
        return storage_failure(error);
    }
    return run;
}

}  // namespace loyalty
