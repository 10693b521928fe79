// snapshot_writer.hpp -- writes the last-known-good snapshot beside the loop.
//
// Encoding and writing 1M records takes seconds; on the loop they would hold
// back live revocations. The loop builds the Snapshot (it owns the Applier),
// start() hands it to a thread of its own, and the loop collects the outcome
// later (its tick, or the next write).
// Invariants: at most one write in flight (start() requires !busy()), so an
// older snapshot can never replace a newer one on disk; only the owning
// thread (the loop) calls these members.
#pragma once

#include "sync/snapshot.hpp"

#include <atomic>
#include <optional>
#include <string>
#include <thread>

namespace edgekey::daemon {

class SnapshotWriter {
 public:
  SnapshotWriter() = default;
  SnapshotWriter(const SnapshotWriter &) = delete;
  SnapshotWriter &operator=(const SnapshotWriter &) = delete;
  ~SnapshotWriter() { wait(); }

  // A write was started and has not finished.
  bool busy() const { return pending_ && !done_.load(std::memory_order_acquire); }
  // Writes `s` to `path` on a thread. Requires !busy(); an outcome not
  // collected by then is dropped.
  void start(std::string path, sync::Snapshot s);
  // The outcome of a finished write not collected yet: "" written, else why
  // not. nullopt while a write runs or when there is nothing to collect.
  std::optional<std::string> collect();
  // Blocks until the write in flight, if any, has finished (collect() then
  // returns its outcome).
  void wait() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::thread thread_;
  std::atomic<bool> done_{false};
  bool pending_ = false;
  std::string error_;  // written by the thread before done_ (release)
};

}  // namespace edgekey::daemon
