#include "daemon/ctl/socket_client.hpp"

#include "daemon/ctl/errors.hpp"

#include <http_parser.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace edgekey::ctl {
namespace {

using Clock = std::chrono::steady_clock;

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd &) = delete;
  Fd &operator=(const Fd &) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

CtlError unavailable(const std::string &path, const std::string &what) {
  return CtlError(kExitUnavailable, "edgekeyd at " + path + ": " + what);
}

// "cannot reach edgekeyd" and why: the socket's state that errno tells, with
// what to do, or else errno's own text.
CtlError connect_error(const std::string &path, int err) {
  struct Reason {
    int err;
    const char *before_path, *after_path;
  };
  static constexpr Reason kReasons[] = {
      {ENOENT, ": no socket at ", " (is edgekeyd running? check socket.path in the config)"},
      {ECONNREFUSED, ": nothing listens on ", " (edgekeyd is not running; the socket file is stale)"},
      {EACCES, ": permission denied on ", " (run as root or as a member of the socket's group)"},
      {EPERM, ": permission denied on ", " (run as root or as a member of the socket's group)"},
      {EAGAIN, ": ", " is not accepting connections (its backlog is full); retry"},
  };
  for (const Reason &r : kReasons)
    if (r.err == err)
      return CtlError(kExitUnavailable, std::string("cannot reach edgekeyd") + r.before_path + path + r.after_path);
  return CtlError(kExitUnavailable, "cannot reach edgekeyd at " + path + ": " + std::strerror(err));
}

// Waits for `events` on fd until `deadline`; false on timeout.
bool wait_for(int fd, short events, Clock::time_point deadline, const std::string &path) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, int(std::min<long long>(left, 60'000)));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) throw unavailable(path, std::string("poll: ") + std::strerror(errno));
  }
}

// http-parser callbacks fill this.
struct ParseState {
  HttpResponse res;
  bool in_value = false;
  bool complete = false;
  size_t bytes = 0;
};

int on_header_field(http_parser *p, const char *at, size_t len) {
  auto *s = static_cast<ParseState *>(p->data);
  if (s->in_value || s->res.headers.empty()) s->res.headers.emplace_back();
  s->in_value = false;
  s->res.headers.back().first.append(at, len);
  return 0;
}

int on_header_value(http_parser *p, const char *at, size_t len) {
  auto *s = static_cast<ParseState *>(p->data);
  if (s->res.headers.empty()) return 1;
  s->in_value = true;
  s->res.headers.back().second.append(at, len);
  return 0;
}

int on_body(http_parser *p, const char *at, size_t len) {
  static_cast<ParseState *>(p->data)->res.body.append(at, len);
  return 0;
}

int on_message_complete(http_parser *p) {
  auto *s = static_cast<ParseState *>(p->data);
  s->complete = true;
  s->res.status = int(p->status_code);
  return 0;
}

const http_parser_settings kSettings = [] {
  http_parser_settings s;
  http_parser_settings_init(&s);
  s.on_header_field = on_header_field;
  s.on_header_value = on_header_value;
  s.on_body = on_body;
  s.on_message_complete = on_message_complete;
  return s;
}();

bool bad_header_text(std::string_view v) { return v.find_first_of(std::string_view("\r\n\0", 3)) != v.npos; }

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto &[k, v] : headers)
    if (iequal(k, name)) return v;
  return std::nullopt;
}

HttpResponse unix_http_get(const std::string &socket_path, const std::string &target, const HeaderList &headers,
                           std::chrono::milliseconds timeout) {
  std::string req = "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nUser-Agent: edgekeyctl/0.1\r\n";
  if (bad_header_text(target) || target.find(' ') != std::string::npos)
    throw CtlError(kExitUsage, "request target " + target + " contains a space, CR, LF or NUL");
  for (const auto &[k, v] : headers) {
    if (bad_header_text(k) || bad_header_text(v))
      throw CtlError(kExitUsage, "the value for header " + k + " contains CR, LF or NUL, which HTTP cannot carry");
    req.append(k).append(": ").append(v).append("\r\n");
  }
  req.append("Connection: close\r\n\r\n");

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path)
    throw CtlError(kExitUsage, "socket path " + socket_path + " is empty or longer than " +
                                   std::to_string(sizeof addr.sun_path - 1) + " bytes");
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());

  const auto deadline = Clock::now() + timeout;
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) throw unavailable(socket_path, std::string("socket: ") + std::strerror(errno));
  while (::connect(fd.get(), reinterpret_cast<const sockaddr *>(&addr), sizeof addr) != 0) {
    if (errno == EINTR) continue;
    if (errno != EINPROGRESS) throw connect_error(socket_path, errno);
    if (!wait_for(fd.get(), POLLOUT, deadline, socket_path))
      throw unavailable(socket_path, "no connection within " + std::to_string(timeout.count()) + " ms");
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) throw connect_error(socket_path, err);
    break;
  }

  const std::string timed_out = "no answer within " + std::to_string(timeout.count()) +
                                " ms (edgekeyd is busy or stuck; retry, or use --timeout)";
  for (size_t sent = 0; sent < req.size();) {
    const ssize_t n = ::send(fd.get(), req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n >= 0) {
      sent += size_t(n);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_for(fd.get(), POLLOUT, deadline, socket_path)) throw unavailable(socket_path, timed_out);
    } else if (errno != EINTR) {
      throw unavailable(socket_path, std::string("sending the request failed: ") + std::strerror(errno));
    }
  }

  ParseState st;
  http_parser parser;
  http_parser_init(&parser, HTTP_RESPONSE);
  parser.data = &st;
  char buf[16384];
  while (!st.complete) {
    if (!wait_for(fd.get(), POLLIN, deadline, socket_path)) throw unavailable(socket_path, timed_out);
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      throw unavailable(socket_path, std::string("reading the answer failed: ") + std::strerror(errno));
    }
    st.bytes += size_t(n);
    if (st.bytes > kMaxResponseBytes)
      throw unavailable(socket_path, "the answer exceeds " + std::to_string(kMaxResponseBytes) + " bytes");
    // n == 0 tells the parser the connection closed (ends a read-until-close body).
    const size_t used = http_parser_execute(&parser, &kSettings, buf, size_t(n));
    if (st.complete) break;  // anything after a complete answer is ignored
    if (n == 0) throw unavailable(socket_path, "edgekeyd closed the connection before a complete answer");
    if (HTTP_PARSER_ERRNO(&parser) != HPE_OK || used != size_t(n))
      throw unavailable(socket_path, std::string("the answer is not valid HTTP/1.1: ") +
                                         http_errno_description(HTTP_PARSER_ERRNO(&parser)));
  }
  return std::move(st.res);
}

}  // namespace edgekey::ctl
