// fuzz_table.hpp -- the small key table the fuzz targets validate against,
// and a model of the answer each of its keys must get.
//
// Tokens are deterministic (fixed bodies, real checksums) so the seed
// corpora can carry them and the fuzzer starts from hits. There is one key
// per rule of docs/design.md's validation table; model_code() is that table
// written out for these keys and the request values of kRequestValues, so a
// target can check the library's answer, not only that it did not crash.
//
// Tables are created under "ekfuzz-<tag>-<pid>", opened, then unlinked at
// once (open_and_unlink): a validator keeps its mapping, and a fuzzer killed
// mid-run leaves nothing in /dev/shm.
#pragma once

#include "shm/writer/hasher.hpp"
#include "shm/writer/table_writer.hpp"
#include "shm/writer/token.hpp"

#include <edgekey/edgekey.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace edgekey::fuzz {

// Which of the allow-listed networks an address belongs to (bit per range).
enum : uint8_t { kNet10 = 1, kNetDoc6 = 2, kNet192 = 4 };

// The request values a target picks from (by index, from input bytes).
struct RequestValues {
  std::array<const char *, 8> permission = {nullptr, "", "chat:write", "agents:read", "agents:write",
                                            "logs:read", "billing:manage", "chat:writ"};
  std::array<const char *, 4> env = {nullptr, "live", "test", "prod"};
  std::array<const char *, 8> origin = {nullptr, "", "https://app.example", "HTTPS://APP.EXAMPLE",
                                        "https://a.example", "https://b.example",
                                        "https://evil.example", "null"};
  std::array<const char *, 8> ip = {nullptr, "10.1.2.3", "2001:db8::1", "::ffff:10.0.0.1",
                                    "192.0.2.55", "203.0.113.9", "not-an-ip", "10.0.0.1:80"};
  // The networks of each `ip` entry (unparseable ones are in none).
  std::array<uint8_t, 8> ip_nets = {0, kNet10, kNetDoc6, kNet10, kNet192, 0, 0, 0};
};
inline const RequestValues kRequestValues;

// Indexes into kRequestValues; 0 everywhere = a request with no fields.
struct RequestPick {
  uint8_t permission = 0, env = 0, origin = 0, ip = 0;
  ek_request to_request(const char *authorization) const {
    const RequestValues &v = kRequestValues;
    return ek_request{authorization, v.permission[permission % 8], v.ip[ip % 8],
                      v.origin[origin % 8], v.env[env % 4]};
  }
};

inline const std::vector<std::string> kPermissions = {"chat:write", "agents:read", "agents:write",
                                                      "logs:read"};
inline const std::vector<std::string> kRoles = {"developer", "owner", "viewer"};

struct FuzzKey {
  std::string token;
  shm::TableRecord rec;
  std::vector<std::string> origins;  // lower case, as the model compares them
  uint8_t nets = 0;                  // kNet* of rec.cidrs
};

// "ek_<type_env>_" + 31 'Z' + `tag` + the checksum: a valid token per tag.
inline std::string make_token(std::string_view type_env, char tag) {
  std::string t = "ek_" + std::string(type_env) + "_" + std::string(shm::kBodyLen - 1, 'Z') + tag;
  char check[shm::kCheckLen];
  shm::token_check(t, check);
  return t.append(check, shm::kCheckLen);
}

