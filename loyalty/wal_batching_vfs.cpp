#include "wal_batching_vfs.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

namespace loyalty {

namespace {

// Each WAL file's buffer, reserved once: a purchase at the till is about 60 KB of frames; a larger
// transaction (a head office batch, an expiry run) is written every this many bytes. A buffer
// that grew and shrank with each transaction left megabytes of freed heap in loyaltyd's memory.
constexpr std::size_t max_gathered_bytes = 128 << 10;
// The unix VFS writes at most 128 KiB - 1 bytes a call (it masks the length with 0x1ffff).
constexpr std::size_t write_chunk_bytes = 64 << 10;

sqlite3_vfs batching_vfs;

// Our file wraps one of the default VFS's, allocated apart because the default VFS is looked up
// at each open (a test may install its own after this one was registered).
struct BatchingFile {
    sqlite3_file base;
    sqlite3_file* real = nullptr;
    bool gathers = false;                 // a WAL file: appends are gathered
    std::vector<unsigned char> gathered;  // contiguous bytes starting at gathered_at
    sqlite3_int64 gathered_at = 0;
};

BatchingFile* batching(sqlite3_file* file) { return reinterpret_cast<BatchingFile*>(file); }
sqlite3_file* real(sqlite3_file* file) { return batching(file)->real; }
const sqlite3_io_methods& real_methods(sqlite3_file* file) { return *real(file)->pMethods; }

// Writes what was gathered, in calls of at most write_chunk_bytes. Whatever happens, the buffer
// is emptied: after a failed write the transaction fails, and SQLite never trusts frames it did
// not commit.
int flush(sqlite3_file* file) {
    BatchingFile& self = *batching(file);
    int code = SQLITE_OK;
    for (std::size_t done = 0; done < self.gathered.size() && code == SQLITE_OK; done += write_chunk_bytes) {
        const std::size_t amount = std::min(write_chunk_bytes, self.gathered.size() - done);
        code = real_methods(file).xWrite(real(file), self.gathered.data() + done, static_cast<int>(amount),
                                         self.gathered_at + static_cast<sqlite3_int64>(done));
    }
    self.gathered.clear();
    return code;
}

int batching_write(sqlite3_file* file, const void* buffer, int amount, sqlite3_int64 offset) {
    BatchingFile& self = *batching(file);
    if (!self.gathers) return real_methods(file).xWrite(real(file), buffer, amount, offset);
    const bool appends = !self.gathered.empty() &&
                         offset == self.gathered_at + static_cast<sqlite3_int64>(self.gathered.size());
    if (!appends || self.gathered.size() + static_cast<std::size_t>(amount) > max_gathered_bytes) {
        if (const int code = flush(file); code != SQLITE_OK) return code;
        self.gathered_at = offset;
    }
    const auto* bytes = static_cast<const unsigned char*>(buffer);
    self.gathered.insert(self.gathered.end(), bytes, bytes + amount);
    return SQLITE_OK;
}

// Every other operation on a file first writes what was gathered, so nothing (a read of a frame
// this connection wrote, a sync, a size, a close) ever sees the file without it.
template <auto method, class... Arguments>
int after_flush(sqlite3_file* file, Arguments... arguments) {
    if (const int code = flush(file); code != SQLITE_OK) return code;
    return (real_methods(file).*method)(real(file), arguments...);
}

// What never touches the log's bytes (locks on the shared memory, mapped pages of the database
// file) goes straight through.
template <auto method, class Result, class... Arguments>
Result forward(sqlite3_file* file, Arguments... arguments) {
    return (real_methods(file).*method)(real(file), arguments...);
}

int batching_close(sqlite3_file* file) {
    BatchingFile& self = *batching(file);
    const int flushed = flush(file);
    const int closed = real_methods(file).xClose(real(file));
    sqlite3_free(self.real);
    self.~BatchingFile();
    return flushed != SQLITE_OK ? flushed : closed;
}

using Methods = sqlite3_io_methods;
const sqlite3_io_methods batching_methods = {
    3,
    batching_close,
    after_flush<&Methods::xRead, void*, int, sqlite3_int64>,
    batching_write,
    after_flush<&Methods::xTruncate, sqlite3_int64>,
    after_flush<&Methods::xSync, int>,
    after_flush<&Methods::xFileSize, sqlite3_int64*>,
    after_flush<&Methods::xLock, int>,
    after_flush<&Methods::xUnlock, int>,
    forward<&Methods::xCheckReservedLock, int, int*>,
    after_flush<&Methods::xFileControl, int, void*>,
    forward<&Methods::xSectorSize, int>,
    forward<&Methods::xDeviceCharacteristics, int>,
    forward<&Methods::xShmMap, int, int, int, int, void volatile**>,
    forward<&Methods::xShmLock, int, int, int, int>,
    forward<&Methods::xShmBarrier, void>,
    forward<&Methods::xShmUnmap, int, int>,
    forward<&Methods::xFetch, int, sqlite3_int64, int, void**>,
    forward<&Methods::xUnfetch, int, sqlite3_int64, void*>,
};

int batching_open(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
    file->pMethods = nullptr;  // SQLite calls xClose only when pMethods is set
    sqlite3_vfs* underlying = sqlite3_vfs_find(nullptr);
    auto* real_file = static_cast<sqlite3_file*>(sqlite3_malloc(underlying->szOsFile));
    if (real_file == nullptr) return SQLITE_NOMEM;
    real_file->pMethods = nullptr;
    const int code = underlying->xOpen(underlying, name, real_file, flags, out_flags);
    if (real_file->pMethods == nullptr) {
        sqlite3_free(real_file);
        return code;
    }
    BatchingFile* self = new (file) BatchingFile;
    self->real = real_file;
    self->gathers = (flags & SQLITE_OPEN_WAL) != 0;
    if (self->gathers) self->gathered.reserve(max_gathered_bytes);
    self->base.pMethods = &batching_methods;
    return code;
}

}  // namespace

const char* wal_batching_vfs() {
    static std::once_flag once;
    std::call_once(once, [] {
        sqlite3_vfs* underlying = sqlite3_vfs_find(nullptr);
        if (underlying == nullptr) throw std::runtime_error("SQLite has no default VFS");
        batching_vfs = *underlying;
        batching_vfs.iVersion = std::min(underlying->iVersion, 3);
        batching_vfs.zName = "loyalty-wal-batching";
        batching_vfs.szOsFile = static_cast<int>(sizeof(BatchingFile));
        batching_vfs.pNext = nullptr;
        batching_vfs.xOpen = batching_open;
        if (const int code = sqlite3_vfs_register(&batching_vfs, 0); code != SQLITE_OK)
            throw std::runtime_error(std::string("registering the WAL batching VFS: ") + sqlite3_errstr(code));
    });
    return batching_vfs.zName;
}

}  // namespace loyalty
