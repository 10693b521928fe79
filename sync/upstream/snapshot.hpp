// snapshot.hpp -- the last-known-good keyset on disk, so a rebooted host can
// serve (per the staleness policy) while its upstream is unreachable.
//
// Format: JSON lines. The first line is the header
//   {"edgekey_snapshot":1,"revision":N,"written_at":"2026-11-23T05:00:00Z","region":"in-mum","source":"nats:in/KV_keys"}
// then one key record per line (encode_record_json). Written atomically
// (replace_file_atomically); it never holds a token, only hashes.
#pragma once

#include "sync/record/key_record.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace edgekey::sync {

struct Snapshot {
  uint64_t revision = 0;
  int64_t written_at = 0;  // unix s
  std::string region;
  std::string source;  // the upstream the revision counts in: "file:<path>", NatsSource::identity()
  std::vector<KeyRecord> records;
};

// Throws KeysetError naming the path on I/O failure.
void save_snapshot(const std::string &path, const Snapshot &s);

struct SnapshotLoad {
  std::string error;  // non-empty: nothing loaded (missing, unreadable, not a snapshot)
  Snapshot snapshot;
  size_t skipped = 0;  // record lines that did not decode (logged by the caller via `skipped_lines`)
  std::vector<std::string> skipped_lines;  // "path:line: reason"
  bool ok() const { return error.empty(); }
};
SnapshotLoad load_snapshot(const std::string &path);

}  // namespace edgekey::sync
