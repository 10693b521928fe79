// nats_client.hpp -- one connection to a NATS server with JetStream contexts
// for the region's and the origin's domain, configured from NatsOptions.
//
// Thread-safety is libnats's: the connection and contexts may be used from
// any thread; callbacks run on libnats's own threads. Blocking calls (the
// constructor, JetStream requests) belong off the daemon's libuv loop thread
// (NATS.md: made on the loop thread before uv_run they time out).
#pragma once

#include "sync/upstream/nats/nats_options.hpp"

#include <nats/nats.h>

#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

namespace edgekey::sync {

// A NATS or JetStream failure; what() names the operation and the servers or
// stream involved and says what to check.
struct NatsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// "<status text>: <libnats's last error detail>" for a failed call.
std::string nats_error_text(natsStatus s);

class NatsClient {
 public:
  // Connection state changes and asynchronous errors, on a libnats thread.
  struct Callbacks {
    std::function<void(bool connected)> on_state;
    std::function<void(const std::string &)> on_error;
  };

  // Connects to one of opts.servers (each tried within request_timeout);
  // afterwards libnats reconnects by itself per reconnect_wait and
  // max_reconnect. Throws NatsError naming the servers and the cause
  // (unreachable, TLS, authentication, unreadable password or credentials).
  NatsClient(const NatsOptions &opts, const std::string &client_name, Callbacks cb = {});
  ~NatsClient();
  NatsClient(const NatsClient &) = delete;
  NatsClient &operator=(const NatsClient &) = delete;

  natsConnection *connection() const { return nc_; }
  // JetStream in this region's domain (opts.domain) and in the origin's
  // (opts.origin_domain); request timeouts are opts.request_timeout.
  jsCtx *region() const { return js_region_; }
  jsCtx *origin() const { return js_origin_; }

  bool connected() const;
  // A PING/PONG round trip with the server within `timeout_ms`.
  bool ping(int64_t timeout_ms) const;
  // The servers for messages: "nats://a:4222, nats://b:4222".
  const std::string &servers() const { return servers_; }

 private:
  // libnats calls back on its own thread, possibly after the destructor has
  // returned (the disconnect of Close is delivered late). The hooks are
  // therefore owned by that thread's closure: the destructor only detaches
  // them (under the mutex), the connection's closed callback frees them.
  struct Hooks {
    std::mutex mu;
    Callbacks cb;
  };
  void detach();
  static void on_disconnected(natsConnection *, void *hooks);
  static void on_reconnected(natsConnection *, void *hooks);
  static void on_closed(natsConnection *, void *hooks);
  static void on_async_error(natsConnection *, natsSubscription *, natsStatus, void *hooks);

  Hooks *hooks_;
  std::string servers_;
  natsConnection *nc_ = nullptr;
  jsCtx *js_region_ = nullptr;
  jsCtx *js_origin_ = nullptr;
};

}  // namespace edgekey::sync
