#include "loyalty/clock.hpp"

#include <chrono>
#include <cstdio>
#include <initializer_list>

namespace loyalty {

Timestamp SystemClock::now() const {
    using namespace std::chrono;
    return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

// Howard Hinnant, "chrono-Compatible Low-Level Date Algorithms".
std::int64_t days_from_civil(CivilDate date) {
    const std::int64_t y = date.year - (date.month <= 2 ? 1 : 0);
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const std::int64_t year_of_era = y - era * 400;
    const std::int64_t month_index = date.month > 2 ? date.month - 3 : date.month + 9;
    const std::int64_t day_of_year = (153 * month_index + 2) / 5 + date.day - 1;
    const std::int64_t day_of_era =
        year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

CivilDate civil_from_days(std::int64_t days) {
    days += 719468;
    const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const std::int64_t day_of_era = days - era * 146097;
    const std::int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    const std::int64_t day_of_year =
        day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    const std::int64_t month_index = (5 * day_of_year + 2) / 153;
    const unsigned day = static_cast<unsigned>(day_of_year - (153 * month_index + 2) / 5 + 1);
    const unsigned month = static_cast<unsigned>(month_index < 10 ? month_index + 3 : month_index - 9);
    const std::int64_t year = year_of_era + era * 400 + (month <= 2 ? 1 : 0);
    return {static_cast<int>(year), month, day};
}

namespace {

bool is_leap(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

unsigned days_in_month(int year, unsigned month) {
    static constexpr unsigned lengths[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap(year) ? 29 : lengths[month - 1];
}

}  // namespace

Timestamp add_months(Timestamp t, int months) {
    const std::int64_t day = day_number(t);
    const Timestamp time_of_day = t - day * seconds_per_day;
    CivilDate date = civil_from_days(day);
    const std::int64_t month_count = date.year * 12LL + (date.month - 1) + months;
    date.year = static_cast<int>(month_count >= 0 ? month_count / 12 : (month_count - 11) / 12);
    date.month = static_cast<unsigned>(month_count - date.year * 12LL + 1);
    date.day = std::min(date.day, days_in_month(date.year, date.month));
    return days_from_civil(date) * seconds_per_day + time_of_day;
}

namespace {

// Writes `value` as `width` decimal digits, zero-padded, at `out`.
void put_digits(char* out, std::int64_t value, int width) {
    for (int i = width - 1; i >= 0; --i, value /= 10) out[i] = static_cast<char>('0' + value % 10);
}

}  // namespace

// Written digit by digit rather than with snprintf: a purchase formats about eight dates and
// timestamps, and snprintf was 2% of its instructions. Years outside 0..9999 keep printf's form.
std::string format_date(Timestamp t) {
    const CivilDate date = civil_from_days(day_number(t));
    if (date.year < 0 || date.year > 9999) {
        char text[32];
        std::snprintf(text, sizeof text, "%04d-%02u-%02u", date.year, date.month, date.day);
        return text;
    }
    std::string text = "0000-00-00";
    put_digits(text.data(), date.year, 4);
    put_digits(text.data() + 5, date.month, 2);
    put_digits(text.data() + 8, date.day, 2);
    return text;
}

std::string format_timestamp(Timestamp t) {
    const Timestamp seconds = t - day_number(t) * seconds_per_day;
    char time_of_day[] = "T00:00:00Z";
    put_digits(time_of_day + 1, seconds / 3600, 2);
    put_digits(time_of_day + 4, seconds / 60 % 60, 2);
    put_digits(time_of_day + 7, seconds % 60, 2);
    return format_date(t) + time_of_day;
}

namespace {

struct TimestampFields {
    int year = 0;
    unsigned month = 0, day = 0, hour = 0, minute = 0, second = 0;
};

// Reads the digits at `pattern`'s '9's ("9999-99-99..." with the separators as given); false if
// the text has any other shape.
bool read_digits(std::string_view text, std::string_view pattern, std::initializer_list<unsigned*> fields) {
    if (text.size() != pattern.size()) return false;
    auto field = fields.begin();
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (pattern[i] != '9') {
            if (text[i] != pattern[i]) return false;
            continue;
        }
        if (text[i] < '0' || text[i] > '9') return false;
        **field = **field * 10 + static_cast<unsigned>(text[i] - '0');
        if (i + 1 == text.size() || pattern[i + 1] != '9') ++field;
    }
    return true;
}

// The form format_timestamp and format_date write, digits only: what head office reads several
// times in every till event, where sscanf was a twentieth of its ingest (docs/BENCHMARKS.md).
// sscanf reads such text to the same fields.
bool read_written_form(std::string_view text, TimestampFields& out) {
    unsigned year = 0;
    const bool read = read_digits(text, "9999-99-99", {&year, &out.month, &out.day}) ||
                      read_digits(text, "9999-99-99T99:99:99Z",
                                  {&year, &out.month, &out.day, &out.hour, &out.minute, &out.second});
    out.year = static_cast<int>(year);
    return read;
}

// Any other text, as sscanf reads it (its whole length must be consumed).
bool scan(std::string_view text, TimestampFields& out) {
    int consumed = 0;
    const std::string copy(text);
    if (text.size() == 10)
        return std::sscanf(copy.c_str(), "%4d-%2u-%2u%n", &out.year, &out.month, &out.day, &consumed) == 3 &&
               consumed == 10;
    if (text.size() == 20)
        return std::sscanf(copy.c_str(), "%4d-%2u-%2uT%2u:%2u:%2uZ%n", &out.year, &out.month, &out.day,
                           &out.hour, &out.minute, &out.second, &consumed) == 6 &&
               consumed == 20;
    return false;
}

}  // namespace

std::optional<Timestamp> parse_timestamp(std::string_view text) {
    TimestampFields t;
    if (!read_written_form(text, t) && !scan(text, t)) return std::nullopt;
    if (t.month < 1 || t.month > 12 || t.day < 1 || t.day > days_in_month(t.year, t.month) || t.hour > 23 ||
        t.minute > 59 || t.second > 59)
        return std::nullopt;
    return days_from_civil({t.year, t.month, t.day}) * seconds_per_day + t.hour * 3600 + t.minute * 60 +
           t.second;
}

}  // namespace loyalty
