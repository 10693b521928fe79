// key_store.hpp -- the Applier's records: one slot per key, found by key id
// and by token hash through two open-addressing indexes.
//
// Invariants: every live slot holds a record whose id is unique among live
// slots and whose token hash (hash(slot), the parsed record hash) is unique
// among live slots; each index maps exactly the live slots; a free slot has
// an empty id (no valid record has one) and waits in the free list.
// Layout: records and hashes are two flat vectors indexed by slot; an index
// bucket is 8 bytes (slot, 32 bits of the key's hash), linear probing with
// backward-shift deletion (no tombstones), at most 1/2 full. A build of n
// records costs two flat allocations and n probes per index, no allocation
// per record.
// Not thread-safe; a store may be built on one thread and moved to another.
#pragma once

#include "sync/record/key_record.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace edgekey::sync {

using TokenHash = std::array<uint8_t, 32>;

class KeyStore {
 public:
  static constexpr uint32_t npos = UINT32_MAX;

  // A store of `records`, hashes[i] being the parsed hash of records[i]:
  // slot i holds records[i]. A record whose id or token hash repeats a later
  // record's is dropped (the later one wins, as if applied in order); the
  // slots of dropped records are free. Returns them in `dropped` if given.
  static KeyStore build(std::vector<KeyRecord> records, std::vector<TokenHash> hashes,
                        std::vector<uint32_t> *dropped = nullptr);

  // Room for n records without growing the indexes.
  void reserve(size_t n);

  size_t size() const { return live_; }
  bool empty() const { return live_ == 0; }
  size_t slots() const { return records_.size(); }  // live + free; a slot number is below this
  bool live(uint32_t slot) const { return slot < records_.size() && !records_[slot].id.empty(); }

  uint32_t find_id(std::string_view id) const;
  uint32_t find_hash(const TokenHash &h) const;
  // The live slot whose token hash begins with these 8 bytes (copied from
  // it as they are, like shm::usage_tag): an index probe, no map kept
  // beside. npos if none; either one when two keys share them.
  uint32_t find_hash_head(uint64_t head) const;
  const KeyRecord &record(uint32_t slot) const { return records_[slot]; }
  const TokenHash &hash(uint32_t slot) const { return hashes_[slot]; }

  // Stores a record whose id and hash are both absent (precondition); returns its slot.
  uint32_t insert(KeyRecord r, const TokenHash &h);
  // The upsert rule, for every writer of a store: `r` (token hash `h`)
  // replaces the record with its id and any other record with its token
  // hash. Returns its slot; `replaced_hash` (if given) gets the hash the
  // same id had when it differed from `h` (a key the table still holds),
  // else stays as it was.
  uint32_t upsert(KeyRecord r, const TokenHash &h, std::optional<TokenHash> *replaced_hash = nullptr);
  // Frees a live slot.
  void erase(uint32_t slot);
  void clear();
  // Empties the store, handing back its vectors in slot order (a free slot
  // holds an empty record).
  void release(std::vector<KeyRecord> &records, std::vector<TokenHash> &hashes);

  // Calls f(slot) for every live slot, in slot order.
  template <class F>
  void for_each(F &&f) const {
    for (uint32_t i = 0; i < records_.size(); ++i)
      if (!records_[i].id.empty()) f(i);
  }

 private:
  struct Bucket {
    uint32_t slot = npos;  // npos = empty bucket
    uint32_t tag = 0;      // 32 bits of the key's hash: the home bucket is tag & mask
  };
  // One index: which slots hold which keys. The key itself lives in the
  // store (records_ or hashes_); Eq compares it for a slot.
  struct Index {
    std::vector<Bucket> buckets;  // size 0 or a power of two
    size_t count = 0;
    size_t mask() const { return buckets.size() - 1; }
  };

  static uint32_t id_tag(std::string_view id);
  static uint32_t hash_tag(const TokenHash &h);
  template <class Eq>
  static uint32_t find(const Index &ix, uint32_t tag, Eq eq);
  static void put(Index &ix, uint32_t tag, uint32_t slot);  // the key must be absent
  template <class Eq>
  static void remove(Index &ix, uint32_t tag, Eq eq);
  void grow_if_needed(size_t more);
  // Erases the records an upsert of (id, h) replaces (upsert()'s rule).
  void displace(std::string_view id, const TokenHash &h, std::optional<TokenHash> *replaced_hash,
                std::vector<uint32_t> *dropped);
  void rehash(size_t buckets);

  std::vector<KeyRecord> records_;
  std::vector<TokenHash> hashes_;
  std::vector<uint32_t> free_;
  size_t live_ = 0;
  Index by_id_, by_hash_;
};

}  // namespace edgekey::sync
