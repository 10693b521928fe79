// resolve.hpp -- turns a key record into the table's record: the role to an
// index, role ∪ scopes to a permission bitmap (capped for publishable keys),
// regions to a wrong_region flag, the hash text to bytes.
//
// The policy comes from edgekey.yaml (permissions, publishable, roles,
// region). The table must be created with the same permission and role
// order: use apply_policy() (or role_names()) for shm::TableOptions.
#pragma once

#include "shm/src/table_options.hpp"
#include "shm/src/table_record.hpp"
#include "sync/key_record.hpp"
#include "sync/result.hpp"

#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace edgekey::sync {

// What resolution needs from the config.
struct ResolvePolicy {
  std::vector<std::string> permissions;  // bit i = permissions[i]; <= 64, unique, 1..31 bytes
  std::vector<std::string> publishable;  // subset of permissions: the most a pk key ever holds
  std::map<std::string, std::vector<std::string>> roles;  // role -> permissions; "*" = all
  std::string region;                    // this table's region
  std::optional<HashScheme> hash_scheme; // the deployment's hashing; nullopt = accept either

  // Role names in TableRecord::role index order: the map's order, i.e.
  // sorted by byte value ("analyst", "developer", "owner", "viewer").
  // TableOptions::roles must be exactly this list.
  std::vector<std::string> role_names() const;
};

// Config-time check of a policy: 1..64 permissions, unique, 1..31 bytes each;
// publishable ⊆ permissions; 1..64 roles named 1..31 bytes; every role entry
// a configured permission or "*". Empty string = valid, else one line.
std::string check_policy(const ResolvePolicy &p);

// Sets opts.permissions = p.permissions and opts.roles = p.role_names().
void apply_policy(const ResolvePolicy &p, shm::TableOptions &opts);

// A policy compiled for resolving many records (name lookups by hash map).
// Never throws after construction; an invalid policy (check_policy) makes
// every resolve() fail with that policy error.
class Resolver {
 public:
  explicit Resolver(const ResolvePolicy &p);

  // The table record of `r`, or one line naming the problem: any rule of
  // validate_record(), an unknown role or scope (named), a hash of the wrong
  // scheme. Scopes are permission names; "*" is allowed only in roles.
  // revoked = status revoked; wrong_region = regions non-empty and without
  // the policy's region; expires_at copied (0 = never).
  Result<shm::TableRecord> resolve(const KeyRecord &r) const;
  // The same for a record known to pass validate_record() (every decoder's
  // output does), without checking it again: a snapshot resolves 1M of them.
  Result<shm::TableRecord> resolve_validated(const KeyRecord &r) const;

  const std::vector<std::string> &role_names() const { return role_names_; }

 private:
  Result<shm::TableRecord> resolve_checked(const KeyRecord &r) const;  // after validation

  struct Role {
    uint8_t index;
    uint64_t perms;
  };
  std::string policy_error_;
  std::unordered_map<std::string, int> perm_bit_;
  std::unordered_map<std::string, Role> roles_;
  std::vector<std::string> role_names_;
  uint64_t publishable_mask_ = 0;
  std::string region_;
  std::optional<HashScheme> hash_scheme_;
};

// One-off form of Resolver(p).resolve(r).
Result<shm::TableRecord> resolve(const KeyRecord &r, const ResolvePolicy &p);

}  // namespace edgekey::sync
