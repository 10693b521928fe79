// versioned_keys.hpp -- self-checking keys for the tests that race a table
// writer against readers (tests/shm/concurrency_test.cpp, tests/crash/).
//
// Key i at version v has key_id "key_<i>_<v>", workspace "ws_<v>",
// expires_at kVersionBase + v, role v % 3 and perms versioned_perms(i, v),
// spread over both cache lines of its slot: a reader that copied half of one
// version and half of another sees fields that disagree.
#pragma once

#include "table_fixture.hpp"

#include "shm/src/layout.hpp"

#include <array>
#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edgekey::test {

inline constexpr int64_t kVersionBase = 4000000000;  // year 2096: never expired
// test_options()'s roles, by index.
inline constexpr const char *kVersionRoles[] = {"developer", "owner", "viewer"};

inline uint64_t versioned_perms(uint64_t i, uint64_t v) {
  uint64_t z = i * 0x9E3779B97F4A7C15ULL + v + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

struct VersionedKeys {
  std::vector<std::string> tokens;  // secret live keys
  std::vector<std::array<uint8_t, 32>> hashes;

  explicit VersionedKeys(int n) {
    shm::TokenHasher h;
    for (int i = 0; i < n; ++i) {
      tokens.push_back(shm::generate_token("ek", "sk", "live"));
      hashes.emplace_back();
      h.hash(tokens.back(), hashes.back().data());
    }
  }

  shm::TableRecord record(int i, uint64_t v, bool revoked = false) const {
    shm::TableRecord r;
    r.hash = hashes[size_t(i)];
    r.key_id = "key_" + std::to_string(i) + "_" + std::to_string(v);
    r.workspace = "ws_" + std::to_string(v);
    r.expires_at = kVersionBase + int64_t(v);
    r.role = uint8_t(v % 3);
    r.perms = versioned_perms(uint64_t(i), v);
    r.type = EK_TYPE_SECRET;
    r.env = EK_ENV_LIVE;
    r.revoked = revoked;
    return r;
  }
};

// v, when every key field of the answer is key i's at version v; nullopt
// when the fields disagree (a torn copy) or name another key.
inline std::optional<uint64_t> answered_version(const ek_result &r, int i) {
  const std::string_view id = r.key_id;
  const std::string prefix = "key_" + std::to_string(i) + "_";
  if (id.substr(0, prefix.size()) != prefix) return std::nullopt;
  uint64_t v = 0;
  const auto rest = id.substr(prefix.size());
  if (std::from_chars(rest.data(), rest.data() + rest.size(), v).ec != std::errc()) return std::nullopt;
  if (std::string_view(r.workspace) != "ws_" + std::to_string(v) || r.expires_at != kVersionBase + int64_t(v) ||
      std::string_view(r.role) != kVersionRoles[v % 3] || r.type != EK_TYPE_SECRET || r.env != EK_ENV_LIVE)
    return std::nullopt;
  return v;
}

// The same check on a slot as the reader copied it (perms included).
inline std::optional<uint64_t> slot_version(const shm::SlotImage &s, int i) {
  const std::string_view id(s.ids, s.id_len), ws(s.ids + s.id_len, s.ws_len);
  const std::string prefix = "key_" + std::to_string(i) + "_";
  if (id.substr(0, prefix.size()) != prefix) return std::nullopt;
  uint64_t v = 0;
  const auto rest = id.substr(prefix.size());
  if (std::from_chars(rest.data(), rest.data() + rest.size(), v).ec != std::errc()) return std::nullopt;
  if (ws != "ws_" + std::to_string(v) || s.expires_at != kVersionBase + int64_t(v) || s.role != v % 3 ||
      s.perms != versioned_perms(uint64_t(i), v))
    return std::nullopt;
  return v;
}

}  // namespace edgekey::test
