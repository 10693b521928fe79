// resolve.hpp -- turns a key record into the table's record under the
// deployment's Policy (policy.hpp): the role to its index, role ∪ scopes to a
// permission bitmap (capped for publishable keys), regions to a wrong_region
// flag, the hash to its bytes.
#pragma once

#include "shm/writer/table_record.hpp"
#include "sync/record/expected.hpp"
#include "sync/record/key_record.hpp"
#include "sync/record/policy.hpp"

#include <string>
#include <utility>

namespace edgekey::sync {

// Resolves records under one policy; never throws.
class Resolver {
 public:
  explicit Resolver(Policy p) : policy_(std::move(p)) {}

  // The table record of `r`, or one line naming the problem: an unknown
  // role or scope (named), a hash of the wrong scheme. Scopes are
  // permission names; "*" is allowed only in roles. revoked = status
  // revoked; wrong_region = regions non-empty and without the policy's
  // region; expires_at copied (0 = never). The record's rules are not
  // checked again: a ValidRecord passed them.
  Expected<shm::TableRecord> resolve(const ValidRecord &r) const;

  const Policy &policy() const { return policy_; }

 private:
  Policy policy_;
};

}  // namespace edgekey::sync
