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
#pragma once

#include "sync/record/atomic_file.hpp"
#include "sync/record/key_record.hpp"
#include "sync/upstream/applier.hpp"
#include "sync/upstream/severity.hpp"

#include <uv.h>

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace edgekey::sync {

class MappedFile;

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
  // Re-reads now (SIGHUP). True when the file was read.
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
};

}  // namespace edgekey::sync
