#include "loyalty/json_log.hpp"

#include <catch2/catch.hpp>
#include <mutex>
#include <thread>
#include <vector>

using namespace loyalty::http;

namespace {

// Captures log lines for the duration of a test, then restores the previous sink.
class CapturedLog {
  public:
    CapturedLog()
        : previous_(set_log_sink([this](std::string_view line) { lines_.emplace_back(line); })) {}
    ~CapturedLog() {
        set_log_sink(previous_);
        set_log_level(LogLevel::info);
    }
    // The sink runs under the logger's lock, so reading after the writers joined is safe.
    const std::vector<std::string>& lines() const { return lines_; }

  private:
    std::vector<std::string> lines_;
    LogSink previous_;
};

}  // namespace

TEST_CASE("a log line is one JSON object with ts, level, event and the fields", "[json_log]") {
    CapturedLog log;
    log_event(LogLevel::info, "listening", {{"port", 8080}, {"event", "ignored"}});
    REQUIRE(log.lines().size() == 1);
    const std::string& line = log.lines()[0];
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.rfind(R"({"ts":")", 0) == 0);
    const auto parsed = nlohmann::json::parse(line);
    CHECK(parsed["level"] == "info");
    CHECK(parsed["event"] == "listening");
    CHECK(parsed["port"] == 8080);
    const std::string ts = parsed["ts"];
    CHECK(ts.size() == std::string("2024-05-01T10:00:00.123Z").size());
    CHECK(ts.back() == 'Z');
}

TEST_CASE("lines below the minimum level are dropped", "[json_log]") {
    CapturedLog log;
    set_log_level(LogLevel::warn);
    log_event(LogLevel::info, "chatty");
    log_event(LogLevel::error, "broken", {{"detail", "disk full"}});
    REQUIRE(log.lines().size() == 1);
    CHECK(nlohmann::json::parse(log.lines()[0])["level"] == "error");
}

TEST_CASE("invalid UTF-8 in a field does not throw", "[json_log]") {
    CapturedLog log;
    CHECK_NOTHROW(log_event(LogLevel::warn, "odd", {{"detail", std::string("\xff\xfe")}}));
    REQUIRE(log.lines().size() == 1);
    CHECK_NOTHROW(nlohmann::json::parse(log.lines()[0]));
}

TEST_CASE("concurrent writers produce whole lines", "[json_log]") {
    CapturedLog log;
    std::vector<std::thread> writers;
    for (int writer = 0; writer < 8; ++writer) {
        writers.emplace_back([writer] {
            for (int i = 0; i < 200; ++i)
                log_event(LogLevel::info, "tick", {{"writer", writer}, {"i", i}});
        });
    }
    for (auto& thread : writers) thread.join();
    REQUIRE(log.lines().size() == 1600);
    for (const auto& line : log.lines()) CHECK(nlohmann::json::parse(line)["event"] == "tick");
}
