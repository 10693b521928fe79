// file_source.hpp -- the embedded upstream: a YAML keyset file on this host,
// watched with libuv.
//
// The directory is watched (edgekeyctl replaces the file by rename), events
// are debounced, and each change re-reads the whole file and applies only
// the difference. A file that does not parse changes nothing; a record that
// does not parse keeps its previous version, if it had one, and is logged
// with its key id and line. Runs on the daemon's loop thread.
//
// A re-read after an edit in one place (edgekeyctl's splice, most edits by
// hand) reads only that place: the file read last is kept open, and when
// the new file is another (replaced by rename) whose bytes differ from it
// only within a few items, only those items are decoded, before and after,
// and applied as a fresh parse would apply them. Where edgekeyctl noted
// which bytes it changed between exactly these two file versions
// (KeysetSpliceNote, keyset_index.hpp), the files are not compared: only
// the bytes next to the noted bounds are checked. Anything else (a first
// read, an edit in several places, a record rejected or refused, a
// duplicate, a form only the full parser reads) re-reads the whole file.
//
// Memory: no copy of the keyset is kept here. A whole re-read streams the
// file (mapped, not copied) record by record and compares each with what
// the Applier's store holds for its token hash; an item whose bytes it
// applied before (seen_: ~80 bytes a key, filled by the first load) is not
// even decoded. What a reload keeps besides is two ints per stored key
// (which lines claimed each key's hash and id, for the duplicate rules of
// parse_keyset_yaml) and the changed records. The kept file is one
// descriptor: its pages are the kernel's page cache, mapped only while a
// re-read compares them; a replaced file's blocks are freed when it is
// let go, on a thread of its own (so neither edgekeyctl's rename nor this
// loop pays for it).
//
// A keyset directory (`path` names a directory): every `*.yaml` file
// directly in it that is not a dotfile is a part, in the keyset file's
// format; the parts, read in name order, are the keyset. Each part is a
// FileSource of its own (part_of_ set: not watched, read by the directory's
// FileSource) whose keys are those the directory's owner_ map gives it.
// The first read loads every part as one snapshot; later, a change
// re-reads only the parts whose stamps changed, each as above. An id or a
// hash that repeats a key of another part is rejected with its file and
// line (the first part in name order keeps it at the first load; later,
// the part holding it); a repeated hash is kept aside as a claim, which
// takes the key over when its part drops it. Removals wait until every
// changed part was read (puts before deletes), so a key moved from one
// part to another stays in the table throughout. Memory besides a single
// file's: ~70 bytes a key (owner_) and one descriptor per part.
#pragma once

