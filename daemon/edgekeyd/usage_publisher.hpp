// usage_publisher.hpp -- publishes this host's keys' last use to the origin's
// usage bucket (sync/upstream/nats/usage_bucket.hpp), so that `edgekeyctl keys
// list|show` against NATS answer for every region at once (#19).
//
// The loop thread only offers entries (a lock and a map insert per key,
// never a network call). A thread of the publisher's own, on a NATS
// connection of its own (a second one beside the NatsSource's, named
// "edgekeyd-usage"), puts them: pipelined requests on the origin's put
// subject, their acks read from a synchronous inbox subscription (no libnats
// callback holds anything of ours). Per key only the latest value offered
// waits (coalesced), and a key is put at most once per `interval`. A put
// that fails (the origin unreachable, no bucket) leaves the value waiting
// unless a newer one replaced it, and it is tried again after `interval`.
// At most max_pending keys wait; a key offered beyond that is dropped (and
// counted) until there is room. Problems are reported once per change of
// state, never per key; what is published holds key ids, never a token.
#pragma once

#include "sync/upstream/nats/nats_client.hpp"
#include "sync/upstream/nats/usage_bucket.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace edgekey::daemon {

class UsagePublisher {
 public:
  struct Options {
    sync::NatsOptions nats;  // the region's servers; the bucket nats.usage_bucket in nats.origin_domain
    std::chrono::milliseconds interval{10000};
    size_t max_pending = size_t(1) << 20;
    size_t batch = 1024;  // puts in flight at once
  };
  // Called on the publisher's thread: `problem` true when publishing fails
  // (once per change of cause), false when it works again.
  using Report = std::function<void(bool problem, const std::string &line)>;

  UsagePublisher(Options o, Report report);
  // Stops the thread; values still waiting are not sent.
  ~UsagePublisher();
  UsagePublisher(const UsagePublisher &) = delete;
  UsagePublisher &operator=(const UsagePublisher &) = delete;

  // Any thread (the loop's): each entry replaces what waits for its key.
  void offer(std::vector<sync::UsageEntry> entries);

  struct Stats {
    uint64_t published = 0;  // puts the origin acknowledged
    uint64_t failed = 0;     // puts that failed or got no answer in time (their values wait)
    uint64_t dropped = 0;    // values not taken: max_pending keys waiting, or an id no KV key can name
    size_t waiting = 0;      // keys with a value not yet published
  };
  Stats stats() const;

 private:
  struct Item {
    std::string key;    // the entry key
    std::string value;  // encoded
  };
  void run();
  std::vector<Item> take_due(std::chrono::steady_clock::time_point now,
                             std::chrono::steady_clock::time_point &next_due);
  // Puts `batch`; ok[i] says which the origin acknowledged. "" or the cause of the failures.
  std::string send(const std::vector<Item> &batch, std::vector<bool> &ok);
  bool connect(std::string &problem);
  void disconnect();
  std::string diagnose(const std::string &seen);
  void set_state(const std::string &problem);

  const Options opts_;
  const Report report_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, Item> pending_;  // by entry key; under mu_
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> sent_;  // last put per entry key
  Stats stats_;                                                                  // under mu_
  // The publisher's thread only:
  std::unique_ptr<sync::NatsClient> client_;
  natsSubscription *acks_ = nullptr;
  std::string inbox_;
  uint64_t next_seq_ = 0;  // reply subjects are <inbox>.<seq>, never reused
  std::string state_;      // the problem last reported ("" = none)
  std::thread thread_;
};

}  // namespace edgekey::daemon
