// Incremental HTTP/1.1 request parser: http-parser plus the server's limits,
// fed raw bytes with no socket involved (the fuzz target drives it directly).
#pragma once

#include <http_parser.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/http/limits.hpp"
#include "daemon/http/message.hpp"

namespace edgekey::daemon::http {

class RequestParser {
 public:
  enum class Event {
    need_more,     // every byte given was consumed; feed more when it arrives
    continue_100,  // headers of a request with `Expect: 100-continue` and an
                   // acceptable body: send "100 Continue", then feed the rest
    request,       // a complete request: read request(), then call next()
    error,         // the connection must be answered error() and closed
  };
  struct Result {
    std::size_t consumed;  // bytes of the input used; the rest is fed again later
    Event event;
  };
  struct Error {
    int status = 0;           // 400, 413, 431 or 505
    std::string_view reason;  // short, static text naming the problem
  };

  explicit RequestParser(const Limits& limits);
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Parses up to one request from data. Stops right after a complete request
  // (so pipelined requests are taken one at a time, in order), after the
  // headers of a 100-continue request, or at the first error. After an error
  // every call returns {0, error}. data need not outlive the call: what the
  // request needs is copied into storage the parser owns.
  Result feed(const char* data, std::size_t len);

  // After Event::request, until next(): the request. Its views point into
  // this parser.
  const Request& request() const noexcept { return request_; }

  // After Event::request: forget it and expect the next request of the
  // connection. Keeps allocated capacity.
  void next() noexcept;

  // After Event::error.
  const Error& error() const noexcept { return error_; }

  // True once any byte of a request not yet complete has been fed (the
  // server's request timeout runs from then).
  bool mid_request() const noexcept { return header_bytes_ > 0 || headers_done_; }

 private:
  struct Span {
    std::uint32_t off = 0, len = 0;
  };
  struct HeaderSpan {
    Span name, value;
  };
  enum class Last : std::uint8_t { none, field, value };

  static int on_message_begin(http_parser* p);
  static int on_url(http_parser* p, const char* at, std::size_t len);
  static int on_header_field(http_parser* p, const char* at, std::size_t len);
  static int on_header_value(http_parser* p, const char* at, std::size_t len);
  static int on_headers_complete(http_parser* p);
  static int on_body(http_parser* p, const char* at, std::size_t len);
  static int on_message_complete(http_parser* p);
  static const http_parser_settings settings_;

  int fail(int status, std::string_view reason) noexcept;
  void append(Span& span, const char* at, std::size_t len);
  std::string_view view(Span s) const noexcept { return {arena_.data() + s.off, s.len}; }
  void build_request();

  http_parser parser_;
  std::size_t max_header_bytes_;
  std::size_t max_body_bytes_;

  // Copies of the current request's URL, header names (lower-cased), header
  // values and body, addressed by the spans below. Spans are offsets rather
  // than views because the arena may reallocate while a request is read;
  // request_ views are built only once it is complete.
  std::string arena_;
  Span url_;
  std::vector<HeaderSpan> header_spans_;
  Span body_;
  Last last_ = Last::none;

  std::size_t header_bytes_ = 0;  // bytes fed for this request while its headers were incomplete
  bool headers_done_ = false;
  bool complete_ = false;         // a request is ready (paused in on_message_complete)
  bool paused_ = false;           // http_parser is paused and must be resumed before feeding
  bool dead_ = false;             // an error was reported
  Error error_;
  Request request_;
};

}  // namespace edgekey::daemon::http
