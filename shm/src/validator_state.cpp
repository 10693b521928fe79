#include "shm/src/validator_state.hpp"

#include "shm/writer/pepper.hpp"

#include <edgekey/edgekey.h>

#include <cstring>

namespace edgekey::shm {

void PermissionIndex::clear() {
  for (auto &e : tab_) e = Entry{};
}

uint32_t PermissionIndex::hash(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; ++i) h = (h ^ uint8_t(s[i])) * 16777619u;
  return h;
}

void PermissionIndex::add(std::string_view name, int bit) {
  if (name.empty() || name.size() > kMaxNameLen) return;
  uint32_t i = hash(name.data(), name.size()) & 127;
  while (tab_[i].bit >= 0) i = (i + 1) & 127;
  std::memcpy(tab_[i].name, name.data(), name.size());
  tab_[i].name[name.size()] = '\0';
  tab_[i].len = uint8_t(name.size());
  tab_[i].bit = int8_t(bit);
}

int PermissionIndex::find(const char *name) const {
  size_t n = strnlen(name, kMaxNameLen + 1);
  if (n > kMaxNameLen) return -1;
  uint32_t i = hash(name, n) & 127;
  for (int probes = 0; probes < 128; ++probes, i = (i + 1) & 127) {
    const Entry &e = tab_[i];
    if (e.bit < 0) return -1;
    if (e.len == n && std::memcmp(e.name, name, n) == 0) return e.bit;
  }
  return -1;
}

}  // namespace edgekey::shm

using namespace edgekey::shm;

int ek_validator::open(const char *table_name) {
  name_ = table_name;
  // A name ("edgekey-eu") or an absolute path ("/dev/hugepages/edgekey-eu").
  const size_t slash = name_.rfind('/');
  // table.directory and table.name are at most 200 bytes each.
  if (name_.size() > 401 || (slash != std::string::npos && (name_[0] != '/' || slash + 1 == name_.size())))
    return EK_ERR_INVALID_ARG;
  int rc = control_map_.open(name_);
  if (rc != 0) return rc;
  rc = check_control(control_map_.data(), control_map_.size());
  if (rc != 0) return rc;
  ctl_ = static_cast<const ControlHeader *>(control_map_.data());
  set_counting(true);
  rc = refresh();
  // A table that exists but was never loaded opens fine: validate answers
  // 503 keyset_unavailable until edgekeyd publishes the first generation.
  return rc == EK_ERR_NO_TABLE ? 0 : rc;
}

bool ek_validator::set_counting(bool on) {
  if (!on) usage_.close();
  else if (!usage_.active() && ctl_)
    usage_.open(name_, name_[0] == '/' ? name_ : "/dev/shm/" + name_, &ctl_->heartbeat);
  return usage_.active();
}

// A generation can be unlinked between reading its number and opening it
// (the writer published another): re-read the number and try again, a few
// times, then give up for this call.
int ek_validator::remap(uint64_t g) {
  int rc = EK_ERR_NO_TABLE;
  for (int attempt = 0; attempt < 8; ++attempt) {
    if (g == 0) return EK_ERR_NO_TABLE;
    RoMapping m;
    rc = m.open(name_ + ".g" + std::to_string(g));
    if (rc == 0) {
      DataView dv;
      rc = check_data(m.data(), m.size(), dv);
      if (rc == 0 && dv.hdr->generation != g) rc = EK_ERR_CORRUPT;
      if (rc == 0) {
        data_map_ = std::move(m);
        view_ = dv;
        gen_ = g;
        rc = load_caches();
        if (rc != 0) gen_ = 0;
        return rc;
      }
    }
    if (rc != EK_ERR_NO_TABLE) break;
    uint64_t again = ctl_->generation.load(std::memory_order_acquire);
    if (again == g) break;
    g = again;
  }
  gen_ = 0;
  return rc;
}

int ek_validator::load_caches() {
  const DataHeader &h = *view_.hdr;
  prefix_ = h.key_prefix;
  legacy_ = h.legacy_tokens != 0;
  perms_.clear();
  for (int i = 0; i < h.n_permissions; ++i) perms_.add(h.permissions[i], i);
  std::memset(roles_, 0, sizeof roles_);
  for (int i = 0; i < h.n_roles; ++i)  // check_data: each name has a NUL within kMaxNameLen + 1
    std::memcpy(roles_[i], h.roles[i], strnlen(h.roles[i], kMaxNameLen));
  if (h.hash_mode == uint8_t(HashScheme::Sha256)) {
    hasher_ = TokenHasher();
    pepper_path_.clear();
    return 0;
  }
  if (pepper_path_ == h.pepper_path && std::memcmp(pepper_fp_, h.pepper_fingerprint, 32) == 0)
    return 0;  // same pepper as the previous generation
  std::string pepper;
  if (!read_pepper_file(h.pepper_path, pepper)) return EK_ERR_PEPPER;
  uint8_t fp[32];
  pepper_fingerprint(pepper, fp);
  if (!hash_equal(fp, h.pepper_fingerprint)) return EK_ERR_PEPPER;
  hasher_ = TokenHasher(pepper);
  pepper_path_ = h.pepper_path;
  std::memcpy(pepper_fp_, fp, 32);
  return 0;
}
