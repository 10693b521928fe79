// nats_source.hpp -- the NATS JetStream upstream: follows this region's
// stream (the mirror of the origin's key-value bucket, NATS.md) with an
// ordered push consumer and applies it to the table through the Applier.
//
// Threads: a worker thread makes every blocking libnats call (connect,
// stream info, subscribe, the contact probe); libnats delivers messages on
// its own thread, which also decodes them (JSON is the costly part of a
// snapshot; delivery_context.hpp). Both only queue events (nats_events.hpp);
// the loop thread (uv_async) drains the queue and is the only one touching
// the Applier and the table.
//
// Sync model (DESIGN.md "Sync"):
// - cold start (no stored revision, or the stream was recreated: its last
//   sequence is below ours): deliver everything from the start -- each
//   subject keeps one message (history 1, MaxMsgsPerSubject 1), so that is
//   the last message per subject without the server computing it (which
//   took seconds over 1M subjects), and applied in order it is right for
//   any history. The delivery thread gathers the snapshot itself (no
//   per-message handoff to the loop), resolving and indexing each record as
//   it comes (SnapshotGather), until the message with NumPending 0 (or at
//   once for an empty stream), then hands it over whole; the loop only
//   builds the new table generation from it, dropping what it lacks. The
//   policy is the one in force at subscribe time (a SIGHUP meanwhile makes
//   the loop resolve it again). While it streams in, revocations and
//   removals are also handed to the loop one by one and applied to the live
//   table at once: they never wait behind the bulk load.
// - warm start (records and revision from the on-disk snapshot): deliver
//   from the stored sequence + 1, so a restart does not resnapshot. libnats
//   reconnects by itself and the ordered consumer resumes at its next
//   sequence.
// - contact: every `heartbeat` the region's stream answers a stream info
//   request, with a working quorum when it is replicated (StreamState::
//   no_quorum), which advances the table's last-contact time (staleness).
//   A PING is not enough: a server of a cluster that lost its quorum still
//   answers, but the mirror takes nothing from the origin. A leader
//   election (the leader's node lost) pauses contact for its few seconds.
//   The origin being down does not: the region's stream still answers.
// The revision stored in the table is the stream sequence last applied.
//
// Failures (no memory) never unwind into libuv or libnats: a message the
// delivery thread cannot take, or a batch the loop cannot apply, drops the
// rest of that subscription's messages (the loop ignores its epoch), and
// the worker replaces it from the sequence the table holds -- or with a
// full snapshot when one was streaming in. Nothing is skipped: what was not
// applied is delivered again.
#pragma once

#include "sync/upstream/applier.hpp"
#include "sync/upstream/nats/delivery_context.hpp"
#include "sync/upstream/nats/nats_events.hpp"
#include "sync/upstream/nats/nats_options.hpp"
#include "sync/upstream/severity.hpp"

#include <nats/nats.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

namespace edgekey::sync {

class NatsClient;

class NatsSource {
 public:
  using LogFn = std::function<void(Severity, const std::string &)>;

  // What /v1/status and /metrics show. Loop thread.
  struct Status {
    bool connected = false;
    bool synced = false;          // a first full load or catch-up completed
    bool snapshotting = false;    // a full snapshot is streaming in
    uint64_t stream_last_seq = 0; // at the last stream-info poll
    uint64_t origin_lag = 0;      // messages the region's mirror is behind the origin
    int64_t origin_active_ms = -1;
    int64_t last_contact = 0;     // unix s; 0 = never
    uint64_t snapshots = 0;       // full snapshots loaded (cold starts and resyncs)
    uint64_t messages = 0;        // upstream messages applied
    uint64_t rejected = 0;        // upstream records that did not decode
    uint64_t reconnects = 0;
    std::string last_error;
  };

  NatsSource(uv_loop_t *loop, NatsOptions opts, Applier &applier, LogFn log);
  ~NatsSource();  // close()s
  NatsSource(const NatsSource &) = delete;
  NatsSource &operator=(const NatsSource &) = delete;