inline const std::vector<FuzzKey> &fuzz_keys() {
  static const std::vector<FuzzKey> keys = [] {
    std::vector<FuzzKey> ks;
    auto add = [&](std::string token, std::string id, uint8_t type, uint8_t env, uint64_t perms) {
      FuzzKey k;
      k.token = std::move(token);
      shm::TokenHasher().hash(k.token, k.rec.hash.data());
      k.rec.key_id = std::move(id);
      k.rec.workspace = "ws_fuzz";
      k.rec.type = type;
      k.rec.env = env;
      k.rec.perms = perms;
      ks.push_back(std::move(k));
      return &ks.back();
    };
    auto cidr = [](const char *text) {
      shm::Cidr c;
      if (!shm::parse_cidr(text, c)) std::abort();
      return c;
    };
    add(make_token("sk_live", 'a'), "key_plain", EK_TYPE_SECRET, EK_ENV_LIVE, 0b0011);
    FuzzKey *k = add(make_token("pk_live", 'b'), "key_pub", EK_TYPE_PUBLISHABLE, EK_ENV_LIVE, 0b0001);
    k->rec.origins = {"https://app.example"};
    k = add(make_token("sk_test", 'c'), "key_cidr", EK_TYPE_SECRET, EK_ENV_TEST, 0b1111);
    k->rec.role = 1;
    k->rec.cidrs = {cidr("10.0.0.0/8"), cidr("2001:db8::/32")};
    k->nets = kNet10 | kNetDoc6;
    add(make_token("sk_live", 'd'), "key_revoked", EK_TYPE_SECRET, EK_ENV_LIVE, 0b0001)->rec.revoked = true;
    add(make_token("sk_live", 'e'), "key_expired", EK_TYPE_SECRET, EK_ENV_LIVE, 0b0001)->rec.expires_at = 1;
    add(make_token("sk_live", 'f'), "key_region", EK_TYPE_SECRET, EK_ENV_LIVE, 0b0001)->rec.wrong_region = true;
    k = add("legacy-Token_0123456789.abcdef", "key_legacy", EK_TYPE_SECRET, EK_ENV_TEST, 0b0110);
    k->rec.role = 2;
    // Ids too long to be inline (arena), both allow-lists, an expiry far ahead.
    k = add(make_token("sk_live", 'g'), "key_" + std::string(43, 'L'), EK_TYPE_SECRET, EK_ENV_LIVE, 0b1000);
    k->rec.workspace = "ws_" + std::string(44, 'W');
    k->rec.origins = {"https://a.example", "https://B.example"};
    k->rec.cidrs = {cidr("192.0.2.0/24")};
    k->nets = kNet192;
    k->rec.expires_at = 4102444800;  // 2100-01-01
    for (FuzzKey &key : ks)
      for (const std::string &o : key.rec.origins) {
        std::string lower = o;
        for (char &c : lower) c = (c >= 'A' && c <= 'Z') ? char(c | 0x20) : c;
        key.origins.push_back(lower);
      }
    return ks;
  }();
  return keys;
}

// The key whose token is exactly `token`, or null.
inline const FuzzKey *find_key(std::string_view token) {
  for (const FuzzKey &k : fuzz_keys())
    if (k.token == token) return &k;
  return nullptr;
}

// docs/design.md "Validation", in the library's documented order, for a key of
// this table found by its token and a request built by RequestPick.
inline int model_code(const FuzzKey &k, const RequestPick &p) {
  const RequestValues &v = kRequestValues;
  const shm::TableRecord &r = k.rec;
  if (r.revoked) return EK_CODE_REVOKED_KEY;
  if (r.expires_at != 0 && r.expires_at <= int64_t(time(nullptr))) return EK_CODE_EXPIRED_KEY;
  if (r.wrong_region) return EK_CODE_WRONG_REGION;
  if (const char *env = v.env[p.env % 4]; env && *env) {
    const int want = std::strcmp(env, "live") == 0 ? EK_ENV_LIVE : std::strcmp(env, "test") == 0 ? EK_ENV_TEST : -1;
    if (want != r.env) return EK_CODE_WRONG_ENV;
  }
  if (!k.origins.empty() || r.type == EK_TYPE_PUBLISHABLE) {
    const char *origin = v.origin[p.origin % 8];
    if (!origin || !*origin) return EK_CODE_ORIGIN_NOT_ALLOWED;
    std::string lower = origin;
    for (char &c : lower) c = (c >= 'A' && c <= 'Z') ? char(c | 0x20) : c;
    bool listed = false;
    for (const std::string &o : k.origins) listed = listed || o == lower;
    if (!listed) return EK_CODE_ORIGIN_NOT_ALLOWED;
  }
  if (k.nets != 0 && !(k.nets & v.ip_nets[p.ip % 8])) return EK_CODE_IP_NOT_ALLOWED;
  if (const char *perm = v.permission[p.permission % 8]; perm && *perm) {
    int bit = -1;
    for (size_t i = 0; i < kPermissions.size(); ++i)
      if (kPermissions[i] == perm) bit = int(i);
    if (bit < 0 || !((r.perms >> bit) & 1)) return EK_CODE_INSUFFICIENT_PERMISSION;
  }
  return EK_CODE_OK;
}

