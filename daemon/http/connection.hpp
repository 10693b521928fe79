// One accepted client: a Session driven by a libuv pipe handle and a timer.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>

#include "daemon/http/limits.hpp"
#include "daemon/http/session.hpp"
#include "daemon/http/stats.hpp"

namespace edgekey::daemon::http {

class Connection;

// What a Connection needs from the server that created it. The owner
// outlives all its connections.
class ConnectionOwner {
 public:
  // Storage for the next read of any connection. It is reused by the next
  // read: a connection consumes or copies every byte before its read
  // callback returns.
  virtual uv_buf_t read_buffer() noexcept = 0;
  // Called from the connection's last close callback: every libuv callback
  // of the connection has run, and the owner may now delete it.
  virtual void connection_closed(Connection* c) noexcept = 0;

 protected:
  ~ConnectionOwner() = default;
};

// Lifetime: constructed by the owner (its pipe and timer handles are
// initialised on loop), then accept()ed; it lives until close() has been
// called and both handles' close callbacks have run, which ends in
// owner.connection_closed(this). It is never deleted any other way, so
// libuv callbacks (including a write cancelled by close(), which libuv
// reports before the close callbacks) always find it alive.
//
// Timer (one per connection, re-armed lazily: moving the deadline later
// costs nothing until the timer fires early and re-arms itself):
//   no request in progress -> close silently at idle_timeout
//   request in progress    -> 408 at request_timeout after its first byte
//   closing (last response queued) -> close at idle_timeout if the client
//                                     has not taken the response by then
class Connection {
 public:
  Connection(uv_loop_t* loop, const Limits& limits, const Handler& handler,
             const LatencyHook& hook, ServerStats& stats, ConnectionOwner& owner);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Takes the pending connection from listener and starts serving it. On a
  // libuv error (returned), the caller must close().
  int accept(uv_stream_t* listener);

  // Idempotent. Pending writes are cancelled; whatever was not sent is lost.
  void close() noexcept;

  // The owner's list of live connections.
  Connection* prev = nullptr;
  Connection* next = nullptr;

 private:
  static void on_alloc(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_timer(uv_timer_t* t);
  static void on_close(uv_handle_t* h);

  void process(const char* data, std::size_t len);
  void flush();
  void start_reading();
  void stop_reading() noexcept;
  void set_deadline(std::uint64_t at);

  uv_loop_t* loop_;
  std::uint64_t idle_ms_;
  std::uint64_t request_ms_;
  ServerStats& stats_;
  ConnectionOwner& owner_;
  uv_pipe_t pipe_;
  uv_timer_t timer_;
  uv_write_t write_req_;
  Session session_;
  std::string inflight_;  // bytes handed to uv_write; untouched until on_write
  std::string backlog_;   // input read but not consumed while output was at high water
  std::uint64_t deadline_ = 0;   // loop time (ms) the current state expires at
  std::uint64_t timer_due_ = 0;  // loop time the timer is armed for, when timer_armed_
  int pending_closes_ = 0;
  bool timer_armed_ = false;
  bool reading_ = false;
  bool writing_ = false;  // write_req_ is in flight
  bool eof_ = false;      // the client will send nothing more
  bool closed_ = false;   // close() called
};

}  // namespace edgekey::daemon::http
