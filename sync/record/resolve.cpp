// resolve.cpp -- key record -> table record (see resolve.hpp).
#include "sync/record/resolve.hpp"

#include "shm/writer/cidr.hpp"
#include "shm/writer/limits.hpp"

#include <algorithm>

namespace edgekey::sync {
namespace {

const char *scheme_name(HashScheme s) { return s == HashScheme::HmacSha256 ? "hmac-sha256" : "sha256"; }

}  // namespace

Expected<shm::TableRecord> Resolver::resolve(const ValidRecord &v) const {
  using R = Expected<shm::TableRecord>;
  const KeyRecord &r = v.record();
  shm::TableRecord t;
  t.hash = v.hash();
  const HashScheme scheme = v.scheme();
  const auto &want = policy_.hash_scheme();
  if (want && scheme != *want)
    return R::failure(format_record_error(
        r.id, FieldError{"hash",
                         std::string("expected a ") + scheme_name(*want) +
                             " hash (the deployment's), got a " + scheme_name(scheme) + " one"}));

  const auto role = policy_.role_index(r.role);
  if (!role) {
    std::string known;
    for (const auto &n : policy_.role_names()) known += (known.empty() ? "" : ", ") + n;
    return R::failure(format_record_error(
        r.id, FieldError{"role", "unknown role " + quote_for_error(r.role) +
                                     " (configured: " + known + ")"}));
  }
  uint64_t perms = policy_.role_bits(*role);
  for (const auto &s : r.scopes) {
    const auto bit = policy_.permission_bit(s);
    if (!bit)
      return R::failure(format_record_error(
          r.id, FieldError{"scopes", "unknown permission " + quote_for_error(s) +
                                         (s == "*" ? " (\"*\" is allowed only in roles)" : "")}));
    perms |= uint64_t{1} << *bit;
  }
  if (r.type == KeyType::Publishable) perms &= policy_.publishable_mask();

  t.key_id = r.id;
  t.workspace = r.workspace;
  t.role = *role;
  t.perms = perms;
  t.type = static_cast<uint8_t>(r.type);
  t.env = static_cast<uint8_t>(r.env);
  t.revoked = r.status == KeyStatus::Revoked;
  t.wrong_region = !r.regions.empty() &&
                   std::find(r.regions.begin(), r.regions.end(), policy_.region()) == r.regions.end();
  t.expires_at = r.expires_at.value_or(0);
  t.origins = r.allowed_origins;
  t.cidrs.resize(r.allowed_cidrs.size());
  for (size_t i = 0; i < r.allowed_cidrs.size(); ++i)
    shm::parse_cidr(r.allowed_cidrs[i], t.cidrs[i]);  // a ValidRecord's always parse
  return R::success(std::move(t));
}

}  // namespace edgekey::sync
