#include "loyalty/clock.hpp"

#include <chrono>
#include <cstdio>

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

std::string format_date(Timestamp t) {
    const CivilDate date = civil_from_days(day_number(t));
    char text[16];
    std::snprintf(text, sizeof text, "%04d-%02u-%02u", date.year, date.month, date.day);
    return text;
}

std::string format_timestamp(Timestamp t) {
    const Timestamp seconds = t - day_number(t) * seconds_per_day;
    char text[16];
    std::snprintf(text, sizeof text, "T%02d:%02d:%02dZ", static_cast<int>(seconds / 3600),
                  static_cast<int>(seconds / 60 % 60), static_cast<int>(seconds % 60));
    return format_date(t) + text;
}

std::optional<Timestamp> parse_timestamp(std::string_view text) {
    int year = 0;
    unsigned month = 0, day = 0, hour = 0, minute = 0, second = 0;
    int consumed = 0;
    const std::string copy(text);
    if (text.size() == 10) {
        if (std::sscanf(copy.c_str(), "%4d-%2u-%2u%n", &year, &month, &day, &consumed) != 3)
            return std::nullopt;
    } else if (text.size() == 20) {
        if (std::sscanf(copy.c_str(), "%4d-%2u-%2uT%2u:%2u:%2uZ%n", &year, &month, &day, &hour,
                        &minute, &second, &consumed) != 6)
            return std::nullopt;
    } else {
        return std::nullopt;
    }
    if (consumed != static_cast<int>(text.size()) || month < 1 || month > 12 || day < 1 ||
        day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 59)
        return std::nullopt;
    return days_from_civil({year, month, day}) * seconds_per_day + hour * 3600 + minute * 60 +
           second;
}

}  // namespace loyalty
