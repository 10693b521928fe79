// usage_writer.hpp -- a validator's side of usage counting: its own usage
// segment (usage_layout.hpp), written on every answer.
//
// Owned by the validator's thread. count() is the hot path: no lock, no
// system call, no allocation, stores only to this validator's own segment.
// A validator that cannot create a segment (no usage directory: an older
// edgekeyd; no permission; a full /dev/shm) stays inactive and validates
// without counting.
#pragma once

#include "shm/src/usage_layout.hpp"

#include <atomic>
#include <cstdint>
#include <string>

namespace edgekey::shm {

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
        ++used_;
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
  void full(uint64_t tag);  // cold: count unattributed, maybe move to a new segment
  bool create(uint32_t entries);  // a new segment in dir_; false when it cannot

  std::string dir_, name_, retired_name_;
  long dir_gid_ = -1;  // the usage directory's group, given to each segment
  const std::atomic<int64_t> *clock_ = nullptr;
  void *base_ = nullptr;
  UsageHeader *hdr_ = nullptr;
  UsageCounters *counters_ = nullptr;
  UsageEntry *entries_ = nullptr;
  uint32_t mask_ = 0, limit_ = 0;  // entries - 1, usage_fill_limit(entries)
  uint32_t used_ = 0;              // tags set in entries_
  uint32_t since_retry_ = 0;   // unattributed uses since the last rollover attempt
};

}  // namespace edgekey::shm
