// keyset_file.hpp -- the YAML keyset file (`upstream.file`): a `keys:` list of
// key records, which edgekeyd reads and edgekeyctl rewrites.
//
// Reading never throws and never half-applies a record: each record either
// loads whole or is reported in `rejected`. Writing is atomic (readers see the
// old file or the new one, never a mix) and concurrent writers serialise on
// KeysetLock.
#pragma once

#include "sync/record/atomic_file.hpp"  // KeysetError
#include "sync/record/key_record.hpp"
#include "sync/record/keyset_scan.hpp"

#include <functional>
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
  ValidRecords records;                   // valid records in file order; ids and hashes unique
  std::vector<int> record_lines;          // 1-based first line of records[i]
  std::vector<KeysetRejection> rejected;  // in file order
  bool ok() const { return error.empty(); }
};

// Parses keyset YAML. `source` names the text in messages (a path).
// A record is rejected when it breaks a rule of validate_record() or repeats
// the hash or id of an earlier record (the first one stays). `keys:` may be
// empty or null (no keys). Never throws except std::bad_alloc.
KeysetParse parse_keyset_yaml(std::string_view text, std::string_view source = "<keyset>");

// The same with the items read in `ranges` parts split at item lines, each
// on its own thread; parse_keyset_yaml takes one part per core (up to 4)
// for a text of several MB. The outcome does not depend on `ranges`.
KeysetParse parse_keyset_yaml_ranges(std::string_view text, std::string_view source, size_t ranges);

// The same with the full YAML parser only (yaml-cpp: every YAML form, a
// document tree per call). parse_keyset_yaml uses it for what the fast
// reader (keyset_scan.hpp) leaves; the two agree on everything both read.
KeysetParse parse_keyset_yaml_full(std::string_view text, std::string_view source = "<keyset>");

// Reads and parses the file at `path` (mapped, not copied).
KeysetParse load_keyset_file(const std::string &path);

// Receives the records of a keyset text one at a time (stream_keyset).
struct KeysetVisitor {
  // Everything delivered so far is void: delivery starts again from the
  // first record (the fast reader met a form only the full parser reads).
  std::function<void()> restart;
  // A valid record and its first line; `item` locates it in the text
  // (nullptr when the full parser read the file).
  std::function<void(KeyRecord &&, int line, const ScanItem *item)> record;
  // A record that does not parse.
  std::function<void(KeysetRejection &&)> reject;
  // Optional: asked before the fast reader decodes an item; true = the
  // caller knows it already (not decoded, nothing delivered for it).
  std::function<bool(const ScanItem &)> skip;
};

// Delivers the records of `text` in file order without holding them: a
// record repeating an earlier one's id or hash is delivered like any other
// (the caller decides; parse_keyset_yaml keeps the first). Returns "" or
// the file-level error (KeysetParse::error), in which case nothing was
// delivered since the last restart.
std::string stream_keyset(std::string_view text, std::string_view source, const KeysetVisitor &v);

// One item of `text` as the fast reader reads it: true, with the record in
// `out`, when it is a valid record; false when it is not (a rejection, or
// a form outside the fast reader's subset). `fields` is scratch space.
bool read_valid_item(std::string_view text, const ScanItem &item, std::vector<RawField> &fields, KeyRecord &out);

// A file mapped read-only (MAP_PRIVATE): its bytes stay as they were while
// the object lives, even if the file is replaced by a rename meanwhile.
class MappedFile {
 public:
  // error() names the path when it cannot be read; not_found() for ENOENT.
  explicit MappedFile(const std::string &path);
  ~MappedFile();
  MappedFile(const MappedFile &) = delete;
  MappedFile &operator=(const MappedFile &) = delete;

  std::string_view text() const { return map_ ? std::string_view(static_cast<const char *>(map_), size_) : copy_; }
  const std::string &error() const { return error_; }
  bool not_found() const { return not_found_; }
  // The file, open while the object lives (-1 after an error), and its
  // stamp when opened; a file read rather than mapped (a pipe) has fd -1.
  int fd() const { return fd_; }
  const FileStamp &stamp() const { return stamp_; }

 private:
  void *map_ = nullptr;
  size_t size_ = 0;
  int fd_ = -1;
  FileStamp stamp_;
  std::string copy_;  // what is not a regular file (a pipe) is read instead
  std::string error_;
  bool not_found_ = false;
};

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
