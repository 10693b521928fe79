// revoked_use_log.hpp -- a revoked key still being used is a leak signal:
// log it with the key id (never the token), at most once per key per minute.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace edgekey::daemon {

class RevokedUseLog {
 public:
  explicit RevokedUseLog(int64_t interval_s = 60, size_t max_keys = 10000)
      : interval_(interval_s), max_keys_(max_keys) {}
  // Counts the use; returns true (and logs) when this key was not logged in
  // the last interval.
  bool record(std::string_view key_id, std::string_view workspace, int64_t now);
  uint64_t uses() const { return uses_; }

 private:
  int64_t interval_;
  size_t max_keys_;
  uint64_t uses_ = 0;
  std::unordered_map<std::string, int64_t> last_logged_;
};

}  // namespace edgekey::daemon
