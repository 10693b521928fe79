// usage_bucket.hpp -- keys' last use across regions (#19): the origin's
// key-value bucket `usage` (upstream.nats.usage_bucket), one entry per key
// per host that used it, written by each host's edgekeyd
// (daemon/edgekeyd/usage_publisher.hpp) and read by `edgekeyctl keys
// list|show`.
//
// Entry key: "<key id>.<region>.<host>". The region is a config region
// ([a-z0-9-]) and the host is sanitised to [A-Za-z0-9_-], so neither holds a
// dot and the id (a KV key, which may hold dots) is everything before the
// last two. One entry per host, not per region: several hosts of a region
// each have theirs, so none overwrites another's newer use or its day count.
// Value: a small JSON object, key ids and times only, never a token:
//   {"id":"key_…","region":"in-mum","host":"edge-1",
//    "last_used_at":"2026-12-07T05:00:00Z","uses_last_day":12,
//    "reported_at":"2026-12-07T05:00:01Z"}
#pragma once

#include "sync/upstream/nats/nats_client.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace edgekey::sync {

struct UsageEntry {
  std::string id, region, host;
  int64_t last_used = 0;       // unix s
  uint64_t uses_last_day = 0;  // the host's uses of the key in the 24 hours before reported_at
  int64_t reported_at = 0;     // unix s
};

// "<id>.<region>.<host>".
std::string usage_entry_key(const UsageEntry &e);
// Splits an entry key; false when it has fewer than three parts.
bool parse_usage_entry_key(std::string_view key, std::string &id, std::string &region, std::string &host);

std::string encode_usage_value(const UsageEntry &e);
// The value of entry `key`; nullopt with *error set when it does not decode
// or names another key, region or host than its entry key.
std::optional<UsageEntry> decode_usage_value(std::string_view key, std::string_view value, std::string *error);

// This host's name as an entry key part: gethostname with anything outside
// [A-Za-z0-9_-] replaced by '-', at most 64 bytes ("host" if empty).
std::string usage_host_name();

// True when `s` may be a KV key ([A-Za-z0-9_=/.-], dots only between other
// characters, never two in a row).
bool usage_key_safe(std::string_view s);

// The subject a put of entry `key` is published on, as libnats's
// kvStore_Put builds it for a bucket in opts.origin_domain:
// "$JS.<origin_domain>.API.$KV.<bucket>.<key>" ("$KV.<bucket>.<key>" without a domain).
std::string usage_put_subject(const NatsOptions &opts, std::string_view key);

// An entry expires this long after its last put. A key in use is put again
// at every change of its last use (at most once per usage_interval), so only
// entries of keys unused that long, deleted keys and retired hosts go; a key
// whose entries went reads as never used, which `--unused-since` counts
// from its creation: the same answer for any duration up to this one.
inline constexpr int64_t kUsageEntryTtlS = 400 * 86400;

// Creates opts.usage_bucket in opts.origin_domain (history 1, file storage,
// entries expiring after kUsageEntryTtlS): "created", or "exists". Throws
// NatsError.
std::string init_usage_bucket(NatsClient &c, const NatsOptions &opts);

}  // namespace edgekey::sync
