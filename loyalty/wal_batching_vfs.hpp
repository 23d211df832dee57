// A SQLite VFS that writes a commit's WAL frames with one write call instead of two per page.
//
// SQLite appends each page of a commit to the WAL as two writes (the frame's 24-byte header, then
// the page) and then syncs: a purchase at the till is about sixty pwrite calls, most of loyaltyd's
// time with one connection after the fsync (docs/BENCHMARKS.md). This VFS keeps a WAL file's
// contiguous appends in memory and writes them with one call before any other operation on that
// file: a sync, a read, a size, a truncate, a close, a write elsewhere.
//
// Only for connections with synchronous=FULL: there SQLite syncs the WAL (so writes what was
// gathered) before it publishes a commit's frames to other connections. With NORMAL it publishes
// them without a sync, and another connection could read frames still held here.
//
// Every file is opened through the process's default VFS, looked up at each open, so a test's
// fault-injecting VFS installed as the default still sees every write (one per commit here).
#pragma once

namespace loyalty {

// Registers the VFS on first use (not as the default) and returns its name for sqlite3_open_v2.
const char* wal_batching_vfs();

}  // namespace loyalty
