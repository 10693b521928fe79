#include "daemon/edgekeyd/snapshot_writer.hpp"

#include <exception>
#include <utility>

namespace edgekey::daemon {

void SnapshotWriter::start(std::string path, sync::Snapshot s) {
  wait();  // a finished thread not joined yet
  pending_ = true;
  done_.store(false, std::memory_order_relaxed);
  error_.clear();
  thread_ = std::thread([this, path = std::move(path), s = std::move(s)] {
    try {
      sync::save_snapshot(path, s);
    } catch (const std::exception &e) {
      error_ = e.what();
    }
    done_.store(true, std::memory_order_release);
  });
}

std::optional<std::string> SnapshotWriter::collect() {
  if (!pending_ || !done_.load(std::memory_order_acquire)) return std::nullopt;
  wait();
  pending_ = false;
  return std::exchange(error_, std::string());
}

}  // namespace edgekey::daemon
