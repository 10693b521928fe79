// nats_client.cpp -- see nats_client.hpp.
#include "sync/upstream/nats/nats_client.hpp"

#include <algorithm>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

namespace edgekey::sync {

std::string nats_error_text(natsStatus s) {
  std::string text = natsStatus_GetText(s);
  natsStatus last = NATS_OK;
  const char *detail = nats_GetLastError(&last);
  if (detail && *detail && text != detail) text += std::string(": ") + detail;
  return text;
}

std::string nats_close_and_wait(std::chrono::milliseconds timeout) {
  // nats_CloseAndWait joins libnats's threads, each running the callbacks
  // still queued first, and only then waits (bounded) for the last connection
  // to be freed. The joins are not bounded (a callback that never returns
  // would hold it for ever), so it runs on a thread of its own, given up on
  // shortly after its own wait would have ended; that thread is no libnats
  // thread, as the call requires.
  const int64_t ms = std::max<int64_t>(1, timeout.count());  // 0 would wait for ever
  auto result = std::make_shared<std::promise<natsStatus>>();
  std::future<natsStatus> done = result->get_future();
  try {
    std::thread([result, ms] { result->set_value(nats_CloseAndWait(ms)); }).detach();
  } catch (const std::system_error &e) {
    return std::string("libnats not closed: no thread to close it on (") + e.what() + ")";
  }
  if (done.wait_for(std::chrono::milliseconds(ms + 250)) != std::future_status::ready)
    return "libnats's threads did not finish within " + std::to_string(ms) + " ms (one is still in a callback)";
  const natsStatus s = done.get();
  if (s == NATS_OK || s == NATS_NOT_INITIALIZED) return "";
  if (s == NATS_TIMEOUT)
    return "libnats still held a connection after " + std::to_string(ms) +
           " ms (a connection, subscription or JetStream context not destroyed, or a subscription's "
           "delivery thread still in its callback)";
  return std::string("libnats did not close: ") + natsStatus_GetText(s);
}

namespace {

// The callbacks of every live NatsClient, by id (see nats_client.hpp). Never
// destroyed: libnats's threads may call back while the process exits.
struct CallbackTable {
  std::mutex mu;
  uintptr_t last_id = 0;
  std::unordered_map<uintptr_t, NatsClient::Callbacks> live;
};

CallbackTable &callback_table() {
  static auto *table = new CallbackTable;
  return *table;
}

// Runs `call` on id's callbacks, if the client still has them, under the
// table's mutex (so that detach() waits for it). Called on libnats' threads:
// nothing may unwind into it. A callback that finds no memory to pass its
// event on drops it (the next state change or the worker's polls tell the
// same).
template <class Call>
void with_callbacks(void *id, Call call) noexcept {
  CallbackTable &t = callback_table();
  std::lock_guard<std::mutex> lock(t.mu);
  auto it = t.live.find(reinterpret_cast<uintptr_t>(id));
  if (it == t.live.end()) return;
  try {
    call(it->second);
  } catch (const std::exception &) {
  }
}

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

NatsClient::NatsClient(const NatsOptions &o, const std::string &client_name, Callbacks cb) {
  for (const auto &s : o.servers) servers_ += (servers_.empty() ? "" : ", ") + s;
  if (o.servers.empty()) throw NatsError("upstream.nats.servers: no server given; list at least one nats:// URL");
  {
    CallbackTable &t = callback_table();
    std::lock_guard<std::mutex> lock(t.mu);
    id_ = ++t.last_id;
    t.live.emplace(id_, std::move(cb));
  }
  // A constructor that throws runs no destructor: the entry goes here.
  struct Detach {
    NatsClient *c;
    ~Detach() {
      if (c) c->detach();
    }
  } on_throw{this};
  void *const closure = reinterpret_cast<void *>(id_);

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
  check(natsOptions_SetDisconnectedCB(raw, &NatsClient::on_disconnected, closure), "NATS options");
  check(natsOptions_SetReconnectedCB(raw, &NatsClient::on_reconnected, closure), "NATS options");
  check(natsOptions_SetErrorHandler(raw, &NatsClient::on_async_error, closure), "NATS options");

  natsStatus s = natsConnection_Connect(&nc_, raw);
  if (s != NATS_OK) {
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
  on_throw.c = nullptr;
}

void NatsClient::detach() {
  CallbackTable &t = callback_table();
  std::lock_guard<std::mutex> lock(t.mu);
  t.live.erase(id_);
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

void NatsClient::on_disconnected(natsConnection *, void *id) {
  with_callbacks(id, [](Callbacks &cb) {
    if (cb.on_state) cb.on_state(false);
  });
}

void NatsClient::on_reconnected(natsConnection *, void *id) {
  with_callbacks(id, [](Callbacks &cb) {
    if (cb.on_state) cb.on_state(true);
  });
}

void NatsClient::on_async_error(natsConnection *, natsSubscription *, natsStatus s, void *id) {
  with_callbacks(id, [s](Callbacks &cb) {
    if (cb.on_error) cb.on_error(natsStatus_GetText(s));
  });
}

}  // namespace edgekey::sync
