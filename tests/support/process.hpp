// Test support: run a daemon as a child process and talk to it the way an operator would.
//
// The child's stderr goes to a file so tests can read its JSON log lines. Daemons in this
// project (loyaltyd, loyalty-hq, via loyalty::http::HttpServer) log exactly one line per HTTP
// server once it accepts connections:
//   {"ts":"...","level":"info","event":"listening","server":"<name>","address":"127.0.0.1","port":N}
// Start them with port 0 and call wait_for_listening_port() to learn N.
//
// Every wait here is bounded; a ChildProcess still running when destroyed is SIGKILLed and
// reaped so a failing test never leaves a daemon behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace loyalty::test {

struct ExitStatus {
    bool signalled = false;  // true: killed by `signal`; false: exited with `code`
    int code = 0;
    int signal = 0;
};

class ChildProcess {
  public:
    // Starts `program` with `args` (argv[0] is added), the parent's environment plus `env`
    // (overriding same-named variables), and stderr redirected to `stderr_path`. Throws
    // std::runtime_error naming the program when it cannot be started.
    ChildProcess(const std::filesystem::path& program, const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env, std::filesystem::path stderr_path);
    ~ChildProcess();

    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const { return pid_; }

    // The first JSON log line whose "event" equals `event` (and whose "server" equals `server`
    // unless that is empty), or nullopt if none appeared within `limit` (or the child exited first).
    std::optional<nlohmann::json> wait_for_log_event(std::string_view event,
                                                     std::chrono::milliseconds limit,
                                                     std::string_view server = {});

    // The port of the first "listening" line (of `server`, for a process with several).
    // Throws std::runtime_error with the captured stderr when none appeared within `limit`.
    std::uint16_t wait_for_listening_port(
        std::chrono::milliseconds limit = std::chrono::seconds(10), std::string_view server = {});

    void send_signal(int signal);
    void terminate() { send_signal(SIGTERM); }
    void kill() { send_signal(SIGKILL); }

    // The exit status, or nullopt if the child is still running after `limit`.
    std::optional<ExitStatus> wait_for_exit(std::chrono::milliseconds limit);

    // Everything the child wrote to stderr so far.
    std::string stderr_text() const;

  private:
    bool poll_exit();

    pid_t pid_ = -1;
    std::filesystem::path stderr_path_;
    std::optional<ExitStatus> exit_status_;
};

// How many times a JSON log names `event` (e.g. "sync_connected"): occurrences of the quoted name.
std::size_t count_log_events(const std::string& log, const std::string& event);

}  // namespace loyalty::test
