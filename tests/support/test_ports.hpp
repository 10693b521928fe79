// test_ports.hpp -- TCP ports on 127.0.0.1 for servers a test starts
// (nats-server, nginx), safe against the tests ctest runs beside it.
//
// A port from bind(0) is taken from the kernel's ephemeral range; closed and
// handed to a server that binds it later, it can meanwhile go to any
// connect() on the host or to another test doing the same. A ReservedPort is
// instead picked below the ephemeral range (no connect() is given it) and
// held, for as long as the object lives, by an abstract Unix socket named
// after it (no other ReservedPort, in this process or another, picks it; the
// kernel drops the hold when the process dies). It was free when picked:
// a bind() to it succeeded.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>

namespace edgekey::test {

// 127.0.0.1:`port` (0: any port) as bind() and connect() take it.
inline sockaddr_in loopback_address(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(uint16_t(port));
  return a;
}

class ReservedPort {
 public:
  ReservedPort();  // throws std::runtime_error when no port is free
  ~ReservedPort();
  ReservedPort(ReservedPort &&other) noexcept;
  ReservedPort &operator=(ReservedPort &&other) noexcept;
  ReservedPort(const ReservedPort &) = delete;
  ReservedPort &operator=(const ReservedPort &) = delete;

  int port() const { return port_; }

 private:
  int port_ = -1;
  int hold_fd_ = -1;  // the abstract socket "edgekey-test-port-<port>"
};

}  // namespace edgekey::test
