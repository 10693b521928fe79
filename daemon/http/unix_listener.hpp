// Creating the server's Unix socket file safely.
#pragma once

#include <sys/types.h>

#include <string>

namespace edgekey::daemon::http {

struct BoundSocket {
  int fd = -1;   // listening, non-blocking, close-on-exec; owned by the caller
  dev_t dev = 0;  // identity of the socket file created, for unlink_if_ours
  ino_t ino = 0;
};

// Binds and listens on a Unix stream socket at path, with the file's mode
// set to mode before listen() (so no client can connect while the mode is
// still the umask's). A socket file already at path is removed first only
// when nothing accepts connections on it (a stale file from a previous run);
// a live socket, or a file that is not a socket, is left alone and is an
// error. Throws std::system_error whose what() names the path.
BoundSocket listen_unix(const std::string& path, unsigned mode, int backlog);

// Removes path if it is still the socket file listen_unix created (a newer
// server may have replaced it). Never throws.
void unlink_if_ours(const std::string& path, dev_t dev, ino_t ino) noexcept;

}  // namespace edgekey::daemon::http
