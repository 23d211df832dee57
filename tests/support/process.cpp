#include "process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace loyalty::test {
namespace {

constexpr std::chrono::milliseconds poll_interval{20};

std::vector<std::string> merged_environment(const std::map<std::string, std::string>& overrides) {
    std::vector<std::string> merged;
    for (char** entry = environ; *entry != nullptr; ++entry) {
        const std::string_view text(*entry);
        if (!overrides.contains(std::string(text.substr(0, text.find('=')))))
            merged.emplace_back(text);
    }
    for (const auto& [name, value] : overrides) merged.push_back(name + "=" + value);
    return merged;
}

// posix_spawn wants NULL-terminated arrays of mutable C strings.
std::vector<char*> c_strings(std::vector<std::string>& strings) {
    std::vector<char*> pointers;
    for (auto& text : strings) pointers.push_back(text.data());
    pointers.push_back(nullptr);
    return pointers;
}

ExitStatus decode(int status) {
    if (WIFSIGNALED(status)) return {true, 0, WTERMSIG(status)};
    return {false, WEXITSTATUS(status), 0};
}

}  // namespace

ChildProcess::ChildProcess(const std::filesystem::path& program,
                           const std::vector<std::string>& args,
                           const std::map<std::string, std::string>& env,
                           std::filesystem::path stderr_path)
    : stderr_path_(std::move(stderr_path)) {
    std::vector<std::string> argv{program.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> envp = merged_environment(env);
    auto argv_pointers = c_strings(argv);
    auto envp_pointers = c_strings(envp);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int error = posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv_pointers.data(),
                                  envp_pointers.data());
    posix_spawn_file_actions_destroy(&actions);
    if (error != 0) {
        throw std::runtime_error("cannot start " + program.string() + ": " + std::strerror(error));
    }
}

ChildProcess::~ChildProcess() {
    if (poll_exit()) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);  // SIGKILL cannot be caught, so this wait ends
}

bool ChildProcess::poll_exit() {
    if (exit_status_) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) exit_status_ = decode(status);
    return exit_status_.has_value();
}

std::optional<nlohmann::json> ChildProcess::wait_for_log_event(std::string_view event,
                                                               std::chrono::milliseconds limit,
                                                               std::string_view server) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        // Re-read the whole file each time: a partial last line simply fails to parse.
        std::istringstream lines(stderr_text());
        for (std::string line; std::getline(lines, line);) {
            const auto parsed = nlohmann::json::parse(line, nullptr, false);
            if (parsed.is_object() && parsed.value("event", "") == event &&
                (server.empty() || parsed.value("server", "") == server))
                return parsed;
        }
        if (poll_exit() || std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(poll_interval);
    }
}

std::uint16_t ChildProcess::wait_for_listening_port(std::chrono::milliseconds limit, std::string_view server) {
    const auto listening = wait_for_log_event("listening", limit, server);
    if (!listening || !listening->contains("port") || !(*listening)["port"].is_number_unsigned()) {
        throw std::runtime_error("no {\"event\":\"listening\",\"port\":N} line from pid " +
                                 std::to_string(pid_) + "; its stderr:\n" + stderr_text());
    }
    return (*listening)["port"].get<std::uint16_t>();
}

void ChildProcess::send_signal(int signal) {
    if (!poll_exit()) ::kill(pid_, signal);
}

std::optional<ExitStatus> ChildProcess::wait_for_exit(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!poll_exit() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(poll_interval);
    return exit_status_;
}

std::size_t count_log_events(const std::string& log, const std::string& event) {
    const std::string quoted = "\"" + event + "\"";
    std::size_t count = 0;
    for (std::size_t at = log.find(quoted); at != std::string::npos; at = log.find(quoted, at + 1)) ++count;
    return count;
}

std::string ChildProcess::stderr_text() const {
    std::ifstream file(stderr_path_);
    return std::string(std::istreambuf_iterator<char>(file), {});
}

}  // namespace loyalty::test
