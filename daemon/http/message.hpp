// Request and Response as the handler sees them.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edgekey::daemon::http {

// A parsed request. Every view points into storage owned by the connection's
// parser and is valid only during the handler call it is passed to; copy what
// must outlive it.
struct Request {
  std::string_view method;  // as sent, e.g. "GET"
  std::string_view target;  // request-target as sent, e.g. "/v1/keys/k?x=1"
  std::string_view path;    // "/v1/keys/k" (for absolute-form targets, the path part)
  std::string_view query;   // "x=1": after '?', without it; empty if none
  // In arrival order, duplicates kept. Names are ASCII lower-case; values
  // have surrounding spaces and tabs removed. Trailers of chunked bodies are
  // not included.
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  std::string_view body;    // decoded (de-chunked)
  unsigned short http_major = 1;
  unsigned short http_minor = 1;
  bool keep_alive = true;   // false: the response ends the connection

  // The first header with this name (compared ASCII case-insensitively), or
  // nullopt when absent.
  std::optional<std::string_view> header(std::string_view name) const noexcept;
  // How many headers carry this name (to reject ambiguous duplicates).
  std::size_t header_count(std::string_view name) const noexcept;
};

struct Header {
  std::string name;
  std::string value;
};

// The handler's answer. The server adds Content-Length and, when it closes
// the connection, `Connection: close`; headers the server owns
// (content-length, connection, transfer-encoding) and headers with an invalid
// name are dropped; CR, LF and NUL in values are written as spaces. A status
// outside 200..999 is answered 500. One Response object is reused for every
// request of a connection: reset() keeps the capacity of the body and of the
// header strings, so steady-state requests do not allocate.
class Response {
 public:
  int status = 200;
  std::string body;

  void add_header(std::string_view name, std::string_view value);
  std::span<const Header> headers() const noexcept { return {headers_.data(), count_}; }
  std::optional<std::string_view> header(std::string_view name) const noexcept;

  // status 200, no headers, empty body.
  void reset() noexcept;

 private:
  std::vector<Header> headers_;  // [0, count_) in use; the rest kept for reuse
  std::size_t count_ = 0;
};

// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b) noexcept;

}  // namespace edgekey::daemon::http
