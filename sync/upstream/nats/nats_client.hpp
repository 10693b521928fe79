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

#include <chrono>
#include <cstdint>
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

// At process exit, once every connection, subscription and JetStream context
// is destroyed: stops libnats's own threads and waits, about `timeout` at
// most (never longer, whatever holds them), for them to release the last
// connection. That release frees the connection and its TLS context on
// libnats's async-callback or delivery thread, after natsConnection_Destroy
// has returned; without this wait it can run while exit runs OPENSSL_cleanup
// (a crash at exit). "" when done or when libnats never started; otherwise
// what still holds the library (a connection or subscription not destroyed,
// a callback that does not return), whose threads then run on through exit.
// No libnats call may follow: it would open the library again.
std::string nats_close_and_wait(std::chrono::milliseconds timeout);

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
  // libnats calls back on its async-callback thread, possibly after the
  // destructor has returned, and not always last with the closed callback: an
  // error queued after it (an ordered consumer's failed re-creation) still
  // comes. So the closure is no pointer to free but this client's id, looked
  // up in a process-wide table under its mutex; detach() erases the entry
  // (waiting for a callback in progress), after which a late callback finds
  // nothing and does nothing.
  void detach();
  static void on_disconnected(natsConnection *, void *id);
  static void on_reconnected(natsConnection *, void *id);
  static void on_async_error(natsConnection *, natsSubscription *, natsStatus, void *id);

  uintptr_t id_;
  std::string servers_;
  natsConnection *nc_ = nullptr;
  jsCtx *js_region_ = nullptr;
  jsCtx *js_origin_ = nullptr;
};

}  // namespace edgekey::sync
