// arena_record.hpp -- the arena record of a slot (layout.hpp): its one
// encoder (the writer) and its one decoder (readers, and the writer reading
// a record back), which checks every length against the record's bounds.
//
// A record is immutable once its slot is published, so a reader may decode
// it after the slot's seqlock copy without further checks of the sequence;
// what it cannot trust is its content (a corrupt or hostile segment), hence
// the bounds checks, which answer "corrupt" instead of reading past it.
#pragma once

#include "shm/src/layout.hpp"
#include "shm/writer/cidr.hpp"
#include "shm/writer/table_record.hpp"

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace edgekey::shm {

// Whether `r`'s key id and workspace go to the arena (they do not fit the
// slot's inline bytes together).
inline bool ids_in_arena(const TableRecord &r) { return r.key_id.size() + r.workspace.size() > kInlineIdBytes; }

// The exact size of `r`'s arena record; 0 when it needs none.
size_t arena_record_bytes(const TableRecord &r);

// Appends `r`'s arena record to `out` (nothing when it needs none). The
// caller has checked the limits (kMaxIdLen, kMaxAllowEntries, kMaxOriginLen).
void encode_arena_record(const TableRecord &r, std::vector<uint8_t> &out);

// A bounds-checked view of one record, read front to back: ids(), then
// origins(), then cidrs(), each at most once (a later part skips what is
// before it). Every call returns false (or -1) when the record does not fit
// the arena or is inconsistent.
class ArenaRecord {
 public:
  // The record of slot `s` in an arena of `arena_size` bytes.
  bool open(const uint8_t *arena, uint64_t arena_size, const SlotImage &s) {
    if (s.arena_len < sizeof(ArenaRecordHead) || s.arena_off > arena_size || s.arena_len > arena_size - s.arena_off)
      return false;
    p_ = arena + s.arena_off;
    left_ = s.arena_len;
    ids_in_arena_ = s.flags & kFlagIdsInArena;
    std::memcpy(&head_, take(sizeof head_), sizeof head_);  // fits: arena_len >= sizeof head_
    return true;
  }
  // The ids held here (only when the slot's kFlagIdsInArena is set).
  bool ids(std::string_view &key_id, std::string_view &workspace) {
    if (!ids_in_arena_ || head_.id_len > kMaxIdLen || head_.ws_len > kMaxIdLen) return false;
    const uint8_t *at = take(size_t(head_.id_len) + head_.ws_len);
    if (!at) return false;
    ids_skipped_ = true;
    key_id = std::string_view(reinterpret_cast<const char *>(at), head_.id_len);
    workspace = std::string_view(reinterpret_cast<const char *>(at) + head_.id_len, head_.ws_len);
    return true;
  }
  // Calls f(std::string_view origin) for each origin until f returns true:
  // 1 when it did, 0 when none did, -1 corrupt. Skips the ids first.
  template <class F>
  int origins(F &&f) {
    if (!skip_ids()) return -1;
    while (origins_done_ < head_.n_origins) {
      const uint8_t *at = take(2);
      if (!at) return -1;
      uint16_t len;
      std::memcpy(&len, at, 2);
      if (!(at = take(len))) return -1;
      ++origins_done_;
      if (f(std::string_view(reinterpret_cast<const char *>(at), len))) return 1;
    }
    return 0;
  }
  // The same for each CIDR (after the origins).
  template <class F>
  int cidrs(F &&f) {
    if (origins([](std::string_view) { return false; }) < 0) return -1;
    for (unsigned i = 0; i < head_.n_cidrs; ++i) {
      const uint8_t *at = take(kCidrBytes);
      if (!at) return -1;
      Cidr c;
      c.family = at[0];
      c.prefix_len = at[1];
      std::memcpy(c.addr, at + 2, 16);
      if (f(c)) return 1;
    }
    return 0;
  }

 private:
  const uint8_t *take(size_t n) {
    if (n > left_) return nullptr;
    const uint8_t *at = p_;
    p_ += n;
    left_ -= n;
    return at;
  }
  bool skip_ids() {
    if (!ids_in_arena_ || ids_skipped_) return true;
    ids_skipped_ = true;
    return take(size_t(head_.id_len) + head_.ws_len) != nullptr;
  }

  const uint8_t *p_ = nullptr;
  size_t left_ = 0;
  ArenaRecordHead head_{};
  bool ids_in_arena_ = false, ids_skipped_ = false;
  unsigned origins_done_ = 0;
};

}  // namespace edgekey::shm
