#include "support/process.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>

using loyalty::test::ChildProcess;
using namespace std::chrono_literals;

namespace {

std::filesystem::path stderr_file(const std::string& name) {
    return std::filesystem::temp_directory_path() /
           (name + "-" + std::to_string(::getpid()) + ".stderr");
}

// A stand-in daemon: logs the listening line, then runs until signalled; $EXIT_CODE decides how
// it answers SIGTERM.
const std::string fake_daemon =
    "trap 'echo \"{\\\"event\\\":\\\"stopping\\\"}\" >&2; exit ${EXIT_CODE}' TERM; "
    "echo 'not json' >&2; "
    "echo '{\"ts\":\"x\",\"level\":\"info\",\"event\":\"listening\",\"port\":4321}' >&2; "
    "while true; do sleep 0.05; done";

}  // namespace

TEST_CASE("a child's listening port is read from its JSON log", "[process]") {
    ChildProcess child("/bin/sh", {"-c", fake_daemon}, {{"EXIT_CODE", "3"}},
                       stderr_file("listening"));
    CHECK(child.wait_for_listening_port(10s) == 4321);
    CHECK(child.stderr_text().find("not json") != std::string::npos);

    child.terminate();
    const auto status = child.wait_for_exit(10s);
    REQUIRE(status);
    CHECK_FALSE(status->signalled);
    CHECK(status->code == 3);
    CHECK(child.wait_for_log_event("stopping", 1s));
}

TEST_CASE("SIGKILL is reported as a signal", "[process]") {
    ChildProcess child("/bin/sh", {"-c", fake_daemon}, {{"EXIT_CODE", "0"}}, stderr_file("killed"));
    REQUIRE(child.wait_for_listening_port(10s) == 4321);
    CHECK_FALSE(child.wait_for_exit(100ms));  // still running
    child.kill();
    const auto status = child.wait_for_exit(10s);
    REQUIRE(status);
    CHECK(status->signalled);
    CHECK(status->signal == SIGKILL);
}

TEST_CASE("a child that never listens fails with its stderr", "[process]") {
    ChildProcess child("/bin/sh", {"-c", "echo 'config field \"db\" is missing' >&2; exit 2"}, {},
                       stderr_file("silent"));
    try {
        child.wait_for_listening_port(10s);
        FAIL("wait_for_listening_port should have thrown");
    } catch (const std::runtime_error& error) {
        CHECK(std::string(error.what()).find("config field \"db\" is missing") !=
              std::string::npos);
    }
    const auto status = child.wait_for_exit(10s);
    REQUIRE(status);
    CHECK(status->code == 2);
}

TEST_CASE("a program that cannot be started is named", "[process]") {
    CHECK_THROWS_WITH(ChildProcess("/nonexistent/loyaltyd", {}, {}, stderr_file("missing")),
                      Catch::Contains("/nonexistent/loyaltyd"));
}
