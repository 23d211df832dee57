// A fresh directory under the system temp dir, removed with everything in it at scope exit.
// The one temporary directory every test uses. LOYALTY_KEEP_TEST_DIRS=1 keeps them (with the
// daemons' logs and databases) for a post-mortem.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace loyalty::test {

class TempDir {
  public:
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "loyalty-test-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~TempDir() {
        if (std::getenv("LOYALTY_KEEP_TEST_DIRS")) return;
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

}  // namespace loyalty::test
