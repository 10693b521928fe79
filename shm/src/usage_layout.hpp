// usage_layout.hpp -- the bytes of a usage segment: what one validator
// writes about its answers, and edgekeyd's collector reads (DESIGN.md
// "Usage and limits").
//
// The key table stays read-only for readers. Each validator (one per thread)
// that can counts into a segment of its own: a file in the table's usage
// directory, /dev/shm/<table name>.usage/<pid>.<n>, which edgekeyd creates
// (owner edgekeyd, group table.readers_group, mode 1770: sticky, so a reader
// can remove only its own files while edgekeyd can remove any; no setgid
// bit, which edgekeyd's sandbox forbids). A reader creates its segment with
// mode 0640 and gives it the directory's group, so edgekeyd can read it.
//
// Who writes: only the validator that created the segment (one thread at a
// time), with relaxed loads and release stores to memory no other thread
// writes: no lock, no read-modify-write, no shared written cache line.
// Counts only grow (the collector folds deltas against its watermarks).
// The collector (edgekeyd) maps it read-only and trusts nothing in it: it
// checks magic, version and sizes, and bounds every index.
//
// Per key, an open-addressing table keyed by the first 8 bytes of the key's
// hash (the tag; 0 is written as 1): the tag, then one word holding the
// time of the last use (unix s, high 32 bits) and the number of uses
// (modulo 2^32, low 32 bits). A table filling up makes the validator retire
// the segment and move to a larger one, made ahead by its process's spare
// maker thread (usage_writer.cpp), never in the validate call.
#pragma once

#include "shm/src/layout.hpp"
#include "shm/writer/usage_format.hpp"

#include <edgekey/edgekey.h>

#include <atomic>
#include <cstdint>
#include <string>

namespace edgekey::shm {

inline constexpr uint64_t kUsageMagic = 0x4547415355594b45ULL;  // "EKYUSAGE"
inline constexpr uint32_t kUsageVersion = 1;
// Entries of a validator's first segment; each rollover doubles them up to
// the maximum (a validator that sees few keys keeps a 16 KiB segment, one
// that sees many grows to 1 MiB). The next segment is asked for at half the
// fill limit and made only once the collector removed the validator's last
// retired one (about a second), so a validator counts per key about 49k
// distinct keys a second; uses of keys beyond that, or while the next
// segment is not ready, are counted as unattributed (their codes always are).
inline constexpr uint32_t kUsageFirstEntries = 1024;
inline constexpr uint32_t kUsageMaxEntries = 65536;
inline constexpr uint32_t usage_fill_limit(uint32_t entries) { return entries / 4 * 3; }
inline constexpr int kUsageMaxProbe = 32;

// Written once by the creator before `magic` (release), except `retired`.
struct alignas(kCacheLine) UsageHeader {
  std::atomic<uint64_t> magic;
  uint32_t version;
  uint32_t entries;            // slots of the key table below, a power of two
  int64_t pid;                 // the writing process
  uint64_t instance;           // random: tells a segment from a later one of the same name
  int64_t created_at;          // unix s
  std::atomic<uint64_t> retired;  // 1 once the writer will never write again (ek_close, rollover)
  uint8_t pad_[16];
};
static_assert(sizeof(UsageHeader) == kCacheLine);

struct alignas(kCacheLine) UsageCounters {
  std::atomic<uint64_t> n[kUsageCounters];  // answers by ek_code; [kUsageUnattributed]
};
static_assert(sizeof(UsageCounters) == 2 * kCacheLine);

struct UsageEntry {
  std::atomic<uint64_t> tag;   // 0 = empty; never changes once set
  std::atomic<uint64_t> word;  // last use (unix s) << 32 | uses mod 2^32; stored with release
};
static_assert(sizeof(UsageEntry) == 16);

inline constexpr uint64_t usage_counters_offset() { return sizeof(UsageHeader); }
inline constexpr uint64_t usage_entries_offset() { return sizeof(UsageHeader) + sizeof(UsageCounters); }
inline constexpr uint64_t usage_segment_size(uint32_t entries) {
  return usage_entries_offset() + uint64_t(entries) * sizeof(UsageEntry);
}

}  // namespace edgekey::shm
