// key_record.hpp -- one key as the upstream (keyset file, NATS bucket) holds
// it: the key record of docs/design.md, its validation rules and its text forms.
//
// The record never holds a token, only its hash. Timestamps are unix seconds
// here and RFC 3339 UTC text ("2026-11-22T10:00:00Z") in files and JSON.
#pragma once

#include "shm/writer/limits.hpp"

#include "sync/record/expected.hpp"

#include <edgekey/edgekey.h>

#include <array>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edgekey::sync {

// Values equal the C API's ek_key_type / ek_env, so they cast to the table's.
enum class KeyType : uint8_t { Secret = EK_TYPE_SECRET, Publishable = EK_TYPE_PUBLISHABLE };
enum class KeyEnv : uint8_t { Live = EK_ENV_LIVE, Test = EK_ENV_TEST };
using shm::KeyStatus;  // active | revoked, as the table stores it

// Wire names: "secret"/"publishable", "live"/"test", "active"/"revoked".
const char *key_type_name(KeyType t);
const char *key_env_name(KeyEnv e);
const char *key_status_name(KeyStatus s);
// Exact (case-sensitive) wire names; false for anything else.
bool parse_key_type(std::string_view text, KeyType &out);
bool parse_key_env(std::string_view text, KeyEnv &out);
bool parse_key_status(std::string_view text, KeyStatus &out);

// A key record. Required in every text form: id, hash, workspace, type, env,
// role, status. Everything else may be absent (empty / nullopt).
// A record that passed validate_record() satisfies every rule listed there.
struct KeyRecord {
  std::string id;         // 1..47 bytes, no control characters ("key_" prefix customary)
  std::string hash;       // "sha256:<64 hex>" or "hmac-sha256:<64 hex>", lowercase after decode
  std::string workspace;  // 1..47 bytes, no control characters
  std::string name;       // free text without control characters; empty = none
  KeyType type = KeyType::Secret;
  KeyEnv env = KeyEnv::Live;
  std::string role;                          // 1..31 bytes; resolved against the config
  std::vector<std::string> scopes;           // permission names added to the role's
  std::vector<std::string> regions;          // empty = every region
  std::vector<std::string> allowed_origins;  // "scheme://host[:port]"; >= 1 for publishable
  std::vector<std::string> allowed_cidrs;    // IPv4 / IPv6 CIDRs or bare addresses
  std::optional<int64_t> created_at;         // unix s
  std::optional<int64_t> expires_at;         // unix s, > 0; nullopt = never
  KeyStatus status = KeyStatus::Active;
  std::optional<int64_t> revoked_at;         // unix s
  std::string rotated_from;                  // id of the key this one replaced; empty = none
  std::optional<int64_t> origin_written_at;  // unix ms, stamped by the origin (latency only)

  bool operator==(const KeyRecord &) const = default;
};

using shm::kMaxIdLen;                           // key_id and workspace (ek_result char[48])
inline constexpr size_t kMaxRoleLen = shm::kMaxNameLen;  // ek_result role[32]
inline constexpr int64_t kMaxUnixTime = 253402300799;  // 9999-12-31T23:59:59Z

// A rule a record breaks: the field's wire name, what was expected and what
// was found ("expected \"secret\" or \"publishable\", got \"admin\""), and the
// 1-based line of the field in its file (0 = not from a file, or unknown).
struct FieldError {
  std::string field;
  std::string what;
  int line = 0;
};

// Checks every rule of a key record: every text field well-formed UTF-8
// without control characters; id and workspace 1..47 bytes; hash parses
// (parse_record_hash); type, env, status inside their enums; role 1..31
// bytes; scopes and regions non-empty strings; every origin passes
// check_origin and every CIDR parses, at most 256 of each; a publishable key
// has >= 1 origin; expires_at > 0 and every timestamp within 1970..9999;
// rotated_from empty or id-like; origin_written_at >= 0. nullopt = valid.
std::optional<FieldError> validate_record(const KeyRecord &r);

using shm::HashScheme;  // sha256 | hmac-sha256, as the table records it

// A record that satisfies every rule of validate_record(), with its hash
// text canonical (lowercase hex) and parsed. Only validation makes one
// (check(), validate(), and the decoders, which return it), so a function
// taking a ValidRecord never checks the rules again.
class ValidRecord {
 public:
  // Validates `r` (validate_record's rules, the hash parsed once) and moves
  // it in. On a broken rule, nullopt and `why`, and `r` is left as it was.
  static std::optional<ValidRecord> check(KeyRecord &&r, FieldError &why);

  const KeyRecord &record() const { return r_; }
  const std::array<uint8_t, 32> &hash() const { return hash_; }  // the hash text's bytes
  HashScheme scheme() const { return scheme_; }
  KeyRecord take() && { return std::move(r_); }
  // A ValidRecord is a KeyRecord (the other way round takes validation).
  operator const KeyRecord &() const & { return r_; }
  operator KeyRecord() && { return std::move(r_); }
  bool operator==(const ValidRecord &) const = default;

 private:
  friend Expected<ValidRecord> validate(KeyRecord &&r);
  friend class ValidRecords;
  ValidRecord() = default;
  std::optional<FieldError> adopt(KeyRecord &r);  // r moves in when it passes
  KeyRecord r_;
  std::array<uint8_t, 32> hash_{};
  HashScheme scheme_{};
};

