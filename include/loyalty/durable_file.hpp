// Files that must survive power loss once written: a rename is only durable when the directory
// holding the new name has been flushed too, and the data only when the file was flushed before
// the rename (otherwise a crash can leave the new name pointing at an empty file).
#pragma once

#include <string>

namespace loyalty {

// Flushes the file at `path` to the disk. Throws std::runtime_error naming the path on failure.
void flush_file(const std::string& path);

// Renames `from` to `to` (replacing it atomically) and flushes `to`'s directory, so that after
// a crash `to` is either the old file or the new one, and the new one once this returns.
// Throws std::runtime_error naming both paths on failure.
void rename_durably(const std::string& from, const std::string& to);

}  // namespace loyalty
