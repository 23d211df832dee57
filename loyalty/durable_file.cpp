// Flushed files and renames (durable_file.hpp).
#include "loyalty/durable_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace loyalty {

namespace {

// fsync of a file or directory opened read-only; the reason if it failed, empty if not.
std::string fsync_path(const std::string& path, int flags) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | flags);
    if (fd < 0) return std::strerror(errno);
    const bool synced = ::fsync(fd) == 0;
    const int sync_error = errno;
    const bool closed = ::close(fd) == 0;
    if (!synced) return std::strerror(sync_error);
    return closed ? std::string() : std::strerror(errno);
}

}  // namespace

void flush_file(const std::string& path) {
    const std::string failure = fsync_path(path, 0);
    if (!failure.empty()) throw std::runtime_error(path + ": cannot be flushed to disk: " + failure);
}

void rename_durably(const std::string& from, const std::string& to) {
    if (std::rename(from.c_str(), to.c_str()) != 0)
        throw std::runtime_error("cannot rename " + from + " to " + to + ": " + std::strerror(errno));
    const std::string directory = std::filesystem::absolute(to).parent_path().string();
    const std::string failure = fsync_path(directory, O_DIRECTORY);
    if (!failure.empty())
        throw std::runtime_error(to + ": its directory " + directory + " cannot be flushed: " + failure);
}

}  // namespace loyalty
