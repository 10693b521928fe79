// Resource limits of the HTTP server. Every limit has a definite answer when
// crossed (see each field); all of them apply per connection except
// max_connections.
#pragma once

#include <chrono>
#include <cstddef>

namespace edgekey::daemon::http {

struct Limits {
  // Request line + header fields + the blank line ending them. Crossing it
  // answers 431 and closes. http-parser also enforces its own compiled-in cap
  // (80 KiB), which answers 431 as well, so the effective limit is the
  // smaller of the two.
  std::size_t max_header_bytes = 8 * 1024;

  // Decoded body bytes (Content-Length or the sum of chunks). A declared
  // Content-Length over the limit is answered 413 before any body byte is
  // read; a chunked body is answered 413 as soon as it crosses. Closes.
  std::size_t max_body_bytes = 64 * 1024;

  // Connections being served at once. One more is accepted, answered 503
  // with `Connection: close` and closed.
  std::size_t max_connections = 1024;

  // A keep-alive connection with no request in progress is closed silently
  // after this long. It also bounds how long a client may take to read a
  // response: a write that has not finished by then closes the connection.
  std::chrono::milliseconds idle_timeout{60'000};

  // A request must be complete this long after its first byte arrived;
  // otherwise the client gets 408 and the connection is closed (bytes
  // trickling in do not extend the deadline).
  std::chrono::milliseconds request_timeout{10'000};
};

}  // namespace edgekey::daemon::http
