#include "daemon/http/server.hpp"

#include <unistd.h>

#include <csignal>
#include <new>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "daemon/http/response_writer.hpp"

namespace edgekey::daemon::http {

namespace {

void ignore_sigpipe_if_default() {
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    ::sigaction(SIGPIPE, &ignore, nullptr);
  }
}

}  // namespace

HttpServer::HttpServer(uv_loop_t* loop, ServerConfig config, Handler handler)
    : loop_(loop),
      config_(std::move(config)),
      handler_(std::move(handler)),
      read_buf_(new char[kReadBufferBytes]) {}

HttpServer::~HttpServer() {
  if (closed()) return;
  close();
  while (!closed()) uv_run(loop_, UV_RUN_NOWAIT);
}

void HttpServer::start() {
  if (started_) throw std::logic_error("HttpServer::start called twice");
  started_ = true;
  ignore_sigpipe_if_default();
  socket_ = listen_unix(config_.socket_path, config_.socket_mode, config_.backlog);

  uv_pipe_init(loop_, &listener_, 0);
  listener_.data = this;
  listener_open_ = true;
  int rc = uv_pipe_open(&listener_, socket_.fd);
  if (rc != 0) ::close(socket_.fd);  // not adopted by the handle
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), config_.backlog,
                   &HttpServer::on_connection);
  }
  if (rc != 0) {
    closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), &HttpServer::on_listener_closed);
    unlink_if_ours(config_.socket_path, socket_.dev, socket_.ino);
    throw std::system_error(-rc, std::generic_category(),
                            "http socket " + config_.socket_path + ": listen");
  }
}

void HttpServer::close(std::function<void()> on_closed) {
  if (on_closed) on_closed_ = std::move(on_closed);
  if (!closing_) {
    closing_ = true;
    if (listener_open_) {
      uv_close(reinterpret_cast<uv_handle_t*>(&listener_), &HttpServer::on_listener_closed);
      unlink_if_ours(config_.socket_path, socket_.dev, socket_.ino);
    }
    for (Connection* c = connections_; c != nullptr; c = c->next) c->close();
  }
  maybe_finished();
}

void HttpServer::maybe_finished() {
  if (!closing_ || !closed() || !on_closed_) return;
  auto done = std::move(on_closed_);
  on_closed_ = nullptr;
  done();
}

uv_buf_t HttpServer::read_buffer() noexcept {
  return uv_buf_init(read_buf_.get(), static_cast<unsigned>(kReadBufferBytes));
}

void HttpServer::on_connection(uv_stream_t* listener, int status) {
  auto* s = static_cast<HttpServer*>(listener->data);
  if (status < 0 || s->closing_) return;
  if (s->stats_.connections_open >= s->config_.limits.max_connections) {
    s->refuse(listener);
    return;
  }
  Connection* c = nullptr;
  try {
    c = new Connection(s->loop_, s->config_.limits, s->handler_, s->hook_, s->stats_, *s);
  } catch (const std::bad_alloc&) {  // no memory for one more: answered as an overload (503)
    s->refuse(listener);
    return;
  }
  c->next = s->connections_;
  if (s->connections_ != nullptr) s->connections_->prev = c;
  s->connections_ = c;
  ++s->stats_.connections_open;
  if (c->accept(listener) != 0) {
    c->close();
    return;
  }
  ++s->stats_.connections_total;
}

void HttpServer::refuse(uv_stream_t* listener) {
  auto* h = new (std::nothrow) uv_pipe_t;
  if (h == nullptr) {
    if (spare_busy_) {
      refusal_waiting_ = true;
      return;
    }
    h = &spare_;
    spare_busy_ = true;
  }
  uv_pipe_init(loop_, h, 0);
  h->data = this;
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(h)) == 0) {
    // A fresh socket's send buffer is empty: this goes out whole or not at all.
    const std::string_view msg = overload_response();
    uv_buf_t b = uv_buf_init(const_cast<char*>(msg.data()), static_cast<unsigned>(msg.size()));
    uv_try_write(reinterpret_cast<uv_stream_t*>(h), &b, 1);
    ++stats_.rejected.overload;
    stats_.count_response(503);
  }
  ++refusing_;
  uv_close(reinterpret_cast<uv_handle_t*>(h), &HttpServer::on_refused_closed);
}

void HttpServer::on_refused_closed(uv_handle_t* h) {
  auto* s = static_cast<HttpServer*>(h->data);
  if (h == reinterpret_cast<uv_handle_t*>(&s->spare_)) {
    s->spare_busy_ = false;
    if (std::exchange(s->refusal_waiting_, false) && s->listener_open_ && !s->closing_)
      s->refuse(reinterpret_cast<uv_stream_t*>(&s->listener_));
  } else {
    delete reinterpret_cast<uv_pipe_t*>(h);
  }
  --s->refusing_;
  s->maybe_finished();
}

void HttpServer::on_listener_closed(uv_handle_t* h) {
  auto* s = static_cast<HttpServer*>(h->data);
  s->listener_open_ = false;
  s->maybe_finished();
}

void HttpServer::connection_closed(Connection* c) noexcept {
  if (c->prev != nullptr) c->prev->next = c->next;
  if (c->next != nullptr) c->next->prev = c->prev;
  if (connections_ == c) connections_ = c->next;
  --stats_.connections_open;
  delete c;
  maybe_finished();
}

}  // namespace edgekey::daemon::http
