// snapshot_writer.hpp -- writes the last-known-good snapshot beside the loop.
//
// Encoding and writing 1M records takes seconds; on the loop they would hold
// back live revocations. The loop builds the Snapshot (it owns the Applier),
// start() hands it to a thread of its own, and the loop collects the outcome
// later (its tick, or the next write).
// Invariants: at most one write in flight (start() requires !busy()), so an
// older snapshot can never replace a newer one on disk; only the owning
// thread (the loop) calls these members. A failed write leaves the previous
// snapshot file as it was (sync::replace_file_atomically).
#pragma once

#include "sync/upstream/snapshot.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <exception>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>

namespace edgekey::daemon {

// What the writes came to, for /v1/status and /metrics (loop thread only).
struct SnapshotState {
  uint64_t written = 0;         // writes that succeeded since start
  uint64_t failed = 0;          // writes that failed since start
  int64_t last_written_at = 0;  // unix s of the last good write, 0 none yet
  int64_t failing_since = 0;    // unix s of the first failure since the last good write, 0 when not failing
  uint64_t failures_in_row = 0; // failures since the last good write
  std::string last_error;       // why the last write failed; "" after a good one
  int last_errno = 0;           // its system error (ENOSPC...), 0 when none or unknown
  bool failing() const { return failing_since != 0; }
};

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
  // The snapshot for `path` could not even be made (the copy of the
  // records threw `e`: out of memory): an outcome collect() takes as a
  // failed write. Requires !busy().
  void not_started(const std::string &path, const std::exception &e) noexcept;
  // Takes the outcome of a finished write not collected yet into state()
  // and logs a change of state only: the first failure, a failure for
  // another reason, and the first good write after failures (never one line
  // per attempt). False while a write runs or when there is nothing to
  // collect.
  bool collect(int64_t now);
  // Blocks until the write in flight, if any, has finished (collect() then
  // returns its outcome).
  void wait() {
    if (thread_.joinable()) thread_.join();
  }

  const SnapshotState &state() const { return state_; }
  // How long to wait, after a change at `now_ms` (any monotonic ms clock),
  // before writing: until things are quiet for 1 s, or for four times as long as
  // the last write took (a 1M-key keyset's write costs seconds of CPU and
  // disk, which edits a second apart would otherwise share), but no later
  // than 60 s after the first change not yet written; at least 250 ms while
  // a write runs.
  uint64_t delay_ms(uint64_t now_ms);
  // While failing: how long to wait before trying again without a change
  // (0.5 s, doubling per failure in a row, at most 30 s). A change of the keys
  // schedules a write anyway.
  uint64_t retry_delay_ms() const;
  // The "snapshot" section of /v1/status.
  nlohmann::json status_json() const;

 private:
  void failed(const std::exception &e) noexcept;  // error_ and errno_ for `e`

  std::thread thread_;
  std::atomic<bool> done_{false};
  bool pending_ = false;
  std::string path_;    // of the write in flight; the thread reads it
  std::string error_;   // written by the thread before done_ (release)
  int errno_ = 0;       // likewise
  uint64_t took_ms_ = 0;  // likewise: how long the write took
  uint64_t last_ms_ = 0;  // the last collected write's took_ms_
  uint64_t unwritten_since_ms_ = 0;  // the first change since the last start(), 0 = none
  SnapshotState state_;
};

}  // namespace edgekey::daemon
