// nats_upstream.cpp -- see nats_upstream.hpp.
#include "daemon/ctl/nats_upstream.hpp"

namespace edgekey::ctl {

const sync::NatsOptions &nats_options(const daemon::Config &cfg, std::string_view command) {
  if (cfg.upstream.kind != daemon::UpstreamKind::Nats)
    throw CtlError(kExitUsage, std::string(command) + " needs a NATS upstream, but " + cfg.source +
                                   " sets upstream.file (" + cfg.upstream.file +
                                   "); configure `upstream: nats:` with upstream.nats.servers, "
                                   "upstream.nats.origin_domain and upstream.nats.domain (see NATS.md)");
  return cfg.upstream.nats;
}

std::string server_list(const sync::NatsOptions &o) {
  std::string s;
  for (const auto &u : o.servers) s += (s.empty() ? "" : ", ") + u;
  return s.empty() ? "(no servers)" : s;
}

std::string domain_text(const std::string &domain) {
  return domain.empty() ? std::string("the default domain") : "domain \"" + domain + "\"";
}

std::unique_ptr<sync::NatsClient> connect_nats(const sync::NatsOptions &o) {
  try {
    return std::make_unique<sync::NatsClient>(o, "edgekeyctl");
  } catch (const sync::NatsError &e) {
    const std::string what = e.what();
    // A file named by the config that cannot be used, or credentials the
    // server refuses, is the config's fault; anything else means nothing answered.
    const bool config = what.rfind("upstream.nats", 0) == 0 || what.find("uthoriz") != std::string::npos ||
                        what.find("uthentic") != std::string::npos;
    throw CtlError(config ? kExitUsage : kExitUnavailable, "NATS upstream: " + what);
  }
}

bool nats_unreachable(natsStatus s) {
  switch (s) {
    case NATS_TIMEOUT:
    case NATS_NO_RESPONDERS:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NOT_YET_CONNECTED:
    case NATS_STALE_CONNECTION:
    case NATS_NO_SERVER:
    case NATS_IO_ERROR:
      return true;
    default:
      return false;
  }
}

bool nats_conflict(natsStatus s) {
  if (s != NATS_ERR) return false;
  natsStatus last = NATS_OK;
  const char *text = nats_GetLastError(&last);
  return text && std::string_view(text).find("wrong last sequence") != std::string_view::npos;
}

CtlError nats_failure(natsStatus s, const std::string &what, const sync::NatsOptions &o, const std::string &domain,
                      ExitCode otherwise, const std::string &hint) {
  const std::string head = what + " through " + server_list(o) + " failed: " + sync::nats_error_text(s);
  if (nats_unreachable(s))
    return CtlError(kExitUnavailable,
                    head + "; nothing answered for " + domain_text(domain) +
                        ": check that its nats-server runs with JetStream, that this server's leafnode link to "
                        "it is up, and the domain in the config (upstream.nats); then retry");
  return CtlError(otherwise, hint.empty() ? head : head + "; " + hint);
}

}  // namespace edgekey::ctl
