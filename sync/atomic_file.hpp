// atomic_file.hpp -- replacing a file so that readers see the old content or
// the new, never a mix, and a crash leaves one of the two on disk.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>

namespace edgekey::sync {

// File-level write and lock failures, naming the path and the system error.
struct KeysetError : std::runtime_error {
  explicit KeysetError(const std::string &message, int err = 0) : std::runtime_error(message), error_number(err) {}
  int error_number;  // the errno of the failed call (ENOSPC: the filesystem is full), 0 when none
};

// Writes `text` to a temp file in the same directory, fsyncs it, renames it
// over `path` (a symlink is followed to its target) and fsyncs the
// directory. An existing file's mode (and owner, when permitted) is kept; a
// new one gets `new_mode`. Throws KeysetError (with the errno; a full
// filesystem, ENOSPC or EDQUOT, is said so in the message); on failure the
// old file is untouched and no temp file is left.
void replace_file_atomically(const std::string &path, const std::string &text, unsigned new_mode);

// The same with the content made in pieces, so a large file (a 1M-key
// snapshot is ~360 MB) never sits whole in memory: `fill` appends the next
// piece to the empty buffer it is given and returns whether more follow.
// An exception from `fill` leaves the old file and no temp file, and passes.
void replace_file_atomically(const std::string &path, const std::function<bool(std::string &)> &fill,
                             unsigned new_mode);

}  // namespace edgekey::sync
