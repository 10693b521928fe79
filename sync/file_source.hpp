// file_source.hpp -- the embedded upstream: a YAML keyset file on this host,
// watched with libuv.
//
// The directory is watched (edgekeyctl replaces the file by rename), events
// are debounced, and each change re-reads the whole file and applies only
// the difference. A file that does not parse changes nothing; a record that
// does not parse keeps its previous version, if it had one, and is logged
// with its key id and line. Runs on the daemon's loop thread.
//
// Memory: no copy of the keyset is kept here. A re-read streams the file
// (mapped, not copied) record by record and compares each with what the
// Applier's store holds for its token hash; an item whose bytes it applied
// before (seen_: ~80 bytes a key) is not even decoded. What a reload keeps
// besides is two ints per stored key (which lines claimed each key's hash
// and id, for the duplicate rules of parse_keyset_yaml) and the changed
// records.
#pragma once

#include "sync/applier.hpp"
#include "sync/key_record.hpp"

#include <uv.h>

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace edgekey::sync {

class FileSource {
 public:
  enum class Level { Info, Warn, Error };
  using LogFn = std::function<void(Level, const std::string &)>;

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
  bool load_all(std::string_view text, uint64_t revision);
  // Later reads: only what differs from the Applier's store.
  bool apply_changes(std::string_view text, uint64_t revision);

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
};

}  // namespace edgekey::sync
