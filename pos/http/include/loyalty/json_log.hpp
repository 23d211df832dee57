// Structured logging: one JSON object per line, written to stderr by default.
//
// Every line carries "ts" (UTC, ISO 8601 with milliseconds), "level" and "event", followed by
// the caller's fields at the top level, e.g.
//   {"ts":"2024-05-01T10:00:00.123Z","level":"info","event":"listening","port":8080}
// Never pass request bodies, card numbers or phone numbers as fields: logs leave the till
// and must not carry personal data.
//
// Thread-safe: lines from concurrent threads never interleave.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace loyalty::http {

enum class LogLevel { debug, info, warn, error };

std::string_view to_string(LogLevel level);

// Writes one line if `level` is at or above the minimum level. `fields` must be a JSON object
// (or null for none); keys named ts, level or event are overwritten by the fixed ones.
void log_event(LogLevel level, std::string_view event, const nlohmann::json& fields = nullptr);

// Lines below this level are dropped. Default: info.
void set_log_level(LogLevel minimum);

// Receives each finished line (without the newline). An empty function restores stderr.
// Returns the previous sink so tests can restore it.
using LogSink = std::function<void(std::string_view line)>;
LogSink set_log_sink(LogSink sink);

}  // namespace loyalty::http
