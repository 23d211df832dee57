// The backup command shared by loyaltyd and loyalty-hq: a consistent copy of a database file
// taken with SQLite's online backup API, so the daemon using it keeps serving meanwhile.
//
//   loyaltyd backup --db /var/lib/loyalty/till.db --to /var/backups/loyalty/till-2024-05-01.db
//
// Run it as the user that owns the database (e.g. `runuser -u loyalty -- ...`): opening a
// WAL database can create its -wal and -shm files, which must stay the daemon's.
#pragma once

#include <string>
#include <vector>

namespace loyalty::pos {

// Copies the database at `source` to `destination` and checks the copy (PRAGMA quick_check).
// The copy is written beside `destination` and renamed over it only when complete, so an
// older backup at that path survives a failed run. Never changes `source`'s schema.
// Throws StorageError (SQLite) or std::runtime_error (missing source, failed check).
void backup_database(const std::string& source, const std::string& destination);

// The `backup --db FILE --to FILE` command; `args` are the words after "backup". Prints what
// it did (stdout) or what was wrong (stderr, prefixed with `program`) and returns the exit
// code: 0 done, 1 failed, 2 bad usage.
int run_backup(const std::string& program, const std::vector<std::string>& args);

}  // namespace loyalty::pos
