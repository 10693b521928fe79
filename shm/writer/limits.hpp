// limits.hpp -- the sizes and enumerations a key record must fit to enter
// the shared table, stated once for the table (layout.hpp) and for those who
// build records (the sync layer, edgekeyd's config, edgekeyctl).
#pragma once

#include <cstddef>
#include <cstdint>

namespace edgekey::shm {

inline constexpr size_t kMaxIdLen = 47;              // key_id, workspace (ek_result has 48)
inline constexpr size_t kMaxNameLen = 31;            // role and permission names
inline constexpr size_t kMaxPermissions = 64;        // one bit each in a slot's perms
inline constexpr size_t kMaxRoles = 64;
inline constexpr size_t kMaxPrefixLen = 16;
inline constexpr size_t kMaxPathLen = 255;

enum class KeyStatus : uint8_t { Active = 0, Revoked = 1 };
enum class HashScheme : uint8_t { Sha256 = 0, HmacSha256 = 1 };
enum class StalenessPolicy : uint8_t { ServeStale = 0, FailClosed = 1 };

}  // namespace edgekey::shm
