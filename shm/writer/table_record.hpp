// table_record.hpp -- a key as the table stores it: already hashed, its
// permissions resolved to a bitmap and its role to an index. The sync layer
// turns upstream key records into these.
#pragma once

#include "shm/writer/cidr.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace edgekey::shm {

struct TableRecord {
  std::array<uint8_t, 32> hash{};
  std::string key_id;     // <= 47 bytes
  std::string workspace;  // <= 47 bytes
  uint8_t role = 0;       // index into TableOptions::roles
  uint64_t perms = 0;     // bit i = TableOptions::permissions[i]
  uint8_t type = 1;       // ek_key_type
  uint8_t env = 1;        // ek_env
  bool revoked = false;
  bool wrong_region = false;  // the record's regions exclude this table's region
  int64_t expires_at = 0;     // unix s, 0 = never
  std::vector<std::string> origins;  // exact origins, compared ASCII case-insensitively
  std::vector<Cidr> cidrs;
};

// Why a record cannot be stored. None = stored.
enum class WriteError : uint8_t {
  None,
  IdTooLong,         // key_id or workspace over 47 bytes
  BadRole,           // role index outside the configured roles
  AllowListTooLong,  // more than 256 origins or CIDRs, or an origin over 1024 bytes
  BadEnum,           // type or env outside its enum
  NoRoom,            // the table had to grow and could not: TableWriter::room_problem() says why
};
const char *write_error_text(WriteError e);

inline constexpr size_t kMaxAllowEntries = 256;
inline constexpr size_t kMaxOriginLen = 1024;

}  // namespace edgekey::shm