// The fixed fields of an answer that found a key, as the model expects them.
inline bool key_fields_match(const FuzzKey &k, const ek_result &res) {
  return k.rec.key_id == res.key_id && k.rec.workspace == res.workspace &&
         kRoles[k.rec.role] == res.role && res.type == k.rec.type && res.env == k.rec.env &&
         res.expires_at == k.rec.expires_at;
}

// The well-formedness every answer must have, whatever the input: a code of
// the enum, its status, and NUL-terminated key fields.
inline bool answer_well_formed(const ek_result &res) {
  return res.code >= 0 && res.code < EK_CODE_COUNT_ && res.status == ek_code_status(res.code) &&
         memchr(res.key_id, 0, sizeof res.key_id) && memchr(res.workspace, 0, sizeof res.workspace) &&
         memchr(res.role, 0, sizeof res.role);
}

// Prints what broke and aborts, so libFuzzer saves the input as a crash.
[[noreturn]] inline void fail(const char *what, const std::string &detail = {}) {
  std::fprintf(stderr, "fuzz property violated: %s%s%s\n", what, detail.empty() ? "" : ": ",
               detail.c_str());
  std::abort();
}

inline std::string table_name(const char *tag) {
  return std::string("ekfuzz-") + tag + "-" + std::to_string(getpid());
}

inline shm::TableOptions table_options(const std::string &name, bool legacy) {
  shm::TableOptions o;
  o.name = name;
  o.capacity = 64;
  o.key_prefix = "ek";
  o.legacy_tokens = legacy;
  o.permissions = kPermissions;
  o.roles = kRoles;
  return o;
}

// Creates table `name` holding fuzz_keys(). Aborts with a message if a key is
// refused (the fixture itself is wrong).
inline void build_table(const std::string &name, bool legacy) {
  shm::TableWriter::destroy(name);
  shm::TableWriter w(table_options(name, legacy));
  std::vector<shm::TableRecord> recs;
  for (const FuzzKey &k : fuzz_keys()) recs.push_back(k.rec);
  std::vector<size_t> rejected;
  w.load(recs, &rejected);
  if (!rejected.empty()) fail("fuzz table: a key was refused", fuzz_keys()[rejected[0]].rec.key_id);
}

// Table "ekfuzz-<tag>-<pid>" holding fuzz_keys(): open what is needed, then
// unlink() (the destructor does it too).
struct FuzzTable {
  std::string name;
  FuzzTable(const char *tag, bool legacy) : name(table_name(tag)) { build_table(name, legacy); }
  ~FuzzTable() { unlink(); }
  FuzzTable(const FuzzTable &) = delete;
  FuzzTable &operator=(const FuzzTable &) = delete;
  void unlink() const { shm::TableWriter::destroy(name); }
};

// A validator on a new table of fuzz_keys(), whose segments are already
// unlinked (the validator keeps its mapping).
inline ek_validator *open_and_unlink(const char *tag, bool legacy) {
  FuzzTable t(tag, legacy);
  ek_validator *v = nullptr;
  const int rc = ek_open(t.name.c_str(), &v);
  if (rc != 0) fail("fuzz table: ek_open failed", ek_strerror(rc));
  return v;
}

}  // namespace edgekey::fuzz
