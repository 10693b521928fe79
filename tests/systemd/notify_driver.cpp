// notify_driver -- plays systemd's part for one edgekeyd run, so that
// check_unit.sh can trace every system call the daemon makes in the life
// cycle the unit gives it (start, requests, keyset change, SIGHUP reload,
// SIGTERM stop) and compare them with the unit's sandbox.
//
//   notify_driver --notify SOCKPATH --socket DAEMON_SOCK
//                 [--get PATH STATUS [AUTH]]...          (before the change)
//                 [--swap FROM TO] [--then-get PATH STATUS [AUTH]]...
//                 -- COMMAND ARGS...
//
// It binds a datagram socket at SOCKPATH, starts COMMAND with NOTIFY_SOCKET,
// WATCHDOG_USEC and WATCHDOG_PID set as systemd would, and then, each step
// waiting on the daemon's own notifications (never on a sleep):
//   READY=1 -> WATCHDOG=1 -> the --get requests -> rename(FROM, TO) ->
//   STATUS= (the keyset was reloaded) -> the --then-get requests ->
//   SIGHUP -> RELOADING=1 -> READY=1 -> SIGTERM -> STOPPING=1 -> exit 0.
// Every wait is bounded (--timeout-ms, default 20000). Exit 0 when all
// happened as expected, 1 otherwise (the reason on stderr).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Get {
  std::string path;
  int status = 0;
  std::string auth;  // the Authorization value, or ""
};

struct Options {
  std::string notify_path, daemon_socket, swap_from, swap_to;
  std::vector<Get> before, after;
  std::vector<char *> command;
  int timeout_ms = 20000;
};

[[noreturn]] void die(const std::string &why) {
  std::fprintf(stderr, "notify_driver: %s\n", why.c_str());
  std::exit(1);
}

int notify_fd = -1;
int child_pidfd = -1;
pid_t child = -1;
int timeout_ms = 20000;
std::vector<std::string> seen;  // every datagram received, for the failure message

std::string seen_text() {
  std::string s;
  for (const auto &m : seen) {
    std::string one = m;
    for (char &c : one)
      if (c == '\n') c = '|';
    s += "\n  " + one;
  }
  return s.empty() ? " (none)" : s;
}

// True when `msg` carries the assignment `want` on one of its lines
// ("READY=1") or, when want ends with '=', any value for it ("STATUS=").
bool carries(const std::string &msg, const std::string &want) {
  size_t pos = 0;
  while (pos <= msg.size()) {
    size_t end = msg.find('\n', pos);
    if (end == std::string::npos) end = msg.size();
    std::string line = msg.substr(pos, end - pos);
    if (want.back() == '=' ? line.rfind(want, 0) == 0 : line == want) return true;
    pos = end + 1;
  }
  return false;
}

// Waits for a datagram carrying `want`; fails on timeout or if the child exits.
void await(const std::string &want) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) die("timed out waiting for " + want + "; notifications so far:" + seen_text());
    pollfd fds[2] = {{notify_fd, POLLIN, 0}, {child_pidfd, POLLIN, 0}};
    // Without a pidfd (kernel < 5.3), look at the child between short waits.
    const int n = child_pidfd >= 0 ? 2 : 1;
    const int wait_ms = child_pidfd >= 0 ? int(left) : std::min<int>(int(left), 100);
    int rc = ::poll(fds, n, wait_ms);
    if (rc < 0 && errno != EINTR) die(std::string("poll: ") + std::strerror(errno));
    if (rc > 0 && (fds[0].revents & POLLIN)) {
      char buf[4096];
      ssize_t got = ::recv(notify_fd, buf, sizeof buf, 0);
      if (got > 0) {
        seen.emplace_back(buf, size_t(got));
        if (carries(seen.back(), want)) return;
      }
      continue;
    }
    int status = 0;
    if ((n == 2 && rc > 0 && (fds[1].revents & POLLIN)) || n == 1) {
      if (::waitpid(child, &status, WNOHANG) == child) {
        child = -1;
        die("the daemon exited (" +
            (WIFEXITED(status) ? "status " + std::to_string(WEXITSTATUS(status))
                               : "signal " + std::to_string(WTERMSIG(status))) +
            ") while waiting for " + want + "; notifications:" + seen_text());
      }
    }
  }
}

