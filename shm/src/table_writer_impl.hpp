// table_writer_impl.hpp -- TableWriter's state and private operations
// (the interface and its invariants: shm/writer/table_writer.hpp). Only
// table_writer*.cpp and shm's own tests include this.
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

class TableWriter::Impl {
 public:
  // Creates the table, or re-attaches to the one a previous writer left under
  // the same name (its published generation stays in service, so readers see
  // no gap). After attach, settings_match() tells whether that generation was
  // built with the same options; if not, the caller load()s afresh.
  explicit Impl(TableOptions opts);
  ~Impl();
  Impl(const Impl &) = delete;
  Impl &operator=(const Impl &) = delete;

  // Inserts or replaces the record with this hash.
  WriteError put(const TableRecord &r);
  // Why the last put() answered NoRoom ("" once a new generation was had).
  const std::string &room_problem() const { return room_problem_; }
  // Whether the filesystem now has room for the generation the next growth
  // would build (true when unknown): worth trying the puts that had none.
  bool room_to_grow() const;
  // Marks the key revoked (it answers 401 revoked_key). False if absent.
  bool revoke(const std::array<uint8_t, 32> &hash);
  // Removes the key (a tombstone until the next rebuild). False if absent.
  bool remove(const std::array<uint8_t, 32> &hash);
  std::optional<TableRecord> get(const std::array<uint8_t, 32> &hash) const;

  // Replaces the whole content with `records` in a new generation (a full
  // snapshot): what the list lacks is gone once this returns. Records that
  // cannot be stored are skipped and reported through `rejected` (indexes).
  void load(const std::vector<TableRecord> &records, std::vector<size_t> *rejected = nullptr);
  // Compacts (drops tombstones and dead arena bytes) into a new generation
  // of at least `capacity` slots (0 = sized for the current keys).
  void rebuild(uint64_t capacity = 0);
  // New settings (prefix, permissions, roles, pepper...) take effect with the
  // next load() or rebuild(); staleness settings at once.
  void set_options(const TableOptions &opts);

  // Freshness, read by readers' staleness policy and by tools.
  void touch_contact(int64_t unix_s);
  void heartbeat(int64_t unix_s);
  void set_revision(uint64_t rev);
  uint64_t revision() const;
  int64_t last_contact() const;

  bool attached() const { return attached_; }
  bool settings_match() const { return settings_match_; }
  uint64_t torn_slots() const { return torn_; }  // odd slots found at attach

  TableWriter::Stats stats() const;
  // One line on what huge_pages obtained, for the daemon's log: the bytes in
  // 2 MiB pages, or why there are none and what to set on the host.
  std::string huge_page_report() const;
  const HugePageHost &huge_page_host_state() const { return host_; }
  const TableOptions &options() const { return opts_; }
  const Generation *current() const { return cur_.get(); }

  // What readers pass to ek_open: the name, or "<directory>/<name>".
  std::string address() const { return dir_.address(opts_.name); }
  const SegmentDir &segment_dir() const { return dir_; }

 private:
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
