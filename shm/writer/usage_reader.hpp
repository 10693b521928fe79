// usage_reader.hpp -- edgekeyd's side of usage segments (usage_format.hpp):
// the usage directory, and a read-only view of one reader's segment.
//
// A segment is untrusted bytes written by another process, which may also
// truncate it at any time: it is never mapped (a mapping would take SIGBUS
// past a truncation) but copied with pread, header first. open() checks
// magic, version and that the file holds the table its header announces;
// nothing else in it is trusted (indices are bounded by entries()).
#pragma once

#include "shm/writer/usage_format.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace edgekey::shm {

struct UsageHeader;
struct UsageCounters;
struct UsageEntry;

// Creates the usage directory of the table opened as `table` (mode 1770,
// group `group`, "" = the creator's), or adopts the one there when this user
// owns it (its mode and group set again). "" on success, else one line
// naming the directory and what to do.
std::string prepare_usage_dir(const std::string &table, const std::string &group);
// Removes the directory and every file in it; quiet when absent.
void remove_usage_dir(const std::string &table);
// Names of the regular files in the usage directory.
std::vector<std::string> usage_segment_names(const std::string &table);
// True when the file at `path` is there but holds no segment header (its
// writer was killed while making it, or cut it short); false when it holds
// one or cannot be read.
bool usage_segment_unfinished(const std::string &path);

class UsageSegment {
 public:
  UsageSegment() = default;
  UsageSegment(UsageSegment &&o) noexcept;
  UsageSegment &operator=(UsageSegment &&o) noexcept;
  UsageSegment(const UsageSegment &) = delete;
  UsageSegment &operator=(const UsageSegment &) = delete;
  ~UsageSegment() { reset(); }

  // Opens the file and takes a first copy (read()); false when it is not a
  // complete segment (yet, or ever).
  bool open(const std::string &path);
  // Copies the segment again: the header (pid, retired) first, then the
  // counters and entries, so a `retired` seen here was set before every
  // count copied after it. false when the file no longer holds the table
  // its header announced: the copy is then not to be used until a read()
  // returns true again.
  bool read();
  void reset();
  bool valid() const { return hdr_ != nullptr; }

  int64_t pid() const;
  uint64_t instance() const;
  bool retired() const;
  uint32_t entries() const { return entries_n_; }
  uint64_t counter(int i) const;  // i < kUsageCounters
  // The word (acquire), then its tag: a non-zero word's tag is its key's.
  uint64_t word(uint32_t i) const;  // i < entries()
  uint64_t tag(uint32_t i) const;

 private:
  int fd_ = -1;
  void *base_ = nullptr;  // the copy, 64-byte aligned
  size_t size_ = 0;
  const UsageHeader *hdr_ = nullptr;
  const UsageCounters *counters_ = nullptr;
  const UsageEntry *entries_ = nullptr;
  uint32_t entries_n_ = 0;
};

}  // namespace edgekey::shm
