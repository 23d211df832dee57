// Time for the domain: UTC seconds since 1970, behind an interface so that tests can move a
// member across years of tiers and expiry without waiting. Calendar helpers use the proleptic
// Gregorian calendar in UTC (Howard Hinnant's days_from_civil algorithms).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace loyalty {

using Timestamp = std::int64_t;  // seconds since 1970-01-01T00:00:00Z
constexpr Timestamp seconds_per_day = 86'400;

class Clock {
public:
    virtual ~Clock() = default;
    virtual Timestamp now() const = 0;
};

class SystemClock final : public Clock {
public:
    Timestamp now() const override;
};

// A clock that only moves when told to. Not thread-safe; for tests and replays.
class ManualClock final : public Clock {
public:
    explicit ManualClock(Timestamp start) : now_(start) {}
    Timestamp now() const override { return now_; }
    void set(Timestamp t) { now_ = t; }
    void advance_days(std::int64_t days) { now_ += days * seconds_per_day; }

private:
    Timestamp now_;
};

struct CivilDate {
    int year;
    unsigned month;  // 1..12
    unsigned day;    // 1..31
};

std::int64_t days_from_civil(CivilDate date);
CivilDate civil_from_days(std::int64_t days);
inline std::int64_t day_number(Timestamp t) {
    return t >= 0 ? t / seconds_per_day : (t - seconds_per_day + 1) / seconds_per_day;
}

// The same time of day `months` calendar months later; the day is clamped to the month's end.
Timestamp add_months(Timestamp t, int months);

std::string format_date(Timestamp t);      // "2026-11-23"
std::string format_timestamp(Timestamp t); // "2026-11-23T08:37:03Z"
// Accepts "YYYY-MM-DD" (midnight UTC) or "YYYY-MM-DDTHH:MM:SSZ".
std::optional<Timestamp> parse_timestamp(std::string_view text);

}  // namespace loyalty
