// The HTTP/1.1 protocol state machine of one connection, without I/O: bytes
// in, response bytes out. Connection wraps it with a socket and timers; the
// fuzz target and unit tests drive it directly.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include "daemon/http/limits.hpp"
#include "daemon/http/message.hpp"
#include "daemon/http/request_parser.hpp"
#include "daemon/http/stats.hpp"

namespace edgekey::daemon::http {

// Called once per complete request, synchronously, on the loop thread. The
// Request's views are valid only during the call. An exception escaping it
// is answered 500 (the connection stays usable). It may call
// HttpServer::close() (every connection, its own included, is then closed
// without its answer being sent), but must not destroy the server.
using Handler = std::function<void(const Request&, Response&)>;

// Called after each handled request with the time from the request being
// complete to its response being serialised (the handler's time, mostly).
// Must not throw.
using LatencyHook =
    std::function<void(const Request&, const Response&, std::chrono::nanoseconds)>;

class Session {
 public:
  // consume() stops taking requests once this much output is waiting, so a
  // client pipelining without reading cannot grow it without bound.
  static constexpr std::size_t kOutputHighWater = 64 * 1024;

  struct Progress {
    std::size_t consumed = 0;       // bytes of the input used
    bool finished_request = false;  // at least one request was answered
  };

  // handler, hook and stats must outlive the session.
  Session(const Limits& limits, const Handler& handler, const LatencyHook& hook,
          ServerStats& stats);

  // Parses data and appends the answers to output(), request after request,
  // until the input is used up, the output reaches kOutputHighWater, or the
  // session is closing. Bytes not consumed must be given again, first, once
  // output() has drained (unless closing(), when they are to be dropped).
  Progress consume(const char* data, std::size_t len);

  // Response bytes in order, not yet sent. The owner sends and removes them
  // (typically by swapping the string with an empty one of its own).
  std::string& output() noexcept { return out_; }

  // A response ending the connection has been queued (Connection: close,
  // HTTP/1.0, an error, a timeout): no more input is consumed; close the
  // connection once output() is sent.
  bool closing() const noexcept { return closing_; }

  // Bytes of an incomplete request have been consumed.
  bool mid_request() const noexcept { return parser_.mid_request(); }

  // The request timeout expired: queue 408 and start closing. No-op when
  // already closing.
  void request_timed_out();

 private:
  void dispatch();
  void reject(int status, std::string_view reason);

  const Handler& handler_;
  const LatencyHook& hook_;
  ServerStats& stats_;
  RequestParser parser_;
  Response response_;  // reused for every request
  std::string out_;
  bool closing_ = false;
};

}  // namespace edgekey::daemon::http
