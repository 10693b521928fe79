// nats_commands.cpp -- see nats_commands.hpp.
#include "daemon/ctl/nats_commands.hpp"

#include "daemon/ctl/errors.hpp"
#include "daemon/ctl/nats_upstream.hpp"
#include "daemon/ctl/output.hpp"
#include "sync/upstream/nats/nats_streams.hpp"
#include "sync/upstream/nats/usage_bucket.hpp"

#include <algorithm>

namespace edgekey::ctl {
namespace {

bool valid_domain(const std::string &d) {
  return !d.empty() && d.size() <= 64 && std::all_of(d.begin(), d.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// Asks JetStream in the context's domain for the account's info: throws
// CtlError(kExitUnavailable) when nothing answers there, kExitKeysetIo when
// JetStream refuses (e.g. not enabled for this account).
void check_jetstream(jsCtx *js, const sync::NatsOptions &o, const std::string &domain) {
  jsAccountInfo *ai = nullptr;
  jsErrCode err = jsErrCode(0);
  const natsStatus s = js_GetAccountInfo(&ai, js, nullptr, &err);
  if (s == NATS_OK) {
    jsAccountInfo_Destroy(ai);
    return;
  }
  throw nats_failure(s, "asking JetStream in " + domain_text(domain), o, domain, kExitKeysetIo,
                     "check that JetStream is enabled there for this account");
}

// `usage_result`: init-origin's for the usage bucket ("" for init-region).
void print_result(const Context &ctx, const sync::NatsOptions &o, const std::string &domain,
                  const std::string &result, const std::string &human, const std::string &usage_result = "") {
  if (ctx.json) {
    nlohmann::ordered_json servers = nlohmann::ordered_json::array();
    for (const auto &s : o.servers) servers.push_back(s);
    nlohmann::ordered_json j = {{"bucket", o.bucket},
                                {"stream", o.stream},
                                {"domain", domain},
                                {"origin_domain", o.origin_domain},
                                {"servers", servers},
                                {"result", result}};
    if (!usage_result.empty()) {
      j["usage_bucket"] = o.usage_bucket;
      j["usage_result"] = usage_result;
    }
    print_json(ctx.out, j);
  } else {
    ctx.out << human << '\n';
  }
}

}  // namespace

int nats_init_origin(const Context &ctx) {
  const sync::NatsOptions &o = nats_options(ctx.cfg, "nats init-origin");
  const auto client = connect_nats(o);
  check_jetstream(client->origin(), o, o.origin_domain);
  std::string result, usage;
  try {
    result = sync::init_origin(*client, o);
    usage = sync::init_usage_bucket(*client, o);  // keys' last use, published by each region's edgekeyd
  } catch (const sync::NatsError &e) {
    throw CtlError(kExitKeysetIo, e.what());
  }
  const std::string where = "bucket \"" + o.bucket + "\" in " + domain_text(o.origin_domain);
  const std::string usage_where =
      "bucket \"" + o.usage_bucket + "\" in " + domain_text(o.origin_domain) + " (keys' last use)";
  print_result(ctx, o, o.origin_domain, result,
               (result == "created" ? "created " + where + " (servers " + server_list(o) + ")"
                                    : where + " already exists; nothing to do") +
                   "\n" + (usage == "created" ? "created " + usage_where : usage_where + " already exists"),
               usage);
  return kExitOk;
}

int nats_init_region(const Context &ctx, const std::string &domain_arg, int replicas) {
  sync::NatsOptions o = nats_options(ctx.cfg, "nats init-region");
  if (!domain_arg.empty()) {
    if (!valid_domain(domain_arg))
      throw CtlError(kExitUsage, "nats init-region " + sync::quote_for_error(domain_arg) +
                                     ": expected a JetStream domain of 1..64 characters [A-Za-z0-9_-]");
    o.domain = domain_arg;
  }
  if (o.origin_domain.empty())
    throw CtlError(kExitUsage, "nats init-region needs upstream.nats.origin_domain (the JetStream domain of the "
                               "origin bucket) in " + ctx.cfg.source);
  if (o.domain.empty())
    throw CtlError(kExitUsage, "nats init-region needs the region's JetStream domain: set upstream.nats.domain in " +
                                   ctx.cfg.source + " or pass it (edgekeyctl nats init-region DOMAIN)");
  if (o.domain == o.origin_domain)
    throw CtlError(kExitUsage, "nats init-region: domain \"" + o.domain + "\" is the origin's "
                               "(upstream.nats.origin_domain in " + ctx.cfg.source +
                               "); a region's domain must differ, and the origin's hosts need no mirror");

  const auto client = connect_nats(o);
  check_jetstream(client->region(), o, o.domain);
  {  // The mirror can be created before the bucket exists, but say so.
    jsStreamInfo *si = nullptr;
    jsErrCode err = jsErrCode(0);
    const natsStatus s = js_GetStreamInfo(&si, client->origin(), ("KV_" + o.bucket).c_str(), nullptr, &err);
    if (s == NATS_OK)
      jsStreamInfo_Destroy(si);
    else if (s == NATS_NOT_FOUND || err == JSStreamNotFoundErr)
      ctx.err << "edgekeyctl: warning: bucket \"" << o.bucket << "\" does not exist in "
              << domain_text(o.origin_domain) << " yet; the mirror fills once `edgekeyctl nats init-origin` "
              << "creates it\n";
    else
      ctx.err << "edgekeyctl: warning: the origin (" << domain_text(o.origin_domain)
              << ") did not answer: " << sync::nats_error_text(s)
              << "; the mirror catches up once its leafnode link is up\n";
  }
  std::string result;
  try {
    result = sync::init_region(*client, o, replicas);
  } catch (const sync::NatsError &e) {
    throw CtlError(kExitKeysetIo, e.what());
  }
  const std::string stream = "stream \"" + o.stream + "\" in " + domain_text(o.domain);
  const std::string source = "bucket \"" + o.bucket + "\" of " + domain_text(o.origin_domain);
  const std::string on = replicas > 1 ? " on " + std::to_string(replicas) + " servers" : "";
  print_result(ctx, o, o.domain, result,
               result == "created"   ? "created " + stream + on + ", mirroring " + source
               : result == "updated" ? stream + " now kept" + (on.empty() ? " on 1 server" : on) + " (a mirror of " +
                                           source + ")"
                                     : stream + " already exists (a mirror of " + source + "); nothing to do");
  return kExitOk;
}

}  // namespace edgekey::ctl
