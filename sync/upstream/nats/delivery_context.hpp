// delivery_context.hpp -- NatsSource's half on libnats' delivery thread: the
// closure a subscription calls back with. It decodes each message (JSON is
// the costly part of a snapshot) and hands it to the loop as an event, or,
// while a cold snapshot streams in, gathers it (SnapshotGather) and hands
// the whole snapshot over at its end; see nats_source.hpp for the sync model.
//
// Threads: libnats calls on_message and on_complete in turn, on its
// delivery thread; they touch only this context and post to the queue. The
// worker sets the context up before subscribing and then only waits for
// completion (mu_). libnats may call back until on_complete: the context
// must outlive that call.
#pragma once

#include "sync/upstream/nats/nats_events.hpp"
#include "sync/upstream/nats/snapshot_gather.hpp"

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace edgekey::sync {

class DeliveryContext {
 public:
  // `prefix`: "$KV.<bucket>."; a subject minus this is the KV key.
  DeliveryContext(nats_event::Queue &queue, uint64_t epoch, std::string prefix);
  ~DeliveryContext();  // destroys the spent messages
  DeliveryContext(const DeliveryContext &) = delete;
  DeliveryContext &operator=(const DeliveryContext &) = delete;

  uint64_t epoch() const { return epoch_; }

  // Worker, before subscribing: the stream (of about `expected` messages)
  // is a cold snapshot, gathered here until the message with NumPending 0.
  void gather_snapshot(std::shared_ptr<const Resolver> resolver, size_t expected);

  // libnats' callbacks (js_Subscribe, natsSubscription_SetOnCompleteCB),
  // with this context as their closure.
  static void on_message(natsConnection *, natsSubscription *, natsMsg *msg, void *closure);
  static void on_complete(void *closure);

  // Worker: whether libnats has made its last call (on_complete), waiting
  // at most `d` for it (0: without waiting).
  bool completed_within(std::chrono::milliseconds d);

  // A message this context could not take (no memory to decode or gather
  // it): it and every later one are dropped, and the worker replaces the
  // subscription -- with a full snapshot when one was being gathered.
  enum class Lost : int { No = 0, Message = 1, Snapshot = 2 };
  Lost lost() const { return lost_.load(std::memory_order_acquire); }

 private:
  template <class Kind>  // Put, Removal or Rejected
  void deliver(Kind c);
  // Into the gathered snapshot; true when the live table needs it at once too.
  bool fold(nats_event::Put &p);
  bool fold(nats_event::Removal &r);
  bool fold(nats_event::Rejected &r);
  void finish_snapshot(uint64_t seq);
  void dispose(natsMsg *msg) noexcept;
  void destroy_spent();

  nats_event::Queue &queue_;
  const uint64_t epoch_;
  const std::string prefix_;

  std::atomic<Lost> lost_{Lost::No};  // set by the delivery thread, read by the worker

  std::mutex mu_;  // guards complete_
  std::condition_variable cv_;
  bool complete_ = false;

  // Delivery thread only (set up before the subscription starts).
  std::unique_ptr<SnapshotGather> gather_;  // while a cold snapshot streams in
  uint64_t folded_ = 0;                     // messages kept in gather_ rather than handed over
  // Spent messages, destroyed in batches while snapshotting: libnats hands
  // each destroyed message to its GC thread and wakes it when its list was
  // empty, a futex wake per message at full speed.
  std::vector<natsMsg *> spent_;
};

}  // namespace edgekey::sync
