// nats_proxy.hpp -- a fault-injecting TCP proxy for the NATS client protocol,
// for tests: listens on 127.0.0.1 (a free port) and forwards every accepted
// connection to a real nats-server on 127.0.0.1:<upstream_port>, on its own
// thread (poll-based, non-blocking sockets).
//
// Client -> server bytes pass unchanged. Server -> client bytes are cut into
// protocol frames (INFO/PING/PONG/+OK/-ERR lines; `MSG subj sid [reply] n`
// and `HMSG subj sid [reply] h n` with their payload) and each frame is
// forwarded whole, according to the faults switched on (changeable at any
// time; a setter returns once the proxy thread routes under the new setting,
// so what the server sends afterwards is subject to it):
// - duplicate: every MSG/HMSG frame is written twice, back to back;
// - drop: a deterministic pseudo-random share (per mille, from `seed`) of
//   the JetStream deliveries -- MSG/HMSG whose reply subject starts with
//   "$JS.ACK." -- is never written. Idle heartbeats and flow-control
//   requests (no reply, or "$JS.FC.") and request replies always pass: the
//   fault is lost stream data, which the client must notice as a gap;
// - blackhole: a partition. Nothing is read, written or accepted in either
//   direction, but every TCP connection stays open; what the peers sent
//   waits in the kernel's buffers and flows once healed, as after TCP
//   retransmission. Connections attempted meanwhile wait in the backlog.
// Client -> server frames are parsed only to count JetStream consumer
// creations (libnats resetting an ordered consumer after a gap makes one).
// INFO frames lose their "connect_urls" / "ws_connect_urls", so a client
// never learns (and never reconnects to) the real server's address.
//
// A connection whose server end cannot be reached is closed at once (as a
// refused connection looks to the client); either end closing closes both.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace edgekey::test {

class NatsProxy {
 public:
  struct Counters {
    uint64_t connections = 0;    // accepted and connected upstream
    uint64_t frames = 0;         // server -> client frames parsed
    uint64_t js_deliveries = 0;  // of which JetStream deliveries ($JS.ACK. reply)
    uint64_t duplicated = 0;     // MSG/HMSG frames written twice
    uint64_t js_duplicated = 0;  // of which JetStream deliveries
    uint64_t dropped = 0;        // JetStream deliveries never written
    uint64_t info_rewritten = 0; // INFO frames that carried server URLs
    uint64_t consumer_creates = 0;  // client requests $JS[.<domain>].API.CONSUMER.CREATE.*
  };

  // Throws std::runtime_error when it cannot listen.
  explicit NatsProxy(int upstream_port, uint64_t seed = 0x5eedf00d);
  ~NatsProxy();  // stops the thread and closes every socket
  NatsProxy(const NatsProxy &) = delete;
  NatsProxy &operator=(const NatsProxy &) = delete;

  int port() const { return port_; }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

  void set_duplicate(bool on);
  void set_drop_per_mille(unsigned n);  // 0 = none, 10 = 1 %
  void set_blackhole(bool on);

  Counters counters() const;
  // Stream sequences of the dropped deliveries, in drop order.
  std::vector<uint64_t> dropped_sequences() const;

 private:
  struct Conn;
  void run();
  void wake();
  void await_switch();  // returns once the proxy thread routes under the new switches
  void accept_all();
  bool pump_client(Conn &c, short revents);
  bool pump_server(Conn &c, short revents);
  void parse_from_server(Conn &c);
  void scan_from_client(Conn &c);
  void route_frame(Conn &c, const char *frame, size_t len, bool is_msg, const std::string &reply);
  bool decide_drop();

  int upstream_port_;
  int port_ = 0;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: a fault switched or the proxy stopping
  uint64_t rng_;      // proxy thread only
  std::vector<std::unique_ptr<Conn>> conns_;  // proxy thread only

  std::atomic<bool> stop_{false}, duplicate_{false}, blackhole_{false};
  std::atomic<unsigned> drop_per_mille_{0};
  std::atomic<uint64_t> connections_{0}, frames_{0}, js_deliveries_{0}, duplicated_{0}, js_duplicated_{0},
      dropped_{0}, info_rewritten_{0}, consumer_creates_{0};
  std::mutex switch_mu_;  // guards switch_requested_, switch_seen_
  std::condition_variable switch_cv_;
  uint64_t switch_requested_ = 0, switch_seen_ = 0;
  mutable std::mutex dropped_mu_;
  std::vector<uint64_t> dropped_seqs_;
  std::thread thread_;
};

}  // namespace edgekey::test
