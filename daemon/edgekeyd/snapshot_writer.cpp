#include "daemon/edgekeyd/snapshot_writer.hpp"

#include "daemon/edgekeyd/log.hpp"
#include "sync/record/atomic_file.hpp"
#include "sync/record/key_record.hpp"
#include "sync/upstream/failure_text.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <malloc.h>
#include <utility>

namespace edgekey::daemon {

void SnapshotWriter::start(std::string path, sync::Snapshot s) {
  wait();  // a finished thread not joined yet
  pending_ = true;
  done_.store(false, std::memory_order_relaxed);
  error_.clear();
  errno_ = 0;
  path_ = std::move(path);  // the thread reads it: written before it starts, not again until joined
  unwritten_since_ms_ = 0;
  try {
    thread_ = std::thread([this, s = std::move(s)]() mutable {
      const auto t0 = std::chrono::steady_clock::now();
      try {
        sync::save_snapshot(path_, s);
      } catch (const sync::KeysetError &e) {
        error_ = e.what();
        errno_ = e.error_number;
      } catch (const std::exception &e) {
        failed(e);
      }
      // The copy of the records goes back to the system now: this thread's
      // malloc arena may be one whose long-lived blocks (another thread's
      // index) keep it from shrinking by itself, and edgekeyd stays flat.
      { const sync::Snapshot done = std::move(s); }
      malloc_trim(0);
      took_ms_ = uint64_t(
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count());
      done_.store(true, std::memory_order_release);
    });
  } catch (const std::exception &e) {  // no thread to be had (EAGAIN), or no memory for one
    failed(e);
    done_.store(true, std::memory_order_release);
  }
}

void SnapshotWriter::not_started(const std::string &path, const std::exception &e) noexcept {
  wait();
  pending_ = true;
  try {
    path_ = path;
  } catch (const std::exception &) {  // only the log line names it
  }
  took_ms_ = 0;
  failed(e);
  done_.store(true, std::memory_order_release);
}

void SnapshotWriter::failed(const std::exception &e) noexcept {
  errno_ = 0;
  try {
    error_ = sync::failure_text(e);
  } catch (const std::exception &) {
    error_ = "no memory";  // short enough to need none
  }
}

bool SnapshotWriter::collect(int64_t now) {
  if (!pending_ || !done_.load(std::memory_order_acquire)) return false;
  wait();
  pending_ = false;
  last_ms_ = took_ms_;
  SnapshotState &st = state_;
  if (error_.empty()) {
    if (st.failing())
      log(Severity::Info, "snapshot %s written again, after %llu failed attempts since %s", path_.c_str(),
          (unsigned long long)st.failures_in_row, sync::format_time(st.failing_since).c_str());
    ++st.written;
    st.last_written_at = now;
    st.failing_since = 0;
    st.failures_in_row = 0;
    st.last_error.clear();
    st.last_errno = 0;
    return true;
  }
  // A new state: the first failure, or one for another reason (the message
  // names a random temp file, so the system error is what is compared).
  const bool changed = !st.failing() || st.last_errno != errno_ || (errno_ == 0 && st.last_error != error_);
  if (changed) {
    const std::string previous =
        st.last_written_at ? " (written " + sync::format_time(st.last_written_at) + ")" : std::string(", if any,");
    log(Severity::Error,
        "snapshot %s not written: %s. edgekeyd serves on, keeps the previous snapshot%s and tries again after "
        "each change and at least every 30 s (logged again when this changes)",
        path_.c_str(), error_.c_str(), previous.c_str());
  }
  ++st.failed;
  ++st.failures_in_row;
  if (!st.failing()) st.failing_since = now;
  st.last_error = std::move(error_);
  st.last_errno = errno_;
  return true;
}

uint64_t SnapshotWriter::delay_ms(uint64_t now_ms) {
  constexpr uint64_t kQuietMs = 1000, kLatestMs = 60000, kBusyMs = 250;
  if (!unwritten_since_ms_) unwritten_since_ms_ = std::max<uint64_t>(now_ms, 1);
  const uint64_t due = std::min(now_ms + std::max(kQuietMs, 4 * last_ms_), unwritten_since_ms_ + kLatestMs);
  const uint64_t d = due > now_ms ? due - now_ms : 0;
  return busy() ? std::max(d, kBusyMs) : d;
}

uint64_t SnapshotWriter::retry_delay_ms() const {
  const uint64_t n = std::min<uint64_t>(state_.failures_in_row, 8);
  return std::min<uint64_t>(uint64_t(500) << (n ? n - 1 : 0), 30000);
}

nlohmann::json SnapshotWriter::status_json() const {
  const SnapshotState &st = state_;
  auto time_or_null = [](int64_t t) { return t ? nlohmann::json(sync::format_time(t)) : nlohmann::json(); };
  return {{"written", st.written},
          {"failed", st.failed},
          {"failing", st.failing()},
          {"last_written_at", time_or_null(st.last_written_at)},
          {"failing_since", time_or_null(st.failing_since)},
          {"last_error", st.last_error}};
}

}  // namespace edgekey::daemon
