// nats_client.cpp -- see nats_client.hpp.
#include "sync/upstream/nats/nats_client.hpp"

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

namespace edgekey::sync {

std::string nats_error_text(natsStatus s) {
  std::string text = natsStatus_GetText(s);
  natsStatus last = NATS_OK;
  const char *detail = nats_GetLastError(&last);
  if (detail && *detail && text != detail) text += std::string(": ") + detail;
  return text;
}

namespace {

struct OptionsDeleter {
  void operator()(natsOptions *o) const { natsOptions_Destroy(o); }
};

std::string read_password_file(const std::string &path) {
  std::ifstream in(path);
  if (!in) throw NatsError("upstream.nats.password_file " + path + ": cannot read it; check the path and its permissions");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string p = ss.str();
  while (!p.empty() && (p.back() == '\n' || p.back() == '\r')) p.pop_back();
  if (p.empty()) throw NatsError("upstream.nats.password_file " + path + ": the file is empty; write the password into it");
  return p;
}

void check(natsStatus s, const std::string &what) {
  if (s != NATS_OK) throw NatsError(what + ": " + nats_error_text(s));
}

// What to check when the connection fails. A server certificate we refuse
// fails the TLS handshake (an SSL error); a client certificate the server
// refuses (missing, or signed by a CA it does not trust) shows over TLS 1.3
// only as the connection closing before the first PONG, since the server
// checks it after the handshake.
std::string connect_hint(const NatsOptions &o, bool tls, natsStatus s) {
  const std::string cert = o.tls.cert.empty()
                               ? "set upstream.nats.tls.cert and upstream.nats.tls.key (no client certificate given)"
                               : "check that a CA the server trusts signed upstream.nats.tls.cert " + o.tls.cert;
  if (s == NATS_SSL_ERROR)
    return "the TLS handshake failed: " +
           (o.tls.ca.empty() ? std::string("set upstream.nats.tls.ca to the CA that signed the server's certificate "
                                           "(not set)")
                             : "check upstream.nats.tls.ca " + o.tls.ca +
                                   ": it must be the CA that signed the server's certificate") +
           ", and that the certificate names the host in upstream.nats.servers; if the server verifies client " +
           "certificates, " + cert;
  if (s == NATS_SECURE_CONNECTION_WANTED)
    return "the server does not offer TLS: check upstream.nats.servers (tls://) and upstream.nats.tls";
  if (tls && (s == NATS_PROTOCOL_ERROR || s == NATS_CONNECTION_CLOSED || s == NATS_IO_ERROR))
    return "the server closed the TLS connection: if it verifies client certificates, " + cert +
           "; else check upstream.nats.servers and the credentials";
  return "check upstream.nats.servers, that the server runs, and the credentials";
}

}  // namespace

NatsClient::NatsClient(const NatsOptions &o, const std::string &client_name, Callbacks cb)
    : hooks_(new Hooks{{}, std::move(cb)}) {
  for (const auto &s : o.servers) servers_ += (servers_.empty() ? "" : ", ") + s;
  if (o.servers.empty()) throw NatsError("upstream.nats.servers: no server given; list at least one nats:// URL");

  natsOptions *raw = nullptr;
  check(natsOptions_Create(&raw), "NATS options");
  std::unique_ptr<natsOptions, OptionsDeleter> opts(raw);
  std::vector<const char *> urls;
  for (const auto &s : o.servers) urls.push_back(s.c_str());
  check(natsOptions_SetServers(raw, urls.data(), int(urls.size())), "upstream.nats.servers");
  check(natsOptions_SetNoRandomize(raw, true), "NATS options");
  check(natsOptions_SetName(raw, client_name.c_str()), "NATS options");
  check(natsOptions_SetTimeout(raw, o.request_timeout.count()), "upstream.nats.request_timeout");
  check(natsOptions_SetReconnectWait(raw, o.reconnect_wait.count()), "upstream.nats.reconnect_wait");
  check(natsOptions_SetMaxReconnect(raw, o.max_reconnect), "upstream.nats.max_reconnect");
  check(natsOptions_SetAllowReconnect(raw, true), "NATS options");
  // A dead server is noticed within ~10 s (5 pings), not the default 2
  // minutes; not faster, since a PONG queues behind whatever the server is
  // streaming (a 1M-key snapshot), and a stale verdict drops the connection.
  check(natsOptions_SetPingInterval(raw, std::max<int64_t>(2000, 2 * o.heartbeat.count())),
        "upstream.nats.heartbeat");
  check(natsOptions_SetMaxPingsOut(raw, 5), "NATS options");

  if (!o.credentials.empty())
    check(natsOptions_SetUserCredentialsFromFiles(raw, o.credentials.c_str(), nullptr),
          "upstream.nats.credentials " + o.credentials);
  if (!o.user.empty()) {
    const std::string password = o.password_file.empty() ? o.password : read_password_file(o.password_file);
    check(natsOptions_SetUserInfo(raw, o.user.c_str(), password.c_str()), "upstream.nats.user");
  }
  bool tls_url = false;
  for (const auto &s : o.servers) tls_url |= s.rfind("tls://", 0) == 0;
  if (o.tls.enabled() || tls_url) {
    check(natsOptions_SetSecure(raw, true), "upstream.nats.tls");
    if (!o.tls.ca.empty())
      check(natsOptions_LoadCATrustedCertificates(raw, o.tls.ca.c_str()), "upstream.nats.tls.ca " + o.tls.ca);
    if (!o.tls.cert.empty())
      check(natsOptions_LoadCertificatesChain(raw, o.tls.cert.c_str(), o.tls.key.c_str()),
            "upstream.nats.tls.cert/key " + o.tls.cert);
  }
  check(natsOptions_SetDisconnectedCB(raw, &NatsClient::on_disconnected, hooks_), "NATS options");
  check(natsOptions_SetReconnectedCB(raw, &NatsClient::on_reconnected, hooks_), "NATS options");
  check(natsOptions_SetClosedCB(raw, &NatsClient::on_closed, hooks_), "NATS options");
  check(natsOptions_SetErrorHandler(raw, &NatsClient::on_async_error, hooks_), "NATS options");

  natsStatus s = natsConnection_Connect(&nc_, raw);
  if (s != NATS_OK) {
    delete hooks_;  // no connection: no callback will come
    throw NatsError("NATS servers " + servers_ + ": cannot connect (" + nats_error_text(s) + "); " +
                    connect_hint(o, o.tls.enabled() || tls_url, s));
  }

  auto make_js = [&](const std::string &domain, jsCtx **out) {
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = o.request_timeout.count();
    if (!domain.empty()) jo.Domain = domain.c_str();
    natsStatus st = natsConnection_JetStream(out, nc_, &jo);
    if (st != NATS_OK) {
      detach();
      natsConnection_Close(nc_);
      natsConnection_Destroy(nc_);
      nc_ = nullptr;
      throw NatsError("JetStream context for domain \"" + domain + "\": " + nats_error_text(st));
    }
  };
  make_js(o.domain, &js_region_);
  try {
    make_js(o.origin_domain, &js_origin_);
  } catch (...) {
    jsCtx_Destroy(js_region_);
    throw;
  }
}

void NatsClient::detach() {
  std::lock_guard<std::mutex> lock(hooks_->mu);
  hooks_->cb = {};
}

NatsClient::~NatsClient() {
  detach();
  if (js_origin_) jsCtx_Destroy(js_origin_);
  if (js_region_) jsCtx_Destroy(js_region_);
  if (nc_) {
    natsConnection_Close(nc_);
    natsConnection_Destroy(nc_);
  }
}

bool NatsClient::connected() const { return nc_ && natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED; }

bool NatsClient::ping(int64_t timeout_ms) const {
  return connected() && natsConnection_FlushTimeout(nc_, timeout_ms) == NATS_OK;
}

void NatsClient::on_disconnected(natsConnection *, void *hooks) {
  auto *h = static_cast<Hooks *>(hooks);
  std::lock_guard<std::mutex> lock(h->mu);
  if (h->cb.on_state) h->cb.on_state(false);
}

void NatsClient::on_reconnected(natsConnection *, void *hooks) {
  auto *h = static_cast<Hooks *>(hooks);
  std::lock_guard<std::mutex> lock(h->mu);
  if (h->cb.on_state) h->cb.on_state(true);
}

void NatsClient::on_closed(natsConnection *, void *hooks) { delete static_cast<Hooks *>(hooks); }

void NatsClient::on_async_error(natsConnection *, natsSubscription *, natsStatus s, void *hooks) {
  auto *h = static_cast<Hooks *>(hooks);
  std::lock_guard<std::mutex> lock(h->mu);
  if (h->cb.on_error) h->cb.on_error(natsStatus_GetText(s));
}

}  // namespace edgekey::sync
