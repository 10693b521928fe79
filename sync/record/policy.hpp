// policy.hpp -- the deployment's access policy, compiled once from
// edgekey.yaml and used by everything that needs it: edgekeyd's table options
// and resolver, edgekeyctl's checks of a new key, and the tests.
//
// What it fixes: bit i of a key's permission bitmap is permissions[i] (the
// config's order); role index i (TableRecord::role, the table's role names)
// is role_names()[i], the role names sorted bytewise; a publishable key holds
// at most the publishable set. A Policy is immutable; one that exists passed
// check_policy().
#pragma once

#include "shm/writer/table_options.hpp"
#include "sync/record/expected.hpp"
#include "sync/record/key_record.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace edgekey::sync {

// The policy as the config states it.
struct PolicySpec {
  std::vector<std::string> permissions;  // <= 64, unique, 1..31 bytes
  std::vector<std::string> publishable;  // subset of permissions
  std::map<std::string, std::vector<std::string>> roles;  // role -> permissions; "*" = all
  std::string region;                     // this table's region
  std::optional<HashScheme> hash_scheme;  // the deployment's hashing; nullopt = accept either
};

// 1..64 permissions, unique, 1..31 bytes each, not "*"; publishable ⊆
// permissions; 1..64 roles named 1..31 bytes; every role entry a permission
// or "*". Empty string = valid, else one line naming the problem.
std::string check_policy(const PolicySpec &p);

class Policy {
 public:
  Policy() = default;  // no permissions and no roles: every key's role is unknown
  // The compiled policy, or check_policy()'s error.
  static Expected<Policy> make(PolicySpec spec);

  const std::vector<std::string> &permissions() const { return spec_.permissions; }
  const std::vector<std::string> &publishable() const { return spec_.publishable; }
  const std::vector<std::string> &role_names() const { return role_names_; }  // in index order
  const std::string &region() const { return spec_.region; }
  const std::optional<HashScheme> &hash_scheme() const { return spec_.hash_scheme; }

  std::optional<unsigned> permission_bit(std::string_view name) const;
  std::optional<uint8_t> role_index(std::string_view role) const;
  uint64_t role_bits(uint8_t index) const { return role_bits_[index]; }
  // The bitmap of a role by name; nullopt for an unknown role.
  std::optional<uint64_t> role_mask(std::string_view role) const;
  // The bitmap of `names`; nullopt if one is not a permission.
  std::optional<uint64_t> permission_mask(const std::vector<std::string> &names) const;
  uint64_t publishable_mask() const { return publishable_mask_; }

  // The table's permission and role names, in bit and index order.
  void apply_to(shm::TableOptions &opts) const;

 private:
  PolicySpec spec_;
  std::vector<std::string> role_names_;
  std::vector<uint64_t> role_bits_;
  std::unordered_map<std::string, unsigned> perm_bit_;
  std::unordered_map<std::string, uint8_t> role_index_;
  uint64_t publishable_mask_ = 0;
};

}  // namespace edgekey::sync
