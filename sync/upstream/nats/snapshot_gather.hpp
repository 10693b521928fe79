// snapshot_gather.hpp -- a cold snapshot gathered on libnats's delivery
// thread, resolved and indexed as it streams in, so that at its end the loop
// thread only builds the table generation (Applier::load_prepared).
//
// Records arrive in stream order and apply like upserts: a put replaces the
// key's earlier entry (and any other key with its token hash), a removal
// drops the key; a put that does not resolve drops the key too (the last
// entry wins, as a snapshot is applied) and is kept aside, should the
// policy change before the load.
// Invariant: table_[slot] is the resolution of store_.record(slot) for
// every live slot.
// One thread at a time (libnats calls a subscription's callbacks in turn).
#pragma once

#include "sync/record/key_record.hpp"
#include "sync/upstream/prepared_load.hpp"

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace edgekey::sync {

class SnapshotGather {
 public:
  // `expected`: the stream's message count (room is reserved for it).
  SnapshotGather(std::shared_ptr<const Resolver> resolver, size_t expected);

  void put(ValidRecord r);
  void remove(std::string_view id);

  // The snapshot, ready for the loop. Leaves the gather empty.
  PreparedLoad finish();

 private:
  struct Unresolved {
    ValidRecord record;
    std::string error;
  };
  std::shared_ptr<const Resolver> resolver_;
  KeyStore store_;
  std::vector<shm::TableRecord> table_;
  std::unordered_map<std::string, Unresolved> unresolved_;  // by id; rare
};

}  // namespace edgekey::sync
