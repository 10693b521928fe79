// table_writer_impl.hpp -- TableWriter's state and private operations (the
// interface and its invariants: shm/writer/table_writer.hpp). Only
// table_writer.cpp includes this.
#pragma once

#include "shm/src/generation.hpp"
#include "shm/src/huge_pages.hpp"
#include "shm/writer/table_writer.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace edgekey::shm {

// The writer's state and the steps its operations share. TableWriter's
// methods (table_writer.cpp) work on it; nothing else does.
class TableWriter::Impl {
 public:
  explicit Impl(TableOptions opts);
  ~Impl();
  Impl(const Impl &) = delete;
  Impl &operator=(const Impl &) = delete;

  void open_control();
  void attach_current();
  void publish(std::unique_ptr<Generation> next);
  std::unique_ptr<Generation> new_generation(uint64_t capacity, uint64_t arena_size);
  WriteError encode(const TableRecord &r, SlotImage &img, std::vector<uint8_t> &arena) const;
  // Writes into `g`, which must have room (capacity and arena).
  void store(Generation &g, const SlotImage &img,
             const std::vector<uint8_t> &arena, Generation::Probe at);
  bool ensure_room(size_t arena_bytes, bool new_slot);
  Generation::Plan growth_plan(size_t arena_needed) const;
  // new_generation(), or nullptr with room_problem_ set when it cannot be had.
  std::unique_ptr<Generation> try_new_generation(uint64_t capacity, uint64_t arena_size);
  void copy_live(const Generation &from, Generation &to);
  void sync_counts();
  // Probes the host; throws TableError when `o` requires what it lacks.
  void check_huge_pages(const TableOptions &o);
  bool use_huge() const {
    return dir_.kind == DirKind::Hugetlbfs || (opts_.huge_pages != HugePages::Off && host_.allows);
  }
  void measure_huge() { huge_bytes_ = cur_ && use_huge() ? cur_->huge_mapped() : 0; }
  // Every slot write goes through here (the failpoint's only cost).
  void write_slot(Generation &g, uint64_t slot, const SlotImage &img) {
    if (failpoint_ != 0 && ++slot_writes_ == failpoint_) [[unlikely]] die_mid_write(g, slot, img);
    g.write(slot, img);
  }
  [[noreturn]] void die_mid_write(Generation &g, uint64_t slot, const SlotImage &img);

  TableOptions opts_;
  SegmentDir dir_;  // of opts_.directory, fixed at construction
  SegmentAccess access_;
  RwSegment control_seg_;
  ControlHeader *ctl_ = nullptr;
  std::unique_ptr<Generation> cur_;
  bool attached_ = false, settings_match_ = true;
  uint64_t torn_ = 0;
  HugePageHost host_;        // as of the last check_huge_pages()
  uint64_t huge_bytes_ = 0;  // measure_huge() of the current generation
  uint64_t failpoint_ = 0, slot_writes_ = 0;  // EDGEKEY_FAILPOINT slot_write:N, 0 = off
  unsigned failpoint_words_ = kSlotWords / 2 - 1;
  std::vector<uint8_t> scratch_;
  std::string room_problem_;
};

}  // namespace edgekey::shm
