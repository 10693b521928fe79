// usage_format.hpp -- what edgekeyd's collector reads out of the readers'
// usage segments: which counter is which, how an entry's word and tag are
// made, and where the segments are. The segment's bytes: usage_layout.hpp.
#pragma once

#include <edgekey/edgekey.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace edgekey::shm {

inline constexpr int kUsageCounters = 16;                  // EK_CODE_COUNT_ codes, then kUsageUnattributed
inline constexpr int kUsageUnattributed = EK_CODE_COUNT_;  // key uses no table entry took
static_assert(EK_CODE_COUNT_ + 1 <= kUsageCounters);

// An entry's tag: the first 8 bytes of the key's hash (host order), 0 written as 1.
inline uint64_t usage_tag(const uint8_t hash[32]) {
  uint64_t t;
  std::memcpy(&t, hash, 8);
  return t ? t : 1;
}
// An entry's word: last use (unix s) << 32 | uses mod 2^32.
inline uint64_t usage_word(int64_t last, uint32_t uses) { return uint64_t(last) << 32 | uses; }
inline uint32_t usage_uses(uint64_t word) { return uint32_t(word); }
inline int64_t usage_last(uint64_t word) { return int64_t(word >> 32); }

// The usage directory of a table opened as `table` (a name, or a path in
// table.directory): always on /dev/shm (tmpfs), "/dev/shm/<last part>.usage".
inline std::string usage_dir(const std::string &table) {
  const size_t slash = table.rfind('/');
  return "/dev/shm/" + (slash == std::string::npos ? table : table.substr(slash + 1)) + ".usage";
}

}  // namespace edgekey::shm
