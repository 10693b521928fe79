// keyset_diff.hpp -- what changed between two full listings of a keyset (the
// file source re-reads the whole file on every change), so the daemon writes
// only the keys that changed.
#pragma once

#include "sync/record/key_record.hpp"

#include <array>
#include <cstdint>
#include <vector>

namespace edgekey::sync {

// Applying `removals` (TableWriter::remove) and `upserts` (resolve + put) to
// a table holding `prev` yields a table holding `next`.
struct KeysetDiff {
  std::vector<KeyRecord> upserts;                 // new or changed records, in `next` order
  std::vector<std::array<uint8_t, 32>> removals;  // hashes of `prev` absent from `next`, in `prev` order
  bool empty() const { return upserts.empty() && removals.empty(); }
};

// Equal in every field but origin_written_at (a latency stamp, not content).
bool same_content(const KeyRecord &a, const KeyRecord &b);

// Records are matched by hash (the table's key), so an edited hash is a
// removal plus an upsert. A record in both lists with the same content is
// in neither output. Expects valid records with unique hashes within each
// list (as parse_keyset_yaml gives); a record whose hash does not parse is
// ignored. O((n + m) log n).
KeysetDiff diff_keysets(const std::vector<KeyRecord> &prev, const std::vector<KeyRecord> &next);

}  // namespace edgekey::sync
