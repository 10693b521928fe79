#include "fake_daemon.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace edgekey::ctl::test {

std::string FakeDaemon::http(int status, const std::string &body, const std::string &content_type) {
  const char *reason = status == 200 ? "OK" : status == 401 ? "Unauthorized" : status == 403 ? "Forbidden"
                     : status == 503 ? "Service Unavailable" : "Other";
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: " + content_type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

FakeDaemon::FakeDaemon(std::string path, std::string response, Mode mode)
    : path_(std::move(path)), response_(std::move(response)), mode_(mode) {
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (listen_fd_ < 0 || path_.size() >= sizeof addr.sun_path || ::pipe2(wake_, O_CLOEXEC) != 0)
    throw std::runtime_error("FakeDaemon: socket/pipe setup failed");
  std::memcpy(addr.sun_path, path_.c_str(), path_.size());
  if (::bind(listen_fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 64) != 0)
    throw std::runtime_error("FakeDaemon: cannot listen on " + path_ + ": " + std::strerror(errno));
  thread_ = std::thread([this] { serve(); });
}

FakeDaemon::~FakeDaemon() {
  const char c = 'x';
  (void)!::write(wake_[1], &c, 1);
  thread_.join();
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
  ::unlink(path_.c_str());
}

std::vector<std::string> FakeDaemon::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

bool FakeDaemon::wait_readable(int fd) {
  for (;;) {
    pollfd p[2] = {{fd, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (p[1].revents) return false;
    if (p[0].revents) return true;
  }
}

void FakeDaemon::serve() {
  while (wait_readable(listen_fd_)) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    handle(fd);
    ::close(fd);
  }
}

void FakeDaemon::handle(int fd) {
  std::string head;
  char buf[4096];
  while (head.find("\r\n\r\n") == std::string::npos) {
    if (!wait_readable(fd)) return;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    head.append(buf, size_t(n));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(head);
  }
  switch (mode_) {
    case Mode::Answer:
    case Mode::CloseEarly:
      (void)!::send(fd, response_.data(), response_.size(), MSG_NOSIGNAL);
      break;
    case Mode::Trickle:
      for (char c : response_)
        if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1) break;
      break;
    case Mode::Silent:
      // Hold the connection open until the client gives up (EOF) or we stop.
      while (wait_readable(fd) && ::read(fd, buf, sizeof buf) > 0) {
      }
      break;
  }
}

}  // namespace edgekey::ctl::test
