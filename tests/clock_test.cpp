#include "loyalty/clock.hpp"

#include <cstdio>
#include <string>

#include <catch2/catch.hpp>

using namespace loyalty;

TEST_CASE("civil dates round-trip across centuries and leap days") {
    CHECK(days_from_civil({1970, 1, 1}) == 0);
    CHECK(days_from_civil({2000, 3, 1}) - days_from_civil({2000, 2, 28}) == 2);  // 2000 is leap
    CHECK(days_from_civil({2100, 3, 1}) - days_from_civil({2100, 2, 28}) == 1);  // 2100 is not
    for (std::int64_t day = -800'000; day < 800'000; day += 997) {
        const CivilDate date = civil_from_days(day);
        CHECK(days_from_civil(date) == day);
    }
}

TEST_CASE("add_months clamps to the end of shorter months and keeps the time of day") {
    const Timestamp jan31 = parse_timestamp("2027-01-31T15:30:00Z").value();
    CHECK(format_timestamp(add_months(jan31, 1)) == "2027-02-28T15:30:00Z");
    CHECK(format_timestamp(add_months(parse_timestamp("2028-01-31").value(), 1)) ==
          "2028-02-29T00:00:00Z");
    CHECK(format_date(add_months(jan31, 24)) == "2029-01-31");
    CHECK(format_date(add_months(jan31, -2)) == "2026-11-30");
    CHECK(format_date(add_months(parse_timestamp("2026-12-15").value(), 1)) == "2027-01-15");
}

TEST_CASE("timestamps format and parse strictly") {
    const Timestamp t = parse_timestamp("2026-11-23T08:37:03Z").value();
    CHECK(format_timestamp(t) == "2026-11-23T08:37:03Z");
    CHECK(format_date(t) == "2026-11-23");
    CHECK(parse_timestamp("2026-11-23").value() == t - (8 * 3600 + 37 * 60 + 3));
    CHECK_FALSE(parse_timestamp("2026-02-29").has_value());
    CHECK_FALSE(parse_timestamp("2026-13-01").has_value());
    CHECK_FALSE(parse_timestamp("2026-11-23T24:00:00Z").has_value());
    CHECK_FALSE(parse_timestamp("2026-11-23 08:37:03").has_value());
    CHECK(format_timestamp(-1) == "1969-12-31T23:59:59Z");
}

// parse_timestamp reads the written form digit by digit and hands anything else to sscanf, which
// has always read a sign or a short field: what is accepted must not depend on the path taken.
TEST_CASE("timestamps off the written form are read as sscanf reads them") {
    CHECK(parse_timestamp("+026-11-23").value() == days_from_civil({26, 11, 23}) * seconds_per_day);
    CHECK_FALSE(parse_timestamp("2026-11-23T8:37:03Z ").has_value());
    CHECK_FALSE(parse_timestamp("2026-11-2a").has_value());
    CHECK_FALSE(parse_timestamp("2026-1-023").has_value());
    CHECK_FALSE(parse_timestamp("2026-11-23T08:37:03z").has_value());
    CHECK_FALSE(parse_timestamp("2026-11-23T08:37:0Z").has_value());
}

TEST_CASE("ManualClock moves only when told") {
    ManualClock clock(1000);
    CHECK(clock.now() == 1000);
    clock.advance_days(2);
    CHECK(clock.now() == 1000 + 2 * seconds_per_day);
    clock.set(5);
    CHECK(clock.now() == 5);
}

// format_date and format_timestamp write digits themselves; they must write exactly what
// printf's "%04d-%02u-%02uT%02d:%02d:%02dZ" writes, for every year printf's form can take.
TEST_CASE("timestamps are written as printf writes them, from year 0 to past 9999") {
    const auto printf_form = [](Timestamp t) {
        const CivilDate date = civil_from_days(day_number(t));
        const Timestamp seconds = t - day_number(t) * seconds_per_day;
        char text[64];
        std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02dZ", date.year, date.month, date.day,
                      static_cast<int>(seconds / 3600), static_cast<int>(seconds / 60 % 60),
                      static_cast<int>(seconds % 60));
        return std::string(text);
    };
    const Timestamp first = days_from_civil({-2, 12, 30}) * seconds_per_day;
    const Timestamp last = days_from_civil({10001, 1, 2}) * seconds_per_day;
    // A prime step lands on every hour, minute and second over the range.
    for (Timestamp t = first; t < last; t += 7'919'993) {
        INFO(t);
        REQUIRE(format_timestamp(t) == printf_form(t));
        REQUIRE(format_date(t) == printf_form(t).substr(0, printf_form(t).find('T')));
    }
}
