#include "daemon/http/session.hpp"

#include "daemon/http/response_writer.hpp"

namespace edgekey::daemon::http {

Session::Session(const Limits& limits, const Handler& handler, const LatencyHook& hook,
                 ServerStats& stats)
    : handler_(handler), hook_(hook), stats_(stats), parser_(limits) {}

Session::Progress Session::consume(const char* data, std::size_t len) {
  Progress p;
  while (p.consumed < len && !closing_ && out_.size() < kOutputHighWater) {
    const auto r = parser_.feed(data + p.consumed, len - p.consumed);
    p.consumed += r.consumed;
    switch (r.event) {
      case RequestParser::Event::need_more:
        return p;
      case RequestParser::Event::continue_100:
        append_continue(out_);
        stats_.count_response(100);
        break;
      case RequestParser::Event::request:
        dispatch();
        parser_.next();
        p.finished_request = true;
        break;
      case RequestParser::Event::error:
        reject(parser_.error().status, parser_.error().reason);
        break;
    }
  }
  return p;
}

void Session::dispatch() {
  const Request& req = parser_.request();
  ++stats_.requests_total;
  const bool timed = static_cast<bool>(hook_);
  const auto t0 = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};

  response_.reset();
  try {
    handler_(req, response_);
  } catch (...) {
    response_.reset();
    response_.status = 500;
    response_.add_header("Content-Type", "text/plain");
    response_.body = "internal server error\n";
  }
  const bool keep = req.keep_alive;
  const int status = append_response(
      out_, response_,
      WriteOptions{.head = req.method == "HEAD",
                   .close = !keep,
                   .keep_alive_http10 = keep && req.http_major == 1 && req.http_minor == 0});
  stats_.count_response(status);
  if (!keep) closing_ = true;
  if (timed) hook_(req, response_, std::chrono::steady_clock::now() - t0);
}

void Session::reject(int status, std::string_view reason) {
  switch (status) {
    case 431: ++stats_.rejected.header_too_large; break;
    case 413: ++stats_.rejected.body_too_large; break;
    case 408: ++stats_.rejected.timeout; break;
    default: ++stats_.rejected.bad_request; break;
  }
  append_plain_response(out_, status, reason, /*close=*/true);
  stats_.count_response(status);
  closing_ = true;
}

void Session::request_timed_out() {
  if (closing_) return;
  reject(408, "request not complete in time");
}

}  // namespace edgekey::daemon::http
