// sync_test_util.hpp -- records and temp directories shared by the sync tests.
#pragma once

#include "sync/record/key_record.hpp"
#include "sync/record/policy.hpp"
#include "shm/writer/hasher.hpp"
#include "shm/writer/token.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace edgekey::sync::testing {

inline constexpr const char *kHash =
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
inline constexpr int64_t kCreated = 1795341600;  // 2026-11-22T10:00:00Z

// A policy the test knows to be valid, compiled.
inline Policy compiled(PolicySpec spec) {
  auto p = Policy::make(std::move(spec));
  EXPECT_TRUE(p.ok()) << p.error;
  return p.ok() ? std::move(*p.value) : Policy();
}

// `r` as a ValidRecord; `r` must pass validation (std::logic_error otherwise).
inline ValidRecord valid(KeyRecord r) {
  Expected<ValidRecord> v = validate(std::move(r));
  if (!v.ok()) throw std::logic_error("test record does not validate: " + v.error);
  return std::move(*v.value);
}

// The smallest valid record: required fields only.
inline KeyRecord minimal_record(std::string id = "key_min") {
  KeyRecord r;
  r.id = std::move(id);
  r.hash = kHash;
  r.workspace = "ws_solar";
  r.role = "developer";
  return r;
}

// A record with every field set to a non-default value.
inline KeyRecord full_record() {
  KeyRecord r;
  r.id = "key_2hT9cQ4mZ8";
  r.hash = "hmac-sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  r.workspace = "ws_solar";
  r.name = "CI pipeline: \"nightly\" # café";
  r.type = KeyType::Publishable;
  r.env = KeyEnv::Test;
  r.role = "developer";
  r.scopes = {"agents:deploy", "chat:write"};
  r.regions = {"in-mum", "eu-fra"};
  r.allowed_origins = {"https://app.example.com", "http://[::1]:8080"};
  r.allowed_cidrs = {"203.0.113.0/24", "2001:db8::/32", "::1"};
  r.created_at = kCreated;
  r.expires_at = kCreated + 86400;
  r.status = KeyStatus::Revoked;
  r.revoked_at = kCreated + 3600;
  r.rotated_from = "key_old";
  r.origin_written_at = kCreated * 1000 + 123;
  return r;
}

// A hash text distinct for each n.
inline std::string hash_n(unsigned n) {
  char buf[80];
  snprintf(buf, sizeof buf, "sha256:%064x", n);
  return buf;
}

// One keyset item (a minimal valid record, role viewer), `extra` lines appended.
inline std::string keyset_item(const std::string &id, const std::string &hash, const std::string &extra = "") {
  return "  - id: " + id + "\n    hash: " + hash +
         "\n    workspace: ws_a\n    type: secret\n    env: live\n    role: viewer\n    status: active\n" + extra;
}
inline std::string keyset_item(const std::string &id, unsigned h, const std::string &extra = "") {
  return keyset_item(id, hash_n(h), extra);
}

// A new token and its record hash text, as edgekeyctl mints them.
struct MintedKey {
  std::string token, hash;
};
inline MintedKey mint_key() {
  MintedKey t;
  t.token = shm::generate_token("ek", "sk", "live");
  std::array<uint8_t, 32> h;
  shm::TokenHasher().hash(t.token, h.data());
  t.hash = format_record_hash(h, HashScheme::Sha256);
  return t;
}

// A fresh directory removed (recursively) on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ek-sync-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;
  std::string file(const std::string &name) const { return (path_ / name).string(); }
  const std::filesystem::path &path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::string &path, const std::string &text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

inline std::string read_file(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace edgekey::sync::testing
