// keyset_file.hpp -- the YAML keyset file (`upstream.file`): a `keys:` list of
// key records, which edgekeyd reads and edgekeyctl rewrites.
//
// Reading never throws and never half-applies a record: each record either
// loads whole or is reported in `rejected`. Writing is atomic (readers see the
// old file or the new one, never a mix) and concurrent writers serialise on
// KeysetLock.
#pragma once

#include "sync/atomic_file.hpp"  // KeysetError
#include "sync/key_record.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edgekey::sync {

// A record of the file that was not loaded.
struct KeysetRejection {
  std::string key_id;  // the record's id text; empty when it had none
  int line = 0;        // 1-based: the offending field's line, else the record's first line
  std::string reason;  // `key key_2hT9: field "type": expected …, got "admin"`
  std::string message; // `<file>:<line>: <reason>`, ready to log
};

// The outcome of reading a keyset. ok() == false: the whole file was refused
// (unreadable, not YAML, no top-level `keys:` list) and `error` says why with
// the file name and line; records and rejected are then empty.
struct KeysetParse {
  std::string error;
  bool not_found = false;                 // load_keyset_file: ENOENT (error set too)
  std::vector<KeyRecord> records;         // valid records in file order; ids and hashes unique
  std::vector<int> record_lines;          // 1-based first line of records[i]
  std::vector<KeysetRejection> rejected;  // in file order
  bool ok() const { return error.empty(); }
};

// Parses keyset YAML. `source` names the text in messages (a path).
// A record is rejected when it breaks a rule of validate_record() or repeats
// the hash or id of an earlier record (the first one stays). `keys:` may be
// empty or null (no keys). Never throws except std::bad_alloc.
KeysetParse parse_keyset_yaml(std::string_view text, std::string_view source = "<keyset>");

// Reads and parses the file at `path`.
KeysetParse load_keyset_file(const std::string &path);

// The file's text: `keys:` then one block map per record in DESIGN.md's field
// order, lists in flow style. Absent optional fields are left out, except
// expires_at (null = never). Requires valid records (round trip exact).
// Throws KeysetError if yaml-cpp cannot emit (it should not).
std::string emit_keyset_yaml(const std::vector<KeyRecord> &records);

// Writes emit_keyset_yaml(records) over `path` with replace_file_atomically()
// (temp file in the same directory, fsync, rename, fsync of the directory;
// symlinks followed; the old mode kept, 0640 for a new file). Throws
// KeysetError on I/O failure, or naming the first record that fails
// validate_record(); on failure the old file is untouched, no temp file left.
void save_keyset_file(const std::string &path, const std::vector<KeyRecord> &records);

// Exclusive flock on `<keyset path>.lock` (created 0640 if missing, never
// deleted), held for the object's lifetime: hold it across load → modify →
// save so concurrent edgekeyctl processes do not lose each other's edits.
// The lock belongs to the open file description: a process that forks while
// holding one shares it with the child until either closes it.
class KeysetLock {
 public:
  // Blocks until the lock is held. Throws KeysetError.
  explicit KeysetLock(const std::string &keyset_path);
  // nullopt when another holder has it. Throws KeysetError on other failures.
  static std::optional<KeysetLock> try_acquire(const std::string &keyset_path);
  ~KeysetLock();
  KeysetLock(KeysetLock &&other) noexcept;
  KeysetLock &operator=(KeysetLock &&other) noexcept;
  KeysetLock(const KeysetLock &) = delete;
  KeysetLock &operator=(const KeysetLock &) = delete;

  const std::string &lock_path() const { return path_; }

 private:
  KeysetLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

}  // namespace edgekey::sync