  // Starts following. `resume_after` > 0: the Applier already holds the
  // records up to that stream sequence (warm start).
  void start(uint64_t resume_after);
  // Stops the worker (joins it) and closes the loop handle.
  void close();

  // "nats:<domain>/<stream>": a snapshot's revision means something only
  // against the same stream.
  std::string identity() const;
  const Status &status() const { return status_; }

  // The first complete load (true), or a failure before it (false: cannot
  // connect, no stream; called once, the source keeps trying).
  std::function<void(bool ok)> on_synced;
  // After each applied batch of changes (the daemon writes its snapshot).
  std::function<void()> on_change;
  // Origin write -> applied here, for records that carry origin_written_at.
  std::function<void(int64_t ms)> on_latency;

 private:
  // ---- worker thread: makes every blocking libnats call. Owns the
  // connection, sub_ and sub_ctx_; reaches the loop only through queue_;
  // advances epoch_, reads applied_seq_.
  void worker();
  bool subscribe(NatsClient &c);
  void unsubscribe();
  // Replaces a subscription that lost messages (its context's, or the
  // loop's resync_): unsubscribes, and the next subscribe() resumes.
  void replace_if_lost();
  // Stream info (state, recreation): true when the stream answered with a
  // quorum (contact). A failed request is reported (fail()) when asked.
  bool poll_stream(NatsClient &c, bool report_failure);
  void note(std::string text);
  void fail(std::string text);

  // ---- loop thread: takes queue_'s events and applies them; the only one
  // touching the Applier, status_ and the callbacks above.
  static void on_async(uv_async_t *a);
  void drain();
  void apply(nats_event::Event &event);
  // What drain() does when applying throws: see the header.
  void abandon(const std::exception &e) noexcept;
  // One handler per kind (nats_events.hpp). Those of a subscription see only
  // the current one's (epoch_).
  void handle(nats_event::Put &e);
  void handle(nats_event::Removal &e);
  void handle(nats_event::Rejected &e);
  void handle(nats_event::SnapshotBegin &e);
  void handle(nats_event::SnapshotEnd &e);
  void handle(nats_event::CaughtUp &e);
  void handle(nats_event::State &e);
  void handle(nats_event::Contact &e);
  void handle(nats_event::StreamInfo &e);
  void handle(nats_event::Note &e);
  void handle(nats_event::Warning &e);
  void handle(nats_event::NoContact &e);
  void handle(nats_event::Failed &e);
  void advance(uint64_t seq, uint64_t pending);  // a message applied to the live table (not snapshotting)
  void log_once_a_minute(Severity level, const std::string &text);
  void synced();

  uv_loop_t *loop_;
  NatsOptions opts_;
  Applier &applier_;
  LogFn log_;
  uv_async_t *async_;  // heap: freed in its close callback; before queue_, which wakes it
  nats_event::Queue queue_;
  std::thread thread_;

  // Worker thread only.
  natsSubscription *sub_ = nullptr;
  std::unique_ptr<DeliveryContext> sub_ctx_;  // libnats' closure for sub_
  bool force_cold_ = false;     // the stream was recreated: next subscription resnapshots
  int64_t stream_created_ = 0;  // creation time of the stream subscribed to
  bool waiting_for_mirror_ = false;
  // Written by the loop thread, read by the worker when it (re)subscribes
  // and polls: the stream sequence the table holds. epoch_ is the worker's.
  std::atomic<uint64_t> applied_seq_{0};
  std::atomic<uint64_t> epoch_{0};
  // Written by the loop when it could not apply what it took, taken (reset)
  // by the worker: the subscription must be replaced.
  std::atomic<DeliveryContext::Lost> resync_{DeliveryContext::Lost::No};

  // Loop thread only.
  Status status_;
  bool snapshot_mode_ = false;
  std::chrono::steady_clock::time_point snapshot_started_;
  bool changed_ = false;
  bool failure_reported_ = false;
  uint64_t abandoned_epoch_ = 0;  // a subscription whose events are dropped (abandon())
  std::map<std::string, int64_t> error_logged_;  // failure text -> when last logged
};

}  // namespace edgekey::sync
