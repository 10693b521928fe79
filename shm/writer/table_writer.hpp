// table_writer.hpp -- the single writer of a shared key table (edgekeyd's).
//
// Invariants the writer keeps (layout.hpp has the byte-level protocol):
// - One writer per table, enforced by flock(LOCK_EX) on the control segment;
//   a second writer gets a TableError naming the holder's pid.
// - A call that changes a key (put/revoke/remove) has made the change visible
//   to every reader when it returns (release store of the slot's sequence).
// - Slots never move and never become empty; growth, compaction and settings
//   changes build a new generation aside, publish it with one release store
//   of ControlHeader::generation, then unlink the old segment.
// - On destruction the segments stay: readers keep the last published table.
//
// - Huge pages (TableOptions::huge_pages): each new generation is built with
//   them when the option is not Off and the host allows it at that moment;
//   Require on a host that does not is a TableError at construction and in
//   set_options(), never later. In a hugetlbfs table.directory every
//   segment is in huge pages, whatever huge_pages says.
//
// Errors: TableError (exceptions) at start-up and when a load or rebuild
// cannot get a new generation; return values on the per-key path, where a
// put that needs a new generation and cannot have one (no room in the
// filesystem, the huge-page pool) is WriteError::NoRoom and changes nothing:
// the current generation keeps serving every key it held.
//
// Failpoint (crash tests only): EDGEKEY_FAILPOINT=slot_write:N[:W], read once
// at construction, makes the N-th slot write of this writer (counted from 1,
// load/rebuild copies included) store the odd sequence and W data words
// (default 7 of 15: the slot's first line) and then raise SIGKILL, leaving a
// half-written record. Unset: one predictable branch per slot write.
#pragma once

#include "shm/writer/table_options.hpp"
#include "shm/writer/table_record.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace edgekey::shm {

class Generation;
struct HugePageHost;
struct SegmentDir;

class TableWriter {
 public:
  // Creates the table, or re-attaches to the one a previous writer left under
  // the same name (its published generation stays in service, so readers see
  // no gap). After attach, settings_match() tells whether that generation was
  // built with the same options; if not, the caller load()s afresh.
  explicit TableWriter(TableOptions opts);
  ~TableWriter();
  TableWriter(const TableWriter &) = delete;
  TableWriter &operator=(const TableWriter &) = delete;

  // Inserts or replaces the record with this hash.
  WriteError put(const TableRecord &r);
  // Why the last put() answered NoRoom ("" once a new generation was had).
  const std::string &room_problem() const;
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

  bool attached() const;
  bool settings_match() const;
  uint64_t torn_slots() const;  // odd slots found at attach

  struct Stats {
    uint64_t generation, capacity, live, revoked, tombstones, arena_used, arena_size, segment_bytes;
    uint64_t huge_page_bytes;  // of segment_bytes, in 2 MiB pages when published or attached
  };
  Stats stats() const;
  // One line on what huge_pages obtained, for the daemon's log: the bytes in
  // 2 MiB pages, or why there are none and what to set on the host.
  std::string huge_page_report() const;
  const TableOptions &options() const;
  // The published generation (nullptr before the first). What a Generation,
  // the host's huge-page state and the segment directory hold is private to
  // shm: its own tests and benchmarks include the headers that define them.
  const Generation *current() const;
  const HugePageHost &huge_page_host_state() const;

  // What readers pass to ek_open: the name, or "<directory>/<name>".
  std::string address() const;
  const SegmentDir &segment_dir() const;

  // Whether the filesystem of `opts`' table has room now for its first
  // generation (table.capacity slots), and one line saying so: the table,
  // what it needs, the filesystem and its free space, and, when it does not
  // fit, what to do. Creates nothing (--check-config, start-up).
  struct Room {
    bool fits = true;
    std::string line;
  };
  static Room first_generation_room(const TableOptions &opts);
  // The file of `opts`' control segment ("/dev/shm/<name>" or
  // "<directory>/<name>"): whether a table is there to re-attach to.
  static std::string control_path(const TableOptions &opts);

  // Unlinks every segment of table `name` (in `directory`, "" = /dev/shm;
  // tests, uninstall). Readers that have it mapped keep their mapping.
  static void destroy(const std::string &name, const std::string &directory = "");

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgekey::shm
