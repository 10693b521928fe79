// key_commands.hpp -- `edgekeyctl keys create|list|show|revoke|rotate`.
//
// Each command returns an exit code (kExitOk) or throws CtlError. Results go
// to ctx.out (human text, or one JSON document with ctx.json); notes and
// warnings to ctx.err. A token appears only in the output of create and
// rotate, once, and is never written to the store.
#pragma once

#include "daemon/ctl/context.hpp"
#include "daemon/ctl/key_repository.hpp"

#include <optional>
#include <string>
#include <vector>

namespace edgekey::ctl {

struct CreateArgs {
  std::string workspace;
  std::string type;  // "secret" | "publishable"
  std::string env;   // "live" | "test"
  std::string role;
  std::vector<std::string> scopes;
  std::vector<std::string> regions;
  std::vector<std::string> origins;
  std::vector<std::string> cidrs;
  std::string expires;  // "" = never; else see parse_expiry()
  std::string name;
};

struct ListArgs {
  std::string workspace;  // "" = every workspace
  bool all = false;       // include revoked and expired keys
  std::string unused_since;  // a duration ("90d"): only keys not used for that long ("" = no filter)
};

struct RotateArgs {
  std::string id;
  std::string grace;    // how long the old key keeps working (a duration, may be 0s)
  std::string expires;  // the new key's expiry; "" = never
};

// Creates a key: prints its id and token (human: two labelled lines, with a
// warning on ctx.err that the token is not stored; JSON:
// {"id","token","record"}).
int keys_create(const Context &ctx, KeyRepository &store, const CreateArgs &a);

// Keys sorted by workspace then creation time; active ones only unless a.all.
// JSON: {"keys":[record…]}.
int keys_list(const Context &ctx, KeyRepository &store, const ListArgs &a);

// One record (hash shortened in human form). CtlError(kExitNotFound) if absent.
int keys_show(const Context &ctx, KeyRepository &store, const std::string &id);

// Marks the key revoked (revoked_at = now). Revoking a revoked key changes
// nothing and succeeds. JSON: {"id","already_revoked","record"}.
int keys_revoke(const Context &ctx, KeyRepository &store, const std::string &id);

// A new key copying the old one's workspace, type, env, role, scopes,
// regions, origins, CIDRs and name, with rotated_from = the old id; the old
// key's expires_at becomes now + grace unless it already expires earlier.
// Both changes are written together. A revoked key cannot be rotated
// (kExitUsage). JSON: {"id","token","record","previous"}.
int keys_rotate(const Context &ctx, KeyRepository &store, const RotateArgs &a);

}  // namespace edgekey::ctl
