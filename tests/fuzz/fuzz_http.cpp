// libFuzzer target: edgekeyd's socket protocol without the socket. The input
// is split into reads (the first byte chooses the read size) and fed to a
// Session, which parses with RequestParser, calls the handler and serialises
// the answers, exactly as a Connection does. GET /v1/validate goes to the
// daemon's own ValidateRoute on a table of fuzz_keys(); any other path to an
// echo handler that reflects request bytes into the answer.
//
// Properties, beyond "no crash, no sanitizer report":
// - the waiting output stays bounded (Session::kOutputHighWater);
// - the output is a sequence of well-framed HTTP/1.x responses: a status
//   line, "Name: value" header lines without stray CR or LF (reflected
//   bytes cannot split a response), a Content-Length body (none for 1xx and
//   HEAD);
// - /v1/validate answers 200, 401, 403 or 503 with an X-Edgekey-Code that is
//   the code's name.
#include "fuzz_table.hpp"

#include "daemon/edgekeyd/validate_route.hpp"
#include "daemon/http/session.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

namespace fuzz = edgekey::fuzz;
using namespace edgekey::daemon::http;

namespace {

bool token_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Walks `out`, whole responses only; `heads` holds, in order, whether each
// request the handler answered was a HEAD (its response has no body).
void check_framing(std::string_view out, std::deque<bool> &heads) {
  while (!out.empty()) {
    if (out.substr(0, 9) != "HTTP/1.1 " && out.substr(0, 9) != "HTTP/1.0 ")
      fuzz::fail("response does not start with a status line", std::string(out.substr(0, 40)));
    const size_t end = out.find("\r\n\r\n");
    if (end == std::string_view::npos) fuzz::fail("response head is not terminated");
    std::string_view head = out.substr(0, end + 2);
    const int status = std::atoi(std::string(out.substr(9, 3)).c_str());
    size_t content_length = 0;
    head.remove_prefix(head.find("\r\n") + 2);  // the status line
    while (!head.empty()) {
      const size_t eol = head.find("\r\n");
      const std::string_view line = head.substr(0, eol);
      head.remove_prefix(eol + 2);
      const size_t colon = line.find(": ");
      if (colon == std::string_view::npos || colon == 0) fuzz::fail("header line without a name", std::string(line));
      for (char c : line.substr(0, colon))
        if (!token_char(c)) fuzz::fail("header name with a non-token byte", std::string(line));
      for (char c : line.substr(colon + 2))
        if (c == '\r' || c == '\n' || c == '\0') fuzz::fail("header value with CR, LF or NUL", std::string(line));
      if (iequals(line.substr(0, colon), "content-length"))
        content_length = size_t(std::strtoull(std::string(line.substr(colon + 2)).c_str(), nullptr, 10));
    }
    out.remove_prefix(end + 4);
    if (status < 200) continue;  // interim (100 Continue): the final answer follows
    bool head_request = false;
    if (!heads.empty()) {  // else the session's own error answer, after the handled ones
      head_request = heads.front();
      heads.pop_front();
    }
    if (head_request) continue;
    if (content_length > out.size()) fuzz::fail("response body shorter than its Content-Length");
    out.remove_prefix(content_length);
  }
}

struct Server {
  fuzz::FuzzTable table{"http", true};
  edgekey::daemon::ValidateRoute route{table.name};
  std::deque<bool> heads;
  Server() {
    Request warm;  // opens the route's validator while the table has a name
    warm.method = "GET";
    warm.path = warm.target = "/v1/validate";
    Response res;
    route.handle(warm, res);
    if (res.status != 401) fuzz::fail("fuzz_http: the route did not open its table", res.body);
    table.unlink();
  }
  void handle(const Request &r, Response &w) {
    heads.push_back(r.method == "HEAD");
    if (r.path == "/v1/validate") {
      route.handle(r, w);
      const auto code = w.header("X-Edgekey-Code");
      if (w.status != 200 && w.status != 401 && w.status != 403 && w.status != 503)
        fuzz::fail("/v1/validate status outside 200/401/403/503", std::to_string(w.status));
      bool named = false;
      for (int c = 0; c < EK_CODE_COUNT_ && code; ++c)
        named = named || (*code == ek_code_name(c) && ek_code_status(c) == w.status);
      if (!named) fuzz::fail("/v1/validate X-Edgekey-Code missing or not its status's code");
      return;
    }
    // Touch every view so that a dangling one shows under ASan; reflect bytes.
    std::size_t n = r.method.size() + r.path.size() + r.query.size() + r.body.size();
    for (const auto &[name, value] : r.headers) n += name.size() + value.size();
    w.add_header("X-Len", std::to_string(n));
    if (auto a = r.header("authorization")) w.add_header("X-Auth", *a);
    if (auto h = r.header("x-echo-name")) w.add_header(*h, "1");  // an invalid name is dropped
    w.body.assign(r.target);
    if (r.path == "/status") w.status = static_cast<int>(n % 1200);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  static Server server;
  if (size == 0) return 0;
  Limits limits;
  limits.max_header_bytes = 1024;
  limits.max_body_bytes = 1024;
  ServerStats stats;
  const Handler handler = [](const Request &r, Response &w) { server.handle(r, w); };
  const LatencyHook hook;
  Session session(limits, handler, hook, stats);
  server.heads.clear();

  const std::size_t step = 1 + data[0] % 64;
  const char *in = reinterpret_cast<const char *>(data + 1);
  std::size_t left = size - 1;
  std::string pending;
  while (left > 0 && !session.closing()) {
    const std::size_t n = left < step ? left : step;
    pending.append(in, n);
    in += n;
    left -= n;
    auto p = session.consume(pending.data(), pending.size());
    pending.erase(0, p.consumed);
    if (session.output().size() > 4 * Session::kOutputHighWater) fuzz::fail("session output unbounded");
    check_framing(session.output(), server.heads);
    session.output().clear();  // "sent"
  }
  if (session.mid_request()) session.request_timed_out();
  check_framing(session.output(), server.heads);
  return 0;
}
