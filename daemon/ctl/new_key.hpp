// new_key.hpp -- the parts of a new key: its id, its token and the token's
// hash, its expiry, and the config's rules a record must satisfy before
// edgekeyctl writes it.
#pragma once

#include "daemon/config/config.hpp"
#include "shm/writer/hasher.hpp"
#include "sync/record/key_record.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace edgekey::ctl {

// "key_" + 10 base62 characters drawn uniformly from OpenSSL RAND_bytes
// (about 59 bits). Throws std::runtime_error if the RNG fails.
std::string new_key_id();

// A new_key_id() that no record in `existing` has.
std::string unique_key_id(const std::vector<sync::KeyRecord> &existing);

// A token and the hash text stored in its record.
struct MintedToken {
  std::string token;  // shown once, never stored
  std::string hash;   // "sha256:<hex>" or "hmac-sha256:<hex>"
};

// Mints tokens the way the config says: key_prefix, and SHA-256 or
// HMAC-SHA-256 with the pepper of `pepper_file`.
class TokenMinter {
 public:
  // Throws CtlError(kExitUsage) naming the pepper file when it is unusable.
  explicit TokenMinter(const daemon::Config &cfg);
  // Throws std::runtime_error if the RNG fails.
  MintedToken mint(sync::KeyType type, sync::KeyEnv env) const;
  // The record hash text of `token` under this config.
  std::string hash_text(std::string_view token) const;

 private:
  std::string prefix_;
  sync::HashScheme scheme_;
  shm::TokenHasher hasher_;
};

// --expires: a duration from `now` ("90d", "24h"; at least 1s), an RFC 3339
// time ("2027-01-31T00:00:00Z", "…+05:30"), or a UTC date ("2027-01-31").
// Returns unix seconds, later than `now`. Throws CtlError(kExitUsage) naming
// `flag` (e.g. "--expires").
int64_t parse_expiry(std::string_view text, int64_t now, std::string_view flag);

// A duration flag of at least `min_seconds` (e.g. --grace), rounded up to
// whole seconds. Throws CtlError(kExitUsage) naming `flag`.
int64_t parse_seconds(std::string_view text, std::string_view flag, int64_t min_seconds);

// Refuses (CtlError(kExitUsage), one line naming the flag or value and the
// config file) a record edgekeyctl is about to create: a role the config does
// not define; a scope that is not a declared permission, or (publishable key)
// outside `publishable`; a publishable key without an allowed origin; and
// anything sync::validate_record() rejects (bad origin, CIDR, workspace, …).
void check_new_record(const sync::KeyRecord &r, const daemon::Config &cfg);

// "a, b, c" (for "roles: …" hints).
std::string join(const std::vector<std::string> &items, std::string_view sep = ", ");

}  // namespace edgekey::ctl
