#include "daemon/http/connection.hpp"

#include <new>

namespace edgekey::daemon::http {

namespace {
Connection* of(void* data) noexcept { return static_cast<Connection*>(data); }

// A libuv callback's work: nothing may unwind into libuv. A request that
// finds no memory (its parse, its response) closes its connection; the
// client sees it closed and may try again, and the server serves on.
template <class F>
void guarded(Connection* c, F&& work) noexcept {
  try {
    work();
  } catch (const std::bad_alloc&) {
    c->close();
  }
}
}  // namespace

Connection::Connection(uv_loop_t* loop, const Limits& limits, const Handler& handler,
                       const LatencyHook& hook, ServerStats& stats, ConnectionOwner& owner)
    : loop_(loop),
      idle_ms_(static_cast<std::uint64_t>(limits.idle_timeout.count())),
      request_ms_(static_cast<std::uint64_t>(limits.request_timeout.count())),
      stats_(stats),
      owner_(owner),
      session_(limits, handler, hook, stats) {
  // Neither can fail on Unix; from here on both handles must be uv_close()d.
  uv_pipe_init(loop_, &pipe_, 0);
  uv_timer_init(loop_, &timer_);
  pipe_.data = this;
  timer_.data = this;
  write_req_.data = this;
}

int Connection::accept(uv_stream_t* listener) {
  const int rc = uv_accept(listener, reinterpret_cast<uv_stream_t*>(&pipe_));
  if (rc != 0) return rc;
  // A client that never sends a byte is closed as idle.
  set_deadline(uv_now(loop_) + idle_ms_);
  start_reading();
  return closed_ ? UV_ECONNABORTED : 0;
}

void Connection::close() noexcept {
  if (closed_) return;
  closed_ = true;
  reading_ = false;
  pending_closes_ = 2;
  uv_close(reinterpret_cast<uv_handle_t*>(&pipe_), &Connection::on_close);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &Connection::on_close);
}

void Connection::on_close(uv_handle_t* h) {
  Connection* c = of(h->data);
  if (--c->pending_closes_ == 0) c->owner_.connection_closed(c);  // may delete c
}

void Connection::on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
  *buf = of(h->data)->owner_.read_buffer();
}

void Connection::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  Connection* c = of(s->data);
  if (c->closed_) return;
  if (nread > 0) {
    guarded(c, [&] {
      c->process(buf->base, static_cast<std::size_t>(nread));
      c->flush();
    });
  } else if (nread == UV_EOF) {
    // Half-close: answer what has arrived, then close (flush's tail).
    c->eof_ = true;
    c->stop_reading();
    guarded(c, [&] { c->flush(); });
  } else if (nread < 0) {
    c->close();
  }
}

void Connection::process(const char* data, std::size_t len) {
  const bool was_mid = session_.mid_request();
  const Session::Progress p = session_.consume(data, len);
  if (closed_) return;  // the handler closed the server (and so this connection)
  if (session_.closing()) {
    stop_reading();  // the rest of the input is dropped
  } else if (p.consumed < len) {
    backlog_.append(data + p.consumed, len - p.consumed);
    stop_reading();  // resumed by flush() once the backlog is consumed
  }

  const std::uint64_t now = uv_now(loop_);
  if (session_.closing()) {
    set_deadline(now + idle_ms_);
  } else if (session_.mid_request()) {
    // A request whose first byte came in this read starts its clock now; an
    // older incomplete one keeps its deadline.
    if (!was_mid || p.finished_request) set_deadline(now + request_ms_);
  } else {
    set_deadline(now + idle_ms_);
  }
}

void Connection::flush() {
  while (!closed_ && !writing_) {
    std::string& out = session_.output();
    if (!out.empty()) {
      uv_buf_t b = uv_buf_init(out.data(), static_cast<unsigned>(out.size()));
      const int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&pipe_), &b, 1);
      if (n < 0 && n != UV_EAGAIN) {
        close();  // EPIPE, ECONNRESET: the client is gone
        return;
      }
      const std::size_t sent = n > 0 ? static_cast<std::size_t>(n) : 0;
      if (sent < out.size()) {
        // The rest goes out asynchronously from inflight_, which nothing
        // touches until on_write; new output accumulates in out meanwhile.
        inflight_.swap(out);
        out.clear();
        uv_buf_t rest = uv_buf_init(inflight_.data() + sent,
                                    static_cast<unsigned>(inflight_.size() - sent));
        if (uv_write(&write_req_, reinterpret_cast<uv_stream_t*>(&pipe_), &rest, 1,
                     &Connection::on_write) != 0) {
          close();
          return;
        }
        writing_ = true;
        stop_reading();  // back-pressure: read again once the client reads
        return;
      }
      out.clear();
    }
    if (!backlog_.empty() && !session_.closing()) {
      std::string in;
      in.swap(backlog_);
      process(in.data(), in.size());  // re-stashes what it cannot take yet
      continue;
    }
    if (session_.closing() || eof_) {
      close();
      return;
    }
    start_reading();
    return;
  }
}

void Connection::on_write(uv_write_t* req, int status) {
  Connection* c = of(req->data);
  c->writing_ = false;
  c->inflight_.clear();
  if (c->closed_) return;  // cancelled by close(); the close callbacks follow
  if (status < 0) {
    c->close();
    return;
  }
  if (!c->session_.mid_request()) c->set_deadline(uv_now(c->loop_) + c->idle_ms_);
  guarded(c, [&] { c->flush(); });
}

void Connection::start_reading() {
  if (reading_ || closed_) return;
  if (uv_read_start(reinterpret_cast<uv_stream_t*>(&pipe_), &Connection::on_alloc,
                    &Connection::on_read) != 0) {
    close();
    return;
  }
  reading_ = true;
}

void Connection::stop_reading() noexcept {
  if (!reading_) return;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&pipe_));
  reading_ = false;
}

void Connection::set_deadline(std::uint64_t at) {
  deadline_ = at;
  if (timer_armed_ && timer_due_ <= at) return;  // fires early and re-arms
  const std::uint64_t now = uv_now(loop_);
  uv_timer_start(&timer_, &Connection::on_timer, at > now ? at - now : 0, 0);
  timer_due_ = at;
  timer_armed_ = true;
}

void Connection::on_timer(uv_timer_t* t) {
  Connection* c = of(t->data);
  c->timer_armed_ = false;
  if (c->closed_) return;
  const std::uint64_t now = uv_now(c->loop_);
  if (now < c->deadline_) {
    c->set_deadline(c->deadline_);
    return;
  }
  if (c->session_.closing()) {
    c->close();  // the client has not taken its last response in time
  } else if (c->session_.mid_request()) {
    guarded(c, [&] {
      c->session_.request_timed_out();
      c->backlog_.clear();
      c->stop_reading();
      c->set_deadline(now + c->idle_ms_);
      c->flush();
    });
  } else {
    ++c->stats_.idle_closed;
    c->close();
  }
}

}  // namespace edgekey::daemon::http
