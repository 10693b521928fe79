// nats_events.cpp -- see nats_events.hpp.
#include "sync/upstream/nats/nats_events.hpp"

namespace edgekey::sync::nats_event {

void Queue::post(Event e) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    queue_.push_back(std::move(e));
  }
  uv_async_send(wake_);
}

std::deque<Event> Queue::take() {
  std::deque<Event> batch;
  std::lock_guard<std::mutex> lock(mu_);
  batch.swap(queue_);
  return batch;
}

void Queue::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
}

bool Queue::stopped() {
  std::lock_guard<std::mutex> lock(mu_);
  return stop_;
}

void Queue::wait_for(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [this] { return stop_; });
}

}  // namespace edgekey::sync::nats_event
