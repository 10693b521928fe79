// table_view.hpp -- reading a mapped table: segment checks, the seqlock probe,
// and the arena record of a slot.
//
// Everything here takes the mapping as untrusted bytes: every offset read
// from the segment is bounds-checked, an unknown magic or layout version is
// an error code, never undefined behaviour.
#pragma once

#include "shm/src/layout.hpp"
#include "shm/writer/cidr.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace edgekey::shm {

// A data generation as validated at map time. Readers trust these fields
// (they were checked against the mapping's size) and nothing else.
struct DataView {
  const DataHeader *hdr = nullptr;
  const Slot *slots = nullptr;
  const std::atomic<uint64_t> *homes = nullptr;  // homes_words(capacity) words
  uint64_t capacity = 0;
  const uint8_t *arena = nullptr;
  uint64_t arena_size = 0;
};

// 0 or a negative ek_err (EK_ERR_BAD_MAGIC, EK_ERR_VERSION, EK_ERR_CORRUPT).
// EK_ERR_NO_TABLE when the magic is still zero (the writer is creating it).
int check_control(const void *base, size_t size);
int check_data(const void *base, size_t size, DataView &out);

enum class Lookup : uint8_t { Hit, Miss, Busy };

// Slots past the home slot that find_slot fetches along with it, before the
// probe reaches them.
inline constexpr uint64_t kPrefetchedNeighbours = 2;

// Finds the live or revoked record of `hash`. Hit: `out` is one whole record
// (a consistent seqlock copy); otherwise `out` is unspecified. Busy: the slot
// stayed mid-write for kSeqlockRetries attempts. Never writes to the table,
// never blocks, bounded work.
Lookup find_slot(const DataView &d, const uint8_t hash[32], SlotImage &out);

// The parts of a slot's arena record. All return false when the record does
// not fit the arena or is inconsistent (a corrupt segment).
// key_id and workspace: inline in the slot (checked against its 56 bytes) or
// in the arena record (slot_ids_arena).
bool slot_ids_arena(const DataView &d, const SlotImage &s, std::string_view &key_id,
                    std::string_view &workspace);
inline bool slot_ids(const DataView &d, const SlotImage &s, std::string_view &key_id,
                     std::string_view &workspace) {
  if (s.flags & kFlagIdsInArena) return slot_ids_arena(d, s, key_id, workspace);
  if (size_t(s.id_len) + s.ws_len > kInlineIdBytes) return false;
  key_id = std::string_view(s.ids, s.id_len);
  workspace = std::string_view(s.ids + s.id_len, s.ws_len);
  return true;
}
// 1 allowed, 0 not allowed, -1 corrupt.
int origin_allowed(const DataView &d, const SlotImage &s, std::string_view origin);
int ip_allowed(const DataView &d, const SlotImage &s, const IpAddr &ip);

}  // namespace edgekey::shm
