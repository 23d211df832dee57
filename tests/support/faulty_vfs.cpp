#include "support/faulty_vfs.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace loyalty::test::faulty_vfs {
namespace {

std::atomic<bool> armed{false};
std::atomic<int> fail_at{0};
std::atomic<bool> persistent{false};
std::atomic<int> error_code{0};
std::atomic<int> seen{0};
std::atomic<int> injected{0};
const char* full_disk_marker = nullptr;  // LOYALTY_FAULT_FILE, for the preloaded library

// The fault for this write or sync, or SQLITE_OK to let it through.
int fault_for(int default_error) {
    if (full_disk_marker != nullptr && ::access(full_disk_marker, F_OK) == 0) return SQLITE_FULL;
    if (!armed.load()) return SQLITE_OK;
    const int n = ++seen;
    if (n == fail_at.load() || (persistent.load() && n > fail_at.load())) {
        ++injected;
        const int error = error_code.load();
        return error != 0 ? error : default_error;
    }
    return SQLITE_OK;
}

sqlite3_vfs* real_vfs = nullptr;
sqlite3_vfs shim_vfs;

// Our file wraps the real one, which lives right after it in the same allocation.
struct ShimFile {
    sqlite3_file base;
    sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};
ShimFile* shim(sqlite3_file* file) { return reinterpret_cast<ShimFile*>(file); }

int shim_close(sqlite3_file* f) { return shim(f)->real()->pMethods->xClose(shim(f)->real()); }
int shim_read(sqlite3_file* f, void* buffer, int amount, sqlite3_int64 offset) {
    return shim(f)->real()->pMethods->xRead(shim(f)->real(), buffer, amount, offset);
}
int shim_write(sqlite3_file* f, const void* buffer, int amount, sqlite3_int64 offset) {
    if (const int fault = fault_for(SQLITE_IOERR_WRITE)) return fault;
    return shim(f)->real()->pMethods->xWrite(shim(f)->real(), buffer, amount, offset);
}
int shim_truncate(sqlite3_file* f, sqlite3_int64 size) {
    return shim(f)->real()->pMethods->xTruncate(shim(f)->real(), size);
}
int shim_sync(sqlite3_file* f, int flags) {
    if (const int fault = fault_for(SQLITE_IOERR_FSYNC)) return fault;
    return shim(f)->real()->pMethods->xSync(shim(f)->real(), flags);
}
int shim_file_size(sqlite3_file* f, sqlite3_int64* size) {
    return shim(f)->real()->pMethods->xFileSize(shim(f)->real(), size);
}
int shim_lock(sqlite3_file* f, int level) { return shim(f)->real()->pMethods->xLock(shim(f)->real(), level); }
int shim_unlock(sqlite3_file* f, int level) { return shim(f)->real()->pMethods->xUnlock(shim(f)->real(), level); }
int shim_check_reserved(sqlite3_file* f, int* out) {
    return shim(f)->real()->pMethods->xCheckReservedLock(shim(f)->real(), out);
}
int shim_file_control(sqlite3_file* f, int op, void* arg) {
    return shim(f)->real()->pMethods->xFileControl(shim(f)->real(), op, arg);
}
int shim_sector_size(sqlite3_file* f) { return shim(f)->real()->pMethods->xSectorSize(shim(f)->real()); }
int shim_device_characteristics(sqlite3_file* f) {
    return shim(f)->real()->pMethods->xDeviceCharacteristics(shim(f)->real());
}
int shim_shm_map(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
    return shim(f)->real()->pMethods->xShmMap(shim(f)->real(), page, size, extend, out);
}
int shim_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
    return shim(f)->real()->pMethods->xShmLock(shim(f)->real(), offset, n, flags);
}
void shim_shm_barrier(sqlite3_file* f) { shim(f)->real()->pMethods->xShmBarrier(shim(f)->real()); }
int shim_shm_unmap(sqlite3_file* f, int remove) {
    return shim(f)->real()->pMethods->xShmUnmap(shim(f)->real(), remove);
}
int shim_fetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
    return shim(f)->real()->pMethods->xFetch(shim(f)->real(), offset, amount, out);
}
int shim_unfetch(sqlite3_file* f, sqlite3_int64 offset, void* page) {
    return shim(f)->real()->pMethods->xUnfetch(shim(f)->real(), offset, page);
}

const sqlite3_io_methods shim_methods = {
    3,          shim_close,         shim_read,      shim_write,       shim_truncate,
    shim_sync,  shim_file_size,     shim_lock,      shim_unlock,      shim_check_reserved,
    shim_file_control, shim_sector_size, shim_device_characteristics, shim_shm_map,
    shim_shm_lock, shim_shm_barrier, shim_shm_unmap, shim_fetch,      shim_unfetch,
};

int shim_open(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
    ShimFile* wrapper = shim(file);
    const int code = real_vfs->xOpen(real_vfs, name, wrapper->real(), flags, out_flags);
    // SQLite calls xClose only when pMethods is set, so leave it null on failure.
    wrapper->base.pMethods = wrapper->real()->pMethods != nullptr ? &shim_methods : nullptr;
    return code;
}

}  // namespace

void install() {
    static std::once_flag once;
    std::call_once(once, [] {
        real_vfs = sqlite3_vfs_find(nullptr);
        if (real_vfs == nullptr || real_vfs->iVersion < 1) throw std::runtime_error("no default SQLite VFS");
        shim_vfs = *real_vfs;
        shim_vfs.zName = "loyalty-faulty";
        shim_vfs.szOsFile = static_cast<int>(sizeof(ShimFile)) + real_vfs->szOsFile;
        shim_vfs.xOpen = shim_open;
        shim_vfs.pAppData = nullptr;
        if (sqlite3_vfs_register(&shim_vfs, 1) != SQLITE_OK) throw std::runtime_error("cannot register the VFS");
    });
}

void arm(Fault fault) {
    armed = false;
    fail_at = fault.fail_at;
    persistent = fault.persistent;
    error_code = fault.error;
    seen = 0;
    injected = 0;
    armed = true;
}

void disarm() {
    armed = false;
    seen = 0;
}

int operations_seen() { return seen.load(); }
int faults_injected() { return injected.load(); }

#ifdef LOYALTY_FAULTY_VFS_PRELOAD
// In loyaltyd through LD_PRELOAD: installed before main, the full-disk marker from the env.
__attribute__((constructor)) void install_for_preload() {
    full_disk_marker = std::getenv("LOYALTY_FAULT_FILE");
    install();
}
#endif

}  // namespace loyalty::test::faulty_vfs
