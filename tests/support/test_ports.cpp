// test_ports.cpp -- see test_ports.hpp.
#include "test_ports.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace edgekey::test {

namespace {

// [lo, hi): ports no connect() on this host is given. Below the ephemeral
// range when there is room (the usual 32768-60999 leaves 20000-32767), else
// above it.
std::pair<int, int> unused_by_kernel() {
  int eph_lo = 32768, eph_hi = 60999;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> eph_lo >> eph_hi;
  if (eph_lo - 1024 >= 2000) return {std::max(1024, eph_lo - 12768), eph_lo};
  if (65535 - eph_hi >= 2000) return {eph_hi + 1, 65536};
  return {1024, 65536};  // the range covers nearly everything: the hold still keeps tests apart
}

// Holds `port` against other ReservedPorts: -1 when another holds it.
int hold(int port) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  const int n = std::snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "edgekey-test-port-%d", port);
  const auto len = socklen_t(offsetof(sockaddr_un, sun_path) + 1 + size_t(n));
  if (::bind(fd, reinterpret_cast<sockaddr *>(&a), len) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// True when a server could listen on 127.0.0.1:`port` now. SO_REUSEADDR as
// servers set it, so a connection of an earlier test in TIME_WAIT does not
// count as taken.
bool bindable(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = loopback_address(port);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

ReservedPort::ReservedPort() {
  const auto [lo, hi] = unused_by_kernel();
  const int span = hi - lo;
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const int start = int((uint64_t(::getpid()) * 7919u + uint64_t(now.tv_nsec)) % uint64_t(span));
  for (int i = 0; i < span; ++i) {
    const int port = lo + (start + i) % span;
    const int fd = hold(port);
    if (fd < 0) continue;
    if (bindable(port)) {
      port_ = port;
      hold_fd_ = fd;
      return;
    }
    ::close(fd);
  }
  throw std::runtime_error("no free TCP port on 127.0.0.1 in " + std::to_string(lo) + "-" +
                           std::to_string(hi - 1) + " for a test server; stop what listens there");
}

ReservedPort::~ReservedPort() {
  if (hold_fd_ >= 0) ::close(hold_fd_);
}

ReservedPort::ReservedPort(ReservedPort &&other) noexcept
    : port_(std::exchange(other.port_, -1)), hold_fd_(std::exchange(other.hold_fd_, -1)) {}

ReservedPort &ReservedPort::operator=(ReservedPort &&other) noexcept {
  if (this != &other) {
    if (hold_fd_ >= 0) ::close(hold_fd_);
    port_ = std::exchange(other.port_, -1);
    hold_fd_ = std::exchange(other.hold_fd_, -1);
  }
  return *this;
}

}  // namespace edgekey::test
