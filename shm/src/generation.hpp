// generation.hpp -- the writer's handle on one data segment (<table>.g<G>).
//
// Only the TableWriter that holds the table's lock uses this. It writes slots
// through the seqlock protocol of layout.hpp and appends to the arena; it
// never moves a slot and never empties one (removal leaves a tombstone), so a
// reader's probe sequence for a present key is stable: no false 401.
#pragma once

#include "shm/src/layout.hpp"
#include "shm/src/segment.hpp"
#include "shm/src/table_view.hpp"
#include "shm/writer/table_options.hpp"
#include "shm/writer/table_record.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace edgekey::shm {


class Generation {
 public:
  static constexpr uint64_t npos = ~uint64_t(0);

  // A new, unpublished generation holding no keys; its magic is stored by
  // seal() once it is filled. `huge` (always, in a hugetlbfs `dir`): the
  // segment is a whole number of huge pages (2 MiB, or hugetlbfs's size; the
  // arena takes the rounding),
  // madvised before its first byte is touched, and its header and slots are
  // allocated here (huge_pages.hpp).
  // The shape create() gives a generation of (at least) `capacity` slots
  // and `arena_size` arena bytes: what it will hold and the segment's size.
  struct Plan {
    uint64_t capacity = 0, arena_size = 0, arena_offset = 0, segment_size = 0;
  };
  static Plan plan(const SegmentDir &dir, uint64_t capacity, uint64_t arena_size, bool huge);

  static std::unique_ptr<Generation> create(const SegmentDir &dir, const std::string &table, uint64_t gen,
                                            uint64_t capacity, uint64_t arena_size,
                                            const SegmentAccess &access, const TableOptions &opts,
                                            bool huge = false);
  // The published generation a previous writer left. Throws TableError when
  // it is unusable. `huge`: the mapping is madvised (pages it faults later
  // may be huge; those already allocated stay as they are).
  static std::unique_ptr<Generation> attach(const SegmentDir &dir, const std::string &table, uint64_t gen,
                                            bool huge = false);
  static std::string segment_name(const std::string &table, uint64_t gen);

  // Where `hash` lives (found) or would be inserted (first tombstone on its
  // probe path, else the empty slot ending it). slot == npos: no room.
  struct Probe {
    uint64_t slot = npos;
    bool found = false;
  };
  Probe find(const uint8_t hash[32]) const;
  // Starts loading what find() and cover() will touch first for `hash` (its
  // home slot and homes word), for a bulk load to overlap the misses.
  void prefetch(const uint8_t hash[32]) const {
    const uint64_t home = home_slot(hash_word0(hash), capacity_);
    __builtin_prefetch(&slots_[home], 1);
    __builtin_prefetch(&homes_[homes_word_of(home)], 1);
  }

  // Sets `hash`'s homes bits and raises its home slot's reach to cover
  // `slot` (layout.hpp: Reach, Homes), before a record for `hash` is written
  // there.
  void cover(uint64_t slot, const uint8_t hash[32]);

  SlotImage read(uint64_t slot) const;
  // Seqlock write of words 1..15 of `img` into `slot` (seq is ignored).
  void write(uint64_t slot, const SlotImage &img) { store_words(slot, img, kSlotWords - 1, true); }
  // The first `data_words` words only, leaving the slot's sequence odd: a
  // writer killed mid-record (the crash tests' failpoint).
  void write_torn(uint64_t slot, const SlotImage &img, size_t data_words) { store_words(slot, img, data_words, false); }

  bool arena_fits(size_t bytes) const { return arena_used_ + round_up(bytes, 8) <= arena_size_; }
  // Appends immutable bytes; returns their offset. Caller checks arena_fits.
  uint32_t arena_append(const uint8_t *p, size_t n);
  const uint8_t *arena() const { return arena_; }

  // Stores the data magic (release): the generation may now be published.
  void seal();
  // Removes the segment's name; the mapping stays valid until destruction.
  void unlink();

  uint64_t generation() const { return gen_; }
  uint64_t capacity() const { return capacity_; }
  uint64_t arena_size() const { return arena_size_; }
  uint64_t arena_used() const { return arena_used_; }
  const DataHeader &header() const { return *hdr_; }
  // The generation as a reader sees it, over the writer's own mapping (tests
  // that let ThreadSanitizer watch readers and the writer on one address).
  DataView view() const { return DataView{hdr_, slots_, homes_, capacity_, arena_, arena_size_}; }
  size_t segment_bytes() const { return seg_.region.get_size(); }
  // Bytes of this segment the writer's mapping holds in 2 MiB pages (reads
  // /proc/self/smaps: not for a hot path).
  uint64_t huge_mapped() const;

  // Occupancy, kept by the TableWriter: live + revoked + tombstones slots.
  uint64_t live = 0, revoked = 0, tombstones = 0;
  uint64_t occupied() const { return live + revoked + tombstones; }
  // Recounts from the slots (after attach). Returns the number of slots
  // whose sequence is odd: records a killed writer left half-written.
  uint64_t recount();

 private:
  Generation() = default;
  void map_parts();
  void store_words(uint64_t slot, const SlotImage &img, size_t data_words, bool close);

  SegmentDir dir_;
  std::string table_;
  uint64_t gen_ = 0;
  RwSegment seg_;
  DataHeader *hdr_ = nullptr;
  Slot *slots_ = nullptr;
  std::atomic<uint64_t> *homes_ = nullptr;
  uint8_t *arena_ = nullptr;
  uint64_t capacity_ = 0, arena_size_ = 0, arena_used_ = 0;
};

}  // namespace edgekey::shm
