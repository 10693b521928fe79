// atomic_file.hpp -- replacing a file so that readers see the old content or
// the new, never a mix, and a crash leaves one of the two on disk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

struct stat;

namespace edgekey::sync {

// File-level write and lock failures, naming the path and the system error.
struct KeysetError : std::runtime_error {
  explicit KeysetError(const std::string &message, int err = 0) : std::runtime_error(message), error_number(err) {}
  int error_number;  // the errno of the failed call (ENOSPC: the filesystem is full), 0 when none
};

// All `size` bytes to / from `fd`, across short counts and EINTR: false on
// an error (errno set; a write without progress is ENOSPC) or, reading, an
// early end of file.
bool write_all(int fd, const void *data, size_t size);
bool read_all(int fd, void *data, size_t size);

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

// Which file, and which version of it: two stamps are equal while nothing
// replaced or wrote the file between them (a write changes its mtime and
// ctime, at the kernel's clock tick; a rename gives a new inode).
struct FileStamp {
  uint64_t dev = 0, ino = 0, size = 0;
  int64_t mtime_ns = 0, ctime_ns = 0;
  static FileStamp of(const struct stat &st);
  bool operator==(const FileStamp &) const = default;
};

// What replace_file_copying() writes into the temp file: bytes of its own,
// and ranges of another open file, which the kernel copies
// (copy_file_range: no pass through this process's memory). Writeback of
// what is written starts every few MiB, so the final fsync waits less.
class FileAppender {
 public:
  void append(std::string_view bytes);
  // [offset, offset + length) of `src_fd`; fails (KeysetError) if it is shorter.
  void copy(int src_fd, uint64_t offset, uint64_t length);
  uint64_t size() const { return size_; }

 private:
  friend FileStamp replace_file_copying(const std::string &, const std::function<void(FileAppender &)> &, unsigned,
                                        const std::function<void(const FileStamp &)> &);
  static constexpr size_t kWritebackBytes = 16 << 20;
  FileAppender(int fd, std::string tmp, std::string dir, std::string path)
      : fd_(fd), tmp_(std::move(tmp)), dir_(std::move(dir)), path_(std::move(path)) {}
  void wrote(uint64_t n);
  int fd_;
  std::string tmp_, dir_, path_;  // the temp file, its directory, the file it replaces (for messages)
  uint64_t size_ = 0, flushed_ = 0;
  bool kernel_copy_ = true;
};

// replace_file_atomically() with the content made by `write`; returns the
// stamp of the new file as it is after the rename. `write`'s exceptions
// pass, leaving the old file and no temp file. `renamed`, if given, is
// called with that stamp right after the rename (before the directory's
// fsync); it must not throw.
FileStamp replace_file_copying(const std::string &path, const std::function<void(FileAppender &)> &write,
                               unsigned new_mode, const std::function<void(const FileStamp &)> &renamed);
inline FileStamp replace_file_copying(const std::string &path, const std::function<void(FileAppender &)> &write,
                                      unsigned new_mode) {
  return replace_file_copying(path, write, new_mode, {});
}

}  // namespace edgekey::sync
