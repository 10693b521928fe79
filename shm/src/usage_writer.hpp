// usage_writer.hpp -- a validator's side of usage counting: its own usage
// segment (usage_layout.hpp), written on every answer.
//
// Owned by the validator's thread. count() is the hot path: no lock, no
// system call, no allocation, stores only to this validator's own segment.
// That holds across a rollover too: the next segment (a spare) is created
// ahead, off the validate path, by the process's spare maker (one thread per
// process, usage_writer.cpp), which also unmaps retired segments. A
// validator that cannot create its first segment (no usage directory: an
// older edgekeyd; no permission; a full /dev/shm) stays inactive and
// validates without counting; one whose spare is not ready when its segment
// fills counts its keys' uses as unattributed (never an answer's code) until
// it is.
#pragma once

#include "shm/src/usage_layout.hpp"

#include <atomic>
#include <cstdint>
#include <string>

namespace edgekey::shm {

// One segment as its writer maps it.
struct UsageMapping {
  void *base = nullptr;
  uint32_t entries = 0;
  std::string name;  // in the usage directory
};

// What a writer and the spare maker share. Protocol (usage_writer.cpp):
// the writer asks for a spare (`want`); the maker creates it and publishes
// it in `ready` (only while `ready` is null, and only once the writer's last
// retired segment is gone from the directory: at most two files per
// writer); the writer takes it when its segment fills: want = 0, retired =
// the old segment, then ready = null (release). The maker reads ready
// (acquire) first, so a null it reads shows the handed-over segment.
struct alignas(kCacheLine) UsageSlot {
  std::atomic<uint32_t> want{0};                 // writer: entries of the spare asked for, 0 = none
  std::atomic<UsageMapping *> ready{nullptr};    // maker sets (when null), writer takes
  std::atomic<UsageMapping *> retired{nullptr};  // writer hands over, maker unmaps and clears
};

// Rounds the process's spare maker has made (tests wait for it to have
// looked at their writers).
uint64_t usage_spare_maker_rounds();

class UsageWriter {
 public:
  UsageWriter() = default;
  UsageWriter(const UsageWriter &) = delete;
  UsageWriter &operator=(const UsageWriter &) = delete;
  ~UsageWriter() { close(); }

  // Starts counting for the table opened as `table`, whose control segment
  // is `control_path` (the usage directory must belong to its owner) and
  // whose heartbeat is the clock. False (and inactive) when it cannot.
  bool open(const std::string &table, const std::string &control_path, const std::atomic<int64_t> *clock);
  // Retires the segment (the collector folds it and removes it).
  void close();
  bool active() const { return counters_ != nullptr; }

  // One answer; `tag` is usage_tag() of the found key's hash, 0 when no key
  // was found.
  // Starts fetching the entry line a key's count_key() will start at, so it
  // arrives while the lookup waits for the key's slot.
  void prefetch(uint64_t tag) const {
    if (entries_) __builtin_prefetch(&entries_[uint32_t(tag) & mask_], 1, 3);
  }
  void count(int code, uint64_t tag) {
    bump(counters_->n[code]);
    if (tag) count_key(tag);
  }

 private:
  static void bump(std::atomic<uint64_t> &c) {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  void count_key(uint64_t tag) {
    uint64_t now = uint64_t(clock_->load(std::memory_order_relaxed));
    if (__builtin_expect(now == 0, 0)) now = clock_seconds();  // edgekeyd has not ticked yet
    uint32_t i = uint32_t(tag) & mask_;
    // A full table takes no new key: look only in the line prefetch() fetched
    // (4 entries), so a stream of keys it cannot hold costs no further lines.
    const int probes = used_ >= limit_ ? int(4 - (i & 3)) : kUsageMaxProbe;
    for (int probe = 0; probe < probes; ++probe, i = (i + 1) & mask_) {
      UsageEntry &e = entries_[i];
      const uint64_t t = e.tag.load(std::memory_order_relaxed);
      if (t == 0) {
        if (used_ >= limit_) break;
        e.tag.store(tag, std::memory_order_relaxed);
        if (__builtin_expect(++used_ == ask_at_, 0)) ask_spare();
      } else if (t != tag) {
        continue;
      }
      const uint64_t w = e.word.load(std::memory_order_relaxed);
      e.word.store(usage_word(int64_t(now), uint32_t(w + 1)), std::memory_order_release);
      return;
    }
    full(tag);
  }
  static uint64_t clock_seconds();
  void ask_spare();         // half full: the maker makes the next segment meanwhile
  void full(uint64_t tag);  // cold: move to the spare if ready, else count unattributed
  void adopt(UsageMapping *m);

  std::string dir_;
  long dir_gid_ = -1;  // the usage directory's group, given to each segment
  const std::atomic<int64_t> *clock_ = nullptr;
  UsageSlot *slot_ = nullptr;  // null: no spare maker (the writer never rolls over)
  uint64_t slot_id_ = 0;       // the slot's enrolment with the maker
  UsageMapping *seg_ = nullptr;
  UsageHeader *hdr_ = nullptr;
  UsageCounters *counters_ = nullptr;
  UsageEntry *entries_ = nullptr;
  uint32_t mask_ = 0, limit_ = 0;  // entries - 1, usage_fill_limit(entries)
  uint32_t used_ = 0;              // tags set in entries_
  uint32_t ask_at_ = 0;            // used_ at which the spare is asked for; 0 = never
};

}  // namespace edgekey::shm
