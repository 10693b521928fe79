// validator_state.hpp -- what one ek_validator holds: the two read-only
// mappings and the per-generation caches derived from the data header.
//
// Owned by one thread. refresh() is the only place that remaps: it compares
// the control segment's generation (one acquire load on a line the writer
// rarely touches) with the mapped one and switches on a change.
#pragma once

#include "shm/src/layout.hpp"
#include "shm/src/ro_mapping.hpp"
#include "shm/src/table_view.hpp"
#include "shm/src/usage_writer.hpp"
#include "shm/writer/hasher.hpp"
#include "shm/writer/token.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace edgekey::shm {

// Permission name -> bit, open addressing over 128 entries (n <= 64).
class PermissionIndex {
 public:
  void clear();
  void add(std::string_view name, int bit);
  int find(const char *name) const;  // -1 when unknown

 private:
  struct Entry {
    char name[kMaxNameLen + 1];
    uint8_t len;
    int8_t bit = -1;
  };
  static uint32_t hash(const char *s, size_t n);
  Entry tab_[128];
};

}  // namespace edgekey::shm

struct ek_validator {
  // 0 or ek_err. Maps the control segment and the current generation.
  int open(const char *table_name);
  // 0 when view() is the published generation (remapping if it changed);
  // an ek_err when nothing is published or the new generation is unusable.
  int refresh() {
    uint64_t g = ctl_->generation.load(std::memory_order_acquire);
    if (g == gen_ && g != 0) return 0;
    return remap(g);
  }

  const edgekey::shm::ControlHeader *control() const { return ctl_; }
  const edgekey::shm::DataView &view() const { return view_; }
  const edgekey::shm::TokenHasher &hasher() const { return hasher_; }
  std::string_view prefix() const { return prefix_; }
  bool legacy_tokens() const { return legacy_; }
  int permission_bit(const char *name) const { return perms_.find(name); }
  // The role's name, NUL-padded to kMaxNameLen + 1 bytes ("" when unknown),
  // so a result copies it with one fixed-size memcpy.
  const char *role_field(uint8_t role) const {
    return roles_[role < edgekey::shm::kMaxRoles ? role : edgekey::shm::kMaxRoles];
  }
  uint64_t generation() const { return gen_; }

  // Usage counting (usage_writer.hpp): on when the table's usage directory
  // lets this validator have a segment. hit_tag is usage_tag() of the key
  // the current call found, 0 when none.
  bool set_counting(bool on);
  void count(int code) {
    if (usage_.active()) usage_.count(code, hit_tag);
  }
  void prefetch_usage(uint64_t tag) const { usage_.prefetch(tag); }
  uint64_t hit_tag = 0;

 private:
  int remap(uint64_t g);
  int load_caches();

  std::string name_;
  edgekey::shm::RoMapping control_map_, data_map_;
  const edgekey::shm::ControlHeader *ctl_ = nullptr;
  edgekey::shm::DataView view_;
  uint64_t gen_ = 0;
  std::string prefix_;
  bool legacy_ = false;
  edgekey::shm::TokenHasher hasher_;
  std::string pepper_path_;  // of the hasher_ now loaded
  uint8_t pepper_fp_[32] = {};
  edgekey::shm::PermissionIndex perms_;
  edgekey::shm::UsageWriter usage_;
  // Zero-padded copies of the header's role names; rows from n_roles on
  // (and the extra last row, for out-of-range roles) are all zero.
  char roles_[edgekey::shm::kMaxRoles + 1][edgekey::shm::kMaxNameLen + 1] = {};
};
