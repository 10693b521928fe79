// HttpServer: HTTP/1.1 over a Unix socket on a caller's libuv loop.
//
// Single-threaded: every member function, the handler, the latency hook and
// every read of stats() run on the loop's thread.
#pragma once

#include <uv.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "daemon/http/connection.hpp"
#include "daemon/http/limits.hpp"
#include "daemon/http/message.hpp"
#include "daemon/http/session.hpp"
#include "daemon/http/stats.hpp"
#include "daemon/http/unix_listener.hpp"

namespace edgekey::daemon::http {

struct ServerConfig {
  std::string socket_path;     // at most 107 bytes (sockaddr_un)
  unsigned socket_mode = 0660;  // set on the socket file before listen()
  int backlog = 511;
  Limits limits;
};

class HttpServer final : private ConnectionOwner {
 public:
  // Nothing touches the loop or the file system until start().
  HttpServer(uv_loop_t* loop, ServerConfig config, Handler handler);

  // Normally the server is close()d and the loop has run its close
  // callbacks (closed() is true) before destruction. Otherwise the
  // destructor closes it and runs the loop (UV_RUN_NOWAIT) until its handles
  // are closed, which is only allowed outside the loop's callbacks and while
  // no other thread runs the loop.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Set before start(). Called for each handled request (see LatencyHook).
  void set_latency_hook(LatencyHook hook) { hook_ = std::move(hook); }

  // Creates the socket file (see listen_unix: a stale file is replaced, a
  // live one is an error) and starts accepting. Throws std::system_error
  // whose what() names the socket path. Also sets SIGPIPE to SIG_IGN if it
  // was SIG_DFL: a client going away mid-response must not kill the
  // process.
  void start();

  // Stops listening, removes the socket file (if it is still the one start()
  // created) and closes every connection, cancelling unsent responses.
  // on_closed runs on the loop once every handle is closed (immediately if
  // nothing was open). Idempotent; a later call's on_closed replaces an
  // earlier one's that has not run yet.
  void close(std::function<void()> on_closed = {});

  // No handle of the server is open or closing.
  bool closed() const noexcept {
    return !listener_open_ && connections_ == nullptr && refusing_ == 0;
  }

  const ServerStats& stats() const noexcept { return stats_; }
  const ServerConfig& config() const noexcept { return config_; }

 private:
  static constexpr std::size_t kReadBufferBytes = 64 * 1024;

  uv_buf_t read_buffer() noexcept override;
  void connection_closed(Connection* c) noexcept override;

  static void on_connection(uv_stream_t* listener, int status);
  static void on_listener_closed(uv_handle_t* h);
  static void on_refused_closed(uv_handle_t* h);
  void refuse(uv_stream_t* listener);
  void maybe_finished();

  uv_loop_t* loop_;
  ServerConfig config_;
  Handler handler_;
  LatencyHook hook_;
  ServerStats stats_;
  std::unique_ptr<char[]> read_buf_;  // shared by all connections, see read_buffer()
  uv_pipe_t listener_{};
  BoundSocket socket_;
  Connection* connections_ = nullptr;  // live connections, owned: deleted in connection_closed
  std::size_t refusing_ = 0;           // refused connections whose handle is closing
  // A refusal's handle when none can be allocated: libuv accepts nothing
  // more until the pending connection is taken, so one is always at hand.
  uv_pipe_t spare_{};
  bool spare_busy_ = false;
  bool refusal_waiting_ = false;  // the spare was busy too: refused once it is free
  std::function<void()> on_closed_;
  bool started_ = false;
  bool listener_open_ = false;  // listener_ initialised and its close callback not run yet
  bool closing_ = false;
};

}  // namespace edgekey::daemon::http
