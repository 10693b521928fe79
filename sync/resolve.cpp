// resolve.cpp -- key record -> table record (see resolve.hpp).
#include "sync/resolve.hpp"

#include "shm/src/cidr.hpp"
#include "shm/src/layout.hpp"

#include <algorithm>
#include <set>

namespace edgekey::sync {
namespace {

bool name_ok(const std::string &n) { return !n.empty() && n.size() <= shm::kMaxNameLen; }

const char *scheme_name(HashScheme s) { return s == HashScheme::HmacSha256 ? "hmac-sha256" : "sha256"; }

}  // namespace

std::vector<std::string> ResolvePolicy::role_names() const {
  std::vector<std::string> names;
  names.reserve(roles.size());
  for (const auto &[name, perms] : roles) names.push_back(name);
  return names;
}

std::string check_policy(const ResolvePolicy &p) {
  if (p.permissions.empty() || p.permissions.size() > shm::kMaxPermissions)
    return "permissions: expected 1 to 64 names, got " + std::to_string(p.permissions.size());
  std::set<std::string> perms;
  for (const auto &n : p.permissions) {
    if (!name_ok(n)) return "permissions: " + quote_for_error(n) + " must be 1 to 31 bytes";
    if (n == "*") return "permissions: \"*\" is reserved for roles (all permissions)";
    if (!perms.insert(n).second) return "permissions: " + quote_for_error(n) + " is listed twice";
  }
  for (const auto &n : p.publishable)
    if (!perms.count(n))
      return "publishable: " + quote_for_error(n) + " is not one of the permissions";
  if (p.roles.empty() || p.roles.size() > shm::kMaxRoles)
    return "roles: expected 1 to 64 roles, got " + std::to_string(p.roles.size());
  for (const auto &[role, list] : p.roles) {
    if (!name_ok(role)) return "roles: role " + quote_for_error(role) + " must be 1 to 31 bytes";
    for (const auto &n : list)
      if (n != "*" && !perms.count(n))
        return "roles: role " + quote_for_error(role) + ": " + quote_for_error(n) +
               " is not one of the permissions";
  }
  return {};
}

void apply_policy(const ResolvePolicy &p, shm::TableOptions &opts) {
  opts.permissions = p.permissions;
  opts.roles = p.role_names();
}

Resolver::Resolver(const ResolvePolicy &p)
    : policy_error_(check_policy(p)),
      role_names_(p.role_names()),
      region_(p.region),
      hash_scheme_(p.hash_scheme) {
  if (!policy_error_.empty()) return;
  for (size_t i = 0; i < p.permissions.size(); ++i) perm_bit_.emplace(p.permissions[i], int(i));
  uint64_t all = p.permissions.size() == 64 ? ~uint64_t{0} : (uint64_t{1} << p.permissions.size()) - 1;
  for (const auto &n : p.publishable) publishable_mask_ |= uint64_t{1} << perm_bit_.at(n);
  for (size_t i = 0; i < role_names_.size(); ++i) {
    uint64_t bits = 0;
    for (const auto &n : p.roles.at(role_names_[i]))
      bits |= n == "*" ? all : uint64_t{1} << perm_bit_.at(n);
    roles_.emplace(role_names_[i], Role{uint8_t(i), bits});
  }
}

Result<shm::TableRecord> Resolver::resolve(const KeyRecord &r) const {
  using R = Result<shm::TableRecord>;
  if (!policy_error_.empty())
    return R::failure("cannot resolve keys: invalid policy: " + policy_error_);
  if (auto e = validate_record(r)) return R::failure(format_record_error(r.id, *e));
  return resolve_checked(r);
}

Result<shm::TableRecord> Resolver::resolve_validated(const KeyRecord &r) const {
  if (!policy_error_.empty())
    return Result<shm::TableRecord>::failure("cannot resolve keys: invalid policy: " + policy_error_);
  return resolve_checked(r);
}

Result<shm::TableRecord> Resolver::resolve_checked(const KeyRecord &r) const {
  using R = Result<shm::TableRecord>;
  shm::TableRecord t;
  HashScheme scheme;
  parse_record_hash(r.hash, t.hash, &scheme);  // validated by the caller
  if (hash_scheme_ && scheme != *hash_scheme_)
    return R::failure(format_record_error(
        r.id, FieldError{"hash",
                         std::string("expected a ") + scheme_name(*hash_scheme_) +
                             " hash (the deployment's), got a " + scheme_name(scheme) + " one"}));

  auto role = roles_.find(r.role);
  if (role == roles_.end()) {
    std::string known;
    for (const auto &n : role_names_) known += (known.empty() ? "" : ", ") + n;
    return R::failure(format_record_error(
        r.id, FieldError{"role", "unknown role " + quote_for_error(r.role) +
                                     " (configured: " + known + ")"}));
  }
  uint64_t perms = role->second.perms;
  for (const auto &s : r.scopes) {
    auto bit = perm_bit_.find(s);
    if (bit == perm_bit_.end())
      return R::failure(format_record_error(
          r.id, FieldError{"scopes", "unknown permission " + quote_for_error(s) +
                                         (s == "*" ? " (\"*\" is allowed only in roles)" : "")}));
    perms |= uint64_t{1} << bit->second;
  }
  if (r.type == KeyType::Publishable) perms &= publishable_mask_;

  t.key_id = r.id;
  t.workspace = r.workspace;
  t.role = role->second.index;
  t.perms = perms;
  t.type = static_cast<uint8_t>(r.type);
  t.env = static_cast<uint8_t>(r.env);
  t.revoked = r.status == KeyStatus::Revoked;
  t.wrong_region = !r.regions.empty() &&
                   std::find(r.regions.begin(), r.regions.end(), region_) == r.regions.end();
  t.expires_at = r.expires_at.value_or(0);
  t.origins = r.allowed_origins;
  t.cidrs.resize(r.allowed_cidrs.size());
  for (size_t i = 0; i < r.allowed_cidrs.size(); ++i)
    shm::parse_cidr(r.allowed_cidrs[i], t.cidrs[i]);  // validated above
  return R::success(std::move(t));
}

Result<shm::TableRecord> resolve(const KeyRecord &r, const ResolvePolicy &p) {
  return Resolver(p).resolve(r);
}

}  // namespace edgekey::sync
