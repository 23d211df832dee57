#include "backup.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <iostream>
#include <stdexcept>

#include "loyalty/durable_file.hpp"
#include "loyalty/store.hpp"

namespace loyalty::pos {

namespace fs = std::filesystem;

void backup_database(const std::string& source, const std::string& destination) {
    if (!fs::is_regular_file(source)) throw std::runtime_error("no database at " + source);
    if (fs::exists(destination) && fs::equivalent(source, destination))
        throw std::runtime_error("--to names the database itself: " + destination);
    const std::string partial = destination + ".partial";
    fs::remove(partial);  // left by an interrupted run
    {
        // No migrations: a backup copies the file as it is, whatever version wrote it.
        Database database(source, Durability::full, {});
        database.backup_to(partial);
    }
    {
        Database copy(partial, Durability::full, {});
        const auto check = copy.query_text("PRAGMA quick_check");
        if (check != "ok")
            throw std::runtime_error("the copy failed its integrity check: " + check.value_or("?"));
    }
    // A -wal file left beside an older backup would be replayed into the new one.
    fs::remove(destination + "-wal");
    fs::remove(destination + "-shm");
    // The check's connection checkpointed into the file; a power loss after "backed up" must
    // not leave the old backup or a torn copy under the name.
    flush_file(partial);
    rename_durably(partial, destination);
}

int run_backup(const std::string& program, const std::vector<std::string>& args) {
    std::string source, destination;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const bool has_value = i + 1 < args.size();
        if (args[i] == "--db" && has_value) {
            source = args[++i];
        } else if (args[i] == "--to" && has_value) {
            destination = args[++i];
        } else {
            std::cerr << program << ": backup: unexpected argument '" << args[i] << "'\n";
            source.clear();
            break;
        }
    }
    if (source.empty() || destination.empty()) {
        std::cerr << "usage: " << program << " backup --db FILE --to FILE\n";
        return 2;
    }
    ::umask(077);  // the copy holds members' personal data: owner only
    try {
        backup_database(source, destination);
    } catch (const std::exception& error) {
        std::cerr << program << ": backup failed: " << error.what() << "\n";
        return 1;
    }
    std::cout << program << ": backed up " << source << " to " << destination << " ("
              << fs::file_size(destination) << " bytes)\n";
    return 0;
}

}  // namespace loyalty::pos