#include "sync/record/atomic_file.hpp"
#include "sync/record/key_record.hpp"
#include "sync/upstream/applier.hpp"
#include "sync/upstream/severity.hpp"

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace edgekey::sync {

class MappedFile;
struct KeysetParse;

struct TokenHashHash {
  size_t operator()(const TokenHash &h) const noexcept;
};

class FileSource {
 public:
  using LogFn = std::function<void(Severity, const std::string &)>;

  FileSource(uv_loop_t *loop, std::string path, Applier &applier, LogFn log);
  ~FileSource();
  FileSource(const FileSource &) = delete;
  FileSource &operator=(const FileSource &) = delete;

  // Loads the file as a snapshot and starts watching. False when the file
  // cannot be read or parsed at all (the caller may fall back to the on-disk
  // snapshot; watching starts anyway, so a fixed file is picked up).
  bool start();
  // Re-reads now (SIGHUP). True when the file was read (a directory: every
  // changed part was). Never throws: a read cut short (std::bad_alloc)
  // keeps the table's keys, is logged, and is tried again in a second as a
  // whole load (which replaces every key, so nothing half-applied stays).
  bool reload();
  // Stops watching; handles close on the loop's next turn.
  void close();

  // The last read succeeded: the upstream is "in contact".
  bool healthy() const { return healthy_; }
  // Called after each applied change (the daemon writes its snapshot).
  std::function<void()> on_change;

 private:
  static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status);
  static void on_timer(uv_timer_t *t);
  bool reload_file();
  // The first read: the whole file as one snapshot.
  bool load_all(const MappedFile &f, uint64_t revision);
  // Later reads: only what differs from the Applier's store.
  bool apply_changes(const MappedFile &f, uint64_t revision);
  // A later read of a file that differs from the kept one in one place
  // only. False when it does not apply (nothing was changed then).
  bool apply_splice(const MappedFile &f, uint64_t revision);
  // `f` becomes the kept file (`clean`: as the splice needs it).
  void keep(const MappedFile &f, bool clean, size_t first_item, size_t dash_column);
  void let_go_kept();
  // The fingerprints of a read's records (seen_), when the fast reader's
  // items of `text` are those records in order: `clean` (nothing rejected)
  // and `hashes` the records' hashes; false (seen_ empty) otherwise.
  bool pair_items(std::string_view text, const std::vector<TokenHash> &hashes, bool clean, size_t &first_item,
                  size_t &dash_column);

  // A keyset directory (file_source_dir.cpp).
  bool load_dir(uint64_t revision);
  bool reload_dir();
  // A part re-read after a change; false when it is not read (its keys stay).
  bool read_part(uint64_t revision);
  // This source holds the key (a single file holds every key).
  bool mine(const TokenHash &h) const;
  // The part holding a key of another part, for messages.
  std::string holder(const TokenHash &h) const;
  // Removes keys this source held: at once for a file; a part's wait for
  // the end of the directory's read (finish_dir).
  void drop(const std::vector<TokenHash> &hashes, uint64_t revision);
  // The key is this part's now (stored or refused).
  void own(const TokenHash &h);
  // Applies the removals of a directory read: a key another part claims is
  // handed to it instead.
  void finish_dir(uint64_t revision);

  uv_loop_t *loop_;
  std::string path_, dir_, base_;
  Applier &applier_;
  LogFn log_;
  uv_fs_event_t *watch_ = nullptr;  // heap: freed in their close callbacks
  uv_timer_t *debounce_ = nullptr;
  // Records of the file the Applier refused (an unknown role, no room), by
  // token hash: not offered again, and not logged again, until they change.
  std::map<TokenHash, KeyRecord> refused_;
  // The items applied by the last read, by a 64-bit hash of their bytes:
  // an item read again byte for byte is its stored record, not decoded
  // again. Each entry holds the record's token hash and the read that last
  // saw it (entries a read does not see are dropped).
  struct Seen {
    TokenHash hash;
    uint64_t read;
  };
  std::unordered_map<uint64_t, Seen> seen_;
  uint64_t read_ = 0;
  bool healthy_ = false, loaded_ = false;
  // The file of the last good read, open; clean: read by the fast reader
  // with nothing rejected, repeated or refused, its first item at
  // kept_first_, every '-' at column kept_dash_.
  int kept_fd_ = -1;
  FileStamp kept_stamp_;
  bool kept_clean_ = false;
  size_t kept_first_ = 0, kept_dash_ = 0;
  std::thread closer_;  // closes a replaced kept file

  // A directory: its parts in name order, which part holds each key (stored
  // or refused), and the removals a read defers until every part was read.
  bool is_dir_ = false;
  std::vector<std::unique_ptr<FileSource>> parts_;
  std::unordered_map<TokenHash, FileSource *, TokenHashHash> owner_;
  std::vector<std::pair<TokenHash, FileSource *>> dropped_;
  // A part: its directory, the stamp of the file it last tried to read,
  // and its records that repeat the hash of another part's key (by hash).
  FileSource *part_of_ = nullptr;
  FileStamp tried_;
  std::map<TokenHash, KeyRecord> claims_;
};

}  // namespace edgekey::sync
