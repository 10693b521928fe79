// Serialising responses into a connection's output buffer.
#pragma once

#include <string>
#include <string_view>

#include "daemon/http/message.hpp"

namespace edgekey::daemon::http {

struct WriteOptions {
  bool head = false;            // answer to HEAD: headers (with Content-Length), no body
  bool close = false;           // add `Connection: close`
  bool keep_alive_http10 = false;  // HTTP/1.0 client that asked for keep-alive: say yes
};

// Appends the status line, the handler's headers (sanitised, see Response),
// Content-Length, Connection when needed, and the body to out. Returns the
// status actually written (500 when r.status was out of range).
int append_response(std::string& out, const Response& r, const WriteOptions& opt);

// A plain-text answer the server makes itself (errors, timeouts):
// Content-Type text/plain, body = reason + "\n".
void append_plain_response(std::string& out, int status, std::string_view reason, bool close);

// "HTTP/1.1 100 Continue\r\n\r\n"
void append_continue(std::string& out);

// A complete `503 Service Unavailable` with `Connection: close`, for
// connections refused over the connection limit. Static storage.
std::string_view overload_response() noexcept;

// Reason phrase of a status ("Not Found"), "Unknown" when none is known.
std::string_view reason_phrase(int status) noexcept;

}  // namespace edgekey::daemon::http
