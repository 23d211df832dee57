// What every benchmark prints and uses: the machine it ran on and a scratch directory.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

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

}  // namespace loyalty::bench
