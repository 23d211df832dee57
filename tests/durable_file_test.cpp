// Flushed files and durable renames (loyalty/durable_file.cpp). Power loss itself cannot be
// staged here; what can fail is the contract around it: the new file replaces the old whole,
// and a failure names the paths and leaves the old file as it was.
#include "loyalty/durable_file.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <catch2/catch.hpp>

#include "support/temp_dir.hpp"

using namespace loyalty;

namespace {

void write_text(const std::filesystem::path& path, const std::string& text) {
    std::ofstream(path) << text;
}

std::string read_text(const std::filesystem::path& path) {
    std::ostringstream text;
    text << std::ifstream(path).rdbuf();
    return text.str();
}

}  // namespace

TEST_CASE("a durable rename replaces the old file with the new one whole") {
    test::TempDir dir;
    const auto old_file = dir.path() / "backup.db";
    const auto new_file = dir.path() / "backup.db.partial";
    write_text(old_file, "old");
    write_text(new_file, "new");
    flush_file(new_file.string());
    rename_durably(new_file.string(), old_file.string());
    CHECK(read_text(old_file) == "new");
    CHECK_FALSE(std::filesystem::exists(new_file));
}

TEST_CASE("a failed flush or rename names the paths and leaves the old file as it was") {
    test::TempDir dir;
    const auto old_file = dir.path() / "backup.db";
    const auto missing = dir.path() / "never-written";
    write_text(old_file, "old");
    CHECK_THROWS_WITH(flush_file(missing.string()), Catch::Contains(missing.string()));
    CHECK_THROWS_WITH(rename_durably(missing.string(), old_file.string()),
                      Catch::Contains(missing.string()) && Catch::Contains(old_file.string()));
    CHECK(read_text(old_file) == "old");
    const auto no_directory = dir.path() / "gone" / "backup.db";
    CHECK_THROWS_WITH(rename_durably(old_file.string(), no_directory.string()),
                      Catch::Contains(no_directory.string()));
    CHECK(read_text(old_file) == "old");
}
