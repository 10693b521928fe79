// nats_events.hpp -- what NatsSource's worker and libnats' threads hand to
// its loop thread: one type per kind of event, each with only the fields it
// carries, and the queue they travel in.
#pragma once

#include "sync/record/key_record.hpp"
#include "sync/upstream/prepared_load.hpp"

#include <uv.h>

#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <variant>

namespace edgekey::sync::nats_event {

// From a subscription (libnats' delivery thread, or the worker as it
// subscribes). `epoch` names the subscription: the loop drops the events of
// one since replaced. `seq` is the stream sequence, `pending` the messages
// still to come for the consumer after this one.
struct Put {  // a record, decoded and validated off the loop; its id is the KV key
  uint64_t epoch, seq, pending;
  ValidRecord record;
};
struct Removal {  // KV-Operation DEL or PURGE
  uint64_t epoch, seq, pending;
  std::string key;
};
struct Rejected {  // a put whose record did not decode
  uint64_t epoch, seq, pending;
  std::string key;
  std::string why;
};
struct SnapshotBegin {  // a cold snapshot streams in from here
  uint64_t epoch;
};
struct SnapshotEnd {
  uint64_t epoch;
  uint64_t seq;                             // the snapshot's last sequence
  std::unique_ptr<PreparedLoad> prepared;  // resolved and indexed; null for an empty stream
  int64_t prepare_ms = 0;                   // SnapshotGather::finish's time, on the delivery thread
  uint64_t folded = 0;                      // messages gathered into it rather than handed over
};
struct CaughtUp {  // a warm start with nothing to deliver: the table holds `seq`
  uint64_t epoch, seq;
};

// From the worker and libnats' connection callbacks.
struct State {
  bool connected;
};
struct Contact {  // the stream answered with a quorum
  int64_t at;      // unix s
};
struct StreamInfo {
  uint64_t last_seq;
  uint64_t lag;  // the mirror's, behind the origin
  int64_t active_ms;
};
struct Note {  // logged as info
  std::string text;
};
struct Warning {  // an asynchronous libnats error, or another that repeats (logged once a minute)
  std::string text;
};
struct NoContact {  // the stream answered without a quorum (logged as a warning)
  std::string text;
};
struct Failed {  // cannot connect or subscribe; before the first load the daemon may serve its snapshot
  std::string text;
};

using Event = std::variant<Put, Removal, Rejected, SnapshotBegin, SnapshotEnd, CaughtUp, State, Contact, StreamInfo,
                           Note, Warning, NoContact, Failed>;

// The kinds above that carry an epoch.
template <class E>
concept FromSubscription = requires(const E &e) {
  { e.epoch } -> std::convertible_to<uint64_t>;
};

// The handoff to the loop thread. Any thread posts; the loop takes. stop()
// ends it: later posts are dropped, so `wake` (sent after each post) is not
// used after stop() returns.
class Queue {
 public:
  explicit Queue(uv_async_t *wake) : wake_(wake) {}
  void post(Event e);
  std::deque<Event> take();
  void stop();
  bool stopped();
  void wait_for(std::chrono::milliseconds d);  // returns early on stop()

 private:
  uv_async_t *const wake_;
  std::mutex mu_;  // guards queue_, stop_
  std::condition_variable cv_;
  std::deque<Event> queue_;
  bool stop_ = false;
};

}  // namespace edgekey::sync::nats_event
