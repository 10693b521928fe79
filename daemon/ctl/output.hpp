// output.hpp -- how edgekeyctl shows records and daemon answers: human text
// (aligned, control characters neutralised) or JSON (one document per
// command, newline-terminated).
#pragma once

#include "sync/record/key_record.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace edgekey::ctl {

// The record as JSON (sync::encode_record_json's fields and order). Holds the
// full hash, never a token (records have none).
nlohmann::ordered_json record_json(const sync::KeyRecord &r);

// Writes `j` compactly, invalid UTF-8 replaced, then a newline.
void print_json(std::ostream &out, const nlohmann::ordered_json &j);

// "active", "revoked", or "expired" (active but expires_at <= now).
const char *key_state(const sync::KeyRecord &r, int64_t now);

// The hash text cut to its scheme and 8 hex digits: "sha256:9f86d081…".
std::string short_hash(std::string_view hash);

// `text` with control characters and DEL replaced by '?', for a terminal.
std::string printable(std::string_view text);

// One "field: value" line per field, aligned; hash shortened.
void print_record(std::ostream &out, const sync::KeyRecord &r, int64_t now);

// A key's use in one region, from the usage bucket (NATS).
struct RegionUse {
  std::string region;
  int64_t last_used = 0;       // unix s: the latest of its hosts
  uint64_t uses_last_day = 0;  // its hosts' uses over the last day, as each last reported them
  size_t hosts = 0;            // hosts that reported a use
};

// A key's use as edgekeyd reports it (GET /v1/usage), or, with the NATS
// upstream, across regions (the usage bucket).
struct KeyUseInfo {
  int64_t last_used = 0;  // unix s, 0 = never used
  uint64_t uses_last_day = 0;
  std::string region;              // where last_used was (NATS); "" = this host's edgekeyd answered
  std::vector<RegionUse> regions;  // NATS: each region that used it, latest use first
};

// A table of id, workspace, type, env, role, state, expiry, last use (and,
// across regions, where) and name; a "no keys" line when empty. `use` null:
// last use unknown ("?").
void print_key_table(std::ostream &out, const std::vector<sync::KeyRecord> &keys, int64_t now,
                     const std::map<std::string, KeyUseInfo> *use = nullptr);

// Any JSON value as indented "key: value" lines (objects nest by two
// spaces, arrays inline when scalar); null shows as "-".
void print_json_tree(std::ostream &out, const nlohmann::ordered_json &j);

}  // namespace edgekey::ctl
