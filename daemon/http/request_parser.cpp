#include "daemon/http/request_parser.hpp"

#include <algorithm>
#include <array>
#include <limits>

namespace edgekey::daemon::http {

namespace {

RequestParser* self(http_parser* p) noexcept { return static_cast<RequestParser*>(p->data); }

std::string_view trim_ows(std::string_view v) noexcept {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// RFC 9110 tchar, lower-cased; 0 for bytes not allowed in a field name.
// (http-parser lets some through, e.g. spaces, which proxies may read
// differently: a request-smuggling risk.)
constexpr std::array<char, 256> kNameChars = [] {
  std::array<char, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<char>(c);
  for (int c = 'a'; c <= 'z'; ++c) t[c] = static_cast<char>(c);
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = static_cast<char>(c - 'A' + 'a');
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = c;
  return t;
}();

}  // namespace

const http_parser_settings RequestParser::settings_ = [] {
  http_parser_settings s;
  http_parser_settings_init(&s);
  s.on_message_begin = &RequestParser::on_message_begin;
  s.on_url = &RequestParser::on_url;
  s.on_header_field = &RequestParser::on_header_field;
  s.on_header_value = &RequestParser::on_header_value;
  s.on_headers_complete = &RequestParser::on_headers_complete;
  s.on_body = &RequestParser::on_body;
  s.on_message_complete = &RequestParser::on_message_complete;
  return s;
}();

RequestParser::RequestParser(const Limits& limits)
    : max_header_bytes_(std::max<std::size_t>(limits.max_header_bytes, 1)),
      max_body_bytes_(limits.max_body_bytes) {
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
}

RequestParser::Result RequestParser::feed(const char* data, std::size_t len) {
  if (dead_) return {0, Event::error};
  parser_.data = this;
  if (paused_) {
    http_parser_pause(&parser_, 0);
    paused_ = false;
  }
  std::size_t off = 0;
  while (off < len) {
    // While the headers are incomplete, never hand http-parser more than the
    // header budget left: if the budget is used up with the headers still
    // incomplete, they are over the limit, whatever follows.
    std::size_t n = len - off;
    if (!headers_done_) n = std::min(n, max_header_bytes_ - header_bytes_);
    const std::size_t got = http_parser_execute(&parser_, &settings_, data + off, n);
    if (!headers_done_) header_bytes_ += got;
    off += got;

    const auto err = HTTP_PARSER_ERRNO(&parser_);
    if (err == HPE_PAUSED) {
      paused_ = true;
      return {off, complete_ ? Event::request : Event::continue_100};
    }
    if (err != HPE_OK) {
      if (error_.status == 0) {  // not one of ours from a callback
        if (err == HPE_HEADER_OVERFLOW) {
          fail(431, "request header too large");
        } else if (err == HPE_CLOSED_CONNECTION) {
          fail(400, "data after the request that closed the connection");
        } else {
          fail(400, http_errno_description(err));
        }
      }
      dead_ = true;
      return {off, Event::error};
    }
    if (!headers_done_ && header_bytes_ >= max_header_bytes_) {
      fail(431, "request header too large");
      dead_ = true;
      return {off, Event::error};
    }
    if (got != n) {  // http-parser stops early only on error or pause
      fail(400, "malformed request");
      dead_ = true;
      return {off, Event::error};
    }
  }
  return {off, Event::need_more};
}

void RequestParser::next() noexcept {
  if (paused_) {
    http_parser_pause(&parser_, 0);
    paused_ = false;
  }
  header_bytes_ = 0;
  headers_done_ = false;
  complete_ = false;
}

int RequestParser::fail(int status, std::string_view reason) noexcept {
  if (error_.status == 0) error_ = Error{status, reason};
  return -1;
}

void RequestParser::append(Span& span, const char* at, std::size_t len) {
  if (span.len == 0) span.off = static_cast<std::uint32_t>(arena_.size());
  arena_.append(at, len);
  span.len += static_cast<std::uint32_t>(len);
}

int RequestParser::on_message_begin(http_parser* p) {
  RequestParser& s = *self(p);
  s.arena_.clear();
  s.url_ = {};
  s.body_ = {};
  s.header_spans_.clear();
  s.last_ = Last::none;
  return 0;
}

int RequestParser::on_url(http_parser* p, const char* at, std::size_t len) {
  RequestParser& s = *self(p);
  s.append(s.url_, at, len);  // bounded by the header budget
  return 0;
}

int RequestParser::on_header_field(http_parser* p, const char* at, std::size_t len) {
  RequestParser& s = *self(p);
  if (s.headers_done_) return 0;  // a trailer after a chunked body: ignored
  if (s.last_ != Last::field) {
    s.header_spans_.push_back(HeaderSpan{{static_cast<std::uint32_t>(s.arena_.size()), 0}, {}});
  }
  Span& name = s.header_spans_.back().name;
  const std::size_t base = s.arena_.size();
  s.arena_.resize(base + len);
  char* dst = s.arena_.data() + base;
  for (std::size_t i = 0; i < len; ++i) {
    const char c = kNameChars[static_cast<unsigned char>(at[i])];
    if (c == 0) return s.fail(400, "invalid character in header name");
    dst[i] = c;
  }
  name.len += static_cast<std::uint32_t>(len);
  s.last_ = Last::field;
  return 0;
}

int RequestParser::on_header_value(http_parser* p, const char* at, std::size_t len) {
  RequestParser& s = *self(p);
  if (s.headers_done_) return 0;
  if (s.header_spans_.empty()) return s.fail(400, "header value without a name");
  Span& value = s.header_spans_.back().value;
  if (s.last_ != Last::value) value = {static_cast<std::uint32_t>(s.arena_.size()), 0};
  s.arena_.append(at, len);  // pieces of one value (and folded lines) are adjacent
  value.len += static_cast<std::uint32_t>(len);
  s.last_ = Last::value;
  return 0;
}

int RequestParser::on_headers_complete(http_parser* p) {
  RequestParser& s = *self(p);
  s.headers_done_ = true;
  if (p->http_major != 1) return s.fail(505, "HTTP version not supported");
  const bool has_length = (p->flags & F_CONTENTLENGTH) != 0;
  if (has_length && p->content_length > s.max_body_bytes_) {
    return s.fail(413, "request body too large");
  }
  const bool has_body = (p->flags & F_CHUNKED) != 0 || (has_length && p->content_length > 0);
  if (has_body && p->http_minor >= 1) {
    for (const HeaderSpan& h : s.header_spans_) {
      if (s.view(h.name) == "expect" && iequals(trim_ows(s.view(h.value)), "100-continue")) {
        http_parser_pause(p, 1);
        break;
      }
    }
  }
  return 0;
}

int RequestParser::on_body(http_parser* p, const char* at, std::size_t len) {
  RequestParser& s = *self(p);
  if (len > s.max_body_bytes_ - s.body_.len ||
      s.arena_.size() + len > std::numeric_limits<std::uint32_t>::max()) {
    return s.fail(413, "request body too large");
  }
  s.append(s.body_, at, len);
  return 0;
}

int RequestParser::on_message_complete(http_parser* p) {
  RequestParser& s = *self(p);
  s.complete_ = true;
  s.build_request();
  http_parser_pause(p, 1);  // one request at a time: the caller answers it first
  return 0;
}

void RequestParser::build_request() {
  Request& r = request_;
  r.method = http_method_str(static_cast<http_method>(parser_.method));
  r.target = view(url_);
  r.path = r.target;
  r.query = {};
  if (!r.target.empty() && r.target.front() == '/') {
    const std::size_t end = std::min(r.target.find('#'), r.target.size());
    const std::string_view t = r.target.substr(0, end);
    const std::size_t q = t.find('?');
    r.path = t.substr(0, q);
    if (q != std::string_view::npos) r.query = t.substr(q + 1);
  } else {
    // absolute-form ("http://host/p?q"), authority-form (CONNECT) or "*".
    // (http_parser_url offsets are 16-bit: longer targets keep path = target.)
    http_parser_url u;
    http_parser_url_init(&u);
    if (r.target.size() <= 0xffff &&
        http_parser_parse_url(r.target.data(), r.target.size(), parser_.method == HTTP_CONNECT,
                              &u) == 0) {
      auto field = [&](int f) {
        return (u.field_set & (1u << f))
                   ? r.target.substr(u.field_data[f].off, u.field_data[f].len)
                   : std::string_view{};
      };
      if (u.field_set & (1u << UF_PATH)) r.path = field(UF_PATH);
      r.query = field(UF_QUERY);
    }
  }
  r.headers.clear();
  for (const HeaderSpan& h : header_spans_) {
    r.headers.emplace_back(view(h.name), trim_ows(view(h.value)));
  }
  r.body = view(body_);
  r.http_major = parser_.http_major;
  r.http_minor = parser_.http_minor;
  // An upgrade (or CONNECT) hands the rest of the stream to another
  // protocol, which this server does not speak: answer and close.
  r.keep_alive = http_should_keep_alive(&parser_) != 0 && parser_.upgrade == 0;
}

}  // namespace edgekey::daemon::http
