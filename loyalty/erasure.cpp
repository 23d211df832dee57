// Program: erasing a member's personal data. Head office publishes "member_erased"; every node
// applies it like any remote event, so the till that was offline during the erasure erases as
// soon as it hears of it, and replays of older events never bring the data back (replication
// leaves an erased member's personal fields alone).
#include "loyalty/erasure.hpp"

#include "loyalty/program.hpp"
#include "program_state.hpp"

namespace loyalty {

std::string scrub_personal_data_sql(std::string_view column) {
    const std::string c(column);
    return "json_set(json_replace(" + c +
           ", '$.member.name', '', '$.member.phone', '', '$.member.email', '', '$.member.card', '', "
           "'$.member.cards', json('[]'), '$.request.member.card', '', '$.request.member.phone', '', "
           "'$.request.card', '', '$.request.phone', '', '$.name', '', '$.phone', '', '$.email', '', "
           "'$.card', '', '$.cards', json('[]'), '$.birthday', '', '$.engagement.birthday', '', '$.comment', ''), "
           "'$.erased', json('true'))";
}

bool Program::State::is_erased(const std::string& member_id) {
    return database.query_integer("SELECT 1 FROM members WHERE member_id = ? AND erased_at IS NOT NULL", member_id)
        .has_value();
}

void Program::State::erase_member(const std::string& member_id, Timestamp now) {
    if (is_erased(member_id) || !load_member(member_id)) return;
    // A sale queued here for one of the member's cards must never bring them back.
    database
        .prepare("UPDATE queued_purchases SET status = 'refused', reason = 'member_erased', settled_at = ?1 "
                 "WHERE status = 'queued' AND card IN (SELECT card_number FROM cards WHERE member_id = ?2)")
        .bind(now, member_id)
        .run();
    forget_queued_cards("card IN (SELECT card_number FROM cards WHERE member_id = ?)", member_id);
    const std::string scrub_request = scrub_personal_data_sql("request");
    // Enrolments are keyed by card or phone: the key itself is personal data.
    database.prepare("DELETE FROM operations WHERE kind = 'enroll' AND json_extract(response, '$.member_id') = ?")
        .bind(member_id)
        .run();
    database
        .prepare("UPDATE operations SET request = " + scrub_request + ", response = " +
                 scrub_personal_data_sql("response") + " WHERE json_extract(response, '$.member_id') = ?")
        .bind(member_id)
        .run();
    database
        .prepare("UPDATE outbox SET payload = " + scrub_personal_data_sql("payload") +
                 " WHERE json_extract(payload, '$.member.member_id') = ?1 OR "
                 "json_extract(payload, '$.result.member_id') = ?1 OR json_extract(payload, '$.member_id') = ?1")
        .bind(member_id)
        .run();
    database.prepare("DELETE FROM cards WHERE member_id = ?").bind(member_id).run();
    database.prepare("UPDATE member_engagement SET birthday = '' WHERE member_id = ?").bind(member_id).run();
    database.prepare("UPDATE satisfaction_scores SET comment = '' WHERE member_id = ?").bind(member_id).run();
    database
        .prepare("UPDATE members SET name = '', phone = NULL, phone_masked = NULL, email = NULL, erased_at = ? "
                 "WHERE member_id = ?")
        .bind(now, member_id)
        .run();
}

}  // namespace loyalty
