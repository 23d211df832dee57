// What every benchmark prints and uses: the machine it ran on, a scratch directory, elapsed
// time and memory.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

namespace loyalty::bench {

// "AMD EPYC, 2 cores, 24683620 kB": CPU model, hardware threads, memory.
inline std::string machine() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line, model = "unknown cpu";
    while (std::getline(cpuinfo, line))
        if (line.rfind("model name", 0) == 0) {
            model = line.substr(line.find(':') + 2);
            break;
        }
    std::ifstream meminfo("/proc/meminfo");
    std::string memory = "unknown memory";
    while (std::getline(meminfo, line))
        if (line.rfind("MemTotal:", 0) == 0) memory = line.substr(line.find_first_not_of(' ', 9));
    return model + ", " + std::to_string(std::thread::hardware_concurrency()) + " cores, " + memory;
}

// A fresh directory under the system temp dir; the caller removes it.
inline std::filesystem::path scratch_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "loyalty-bench-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    return pattern;
}

inline double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Wall time in laps: each lap() is the seconds since the previous one (or since construction).
class Stopwatch {
  public:
    double lap() {
        const auto start = std::exchange(last_, std::chrono::steady_clock::now());
        return std::chrono::duration<double>(last_ - start).count();
    }

  private:
    std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

// This process's peak resident memory so far.
inline double peak_mib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

// User and system CPU seconds of the process so far: unlike wall time, not inflated when
// other work shares the cores.
inline double cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const auto seconds = [](const timeval& time) { return static_cast<double>(time.tv_sec) + time.tv_usec / 1e6; };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// A field of /proc/PID/status in KiB, e.g. "VmRSS" (resident now) or "VmHWM" (peak resident);
// -1 when the process or the field is not there.
inline long status_kib(pid_t pid, const std::string& field) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
    return -1;
}

}  // namespace loyalty::bench
