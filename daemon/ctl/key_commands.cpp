#include "daemon/ctl/key_commands.hpp"

#include "daemon/config/duration.hpp"
#include "daemon/ctl/errors.hpp"
#include "daemon/ctl/nats_key_repository.hpp"
#include "daemon/ctl/new_key.hpp"
#include "daemon/ctl/output.hpp"
#include "daemon/ctl/socket_client.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <optional>

namespace edgekey::ctl {
namespace {

// Unreadable entries are reported, never hidden, on every command.
void warn_unreadable(const Context &ctx, const KeyRepository &store) {
  for (const auto &line : store.unreadable()) ctx.err << "edgekeyctl: warning: skipped " << printable(line) << '\n';
}

CtlError not_found(const KeyRepository &store, const std::string &id) {
  return CtlError(kExitNotFound, "no key with id " + sync::quote_for_error(id) + " in the " + store.where() +
                                     " (see `edgekeyctl keys list --all`)");
}

// Prints a freshly minted key: the only place a token is ever shown.
void print_new_key(const Context &ctx, const sync::KeyRecord &r, const std::string &token,
                   const sync::KeyRecord *previous) {
  if (ctx.json) {
    nlohmann::ordered_json j = {{"id", r.id}, {"token", token}, {"record", record_json(r)}};
    if (previous) j["previous"] = record_json(*previous);
    print_json(ctx.out, j);
    if (!ctx.out.flush())
      throw CtlError(kExitUsage, "key " + r.id + " was created but its token could not be written to standard "
                                 "output; revoke it (edgekeyctl keys revoke " + r.id + ") and create another");
    return;
  }
  ctx.out << "id:    " << r.id << '\n' << "token: " << token << '\n';
  if (!ctx.out.flush())
    throw CtlError(kExitUsage, "key " + r.id + " was created but its token could not be written to standard output; "
                               "revoke it (edgekeyctl keys revoke " + r.id + ") and create another");
  ctx.err << "edgekeyctl: this token is shown once and is not stored anywhere (the keyset holds only its hash): "
             "copy it now\n";
}

nlohmann::ordered_json time_json(int64_t t) {
  return t ? nlohmann::ordered_json(sync::format_time(t)) : nlohmann::ordered_json();
}

// last_used_at (null = never) and uses_last_day when the usage was read;
// across regions (NATS) also where the last use was and each region's.
void add_use_json(nlohmann::ordered_json &j, const std::map<std::string, KeyUseInfo> *use, const std::string &id,
                  bool across_regions) {
  if (!use) return;
  auto it = use->find(id);
  const KeyUseInfo none;
  const KeyUseInfo &u = it == use->end() ? none : it->second;
  j["last_used_at"] = time_json(u.last_used);
  j["uses_last_day"] = u.uses_last_day;
  if (!across_regions) return;
  j["last_used_region"] = u.region.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(u.region);
  nlohmann::ordered_json regions = nlohmann::ordered_json::array();
  for (const RegionUse &r : u.regions)
    regions.push_back({{"region", r.region},
                       {"last_used_at", time_json(r.last_used)},
                       {"uses_last_day", r.uses_last_day},
                       {"hosts", r.hosts}});
  j["regions"] = std::move(regions);
}

// The usage bucket's entries folded per key: each region's latest use (the
// latest of its hosts) and its hosts' uses over the last day as each last
// reported them (a host that reported more than a day ago adds none).
std::map<std::string, KeyUseInfo> fold_regions(const std::vector<sync::UsageEntry> &entries, int64_t now) {
  std::map<std::string, std::map<std::string, RegionUse>> by_key;
  for (const sync::UsageEntry &e : entries) {
    RegionUse &r = by_key[e.id][e.region];
    r.region = e.region;
    r.last_used = std::max(r.last_used, e.last_used);
    if (e.reported_at > now - 86400) r.uses_last_day += e.uses_last_day;
    ++r.hosts;
  }
  std::map<std::string, KeyUseInfo> out;
  for (auto &[id, regions] : by_key) {
    KeyUseInfo &k = out[id];
    for (auto &[name, r] : regions) {
      k.uses_last_day += r.uses_last_day;
      if (r.last_used > k.last_used) {
        k.last_used = r.last_used;
        k.region = r.region;
      }
      k.regions.push_back(std::move(r));
    }
    std::stable_sort(k.regions.begin(), k.regions.end(),
                     [](const RegionUse &a, const RegionUse &b) { return a.last_used > b.last_used; });
  }
  return out;
}

// Every key's use: with the NATS upstream across regions, from the origin's
// usage bucket (only key `only`'s entries when given); else on this host,
// from edgekeyd (GET /v1/usage). nullopt, with a note, when that cannot be
// read. `required`: that is an error.
std::optional<std::map<std::string, KeyUseInfo>> fetch_use(const Context &ctx, KeyRepository &store, bool required,
                                                           std::string_view only = {}) {
  if (auto *nats = dynamic_cast<NatsKeyRepository *>(&store)) {
    try {
      const std::vector<sync::UsageEntry> entries = nats->usage(only);
      for (const auto &line : nats->unreadable_usage())
        ctx.err << "edgekeyctl: warning: skipped " << printable(line) << '\n';
      return fold_regions(entries, ctx.now);
    } catch (const CtlError &e) {
      if (required) throw CtlError(e.code, std::string("cannot tell when keys were last used: ") + e.what());
      ctx.err << "edgekeyctl: note: last use unknown: " << printable(e.what()) << '\n';
      return std::nullopt;
    }
  }
  std::string why;
  try {
    const HttpResponse r = unix_http_get(ctx.cfg.socket.path, "/v1/usage", {}, std::chrono::seconds(5));
    if (r.status == 200) {
      std::map<std::string, KeyUseInfo> out;
      const auto j = nlohmann::json::parse(r.body);
      for (const auto &[id, u] : j.at("keys").items()) {
        KeyUseInfo k;
        int64_t t = 0;
        if (u.at("last_used_at").is_string() && sync::parse_time(u["last_used_at"].get<std::string>(), t))
          k.last_used = t;
        k.uses_last_day = u.value("uses_last_day", uint64_t(0));
        out[id] = k;
      }
      return out;
    }
    why = "edgekeyd answered " + std::to_string(r.status) + " to /v1/usage (an older edgekeyd?)";
  } catch (const CtlError &e) {
    why = e.what();
  } catch (const std::exception &e) {
    why = std::string("edgekeyd's /v1/usage did not parse: ") + e.what();
  }
  if (required) throw CtlError(kExitUnavailable, "cannot tell when keys were last used: " + why);
  ctx.err << "edgekeyctl: note: last use unknown: " << printable(why) << '\n';
  return std::nullopt;
}

}  // namespace

int keys_create(const Context &ctx, KeyRepository &store, const CreateArgs &a) {
  sync::KeyRecord r;
  if (!sync::parse_key_type(a.type, r.type))
    throw CtlError(kExitUsage, "--type " + sync::quote_for_error(a.type) + ": expected secret or publishable");
  if (!sync::parse_key_env(a.env, r.env))
    throw CtlError(kExitUsage, "--env " + sync::quote_for_error(a.env) + ": expected live or test");
  r.workspace = a.workspace;
  r.name = a.name;
  r.role = a.role;
  r.scopes = a.scopes;
  r.regions = a.regions;
  r.allowed_origins = a.origins;
  r.allowed_cidrs = a.cidrs;
  r.created_at = ctx.now;
  if (!a.expires.empty()) r.expires_at = parse_expiry(a.expires, ctx.now, "--expires");
  r.status = sync::KeyStatus::Active;

  const TokenMinter minter(ctx.cfg);
  const MintedToken minted = minter.mint(r.type, r.env);
  r.hash = minted.hash;
  r.id = new_key_id();  // provisional, for the checks; made unique below
  check_new_record(r, ctx.cfg);

  store.update_by_id([&](const KeyRepository::Lookup &current) {
    r.id = unused_key_id(current);  // the last call's id is the one written
    return std::vector<sync::KeyRecord>{r};
  });
  warn_unreadable(ctx, store);
  print_new_key(ctx, r, minted.token, nullptr);
  return kExitOk;
}

int keys_list(const Context &ctx, KeyRepository &store, const ListArgs &a) {
  std::optional<std::chrono::milliseconds> unused;
  if (!a.unused_since.empty() && !(unused = daemon::parse_duration(a.unused_since)))
    throw CtlError(kExitUsage, "--unused-since: expected a duration such as 90d, 24h or 30m, got " +
                                   sync::quote_for_error(a.unused_since));
  std::vector<sync::KeyRecord> keys = store.list();
  warn_unreadable(ctx, store);
  const auto use = fetch_use(ctx, store, unused.has_value());
  const bool across = ctx.cfg.upstream.kind == daemon::UpstreamKind::Nats;
  // Unused since `cut`: last used before it, or never used and created before it.
  const int64_t cut = unused ? ctx.now - int64_t(unused->count() / 1000) : 0;
  auto used_since_cut = [&](const sync::KeyRecord &r) {
    auto it = use->find(r.id);
    const int64_t last = it == use->end() ? 0 : it->second.last_used;
    return (last ? last : r.created_at.value_or(0)) >= cut;
  };
  std::erase_if(keys, [&](const sync::KeyRecord &r) {
    return (!a.workspace.empty() && r.workspace != a.workspace) ||
           (!a.all && std::string_view(key_state(r, ctx.now)) != "active") || (unused && used_since_cut(r));
  });
  std::stable_sort(keys.begin(), keys.end(), [](const sync::KeyRecord &x, const sync::KeyRecord &y) {
    if (x.workspace != y.workspace) return x.workspace < y.workspace;
    return x.created_at.value_or(0) < y.created_at.value_or(0);
  });
  if (ctx.json) {
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (const auto &r : keys) {
      nlohmann::ordered_json j = record_json(r);
      add_use_json(j, use ? &*use : nullptr, r.id, across);
      arr.push_back(std::move(j));
    }
    print_json(ctx.out, {{"keys", arr}});
  } else {
    print_key_table(ctx.out, keys, ctx.now, use ? &*use : nullptr);
  }
  return kExitOk;
}

int keys_show(const Context &ctx, KeyRepository &store, const std::string &id) {
  const auto r = store.get(id);
  warn_unreadable(ctx, store);
  if (!r) throw not_found(store, id);
  const bool across = ctx.cfg.upstream.kind == daemon::UpstreamKind::Nats;
  const auto use = fetch_use(ctx, store, false, id);
  if (ctx.json) {
    nlohmann::ordered_json j = record_json(*r);
    add_use_json(j, use ? &*use : nullptr, id, across);
    print_json(ctx.out, j);
  } else {
    print_record(ctx.out, *r, ctx.now);
    const KeyUseInfo *u = nullptr;
    if (use)
      if (auto it = use->find(id); it != use->end()) u = &it->second;
    const std::string where = u && !u->region.empty() ? " (" + printable(u->region) + ")" : "";
    ctx.out << "last_used_at:    "
            << (!use ? (across ? "? (the usage bucket is unreadable)" : "? (edgekeyd unreachable)")
                : u && u->last_used ? sync::format_time(u->last_used) + where
                                    : "never")
            << "\nuses_last_day:   " << (!use ? "?" : std::to_string(u ? u->uses_last_day : 0))
            << (across && use ? " (every region)" : "") << '\n';
    if (u && !u->regions.empty()) {
      ctx.out << "by region:\n";
      for (const RegionUse &reg : u->regions) {
        const std::string label = "  " + printable(reg.region) + ':';
        ctx.out << label << std::string(label.size() < 17 ? 17 - label.size() : 1, ' ')
                << sync::format_time(reg.last_used) << ", " << reg.uses_last_day << " uses in the last day ("
                << reg.hosts << (reg.hosts == 1 ? " host)" : " hosts)") << '\n';
      }
    }
  }
  return kExitOk;
}

int keys_revoke(const Context &ctx, KeyRepository &store, const std::string &id) {
  std::optional<sync::KeyRecord> result;
  bool already = false;
  store.update_by_id([&](const KeyRepository::Lookup &current) {
    const std::optional<sync::KeyRecord> old = current.find(id);
    if (!old) throw not_found(store, id);
    result = *old;
    already = old->status == sync::KeyStatus::Revoked;
    if (already) return std::vector<sync::KeyRecord>{};
    result->status = sync::KeyStatus::Revoked;
    result->revoked_at = ctx.now;
    return std::vector<sync::KeyRecord>{*result};
  });
  if (ctx.json) {
    print_json(ctx.out, {{"id", id}, {"already_revoked", already}, {"record", record_json(*result)}});
  } else if (already) {
    ctx.out << id << " was already revoked"
            << (result->revoked_at ? " at " + sync::format_time(*result->revoked_at) : std::string()) << '\n';
  } else {
    ctx.out << "revoked " << id << " at " << sync::format_time(ctx.now) << '\n';
  }
  return kExitOk;
}

int keys_rotate(const Context &ctx, KeyRepository &store, const RotateArgs &a) {
  const int64_t grace = parse_seconds(a.grace, "--grace", 0);
  if (grace > sync::kMaxUnixTime - ctx.now) throw CtlError(kExitUsage, "--grace " + a.grace + ": ends after year 9999");
  std::optional<int64_t> new_expiry;
  if (!a.expires.empty()) new_expiry = parse_expiry(a.expires, ctx.now, "--expires");

  const TokenMinter minter(ctx.cfg);
  std::optional<MintedToken> minted;
  sync::KeyRecord fresh, previous;
  store.update_by_id([&](const KeyRepository::Lookup &current) {
    const std::optional<sync::KeyRecord> old = current.find(a.id);
    if (!old) throw not_found(store, a.id);
    if (old->status == sync::KeyStatus::Revoked)
      throw CtlError(kExitUsage, "key " + a.id + " is revoked and cannot be rotated; create a new key with "
                                 "`edgekeyctl keys create`");
    if (!minted) minted = minter.mint(old->type, old->env);
    fresh = sync::KeyRecord{};
    fresh.id = unused_key_id(current);
    fresh.hash = minted->hash;
    fresh.workspace = old->workspace;
    fresh.name = old->name;
    fresh.type = old->type;
    fresh.env = old->env;
    fresh.role = old->role;
    fresh.scopes = old->scopes;
    fresh.regions = old->regions;
    fresh.allowed_origins = old->allowed_origins;
    fresh.allowed_cidrs = old->allowed_cidrs;
    fresh.created_at = ctx.now;
    fresh.expires_at = new_expiry;
    fresh.status = sync::KeyStatus::Active;
    fresh.rotated_from = old->id;
    check_new_record(fresh, ctx.cfg);
    previous = *old;
    const int64_t until = ctx.now + grace;
    if (!previous.expires_at || *previous.expires_at > until) previous.expires_at = until;
    return std::vector<sync::KeyRecord>{previous, fresh};
  });
  warn_unreadable(ctx, store);
  print_new_key(ctx, fresh, minted->token, &previous);
  if (!ctx.json)
    ctx.out << "old:   " << previous.id << " keeps working until " << sync::format_time(*previous.expires_at) << '\n';
  return kExitOk;
}

}  // namespace edgekey::ctl
