// eventually.hpp -- waiting for a condition in a test, never for a time.
#pragma once

#include <time.h>

#include <chrono>
#include <functional>

namespace edgekey::test {

// Polls `cond` until it holds or `limit` passes; true when it held. The
// short interval between polls only spares the CPU: what a test waits for
// is the condition, so a slow machine makes it slower, never wrong.
inline bool eventually(const std::function<bool()> &cond,
                       std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    struct timespec ts = {0, 2'000'000};  // the poll interval
    nanosleep(&ts, nullptr);
  }
  return cond();
}

}  // namespace edgekey::test