// One HTTP/1.1 GET over the daemon's socket; checks the status code.
void http_get(const std::string &socket_path, const Get &g) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die(std::string("socket: ") + std::strerror(errno));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) die("socket path too long: " + socket_path);
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0)
    die("connect " + socket_path + ": " + std::strerror(errno));
  std::string req = "GET " + g.path + " HTTP/1.1\r\nHost: edgekeyd\r\nConnection: close\r\n";
  if (!g.auth.empty()) req += "Authorization: " + g.auth + "\r\n";
  req += "\r\n";
  for (size_t off = 0; off < req.size();) {
    ssize_t w = ::write(fd, req.data() + off, req.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) die("write to " + socket_path + ": " + std::strerror(errno));
    off += size_t(w);
  }
  std::string resp;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) die("timed out reading the answer to GET " + g.path);
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, int(left)) < 0 && errno != EINTR) die(std::string("poll: ") + std::strerror(errno));
    char buf[4096];
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r < 0) die("read from " + socket_path + ": " + std::strerror(errno));
    if (r == 0) break;
    resp.append(buf, size_t(r));
  }
  ::close(fd);
  const std::string want = "HTTP/1.1 " + std::to_string(g.status) + " ";
  if (resp.rfind(want, 0) != 0)
    die("GET " + g.path + ": expected \"" + want + "…\", got \"" + resp.substr(0, resp.find('\r')) + "\"");
}

Options parse(int argc, char **argv) {
  Options o;
  int i = 1;
  auto need = [&](int k) {
    if (i + k >= argc) die(std::string("missing value after ") + argv[i]);
  };
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      for (++i; i < argc; ++i) o.command.push_back(argv[i]);
      break;
    } else if (a == "--notify") {
      need(1), o.notify_path = argv[++i];
    } else if (a == "--socket") {
      need(1), o.daemon_socket = argv[++i];
    } else if (a == "--timeout-ms") {
      need(1), o.timeout_ms = std::atoi(argv[++i]);
    } else if (a == "--swap") {
      need(2), o.swap_from = argv[i + 1], o.swap_to = argv[i + 2], i += 2;
    } else if (a == "--get" || a == "--then-get") {
      need(2);
      Get g{argv[i + 1], std::atoi(argv[i + 2]), ""};
      i += 2;
      if (i + 1 < argc && std::strncmp(argv[i + 1], "--", 2) != 0) g.auth = argv[++i];
      (a == "--get" ? o.before : o.after).push_back(g);
    } else {
      die("unknown argument " + a);
    }
  }
  if (o.notify_path.empty() || o.daemon_socket.empty() || o.command.empty())
    die("usage: notify_driver --notify PATH --socket PATH [--get P S [AUTH]]... [--swap FROM TO] "
        "[--then-get P S [AUTH]]... -- COMMAND...");
  o.command.push_back(nullptr);
  return o;
}

}  // namespace

int main(int argc, char **argv) {
  Options o = parse(argc, argv);
  timeout_ms = o.timeout_ms;

  notify_fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (notify_fd < 0) die(std::string("socket: ") + std::strerror(errno));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (o.notify_path.size() >= sizeof addr.sun_path) die("notify path too long: " + o.notify_path);
  std::memcpy(addr.sun_path, o.notify_path.c_str(), o.notify_path.size() + 1);
  ::unlink(o.notify_path.c_str());
  if (::bind(notify_fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0)
    die("bind " + o.notify_path + ": " + std::strerror(errno));
  ::chmod(o.notify_path.c_str(), 0666);  // the daemon may run as another user

  child = ::fork();
  if (child < 0) die(std::string("fork: ") + std::strerror(errno));
  if (child == 0) {
    ::setenv("NOTIFY_SOCKET", o.notify_path.c_str(), 1);
    ::setenv("WATCHDOG_USEC", "4000000", 1);
    ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
    ::execvp(o.command[0], o.command.data());
    std::fprintf(stderr, "notify_driver: exec %s: %s\n", o.command[0], std::strerror(errno));
    ::_exit(127);
  }
#ifdef SYS_pidfd_open
  child_pidfd = int(::syscall(SYS_pidfd_open, child, 0));
#endif

  await("READY=1");
  await("WATCHDOG=1");
  for (const auto &g : o.before) http_get(o.daemon_socket, g);
  if (!o.swap_from.empty()) {
    if (::rename(o.swap_from.c_str(), o.swap_to.c_str()) != 0)
      die("rename " + o.swap_from + ": " + std::strerror(errno));
    await("STATUS=");
  }
  for (const auto &g : o.after) http_get(o.daemon_socket, g);
  ::kill(child, SIGHUP);
  await("RELOADING=1");
  await("READY=1");
  ::kill(child, SIGTERM);
  await("STOPPING=1");

  int status = 0;
  // Bounded: SIGKILL if the daemon has not exited within the timeout.
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    pid_t r = ::waitpid(child, &status, WNOHANG);
    if (r == child) break;
    if (r < 0 && errno != EINTR) die(std::string("waitpid: ") + std::strerror(errno));
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      die("the daemon did not exit within the timeout after SIGTERM");
    }
    pollfd p{child_pidfd, POLLIN, 0};  // fd -1: a plain bounded wait
    ::poll(&p, 1, child_pidfd >= 0 ? int(left) : std::min<int>(int(left), 50));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    die("the daemon ended with " + (WIFEXITED(status) ? "status " + std::to_string(WEXITSTATUS(status))
                                                      : "signal " + std::to_string(WTERMSIG(status))));
  ::unlink(o.notify_path.c_str());
  return 0;
}
