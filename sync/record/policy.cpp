// policy.cpp -- the deployment's access policy (see policy.hpp).
#include "sync/record/policy.hpp"

#include "shm/writer/limits.hpp"

#include <set>

namespace edgekey::sync {
namespace {

bool name_ok(const std::string &n) { return !n.empty() && n.size() <= shm::kMaxNameLen; }

}  // namespace

std::string check_policy(const PolicySpec &p) {
  if (p.permissions.empty() || p.permissions.size() > shm::kMaxPermissions)
    return "permissions: expected 1 to 64 names, got " + std::to_string(p.permissions.size());
  std::set<std::string> perms;
  for (const auto &n : p.permissions) {
    if (!name_ok(n)) return "permissions: " + quote_for_error(n) + " must be 1 to 31 bytes";
    if (n == "*") return "permissions: \"*\" is reserved for roles (all permissions)";
    if (!perms.insert(n).second) return "permissions: " + quote_for_error(n) + " is listed twice";
  }
  for (const auto &n : p.publishable)
    if (!perms.count(n)) return "publishable: " + quote_for_error(n) + " is not one of the permissions";
  if (p.roles.empty() || p.roles.size() > shm::kMaxRoles)
    return "roles: expected 1 to 64 roles, got " + std::to_string(p.roles.size());
  for (const auto &[role, list] : p.roles) {
    if (!name_ok(role)) return "roles: role " + quote_for_error(role) + " must be 1 to 31 bytes";
    for (const auto &n : list)
      if (n != "*" && !perms.count(n))
        return "roles: role " + quote_for_error(role) + ": " + quote_for_error(n) + " is not one of the permissions";
  }
  return {};
}

Expected<Policy> Policy::make(PolicySpec spec) {
  if (std::string e = check_policy(spec); !e.empty()) return Expected<Policy>::failure(std::move(e));
  Policy p;
  p.spec_ = std::move(spec);
  const auto &perms = p.spec_.permissions;
  for (size_t i = 0; i < perms.size(); ++i) p.perm_bit_.emplace(perms[i], unsigned(i));
  const uint64_t all = perms.size() == 64 ? ~uint64_t{0} : (uint64_t{1} << perms.size()) - 1;
  for (const auto &n : p.spec_.publishable) p.publishable_mask_ |= uint64_t{1} << p.perm_bit_.at(n);
  for (const auto &[name, list] : p.spec_.roles) {  // std::map: sorted bytewise
    uint64_t bits = 0;
    for (const auto &n : list) bits |= n == "*" ? all : uint64_t{1} << p.perm_bit_.at(n);
    p.role_index_.emplace(name, uint8_t(p.role_names_.size()));
    p.role_names_.push_back(name);
    p.role_bits_.push_back(bits);
  }
  return Expected<Policy>::success(std::move(p));
}

std::optional<unsigned> Policy::permission_bit(std::string_view name) const {
  const auto it = perm_bit_.find(std::string(name));
  if (it == perm_bit_.end()) return std::nullopt;
  return it->second;
}

std::optional<uint8_t> Policy::role_index(std::string_view role) const {
  const auto it = role_index_.find(std::string(role));
  if (it == role_index_.end()) return std::nullopt;
  return it->second;
}

std::optional<uint64_t> Policy::role_mask(std::string_view role) const {
  const auto i = role_index(role);
  if (!i) return std::nullopt;
  return role_bits_[*i];
}

std::optional<uint64_t> Policy::permission_mask(const std::vector<std::string> &names) const {
  uint64_t mask = 0;
  for (const auto &n : names) {
    const auto bit = permission_bit(n);
    if (!bit) return std::nullopt;
    mask |= uint64_t{1} << *bit;
  }
  return mask;
}

void Policy::apply_to(shm::TableOptions &opts) const {
  opts.permissions = spec_.permissions;
  opts.roles = role_names_;
}

}  // namespace edgekey::sync
