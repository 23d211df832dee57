#include "loyalty/json_log.hpp"

#include <chrono>
#include <cstdio>
#include <mutex>
#include <utility>

namespace loyalty::http {
namespace {

struct LogState {
    std::mutex mutex;
    LogSink sink;
    LogLevel minimum = LogLevel::info;
};

LogState& state() {
    static LogState instance;
    return instance;
}

std::string utc_timestamp() {
    const auto now =
        std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
    const auto day = std::chrono::floor<std::chrono::days>(now);
    const std::chrono::year_month_day date{day};
    const std::chrono::hh_mm_ss time{now - day};
    char text[32];
    std::snprintf(
        text, sizeof text, "%04d-%02u-%02uT%02ld:%02ld:%02ld.%03ldZ", static_cast<int>(date.year()),
        static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
        static_cast<long>(time.hours().count()), static_cast<long>(time.minutes().count()),
        static_cast<long>(time.seconds().count()), static_cast<long>(time.subseconds().count()));
    return text;
}

std::string format_line(LogLevel level, std::string_view event, const nlohmann::json& fields) {
    // ordered_json keeps ts, level and event first so a human can scan the log.
    nlohmann::ordered_json line;
    line["ts"] = utc_timestamp();
    line["level"] = to_string(level);
    line["event"] = event;
    if (fields.is_object()) {
        for (const auto& [key, value] : fields.items()) {
            if (key != "ts" && key != "level" && key != "event") line[key] = value;
        }
    }
    // Replace invalid UTF-8 rather than throw: a log call must never take the server down.
    return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string_view to_string(LogLevel level) {
    switch (level) {
        case LogLevel::debug:
            return "debug";
        case LogLevel::info:
            return "info";
        case LogLevel::warn:
            return "warn";
        case LogLevel::error:
            return "error";
    }
    return "unknown";
}

void log_event(LogLevel level, std::string_view event, const nlohmann::json& fields) {
    auto& log = state();
    {
        std::lock_guard lock(log.mutex);
        if (level < log.minimum) return;
    }
    const std::string line = format_line(level, event, fields);
    std::lock_guard lock(log.mutex);
    if (log.sink) {
        log.sink(line);
        return;
    }
    // One fwrite per line plus a flush: process tests tail this output while we run.
    const std::string with_newline = line + '\n';
    std::fwrite(with_newline.data(), 1, with_newline.size(), stderr);
    std::fflush(stderr);
}

void set_log_level(LogLevel minimum) {
    std::lock_guard lock(state().mutex);
    state().minimum = minimum;
}

LogSink set_log_sink(LogSink sink) {
    std::lock_guard lock(state().mutex);
    return std::exchange(state().sink, std::move(sink));
}

}  // namespace loyalty::http
