// usage_collector.hpp -- edgekeyd's view of every answer given on this
// host: it folds the readers' usage segments (shm/writer/usage_format.hpp) and
// the socket's answers into totals by path and code, the keys' last use and
// their uses over the last day (DESIGN.md "Usage and limits").
//
// Runs on the loop thread: scan() about once a second. A segment's counts
// only grow; the collector keeps, per segment, what it already folded (its
// watermarks) and adds only the difference. Watermarks and totals are saved
// together in one file (replaced atomically), so after a restart edgekeyd
// folds from the saved watermarks: a count is neither lost nor counted twice.
// A segment whose writer retired it or died is folded a last time, saved as
// folded, and only then removed.
#pragma once

#include "shm/writer/usage_reader.hpp"
#include "sync/upstream/key_store.hpp"

#include <edgekey/edgekey.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace edgekey::daemon {

using CodeCounts = std::array<uint64_t, EK_CODE_COUNT_>;

// One key's use on this host.
struct KeyUse {
  int64_t last_used = 0;  // unix s, 0 = never seen used
  std::vector<std::pair<int64_t, uint64_t>> hours;  // (unix hour, uses), the last 24 hours, oldest first
  void add(int64_t now, uint64_t uses);
  uint64_t last_day(int64_t now) const;  // uses in the last 24 hours (hourly buckets)
};

class UsageCollector {
 public:
  // `table` as readers open it; `state_path` "" = nothing persisted.
  UsageCollector(std::string table, std::string state_path);

  // Creates the usage directory (group `group`); "" or a problem to log.
  std::string prepare(const std::string &group);
  // Reads the saved state; "" or a problem to log (then it starts from zero).
  std::string load_state();
  // Saves when something changed (and always when `force`); then removes
  // the segments folded for the last time. "" or a problem to log.
  std::string save_state(const CodeCounts &socket_total, int64_t now, bool force);

  // Folds every segment's new counts. Tags resolve through `store`;
  // `on_revoked_use` is called for a revoked key used through the library.
  void scan(const sync::KeyStore &store, int64_t now,
            const std::function<void(const sync::KeyRecord &)> &on_revoked_use);
  // A key found by the socket's validator (which counts nothing itself).
  void note_use(const std::string &key_id, int64_t now);

  const CodeCounts &library() const { return library_; }
  const CodeCounts &socket_saved() const { return socket_saved_; }  // socket totals before this start
  uint64_t unattributed() const { return unattributed_; }
  int64_t saved_at() const { return saved_at_; }  // unix s of the last state file written
  size_t reader_processes() const { return readers_; }
  size_t segments() const { return segs_.size(); }
  const KeyUse *key(const std::string &id) const;
  const std::unordered_map<std::string, KeyUse> &keys() const { return keys_; }
  // The keys whose last use moved since the last call (for the usage publisher).
  std::vector<std::string> take_changed();

 private:
  struct Segment {
    shm::UsageSegment view;
    uint64_t instance = 0;
    std::array<uint64_t, shm::kUsageCounters> folded{};
    std::vector<uint64_t> words;  // per entry, the word last folded
    bool final = false;           // folded for the last time: remove after the next save
  };
  // Watermarks read from the state file, for segments not mapped yet.
  struct Saved {
    uint64_t instance = 0;
    std::array<uint64_t, shm::kUsageCounters> folded{};
    std::vector<std::pair<uint32_t, uint64_t>> words;
    bool final = false;
  };
  void fold(Segment &s, const sync::KeyStore &store, int64_t now,
            const std::function<void(const sync::KeyRecord &)> &on_revoked_use);
  const sync::KeyRecord *resolve(uint64_t tag, const sync::KeyStore &store);
  std::string state_text(const CodeCounts &socket_total) const;
  bool parse_state(const std::string &text);

  std::string table_, dir_, state_path_;
  std::map<std::string, Segment> segs_;
  std::map<std::string, Saved> saved_;
  CodeCounts library_{}, socket_saved_{};
  uint64_t unattributed_ = 0;
  size_t readers_ = 0;
  std::unordered_map<std::string, KeyUse> keys_;
  std::unordered_set<std::string> changed_;  // ids whose last_used moved since take_changed()
  bool dirty_ = false;
  int64_t saved_at_ = 0;
  CodeCounts socket_at_save_{};
};

}  // namespace edgekey::daemon
