#include "daemon/edgekeyd/revoked_use_log.hpp"

#include "daemon/edgekeyd/log.hpp"

namespace edgekey::daemon {

bool RevokedUseLog::record(std::string_view key_id, std::string_view workspace, int64_t now) {
  ++uses_;
  auto it = last_logged_.find(std::string(key_id));
  if (it != last_logged_.end() && now - it->second < interval_) return false;
  if (last_logged_.size() >= max_keys_) {  // forget keys not seen for an interval
    for (auto i = last_logged_.begin(); i != last_logged_.end();)
      i = now - i->second >= interval_ ? last_logged_.erase(i) : std::next(i);
    if (last_logged_.size() >= max_keys_) last_logged_.clear();
  }
  last_logged_[std::string(key_id)] = now;
  log(Severity::Warn, "revoked key %.*s (workspace %.*s) was used: it may have leaked", int(key_id.size()),
      key_id.data(), int(workspace.size()), workspace.data());
  return true;
}

}  // namespace edgekey::daemon
