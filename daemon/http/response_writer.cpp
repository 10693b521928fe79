#include "daemon/http/response_writer.hpp"

#include <http_parser.h>

#include <charconv>

namespace edgekey::daemon::http {

namespace {

// RFC 9110 tchar.
bool is_tchar(unsigned char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool valid_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (char c : name) {
    if (!is_tchar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool server_owned(std::string_view name) noexcept {
  return iequals(name, "content-length") || iequals(name, "connection") ||
         iequals(name, "transfer-encoding");
}

void append_value(std::string& out, std::string_view v) {
  std::size_t start = out.size();
  out.append(v);
  for (std::size_t i = start; i < out.size(); ++i) {
    const char c = out[i];
    if (c == '\r' || c == '\n' || c == '\0') out[i] = ' ';
  }
}

void append_uint(std::string& out, unsigned long long v) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

void append_status_line(std::string& out, int status) {
  out.append("HTTP/1.1 ");
  append_uint(out, static_cast<unsigned>(status));
  out.push_back(' ');
  out.append(reason_phrase(status));
  out.append("\r\n");
}

}  // namespace

std::string_view reason_phrase(int status) noexcept {
  const char* s = http_status_str(static_cast<http_status>(status));
  if (s == nullptr || s[0] == '<') return "Unknown";  // http-parser says "<unknown>"
  return s;
}

int append_response(std::string& out, const Response& r, const WriteOptions& opt) {
  const bool valid = r.status >= 200 && r.status <= 999;
  const int status = valid ? r.status : 500;
  const std::string_view body = valid ? std::string_view(r.body) : "internal server error\n";
  // RFC 9110: no Content-Length and no body with 204 and 304.
  const bool bodyless = status == 204 || status == 304;

  out.reserve(out.size() + 128 + body.size());
  append_status_line(out, status);
  if (valid) {
    for (const Header& h : r.headers()) {
      if (!valid_name(h.name) || server_owned(h.name)) continue;
      out.append(h.name);
      out.append(": ");
      append_value(out, h.value);
      out.append("\r\n");
    }
  } else {
    out.append("Content-Type: text/plain\r\n");
  }
  if (!bodyless) {
    out.append("Content-Length: ");
    append_uint(out, body.size());
    out.append("\r\n");
  }
  if (opt.close) {
    out.append("Connection: close\r\n");
  } else if (opt.keep_alive_http10) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
  if (!opt.head && !bodyless) out.append(body);
  return status;
}

void append_plain_response(std::string& out, int status, std::string_view reason, bool close) {
  append_status_line(out, status);
  out.append("Content-Type: text/plain\r\nContent-Length: ");
  append_uint(out, reason.size() + 1);
  out.append(close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n");
  out.append(reason);
  out.push_back('\n');
}

void append_continue(std::string& out) { out.append("HTTP/1.1 100 Continue\r\n\r\n"); }

std::string_view overload_response() noexcept {
  static constexpr std::string_view kOverload =
      "HTTP/1.1 503 Service Unavailable\r\n"
      "Content-Type: text/plain\r\n"
      "Content-Length: 21\r\n"
      "Connection: close\r\n"
      "\r\n"
      "too many connections\n";
  return kOverload;
}

}  // namespace edgekey::daemon::http
