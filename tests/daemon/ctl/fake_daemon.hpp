// fake_daemon.hpp -- a stand-in for edgekeyd's socket in tests: a thread
// accepting on a Unix socket that reads each request's head and answers
// with canned bytes (or misbehaves on purpose).
#pragma once

#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace edgekey::ctl::test {

class FakeDaemon {
 public:
  enum class Mode {
    Answer,      // write `response`, then close
    Trickle,     // write `response` one byte per write, then close
    Silent,      // read the request, never answer (until destroyed)
    CloseEarly,  // write `response` (meant to be partial), then close
  };

  // Listens at `path` (replacing nothing: the path must not exist) before
  // returning, so a client started afterwards always finds it.
  FakeDaemon(std::string path, std::string response, Mode mode = Mode::Answer);
  ~FakeDaemon();  // stops the thread and unlinks the socket
  FakeDaemon(const FakeDaemon &) = delete;
  FakeDaemon &operator=(const FakeDaemon &) = delete;

  // Request heads received so far ("GET … HTTP/1.1\r\n…\r\n\r\n").
  std::vector<std::string> requests() const;

  // A complete HTTP/1.1 response with a Content-Length body.
  static std::string http(int status, const std::string &body,
                          const std::string &content_type = "application/json");

 private:
  void serve();
  void handle(int fd);
  // Waits for `fd` readable; false when told to stop.
  bool wait_readable(int fd);

  std::string path_;
  std::string response_;
  Mode mode_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  mutable std::mutex mu_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

}  // namespace edgekey::ctl::test
