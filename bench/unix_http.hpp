// unix_http.hpp -- the benchmarks' side of an HTTP/1.1 conversation over a
// Unix socket (socket_bench, peers_bench's edgekeyd peer): connect, read one
// response. Blocking and minimal: the daemon answers with Content-Length.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace edgekey::bench {

// A connected stream socket, or -1.
inline int connect_unix(const std::string &path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Reads one HTTP response (headers + Content-Length body) from fd into buf.
inline bool read_response(int fd, std::string &buf) {
  buf.clear();
  char tmp[4096];
  size_t need = std::string::npos;
  for (;;) {
    ssize_t n = read(fd, tmp, sizeof tmp);
    if (n <= 0) return false;
    buf.append(tmp, size_t(n));
    if (need == std::string::npos) {
      size_t end = buf.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      size_t cl = buf.find("Content-Length: ");
      size_t len = cl == std::string::npos ? 0 : std::strtoul(buf.c_str() + cl + 16, nullptr, 10);
      need = end + 4 + len;
    }
    if (buf.size() >= need) return true;
  }
}

}  // namespace edgekey::bench