// ValidRecord::check with the error as one line (format_record_error).
Expected<ValidRecord> validate(KeyRecord &&r);

// ValidRecords in order, kept as two vectors side by side: the records and
// their parsed hashes (what KeyStore::build takes), so a whole keyset goes
// from its reader to the store without a second check or a second copy.
// Only ValidRecords go in; read as a list of KeyRecords.
class ValidRecords {
 public:
  using value_type = KeyRecord;
  using iterator = std::vector<KeyRecord>::const_iterator;
  using const_iterator = iterator;

  size_t size() const { return records_.size(); }
  bool empty() const { return records_.empty(); }
  void reserve(size_t n) {
    records_.reserve(n);
    hashes_.reserve(n);
  }
  void push_back(ValidRecord &&v) {
    records_.push_back(std::move(v.r_));
    hashes_.push_back(v.hash_);
  }
  // Moves other's records in after these, leaving other empty.
  void append(ValidRecords &&other) {
    records_.insert(records_.end(), std::make_move_iterator(other.records_.begin()),
                    std::make_move_iterator(other.records_.end()));
    hashes_.insert(hashes_.end(), other.hashes_.begin(), other.hashes_.end());
    other.records_.clear();
    other.hashes_.clear();
  }
  const KeyRecord &operator[](size_t i) const { return records_[i]; }
  const std::array<uint8_t, 32> &hash(size_t i) const { return hashes_[i]; }  // records[i]'s, parsed
  const std::vector<std::array<uint8_t, 32>> &hashes() const { return hashes_; }  // hash(i) for each i
  iterator begin() const { return records_.begin(); }
  iterator end() const { return records_.end(); }

  // Calls keep(ValidRecord &) for each record in order and keeps, in order,
  // those it returns true for; keep may move from a record it drops.
  template <class Keep>
  void keep_if(Keep &&keep) {
    size_t kept = 0;
    ValidRecord v;
    for (size_t i = 0; i < records_.size(); ++i) {
      v.r_ = std::move(records_[i]);
      v.hash_ = hashes_[i];
      v.scheme_ = v.r_.hash[0] == 'h' ? HashScheme::HmacSha256 : HashScheme::Sha256;  // canonical text
      if (!keep(v)) continue;
      records_[kept] = std::move(v.r_);
      hashes_[kept++] = v.hash_;
    }
    records_.resize(kept);
    hashes_.resize(kept);
  }

  // Hands the records and their hashes over, leaving this empty.
  void release(std::vector<KeyRecord> &records, std::vector<std::array<uint8_t, 32>> &hashes) && {
    records = std::move(records_);
    hashes = std::move(hashes_);
    records_.clear();
    hashes_.clear();
  }
  // The records as plain KeyRecords (to change them, or to write them).
  operator const std::vector<KeyRecord> &() const & { return records_; }
  operator std::vector<KeyRecord>() && { return std::move(records_); }

  bool operator==(const ValidRecords &) const = default;
  friend bool operator==(const ValidRecords &a, const std::vector<KeyRecord> &b) { return a.records_ == b; }

 private:
  std::vector<KeyRecord> records_;
  std::vector<std::array<uint8_t, 32>> hashes_;
};

// The record work done on the calling thread since it started: whole-record
// rule checks (validate_record, ValidRecord::check, validate) and hash texts
// parsed (parse_record_hash, once more inside each rule check). Tests count
// what a path costs per record; a thread-local increment costs nothing.
struct RecordWork {
  uint64_t validations = 0;
  uint64_t hash_parses = 0;
};
RecordWork record_work();

// One log line: `key <id>: field "<field>": <what>`; `key record: …` when the
// id is empty. The id is truncated and stripped of control characters.
std::string format_record_error(std::string_view id, const FieldError &e);

// Quotes a value for an error message: at most 64 bytes, control characters
// replaced by '?'.
std::string quote_for_error(std::string_view text);

// "sha256:<64 hex>" or "hmac-sha256:<64 hex>" (hex of either case); anything
// else, including bare hex, is false.
bool parse_record_hash(std::string_view text, std::array<uint8_t, 32> &out,
                       HashScheme *scheme = nullptr);
// The canonical text: scheme prefix and lowercase hex.
std::string format_record_hash(const std::array<uint8_t, 32> &hash, HashScheme scheme);

// RFC 3339 time -> unix seconds. Accepts "YYYY-MM-DDTHH:MM:SS" with optional
// fraction (truncated) and "Z" or a "+hh:mm"/"-hh:mm" offset; the result must
// lie within 1970-01-01T00:00:00Z..9999-12-31T23:59:59Z.
bool parse_time(std::string_view text, int64_t &out);
// unix seconds (0..kMaxUnixTime) -> "2026-11-22T10:00:00Z".
std::string format_time(int64_t unix_s);

// An allow-listed Origin as browsers send it: "scheme://host[:port]" with an
// ASCII host name, IPv4 or bracketed IPv6 literal, port 1..65535, and no
// user info, path (not even "/"), query or fragment; at most 1024 bytes.
// On false, *why (if given) says what is wrong.
bool check_origin(std::string_view origin, std::string *why = nullptr);

}  // namespace edgekey::sync
