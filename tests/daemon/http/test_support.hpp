// Test scaffolding: a libuv loop on its own thread, a temp dir, and a plain
// POSIX HTTP client over a Unix socket. All waiting is on sockets (poll with
// a deadline) or through the loop; nothing sleeps to synchronise.
#pragma once

#include <uv.h>

#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace edgekey::daemon::http::test {

using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// A uv loop run by a background thread; call() runs a function on it and
// returns its result, which is how tests read server state without races.
class LoopThread {
 public:
  LoopThread();
  ~LoopThread();  // stop()s if needed
  uv_loop_t* loop() { return &loop_; }
  void start();
  // Runs fn on the loop (after closing the wake-up handle), then waits for the
  // loop to run out of handles and joins.
  void stop(std::function<void()> fn = {});

  template <class F>
  auto call(F fn) -> std::invoke_result_t<F> {
    using R = std::invoke_result_t<F>;
    std::promise<R> p;
    auto fut = p.get_future();
    post([&] {
      if constexpr (std::is_void_v<R>) {
        fn();
        p.set_value();
      } else {
        p.set_value(fn());
      }
    });
    return fut.get();
  }

 private:
  void post(std::function<void()> fn);
  static void on_async(uv_async_t* a);

  uv_loop_t loop_{};
  uv_async_t async_{};
  std::mutex mu_;
  std::deque<std::function<void()>> queue_;
  std::thread thread_;
  bool running_ = false;
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::optional<std::string> header(std::string_view name) const;  // case-insensitive
};

class Client {
 public:
  explicit Client(const std::string& path);  // connects; ok() tells whether it did
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  bool send(std::string_view data);  // all of it, blocking; false on error
  // Next response, or nullopt if the connection closed or the deadline passed
  // first. head: the response to a HEAD request has no body.
  std::optional<HttpResponse> read_response(std::chrono::milliseconds timeout = 3000ms,
                                            bool head = false);
  // True when the server closes (EOF or reset) before the deadline. Bytes
  // arriving meanwhile are kept in buffered().
  bool wait_closed(std::chrono::milliseconds timeout = 3000ms);
  // Waits up to timeout for any byte; true if some arrived (kept in buffered()).
  bool wait_data(std::chrono::milliseconds timeout);
  const std::string& buffered() const { return rx_; }
  void close();

 private:
  enum class Fill { data, closed, timeout };
  Fill fill(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::string rx_;
  bool eof_ = false;
};

// Parses one response from the front of buf (removing it); nullopt when buf
// does not hold a complete one yet.
std::optional<HttpResponse> take_response(std::string& buf, bool head = false);

}  // namespace edgekey::daemon::http::test
