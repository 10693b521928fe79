#include "daemon/http/unix_listener.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace edgekey::daemon::http {

namespace {

[[noreturn]] void fail(int err, const std::string& path, const char* what) {
  throw std::system_error(err, std::generic_category(),
                          "http socket " + path + ": " + what);
}

sockaddr_un address_of(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty()) fail(EINVAL, path, "empty path");
  if (path.size() >= sizeof addr.sun_path) {
    fail(ENAMETOOLONG, path,
         ("path longer than " + std::to_string(sizeof addr.sun_path - 1) + " bytes").c_str());
  }
  if (path.find('\0') != std::string::npos) fail(EINVAL, path, "NUL in path");
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

// Removes a socket file nothing listens on; leaves anything else and throws.
void remove_stale(const std::string& path, const sockaddr_un& addr) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    fail(errno, path, "stat");
  }
  if (!S_ISSOCK(st.st_mode)) fail(EEXIST, path, "exists and is not a socket; not removing it");

  const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) fail(errno, path, "socket");
  const int rc = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int err = errno;
  ::close(probe);
  if (rc == 0) fail(EADDRINUSE, path, "another server is listening on it");
  if (err == EAGAIN) fail(EADDRINUSE, path, "another server is listening on it (backlog full)");
  if (err != ECONNREFUSED && err != ENOENT) fail(err, path, "probing the existing socket");
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) fail(errno, path, "removing stale socket");
}

}  // namespace

BoundSocket listen_unix(const std::string& path, unsigned mode, int backlog) {
  const sockaddr_un addr = address_of(path);
  remove_stale(path, addr);

  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(errno, path, "socket");
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    fail(err, path, "bind");
  }
  struct stat st {};
  auto undo = [&](const char* what) {
    const int err = errno;
    ::close(fd);
    ::unlink(path.c_str());
    fail(err, path, what);
  };
  if (::chmod(path.c_str(), static_cast<mode_t>(mode & 07777)) != 0) undo("chmod");
  if (::stat(path.c_str(), &st) != 0) undo("stat");
  if (::listen(fd, backlog) != 0) undo("listen");
  return BoundSocket{fd, st.st_dev, st.st_ino};
}

void unlink_if_ours(const std::string& path, dev_t dev, ino_t ino) noexcept {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == dev &&
      st.st_ino == ino) {
    ::unlink(path.c_str());
  }
}

}  // namespace edgekey::daemon::http
