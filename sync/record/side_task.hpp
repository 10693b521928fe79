// SideTask: one piece of work run beside the caller's, for the keyset
// readers that split a large text between cores.
#pragma once

#include <exception>
#include <functional>
#include <system_error>
#include <thread>
#include <utility>

namespace edgekey::sync {

// Runs fn on a thread of its own, or at once on the caller's when no thread
// can be had. wait() joins and rethrows what fn threw. The destructor joins
// as well, so an exception on the caller's side between the start and wait()
// neither ends the process (a joinable std::thread's destructor would) nor
// leaves fn reading the caller's locals after they are gone: declare the
// SideTask after everything fn uses.
class SideTask {
 public:
  template <class F>
  explicit SideTask(F &&fn) : fn_(std::forward<F>(fn)) {
    try {
      thread_ = std::thread([this] { run(); });
    } catch (const std::system_error &) {
      run();
    }
  }
  SideTask(const SideTask &) = delete;
  SideTask &operator=(const SideTask &) = delete;
  ~SideTask() {
    if (thread_.joinable()) thread_.join();
  }

  void wait() {
    if (thread_.joinable()) thread_.join();
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  void run() {
    try {
      fn_();
    } catch (...) {
      error_ = std::current_exception();
    }
  }

  std::function<void()> fn_;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace edgekey::sync
