// A SQLite VFS shim that fails writes on purpose, to test what a disk fault does to the ledger.
//
// install() registers it as the process's default VFS, wrapping the real one: every connection
// opened afterwards goes through it. Counting starts at arm(): the `fail_at`-th write or sync
// (1-based, any file: database, WAL, journal) returns `error` (SQLITE_IOERR_WRITE,
// SQLITE_IOERR_FSYNC for syncs, or SQLITE_FULL), once or, when `persistent`, every one after it
// until disarm(). Thread-safe (atomics), so a daemon's threads may share it.
//
// The same shim is built as a preloadable library (libloyalty_faulty_vfs.so) for loyaltyd: with
// LOYALTY_FAULT_FILE=PATH in its environment, every write and sync fails with SQLITE_FULL while
// PATH exists, as on a full disk; removing PATH frees the disk.
#pragma once

namespace loyalty::test::faulty_vfs {

struct Fault {
    int fail_at = 1;
    bool persistent = false;
    int error = 0;  // a SQLite result code; 0 picks SQLITE_IOERR_WRITE / SQLITE_IOERR_FSYNC
};

void install();
void arm(Fault fault);
void disarm();
// Writes and syncs since the last arm() or disarm().
int operations_seen();
// Faults returned since the last arm().
int faults_injected();

}  // namespace loyalty::test::faulty_vfs
